"""The one way io_core opens an HDF5 container: nothing outside the roots is read through it.

Every HDF5-family format (hdf5, NetCDF-4, MAT v7.3, and any store or plugin built on HDF5)
opens files here, for reading and for writing; a test fails when another io_core module
calls ``h5py.File``. An HDF5 file can make libhdf5 read other files on its own (external
links, virtual-dataset sources, external raw storage): where it looks for them, and the check
that every such place is inside the roots, are in ``io_core.formats.hdf5.references``.
Whatever HDF5 may open through a reference is scanned the same way, at most MAX_FILES files.

Two ways to open for reading, both read-only without file locking, fail-fast on truncated,
corrupt or busy files, SWMR read mode when a SWMR writer has the file (``open_raw``):

* ``open_checked`` (the default, for any library reading at will: h5netcdf, MATLAB v7.3):
  before the file is handed over, every link (H5Lvisit) and the creation properties of every
  dataset (H5Ovisit; never its extent) are checked. Measured here: a 1,000-variable NetCDF-4
  file takes ~30 ms to scan (h5netcdf's own open of it ~110 ms more), 10,000 datasets ~350 ms;
  past MAX_SCAN_OBJECTS it is TOO_LARGE rather than a long wait. Checking only what a call
  reads is not enough for these readers: h5netcdf lists every group and variable (crossing
  external links, asking extents) before anything is read. A file found with no reference at
  all is remembered by identity (device, inode, size, mtime, ctime; only once its ctime is
  older than CLEAN_AGE_S, so a later rewrite must change it): reopening it costs ~0.1 ms.
* ``open_walked`` (for ``io_core.formats.hdf5.tree`` only): nothing is scanned; the walker never lets HDF5
  cross a link (one link at a time, external ones opened by itself through the sandbox) and
  asks ``dataset_sources`` before it reads a dataset's values or extent. Browsing a
  100,000-dataset file stays proportional to the page.

Objects reachable only through object references (no link) are not visited; readers that
dereference (MAT v7.3 cells) call ``check_object`` on what they reach. Absolute names and
current-directory places are checked by name and opened by HDF5 later: a swap in between is
the one race left (relative names next to a pinned view have none).

Everything here is per call: no process state but a cache of clean verdicts, so the module
works the same in a fresh worker process.
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
from h5py import h5f, h5l, h5o, h5p

from io_core.errors import CorruptFileError, IOCoreError, TooLargeError, UnsupportedOperationError
from io_core.formats.hdf5.references import (
    ELINK,
    VDS,
    check_reference,
    dataset_sources,
    stores_elsewhere,
    text,
)
from io_core.links import active_sandbox
from io_core.paths import Sandbox, real_path
from io_core.remote import is_remote

SIGNATURE = b"\x89HDF\r\n\x1a\n"
SUPER_WRITE_ACCESS = 0x01
SUPER_SWMR_WRITE_ACCESS = 0x04
SWMR_READ_ATTEMPTS = 10  # HDF5's default for SWMR readers is 100, with back-off sleeps
MAX_FILES = 16  # files one open may make HDF5 reach through links and sources (each scanned)
MAX_SCAN_OBJECTS = 100_000  # links + datasets + sources checked by one open_checked (~5 s)
CLEAN_AGE_S = 2.0  # a clean verdict is kept only for files unchanged for this long
CLEAN_CACHE = 1024
_UNSET = object()


# -- opening ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Superblock:
    offset: int
    version: int
    flags: int  # file consistency flags (superblock version 3 and later)


def read_superblock(path: Path) -> Superblock | None:
    """The HDF5 signature and superblock header: at 0, 512, 1024, 2048, ... (after a user block)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        offset = 0
        while offset + 16 <= size:
            fh.seek(offset)
            head = fh.read(16)
            if head[:8] == SIGNATURE:
                version = head[8]
                return Superblock(offset, version, head[11] if version >= 3 else 0)
            offset = 512 if offset == 0 else offset * 2
    return None


@functools.cache
def _set_read_attempts_fn() -> Any:
    """``H5Pset_metadata_read_attempts`` (h5py does not wrap it); None if not found."""
    from io_core.formats.hdf5.libhdf5 import libhdf5_function

    return libhdf5_function("H5Pset_metadata_read_attempts", [ctypes.c_int64, ctypes.c_uint], ctypes.c_int)


def _open_swmr(path: Path) -> h5py.File | None:
    setter = _set_read_attempts_fn()
    if setter is None:
        return None  # without a bound on HDF5's retries, SWMR mode could hang on a damaged file
    from h5py._objects import phil

    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5f.CLOSE_STRONG)
    fapl.set_file_locking(False, True)
    with phil:
        if setter(fapl.id, SWMR_READ_ATTEMPTS) < 0:
            return None
    fid = h5f.open(os.fsencode(path), h5f.ACC_RDONLY | h5f.ACC_SWMR_READ, fapl=fapl)
    return h5py.File(fid)


