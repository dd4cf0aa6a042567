"""HDF5 reads bounded by the chunks they make libhdf5 walk, computed from the chunk shape before reading.

What a read of a chunked dataset costs libhdf5 (measured here, HDF5 2.0): ~4 µs for every
chunk the selection touches, allocated or not (a missing chunk is filled), and ~20-35 ns for
every chunk position in the selection's bounding box, which it walks to map a strided
selection. So a 1.6 KB file declaring 2**40 one-element chunks makes a preview that reads
2,000 values 2**19 apart walk 2**40 positions (hours), and one that reads a leading slab
touch millions of chunks. Both numbers come from the selection and the chunk shape alone:

* touched: at most ``limits.max_chunks``, or one chunk per ``CHUNK_BYTES_FLOOR`` bytes the
  read returns (so streaming legitimate data in small chunks is never refused), never more
  than ``limits.max_chunks_read``;
* bounding box: at most ``limits.max_chunk_span``;
* one chunk: at most ``limits.max_member_bytes`` (a filtered chunk is inflated whole: a 1 MB
  file can hold a gzip chunk of 1 GiB of zeros).

``Bounded(ds)`` is a dataset whose every read is checked first (TOO_LARGE, with a smaller
selection in the hint); the HDF5-family formats hand it to every generic reader (slices,
previews, summaries, stats, convert). ``bounded_summary`` keeps summaries of such files
answerable: when reading a small-looking dataset whole would touch too many chunks, the
statistics come from a sample of whole chunks and say so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from io_core.errors import TooLargeError
from io_core.limits import Limits, current, human

CHUNK_BYTES_FLOOR = 1024


def _axis(item: Any, n: int, chunk: int) -> tuple[int, int, int]:
    """(values, chunks touched, chunk positions spanned) of one axis' index."""
    if item is None or (isinstance(item, slice) and item == slice(None)):
        grid = -(-n // chunk) if n else 0
        return n, grid, grid
    if isinstance(item, (int, np.integer)):
        return 1, 1, 1
    if isinstance(item, slice):
        start, stop, step = item.indices(n)
        count = len(range(start, stop, step))
        if count == 0:
            return 0, 0, 0
        first, last = sorted((start, start + (count - 1) * step))
        span = last // chunk - first // chunk + 1
        return count, (count if abs(step) >= chunk else span), span
    idx = np.asarray(item)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    idx = idx.astype(np.int64, copy=False).reshape(-1) % max(n, 1)
    if idx.size == 0:
        return 0, 0, 0
    cells = np.unique(idx // chunk)
    return int(idx.size), int(cells.size), int(cells[-1] - cells[0] + 1)


def _items(item: Any, ndim: int) -> list[Any]:
    """One index per axis (None: the whole axis) from whatever NumPy-style index was given."""
    if item is Ellipsis or (isinstance(item, tuple) and len(item) == 0):
        return [None] * ndim
    items = [i for i in (item if isinstance(item, tuple) else (item,)) if not isinstance(i, str)]  # field names
    if any(i is Ellipsis for i in items):
        at = next(k for k, i in enumerate(items) if i is Ellipsis)
        items = items[:at] + [None] * (ndim - len(items) + 1) + items[at + 1:]
    return (items + [None] * ndim)[:ndim]


def read_cost(shape: tuple[int, ...], chunks: tuple[int, ...], item: Any) -> tuple[int, int, int]:
    """(values returned, chunks touched, chunk positions in the bounding box) for ``ds[item]``."""
    values = touched = span = 1
    for sub, n, c in zip(_items(item, len(shape)), shape, chunks, strict=True):
        v, t, s = _axis(sub, int(n), max(1, int(c)))
        values, touched, span = values * v, touched * t, span * s
    return values, touched, span


def allowed_chunks(nbytes: int, limits: Limits) -> int:
    return min(limits.max_chunks_read, max(limits.max_chunks, nbytes // CHUNK_BYTES_FLOOR))


def check_read(shape: tuple[int, ...], chunks: tuple[int, ...] | None, itemsize: int, item: Any,
               limits: Limits | None = None, name: str = "the dataset") -> None:
    """TOO_LARGE when ``ds[item]`` would make libhdf5 touch or walk too many chunks (nothing read yet)."""
    if not chunks or not shape:
        return
    limits = limits or current()
    values, touched, span = read_cost(shape, chunks, item)
    if values == 0:
        return
    chunk_bytes = math.prod(int(c) for c in chunks) * itemsize
    if chunk_bytes > limits.max_member_bytes:  # a filtered chunk is inflated whole, however little is asked
        raise TooLargeError(
            f"one chunk of {name} is {human(chunk_bytes)} decompressed; at most {human(limits.max_member_bytes)} "
            "of one chunk is read", hint="Rechunk the dataset into smaller chunks.")
    allowed = allowed_chunks(values * itemsize, limits)
    if touched <= allowed and span <= limits.max_chunk_span:
        return
    lead = ", ".join([f"0:{min(int(n), int(c) * 4)}" for n, c in zip(shape, chunks, strict=True)])
    what = (f"touches {touched} chunks of {list(chunks)} (at most {allowed} for a read of {values} values)"
            if touched > allowed else
            f"spans {span} chunk positions of {list(chunks)}, which HDF5 walks one by one "
            f"(at most {limits.max_chunk_span})")
    raise TooLargeError(
        f"reading {name} {what}",
        hint=f"Ask for a smaller or less spread-out region, e.g. selection='{lead}'; "
             "the chunk shape is in load_summary.",
    )


class Bounded:
    """A dataset (h5py or a view of one) whose every read is checked by ``check_read`` first."""

    def __init__(self, ds: Any, limits: Limits | None = None, name: str | None = None) -> None:
        self.ds = ds
        self.limits = limits or current()
        self.shape = tuple(int(n) for n in ds.shape) if ds.shape is not None else ()
        self.dtype = ds.dtype
        self.ndim = len(self.shape)
        self.size = math.prod(self.shape)
        self.chunks = tuple(ds.chunks) if getattr(ds, "chunks", None) else None
        self.name = name or repr(getattr(ds, "name", None) or "the dataset")

    def __len__(self) -> int:
        return self.shape[0]

    def check(self, item: Any) -> None:
        """TOO_LARGE unless ``self[item]`` is within the chunk bounds (nothing read)."""
        check_read(self.shape, self.chunks, np.dtype(self.dtype).itemsize, item, self.limits, self.name)

    def __getitem__(self, item: Any) -> Any:
        self.check(item)
        return self.ds[item]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = np.asarray(self[()])
        return values if dtype is None else values.astype(dtype)

    def whole_read_ok(self) -> bool:
        if not self.chunks or not self.shape:
            return True
        _, touched, span = read_cost(self.shape, self.chunks, ())
        nbytes = self.size * np.dtype(self.dtype).itemsize
        return touched <= allowed_chunks(nbytes, self.limits) and span <= self.limits.max_chunk_span

    def __getattr__(self, name: str) -> Any:  # attrs, compression, name, ...: metadata only
        if name in ("read_direct", "astype", "asstr", "fields", "iter_chunks", "id", "__array_interface__"):
            raise AttributeError(name)
        return getattr(self.ds, name)


def bounded_summary(arr: Bounded, opts: Any, **kwargs: Any) -> Any:
    """``summary.array_summary`` of a bounded dataset, sampled when a whole read would touch too many chunks."""
    from io_core.encoding import encode_value
    from io_core.summary import SAMPLE_ELEMENTS, _sample, array_summary, compute_stats, head_values

    kwargs.setdefault("chunks", arr.chunks)
    size = arr.size
    dtype = np.dtype(arr.dtype)
    small = size * dtype.itemsize <= opts.exact_stats_bytes or size <= SAMPLE_ELEMENTS
    if opts.exact_stats or not kwargs.get("read_values", True) or not small or arr.whole_read_ok() \
            or dtype.kind not in "biuf":
        return array_summary(arr, opts, **kwargs)
    # small in values but spread over too many chunks to read whole: head + whole chunks sampled
    summary = array_summary(arr, opts, **{**kwargs, "read_values": False})
    head = [encode_value(v, opts.preview_chars // 10) for v in head_values(arr, opts.preview_items)]
    sample = _sample(arr, size, arr.chunks)
    stats = compute_stats(sample, exact=False, fraction=min(1.0, sample.size / max(1, size)))
    grid = math.prod(-(-n // c) for n, c in zip(arr.shape, arr.chunks, strict=True))
    note = f"stats from {sample.size} values in a sample of whole chunks (of {grid}: too many to read all)"
    note = f"{summary.note}; {note}" if summary.note else note
    return summary.model_copy(update={"head": head, "head_truncated": size > len(head), "stats": stats,
                                      "note": note})


def with_limits(opts: Any) -> Limits:
    return getattr(opts, "limits", None) or current()
