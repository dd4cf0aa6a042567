"""explore_zarr / key_exists for Zarr v2 and v3 (folders and .zip), and symlinks leading out of the roots."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from pathlib import Path

import numcodecs
import numpy as np
import pytest
import zarr

from io_core.budget import json_size
from io_core.errors import IOCoreError
from io_core.formats.zarr import tree as zarrtree
from io_core.workspace import Workspace

WIDE = 2_000


def build_stores(root: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr warns about v2 codecs / consolidated metadata not in the v3 spec
        g2 = zarr.open_group(root / "v2.zarr", mode="w", zarr_format=2)
        g2.attrs["title"] = "zarr v2"
        a = g2.create_array("a", shape=(100, 50), chunks=(10, 10), dtype="f4", fill_value=0.5,
                            compressors=numcodecs.Zlib(level=3), filters=[numcodecs.Delta(dtype="f4")])
        a[:] = np.arange(5000, dtype="f4").reshape(100, 50)
        a.attrs["units"] = "K"
        g2.create_group("sub").create_array("s", data=np.arange(5))
        g2.create_array("rec", shape=(4,), dtype=[("x", "<f4"), ("y", "<i2")])
        zarr.consolidate_metadata(root / "v2.zarr")

        g3 = zarr.open_group(root / "v3.zarr", mode="w", zarr_format=3)
        b = g3.create_array("b", shape=(100, 100), chunks=(10, 10), shards=(50, 50), dtype="i2", fill_value=7,
                            compressors=zarr.codecs.ZstdCodec(level=2), dimension_names=["y", "x"])
        b[:] = 3
        wide = g3.create_group("wide")
        wide.create_array("x00000", shape=(2,), dtype="u1")
    metadata = (root / "v3.zarr" / "wide" / "x00000" / "zarr.json").read_bytes()
    for i in range(1, WIDE):  # the same array metadata in 2,000 folders: a wide group in a fraction of a second
        (root / "v3.zarr" / "wide" / f"x{i:05d}").mkdir()
        (root / "v3.zarr" / "wide" / f"x{i:05d}" / "zarr.json").write_bytes(metadata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        deep = zarr.open_group(root / "v3.zarr", mode="a")
        for i in range(20):
            deep = deep.create_group(f"d{i}")
        deep.create_array("leaf", data=np.arange(3))
    shutil.make_archive(str(root / "v3z"), "zip", root / "v3.zarr")
    os.replace(root / "v3z.zip", root / "v3.zarr.zip")


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("zarr-browse")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    build_stores(root)
    return root, outside


@pytest.fixture
def ws(stores) -> Workspace:
    return Workspace([stores[0]], provenance=False)


def code(func, *args, **kwargs) -> str:
    with pytest.raises(IOCoreError) as info:
        func(*args, **kwargs)
    return info.value.code


def test_v2_consolidated_store(ws):
    res = ws.explore_zarr("v2.zarr", depth=2)
    assert (res.format, res.zarr_format, res.consolidated) == ("zarr", 2, True)
    node = res.node
    assert node.attrs == {"title": "zarr v2"} and node.n_children == 3
    kids = {c.name: c for c in node.children}
    a = kids["a"]
    assert (a.kind, a.shape, a.chunks, a.dtype, a.fill_value, a.nbytes) == ("dataset", [100, 50], [10, 10], "<f4", 0.5, 20000)
    assert [f.name for f in a.filters] == ["delta", "zlib"] and a.filters[1].options == {"level": 3}
    assert a.compression == "delta+zlib" and a.attrs == {"units": "K"} and a.path == "/a"
    assert kids["sub"].kind == "group" and [c.name for c in kids["sub"].children] == ["s"]
    assert kids["rec"].dtype.startswith("compound") and [f.name for f in kids["rec"].fields] == ["x", "y"]


def test_v3_sharded_store_folder_and_zip(ws):
    for path in ("v3.zarr", "v3.zarr.zip"):
        res = ws.explore_zarr(path)
        assert (res.zarr_format, res.consolidated) == (3, False)
        b = {c.name: c for c in res.node.children}["b"]
        assert b.shape == [100, 100] and b.chunks == [10, 10] and b.shards == [50, 50] and b.layout == "sharded"
        assert b.dimension_names == ["y", "x"] and b.fill_value == 7 and b.dtype == "<i2"
        assert b.filters[0].name == "sharding_indexed" and "zstd" in b.compression
        assert res.node.n_children == 3


def test_wide_groups_paginate(ws):
    for path in ("v3.zarr", "v3.zarr.zip"):
        started = time.perf_counter()
        res = ws.explore_zarr(path, "wide", offset=10, limit=5, max_bytes=32768)
        assert time.perf_counter() - started < 2.0
        node = res.node
        assert node.n_children == WIDE and [c.name for c in node.children] == [f"x{i:05d}" for i in range(10, 15)]
        assert node.next_offset == 15 and node.truncated
        last = ws.explore_zarr(path, "/wide", offset=WIDE - 2).node
        assert [c.name for c in last.children] == [f"x{i:05d}" for i in (WIDE - 2, WIDE - 1)] and last.next_offset is None
        full = ws.explore_zarr(path, "wide", limit=300, max_bytes=32768)
        assert json_size(full.model_dump(mode="json")) <= 32768 and full.truncated
        assert full.node.next_offset == len(full.node.children)


def test_deep_nesting(ws):
    res = ws.explore_zarr("v3.zarr", "d0", depth=21)
    node, names = res.node, []
    while node.children:
        node = node.children[0]
        names.append(node.name)
    assert names == [f"d{i}" for i in range(1, 20)] + ["leaf"] and node.shape == [3]
    deep = "/".join(f"d{i}" for i in range(20))
    assert [c.name for c in ws.explore_zarr("v3.zarr", deep).node.children] == ["leaf"]


def test_key_exists(ws):
    for path in ("v2.zarr", "v3.zarr", "v3.zarr.zip"):
        assert ws.key_exists(path, "").exists and ws.key_exists(path, "").kind == "group"
        res = ws.key_exists(path, "nope/deeper")
        assert (res.exists, res.kind) == (False, None)
    assert ws.key_exists("v3.zarr", "b").kind == "dataset"
    assert ws.key_exists("v3.zarr", "/wide/x00003").exists
    assert ws.key_exists("v2.zarr", "sub/s").kind == "dataset"
    assert code(ws.explore_zarr, "v3.zarr", "nope") == "KEY_NOT_FOUND"


def test_symlinks_out_of_the_roots_refuse_the_store(stores):
    root, outside = stores
    (outside / "secret").mkdir()
    np.save(outside / "secret" / "x.npy", np.arange(3))
    shutil.copytree(root / "v2.zarr", root / "escape.zarr")
    os.symlink(outside / "secret", root / "escape.zarr" / "sub" / "evil")
    ws = Workspace([root], provenance=False)
    for call in (lambda: ws.explore_zarr("escape.zarr"), lambda: ws.load("escape.zarr", key="a"),
                 lambda: ws.summarize("escape.zarr"), lambda: ws.read_slice("escape.zarr", key="a", selection="0"),
                 lambda: ws.key_exists("escape.zarr", "a")):
        with pytest.raises(IOCoreError) as info:
            call()
        assert info.value.code == "PATH_OUTSIDE_ROOT" and "sub/evil" in info.value.message
    # a symlink that stays inside the roots is fine
    shutil.copytree(root / "v2.zarr", root / "inner.zarr")
    os.symlink(root / "v3.zarr", root / "inner.zarr" / "sub" / "ok")
    assert Workspace([root], provenance=False).explore_zarr("inner.zarr").node.n_children == 3


def test_a_chunk_linked_out_is_never_read_even_unscanned(stores, monkeypatch):
    """Stores too big to scan up front: the guarded store checks every key it reads."""
    root, outside = stores
    shutil.copytree(root / "v3.zarr", root / "chunk_out.zarr")
    chunk = next(p for p in sorted((root / "chunk_out.zarr" / "b").rglob("*")) if p.is_file() and p.name != "zarr.json")
    shutil.move(chunk, outside / "chunk")
    os.symlink(outside / "chunk", chunk)
    monkeypatch.setattr(zarrtree, "SCAN_LIMIT", 0)
    ws = Workspace([root], provenance=False)
    assert ws.explore_zarr("chunk_out.zarr").node.n_children == 3  # metadata only: nothing behind the link
    assert code(ws.read_slice, "chunk_out.zarr", key="b", selection="0:2, 0:2") == "PATH_OUTSIDE_ROOT"
    assert code(ws.load, "chunk_out.zarr", key="b") == "PATH_OUTSIDE_ROOT"
    unconfined = Workspace(None, provenance=False)  # a script owning its file system follows links as zarr does
    assert unconfined.load(root / "chunk_out.zarr", key="b").shape == (100, 100)


def test_not_a_store(stores):
    root, _ = stores
    (root / "plain").mkdir(exist_ok=True)
    (root / "fake.zarr").mkdir(exist_ok=True)
    ws = Workspace([root], provenance=False)
    assert code(ws.explore_zarr, "plain") == "NOT_A_FILE"
    assert code(ws.explore_zarr, "fake.zarr") == "CORRUPT_FILE"
    assert code(ws.explore_zarr, "../x.zarr") == "PATH_OUTSIDE_ROOT"
