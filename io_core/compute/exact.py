"""Exact statistics over every value: moments in one pass, exact quantiles by narrowing windows.

Pass 1 (``kernels.moments``): count, mean and M2 merged with Chan's formula, min, max, NaN and
Inf counts. Quantiles are NumPy's default (``linear``) over the finite values: each needs the
order statistics at ranks floor(q(n-1)) and the next one. Their values are found exactly,
never estimated (``dask.array.percentile`` is approximate): each rank starts with the window
[min, max]; a pass counts, per window, the values below it and a ``BINS``-bin histogram of the
values inside, and the rank's window shrinks to its bin (and to the min/max seen inside).
Once a window holds at most ``CAP`` values (or no longer shrinks: two adjacent floats), one
last pass returns its distinct values with their counts and the rank is read off exactly.
With 16,384 bins and windows of up to 2M values, 10^9 normal values (8 GB) need one narrowing pass
and the final one (4,096 bins and 1M took two). The histogram asked for (``bins``) rides along the
first narrowing pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from io_core.compute import kernels
from io_core.compute.source import ArraySource
from io_core.stats import RunningStats, iter_blocks

TASK_BYTES = 32 * 1024 * 1024  # one block (one task); the same partition for every executor
BINS = 16384
CAP = 2_000_000  # values a window may hold before its distinct values are collected
MAX_PASSES = 64


@dataclass
class Report:
    """What a run did: passes over the data, blocks (tasks) run, bytes read, where."""

    engine: str = "in-process"
    workers: int = 1
    threads: int = 1
    passes: int = 0
    blocks: int = 0
    bytes_read: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[int, int, int, str], None]  # blocks done, blocks total, bytes read, message


def blocks_of(src: ArraySource, task_bytes: int) -> list[tuple]:
    return list(iter_blocks(src.shape, src.itemsize, task_bytes, src.chunks))


def run_pass(executor: Any, report: Report, fn: Callable, src: ArraySource, blocks: Sequence[tuple],
             extra: tuple, progress: Progress | None, cancelled: Callable[[], bool], label: str) -> list[Any]:
    report.passes += 1
    base = report.bytes_read

    def step(done: int, total: int, nbytes: int) -> None:
        report.bytes_read = base + nbytes
        if progress is not None:
            progress(done, total, report.bytes_read, f"pass {report.passes}: {label}")

    out = executor.map(fn, [(src, b, *extra) for b in blocks], progress=step, cancelled=cancelled)
    report.blocks += len(blocks)
    return out


def exact_stats(executor: Any, src: ArraySource, *, quantiles: Sequence[float] = (), bins: int | None = None,
                progress: Progress | None = None, cancelled: Callable[[], bool] = lambda: False,
                task_bytes: int | None = None) -> tuple[dict[str, Any], Report]:
    """Statistics of ``src`` (see module docstring), and a report of the run."""
    started = time.perf_counter()
    if np.dtype(src.dtype).kind not in "biuf":
        from io_core.errors import UnsupportedOperationError

        raise UnsupportedOperationError(f"{src.dtype} values have no statistics", hint="Pick a numeric array.")
    _check_chunks(src)
    report = Report(engine=executor.name, **executor.size())
    blocks = blocks_of(src, task_bytes or TASK_BYTES)
    parts = run_pass(executor, report, kernels.moments, src, blocks, (), progress, cancelled, "moments")
    total = RunningStats()
    for part in parts:
        _merge(total, part)
    n = total.count
    out: dict[str, Any] = {"count": n, "nan_count": total.nan, "inf_count": total.inf}
    if n:
        out.update(min=_plain(total.lo), max=_plain(total.hi), mean=total.mean, std=math.sqrt(total.m2 / n))
    want = sorted({float(q) for q in quantiles})
    if n and (want or bins):
        lo, hi = _plain(total.lo), _plain(total.hi)
        values, hist = _order_statistics(executor, report, src, blocks, n, lo, hi, want, bins, progress, cancelled,
                                         (total.lo, total.hi), clean=total.nan == 0 and total.inf == 0)
        if want:
            out["quantiles"] = {_qkey(q): v for q, v in zip(want, values, strict=True)}
        if hist is not None:
            edges = np.histogram_bin_edges(np.array([], dtype=src.dtype), bins=bins,
                                           range=kernels._range(total.lo, total.hi))  # as np.histogram(a, bins)
            out["histogram"] = {"edges": edges.tolist(), "counts": hist.tolist()}
    report.seconds = round(time.perf_counter() - started, 3)
    return out, report


def _check_chunks(src: ArraySource) -> None:
    """TOO_LARGE before anything is read when every pass would read more chunks than ``max_exact_chunks``
    (the same bound as the in-process exact summary: 2**40 one-element chunks would never finish)."""
    if not src.chunks:
        return
    from io_core.errors import TooLargeError
    from io_core.limits import current

    cap = (src.limits or current()).max_exact_chunks
    count = math.prod(-(-n // max(1, c)) for n, c in zip(src.shape, src.chunks, strict=False))
    if count > cap:
        raise TooLargeError(f"exact statistics would read {count} chunks per pass; at most {cap} are streamed",
                            hint="Use load_summary (sampled statistics), or a key of fewer chunks.")


def _qkey(q: float) -> str:
    return repr(q)


def _plain(value: Any) -> float:
    return value.item() if isinstance(value, np.generic) else value


def _merge(total: RunningStats, part: RunningStats) -> None:
    """Chan's parallel merge of ``part`` into ``total`` (what RunningStats.add does per block)."""
    total.nan += part.nan
    total.inf += part.inf
    if part.count == 0:
        return
    if total.count == 0:
        total.count, total.mean, total.m2, total.lo, total.hi = part.count, part.mean, part.m2, part.lo, part.hi
        return
    delta = part.mean - total.mean
    merged = total.count + part.count
    total.mean += delta * part.count / merged
    total.m2 += part.m2 + delta * delta * total.count * part.count / merged
    total.count = merged
    total.lo = min(total.lo, part.lo)
    total.hi = max(total.hi, part.hi)


