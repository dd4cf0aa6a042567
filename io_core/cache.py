"""The load cache: decoded objects kept in an LRU bounded by bytes, never handed out.

Why each rule:

- Keyed on the resolved path, the file's stamp (from the pinned fd when given) (device, inode, size, mtime_ns,
  ctime_ns) and the load options: a rewrite (even same size with mtime restored)
  changes ctime, an ``os.replace`` changes the inode, so a changed file always misses.
  Nothing is stored under a stamp that is not yet settled (see ``fileid``), nor when
  the file changed while it was being read.
- Bounded by the bytes the objects hold (arrays: ``nbytes``, frames: deep memory
  usage), not by entry count: one entry can be 1 GB. An object bigger than the bound
  is returned but not kept.
- The cached object itself never leaves the cache. Arrays are made read-only and
  handed out as read-only views (free); mutable containers (dict, list, DataFrame)
  are handed out as copies whose arrays are again read-only views. So mutating what
  a load returned can never change what the next load returns. With the cache on,
  every array a load returns is read-only (call ``.copy()`` to get a writable one),
  whether it came from the cache or not, so code does not depend on cache state.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import Any

from io_core.fileid import SETTLE_NS, FileStamp, settled, stamp, stamp_of
from schemas import CacheCleared, CacheInfo

DEFAULT_CACHE_BYTES = 512 * 1024 * 1024
_SCALARS = (str, bytes, int, float, complex, bool, type(None))


@dataclass
class _Entry:
    value: Any
    nbytes: int


class LoadCache:
    """Thread-safe, byte-bounded LRU of decoded file contents."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES, *, settle_ns: int = SETTLE_NS) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0 (0 turns the cache off)")
        self.max_bytes = int(max_bytes)
        self._settle_ns = settle_ns
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._live: dict[Hashable, Hashable] = {}  # (path, options) -> its one current key
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = self.not_cached = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def load(self, path: Path, options: Hashable, loader: Callable[[], Any], *, fd: int | None = None,
             ) -> tuple[Any, bool]:
        """``(object, hit)``: from the cache when the file is unchanged, else from ``loader()``.

        ``fd``: the file, pinned open (see ``io_core.paths.Pinned``); its identity is taken
        from ``fstat`` of that fd, so it is the identity of what the loader reads, not of
        whatever the name points at by now. ``path`` then only names the entry.
        """
        if not self.enabled:
            return loader(), False
        try:
            st = os.stat(path) if fd is None else os.fstat(fd)
        except OSError:
            st = None  # the loader reports it
        if st is None or not S_ISREG(st.st_mode):  # a folder store: its stamp misses changes to the files inside
            value = _freeze(loader())
            with self._lock:
                self.not_cached += 1
            return value, False
        ident = (str(path), options)
        before = stamp_of(st)
        key = (ident, before)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
                stale = self._live.get(ident)
                if stale is not None:
                    self._remove(stale)  # the file changed: its old contents are dead weight
        if entry is not None:
            return _hand_out(entry.value), True
        value = _freeze(loader())
        nbytes = measure(value)
        if nbytes is None or nbytes > self.max_bytes or not self._storable(path, before, fd):
            with self._lock:
                self.not_cached += 1
            return value, False
        with self._lock:
            self._remove(key)
            stale = self._live.get(ident)
            if stale is not None:
                self._remove(stale)
            self._entries[key] = _Entry(value, nbytes)
            self._live[ident] = key
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                self._remove(next(iter(self._entries)))
                self.evictions += 1
        return _hand_out(value), False

    def _storable(self, path: Path, before: FileStamp, fd: int | None = None) -> bool:
        """Unchanged while it was read, and old enough that a later change must alter the stamp."""
        try:
            now = stamp(path) if fd is None else stamp_of(os.fstat(fd))
            return now == before and settled(before, window_ns=self._settle_ns)
        except OSError:
            return False

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.nbytes
            ident = key[0]
            if self._live.get(ident) == key:
                del self._live[ident]

    def info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(
                enabled=self.enabled, hits=self.hits, misses=self.misses, entries=len(self._entries),
                bytes=self._bytes, max_bytes=self.max_bytes, evictions=self.evictions, not_cached=self.not_cached,
            )

    def clear(self) -> CacheCleared:
        with self._lock:
            removed, freed = len(self._entries), self._bytes
            self._entries.clear()
            self._live.clear()
            self._bytes = 0
        return CacheCleared(entries_removed=removed, bytes_freed=freed)


