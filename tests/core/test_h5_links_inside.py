"""HDF5 external links and virtual datasets that stay inside the roots are followed (issue 11, point 7).

A NeXus/Eiger-like master file names its frames through external links to data files next
to it, and a virtual dataset stacks frames kept in two source files: load, load_summary,
read_slice and preview_image answer with the target's values, through io_core and through
the server (whose HDF5 reads run in worker processes). The same files pointing outside the
roots stay PATH_OUTSIDE_ROOT, and nothing of the outside file reaches an answer.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from io_core.errors import IOCoreError
from io_core.workspace import Workspace
from server.app import create_app
from server.settings import Settings

MARKER = 0x5EC12E7  # the outside file's every value: must never come back
FRAMES, SIDE = 3, 8


def frames(first: int) -> np.ndarray:
    return (np.arange(FRAMES * SIDE * SIDE, dtype="<u4") + first).reshape(FRAMES, SIDE, SIDE)


def write_data_file(path: Path, values: np.ndarray) -> None:
    """An Eiger data file: /entry/data/data, chunked by frame and compressed as the detectors write it."""
    with h5py.File(path, "w") as f:
        f.create_dataset("entry/data/data", data=values, chunks=(1, SIDE, SIDE), compression="gzip")


def write_master(path: Path, data_files: list[str]) -> None:
    """A NeXus master: /entry/data/data_00000N external links, instrument metadata kept in the master."""
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        data = entry.create_group("data")
        data.attrs["NX_class"] = "NXdata"
        for i, name in enumerate(data_files, start=1):
            data[f"data_{i:06d}"] = h5py.ExternalLink(name, "/entry/data/data")
        entry["instrument/detector/count_time"] = 0.01


def write_stack(path: Path, sources: list[str]) -> None:
    """/stack: a virtual dataset stacking the frames of each source file along a new first axis."""
    layout = h5py.VirtualLayout(shape=(len(sources), FRAMES, SIDE, SIDE), dtype="<u4")
    for i, name in enumerate(sources):
        layout[i] = h5py.VirtualSource(name, "entry/data/data", shape=(FRAMES, SIDE, SIDE))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("stack", layout, fillvalue=0)


@pytest.fixture
def beamline(tmp_path: Path) -> Path:
    """root/scan/{master.h5, data_000001.h5, data_000002.h5, stack.h5} inside; outside/secret.h5 with the marker;
    root/scan/{master_out.h5, stack_out.h5} pointing at it (relative and absolute names)."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "scan").mkdir(parents=True)
    outside.mkdir()
    write_data_file(root / "scan" / "data_000001.h5", frames(0))
    write_data_file(root / "scan" / "data_000002.h5", frames(1000))
    write_data_file(outside / "secret.h5", np.full((FRAMES, SIDE, SIDE), MARKER, dtype="<u4"))
    write_master(root / "scan" / "master.h5", ["data_000001.h5", "data_000002.h5"])
    write_stack(root / "scan" / "stack.h5", ["data_000001.h5", "data_000002.h5"])
    write_master(root / "scan" / "master_out.h5", ["data_000001.h5", "../../outside/secret.h5"])
    with h5py.File(root / "scan" / "master_out.h5", "a") as f:
        f["entry/data/abs_out"] = h5py.ExternalLink(str(outside / "secret.h5"), "/entry/data/data")
    write_stack(root / "scan" / "stack_out.h5", ["data_000001.h5", str(outside / "secret.h5")])
    return root


def code(fn, *args, **kwargs) -> str:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    assert str(MARKER) not in info.value.message
    return info.value.code


def test_external_links_of_a_master_file_are_followed(beamline):
    ws = Workspace([beamline], provenance=False)
    key = "/entry/data/data_000002"
    np.testing.assert_array_equal(ws.load("scan/master.h5", key=key), frames(1000))
    summary = ws.summarize("scan/master.h5", key=key).summary
    assert summary.shape == [FRAMES, SIDE, SIDE] and summary.dtype == "<u4"
    assert summary.stats.min == 1000 and summary.stats.max == 1000 + FRAMES * SIDE * SIDE - 1
    part = ws.read_slice("scan/master.h5", key=key, selection="1, 2, 0:4").slice
    assert part.values == frames(1000)[1, 2, 0:4].tolist()
    png, caption = ws.preview_image("scan/master.h5", key=key, selection="0")
    assert png.startswith(b"\x89PNG") and caption["key"] == key
    whole = ws.load("scan/master.h5")  # the whole tree: both data files loaded through their links
    np.testing.assert_array_equal(whole["entry"]["data"]["data_000001"], frames(0))
    assert float(whole["entry"]["instrument"]["detector"]["count_time"]) == 0.01
    listing = ws.summarize("scan/master.h5", key="/entry/data").summary  # a listing shows links as links
    assert {c.name: c.link for c in listing.children}["data_000001"] == "external:data_000001.h5:/entry/data/data"


