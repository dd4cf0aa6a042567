"""Pinned views: paths that lead libraries to an inode pinned open, never back to a name.

Libraries open files by name, so they are handed a ``Pinned`` view instead of the name:
a symlink named exactly like the file (suffixes still dispatch) in a private per-process
folder, pointing at ``/proc/<pid>/fd/<fd>``; the kernel follows that magic link to the
pinned inode, never back to the name. ``real_path`` maps a view back to the real path
(for display and for references stored inside files). Pins are made by the sandbox walk
(``io_core.paths``); this module only keeps them, and their folders.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
import shutil
import stat as st_
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Self

LOG = logging.getLogger("io_core.paths")


def close_fd(fd: int | None) -> None:
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


_PROC: bool | None = None


def proc_ok() -> bool:
    global _PROC
    if _PROC is None:
        _PROC = os.path.isdir(f"/proc/{os.getpid()}/fd")
        if not _PROC:
            LOG.warning("/proc is not mounted: libraries get checked real paths (not race-free)")
    return _PROC


class _Views:
    """The private per-process folder (mode 0700, removed at exit) holding one subfolder per pin.

    On memory (``$XDG_RUNTIME_DIR``, else ``/dev/shm``) when there is one: on a disk with
    online discard one rmdir costs milliseconds. Emptied subfolders are reused.
    """

    KEEP = 64  # empty subfolders kept for reuse

    def __init__(self) -> None:
        self.root: str | None = None
        self.pid = -1
        self._lock = threading.Lock()
        self._count = itertools.count()
        self._free: list[str] = []

    def _make_root(self) -> str:
        with self._lock:
            if self.root is None or self.pid != os.getpid() or not os.path.isdir(self.root):
                root = None
                for base in (os.environ.get("XDG_RUNTIME_DIR") or "", "/dev/shm", None):
                    if base is None or (base and os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)):
                        try:
                            root = tempfile.mkdtemp(prefix="sciio-view-", dir=base)
                            break
                        except OSError:
                            continue
                if self.root is None:
                    atexit.register(self._remove)
                self.root, self.pid, self._free = root, os.getpid(), []
            return self.root

    def _remove(self) -> None:
        if self.root is not None and self.pid == os.getpid():
            shutil.rmtree(self.root, ignore_errors=True)

    def new_folder(self) -> str:
        if self.pid != os.getpid() or self.root is None:
            self._make_root()
        try:
            return self._free.pop()
        except IndexError:
            pass
        folder = f"{self.root}/{next(self._count)}"
        try:
            os.mkdir(folder, 0o700)
        except FileNotFoundError:  # the folder was cleaned away (tmp cleaner): make a new one
            self.root = None
            folder = f"{self._make_root()}/{next(self._count)}"
            os.mkdir(folder, 0o700)
        return folder

    def release(self, folder: str, *, empty: bool) -> None:
        if empty and folder.startswith(f"{self.root}/") and len(self._free) < self.KEEP:
            self._free.append(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)


_VIEWS = _Views()
_PINS: dict[str, Pinned] = {}  # view folder -> its pin


class Pinned:
    """An open file (or folder store) found by a race-free walk.

    ``real``: canonical path (display, cache identity, error texts); ``path``: what
    handlers and libraries open (a view leading to the pinned inode); ``stat``: fstat
    of the pinned fd. Close it (or use it as a context manager); ``keep_for(value)``
    keeps it open while a lazy object that may reopen the file is alive.
    """

    __slots__ = ("__weakref__", "_children", "_closed", "_links", "_tree", "_view", "fd", "path", "real", "stat")

    def __init__(self, fd: int, real: Path, info: os.stat_result) -> None:
        self.fd, self.real, self.stat = fd, real, info
        self._children: list[Pinned] = []
        self._closed = False
        self._tree = False  # companion links live in subfolders of the view
        self._view: str | None = None
        name = real.name or "root"
        self._links: dict[str, Path] = {name: real}  # view-relative name -> real path
        if not proc_ok():
            self.path = real
            return
        self._view = _VIEWS.new_folder()
        link = f"{self._view}/{name}"
        try:
            os.symlink(self.target, link)
        except BaseException:
            _VIEWS.release(self._view, empty=True)
            raise
        self.path = Path(link)
        _PINS[self._view] = self

    @property
    def target(self) -> str:
        """The magic link a view points at (valid in this process and, while it lives, its children)."""
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    @property
    def is_dir(self) -> bool:
        return st_.S_ISDIR(self.stat.st_mode)

    def real_of(self, rel: str) -> Path | None:
        parts = rel.split("/")
        for i in range(len(parts), 0, -1):
            real = self._links.get("/".join(parts[:i]))
            if real is not None:
                return real.joinpath(*parts[i:])
        return None

    def adopt(self, child: Pinned, where: str | None) -> Path:
        """Keep ``child`` (a file named inside this one) open as long as this pin; link it into this pin's
        view folder at ``where`` when that lies inside the folder (subfolders made). The path to open it by."""
        self._children.append(child)
        if where is None or self._view is None or not where.startswith(f"{self._view}/"):
            return child.path
        os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
        if os.path.lexists(where):
            os.unlink(where)
        os.symlink(child.target, where)
        self._tree = True
        self._links[os.path.relpath(where, self._view)] = child.real
        return Path(where)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for child in self._children:
            child.close()
        if self._view is not None:
            _PINS.pop(self._view, None)
            empty = not self._tree
            if empty:
                try:
                    os.unlink(self.path)
                except OSError:
                    empty = False
            _VIEWS.release(self._view, empty=empty)
        close_fd(self.fd)

    def keep_for(self, value: Any) -> None:
        """Stay open while ``value`` lives when it may reopen the file (lazy readers), else close now."""
        if _needs_file(value):
            try:
                weakref.finalize(value, self.close)
                return
            except TypeError:
                pass
        self.close()

    def __del__(self) -> None:  # a pin dropped without close (held only for a call's duration)
        if not self._closed:
            try:
                self.close()
            except Exception:  # noqa: BLE001, S110 - interpreter shutdown: nothing left to clean
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Pinned({str(self.real)!r}, fd={self.fd}{', closed' if self._closed else ''})"


def _needs_file(value: Any) -> bool:
    """Whether a loaded object may open its file again later (an mne Raw without preload, xarray)."""
    if value is None or isinstance(value, (str, bytes, int, float, complex, bool, dict, list, tuple)):
        return False
    module = type(value).__module__.split(".")[0]
    return module not in ("numpy", "pandas", "builtins", "PIL")  # in memory, or holding their own fd


def owner_of(p: str) -> tuple[Pinned | None, str]:
    """The pin whose view holds ``p``, and ``p`` relative to that view folder."""
    root = _VIEWS.root
    if root is None or not p.startswith(root + "/"):
        return None, ""
    num, _, rel = p[len(root) + 1 :].partition("/")
    return _PINS.get(f"{root}/{num}"), rel


_FOLDERS: dict[str, Path] = {}  # "/proc/<pid>/fd/<n>" of a folder open for writing -> its real path


def register_folder(fd: int, real: Path) -> str:
    """A path through the open folder ``fd`` (names in it resolve in *that* folder); ``real_path`` knows it."""
    if not proc_ok():
        return str(real)
    view = f"/proc/{os.getpid()}/fd/{fd}"
    _FOLDERS[view] = real
    return view


def forget_folder(view: str) -> None:
    _FOLDERS.pop(view, None)


def real_path(p: str | os.PathLike[str]) -> Path:
    """The canonical real path for a pinned view path (or a temp path in a folder open for writing).

    Any other path is returned as it is.
    """
    text = os.path.normpath(os.fspath(p))
    if text.startswith("/proc/"):
        head, _, rest = text.partition("/fd/")
        num, _, rel = rest.partition("/")
        real = _FOLDERS.get(f"{head}/fd/{num}")
        if real is not None:
            return real / rel if rel else real
        return Path(p)
    owner, rel = owner_of(text)
    if owner is None or not rel:
        return Path(p)
    real = owner.real_of(rel)
    return real if real is not None else Path(p)
