"""Reading a remote object by byte ranges: a block cache shared by the process, bounded by bytes.

Blocks of ``block_bytes`` (64 KiB: a spread sample costs little more than it reads) are keyed on (URL, ETag or version id, block number), so browsing
a file issues each range once, a replaced object is never mixed with its old bytes, and
every file object opened on the same object version shares what was fetched. A read that
misses several consecutive blocks fetches them in one range request, and a small read (a header, an
index node) that misses also fetches ``readahead_bytes`` after it: metadata clusters. A read that
continues the previous one (chunk after chunk of a row) fetches up to four times its size more. A reader
that knows its format can do better: ``prefetch`` fetches ranges it is about to read (merged), ``expect``
says how much to read ahead at one offset, and ``watching`` lets it see every read of its thread (e.g. an
index node libhdf5 just read, to fetch the chunks it lists in one request). ``RemoteFile`` is the
seekable binary file object formats read through (h5py, pyarrow, numpy, PIL, pandas).

Each request is counted on the ``Counter`` of the call that opened the file (the access log
reports it) and on the process totals (``io_core.remote.stats``).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from io_core.remote.stats import Counter

SMALL_READ = 16 * 1024  # reads up to this size fetch config.readahead_bytes more (metadata clusters)
SEQUENTIAL_AHEAD = 4 * 1024 * 1024  # a read that continues the previous one fetches up to 4x its size more


_WATCH = threading.local()  # a reader's watcher of the bytes libhdf5 reads in this thread (``watching``)


@contextmanager
def watching(fn: Callable[[Any, int, bytes], None]) -> Iterator[None]:
    """Call ``fn(file, start, data)`` after every read through a ``RemoteFile`` in this thread (not for the
    reads ``fn`` itself makes): a reader that recognises what is read (an index node) can fetch what comes next."""
    prev = getattr(_WATCH, "fn", None)
    _WATCH.fn = fn
    try:
        yield
    finally:
        _WATCH.fn = prev


class RangeCache:
    """LRU of fetched blocks, at most ``max_bytes`` in total (0: nothing is kept)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._blocks: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> bytes | None:
        with self._lock:
            block = self._blocks.get(key)
            if block is not None:
                self._blocks.move_to_end(key)
            return block

    def put(self, key: tuple, block: bytes) -> None:
        if len(block) > self.max_bytes:
            return
        with self._lock:
            old = self._blocks.pop(key, None)
            if old is not None:
                self.size -= len(old)
            self._blocks[key] = block
            self.size += len(block)
            while self.size > self.max_bytes:
                _, dropped = self._blocks.popitem(last=False)
                self.size -= len(dropped)

    def clear(self) -> int:
        with self._lock:
            n = self.size
            self._blocks.clear()
            self.size = 0
            return n


_CACHES: dict[int, RangeCache] = {}


def cache_of(max_bytes: int) -> RangeCache:
    """The process's range cache (one per configured size)."""
    cache = _CACHES.get(max_bytes)
    if cache is None:
        cache = _CACHES.setdefault(max_bytes, RangeCache(max_bytes))
    return cache


