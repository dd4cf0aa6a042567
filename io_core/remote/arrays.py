"""A remote ``.npy`` array read lazily: a selection reads only the byte ranges it covers.

The header is one range read (``numpy_files.read_header`` on the file object); a selection
is normalised to index arrays per axis and read in C order: one contiguous span when it is
at most a few times the bytes wanted, else one run per row of the last axis (runs in the
same cached block cost no extra request). Fortran-ordered files are read as the transposed
C array. numpy is imported by the caller's module.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

SPAN_FACTOR = 4  # read one span when it is at most this many times the bytes wanted
SPAN_MIN = 1 << 20  # ... or at most this many bytes


class RangedArray:
    """``shape``, ``dtype``, ``ndim``, ``size``, ``nbytes`` and ``__getitem__`` over a ranged file object."""

    def __init__(self, fh: Any, shape: tuple[int, ...], dtype: np.dtype, offset: int, fortran: bool) -> None:
        self.fh, self.dtype, self.offset, self.fortran = fh, np.dtype(dtype), offset, fortran
        self.shape = tuple(int(s) for s in shape)
        self._c_shape = self.shape[::-1] if fortran else self.shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[...]
        return out.astype(dtype) if dtype is not None else out

    def __getitem__(self, key: Any) -> np.ndarray:
        index, squeeze = _normalise(key, self.shape)
        if self.fortran:
            values = self._read_c(index[::-1]).transpose()
        else:
            values = self._read_c(index)
        return values[tuple(0 if s else slice(None) for s in squeeze)] if any(squeeze) else values

    def _read_c(self, index: list[np.ndarray]) -> np.ndarray:
        shape = self._c_shape
        item = self.dtype.itemsize
        out_shape = tuple(len(i) for i in index)
        if not shape:
            return np.frombuffer(self.fh.read_range(self.offset, self.offset + item), self.dtype).reshape(())
        if 0 in out_shape:
            return np.empty(out_shape, self.dtype)
        strides = [int(np.prod(shape[k + 1:], dtype=np.int64)) for k in range(len(shape))]
        first = sum(int(i[0]) * s for i, s in zip(index, strides, strict=True))
        last = sum(int(i[-1]) * s for i, s in zip(index, strides, strict=True))
        lo, hi = min(first, last), max(first, last)
        wanted = int(np.prod(out_shape, dtype=np.int64))
        span = (hi - lo + 1) * item
        if span <= max(SPAN_FACTOR * wanted * item, SPAN_MIN):
            raw = self.fh.read_range(self.offset + lo * item, self.offset + (hi + 1) * item)
            flat = np.frombuffer(raw, self.dtype)
            grid = np.ix_(*index)
            pos = sum(g * s for g, s in zip(grid, strides, strict=True)) - lo
            return flat[pos].copy()
        out = np.empty(out_shape, self.dtype)
        tail = index[-1]
        t_lo, t_hi = int(tail.min()), int(tail.max())
        for combo in itertools.product(*[range(len(i)) for i in index[:-1]]):
            base = sum(int(index[k][c]) * strides[k] for k, c in enumerate(combo))
            raw = self.fh.read_range(self.offset + (base + t_lo) * item, self.offset + (base + t_hi + 1) * item)
            out[combo] = np.frombuffer(raw, self.dtype)[tail - t_lo]
        return out


def _normalise(key: Any, shape: tuple[int, ...]) -> tuple[list[np.ndarray], list[bool]]:
    """Index arrays per axis and which axes an integer removed."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:at] + (slice(None),) * (len(shape) - len(key) + 1) + key[at + 1:]
    key = key + (slice(None),) * (len(shape) - len(key))
    if len(key) > len(shape):
        raise IndexError(f"too many indices for an array of {len(shape)} dimensions")
    index, squeeze = [], []
    for k, n in zip(key, shape, strict=True):
        if isinstance(k, slice):
            index.append(np.arange(n)[k])
            squeeze.append(False)
        elif isinstance(k, (int, np.integer)):
            i = int(k) + (n if int(k) < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"index {int(k)} is out of bounds for an axis of size {n}")
            index.append(np.array([i]))
            squeeze.append(True)
        else:
            arr = np.asarray(k)
            if arr.dtype == bool:
                arr = np.nonzero(arr)[0]
            index.append(np.where(arr < 0, arr + n, arr).astype(np.int64))
            squeeze.append(False)
    return index, squeeze
