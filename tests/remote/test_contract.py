"""The tool contract on an S3 root (SeaweedFS): the same answers as on a local root, by byte ranges.

Each conformance case (tests/formats/test_conformance.py) of a format that reads from a file
object is written locally with sciio, uploaded, and read back through ``s3://test/<prefix>``:
load, summary, slices/pages and previews must equal the local answers (paths aside).
"""

from __future__ import annotations

import numpy as np
import pytest

from io_core import IOCoreError, Workspace
from io_core.remote import stats
from io_core.remote.formats import REMOTE_FORMATS
from tests.formats.test_conformance import CASES, _write
from tests.remote.conftest import remote_ws

REMOTE_CASES = [c for c in CASES if c.fmt in REMOTE_FORMATS]
COPIED = [c for c in CASES if c.fmt not in REMOTE_FORMATS and c.fmt in ("csv", "tsv", "text", "json", "yaml", "npz",
                                                                          "xlsx", "mat", "netcdf", "sqlite")]


def _same(local, remote) -> None:
    a, b = local.model_dump(), remote.model_dump()
    a.pop("path"), b.pop("path")
    assert a == b


def test_the_suite_covers_every_remote_format():
    assert {c.fmt for c in REMOTE_CASES} >= {"npy", "parquet", "hdf5", "png", "jpeg", "tiff", "bmp", "gif"}


@pytest.mark.parametrize("case", REMOTE_CASES, ids=[c.ext.lstrip(".") for c in REMOTE_CASES])
def test_remote_answers_equal_local_answers(weed, prefix, tmp_path, case):
    local = Workspace([tmp_path])
    name = "rt" + case.ext
    _write(local, tmp_path, case, case.sample(), name)
    weed.upload_tree(str(tmp_path), "test", prefix)
    ws = remote_ws(weed, f"s3://test/{prefix}")
    case.check(case.sample(), ws.load(name))
    with stats.counting() as counter:
        summary = ws.summarize(name, max_bytes=32768)
    assert counter.requests >= 1 and counter.bytes <= (tmp_path / name).stat().st_size
    _same(local.summarize(name, max_bytes=32768), summary)
    assert summary.path == name  # relative to the first root, as local paths are
    key = "ints" if case.kind == "tree" else None
    if case.kind in ("array", "tree", "frame"):
        _same(local.read_slice(name, key=key), ws.read_slice(name, key=key))
    if case.kind in ("array", "tree"):
        sel = "1:3, ::2"
        _same(local.read_slice(name, key=key, selection=sel), ws.read_slice(name, key=key, selection=sel))
    if case.kind == "frame":
        _same(local.read_slice(name, offset=1, limit=1), ws.read_slice(name, offset=1, limit=1))
    if case.kind in ("image", "array", "tree"):
        png_l, cap_l = local.preview_image(name, key=key)
        png_r, cap_r = ws.preview_image(name, key=key)
        assert png_l == png_r and {**cap_l, "path": None} == {**cap_r, "path": None}
    if case.kind == "tree":
        _same(local.explore(name), ws.explore(name))
        assert ws.key_exists(name, "ints").exists and not ws.key_exists(name, "nope").exists


def test_browsing_issues_each_range_once(weed, prefix, tmp_path):
    import h5py

    with h5py.File(tmp_path / "b.h5", "w") as f:
        f.create_dataset("x", data=np.arange(200_000.0), chunks=(10_000,))
    weed.upload_tree(str(tmp_path), "test", prefix)
    ws = remote_ws(weed, f"s3://test/{prefix}")
    with stats.counting() as first:
        ws.read_slice("b.h5", key="x", selection="150000:150010")
    with stats.counting() as again:
        ws.read_slice("b.h5", key="x", selection="150000:150010")
    assert first.bytes > 0 and again.bytes == 0  # only the pin's HEAD the second time
    assert again.requests == 1


