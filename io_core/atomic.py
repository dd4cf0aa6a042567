"""Atomic file replacement: write beside the target, fsync, then rename over it.

A failed or interrupted write never touches the existing target and leaves no temp
file behind. With ``overwrite=False`` the final step is a hard link, which fails if
the target appeared meanwhile, so a concurrent writer is never clobbered either.
``atomic_write`` adds the SHA-256 of exactly the bytes renamed into place, hashed
while they are written when the saver can write to a stream (see ``AtomicWrite``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from io_core.errors import ExistsError, IOCoreError

TEMP_MARKER = ".sciio-tmp-"


def _umask() -> int:
    """The process umask, read without changing it (Linux), else set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path_for(target: Path) -> Path:
    """A fresh hidden name beside ``target`` that keeps its suffixes.

    Libraries that infer compression or format from the name (pandas, Pillow) then see
    the same extension as the target.
    """
    return target.with_name(f"{TEMP_MARKER}{secrets.token_hex(6)}-{target.name}")


@contextlib.contextmanager
def atomic_target(target: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp path to write; on success it becomes ``target`` atomically.

    Parent folders are created. The caller's writer may create the temp file itself
    (h5py, pyarrow) or open it; either way it is fsynced before the rename.
    """
    if target.is_dir():
        raise ExistsError(f"{target.name!r} is an existing folder", hint="Choose a file name.")
    if not overwrite and target.exists():
        raise ExistsError(f"{target.name!r} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        yield tmp
        if not tmp.exists():
            raise IOCoreError("the writer produced no file", hint="This is a bug in the format's saver.")
        mode = (target.stat().st_mode & 0o7777) if target.exists() else (0o666 & ~_umask())
        os.chmod(tmp, mode)
        fsync_path(tmp)
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise ExistsError(f"{target.name!r} appeared while it was being written") from None
            except OSError as exc:  # file systems without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                if target.exists():
                    raise ExistsError(f"{target.name!r} appeared while it was being written") from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


class AtomicWrite:
    """One atomic write whose SHA-256 is known, without reading the file back when possible.

    A saver that can write to a stream uses ``open_stream()``: the bytes are hashed as
    they are written (see ``io_core.hashing.HashingWriter``). A saver that insists on a
    path (h5py, pyarrow, plugins) writes ``tmp``; the finished temp file is then hashed
    before the rename, while it is still in the page cache. Either way ``sha256`` and
    ``size`` describe exactly the bytes that were renamed into place.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sha256: str | None = None
        self.size: int | None = None
        self.streamed = False
        self._stream = None

    def open_stream(self):  # -> io_core.hashing.HashingWriter
        from io_core.hashing import HashingWriter

        if self._stream is not None:
            raise IOCoreError("a save opens its stream once", hint="This is a bug in the format's saver.")
        self._stream = HashingWriter(self.tmp, sync=True)  # fsynced below anyway: overlap it with the hash
        return self._stream

    def _finish(self) -> None:
        from io_core import hashing

        stream = self._stream
        if stream is not None and not stream.closed:
            stream.close()
        if not self.tmp.exists():
            return  # atomic_target reports the missing file
        if stream is not None and stream.matches(self.tmp):
            self.sha256, self.size, self.streamed = stream.hexdigest(), stream.nbytes, True
        else:  # written by path (or around the stream): hash what is on disk, a file or a folder store
            self.sha256, self.size = hashing.sha256_path(self.tmp)

    def _abort(self) -> None:
        if self._stream is not None and not self._stream.closed:
            self._stream.abort()


@contextlib.contextmanager
def atomic_write(target: Path, *, overwrite: bool = False) -> Iterator[AtomicWrite]:
    """``atomic_target`` that also hashes what it renames into place (``job.sha256``)."""
    with atomic_target(target, overwrite=overwrite) as tmp:
        job = AtomicWrite(tmp)
        try:
            yield job
        except BaseException:
            job._abort()
            raise
        job._finish()
