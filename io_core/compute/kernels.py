"""Per-block work, the same function in every executor: a block in, a small mergeable partial out.

Partials are merged by the caller in block order, so an in-process run and a Dask run
of the same blocks give bit-identical results (floating-point sums included).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from io_core.compute.source import ArraySource, read_block
from io_core.stats import RunningStats


def _finite(block: np.ndarray) -> np.ndarray:
    flat = block.reshape(-1)
    if flat.dtype.kind == "b":
        return flat.view(np.uint8)
    if flat.dtype.kind == "f":
        return flat[np.isfinite(flat)]
    return flat


def moments(src: ArraySource, index: tuple) -> tuple[RunningStats, int]:
    """Count, mean, M2 (Chan), min, max, NaN and Inf counts of one block, and the bytes read."""
    block = read_block(src, index)
    part = RunningStats()
    part.add(block)
    return part, int(block.nbytes)


def refine(src: ArraySource, index: tuple, windows: list[tuple[float, float, int]]) -> tuple[list, int]:
    """For each window (lo, hi, bins): values below lo, a histogram of the values inside [lo, hi]
    (np.histogram's bins: [e_j, e_j+1), the last one closed), and their min and max."""
    block = read_block(src, index)
    values = _finite(block)
    out = []
    for lo, hi, bins in windows:
        below = int(np.count_nonzero(values < lo))
        inside = values[(values >= lo) & (values <= hi)]
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
    values = _finite(block)
    out = []
    for lo, hi in windows:
        inside = values[(values >= lo) & (values <= hi)]
        uniq, counts = np.unique(inside, return_counts=True)
        out.append((int(np.count_nonzero(values < lo)), uniq, counts.astype(np.int64)))
    return out, int(block.nbytes)


def copy_region(src: ArraySource, index: tuple, dst: str, name: str, roots: Any, out_index: tuple) -> tuple[int, int]:
    """Read ``index`` of ``src`` and write it into Zarr array ``name`` of the store at ``dst``, at ``out_index``.

    ``dst`` is the real path of the atomic write's temp folder, re-resolved inside ``roots`` here.
    Regions are whole output chunks, so no two tasks write the same chunk.
    """
    import zarr

    from io_core.paths import Sandbox

    block = read_block(src, index)
    real = Sandbox(roots).resolve(dst)
    out = zarr.open_array(str(real), path=name, mode="r+")
    shape = tuple(s.stop - s.start for s in out_index)
    out[out_index] = block.reshape(shape)
    return 1, int(block.nbytes)