def test_npy_slices_read_only_their_ranges(weed, prefix, tmp_path):
    arr = np.arange(4_000_000, dtype=np.float64).reshape(2000, 2000)  # 32 MB
    np.save(tmp_path / "big.npy", arr)
    weed.upload_tree(str(tmp_path), "test", prefix)
    ws = remote_ws(weed, f"s3://test/{prefix}")
    with stats.counting() as c:
        got = ws.read_slice("big.npy", selection="1000, 10:20")
    assert got.slice.values == arr[1000, 10:20].tolist()
    assert c.bytes <= 2 << 20 and c.requests <= 3  # the pin reads the 1 MiB head; the row its block
    with stats.counting() as c:
        got = ws.read_slice("big.npy", selection="5:8, 1990:")
    assert got.slice.values == arr[5:8, 1990:].tolist()
    with stats.counting() as c:
        summary = ws.summarize("big.npy")
    assert summary.summary.shape == [2000, 2000] and c.bytes < 8 << 20  # a sample, not the 32 MB


def test_zarr_v2_consolidated_and_v3(weed, prefix, tmp_path):
    import zarr

    data = np.arange(1000).reshape(10, 100)
    g = zarr.open_group(tmp_path / "c.zarr", mode="w", zarr_format=2)
    g.create_array("arr", data=data, chunks=(5, 50))
    g.attrs["k"] = 1
    zarr.consolidate_metadata(tmp_path / "c.zarr")
    g3 = zarr.open_group(tmp_path / "v3.zarr", mode="w", zarr_format=3)
    g3.create_group("sub").create_array("arr", data=data, chunks=(5, 50))
    weed.upload_tree(str(tmp_path), "test", prefix)
    ws = remote_ws(weed, f"s3://test/{prefix}")
    local = Workspace([tmp_path])
    for name, key in (("c.zarr", "arr"), ("v3.zarr", "sub/arr")):
        _same(local.summarize(name), ws.summarize(name))
        _same(local.explore_zarr(name), ws.explore_zarr(name))
        _same(local.read_slice(name, key=key, selection="3, 40:45"), ws.read_slice(name, key=key, selection="3, 40:45"))
    with stats.counting() as c:
        remote_ws(weed, f"s3://test/{prefix}").summarize("c.zarr")
    assert c.requests <= 3  # LIST + consolidated metadata


@pytest.mark.parametrize("case", COPIED, ids=[c.ext.lstrip(".") for c in COPIED])
def test_other_formats_read_a_bounded_private_copy(weed, prefix, tmp_path, case):
    import glob
    import tempfile

    local = Workspace([tmp_path])
    name = "x" + case.ext
    _write(local, tmp_path, case, case.sample(), name)
    weed.upload_tree(str(tmp_path), "test", prefix)
    ws = remote_ws(weed, f"s3://test/{prefix}")
    case.check(case.sample(), ws.load(name))
    _same(local.summarize(name), ws.summarize(name))
    if case.kind in ("frame", "text"):
        _same(local.read_slice(name, offset=1, limit=1), ws.read_slice(name, offset=1, limit=1))
    import gc

    gc.collect()
    assert not glob.glob(tempfile.gettempdir() + "/sciio-fetch-*")  # nothing left on disk
    small = remote_ws(weed, f"s3://test/{prefix}", fetch_max_bytes=8)
    with pytest.raises(IOCoreError) as info:
        small.summarize(name)
    assert info.value.code == "UNSUPPORTED_OPERATION" and "local root" in info.value.hint


def test_mixed_local_and_remote_roots(weed, prefix, tmp_path):
    np.save(tmp_path / "local.npy", np.arange(3))
    weed.put("test", f"{prefix}/r.npy", (tmp_path / "local.npy").read_bytes())
    ws = remote_ws(weed, str(tmp_path), f"s3://test/{prefix}")
    assert ws.summarize("local.npy").path == "local.npy"
    remote = ws.summarize(f"s3://test/{prefix}/r.npy")
    assert remote.path == f"s3://test/{prefix}/r.npy" and remote.summary.shape == [3]
    roots = ws.roots_info().roots
    assert [r.path for r in roots] == [str(tmp_path), f"s3://test/{prefix}"] and roots[1].writable is False
