"""The sandbox: every user-supplied path is walked here, race-free, and confined to the roots.

Why a walk and not ``realpath`` then ``open``: a name that is checked and later opened by
name can be swapped in between (for a symlink to an outside file, or a parent folder for
a link). So a path is walked one component at a time with ``openat(..., O_NOFOLLOW)``
from a directory fd; a symlink is read (never followed by the kernel) and its target
walked in turn: an absolute target restarts from the root it lies in, ``..`` pops the
walked (physical) path, a climb above a root continues from the root's canonical parent,
and at most ``MAX_HOPS`` links are taken. The fd at the end *is* the object, its
canonical path is known by construction, and containment is checked on that path by
components (``/data-evil`` is not inside ``/data``). Names are never globbed.

Libraries open files by name, so they are handed a ``Pinned`` view instead of the name
(``io_core.views``, re-exported here with ``real_path``): a symlink named like the file in a
private folder, leading to the pinned inode. ``pin_companion`` pins a file named inside
another one (BrainVision, EEGLAB, HDF5 links) into the same view.
"""

from __future__ import annotations

import errno
import os
import stat as st_
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from io_core.errors import (
    FileNotFoundIOError,
    IOCoreError,
    NameTooLongError,
    NotAFileError,
    PathOutsideRootError,
    PermissionDeniedError,
    WriteFailedError,
)
from io_core.sandbox_context import active_sandbox
from io_core.views import Pinned, close_fd, forget_folder, owner_of, proc_ok, real_path, register_folder

__all__ = ["ECHO", "MAX_HOPS", "MAX_PATH_BYTES", "NAME_MAX", "Pinned", "Sandbox", "forget_folder", "pin_companion",
           "real_path", "register_folder", "short"]


MAX_HOPS = 40  # symlinks followed in one walk (Linux's own limit)
MAX_PATH_BYTES = 4096  # PATH_MAX
NAME_MAX = 255  # bytes in one name
ECHO = 120  # characters of a user's path echoed in an error

_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_DIR = _O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_ANY = _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def short(raw: object) -> str:
    """A user's path quoted for an error message, cut to ``ECHO`` characters."""
    text = raw if isinstance(raw, str) else repr(raw)
    return repr(text) if len(text) <= ECHO else repr(text[:ECHO])[:-1] + "…" + repr(text[:ECHO])[-1]


def _os_error(exc: OSError, raw: str) -> IOCoreError:
    """A coded error for an OSError met while walking ``raw``."""
    if exc.errno == errno.ENAMETOOLONG:
        return NameTooLongError(f"a name in {short(raw)} is too long", path=raw)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return PermissionDeniedError(f"permission denied on the way to {short(raw)}", path=raw)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileNotFoundIOError(f"no such file: {short(raw)}", path=raw)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return WriteFailedError(f"no space left to create the folders of {short(raw)}", path=raw,
                                hint="Free space on the server's storage; nothing was written.")
    if exc.errno == errno.ELOOP:
        return FileNotFoundIOError(f"{short(raw)} goes through too many symbolic links (a loop?)", path=raw)
    return IOCoreError(f"cannot open {short(raw)}: {exc.strerror or exc}", path=raw,
                       hint="Retry; if it persists, check the server's storage.")


def _inside(real: str, roots: Iterable[str]) -> bool:
    return any(r == "/" or real == r or real.startswith(r + "/") for r in roots)


