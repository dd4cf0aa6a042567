"""Atomic file replacement: write beside the target, fsync, then rename over it.

A failed or interrupted write never touches the existing target and leaves no temp
file behind. With ``overwrite=False`` the final step is a hard link, which fails if
the target appeared meanwhile, so a concurrent writer is never clobbered either.
``atomic_write`` adds the SHA-256 of exactly the bytes renamed into place, hashed
while they are written when the saver can write to a stream (see ``AtomicWrite``).

Race-free: the target's folder is walked and opened once (``Sandbox.open_folder``:
``openat`` with ``O_NOFOLLOW``, missing folders made with ``mkdirat``), and every later
step is relative to that fd: the existence checks, the rename or link, the fsync. A
writer that insists on a path gets ``/proc/<pid>/fd/<folder fd>/<temp name>``, which
the kernel resolves through the open folder, so a folder swapped for a symlink
meanwhile cannot redirect the write. Before the rename the temp name must still be a
regular file (or a folder store), never a link planted in its place.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat as st_
from collections.abc import Iterator
from pathlib import Path

from io_core.errors import ExistsError, IOCoreError, WriteFailedError
from io_core.paths import Sandbox, forget_folder, register_folder

TEMP_MARKER = ".sciio-tmp-"
NAME_MAX = 255


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


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name_for(name: str) -> str:
    """A fresh hidden name for ``name``'s temp file that keeps its suffixes.

    Libraries that infer compression or format from the name (pandas, Pillow) then see
    the same extension as the target. Cut from the front to fit a file name's 255 bytes.
    """
    prefix = f"{TEMP_MARKER}{secrets.token_hex(6)}-"
    room = NAME_MAX - len(prefix)
    while len(name.encode("utf-8", "surrogateescape")) > room:
        name = name[1:]
    return prefix + name


def temp_path_for(target: Path) -> Path:
    return target.with_name(temp_name_for(target.name))


_UNCONFINED = Sandbox(None)


def _lstat(name: str, dirfd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _remove(name: str, dirfd: int) -> None:
    info = _lstat(name, dirfd)
    if info is None:
        return
    if st_.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=dirfd, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dirfd)


def _sync_file(name: str, dirfd: int, mode: int | None) -> None:
    """chmod (files) and fsync what the writer left at ``name``, opened without following links."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_target(target: Path, *, overwrite: bool = False, sandbox: Sandbox | None = None) -> Iterator[Path]:
    """Yield a temp path to write; on success it becomes ``target`` atomically.

    Parent folders are created. The caller's writer may create the temp file itself
    (h5py, pyarrow) or open it; either way it is fsynced before the rename.
    ``sandbox``: the folder is walked inside its roots, and ``target`` is taken as the
    real path it resolved (a folder that turns out elsewhere has changed meanwhile:
    refused); without one the folder is walked unconfined (direct use).
    """
    if type(target).__name__ == "RemotePath":  # an object in a remote root: written privately, then uploaded
        from io_core.remote.writing import remote_target

        with remote_target(target, overwrite=overwrite, sandbox=sandbox) as tmp:
            yield tmp
        return
    target = Path(target)
    name = target.name
    if not name or name in (".", ".."):
        raise ExistsError(f"{str(target)!r} names a folder", hint="Choose a file name.")
    dirfd, parent = (sandbox or _UNCONFINED).open_folder(target.parent, create=True)
    try:
        if sandbox is not None and sandbox.confined and parent != target.parent:
            raise WriteFailedError(f"the folder of {name!r} changed while it was being saved",
                                   hint="Nothing was written; retry once the folder is stable.")
        existing = _lstat(name, dirfd)
        if existing is not None and st_.S_ISDIR(existing.st_mode):
            raise ExistsError(f"{name!r} is an existing folder", hint="Choose a file name.")
        if not overwrite and existing is not None:
            raise ExistsError(f"{name!r} already exists")
        tmpname = temp_name_for(name)
        view = register_folder(dirfd, parent)
        try:
            yield Path(view) / tmpname
            made = _lstat(tmpname, dirfd)
            if made is None:
                raise IOCoreError("the writer produced no file", hint="This is a bug in the format's saver.")
            if not (st_.S_ISREG(made.st_mode) or st_.S_ISDIR(made.st_mode)):
                raise WriteFailedError(f"the temp file for {name!r} was replaced while it was written",
                                       hint="Nothing was replaced; retry.")
            if st_.S_ISREG(made.st_mode):
                current = _lstat(name, dirfd)
                keep = current is not None and st_.S_ISREG(current.st_mode)
                _sync_file(tmpname, dirfd, (current.st_mode & 0o7777) if keep else (0o666 & ~_umask()))
            else:
                _sync_file(tmpname, dirfd, None)
            if overwrite:
                os.replace(tmpname, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            else:
                _link_new(tmpname, name, dirfd)
            with contextlib.suppress(OSError):
                os.fsync(dirfd)
        finally:
            forget_folder(view)
            _remove(tmpname, dirfd)
    finally:
        os.close(dirfd)


def _link_new(tmpname: str, name: str, dirfd: int) -> None:
    """Give the finished temp file its name only if the name is still free (a hard link fails if not)."""
    try:
        os.link(tmpname, name, src_dir_fd=dirfd, dst_dir_fd=dirfd, follow_symlinks=False)
    except FileExistsError:
        raise ExistsError(f"{name!r} appeared while it was being written") from None
    except OSError as exc:  # file systems without hard links (or a folder store)
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if _lstat(name, dirfd) is not None:
            raise ExistsError(f"{name!r} appeared while it was being written") from None
        os.replace(tmpname, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    else:
        os.unlink(tmpname, dir_fd=dirfd)


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
def atomic_write(target: Path, *, overwrite: bool = False, sandbox: Sandbox | None = None,
                 ) -> Iterator[AtomicWrite]:
    """``atomic_target`` that also hashes what it renames into place (``job.sha256``)."""
    with atomic_target(target, overwrite=overwrite, sandbox=sandbox) as tmp:
        job = AtomicWrite(tmp)
        try:
            yield job
        except BaseException:
            job._abort()
            raise
        job._finish()
