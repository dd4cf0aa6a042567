"""A Zarr summary decodes the chunk its head and its sample share once (io_core.formats.zarr.handler._LastChunk)."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from io_core.formats.zarr.handler import _LastChunk
from io_core.workspace import Workspace


class Counting:
    """A zarr array that counts its reads."""

    def __init__(self, arr):
        self.arr, self.reads = arr, []
        self.shape, self.dtype, self.chunks = arr.shape, arr.dtype, arr.chunks

    def __getitem__(self, key):
        self.reads.append(key)
        return self.arr[key]


@pytest.fixture
def store(tmp_path):
    arr = zarr.create_array(store=str(tmp_path / "a.zarr"), shape=(250, 300), chunks=(100, 100), dtype="float64")
    arr[:] = np.arange(250 * 300, dtype="float64").reshape(250, 300)
    return tmp_path, arr


def test_reads_inside_one_chunk_decode_it_once_and_match_the_array(store):
    _, arr = store
    counting = Counting(arr)
    cached = _LastChunk(counting)
    keys = [(0, slice(0, 20)), (slice(0, 100), slice(0, 100)), (5, 7), (-250, slice(90, 100)), (slice(10, 20), slice(0, 50))]
    for key in keys:
        assert np.array_equal(cached[key], arr[key])
    assert len(counting.reads) == 1  # all inside chunk (0, 0)
    for key in [(slice(0, 150), slice(0, 10)), (slice(10, 20),), (Ellipsis,), (slice(0, 10, 2), 0), (249, slice(290, 300))]:
        assert np.array_equal(cached[key], arr[key])  # across chunks, steps, ellipsis, the last partial chunk
    assert not cached[(249, slice(290, 300))].flags.writeable


def test_summary_reads_the_first_chunk_once(tmp_path, monkeypatch):
    from io_core.formats.zarr import handler

    big = zarr.create_array(store=str(tmp_path / "big.zarr"), shape=(2000, 3000), chunks=(1000, 1000),
                            dtype="float64", fill_value=0.0)  # 48 MB declared; one chunk written
    big[:1000, :1000] = np.arange(1e6).reshape(1000, 1000)
    made = []

    def counted(node):
        wrapper = _LastChunk(Counting(node))
        made.append(wrapper)
        return wrapper

    monkeypatch.setattr(handler, "_LastChunk", counted)
    summary = Workspace([tmp_path]).summarize("big.zarr").summary
    assert summary.head[:3] == [0.0, 1.0, 2.0]
    assert summary.stats is not None and not summary.stats.exact and summary.stats.max == 999_999.0
    assert len(made[0].arr.reads) == 1  # head and sample: one decode of chunk (0, 0)