@dataclass
class _Rank:
    rank: int
    lo: float
    hi: float
    inside: int  # values in [lo, hi] (known after a pass; n at the start)
    value: Any = None


def _order_statistics(executor: Any, report: Report, src: ArraySource, blocks: Sequence[tuple], n: int,
                      lo: float, hi: float, quantiles: list[float], bins: int | None,
                      progress: Progress | None, cancelled: Callable[[], bool],
                      typed_range: tuple[Any, Any], clean: bool = False) -> tuple[list[Any], Any]:
    """The quantiles' values (np.quantile's, on the finite values) and the histogram asked for."""
    plans = []
    for q in quantiles:
        k = q * (n - 1)
        below = math.floor(k)
        plans.append((below, min(below + 1, n - 1), k - below))
    ranks = {r: _Rank(r, lo, hi, n) for p in plans for r in p[:2]}
    hist = None
    want_hist = bins is not None
    for _ in range(MAX_PASSES):
        open_ranks = [r for r in ranks.values()
                      if r.value is None and r.inside > CAP and _edges(src.dtype, r.lo, r.hi) is not None]
        if not open_ranks and not want_hist:
            break
        windows = sorted({(r.lo, r.hi) for r in open_ranks})
        spec = [(a, b, BINS, clean and a <= lo and b >= hi) for a, b in windows]
        if want_hist:
            spec.append((*typed_range, int(bins), clean))  # the data's own min/max scalars: np.histogram's edges
        parts = run_pass(executor, report, kernels.refine, src, blocks, (spec,), progress, cancelled, "quantile windows")
        merged = _merge_windows(parts, len(spec))
        if want_hist:
            hist, want_hist = merged.pop()[1], False
        by_window = dict(zip(windows, merged, strict=True))
        for r in open_ranks:
            below, counts, wmin, wmax = by_window[(r.lo, r.hi)]
            local = r.rank - below
            edges = _edges(src.dtype, r.lo, r.hi)
            j = int(np.searchsorted(np.cumsum(counts), local, side="right"))
            new_lo, new_hi = max(float(edges[j]), _plain(wmin)), min(float(edges[j + 1]), _plain(wmax))
            shrunk = (new_lo, new_hi) != (r.lo, r.hi)
            r.lo, r.hi, r.inside = new_lo, new_hi, int(counts[j]) if shrunk else 0  # 0: collect now
            if new_lo == new_hi:
                r.value = new_lo
    pending = [r for r in ranks.values() if r.value is None]
    if pending:
        windows = sorted({(r.lo, r.hi) for r in pending})
        parts = run_pass(executor, report, kernels.collect, src, blocks, (windows,), progress, cancelled, "exact values")
        found = {}
        for w_i, window in enumerate(windows):
            below = sum(p[w_i][0] for p in parts)
            uniq = np.concatenate([p[w_i][1] for p in parts])
            counts = np.concatenate([p[w_i][2] for p in parts])
            values, where = np.unique(uniq, return_inverse=True)
            totals = np.zeros(values.size, np.int64)
            np.add.at(totals, where, counts)
            found[window] = (below, values, np.cumsum(totals))
        for r in pending:
            below, values, cum = found[(r.lo, r.hi)]
            r.value = values[int(np.searchsorted(cum, r.rank - below, side="right"))]
    dtype = np.dtype(src.dtype)
    out = []
    for a, b, gamma in plans:
        pair = np.array([ranks[a].value, ranks[b].value], dtype=dtype)
        out.append(float(np.quantile(pair, np.array([gamma]))[0]))  # NumPy's lerp, as np.quantile(a, [q...]) does
    return out, hist


def _edges(dtype: str, lo: float, hi: float) -> Any:
    """The bin edges np.histogram uses in the kernel for this window (same dtype), or None when the window
    is too narrow to split into ``BINS`` bins (a few neighbouring floats: its values are collected instead)."""
    if not hi > lo:
        return None
    try:
        return np.histogram_bin_edges(np.array([], dtype=dtype), bins=BINS, range=(lo, hi))
    except ValueError:
        return None


def _merge_windows(parts: list[list], count: int) -> list[tuple]:
    merged = []
    for w in range(count):
        below = sum(p[w][0] for p in parts)
        counts = np.sum([p[w][1] for p in parts], axis=0)
        mins = [p[w][2] for p in parts if p[w][2] is not None]
        maxs = [p[w][3] for p in parts if p[w][3] is not None]
        merged.append((below, counts, min(mins) if mins else None, max(maxs) if maxs else None))
    return merged
