"""SHA-256 of files, equal to what ``sha256sum`` prints, computed as cheaply as possible.

Three ways, cheapest first:

- ``HashingWriter`` hashes the bytes while a saver writes them. A large write is
  handed to a worker thread for hashing while the calling thread writes the same
  buffer to disk (hashlib and ``write`` both release the GIL), so a 400 MB save costs
  about max(write, hash) instead of write + read back + hash.
- ``HashCache`` remembers a digest under the file's stamp (device, inode, size,
  mtime_ns, ctime_ns), so an unchanged input is not hashed again for lineage.
- ``sha256_file`` streams a file through hashlib in fixed-size chunks (never whole).
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future
from pathlib import Path
from stat import S_ISDIR

from io_core.fileid import FileStamp, settled, stamp, stamp_of

READ_CHUNK = 4 * 1024 * 1024
PARALLEL_MIN = 1024 * 1024  # below this a write is hashed inline: a thread hop costs more
SMALL_BUFFER = 1024 * 1024  # small writes are gathered into one buffer of about this size
MAX_IN_FLIGHT = 64 * 1024 * 1024  # bytes queued for hashing before a writer waits
SYNC_MIN = 8 * 1024 * 1024  # unsynced bytes worth an early fsync while waiting for the hash


class _OrderedHasher:
    """One worker thread feeding buffers to one hash object, strictly in submission order."""

    def __init__(self, h) -> None:
        self._h = h
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sciio-hash", daemon=True)
        self._thread.start()

    def submit(self, view: memoryview) -> Future:
        done: Future = Future()
        self._queue.put((view, done))
        return done

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            view, done = item
            try:
                self._h.update(view)  # releases the GIL for large buffers
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting writer
                done.set_exception(exc)
            else:
                done.set_result(None)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in fixed chunks into one reused buffer."""
    h = hashlib.sha256()
    buf = bytearray(READ_CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def sha256_tree(folder: str | os.PathLike[str]) -> tuple[str, int]:
    """(digest, total bytes) of a folder store (Zarr), reproducible with coreutils::

        cd FOLDER && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum

    i.e. SHA-256 over the lines ``<file sha256>  ./<relative path>`` in byte order of the paths.
    """
    root = Path(folder)
    files = sorted((p for p in root.rglob("*") if p.is_file() and not p.is_symlink()),
                   key=lambda p: os.fsencode("./" + p.relative_to(root).as_posix()))
    h = hashlib.sha256()
    total = 0
    for p in files:
        h.update(f"{sha256_file(p)}  ./{p.relative_to(root).as_posix()}\n".encode("utf-8", "surrogateescape"))
        total += p.stat().st_size
    return h.hexdigest(), total


def sha256_path(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(digest, size): ``sha256_file`` for a file, ``sha256_tree`` for a folder store."""
    st = os.stat(path)
    if S_ISDIR(st.st_mode):
        return sha256_tree(path)
    return sha256_file(path), st.st_size


class HashingWriter(io.RawIOBase):
    """A write-only, append-only binary file that hashes exactly the bytes it writes.

    It is not seekable, so a saver cannot go back and patch bytes already hashed;
    ``matches`` double-checks the byte count against the file before the digest is
    trusted. A caller's mutable buffer is fully hashed before ``write`` returns, so it
    may be reused as with any file; ``bytes`` and the writer's own gathering buffer are
    hashed behind the writes (bounded by MAX_IN_FLIGHT) and waited for at ``close``.

    ``sync=True`` is for callers that fsync the file afterwards anyway (atomic writes):
    whenever the writer would sit idle waiting for the hash, it fsyncs instead, so
    flushing to disk overlaps hashing rather than following it (for a 400 MB array
    that is the difference between max(write + fsync, hash) and write + hash + fsync).
    """

    def __init__(self, path: str | os.PathLike[str], *, sync: bool = False) -> None:
        super().__init__()
        self._fh = open(path, "xb", buffering=0)  # noqa: SIM115 - closed in close()
        self._sync = sync
        self._unsynced = 0
        self._hash = hashlib.sha256()
        self._pending = bytearray()
        self._hasher: _OrderedHasher | None = None
        self._in_flight: deque[tuple[int, Future]] = deque()
        self._in_flight_bytes = 0
        self.nbytes = 0
        self.name = os.fspath(path)
        self.mode = "wb"

    # -- io.RawIOBase ----------------------------------------------------------------
    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.nbytes

    def fileno(self) -> int:  # pragma: no cover - deliberately unsupported
        raise io.UnsupportedOperation("HashingWriter has no file descriptor to write around it")

    def write(self, b) -> int:
        if self.closed:
            raise ValueError("write to a closed file")
        view = memoryview(b)
        if not view.c_contiguous:
            view = memoryview(view.tobytes())  # C order, as a file would be given it
        view = view.cast("B")
        n = view.nbytes
        if n < PARALLEL_MIN:
            self._pending += view
            if len(self._pending) >= SMALL_BUFFER:
                self._flush_pending()
        else:
            self._flush_pending()
            self._emit(view)
        self.nbytes += n
        return n

    def flush(self) -> None:
        if not self.closed:
            self._flush_pending()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._flush_pending()
        finally:
            try:
                self._drain(0)
            finally:
                if self._hasher is not None:
                    self._hasher.stop()
                self._fh.close()
                super().close()

    def abort(self) -> None:
        """Close without writing what is still buffered (the write failed anyway)."""
        self._pending.clear()
        self.close()

    # -- results ---------------------------------------------------------------------
    def hexdigest(self) -> str:
        if not self.closed:
            raise ValueError("the digest is known once the writer is closed")
        return self._hash.hexdigest()

    def matches(self, path: str | os.PathLike[str]) -> bool:
        """Whether the file on disk holds exactly the bytes that were hashed (by count)."""
        return self.closed and os.stat(path).st_size == self.nbytes

    # -- internals -------------------------------------------------------------------
    def _flush_pending(self) -> None:
        if self._pending:
            data, self._pending = self._pending, bytearray()
            self._emit(memoryview(data), owned=True)

    def _emit(self, view: memoryview, *, owned: bool = False) -> None:
        """Write ``view`` while the worker hashes it.

        A buffer nobody else can change (our own, or ``bytes``) is left with the worker
        and the write returns at once, up to MAX_IN_FLIGHT bytes; a caller's mutable
        buffer is waited for before returning.
        """
        n = view.nbytes
        if n < PARALLEL_MIN and not self._in_flight:
            self._hash.update(view)
            self._write_all(view)
            return
        if self._hasher is None:
            self._hasher = _OrderedHasher(self._hash)
        done = self._hasher.submit(view)
        self._in_flight.append((n, done))
        self._in_flight_bytes += n
        try:
            self._write_all(view)
        finally:
            immutable = owned or isinstance(view.obj, bytes)
            self._drain(MAX_IN_FLIGHT if immutable else 0)

    def _drain(self, limit: int) -> None:
        """Wait for queued hashing until at most ``limit`` bytes are outstanding."""
        while self._in_flight and self._in_flight_bytes > limit:
            n, done = self._in_flight.popleft()
            self._in_flight_bytes -= n
            self._wait(done)
        if limit == 0:
            while self._in_flight:
                self._wait(self._in_flight.popleft()[1])
            self._in_flight_bytes = 0

    def _wait(self, done: Future) -> None:
        if self._sync and self._unsynced >= SYNC_MIN and not done.done() and not self._fh.closed:
            os.fsync(self._fh.fileno())  # owed anyway; done now, while the hash is still running
            self._unsynced = 0
        done.result()

    def _write_all(self, view: memoryview) -> None:
        done, total = 0, view.nbytes
        while done < total:
            written = self._fh.write(view[done:])
            if not written:
                raise OSError("short write")
            done += written
        self._unsynced += total


class HashCache:
    """Digest by file stamp, bounded by entries; a stamp that is not settled is never stored."""

    def __init__(self, max_entries: int = 4096) -> None:
        self._entries: OrderedDict[tuple[str, FileStamp], str] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, path: Path, st: FileStamp) -> str | None:
        with self._lock:
            digest = self._entries.get((str(path), st))
            if digest is not None:
                self._entries.move_to_end((str(path), st))
                self.hits += 1
            return digest

    def put(self, path: Path, st: FileStamp, digest: str) -> None:
        if not settled(st):
            return
        with self._lock:
            self._entries[(str(path), st)] = digest
            self._entries.move_to_end((str(path), st))
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def sha256(self, path: Path) -> tuple[str, FileStamp]:
        """The file's digest and the stamp it belongs to, hashing only when not cached.

        A folder store is always hashed afresh: its own stamp does not change when a
        file inside it is rewritten. So is a remote object (``io_core.remote``: streamed).
        """
        if type(path).__name__ == "RemotePath":
            digest, size = path.sha256()  # type: ignore[attr-defined]
            return digest, FileStamp(0, 0, size, 0, 0)
        st = os.stat(path)
        before = stamp_of(st)
        if S_ISDIR(st.st_mode):
            return sha256_tree(path)[0], before
        digest = self.get(path, before)
        if digest is not None:
            return digest, before
        with self._lock:
            self.misses += 1
        digest = sha256_file(path)
        if stamp(path) == before:  # unchanged while it was read: safe to remember
            self.put(path, before, digest)
        return digest, before

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


HASHES = HashCache()  # process-wide: keys are file identities, valid for every workspace

__all__ = ["HASHES", "HashCache", "HashingWriter", "sha256_file", "sha256_path", "sha256_tree", "stamp_of"]
