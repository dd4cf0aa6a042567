"""Per-block work, the same function in every executor: a block in, a small mergeable partial out.

Partials are merged by the caller in block order, so an in-process run and a Dask run
of the same blocks give bit-identical results (floating-point sums included).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from io_core.compute.source import ArraySource, TableSource, iter_table, read_block
from io_core.stats import RunningStats


def _flat(block: np.ndarray) -> np.ndarray:
    flat = block.reshape(-1)
    return flat.view(np.uint8) if flat.dtype.kind == "b" else flat


def _below(values: np.ndarray, lo: Any) -> int:
    """Finite values below ``lo`` (NaN compares false; -inf is not finite)."""
    below = int(np.count_nonzero(values < lo))
    if below and values.dtype.kind == "f":
        below -= int(np.count_nonzero(np.isneginf(values)))
    return below


def _inside(values: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """The values in [lo, hi] (finite: the window is); all of them without a copy when the window holds them."""
    if values.size and values.dtype.kind != "f" and values.min() >= lo and values.max() <= hi:
        return values
    return values[(values >= lo) & (values <= hi)]


def moments(src: ArraySource, index: tuple) -> tuple[RunningStats, int]:
    """Count, mean, M2 (Chan), min, max, NaN and Inf counts of one block, and the bytes read."""
    block = read_block(src, index)
    part = RunningStats()
    part.add(block)
    return part, int(block.nbytes)


def refine(src: ArraySource, index: tuple, windows: list[tuple[Any, Any, int, bool]]) -> tuple[list, int]:
    """For each window (lo, hi, bins, whole): values below lo, a histogram of the values inside [lo, hi]
    (np.histogram's bins: [e_j, e_j+1), the last one closed), and their min and max. ``whole``: the
    window holds every value of the array (all finite), so no value is masked out."""
    block = read_block(src, index)
    values = _flat(block)
    out = []
    for lo, hi, bins, whole in windows:
        below = 0 if whole else _below(values, lo)
        inside = values if whole else _inside(values, lo, hi)
        if inside.size:
            counts, _ = np.histogram(inside, bins=bins, range=_range(lo, hi))
            out.append((below, counts.astype(np.int64), inside.min(), inside.max()))
        else:
            out.append((below, np.zeros(bins, np.int64), None, None))
    return out, int(block.nbytes)


def _range(lo: float, hi: float) -> tuple[float, float]:
    """np.histogram's own choice for an empty range (all values equal)."""
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def collect(src: ArraySource, index: tuple, windows: list[tuple[float, float]]) -> tuple[list, int]:
    """For each window [lo, hi]: values below lo, and the distinct values inside with their counts
    (few: the window was narrowed to at most a bounded number of values, or to two adjacent ones)."""
    block = read_block(src, index)
    values = _flat(block)
    out = []
    for lo, hi in windows:
        uniq, counts = np.unique(_inside(values, lo, hi), return_counts=True)
        out.append((_below(values, lo), uniq, counts.astype(np.int64)))
    return out, int(block.nbytes)


def copy_region(pieces: list[tuple], region: tuple, dst: str, name: str, roots: Any) -> tuple[int, int]:
    """Assemble output ``region`` from its ``pieces`` (source, index there, index in the region) and write it
    into Zarr array ``name`` of the store at ``dst`` (the atomic write's temp folder, by its real path: it is
    re-resolved inside ``roots`` here). Regions are whole output chunks: no two tasks write the same chunk."""
    import zarr

    from io_core.paths import Sandbox

    real = Sandbox(roots).resolve(dst)
    out = zarr.open_array(str(real), path=name, mode="r+")
    shape = tuple(s.stop - s.start for s in region)
    if len(pieces) == 1 and all(p.stop - p.start == n for p, n in zip(pieces[0][2], shape, strict=True)):
        block = read_block(pieces[0][0], pieces[0][1])  # one source covers the region: no assembly copy
        out[region] = block.reshape(shape)
        return 1, int(block.nbytes)
    buffer = np.empty(shape, dtype=out.dtype)
    nbytes = 0
    for src, index, local in pieces:
        block = read_block(src, index)
        buffer[local] = block.reshape(buffer[local].shape)
        nbytes += block.nbytes
    out[region] = buffer
    return 1, nbytes


def table_part(src: TableSource, part: str, roots: Any) -> tuple[int, int]:
    """One table file as a parquet part at ``part`` (a scratch file inside ``roots``), read in chunks."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from io_core.paths import Sandbox

    real = Sandbox(roots).resolve(part)
    writer = None
    try:
        for frame in iter_table(src):
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(real), table.schema)
            elif table.schema != writer.schema:
                table = table.cast(pa.unify_schemas([writer.schema, table.schema], promote_options="permissive"))
                if table.schema != writer.schema:  # a later chunk widened a type: rewrite this file's part whole
                    raise _Widen
            writer.write_table(table)
    except _Widen:
        writer.close()
        writer = None
        import pandas as pd

        whole = pa.Table.from_pandas(pd.concat(list(iter_table(src)), ignore_index=True), preserve_index=False)
        pq.write_table(whole, str(real))
    finally:
        if writer is not None:
            writer.close()
    if not os.path.exists(real):
        pq.write_table(pa.table({}), str(real))
    return 1, src.identity[2]


class _Widen(Exception):
    pass