class _Walk:
    """One race-free walk (see the module docstring); the fds it opens are its own."""

    def __init__(self, roots: tuple[str, ...] | None, raw: str) -> None:
        self.roots = roots
        self.raw = raw
        self.hops = 0
        self.anchor = "/"
        self.base = -1
        self.stack: list[tuple[str, int | None]] = []  # walked names below the anchor and their fds

    # -- where a path starts ---------------------------------------------------------------
    def _restart(self, path: str) -> list[str]:
        """Anchor at the deepest root that ``path`` lexically starts with (else at ``/``); the names left."""
        for _, fd in self.stack:
            close_fd(fd)
        self.stack.clear()
        close_fd(self.base)
        names = [c for c in path.split("/") if c and c != "."]
        anchor, start = "/", 0
        if self.roots is not None:
            prefix = ""
            for i, name in enumerate(names):
                if name == "..":
                    break
                prefix += "/" + name
                if prefix in self.roots:
                    anchor, start = prefix, i + 1
        self.base = -1
        try:
            self.base = os.open(anchor, _DIR)
        except (FileNotFoundError, NotADirectoryError):  # a root not made yet: walk (and make) it from /
            if anchor == "/":
                raise
            anchor, start = "/", 0
            self.base = os.open(anchor, _DIR)
        self.anchor = anchor
        todo = names[start:]
        todo.reverse()
        return todo

    def canonical(self) -> str:
        names = "/".join(n for n, _ in self.stack)
        if not names:
            return self.anchor
        return ("" if self.anchor == "/" else self.anchor) + "/" + names

    # -- the walk ----------------------------------------------------------------------------
    def run(self, path: str, *, missing_ok: bool, create: bool) -> tuple[int | None, os.stat_result | None]:
        """Walk ``path`` (absolute). The final fd (O_PATH) and its stat, or (None, None) when missing."""
        todo = self._restart(path)
        info: os.stat_result | None = None  # stat of the last object pushed, when known
        while todo:
            name = todo.pop()
            info = None
            if name == "..":
                if self.stack:
                    close_fd(self.stack.pop()[1])
                elif self.anchor != "/":  # above a root: on from its canonical parent, lexically
                    rest = "/".join(reversed(todo))
                    todo = self._restart(os.path.dirname(self.anchor) + "/" + rest)
                continue
            parent = self.stack[-1][1] if self.stack else self.base
            if parent is None:  # below a missing folder: the rest is lexical
                self.stack.append((name, None))
                continue
            want_dir = bool(todo) or create
            try:
                fd = os.open(name, _DIR if want_dir else _ANY, dir_fd=parent)
                if not want_dir:
                    info = os.fstat(fd)
            except FileNotFoundError:
                if create and self._may_create(name):
                    self._hop()  # bounded: a folder deleted as fast as it is made
                    try:
                        os.mkdir(name, 0o777, dir_fd=parent)
                    except FileExistsError:
                        pass
                    todo.append(name)  # open what is there now (a link planted meanwhile is walked)
                    continue
                if missing_ok or create:  # (outside the roots nothing is made: the check below refuses it)
                    self.stack.append((name, None))
                    continue
                raise
            except NotADirectoryError:  # a link, or a file used as a folder
                fd = os.open(name, _ANY, dir_fd=parent)
                info = os.fstat(fd)
                if st_.S_ISDIR(info.st_mode):  # swapped back to a folder meanwhile: that is what is there
                    info = None
                elif not st_.S_ISLNK(info.st_mode):
                    close_fd(fd)
                    if missing_ok and not create:
                        self.stack.append((name, None))
                        continue
                    raise NotADirectoryError(errno.ENOTDIR, "not a folder", name) from None
            if info is not None and st_.S_ISLNK(info.st_mode):
                try:
                    target = os.readlink("", dir_fd=fd)
                finally:
                    close_fd(fd)
                info = None
                self._hop()
                if target.startswith("/"):
                    todo = self._restart(target + "/" + "/".join(reversed(todo)))
                else:
                    todo.extend(reversed([c for c in target.split("/") if c and c != "."]))
                continue
            self.stack.append((name, fd))
        fd = self.stack[-1][1] if self.stack else self.base
        if fd is None:
            return None, None
        return fd, info if info is not None else os.fstat(fd)

    def _may_create(self, name: str) -> bool:
        """Folders are made only inside the roots (or on the way to a root not made yet)."""
        if self.roots is None:
            return True
        here = self.canonical()
        child = ("" if here == "/" else here) + "/" + name
        return _inside(child, self.roots) or any(r.startswith(child + "/") for r in self.roots)

    def _hop(self) -> None:
        self.hops += 1
        if self.hops > MAX_HOPS:
            raise OSError(errno.ELOOP, "too many symbolic links")

    def take(self, fd: int | None) -> None:
        """Close every fd but ``fd`` (handed to the caller)."""
        for _, f in self.stack:
            if f != fd:
                close_fd(f)
        if self.base != fd:
            close_fd(self.base)
        self.stack.clear()
        self.base = -1


