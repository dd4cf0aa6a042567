"""Atomic writes into an existing HDF5 store: copy-on-write under a lock.

libhdf5 updates a file in place (B-trees, heaps, the superblock's end-of-file and
open-for-write flags): a writer killed mid-write (SIGKILL, out of memory, power loss) leaves a
file that no longer opens, and HDF5 has no journal. So a store is never written in place:

1. The store file is pinned through the sandbox and locked (``flock`` LOCK_EX on the pinned
   inode, polled until ``lock_timeout``: STORE_BUSY). After the lock, the name must still lead
   to that inode (a writer that finished meanwhile renamed a new file into place): else the
   lock is dropped and taken again on the new file. HDF5 writers that lock files (h5py's
   default) hold the same kind of lock, so they and we exclude each other.
2. The file is copied beside itself (``io_core.atomic``: a temp name in the same folder, opened
   through the folder's fd; ``copy_file_range``, a reflink where the file system has them),
   the copy opened "r+" (``guard.update``), changed, closed, fsynced and renamed over the
   name. Readers that have the old file open keep reading the old inode, unchanged.
3. The lock is released; the new file's SHA-256 (hashed before the rename) goes to the ledger.

Killed at any point, the store is the old file or the new one, never a mix; a killed writer
leaves at most its hidden temp file (``.sciio-tmp-*``; tests/stores/test_results.py kills one
with SIGKILL mid-write). A new store file is created the same way (``create``), and two
creators racing for a name end as one creator and one copy-on-write writer.

Cost: one copy of the file per transaction (a 25 MB, 10,000-entry store: ~10 ms to copy and
~20 ms to hash); ``ResultStore.batch()`` puts many writes into one transaction. Space freed by
an overwritten entry is not reclaimed (HDF5 does not shrink files; ``h5repack`` does).
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from io_core.atomic import atomic_write
from io_core.errors import CorruptFileError, ExistsError, FileNotFoundIOError
from io_core.formats.hdf5 import guard
from io_core.paths import Sandbox
from io_core.stores.results_errors import StoreBusyError

LOCK_POLL_S = 0.01
COPY_CHUNK = 64 << 20


def _lock(fd: int, timeout: float, name: str) -> None:
    deadline = time.monotonic() + timeout
    delay = LOCK_POLL_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            raise StoreBusyError(f"{name!r} stayed locked by another writer for {timeout:g} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _copy(src_fd: int, dst: Path) -> None:
    """The whole pinned file into a new file at ``dst`` (kernel-side copy where possible)."""
    out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        size = os.fstat(src_fd).st_size
        offset = 0
        while offset < size:
            try:
                n = os.copy_file_range(src_fd, out, min(COPY_CHUNK, size - offset), offset, offset)
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
                os.lseek(out, offset, os.SEEK_SET)  # copy_file_range moved no file position
                n = os.sendfile(out, src_fd, offset, min(COPY_CHUNK, size - offset))
            if n <= 0:
                break
            offset += n
    finally:
        os.close(out)


def _apply(path: Path, change: Callable[[Any], Any], *, new: bool, **create: Any) -> Any:
    try:
        f = guard.create(path, **create) if new else guard.update(path)
    except Exception as exc:  # noqa: BLE001 - h5py refuses a damaged or "open for writing" file
        raise CorruptFileError(f"cannot open the store for writing: {type(exc).__name__}: {str(exc)[:200]}",
                               hint="If a writer crashed, `h5clear -s` clears the file's open-for-write flag.") from None
    try:
        return change(f)
    finally:
        f.close()


def transaction(real: Path, change: Callable[[Any], Any], *, sandbox: Sandbox | None,
                lock_timeout: float = 10.0, create: dict[str, Any] | None = None) -> tuple[Any, str, int]:
    """Run ``change(h5file)`` on a private copy of the store at ``real`` and rename it into place.

    A missing file is created (``create``: h5py options). Returns (what ``change`` returned,
    sha256 and size of the file now at ``real``). ``change`` may run more than once (a creator
    that lost the race for the name runs again on the winner's file); it raises to abort.
    """
    box = sandbox or Sandbox(None)
    while True:
        try:
            pinned = box.pin(real)
        except FileNotFoundIOError:
            try:
                with atomic_write(real, overwrite=False, sandbox=sandbox) as job:
                    result = _apply(job.tmp, change, new=True, **(create or {}))
                return result, job.sha256, job.size
            except ExistsError:
                continue  # another writer created it first: write into theirs
        with pinned:
            _lock(pinned.fd, lock_timeout, real.name)
            try:
                now = os.stat(pinned.real)
            except FileNotFoundError:
                continue
            if (now.st_dev, now.st_ino) != (pinned.stat.st_dev, pinned.stat.st_ino):
                continue  # replaced while we waited: lock the new file
            with atomic_write(real, overwrite=True, sandbox=sandbox) as job:
                _copy(pinned.fd, job.tmp)
                result = _apply(job.tmp, change, new=False)
            return result, job.sha256, job.size
