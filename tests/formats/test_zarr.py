"""Zarr v2 and v3 stores made by zarr-python itself: directories and .zarr.zip, read-only."""

import json
import os
import time

import numpy as np
import pytest
import zarr

from io_core import IOCoreError, Workspace
from io_core.budget import json_size

BUDGET = 32768


@pytest.fixture
def ws(tmp_path):
    return Workspace([tmp_path])


def _v3_array(path, data, chunks):
    z = zarr.create_array(store=str(path), shape=data.shape, chunks=chunks, dtype=data.dtype, zarr_format=3)
    z[...] = data
    return z


def _code(fn, *args, **kwargs):
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value.code


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_groups_load_summarize_and_slice(ws, tmp_path, zarr_format):
    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="w", zarr_format=zarr_format)
    root.attrs["experiment"] = "run-7"
    x = root.create_array("x", data=np.arange(40, dtype="i4").reshape(8, 5), chunks=(2, 5))
    root.create_group("sub").create_array("y", data=np.linspace(0, 1, 6))
    loaded = ws.load("s.zarr")
    assert loaded["x"].tolist() == x[...].tolist() and loaded["sub"]["y"].tolist() == np.linspace(0, 1, 6).tolist()
    tree = ws.summarize("s.zarr", max_bytes=BUDGET).summary
    assert tree.kind == "tree" and tree.n_children == 2 and tree.attrs == {"experiment": "run-7"}
    kinds = {c.name: (c.kind, c.shape) for c in tree.children}
    assert kinds == {"x": ("array", [8, 5]), "sub": ("group", None)}
    arr = ws.summarize("s.zarr", key="x").summary
    assert arr.kind == "array" and arr.chunks == [2, 5] and arr.compression and arr.stats.max == 39
    assert f"v{zarr_format}" in arr.note
    part = ws.read_slice("s.zarr", key="x", selection="-1, ::2").slice
    assert part.values == [35, 37, 39]
    assert _code(ws.read_slice, "s.zarr", key="sub") == "KEY_NOT_FOUND"
    assert _code(ws.summarize, "s.zarr", key="nope") == "KEY_NOT_FOUND"


def test_zip_store_and_store_without_extension(ws, tmp_path):
    store = zarr.storage.ZipStore(tmp_path / "a.zarr.zip", mode="w")
    zarr.create_array(store=store, data=np.arange(6.0).reshape(2, 3))
    store.close()
    res = ws.summarize("a.zarr.zip")
    assert res.format == "zarr_zip" and res.summary.shape == [2, 3] and res.size_bytes > 0
    assert ws.load("a.zarr.zip").tolist() == [[0, 1, 2], [3, 4, 5]]
    _v3_array(tmp_path / "plainfolder", np.ones((3, 3)), (3, 3))
    assert ws.summarize("plainfolder").format == "zarr"


def test_large_array_summary_samples_and_reads_few_chunks(ws, tmp_path):
    data = np.random.default_rng(0).random((4000, 500))
    _v3_array(tmp_path / "big.zarr", data, (500, 500))
    res = ws.summarize("big.zarr", max_bytes=BUDGET)
    assert json_size(res.model_dump(mode="json")) <= BUDGET
    assert not res.summary.stats.exact and res.summary.stats.count < data.size
    exact = ws.summarize("big.zarr", exact_stats=True).summary.stats
    assert exact.exact and exact.mean == pytest.approx(data.mean()) and exact.count == data.size


def test_not_a_store_and_corrupt_metadata(ws, tmp_path):
    (tmp_path / "empty.zarr").mkdir()
    assert _code(ws.summarize, "empty.zarr") == "CORRUPT_FILE"
    bad = tmp_path / "bad.zarr"
    bad.mkdir()
    (bad / "zarr.json").write_text("{not json")
    start = time.monotonic()
    assert _code(ws.summarize, "bad.zarr") == "CORRUPT_FILE"
    assert time.monotonic() - start < 10
    (tmp_path / "junk.zarr.zip").write_bytes(os.urandom(500))
    assert _code(ws.load, "junk.zarr.zip") == "CORRUPT_FILE"
    (bad / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "array"}))
    assert _code(ws.load, "bad.zarr") == "CORRUPT_FILE"


def test_zarr_is_listed_load_only(ws):
    from io_core.registry import REGISTRY

    infos = {f.name: f for f in REGISTRY.list_formats()}
    assert infos["zarr"].operations[:2] == ["load", "summarize"] and "save" not in infos["zarr"].operations
    assert infos["zarr"].available
    assert _code(ws.save, np.ones(3), "new.zarr") in {"FORMAT_UNKNOWN", "UNSUPPORTED_OPERATION"}
