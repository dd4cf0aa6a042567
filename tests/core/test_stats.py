"""Streamed exact stats equal NumPy's over the whole array, whatever the blocking."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from io_core.stats import exact_stats, iter_blocks


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 7), min_size=0, max_size=4).map(tuple),
    st.sampled_from([1, 2, 4, 8]),
    st.integers(1, 300),
    st.booleans(),
)
def test_blocks_tile_the_array_exactly_once(shape, itemsize, block_bytes, chunked):
    chunks = tuple(max(1, n // 2) for n in shape) if chunked and shape else None
    seen = np.zeros(shape, dtype=np.int32)
    for index in iter_blocks(shape, itemsize, block_bytes, chunks):
        view = seen[index] if index else seen[()]
        block_elems = np.asarray(view).size
        assert block_elems * itemsize <= max(block_bytes, itemsize)
        if index:
            seen[index] += 1
        else:
            seen[()] += 1
    assert (seen == 1).all()


@pytest.mark.parametrize("dtype", ["float64", "float32", "int16", "uint8", "bool", "int64"])
@pytest.mark.parametrize("block_bytes", [64, 1000, 10**9])
def test_exact_stats_match_numpy(dtype, block_bytes):
    rng = np.random.default_rng(0)
    arr = rng.normal(1000, 3, size=(37, 11, 5)).astype(dtype)
    if dtype.startswith("float"):
        arr[3, 2, 1] = np.nan
        arr[5, 0, 0] = np.inf
        arr[6, 1, 2] = -np.inf
    stats = exact_stats(arr, block_bytes=block_bytes)
    finite = arr[np.isfinite(arr)] if dtype.startswith("float") else arr.reshape(-1)
    ref = finite.astype(np.float64)
    assert stats.exact and stats.count == finite.size
    assert stats.nan_count == (1 if dtype.startswith("float") else 0)
    assert stats.inf_count == (2 if dtype.startswith("float") else 0)
    assert stats.mean == pytest.approx(ref.mean(), rel=1e-9)
    assert stats.std == pytest.approx(ref.std(), rel=1e-6)
    assert float(stats.min) == pytest.approx(float(finite.min())) and float(stats.max) == pytest.approx(float(finite.max()))


def test_progress_reaches_the_total_and_non_numeric_is_none():
    arr = np.arange(10_000, dtype=np.float64)
    calls = []
    exact_stats(arr, block_bytes=8000, progress=lambda done, total: calls.append((done, total)))
    assert len(calls) == 10 and calls[-1] == (80_000, 80_000)
    assert all(a[0] < b[0] for a, b in itertools.pairwise(calls))
    assert exact_stats(np.array(["a", "b"])) is None


def test_all_nan_and_empty():
    stats = exact_stats(np.full(5, np.nan))
    assert stats.count == 0 and stats.nan_count == 5 and stats.mean is None
    assert exact_stats(np.empty((0, 3))).count == 0