def _open_error(path: Path, exc: BaseException) -> CorruptFileError:
    text = str(exc)
    if "already open for" in text:
        return CorruptFileError(
            f"{path.name!r} is open for writing by another program (or its writer stopped without closing it)",
            hint="Wait until the writer closes it, or have it write in SWMR mode (such files can be browsed while "
                 "written). If nothing has it open, `h5clear -s` on the file clears the stale flag.",
        )
    if "truncated file" in text:
        return CorruptFileError(f"{path.name!r} is truncated: {text[:200]}")
    return CorruptFileError(f"cannot open {path.name!r} as HDF5: {type(exc).__name__}: {text[:200]}")


def open_raw(path: Path) -> tuple[h5py.File, bool]:
    """Read-only without locking; SWMR read mode when a SWMR writer has the file. (file, swmr). Nothing checked.

    A remote object (``io_core.remote``) is opened through a ranged file object; links and sources
    in it are checked against its remote root (``references.check_reference``)."""
    if is_remote(path):
        from io_core.remote.hdf5 import open_remote

        fh = open_remote(path)  # a ranged file object, its HDF5 signature checked
        try:
            return h5py.File(fh, "r"), False
        except Exception as exc:  # noqa: BLE001 - h5py raises OSError/RuntimeError/ValueError for bad files
            fh.close()
            raise _open_error(path, exc) from None
    try:
        sb = read_superblock(path)
    except OSError as exc:
        raise CorruptFileError(f"cannot read {path.name!r}: {exc.strerror or exc}") from None
    if sb is None:
        raise CorruptFileError(f"{path.name!r} is not an HDF5 file (no HDF5 signature)")
    live_swmr = sb.version >= 3 and sb.flags & SUPER_SWMR_WRITE_ACCESS and sb.flags & SUPER_WRITE_ACCESS
    try:
        if live_swmr:
            f = _open_swmr(path)
            if f is not None:
                return f, True
        return h5py.File(path, "r", locking=False), False
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError/RuntimeError/ValueError for bad files
        raise _open_error(path, exc) from None


def open_walked(path: Path) -> tuple[h5py.File, bool]:
    """For ``io_core.formats.hdf5.tree`` alone: no scan, the caller walks links itself (see the module docstring)."""
    return open_raw(path)


def open_checked(path: Path, sandbox: Any = _UNSET) -> h5py.File:
    """``path`` opened for reading, after every reference in it (and behind it) was checked. Close it."""
    f, _ = open_raw(path)
    try:
        Scan(active_sandbox() if sandbox is _UNSET else sandbox).run(f, Path(path))
    except BaseException:
        f.close()
        raise
    return f


@contextmanager
def reading(path: Path) -> Iterator[h5py.File]:
    """``with reading(path) as f``: ``open_checked``, closed at the end."""
    f = open_checked(path)
    try:
        yield f
    finally:
        f.close()


def check_file(path: Path) -> None:
    """Scan ``path`` as ``open_checked`` does, for a library that opens it by name itself (EEGLAB v7.3
    ``.set`` through MNE/pymatreader): given the same path, libhdf5 looks only where the scan looked."""
    open_checked(path).close()


def is_hdf5(path: Path) -> bool:
    """The HDF5 signature at 0, 512, 1024, ... (MATLAB v7.3 and EEGLAB v7.3 files put it at 512)."""
    try:
        return read_superblock(path) is not None
    except OSError:
        return False


def create(path: Path, **kwargs: Any) -> h5py.File:
    """A new HDF5 file for writing (``h5py.File(path, "w", **kwargs)``); writes name no other file."""
    return h5py.File(path, "w", **kwargs)


def update(path: Path) -> h5py.File:
    """An existing file opened to add to it ("r+", no file locking): only ever a private copy that is
    renamed over the original when done (copy-on-write of ``io_core.stores.results``); nothing is read."""
    return h5py.File(path, "r+", locking=False)


def open_stream(fileobj: Any, mode: str = "r") -> h5py.File:
    """An HDF5 file held in a Python file object: a zip member read in place, or the journaled writer of
    ``io_core.stores`` ("r+"/"w"). A stream has no folder to confine references to, so an existing file
    naming any other file (link, virtual source, external storage) is refused before it is used."""
    try:
        f = h5py.File(fileobj, mode, locking=False)
    except Exception as exc:  # noqa: BLE001 - h5py raises OSError/RuntimeError/ValueError for bad files
        raise CorruptFileError(f"cannot read an HDF5 stream: {type(exc).__name__}: {str(exc)[:200]}") from None
    if mode != "w":
        try:
            Scan(None).run(f, Path("<stream>"))
        except BaseException:
            f.close()
            raise
    return f