# -- what an object costs, and how it leaves the cache -------------------------------------

def _is_array(value: Any) -> bool:
    np = sys.modules.get("numpy")  # nothing can be an ndarray before numpy is imported
    return np is not None and isinstance(value, np.ndarray)


def _is_pandas(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "memory_usage")


def measure(value: Any, _depth: int = 0) -> int | None:
    """Bytes held by a loaded object, or None when it must not be cached (unknown, or holds Python objects)."""
    if _depth > 100:
        return None
    if _is_array(value):
        if value.dtype.hasobject:
            return None  # read-only flags do not protect the objects inside
        root = value
        while _is_array(getattr(root, "base", None)):
            root = root.base
        return max(int(value.nbytes), int(root.nbytes))
    if _is_pandas(value):
        if _holds_mutable_cells(value):
            return None  # a copy of the frame would share those objects
        usage = value.memory_usage(index=True, deep=True)
        return int(usage.sum()) if hasattr(usage, "sum") else int(usage)
    if isinstance(value, _SCALARS) or type(value).__module__ == "numpy":
        return sys.getsizeof(value)
    if isinstance(value, dict):
        total = sys.getsizeof(value)
        for k, v in value.items():
            parts = (measure(k, _depth + 1), measure(v, _depth + 1))
            if None in parts:
                return None
            total += parts[0] + parts[1]
        return total
    if isinstance(value, (list, tuple)):
        total = sys.getsizeof(value)
        for v in value:
            part = measure(v, _depth + 1)
            if part is None:
                return None
            total += part
        return total
    return None


def _holds_mutable_cells(frame: Any) -> bool:
    """Whether an object column of a DataFrame/Series holds lists, dicts, arrays... (not just scalars)."""
    columns = [frame] if frame.ndim == 1 else [frame.iloc[:, i] for i in range(frame.shape[1])]
    for col in columns:
        if getattr(col, "dtype", None) == object and not all(
            isinstance(v, _SCALARS) or type(v).__module__ == "numpy" and not _is_array(v) or v is None
            for v in col.array
        ):
            return True
    return False


def _freeze(value: Any) -> Any:
    """Make every array inside a freshly loaded object read-only, down to the memory's owner.

    Freezing only the array itself is not enough: ``np.load`` returns a view of a
    writable owner, and any view of a writable owner can be made writable again.
    Memory owned by something other than an array (a bytearray, an mmap) is copied.
    """
    if _is_array(value):
        chain = [value]
        while _is_array(chain[-1].base):
            chain.append(chain[-1].base)
        if chain[-1].base is not None and not isinstance(chain[-1].base, bytes):
            value = value.copy()  # owns its memory now
            chain = [value]
        for arr in reversed(chain):
            arr.setflags(write=False)
        return value
    if isinstance(value, dict):
        for k, v in list(value.items()):
            frozen = _freeze(v)
            if frozen is not v:  # a copy took the place of a borrowed buffer
                # dict subclasses (mne.Info) guard their own __setitem__; the key is theirs already
                dict.__setitem__(value, k, frozen)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            frozen = _freeze(v)
            if frozen is not v:
                value[i] = frozen
    elif isinstance(value, tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _pandas_copy_on_write() -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and int(pd.__version__.split(".")[0]) >= 3


def _hand_out(value: Any) -> Any:
    """What a caller may hold: read-only views of arrays, fresh copies of containers."""
    if _is_array(value):
        return value.view()  # read-only, like the array it shows; cannot be made writable
    if _is_pandas(value):
        # pandas >= 3 is copy-on-write: a shallow copy can never write through to ours.
        return value.copy(deep=not _pandas_copy_on_write())
    if isinstance(value, _SCALARS) or type(value).__module__ == "numpy":
        return value
    if type(value) is dict:
        return {k: _hand_out(v) for k, v in value.items()}
    if type(value) is list:
        return [_hand_out(v) for v in value]
    if type(value) is tuple:
        return tuple(_hand_out(v) for v in value)
    return copy.deepcopy(value)


__all__ = ["DEFAULT_CACHE_BYTES", "LoadCache", "measure"]