class Sandbox:
    """Resolves paths against an ordered list of roots; ``roots=None`` confines nothing."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]] | None = None, *, remote: Any = None) -> None:
        self.remote: Any = None  # io_core.remote.RemoteRoots: s3:// and https:// roots (remote: a RemoteConfig)
        if roots is None:
            self._roots: tuple[Path, ...] | None = None
            self._root_strs: tuple[str, ...] | None = None
        else:
            from io_core.remote.roots import split_roots

            local, self.remote = split_roots(list(roots), remote)
            resolved = tuple(Path(os.path.realpath(os.fspath(r))) for r in local)
            if not resolved and self.remote is None:
                raise ValueError("a Sandbox needs at least one root (or roots=None)")
            self._roots = resolved
            self._root_strs = tuple(str(r) for r in resolved)

    @property
    def roots(self) -> Sequence[Path] | None:
        return self._roots

    def remote_roots(self) -> list[tuple[Any, bool]]:
        """(io_core.remote.RemoteRoot, writable) for each remote root, in order."""
        return [(r, self.remote.writable(r)) for r in self.remote.roots] if self.remote is not None else []

    @property
    def confined(self) -> bool:
        return self._roots is not None

    def _base(self) -> str:
        return self._root_strs[0] if self._root_strs else os.getcwd()

    def _absolute(self, user_path: str | os.PathLike[str]) -> str:
        """The user's path, checked as text and made absolute (relative ones under the first root)."""
        raw = os.fspath(user_path)
        if not isinstance(raw, str):
            raise PathOutsideRootError("paths must be text, not bytes", path=short(raw))
        if "\x00" in raw:
            raise PathOutsideRootError(f"path contains a null byte: {short(raw)}", path=raw)
        if raw.strip() == "":
            raise FileNotFoundIOError("empty path", hint="Name a file inside the roots.")
        if raw.startswith("~"):
            raise PathOutsideRootError(
                f"home-directory paths are not expanded: {short(raw)}",
                hint="Use a path relative to the first root, or an absolute path inside a root.",
                path=raw,
            )
        try:
            size = len(raw.encode("utf-8", "surrogateescape"))
        except UnicodeError:
            raise PathOutsideRootError(f"path is not valid text: {short(raw)}", path=raw) from None
        if size > MAX_PATH_BYTES:
            raise NameTooLongError(f"the path is {size} bytes long (at most {MAX_PATH_BYTES}): {short(raw)}",
                                   path=raw)
        if size > NAME_MAX and any(len(n.encode("utf-8", "surrogateescape")) > NAME_MAX for n in raw.split("/")):
            raise NameTooLongError(f"a name in {short(raw)} is longer than {NAME_MAX} bytes", path=raw)
        return raw if raw.startswith("/") else self._base() + "/" + raw

    def _walk(self, user_path: str | os.PathLike[str], *, missing_ok: bool, create: bool = False,
              ) -> tuple[int | None, str, os.stat_result | None]:
        absolute = self._absolute(user_path)
        raw = os.fspath(user_path)
        walk = _Walk(self._root_strs, raw)
        fd: int | None = None
        try:
            fd, info = walk.run(absolute, missing_ok=missing_ok, create=create)
            real = walk.canonical()
        except OSError as exc:
            walk.take(None)
            raise _os_error(exc, raw) from None
        except BaseException:
            walk.take(None)
            raise
        walk.take(fd)
        if self._root_strs is not None and not _inside(real, self._root_strs):
            close_fd(fd)
            raise PathOutsideRootError(f"{short(raw)} resolves outside the allowed roots", path=raw)
        return fd, real, info

    def _remote(self, user_path: Any) -> Any:
        """The ``io_core.remote.path.RemotePath`` a path names in a remote root; None for a local path.

        A URL is never a local name: one outside every remote root is PATH_OUTSIDE_ROOT.
        """
        raw = user_path if isinstance(user_path, str) else None
        if raw is None:
            if type(user_path).__name__ == "RemotePath":
                raw = str(user_path)
            else:
                return None
        from io_core.remote.roots import looks_remote

        if self.remote is None:
            if looks_remote(raw) and self._roots is not None:
                raise PathOutsideRootError(f"{short(raw)} is a URL; no remote root is configured", path=raw)
            return None
        hit = self.remote.locate(raw)
        if hit is None:
            return None
        from io_core.remote.path import RemotePath

        return RemotePath(hit[0], hit[1], self.remote)

    def resolve(self, user_path: str | os.PathLike[str]) -> Path:
        """The real, absolute path for ``user_path``, or ``PATH_OUTSIDE_ROOT``.

        A path that does not exist yet is checked through its walked parent; the missing
        rest is taken lexically. The answer is a *name*: open it with ``pin``, not by name.
        (A path in a remote root: its ``RemotePath``, checked as text.)
        """
        remote = self._remote(user_path)
        if remote is not None:
            return remote
        fd, real, _ = self._walk(user_path, missing_ok=True)
        close_fd(fd)
        return Path(real)

    def pin(self, user_path: str | os.PathLike[str], *, folders: bool = False) -> Pinned:
        """The existing regular file (or, with ``folders``, folder) at ``user_path``, pinned open.

        FIFOs, devices and sockets are ``NOT_A_FILE`` (nothing is opened that could block).
        A remote object is pinned by its size, ETag and version (``io_core.remote.path.RemotePin``).
        """
        remote = self._remote(user_path)
        if remote is not None:  # by range, or a bounded private copy (io_core.remote.fetch)
            from io_core.remote.fetch import pin_remote

            return pin_remote(remote, folders=folders)  # type: ignore[no-any-return]
        fd, real, info = self._walk(user_path, missing_ok=True)
        raw = os.fspath(user_path)
        if fd is None or info is None:
            raise FileNotFoundIOError(f"no such file: {short(raw)}", path=raw)
        try:
            if st_.S_ISDIR(info.st_mode):
                if not folders:
                    raise NotAFileError(f"{short(raw)} is a folder", path=raw)
            elif not st_.S_ISREG(info.st_mode):
                kind = ("a FIFO" if st_.S_ISFIFO(info.st_mode) else "a socket" if st_.S_ISSOCK(info.st_mode)
                        else "a device" if st_.S_ISCHR(info.st_mode) or st_.S_ISBLK(info.st_mode) else "special")
                raise NotAFileError(f"{short(raw)} is {kind}, not a regular file", path=raw,
                                    hint="Name a regular file; pipes, devices and sockets are never opened.")
            elif proc_ok():
                try:  # a readable fd: permission is checked now, and libraries may reopen it
                    readable = os.open(f"/proc/self/fd/{fd}", _READ)
                except OSError as exc:
                    raise _os_error(exc, raw) from None
                close_fd(fd)
                fd = readable
            return Pinned(fd, Path(real), info)
        except BaseException:
            close_fd(fd)
            raise

    def open_folder(self, user_path: str | os.PathLike[str], *, create: bool = True) -> tuple[int, Path]:
        """An fd on the folder at ``user_path`` (created component by component) and its real path.

        Writes go through this fd (``dir_fd=``), so the folder cannot be swapped under them.
        The fd is readable when the folder is (for fsync); the caller closes it.
        """
        if self._remote(user_path) is not None:
            raise NotAFileError(f"{short(os.fspath(user_path))} is in a remote root: it has no folders to open",
                                path=os.fspath(user_path))
        fd, real, info = self._walk(user_path, missing_ok=not create, create=create)
        raw = os.fspath(user_path)
        if fd is None or info is None:
            raise FileNotFoundIOError(f"no such folder: {short(raw)}", path=raw)
        if not st_.S_ISDIR(info.st_mode):
            close_fd(fd)
            raise NotAFileError(f"{short(raw)} is not a folder", path=raw)
        try:
            readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            return fd, Path(real)  # write-only folder: usable, fsync skipped
        close_fd(fd)
        return readable, Path(real)

    def existing_file(self, user_path: str | os.PathLike[str], real: Path | None = None) -> Path:
        """The real path of an existing regular file (checked race-free; open it with ``pin``)."""
        with self.pin(user_path if real is None else real) as pinned:
            return pinned.real

    def display(self, real: Path) -> str:
        """The path as a client should see it: relative to its root when confined."""
        if self.remote is not None:
            from io_core.remote.path import from_record

            remote = real if type(real).__name__ == "RemotePath" else from_record(self.remote, str(real))
            if remote is not None:  # (a URL the ledger kept comes back as Path("s3:/bucket/key"))
                return self.remote.display(remote.root, remote.key)  # type: ignore[union-attr]
        real = real_path(real)
        if self._roots is None:
            return str(real)
        for root in self._roots:
            if real == root or real.is_relative_to(root):
                rel = real.relative_to(root)
                return str(rel) if root == self._roots[0] else str(real)
        return str(real)