def check_object(obj: Any, opened: Path, sandbox: Any = _UNSET) -> None:
    """Check a dataset reached without a link (an object reference) before reading it; files behind it scanned."""
    if not isinstance(obj, h5py.Dataset):
        return
    scan = Scan(active_sandbox() if sandbox is _UNSET else sandbox)
    scan.dataset(obj.id, obj.name or "(anonymous dataset)", Path(opened))


# -- the scan -----------------------------------------------------------------------------------

_clean: OrderedDict[tuple, bool] = OrderedDict()
_clean_lock = threading.Lock()


def _identity(path: Path) -> tuple | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    if time.time() - info.st_ctime < CLEAN_AGE_S:
        return None  # just written: a rewrite within the clock's granularity could keep this ctime
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class Scan:
    """One ``open_checked``: the files reached so far and the objects checked (bounded)."""

    def __init__(self, sandbox: Sandbox | None) -> None:
        self.sandbox = sandbox
        self.seen: set[tuple[int, int]] = set()
        self.objects = 0
        self.references = 0

    def _count(self, n: int = 1) -> None:
        self.objects += n
        if self.objects > MAX_SCAN_OBJECTS:
            raise TooLargeError(
                f"the file holds more than {MAX_SCAN_OBJECTS} links and datasets; checking them all for "
                "links out of the roots before reading would take too long",
                hint="Read it as format='hdf5' (explore_h5, load_summary), which checks only what it reads.",
            )

    def run(self, f: h5py.File, opened: Path) -> None:
        key = _identity(opened)
        if key is not None:
            with _clean_lock:
                if key in _clean:
                    _clean.move_to_end(key)
                    return
        try:
            info = os.stat(opened)
            self.seen.add((info.st_dev, info.st_ino))
        except OSError:
            pass
        self.file(f, opened)
        if key is not None and self.references == 0:
            with _clean_lock:
                _clean[key] = True
                while len(_clean) > CLEAN_CACHE:
                    _clean.popitem(last=False)

    def file(self, f: h5py.File, opened: Path) -> None:
        try:
            self._links(f, opened)
            self._datasets(f, opened)
        except IOCoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - damaged metadata met while scanning
            raise CorruptFileError(f"cannot read {real_path(opened).name!r} as HDF5: {type(exc).__name__}: "
                                   f"{str(exc)[:200]}") from None

    def _visit(self, visit: Any, callback: Any) -> None:
        """Run an HDF5 visit; an exception inside the callback stops it and is raised after (h5py mangles it)."""
        failure: list[BaseException] = []

        def guarded(name: bytes, info: Any) -> Any:
            try:
                callback(name, info)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, outside libhdf5
                failure.append(exc)
                return True
            return None

        visit(guarded)
        if failure:
            raise failure[0]

    def _links(self, f: h5py.File, opened: Path) -> None:
        def on_link(name: bytes, info: Any) -> None:
            self._count()
            if info.type == h5l.TYPE_EXTERNAL:
                self.references += 1
                file, path = f.id.links.get_val(name)
                what = f"external link {text(name)!r} (to {text(file)}:{text(path)})"
                for place in check_reference(ELINK, file, opened, self.sandbox, what=what):
                    self.follow(place)

        self._visit(lambda cb: f.id.links.visit(cb, info=True), on_link)

    def _datasets(self, f: h5py.File, opened: Path) -> None:
        def on_object(name: bytes, info: Any) -> None:
            self._count()
            if info.type == h5o.TYPE_DATASET:
                self.dataset(h5o.open(f.id, name), text(name), opened)

        self._visit(lambda cb: h5o.visit(f.id, cb, info=True), on_object)

    def dataset(self, dsid: Any, name: str, opened: Path) -> None:
        if not stores_elsewhere(dsid):
            return
        for source in dataset_sources(dsid):
            self._count()
            self.references += 1
            what = f"dataset {name!r} ({source.kind} {source.file!r})"
            found = check_reference(source.kind, source.file, opened, self.sandbox, what=what)
            if source.kind == VDS:
                for place in found:
                    self.follow(place)

    def follow(self, place: str) -> None:
        """Scan a file HDF5 may open through a link or a virtual source (once; at most MAX_FILES)."""
        try:
            info = os.stat(place)
        except OSError:
            return
        if (info.st_dev, info.st_ino) in self.seen:
            return
        self.seen.add((info.st_dev, info.st_ino))
        if len(self.seen) > MAX_FILES:
            raise UnsupportedOperationError(
                f"links and virtual sources reach more than {MAX_FILES} files; they are not followed",
                hint="Read the files they point to directly.",
            )
        try:
            if read_superblock(Path(place)) is None:
                return  # HDF5 cannot open it as HDF5 either (and tries the next place, also checked)
        except OSError:
            return
        f, _ = open_raw(Path(place))
        try:
            self.file(f, Path(place))
        finally:
            f.close()
