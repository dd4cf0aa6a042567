"""Crash-safe appends to the HDF5 array files of an experiment store task (a redo journal).

HDF5 is not transactional: a process killed while libhdf5 rewrites a B-tree node, a heap or
the superblock can leave a file whose *earlier* datasets are unreadable. So libhdf5 never
writes the file here. It writes into an ``Overlay`` (a file object h5py opens through
``io_core.h5guard.open_stream``): reads come from the file patched by the pending writes,
writes stay in memory. One trial's writes (every array file) are then committed as one unit:

1. the journal ``.sciio-journal`` in the task folder gets every changed byte range, the final
   sizes and a CRC, and is fsynced;
2. the ranges are written to the files and fsynced (a new file is written whole beside its
   name and renamed into place, so it exists complete or not at all);
3. the caller appends the trial's CSV row (the commit point), then the journal is emptied.

A crash before 1 completes leaves the files untouched (a torn journal fails its CRC and is
ignored); a crash in 2 is repaired by re-applying the journal (idempotent: it holds the new
bytes), which the next writer does on opening the task. Readers never write: they ask
``state`` whether the files hold none, all or part of the journal, and only "partial" makes
the arrays unreadable until a writer has opened the task. The cost is the changed ranges
(the new dataset plus a few hundred bytes of metadata), never the file: O(1) per trial.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from io_core.atomic import TEMP_MARKER, temp_name_for
from io_core.errors import WriteFailedError

JOURNAL = ".sciio-journal"
MAGIC = b"SCIIOJ1\n"
END = b"END!"
_OPEN = os.O_NOFOLLOW | os.O_CLOEXEC
DIFF_BLOCK = 64  # bytes compared at a time when keeping only what a rewrite changed


def open_in(dirfd: int, name: str, flags: int, mode: int = 0o666) -> int:
    """``name`` in the folder ``dirfd``, never through a symbolic link."""
    return os.open(name, flags | _OPEN, mode, dir_fd=dirfd)


class Overlay:
    """A file object over ``name`` in ``dirfd`` whose writes stay pending until ``take``/``apply``.

    ``fd`` None: the file does not exist yet (its whole content is pending).
    """

    def __init__(self, dirfd: int, name: str) -> None:
        self.dirfd, self.name = dirfd, name
        try:
            self.fd: int | None = open_in(dirfd, name, os.O_RDWR)
        except FileNotFoundError:
            self.fd = None
        self.base = os.fstat(self.fd).st_size if self.fd is not None else 0
        self.size = self.base
        self.pos = 0
        self.extents: list[list[Any]] = []  # [start, bytearray], sorted, disjoint, not adjacent
        self.discarding = False

    # -- the file-object protocol h5py's "fileobj" driver uses ------------------------------------
    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else self.pos + pos if whence == 1 else self.size + pos
        return self.pos

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass

    def readinto(self, buf: Any) -> int:
        view = memoryview(buf).cast("B")
        n = max(0, min(len(view), self.size - self.pos))
        start, end = self.pos, self.pos + n
        got = 0
        if self.fd is not None and start < self.base:
            data = os.pread(self.fd, min(end, self.base) - start, start)
            view[: len(data)] = data
            got = len(data)
        view[got:n] = bytes(n - got)
        for ext_start, data in self.extents:
            lo, hi = max(start, ext_start), min(end, ext_start + len(data))
            if lo < hi:
                view[lo - start : hi - start] = data[lo - ext_start : hi - ext_start]
        self.pos = end
        return n

    def read(self, size: int = -1) -> bytes:
        buf = bytearray(max(0, self.size - self.pos) if size is None or size < 0 else size)
        return bytes(buf[: self.readinto(buf)])

    def write(self, data: Any) -> int:
        data = bytes(data)
        if self.discarding or not data:
            return len(data)
        start, end = self.pos, self.pos + len(data)
        keep = []
        new_start, new_end = start, end
        touching = []
        for ext in self.extents:
            s, e = ext[0], ext[0] + len(ext[1])
            if e < start or s > end:
                keep.append(ext)
            else:
                touching.append(ext)
                new_start, new_end = min(new_start, s), max(new_end, e)
        merged = bytearray(new_end - new_start)
        for s, d in touching:
            merged[s - new_start : s - new_start + len(d)] = d
        merged[start - new_start : end - new_start] = data
        keep.append([new_start, merged])
        keep.sort(key=lambda ext: ext[0])
        self.extents = keep
        self.pos = end
        self.size = max(self.size, end)
        return len(data)

    def truncate(self, size: int | None = None) -> int:
        if self.discarding:
            return self.size
        size = self.pos if size is None else size
        self.size = size
        self.extents = [[s, d[: size - s]] for s, d in self.extents if s < size]
        return size

    # -- commit ------------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self.extents) or self.size != self.base

    def pending(self) -> dict[str, Any]:
        """This file's part of a journal entry: final size and the byte ranges that really change.

        libhdf5 rewrites whole metadata blocks (an old-style group's name heap grows with every
        dataset), so each range is compared with the file in ``DIFF_BLOCK`` pieces and only the
        pieces that differ are kept: a trial writes O(1) bytes however long the session, and a
        reader can tell an entry not applied (every range differs) from one half applied (``state``).
        """
        extents: list[list[Any]] = []

        def keep(start: int, data: bytes) -> None:
            if extents and extents[-1][0] + len(extents[-1][1]) == start:
                extents[-1][1] += data
            elif data:
                extents.append([start, data])

        for start, data in self.extents:
            data = bytes(data)
            overlap = max(0, min(len(data), self.base - start)) if self.fd is not None else 0
            old = os.pread(self.fd, overlap, start) if overlap else b""
            for off in range(0, len(old), DIFF_BLOCK):
                piece = data[off : off + DIFF_BLOCK]
                if piece != old[off : off + DIFF_BLOCK]:
                    keep(start + off, piece)
            keep(start + len(old), data[len(old) :])
        return {"name": self.name, "size": self.size, "new": self.fd is None, "extents": extents}

    def settle(self) -> None:
        """After the journal entry was applied: the file now holds it (reopened when it was new)."""
        if self.fd is None:
            self.fd = open_in(self.dirfd, self.name, os.O_RDWR)
        self.base = self.size
        self.extents = []

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# -- the journal -------------------------------------------------------------------------------------

@dataclass
class Entry:
    """One decoded journal entry: per file, its final size, whether it is new, and its byte ranges."""

    files: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


def encode(files: list[dict[str, Any]], info: dict[str, Any]) -> bytes:
    head = {"info": info, "files": [{"name": f["name"], "size": f["size"], "new": f["new"],
                                     "extents": [[s, len(d)] for s, d in f["extents"]]} for f in files]}
    meta = json.dumps(head, separators=(",", ":")).encode()
    body = struct.pack("<Q", len(meta)) + meta + b"".join(d for f in files for _, d in f["extents"])
    return MAGIC + body + struct.pack("<QI", len(body), zlib.crc32(body)) + END


def decode(raw: bytes) -> Entry | None:
    """The entry a journal holds, or None when it is empty, torn or damaged (then it was never applied)."""
    if len(raw) < len(MAGIC) + 12 + len(END) or not raw.startswith(MAGIC) or not raw.endswith(END):
        return None
    body = raw[len(MAGIC) : -12 - len(END)]
    length, crc = struct.unpack("<QI", raw[-12 - len(END) : -len(END)])
    if length != len(body) or zlib.crc32(body) != crc:
        return None
    (n,) = struct.unpack("<Q", body[:8])
    head = json.loads(body[8 : 8 + n])
    pos = 8 + n
    for f in head["files"]:
        extents = []
        for start, length in f["extents"]:
            extents.append([start, body[pos : pos + length]])
            pos += length
        f["extents"] = extents
    return Entry(head["files"], head.get("info", {}))


def read_journal(dirfd: int) -> Entry | None:
    try:
        fd = open_in(dirfd, JOURNAL, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        return decode(os.pread(fd, size, 0)) if size else None
    finally:
        os.close(fd)


def write_journal(dirfd: int, files: list[dict[str, Any]], info: dict[str, Any]) -> None:
    """Step 1: the entry written and fsynced; nothing of it is in the files yet."""
    fd = open_in(dirfd, JOURNAL, os.O_RDWR | os.O_CREAT)
    try:  # written over the old entry, then cut: torn, it fails its length or CRC (never applied)
        data = encode(files, info)
        if os.pwrite(fd, data, 0) != len(data):
            raise OSError(errno.EIO, "short write to the journal")
        if os.fstat(fd).st_size > len(data):
            os.ftruncate(fd, len(data))
        os.fdatasync(fd)
    finally:
        os.close(fd)


def clear_journal(dirfd: int) -> None:
    """Step 3 done: the entry is in the files and the row committed. Its magic is overwritten (cheaper than a
    truncate; not synced: an entry that survives a crash is only applied once more, which changes nothing)."""
    with contextlib.suppress(FileNotFoundError):
        fd = open_in(dirfd, JOURNAL, os.O_RDWR)
        try:
            if os.fstat(fd).st_size >= len(MAGIC):
                os.pwrite(fd, bytes(len(MAGIC)), 0)
        finally:
            os.close(fd)


def apply(dirfd: int, files: list[dict[str, Any]]) -> None:
    """Step 2 (and recovery): every file made to hold the entry, fsynced. Idempotent."""
    renamed = False
    for f in files:
        if f["new"]:  # written whole beside its name, then renamed: complete or absent
            tmp = temp_name_for(f["name"])
            fd = open_in(dirfd, tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL)
            try:
                _write_ranges(fd, f)
                os.fsync(fd)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dirfd)
                raise
            os.close(fd)
            os.replace(tmp, f["name"], src_dir_fd=dirfd, dst_dir_fd=dirfd)
            renamed = True
        else:
            fd = open_in(dirfd, f["name"], os.O_RDWR)
            try:
                _write_ranges(fd, f)
                os.fdatasync(fd)
            finally:
                os.close(fd)
    if renamed:  # a new name in the folder
        with contextlib.suppress(OSError):
            os.fsync(dirfd)


def _write_ranges(fd: int, f: dict[str, Any]) -> None:
    for start, data in f["extents"]:
        data = data[: max(0, f["size"] - start)]
        if data and os.pwrite(fd, data, start) != len(data):
            raise OSError(errno.ENOSPC, "short write")
    if os.fstat(fd).st_size != f["size"]:
        os.ftruncate(fd, f["size"])


def state(dirfd: int) -> tuple[str, Entry | None]:
    """What the files hold of a pending entry, without writing: "none" (no entry), "applied", "unapplied"
    (the files are as before it: consistent) or "partial" (a crash in step 2: arrays unreadable until a
    writer opens the task and re-applies it)."""
    entry = read_journal(dirfd)
    if entry is None:
        return "none", None
    seen = set()
    for f in entry.files:
        try:
            fd = open_in(dirfd, f["name"], os.O_RDONLY)
        except FileNotFoundError:
            seen.add(False)  # a new file not renamed into place yet
            continue
        try:
            if f["new"]:
                seen.add(True)  # renamed into place whole
                continue
            for start, data in f["extents"]:
                data = data[: max(0, f["size"] - start)]
                if data:
                    seen.add(os.pread(fd, len(data), start) == data)
        finally:
            os.close(fd)
    if seen <= {True}:
        return "applied", entry
    return ("unapplied" if seen == {False} else "partial"), entry


def recover(dirfd: int) -> Entry | None:
    """A writer opening the task: a complete pending entry is applied (a crash in step 2 repaired), and
    temp files a killed writer left (a new file not yet renamed, an unfinished pickle) are removed."""
    with os.scandir(dirfd) as it:
        for leftover in [e.name for e in it if e.name.startswith(TEMP_MARKER) and e.is_file(follow_symlinks=False)]:
            with contextlib.suppress(OSError):
                os.unlink(leftover, dir_fd=dirfd)
    entry = read_journal(dirfd)
    if entry is not None:
        try:
            apply(dirfd, entry.files)
        except OSError as exc:
            raise WriteFailedError(f"cannot finish the interrupted trial write: {exc.strerror or exc}",
                                   hint="Check free space and permissions of the task folder, then retry.") from None
    clear_journal(dirfd)
    return entry



class ArrayFiles:
    """The HDF5 files of one folder open for appending, each through an ``Overlay`` (h5py via h5guard)."""

    def __init__(self, dirfd: int) -> None:
        self.dirfd = dirfd
        self.open: dict[str, tuple[Overlay, Any]] = {}

    def file(self, name: str) -> Any:
        """The h5py File of ``name`` (made when missing; an existing one naming other files is refused)."""
        from io_core import h5guard

        if name not in self.open:
            overlay = Overlay(self.dirfd, name)
            try:
                f = h5guard.open_stream(overlay, "r+" if overlay.fd is not None else "w")
            except BaseException:
                overlay.close()
                raise
            self.open[name] = (overlay, f)
        return self.open[name][1]

    def commit(self, info: dict[str, Any], then: Any = None) -> None:
        """Steps 1-3: journal, apply, ``then()`` (the row), journal emptied. On failure: ``reset`` and raise."""
        try:
            for _, f in self.open.values():
                f.flush()
            pending = [ov.pending() for ov, _ in self.open.values() if ov.dirty]
            if pending:
                write_journal(self.dirfd, pending, info)
                apply(self.dirfd, pending)
                for ov, _ in self.open.values():
                    ov.settle()
            if then is not None:
                then()
            if pending:
                clear_journal(self.dirfd)
        except BaseException:
            self.reset()
            raise

    def reset(self) -> None:
        """After a failure: what libhdf5 holds dropped, the journal finished or forgotten as a reopen would."""
        self.close()
        with contextlib.suppress(Exception):
            recover(self.dirfd)

    def close(self) -> None:
        """Every write was committed (or is to be dropped): what libhdf5 writes while closing is discarded."""
        for overlay, f in self.open.values():
            overlay.discarding = True
            with contextlib.suppress(Exception):
                f.close()
            overlay.close()
        self.open.clear()