def pin_companion(p: str | os.PathLike[str], ref: str | bytes) -> Path:
    """Where a library reading ``p`` should find the file ``ref`` named inside it, pinned and confined.

    ``ref`` is resolved as a reader would (absolute as is, relative against the real
    folder of ``p``) through the active sandbox (``io_core.sandbox_context.active_sandbox()``;
    none = unconfined); leaving the roots is ``PATH_OUTSIDE_ROOT``. For a pinned ``p``
    the companion is pinned too (open as long as ``p``'s pin) and linked into ``p``'s
    view folder under ``ref`` (subfolders created), so a library that joins ``ref`` to
    the folder of ``p`` finds it; an absolute ``ref`` (or one climbing with ``..``) gets a
    view of its own. The path returned is the one to open. For an unpinned ``p``
    (a handler used directly) it is the checked real path.
    """
    sandbox = active_sandbox() or _UNCONFINED
    if isinstance(ref, bytes):
        ref = ref.decode("utf-8", "surrogateescape")
    if type(p).__name__ == "RemotePath":  # a key next to a remote object: checked as text, opened by range
        from io_core.remote.hdf5 import remote_companion

        return remote_companion(p, ref, sandbox)  # type: ignore[return-value]
    text = os.fspath(p)
    if not ref or "\x00" in ref:
        raise FileNotFoundIOError(f"{Path(text).name!r} names an unusable file {short(ref)}")
    target = ref if ref.startswith("/") else f"{real_path(text).parent}/{ref}"
    owner, _rel = owner_of(os.path.normpath(text))

    def outside() -> PathOutsideRootError:
        return PathOutsideRootError(
            f"{real_path(text).name!r} names {short(ref)}, outside the allowed roots; it is never read",
            hint="Keep the files a recording is made of together inside the roots.", path=ref,
        )

    if owner is None:
        try:
            return sandbox.resolve(target)
        except PathOutsideRootError:
            raise outside() from None
    try:
        pinned = sandbox.pin(target)
    except PathOutsideRootError:
        raise outside() from None
    parts = ref.split("/")
    where = os.path.normpath(os.path.join(os.path.dirname(os.path.normpath(text)), ref))
    if ref.startswith("/") or ".." in parts:
        return owner.adopt(pinned, None)  # a view of its own
    if where == os.path.normpath(text):
        owner.adopt(pinned, None)
        return Path(text)
    return owner.adopt(pinned, where)

_UNCONFINED = Sandbox(None)