class RemoteFile(io.RawIOBase):
    """A read-only, seekable file object on one remote object version (see the module docstring)."""

    def __init__(self, obj: Any, counter: Counter | None = None) -> None:
        super().__init__()
        self.obj = obj  # io_core.remote.path.RemoteObject
        self.size = obj.size
        self.block = obj.config.block_bytes
        self.cache = cache_of(obj.config.cache_bytes)
        self.counter = counter
        self.name = obj.url
        self.pos = 0
        self.last_end = -1  # where the previous read ended (sequential reads read ahead)
        self.ahead_at: dict[int, int] = {}  # offset -> bytes to read ahead when a read there misses (``expect``)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self.pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise OSError(22, "negative seek position")
        self.pos = pos
        return pos

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self.read_range(self.pos, min(self.pos + len(view), self.size))
        view[: len(data)] = data
        self.pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        data = self.read_range(self.pos, self.size)
        self.pos += len(data)
        return data

    def read_range(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)``, from cached blocks where they are, fetching the missing runs."""
        if end <= start:
            return b""
        first, last = start // self.block, (end - 1) // self.block
        ident = (self.obj.url, self.obj.etag or self.obj.version)
        blocks: dict[int, bytes] = {}
        missing: list[int] = []
        for n in range(first, last + 1):
            got = self.cache.get((*ident, n))
            if got is None:
                missing.append(n)
            else:
                blocks[n] = got
        runs = _runs(missing)
        if runs and end - start <= SMALL_READ:  # metadata-like: read ahead (HDF5 headers and indexes cluster)
            run = runs[-1]
            ahead = self.obj.config.readahead_bytes
            more = (ahead if start < 2 * ahead else self.block) // self.block  # the file's head: most metadata
            more = max(more, self.ahead_at.pop(start, 0) // self.block)
            nblocks = -(-self.size // self.block)
            while more > 0 and run[-1] + 1 < nblocks and self.cache.get((*ident, run[-1] + 1)) is None:
                run.append(run[-1] + 1)
                more -= 1
        elif runs and abs(start - self.last_end) < self.block:  # sequential (chunk after chunk): read ahead
            run = runs[-1]
            more = min(4 * (end - start), SEQUENTIAL_AHEAD) // self.block
            nblocks = -(-self.size // self.block)
            while more > 0 and run[-1] + 1 < nblocks and self.cache.get((*ident, run[-1] + 1)) is None:
                run.append(run[-1] + 1)
                more -= 1
        self.last_end = end
        for run in runs:
            lo = run[0] * self.block
            hi = min((run[-1] + 1) * self.block, self.size)
            data = self.obj.fetch(lo, hi, self.counter)
            for n in run:
                part = data[(n - run[0]) * self.block : (n - run[0] + 1) * self.block]
                blocks[n] = part
                self.cache.put((*ident, n), part)
        joined = b"".join(blocks[n] for n in range(first, last + 1))  # (read-ahead blocks are cached only)
        offset = start - first * self.block
        out = joined[offset : offset + (end - start)]
        watch = getattr(_WATCH, "fn", None)
        if watch is not None:
            _WATCH.fn = None
            try:
                watch(self, start, out)
            finally:
                _WATCH.fn = watch
        return out


    def expect(self, offset: int, ahead: int) -> None:
        """A reader knows what is read at ``offset`` next and what tends to follow it: when that read
        misses, the ``ahead`` bytes after it come in the same request."""
        self.ahead_at[offset] = ahead

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        """Fetch byte ranges a reader is about to read (e.g. the chunks of a selection), merged when they
        are adjacent or close (within one block), one request per merged range; they land in the cache."""
        merged: list[list[int]] = []
        for lo, hi in sorted(ranges):
            if merged and lo <= merged[-1][1] + self.block:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        for lo, hi in merged:
            self.read_range(lo, min(hi, self.size))


def _runs(numbers: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for n in numbers:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


def head_cached(obj: Any, info: dict[str, Any]) -> bool:
    """Whether the first block of the object version ``info`` describes is in the cache."""
    tag = info.get("ETag") or info.get("VersionId")
    return cache_of(obj.config.cache_bytes).get((obj.url, tag, 0)) is not None


def clear() -> None:
    """Empty every range cache of the process and forget the versions pinned (a cold start, e.g. for a bench)."""
    from io_core.remote.store import forget_versions

    for cache in _CACHES.values():
        cache.clear()
    forget_versions()


def seed(obj: Any, data: bytes) -> None:
    """Put the first ``len(data)`` bytes of an object version (read while pinning it) into the cache."""
    cache = cache_of(obj.config.cache_bytes)
    block = obj.config.block_bytes
    ident = (obj.url, obj.etag or obj.version)
    size = obj.size
    for n in range(len(data) // block + 1):
        part = data[n * block : (n + 1) * block]
        if part and (len(part) == block or n * block + len(part) == size):  # whole blocks only (or the last)
            cache.put((*ident, n), part)


def open_buffered(obj: Any, counter: Counter | None = None) -> io.BufferedReader:
    """A buffered reader (readline, peek) over ``RemoteFile`` for text and table parsers."""
    return io.BufferedReader(RemoteFile(obj, counter), buffer_size=64 * 1024)