def test_a_virtual_dataset_stacking_files_inside_the_roots_is_read(beamline):
    ws = Workspace([beamline], provenance=False)
    expected = np.stack([frames(0), frames(1000)])
    np.testing.assert_array_equal(ws.load("scan/stack.h5", key="stack"), expected)  # not the fill value
    summary = ws.summarize("scan/stack.h5", key="stack").summary
    assert summary.note.startswith("virtual: values read") and summary.stats.max == expected.max()
    assert ws.read_slice("scan/stack.h5", key="stack", selection="1, 2, 3, :").slice.values == expected[1, 2, 3].tolist()
    png, _ = ws.preview_image("scan/stack.h5", key="stack", selection="1, 0")
    assert png.startswith(b"\x89PNG")


def test_the_same_links_leading_outside_stay_refused(beamline):
    ws = Workspace([beamline], provenance=False)
    for key in ("/entry/data/data_000002", "/entry/data/abs_out"):
        assert code(ws.load, "scan/master_out.h5", key=key) == "PATH_OUTSIDE_ROOT", key
        assert code(ws.summarize, "scan/master_out.h5", key=key) == "PATH_OUTSIDE_ROOT", key
        assert code(ws.read_slice, "scan/master_out.h5", key=key) == "PATH_OUTSIDE_ROOT", key
        assert code(ws.preview_image, "scan/master_out.h5", key=key) == "PATH_OUTSIDE_ROOT", key
    assert code(ws.load, "scan/master_out.h5") == "PATH_OUTSIDE_ROOT"  # the whole tree meets the link out
    np.testing.assert_array_equal(ws.load("scan/master_out.h5", key="/entry/data/data_000001"), frames(0))
    for fn in (ws.load, ws.summarize, ws.read_slice, ws.preview_image):
        assert code(fn, "scan/stack_out.h5", key="stack") == "PATH_OUTSIDE_ROOT", fn.__name__
    listing = ws.summarize("scan/master_out.h5", key="/entry/data").summary
    assert str(MARKER) not in listing.model_dump_json()


def test_a_source_file_linking_out_is_not_read_through_a_virtual_dataset(beamline):
    """A source inside the roots whose own external link leads out: HDF5 could cross it, so nothing is read."""
    scan = beamline / "scan"
    with h5py.File(scan / "relay.h5", "w") as f:
        f["entry/data/data"] = h5py.ExternalLink("../../outside/secret.h5", "/entry/data/data")
    write_stack(scan / "stack_relay.h5", ["data_000001.h5", "relay.h5"])
    ws = Workspace([beamline], provenance=False)
    assert code(ws.load, "scan/stack_relay.h5", key="stack") == "PATH_OUTSIDE_ROOT"
    assert code(ws.read_slice, "scan/stack_relay.h5", key="stack") == "PATH_OUTSIDE_ROOT"
    note = ws.summarize("scan/stack_relay.h5", key="stack").summary  # described, its values not read
    assert "values not read" in note.note and str(MARKER) not in note.model_dump_json()


async def test_through_the_server_and_its_hdf5_workers(beamline):
    async with Client(create_app(Settings(roots=[beamline]))) as client:
        key = "/entry/data/data_000001"
        got = await client.call_tool("read_slice", {"path": "scan/master.h5", "key": key, "selection": "2, 7, :"})
        assert got.structured_content["slice"]["values"] == frames(0)[2, 7].tolist()
        got = await client.call_tool("load_summary", {"path": "scan/stack.h5", "key": "stack"})
        assert got.structured_content["summary"]["shape"] == [2, FRAMES, SIDE, SIDE]
        got = await client.call_tool("read_slice", {"path": "scan/stack.h5", "key": "stack", "selection": "1, 0, 0, :"})
        assert got.structured_content["slice"]["values"] == frames(1000)[0, 0].tolist()  # a source, not the fill
        got = await client.call_tool("preview_image", {"path": "scan/master.h5", "key": key, "selection": "0"})
        assert any(getattr(block, "type", "") == "image" for block in got.content)
        for path, k in (("scan/master_out.h5", "/entry/data/data_000002"), ("scan/stack_out.h5", "stack")):
            for tool in ("read_slice", "load_summary", "preview_image"):
                with pytest.raises(ToolError) as info:
                    await client.call_tool(tool, {"path": path, "key": k})
                assert str(info.value).startswith("PATH_OUTSIDE_ROOT"), (tool, str(info.value))
                assert str(MARKER) not in str(info.value)
        listing = await client.call_tool("load_summary", {"path": "scan/master_out.h5", "key": "/entry/data"})
        assert str(MARKER) not in json.dumps(listing.structured_content)
