"""Bounded previews and statistics, built from headers and small reads only.

Format handlers call these with whatever lazy object they hold (a memory map, an
h5py dataset, a frame); nothing here reads more than a preview and, for large
objects, an evenly spread sample whose stats are labelled ``exact=False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from io_core.encoding import clip_text, encode_value
from io_core.options import ReadOptions
from io_core.stats import RunningStats, file_backing, read_flat
from schemas import ArraySummary, ColumnInfo, FrameSummary, Stats, TextSummary, TreeSummary, ValueSummary
from schemas.models import ChildInfo

SAMPLE_ELEMENTS = 262_144  # upper bound on values read for approximate stats
SAMPLE_BLOCKS = 64
HEAD_CELLS = 30  # a table's head shows about this many cells: 3 rows of 10 columns, 15 rows of 2
MIN_HEAD_ROWS = 3


# -- arrays -----------------------------------------------------------------------------

def _head_selection(shape: tuple[int, ...], n: int) -> tuple:
    """Smallest leading slab (in C order) holding the first ``n`` elements."""
    inner = 1
    for axis in range(len(shape) - 1, -1, -1):
        if inner * shape[axis] >= n or axis == 0:
            rows = min(shape[axis], -(-n // inner))
            return (0,) * axis + (slice(0, rows),)
        inner *= shape[axis]
    return ()


def head_values(arr: Any, n: int) -> np.ndarray:
    """The first ``n`` values in C order, reading at most about ``2n`` of them."""
    shape = tuple(arr.shape)
    if not shape:
        return np.asarray(arr[()]).reshape(1)
    if 0 in shape or n <= 0:
        return np.empty(0, dtype=arr.dtype)
    return np.asarray(arr[_head_selection(shape, n)]).reshape(-1)[:n]


def _sample(arr: Any, size: int, chunks: tuple[int, ...] | None = None) -> np.ndarray:
    """An evenly spread sample of about SAMPLE_ELEMENTS values, read in few, large pieces.

    Chunked storage (HDF5, Zarr) is sampled by whole chunks spread over the chunk grid,
    so each chunk is decompressed once; memory maps by contiguous blocks.
    """
    if chunks and not isinstance(arr, np.ndarray):
        shape = tuple(int(n) for n in arr.shape)
        grid = [-(-n // c) for n, c in zip(shape, chunks, strict=True)]
        chunk_values = int(np.prod(chunks, dtype=np.int64))
        want = max(1, min(SAMPLE_BLOCKS, SAMPLE_ELEMENTS // max(1, chunk_values), int(np.prod(grid))))
        picks = np.unique(np.linspace(0, int(np.prod(grid)) - 1, want).astype(np.int64))
        pieces = []
        for flat in picks:
            corner = np.unravel_index(int(flat), grid)
            region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(corner, chunks, shape, strict=True))
            pieces.append(np.asarray(arr[region]).reshape(-1))
        return np.concatenate(pieces)
    if isinstance(arr, np.ndarray) and (arr.flags.c_contiguous or arr.flags.f_contiguous):
        block = max(1, SAMPLE_ELEMENTS // SAMPLE_BLOCKS)
        starts = np.linspace(0, size - block, SAMPLE_BLOCKS).astype(np.int64)
        source = file_backing(arr)
        if source is not None:  # plain reads: no page mapped into this process beyond the sample
            with open(source[0], "rb", buffering=0) as fh:
                return np.concatenate([read_flat(fh, source[1], arr.dtype, int(s), block) for s in starts])
        flat = arr.reshape(-1, order="A")
        return np.concatenate([np.asarray(flat[s : s + block]) for s in starts])
    shape = tuple(arr.shape)
    per_row = max(1, size // shape[0])
    rows_total = max(1, SAMPLE_ELEMENTS // per_row)
    if rows_total >= SAMPLE_BLOCKS:
        per_block = rows_total // SAMPLE_BLOCKS
        starts = np.linspace(0, shape[0] - per_block, SAMPLE_BLOCKS).astype(np.int64)
        return np.concatenate([np.asarray(arr[s : s + per_block]).reshape(-1) for s in starts])
    # rows larger than the budget: a leading slab of evenly spaced rows
    picks = np.unique(np.linspace(0, shape[0] - 1, min(shape[0], SAMPLE_BLOCKS)).astype(np.int64))
    budget = max(1, SAMPLE_ELEMENTS // len(picks))
    sub = _head_selection(shape[1:], budget)
    return np.concatenate([np.asarray(arr[(int(i),) + sub]).reshape(-1)[:budget] for i in picks])


def compute_stats(values: np.ndarray, *, exact: bool, fraction: float) -> Stats | None:
    """Stats over finite values of a real numeric or boolean array (None for other kinds)."""
    if values.dtype.kind not in "biuf":
        return None
    running = RunningStats()
    running.add(values)
    return running.result(exact=exact, fraction=fraction)


def array_stats(arr: Any, opts: ReadOptions, chunks: tuple[int, ...] | None = None) -> Stats | None:
    """Exact for small arrays or on request (streamed); else from an evenly spread sample."""
    dtype = np.dtype(arr.dtype)
    if dtype.kind not in "biuf":
        return None
    if opts.exact_stats:
        from io_core.stats import exact_stats

        return exact_stats(arr, progress=opts.progress, chunks=chunks, limits=opts.limits)
    size = int(np.prod(arr.shape, dtype=np.int64))
    if size == 0:
        return compute_stats(np.empty(0, dtype=dtype), exact=True, fraction=1.0)
    if size * dtype.itemsize <= opts.exact_stats_bytes or size <= SAMPLE_ELEMENTS:
        return compute_stats(np.asarray(arr[()]).reshape(-1), exact=True, fraction=1.0)
    sample = _sample(arr, size, chunks)
    return compute_stats(sample, exact=False, fraction=min(1.0, sample.size / size))


def array_summary(
    arr: Any,
    opts: ReadOptions,
    *,
    chunks: tuple[int, ...] | None = None,
    compression: str | None = None,
    fortran_order: bool = False,
    note: str | None = None,
    read_values: bool = True,
) -> ArraySummary:
    """Summary of anything with ``shape``/``dtype`` and NumPy-style slicing."""
    dtype = np.dtype(arr.dtype)
    shape = [int(s) for s in arr.shape]
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    head: list[Any] = []
    stats = None
    if read_values:
        head = [encode_value(v, opts.preview_chars // 10) for v in head_values(arr, opts.preview_items)]
        stats = array_stats(arr, opts, chunks)
    return ArraySummary(
        shape=shape,
        dtype=dtype.str if dtype.names is None else str(dtype.descr),
        nbytes=size * dtype.itemsize,
        chunks=list(chunks) if chunks else None,
        compression=compression,
        fortran_order=fortran_order,
        stats=stats,
        head=head,
        head_truncated=size > len(head),
        note=note,
    )


# -- frames -----------------------------------------------------------------------------

def head_rows(n_columns: int, opts: ReadOptions) -> int:
    """Rows a table's summary shows: about HEAD_CELLS cells, at least MIN_HEAD_ROWS, at most ``preview_items``."""
    return min(opts.preview_items, max(MIN_HEAD_ROWS, HEAD_CELLS // max(1, n_columns)))


def column_values(series: Any) -> np.ndarray:
    """A numeric column for stats: integers stay integers (exact min/max) unless values are missing."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu" and not series.hasnans:
        return series.to_numpy()
    return series.to_numpy(dtype="float64", na_value=np.nan)


def frame_summary(df: Any, opts: ReadOptions, *, n_rows: int | None = None, n_rows_exact: bool = True,
                  sample: Any = None) -> FrameSummary:
    """Summary of a pandas DataFrame (already bounded by the caller when the file is big).

    ``df`` gives the head rows. Column stats come from ``sample`` when given (rows drawn from
    the whole table: labelled ``sample="spread"``), else from ``df``; a ``df`` holding fewer
    than ``n_rows`` rows is only the table's start, and its stats say ``sample="head"``.
    """
    import pandas as pd

    source = df if sample is None else sample
    complete = sample is None and (n_rows is None or len(df) >= n_rows)
    cols = list(df.columns)[: opts.preview_columns]
    infos: list[ColumnInfo] = []
    for name in cols:
        series = source[name] if name in source.columns else df[name]
        stats = None
        if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_complex_dtype(series.dtype):
            fraction = min(1.0, len(series) / n_rows) if n_rows else 1.0
            stats = compute_stats(column_values(series), exact=complete, fraction=fraction)
        infos.append(ColumnInfo(name=str(name), dtype=str(series.dtype), null_count=int(series.isna().sum()), stats=stats))
    index_desc = None
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        index_desc = f"{df.index.name or ''}:{df.index.dtype}"
    cell_chars = max(20, opts.preview_chars // 20)
    head = [
        {str(c): encode_value(v, cell_chars) for c, v in zip(cols, row, strict=False)}
        for row in df[cols].head(head_rows(len(cols), opts)).itertuples(index=False, name=None)
    ]
    return FrameSummary(
        n_rows=len(df) if n_rows is None else n_rows,
        n_rows_exact=n_rows_exact,
        n_columns=len(df.columns),
        columns=infos,
        columns_truncated=len(df.columns) > len(cols),
        index=index_desc,
        head=head,
        sample=None if complete else "spread" if sample is not None else "head",
    )


def frame_summary_streamed(head: Any, chunks: Any, opts: ReadOptions, *, total_rows: int | None = None) -> FrameSummary:
    """Exact row count and per-column stats from frames streamed one chunk at a time."""
    import pandas as pd

    from io_core.stats import RunningStats

    numeric = [c for c in head.columns if pd.api.types.is_numeric_dtype(head[c].dtype)
               and not pd.api.types.is_complex_dtype(head[c].dtype)]
    running = {c: RunningStats() for c in numeric}
    nulls = dict.fromkeys(head.columns, 0)
    rows = 0
    for chunk in chunks:
        rows += len(chunk)
        for c in head.columns:
            nulls[c] += int(chunk[c].isna().sum())
        for c in numeric:
            running[c].add(column_values(chunk[c]))
        if opts.progress is not None:
            opts.progress(rows, max(rows, total_rows or rows))
    base = frame_summary(head, opts, n_rows=rows, n_rows_exact=True)
    columns = []
    for info in base.columns:
        stats = running[info.name].result() if info.name in running else None
        if stats is not None:
            stats = stats.model_copy(update={"nan_count": 0})  # missing values are counted as nulls
        columns.append(info.model_copy(update={"null_count": nulls.get(info.name), "stats": stats}))
    return base.model_copy(update={"columns": columns, "sample": None})


# -- documents, text, containers --------------------------------------------------------

def bounded_preview(value: Any, opts: ReadOptions, depth: int = 0) -> tuple[Any, bool]:
    """A nested value cut to ``preview_items`` per level and 4 levels deep."""
    n = opts.preview_items
    if isinstance(value, Mapping):
        if depth >= 4:
            return f"<mapping of {len(value)}>", True
        out, cut = {}, len(value) > n
        for k, v in list(value.items())[:n]:
            out[str(k)], sub = bounded_preview(v, opts, depth + 1)
            cut |= sub
        return out, cut
    if isinstance(value, (list, tuple)):
        if depth >= 4:
            return f"<list of {len(value)}>", True
        items, cut = [], len(value) > n
        for v in value[:n]:
            item, sub = bounded_preview(v, opts, depth + 1)
            items.append(item)
            cut |= sub
        return items, cut
    if isinstance(value, str):
        return clip_text(value, opts.preview_chars // 4)
    return encode_value(value, opts.preview_chars // 4), False


def value_summary(value: Any, opts: ReadOptions) -> ValueSummary:
    preview, cut = bounded_preview(value, opts)
    keys = [str(k) for k in list(value.keys())[: opts.preview_items]] if isinstance(value, Mapping) else None
    length = len(value) if isinstance(value, (Mapping, list, tuple, str)) else None
    return ValueSummary(type=type(value).__name__, length=length, keys=keys, preview=preview, truncated=cut)


def text_summary(text: str, opts: ReadOptions, encoding: str = "utf-8") -> TextSummary:
    head, cut = clip_text(text, opts.preview_chars)
    n_lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    return TextSummary(encoding=encoding, n_chars=len(text), n_lines=n_lines, head=head, truncated=cut)


def mapping_summary(members: Mapping[str, Any], opts: ReadOptions, path: str = "/") -> TreeSummary:
    """A container held in memory (npz loaded, dict of arrays) as a tree."""
    names = list(members)
    children = [describe_child(name, members[name]) for name in names[: opts.preview_items]]
    return TreeSummary(path=path, n_children=len(names), children=children, truncated=len(names) > len(children))


def describe_child(name: str, value: Any) -> ChildInfo:
    if isinstance(value, Mapping):
        return ChildInfo(name=name, kind="group", n_children=len(value))
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return ChildInfo(name=name, kind="array", shape=[int(s) for s in value.shape], dtype=np.dtype(value.dtype).str)
    return ChildInfo(name=name, kind="value", dtype=type(value).__name__)


def summarize_object(value: Any, opts: ReadOptions) -> Any:
    """Summary of an object already in memory (user loaders, fallbacks)."""
    from io_core.registry import REGISTRY

    claimant = REGISTRY.claimant(value)  # e.g. an MNE Raw: described by its format, from its header
    if claimant is not None:
        return claimant.summarize_object(value, opts)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pd = None
    if pd is not None and isinstance(value, pd.DataFrame):
        return frame_summary(value, opts)
    if pd is not None and isinstance(value, pd.Series):
        return frame_summary(value.to_frame(), opts)
    if isinstance(value, np.ndarray):
        return array_summary(value, opts)
    if isinstance(value, str):
        return text_summary(value, opts)
    if isinstance(value, Mapping) and value and all(
        isinstance(v, (np.ndarray, Mapping)) for v in value.values()
    ):
        return mapping_summary(value, opts)
    return value_summary(value, opts)
