"""Exact statistics streamed block by block, in memory bounded by the block size.

Blocks follow the storage layout (whole leading rows, aligned to chunks when the
array is chunked), so each block is one contiguous or chunk-aligned read. Partial
results merge with Chan's parallel formula, which stays accurate for large counts.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from io_core.encoding import encode_value
from schemas import Stats

BLOCK_BYTES = 16 * 1024 * 1024  # one read
CACHE_BYTES = 1024 * 1024  # one pass of the arithmetic

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


def iter_blocks(shape: tuple[int, ...], itemsize: int, block_bytes: int = BLOCK_BYTES,
                chunks: tuple[int, ...] | None = None) -> Iterator[tuple[Any, ...]]:
    """Index tuples that tile ``shape`` in C order, each selecting at most ~``block_bytes``."""
    if not shape:
        yield ()
        return
    if 0 in shape:
        return
    inner = itemsize
    axis = len(shape) - 1
    while axis > 0 and inner * shape[axis] <= block_bytes:
        inner *= shape[axis]
        axis -= 1
    if inner * shape[axis] <= block_bytes:  # everything fits in one block
        yield (slice(None),) * len(shape)
        return
    rows = max(1, block_bytes // inner)
    if chunks and chunks[axis] and rows > chunks[axis]:
        rows -= rows % chunks[axis]  # whole chunks per read
    for lead in itertools.product(*(range(n) for n in shape[:axis])):
        for start in range(0, shape[axis], rows):
            yield (*lead, slice(start, min(start + rows, shape[axis])))


def file_backing(arr: Any) -> tuple[str, int] | None:
    """(file name, byte offset) of a contiguous memory map that covers its whole file region."""
    if isinstance(arr, np.memmap) and arr.filename and (arr.flags.c_contiguous or arr.flags.f_contiguous):
        base = arr
        while isinstance(base.base, np.memmap):
            base = base.base
        if base is arr or (base.shape == arr.shape):
            return str(arr.filename), int(arr.offset)
    return None


def read_flat(fh: Any, offset: int, dtype: Any, start: int, count: int, out: np.ndarray | None = None) -> np.ndarray:
    """Values ``start .. start+count`` in storage order, read from an open file (no mapping)."""
    dtype = np.dtype(dtype)
    buf = out[:count] if out is not None else np.empty(count, dtype=dtype)
    fh.seek(offset + start * dtype.itemsize)
    got = fh.readinto(memoryview(buf).cast("B"))
    return buf[: got // dtype.itemsize]


@dataclass
class RunningStats:
    """Mergeable finite-value statistics (count, mean, M2, min, max, NaN/Inf counts)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    lo: Any = None
    hi: Any = None
    nan: int = 0
    inf: int = 0

    def add(self, block: np.ndarray) -> None:
        """Fold in a block, in cache-sized pieces: each pass then runs from the CPU cache."""
        flat = block.reshape(-1)
        step = max(1, CACHE_BYTES // max(1, flat.itemsize))
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf and overflow are handled below
            for start in range(0, flat.size, step):
                self._add(flat[start : start + step])

    def _add(self, values: np.ndarray) -> None:
        if values.size == 0:
            return
        if values.dtype.kind == "f":
            total = float(np.add.reduce(values, dtype=np.float64))
            if not math.isfinite(total):  # slow path only for blocks holding NaN/Inf (or overflow)
                nan_mask = np.isnan(values)
                finite = np.isfinite(values)
                self.nan += int(nan_mask.sum())
                self.inf += int(values.size - finite.sum() - nan_mask.sum())
                values = values[finite]
                if values.size == 0:
                    return
                total = float(np.add.reduce(values, dtype=np.float64))
        elif values.dtype.kind == "b":
            values = values.view(np.uint8)
            total = float(np.count_nonzero(values))
        else:
            total = float(np.add.reduce(values, dtype=np.float64))
        n = values.size
        block_mean = total / n
        centred = np.subtract(values, block_mean, dtype=np.float64)
        block_m2 = float(np.einsum("i,i->", centred, centred))  # not BLAS: its threads cost ms per call
        lo, hi = values.min(), values.max()
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        delta = block_mean - self.mean
        merged = self.count + n
        self.mean += delta * n / merged
        self.m2 += block_m2 + delta * delta * self.count * n / merged
        self.count = merged

    def result(self, *, exact: bool = True, fraction: float = 1.0) -> Stats:
        if self.count == 0:
            return Stats(nan_count=self.nan, inf_count=self.inf, exact=exact, sampled_fraction=fraction)
        return Stats(
            min=encode_value(self.lo), max=encode_value(self.hi), mean=self.mean,
            std=math.sqrt(self.m2 / self.count), nan_count=self.nan, inf_count=self.inf,
            count=self.count, exact=exact, sampled_fraction=fraction,
        )


def exact_stats(array: Any, *, progress: Progress | None = None, block_bytes: int = BLOCK_BYTES,
                chunks: tuple[int, ...] | None = None, limits: Any = None) -> Stats | None:
    """Stats over every value of an array-like (memmap, h5py, zarr), one block at a time.

    A chunked array with more chunks than ``max_exact_chunks`` is TOO_LARGE before any is read
    (its chunk count is in the metadata; 2**40 one-element chunks would never finish).
    """
    dtype = np.dtype(array.dtype)
    if dtype.kind not in "biuf":
        return None
    shape = tuple(int(s) for s in array.shape)
    if chunks:
        from io_core.errors import TooLargeError
        from io_core.limits import current

        cap = (limits or current()).max_exact_chunks
        n_chunks = math.prod(-(-n // max(1, c)) for n, c in zip(shape, chunks, strict=False))
        if n_chunks > cap:
            raise TooLargeError(f"exact statistics would read {n_chunks} chunks; at most {cap} are streamed",
                                hint="Use the sampled statistics (exact_stats=false), or a key/selection of fewer chunks.")
    total = math.prod(shape) * dtype.itemsize
    running = RunningStats()
    done = 0
    source = file_backing(array)
    if source is not None:  # a memory map: read the file into one reused buffer instead of mapping it all
        count = math.prod(shape)
        per_block = max(1, block_bytes // dtype.itemsize)
        buffer = np.empty(min(per_block, max(1, count)), dtype=dtype)
        with open(source[0], "rb", buffering=0) as fh:
            for start in range(0, count, per_block):
                block = read_flat(fh, source[1], dtype, start, min(per_block, count - start), out=buffer)
                running.add(block)
                done += block.nbytes
                if progress is not None:
                    progress(done, total)
        return running.result()
    for index in iter_blocks(shape, dtype.itemsize, block_bytes, chunks):
        block = np.asarray(array[index]) if index else np.asarray(array[()])
        running.add(block)
        done += block.nbytes
        if progress is not None:
            progress(done, total)
    return running.result()
