"""scikit-neuromsi result bundles (.ndr / .ndc): read lazily, written compatibly, bad bundles coded.

Bundles come from scikit-neuromsi itself (NetCDF-4 and NetCDF-3 members) where it is
installed, and from the writer here; damaged ones are built by rewriting real bundles.
"""

from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from io_core import Workspace
from io_core.errors import CorruptFileError, InvalidDataError, IOCoreError, KeyNotFoundError, TooLargeError
from io_core.formats.bundles import NDC, NDR
from io_core.limits import Limits, current
from io_core.options import ReadOptions, WriteOptions
from io_core.stores import bundle_zip
from io_core.stores.bundle_read import BundleResult, ResultBundle
from io_core.stores.bundle_write import NDBundle

MODES = ["auditory", "visual", "multi"]


def result(i: int, n_positions: int = 20, n_times: int = 1, seed: int | None = None) -> dict:
    rng = np.random.default_rng(i if seed is None else seed)
    return {"values": rng.random((3, n_times, n_positions, 1)), "modes": MODES, "mname": "Toy", "mtype": "MLE",
            "output_mode": "multi", "time_range": [0, n_times], "position_range": [-n_positions / 2, n_positions / 2],
            "run_parameters": {"visual_position": i - 5, "sigma": 3.0, "noise": None}, "extra": {"w": 0.5}}


def write(ws: Workspace, name: str, n: int, **fields) -> Path:
    data = {"results": [result(i) for i in range(n)], "name": "Sweep", **fields}
    ws.save(data, name)
    return Path(ws.sandbox.roots[0]) / name


def rewrite(src: Path, dst: Path, drop=(), replace=None, order=None) -> Path:
    """A copy of the zip ``src`` without the members in ``drop``, with ``replace[name]`` bytes instead."""
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for name in order or zin.namelist():
            if name not in drop:
                zout.writestr(name, replace.get(name, zin.read(name) if name in zin.namelist() else b""))
    return dst


def values_of(path: Path, i: int) -> np.ndarray:
    import xarray as xr

    with zipfile.ZipFile(path) as zf:
        return xr.open_dataarray(io.BytesIO(zf.read(f"ndr_{i}/nddata.nc"))).values


# -- bundles written here ---------------------------------------------------------------------------

@pytest.mark.parametrize("netcdf", ["nc4", "nc3"])
def test_round_trip_keeps_values_coordinates_and_metadata(ws, tmp_path, netcdf):
    path = write(ws, "s.ndc", 5, netcdf=netcdf, extra={"study": "pilot"})
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names[:2] == ["ndr_0/nddata.nc", "ndr_0/metadata.json"] and names[-1] == "metadata.json"
        head = zf.read("ndr_0/nddata.nc")[:4]
        root = json.loads(zf.read("metadata.json"))
    assert head == (b"\x89HDF" if netcdf == "nc4" else b"CDF\x02")
    assert root["object_size"] == 5 and root["object_type"] == "ndcollection"
    assert root["object_kwargs"] == {"name": "Sweep"} and root["extra"] == {"study": "pilot"}
    bundle = ws.load("s.ndc")
    assert isinstance(bundle, ResultBundle) and len(bundle) == 5 and bundle.name == "Sweep"
    third = bundle["ndr_3"]
    expected = result(3)
    np.testing.assert_array_equal(third.array, expected["values"])
    assert third.dims == ("modes", "times", "positions", "positions_coordinates")
    assert third.coords["modes"].tolist() == MODES and third.coords["positions_coordinates"].tolist() == ["x0"]
    assert third.metadata["run_parameters"] == {"visual_position": -2, "sigma": 3.0, "noise": None}
    assert third.metadata["position_range"] == [-10, 10] and third.metadata["time_res"] == 1.0
    da = third.values  # the xarray DataArray scikit-neuromsi keeps as nddata
    assert da.name == "values" and list(da.coords["modes"].values) == MODES
    np.testing.assert_array_equal(values_of(path, 3), expected["values"])  # xarray reads the member too


def test_single_result_ndr(ws, tmp_path):
    ws.save(result(7), "one.ndr")
    loaded = ws.load("one.ndr")
    assert isinstance(loaded, BundleResult) and loaded.key == "ndr_0"
    np.testing.assert_array_equal(loaded.array, result(7)["values"])
    summary = ws.summarize("one.ndr").summary
    assert summary.path == "ndr_0" and summary.attrs["mname"] == "Toy"
    assert summary.attrs["bundle"]["object_size"] == 1 and summary.attrs["bundle"]["n_results"] == 1
    with pytest.raises(InvalidDataError, match="one result"):
        ws.save({"results": [result(0), result(1)]}, "two.ndr")
    assert not (tmp_path / "two.ndr").exists()


def test_loaded_bundles_hold_one_descriptor_and_no_pin(ws):
    import gc
    import os

    def files() -> list[str]:
        """What this process holds open that is a file (sockets and pipes of other tests' background threads,
        e.g. a Dask cluster's heartbeats, come and go: not counted)."""
        held = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("/") and not target.startswith("/proc/") and (
                    not target.startswith("/dev/") or target.startswith("/dev/shm/")):  # pinned views live there
                held.append(target)
        return held

    write(ws, "s.ndc", 3)
    gc.collect()  # bundles of earlier tests close their descriptors now, not during the count
    before = files()
    bundle, single = ws.load("s.ndc"), ws.load("s.ndc", key="ndr_1")
    extra = [t for t in files() if t not in before]
    assert [os.path.basename(t) for t in extra] == ["s.ndc"]  # the bundle's own descriptor; no pinned views kept
    assert bundle[2].metadata["run_parameters"]["visual_position"] == -3 and single.key == "ndr_1"
    del bundle
    gc.collect()
    assert [t for t in files() if t not in before] == []


def test_summary_describes_the_sweep(ws):
    write(ws, "s.ndc", 12)
    s = ws.summarize("s.ndc").summary
    a = s.attrs
    assert s.kind == "tree" and s.n_children == 12 and a["n_results"] == 12 and a["object_size"] == 12
    assert a["models"] == {"Toy": 12} and a["model_types"] == ["MLE"] and a["output_mode"] == "multi"
    assert a["run_parameters"]["varying"] == {"visual_position": {"min": -5, "max": 6, "n_distinct": 12}}
    assert a["run_parameters"]["fixed"] == {"sigma": 3.0, "noise": None}
    assert a["values"]["modes"] == MODES and a["values"]["shape"] == [3, 1, 20, 1]
    assert a["values"]["netcdf"] == "NetCDF-4" and "count_mismatch" not in a and "problems" not in a
    assert [c.name for c in s.children][:3] == ["ndr_0", "ndr_1", "ndr_2"]


def test_summary_samples_both_ends_of_a_long_sweep(ws, monkeypatch):
    write(ws, "long.ndc", 150)
    from io_core.stores import bundle_read

    read = []  # every member inflated, in order (the real reader runs)
    monkeypatch.setattr(bundle_read, "read_member", lambda fd, index, name, *a, **k: read.append(name) or
                        bundle_zip.read_member(fd, index, name, *a, **k))
    a = ws.summarize("long.ndc").summary.attrs
    data_read = [n for n in read if n.endswith("nddata.nc")]
    assert data_read == ["ndr_0/nddata.nc"]  # the one header for modes/dims
    assert len(read) <= 66 and "ndr_149/metadata.json" in read and "ndr_20/metadata.json" not in read[:21]
    assert a["run_parameters"]["varying"]["visual_position"]["min"] == -5
    assert a["run_parameters"]["varying"]["visual_position"]["max"] == 144  # the last result was read
    assert "of 150 results' metadata.json" in a["metadata_read"]
    read.clear()
    part = ws.read_slice("long.ndc", key="ndr_77", selection=":, 0, 0:4, 0").slice
    assert read == ["ndr_77/nddata.nc"]
    np.testing.assert_array_equal(np.array(part.values), result(77)["values"][:, 0, 0:4, 0])


def test_key_reads_one_result_when_others_are_damaged(ws, tmp_path):
    src = write(ws, "s.ndc", 6)
    with zipfile.ZipFile(src) as zf:
        garbage = {n: b"\x00" * len(zf.read(n)) for n in zf.namelist() if n.startswith(("ndr_2/", "ndr_4/"))}
    rewrite(src, tmp_path / "d.ndc", replace=garbage)
    got = ws.read_slice("d.ndc", key="ndr_3", selection="0, 0, :, 0").slice
    np.testing.assert_array_equal(np.array(got.values), result(3)["values"][0, 0, :, 0])
    with pytest.raises(CorruptFileError, match="ndr_2/nddata.nc"):
        ws.read_slice("d.ndc", key="ndr_2")


def test_slice_preview_summary_and_explore_of_one_result(ws):
    write(ws, "s.ndc", 3)
    one = ws.summarize("s.ndc", key="ndr_1").summary
    assert one.path == "ndr_1" and one.attrs["run_parameters"]["visual_position"] == -4
    assert [c.name for c in one.children] == ["values", "modes", "times", "positions", "positions_coordinates"]
    assert one.attrs["values"]["stats"]["count"] == 60 and one.attrs["coords"]["modes"] == MODES
    values = ws.summarize("s.ndc", key="ndr_1/values").summary
    assert values.kind == "array" and values.shape == [3, 1, 20, 1]
    assert ws.summarize("s.ndc", key="ndr_1/modes").summary.head == MODES
    png, caption = ws.preview_image("s.ndc", key="ndr_1", selection=":, 0, :, 0")
    assert png.startswith(b"\x89PNG") and caption["kind"] == "heatmap" and caption["source_shape"] == [3, 1, 20, 1]
    png, caption = ws.preview_image("s.ndc", key="ndr_1", selection="2, 0, :, 0")
    assert caption["kind"] == "line"
    positions = ws.read_slice("s.ndc", key="ndr_1/positions", selection="0:3").slice
    assert positions.values == [0, 1, 2]
    with pytest.raises(KeyNotFoundError, match="pass key"):
        ws.read_slice("s.ndc")
    with pytest.raises(KeyNotFoundError):
        ws.read_slice("s.ndc", key="ndr_9")
    with pytest.raises(KeyNotFoundError):
        ws.read_slice("s.ndc", key="results/1")
    tree = ws.explore("s.ndc", "", depth=2, offset=1, limit=1)
    assert tree.node.n_children == 3 and [c.name for c in tree.node.children] == ["ndr_1"]
    assert tree.node.next_offset == 2 and tree.node.attrs["object_size"] == 3
    child = tree.node.children[0]
    assert child.attrs["mname"] == "Toy" and child.children[0].dimension_names[0] == "modes"
    assert ws.key_exists("s.ndc", "ndr_2/positions").exists and not ws.key_exists("s.ndc", "ndr_3").exists


def test_convert_one_result_and_a_whole_bundle(ws, tmp_path):
    write(ws, "s.ndc", 4)
    out = ws.convert("s.ndc", "r2.npy", key="ndr_2")  # open_array -> write_array, streamed
    np.testing.assert_array_equal(np.load(tmp_path / "r2.npy"), result(2)["values"])
    assert ws.file_provenance("r2.npy").records[0].operation == "convert" and out.format == "npy"
    ws.convert("s.ndc", "copy.ndc")  # bundle to bundle: results streamed one at a time
    copy = ws.load("copy.ndc")
    assert len(copy) == 4 and copy.name == "Sweep"
    np.testing.assert_array_equal(copy[3].array, result(3)["values"])
    ws.convert("s.ndc", "one.ndr", key="ndr_1")
    assert ws.load("one.ndr").metadata["run_parameters"]["visual_position"] == -4


def test_sniffed_without_its_extension(ws, tmp_path):
    write(ws, "s.ndc", 2)
    (tmp_path / "s.ndc").rename(tmp_path / "sweep.bin")
    res = ws.summarize("sweep.bin")
    assert res.format == "ndc" and res.summary.attrs["n_results"] == 2


# -- writing at scale -------------------------------------------------------------------------------

def test_write_streams_reports_progress_and_lands_in_the_ledger(ws, tmp_path):
    seen = []

    def results():
        for i in range(30):
            yield result(i)

    NDC.save(NDBundle(results(), name="gen", size=30, compression_level=1), tmp_path / "g.ndc",
             WriteOptions(progress=lambda done, total: seen.append((done, total))))
    assert seen == [(i, 30) for i in range(1, 31)]
    assert len(ws.load("g.ndc")) == 30
    saved = ws.save({"results": [result(i) for i in range(3)], "compression_level": 0}, "l.ndc")
    assert saved.recorded and saved.sha256
    history = ws.file_provenance("l.ndc")
    assert history.records and history.records[0].format == "ndc"
    assert ws.verify_file("l.ndc").status == "OK"


def test_write_memory_does_not_grow_with_the_number_of_results(tmp_path):
    def peak(n: int) -> int:
        tracemalloc.start()
        NDC.save(NDBundle((result(i, n_positions=2000) for i in range(n)), size=n), tmp_path / f"{n}.ndc",
                 WriteOptions())
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top

    small, large = peak(10), peak(120)
    assert large < small * 1.5 + 2**20, (small, large)  # 12x the results, about the same peak


def test_a_failed_write_leaves_nothing(ws, tmp_path):
    bad = [result(0), result(1), {**result(2), "output_mode": "nope"}]
    with pytest.raises(InvalidDataError, match="result 2: output_mode 'nope'"):
        ws.save({"results": bad}, "x.ndc")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".sciio")) == []
    stopped = []

    def stop(done, total):
        stopped.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        NDC.save({"results": [result(i) for i in range(5)]}, tmp_path / "y.ndc", WriteOptions(progress=stop))
    assert stopped == [1, 2]


@pytest.mark.parametrize(("change", "message"), [
    ({"modes": ["a", "a", "b"]}, "mode names repeat"),
    ({"modes": ["a", "b"]}, "coordinate 'modes'"),
    ({"output_mode": "x"}, "output_mode 'x'"),
    ({"time_range": [0, 5]}, "time_range"),
    ({"position_range": [5, 0]}, "position_range must be"),
    ({"values": [[1, 2]]}, "2-D"),
    ({"causes": "two"}, "causes"),
    ({"colour": 1}, "unknown fields"),
])
def test_results_scikit_neuromsi_would_refuse_are_invalid(ws, change, message):
    with pytest.raises(InvalidDataError, match=message):
        ws.save({"results": [{**result(0), **change}]}, "bad.ndc")


def test_compression_level_is_an_option(ws, tmp_path):
    write(ws, "fast.ndc", 4, compression_level=0)
    write(ws, "small.ndc", 4, compression_level=9)
    with zipfile.ZipFile(tmp_path / "small.ndc") as zf:
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
    with pytest.raises(InvalidDataError, match="compression_level"):
        write(ws, "x.ndc", 1, compression_level=12)


@pytest.mark.parametrize("dtype", ["f8", "f4", "i8", "u2", "bool"])
def test_a_sweep_reuses_its_netcdf4_layout_byte_for_byte(dtype):
    from io_core.stores.bundle_member import MemberEncoder, encode_member, read_member

    dims = ("modes", "times", "positions", "positions_coordinates")
    coords = {"modes": np.array(MODES), "times": np.arange(2), "positions": np.arange(30),
              "positions_coordinates": np.array(["x0"])}
    encoder, rng = MemberEncoder("nc4"), np.random.default_rng(1)
    for k in range(3):
        values = (rng.random((3, 2, 30, 1)) * 100).astype(dtype)
        image = encoder.encode(values, dims, coords)
        assert image == encode_member(values, dims, coords)  # what h5netcdf writes for these values
        np.testing.assert_array_equal(read_member(image, "m", current())[1], values)
    assert encoder._offset is not None
    moved = {**coords, "positions": np.arange(30) + 1}  # another layout: built afresh
    assert encoder.encode(values, dims, moved) == encode_member(values, dims, moved)


# -- bad bundles: each a coded error naming the member, within a second ------------------------------

def timed(call):
    start = time.perf_counter()
    try:
        return call()
    finally:
        assert time.perf_counter() - start < 1.0


def test_missing_member(ws, tmp_path):
    rewrite(write(ws, "s.ndc", 5), tmp_path / "m.ndc", drop={"ndr_3/nddata.nc"})
    with pytest.raises(CorruptFileError, match="no member 'ndr_3/nddata.nc'"):
        timed(lambda: ws.read_slice("m.ndc", key="ndr_3"))
    s = timed(lambda: ws.summarize("m.ndc")).summary
    assert "ndr_3/nddata.nc" in s.attrs["count_mismatch"] and s.attrs["problems"]
    np.testing.assert_array_equal(np.array(ws.read_slice("m.ndc", key="ndr_4").slice.values), result(4)["values"])
    assert ws.summarize("m.ndc", key="ndr_4").summary.attrs["mname"] == "Toy"
    with pytest.raises(CorruptFileError, match="ndr_3/nddata.nc"):
        ws.load("m.ndc")


def test_member_that_is_not_netcdf(ws, tmp_path):
    rewrite(write(ws, "s.ndc", 4), tmp_path / "n.ndc", replace={"ndr_0/nddata.nc": b"PAR1 not netcdf at all"})
    with pytest.raises(CorruptFileError, match="'ndr_0/nddata.nc' is not NetCDF"):
        timed(lambda: ws.read_slice("n.ndc", key="ndr_0"))
    s = ws.summarize("n.ndc").summary
    assert any("ndr_0/nddata.nc" in p and "CORRUPT_FILE" in p for p in s.attrs["problems"])
    assert s.attrs["n_results"] == 4 and s.attrs["models"] == {"Toy": 4}  # the rest is still described
    assert ws.load("n.ndc")[1].metadata["mname"] == "Toy"
    damaged = b"\x89HDF\r\n\x1a\n" + b"\x00" * 64
    rewrite(tmp_path / "n.ndc", tmp_path / "h.ndc", replace={"ndr_1/nddata.nc": damaged})
    with pytest.raises(CorruptFileError, match="ndr_1/nddata.nc"):
        timed(lambda: ws.summarize("h.ndc", key="ndr_1"))
    rewrite(tmp_path / "n.ndc", tmp_path / "j.ndc", replace={"ndr_2/metadata.json": b"{not json"})
    with pytest.raises(CorruptFileError, match="'ndr_2/metadata.json' is not JSON"):
        ws.summarize("j.ndc", key="ndr_2")


def test_count_mismatch(ws, tmp_path):
    src = write(ws, "s.ndc", 4)
    with zipfile.ZipFile(src) as zf:
        root = json.loads(zf.read("metadata.json"))
    root["object_size"] = 6
    rewrite(src, tmp_path / "c.ndc", replace={"metadata.json": json.dumps(root).encode()})
    s = timed(lambda: ws.summarize("c.ndc")).summary
    assert s.attrs["count_mismatch"].startswith("metadata.json says object_size=6, the zip directory holds 4")
    assert s.n_children == 4 and s.attrs["n_results"] == 4
    with pytest.raises(CorruptFileError, match="metadata.json says object_size=6"):
        timed(lambda: ws.load("c.ndc"))
    with pytest.raises(CorruptFileError, match="no member 'ndr_5/metadata.json'"):
        ws.summarize("c.ndc", key="ndr_5")  # declared, not there
    assert ws.load("c.ndc", key="ndr_2").metadata["run_parameters"]["visual_position"] == -3


def _forge_size(path: Path, member: str, inflated: int) -> None:
    """Set the inflated size the central directory declares for ``member`` (the zip-bomb shape)."""
    raw = bytearray(path.read_bytes())
    name = member.encode()
    at = raw.rfind(b"PK\x01\x02", 0, raw.rfind(name))
    assert raw[at + 46 : at + 46 + len(name)] == name
    struct.pack_into("<L", raw, at + 24, inflated)
    path.write_bytes(bytes(raw))


def test_zip_bomb_is_refused_from_the_directory(ws, tmp_path):
    path = write(ws, "b.ndc", 3)
    _forge_size(path, "ndr_1/nddata.nc", 0xFFFFFFF0)  # ~4 GiB declared
    with pytest.raises(TooLargeError, match="member 'ndr_1/nddata.nc' inflates to 4.0 GiB"):
        timed(lambda: ws.read_slice("b.ndc", key="ndr_1"))
    assert ws.read_slice("b.ndc", key="ndr_2", selection="0, 0, 0, 0").slice.values == result(2)["values"][0, 0, 0, 0]
    assert ws.summarize("b.ndc").summary.attrs["n_results"] == 3
    # a real one: a member of zeros that inflates past the budget
    zeros = np.zeros((3, 1, 400_000, 1))
    ws.save({"results": [{**result(0), "values": zeros, "position_range": [0, 400_000]}, result(1)]}, "z.ndc")
    small = Workspace([tmp_path], limits=Limits(max_member_bytes=4 * 2**20))
    with pytest.raises(TooLargeError, match="ndr_0/nddata.nc"):
        timed(lambda: small.read_slice("z.ndc", key="ndr_0", selection="0, 0, 0:5, 0"))
    assert small.summarize("z.ndc").summary.attrs["problems"][0].startswith("ndr_0/nddata.nc: TOO_LARGE")


def test_a_member_that_lies_about_its_size_is_caught(ws, tmp_path):
    path = write(ws, "l.ndc", 2)
    _forge_size(path, "ndr_0/metadata.json", 10)  # smaller than it is: inflation stops at the declared size
    with pytest.raises(CorruptFileError, match="ndr_0/metadata.json"):
        ws.summarize("l.ndc", key="ndr_0")


@pytest.mark.parametrize("ext", [".ndc", ".ndr"])
def test_empty_truncated_and_garbage_files(ws, tmp_path, ext):
    whole = write(ws, "s" + ext, 1).read_bytes()
    rng = np.random.default_rng(7)
    for name, raw in (("empty", b""), ("cut", whole[: len(whole) // 2]), ("text", b"just text, no zip"),
                      ("noise", rng.integers(0, 256, 8192, dtype=np.uint8).tobytes())):
        (tmp_path / (name + ext)).write_bytes(raw)
        for op in (ws.load, ws.summarize, lambda p: ws.read_slice(p, key="ndr_0")):
            with pytest.raises(CorruptFileError, match="not a readable zip") as err:
                timed(lambda op=op, name=name: op(name + ext))
            assert err.value.hint


def test_not_a_bundle(ws, tmp_path):
    with zipfile.ZipFile(tmp_path / "e.ndc", "w") as zf:
        zf.writestr("metadata.json", json.dumps({"object_type": "ndresult"}))
    s = ws.summarize("e.ndc").summary
    assert s.attrs["n_results"] == 0 and "not a collection's metadata" in s.attrs["problems"][0]


# -- the zip directory reader ---------------------------------------------------------------------

def test_one_member_is_found_without_listing_the_directory(tmp_path):
    import os

    path = tmp_path / "names.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xndr_1/nddata.nc", b"decoy")  # contains the name asked for
        zf.writestr("ndr_1/nddata.nc", b"first")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("ndr_1/nddata.nc", b"second")  # a repeated name: the last wins, as in zipfile
        zf.writestr("ndr_1/nddata.ncx", b"longer")
    fd = os.open(path, os.O_RDONLY)
    try:
        index = bundle_zip._parse(fd, os.fstat(fd).st_size, "names.zip")
        assert bundle_zip.read_member(fd, index, "ndr_1/nddata.nc", current()) == b"second"
        assert "ndr_2/nddata.nc" not in index and "dr_1/nddata.nc" not in index
        assert index._walked is None  # found by searching the directory's bytes
        assert index.names == ("xndr_1/nddata.nc", "ndr_1/nddata.nc", "ndr_1/nddata.nc", "ndr_1/nddata.ncx")
        assert index.entry("ndr_1/nddata.nc") == index.entry("ndr_1/nddata.nc")
    finally:
        os.close(fd)


def test_zip64_directory_and_member_reads(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(65_540):  # more entries than a plain end record counts: zip64
            zf.writestr(f"m{i}", b"")
        zf.writestr("last", b"payload " * 100)
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        index = bundle_zip.read_index(fd, "many.zip")
        assert len(index.names) == 65_541 and index.names[-1] == "last"
        assert bundle_zip.read_member(fd, index, "last", current()) == b"payload " * 100
    finally:
        os.close(fd)


# -- scikit-neuromsi itself -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def skn_bundles(tmp_path_factory):
    """A single result and a 4-run sweep written by scikit-neuromsi, with NetCDF-4 and NetCDF-3 members."""
    skn = pytest.importorskip("skneuromsi")
    import xarray as xr
    from skneuromsi.mle import AlaisBurr2004
    from skneuromsi.sweep import ParameterSweep

    folder = tmp_path_factory.mktemp("skn")
    model = AlaisBurr2004(position_range=(-5, 5), position_res=0.1)
    one = model.run(visual_position=2)
    sweep = ParameterSweep(model, target="visual_position", range=np.arange(-4, 4, 2), repeat=1, n_jobs=1,
                           tqdm_cls=None).run()
    skn.io.to_ndr(folder / "one4.ndr", one)
    skn.io.to_ndc(folder / "sweep4.ndc", sweep, metadata={"lab": "x"}, tqdm_cls=None)
    with xr.set_options(netcdf_engine_order=["scipy"]):  # what older xarray wrote: NetCDF-3 members
        skn.io.to_ndr(folder / "one3.ndr", one)
        skn.io.to_ndc(folder / "sweep3.ndc", sweep, tqdm_cls=None)
    return folder, one, sweep


@pytest.mark.parametrize("flavour", ["4", "3"])
def test_bundles_written_by_scikit_neuromsi(skn_bundles, flavour):
    folder, one, sweep = skn_bundles
    with zipfile.ZipFile(folder / f"sweep{flavour}.ndc") as zf:
        assert zf.read("ndr_0/nddata.nc")[:4] == (b"\x89HDF" if flavour == "4" else b"CDF\x02")
    ws = Workspace([folder])
    s = ws.summarize(f"sweep{flavour}.ndc").summary
    assert s.attrs["n_results"] == 4 and s.attrs["models"] == {"AlaisBurr2004": 4}
    assert s.attrs["run_parameters"]["varying"]["visual_position"] == {"min": -4, "max": 2, "n_distinct": 4}
    assert s.attrs["values"]["modes"] == ["auditory", "visual", "multi"]
    assert s.attrs["values"]["netcdf"] == f"NetCDF-{flavour}" and s.attrs["position_res"] == 0.1
    for i, expected in enumerate(sweep):
        got = ws.read_slice(f"sweep{flavour}.ndc", key=f"ndr_{i}", selection=":, 0, 40:60, 0").slice
        np.testing.assert_allclose(np.array(got.values), expected.to_xarray().values[:, 0, 40:60, 0])
    png, caption = ws.preview_image(f"sweep{flavour}.ndc", key="ndr_2", selection=":, 0, :, 0")
    assert png.startswith(b"\x89PNG") and caption["source_shape"] == [3, 1, 100, 1]
    single = ws.summarize(f"one{flavour}.ndr").summary
    assert single.attrs["run_parameters"]["visual_position"] == 2 and single.attrs["mname"] == "AlaisBurr2004"
    loaded = ws.load(f"one{flavour}.ndr")
    np.testing.assert_array_equal(loaded.array, one.to_xarray().values)
    assert loaded.values.coords["modes"].values.tolist() == one.modes_.tolist()
    back = loaded.to_skneuromsi()
    assert back.mname == one.mname and back.run_parameters.to_dict() == one.run_parameters.to_dict()
    assert ws.load(f"sweep{flavour}.ndc").extra == ({"lab": "x"} if flavour == "4" else {})


def _same_result(a, b):
    assert a.to_xarray().equals(b.to_xarray())
    da, db = a.to_dict(), b.to_dict()
    da.pop("nddata"), db.pop("nddata")
    plain = lambda d: json.dumps(d, sort_keys=True, default=lambda v: v.tolist())
    assert plain(da) == plain(db)


@pytest.mark.parametrize("netcdf", ["nc4", "nc3"])
def test_bundles_written_here_open_in_scikit_neuromsi(skn_bundles, tmp_path, netcdf):
    import skneuromsi as skn

    _, one, sweep = skn_bundles
    ws = Workspace([tmp_path])
    ws.save(NDBundle(sweep, name=sweep.name, extra={"lab": "y"}, netcdf=netcdf), "from_objects.ndc")
    back = skn.io.read_ndc(tmp_path / "from_objects.ndc", tqdm_cls=None, expected_size=4)
    assert back.name == sweep.name and len(back) == 4
    for a, b in zip(back, sweep, strict=True):
        _same_result(a, b)
    ws.save(one, "one.ndr")
    _same_result(skn.io.read_ndr(tmp_path / "one.ndr"), one)
    ws.save(ws.load("from_objects.ndc"), "copied.ndc")  # what load gives, saved again
    for a, b in zip(skn.io.read_ndc(tmp_path / "copied.ndc", tqdm_cls=None), sweep, strict=True):
        _same_result(a, b)
    ws.save({"results": [result(i) for i in range(3)], "name": "json", "netcdf": netcdf}, "plain.ndc")
    plain = skn.io.read_ndc(tmp_path / "plain.ndc", tqdm_cls=None)
    assert plain.name == "json" and plain[2].run_parameters.to_dict()["visual_position"] == -3
    np.testing.assert_array_equal(plain[2].to_xarray().values, result(2)["values"])
    assert ws.load("plain.ndc").to_skneuromsi().name == "json"


# -- direct handler use (no workspace) ------------------------------------------------------------

def test_handler_without_a_workspace(tmp_path):
    path = tmp_path / "d.ndc"
    NDC.save({"results": [result(0), result(1)]}, path, WriteOptions())
    opts = ReadOptions(key="ndr_1")
    with NDC.open_array(path, opts) as values:
        np.testing.assert_array_equal(values[:, 0, :, 0], result(1)["values"][:, 0, :, 0])
    NDR.save(result(3), tmp_path / "o.ndr", WriteOptions())
    assert NDR.summarize(tmp_path / "o.ndr", ReadOptions()).path == "ndr_0"
    with pytest.raises(IOCoreError):
        NDR.save([], tmp_path / "e.ndr", WriteOptions())


# -- through the MCP server (in-memory client) ----------------------------------------------------

async def test_server_saves_summarizes_slices_and_previews_bundles(tmp_path):
    from fastmcp import Client

    from schemas import SaveResult, SliceResult, SummaryResult
    from server.app import create_app
    from server.settings import Settings

    plain = [{**result(i), "values": result(i)["values"].tolist()} for i in range(4)]
    async with Client(create_app(Settings(roots=[tmp_path]))) as c:
        saved = SaveResult.model_validate((await c.call_tool("save", {
            "path": "sweep.ndc", "data": {"results": plain, "name": "agent sweep", "extra": {"by": "agent"}},
        })).structured_content)
        assert saved.format == "ndc" and saved.recorded
        as_text = await c.call_tool("save", {"path": "one.ndr", "data": json.dumps(plain[2])})  # clients sending text
        assert SaveResult.model_validate(as_text.structured_content).format == "ndr"
        summary = SummaryResult.model_validate((await c.call_tool("load_summary", {"path": "sweep.ndc"}))
                                               .structured_content).summary
        assert summary.attrs["n_results"] == 4 and summary.attrs["name"] == "agent sweep"
        assert summary.attrs["run_parameters"]["varying"]["visual_position"] == {"min": -5, "max": -2, "n_distinct": 4}
        part = SliceResult.model_validate((await c.call_tool("read_slice", {
            "path": "sweep.ndc", "key": "ndr_2", "selection": "1, 0, 5:8, 0"})).structured_content).slice
        assert part.values == result(2)["values"][1, 0, 5:8, 0].tolist()
        image, caption = (await c.call_tool("preview_image", {"path": "one.ndr", "selection": ":, 0, :, 0"})).content
        assert image.type == "image" and json.loads(caption.text)["source_shape"] == [3, 1, 20, 1]
        rewrite(tmp_path / "sweep.ndc", tmp_path / "broken.ndc", drop={"ndr_1/nddata.nc"})
        bad = await c.call_tool("read_slice", {"path": "broken.ndc", "key": "ndr_1"}, raise_on_error=False)
        assert bad.is_error and bad.content[0].text.startswith("CORRUPT_FILE:") and "ndr_1/nddata.nc" in bad.content[0].text
        listing = SummaryResult.model_validate((await c.call_tool("load_summary", {"path": "broken.ndc"}))
                                               .structured_content).summary
        assert "ndr_1/nddata.nc" in listing.attrs["count_mismatch"]
        invalid = await c.call_tool("save", {"path": "x.ndc", "data": {"results": [{"values": [1, 2]}]}},
                                    raise_on_error=False)
        assert invalid.is_error and invalid.content[0].text.startswith("INVALID_DATA:")


async def test_save_through_the_server_reports_progress_member_by_member(tmp_path):
    """The save tool relays a saver's progress as MCP progress notifications (JSON data, as an agent sends it)."""
    from fastmcp import Client

    from server.app import create_app
    from server.settings import Settings

    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total))

    data = {"results": [{**result(i), "values": result(i)["values"].tolist()} for i in range(4)], "name": "Sweep"}
    async with Client(create_app(Settings(roots=[tmp_path], hdf5_workers=0))) as client:
        saved = await client.call_tool("save", {"path": "p.ndc", "data": data}, progress_handler=on_progress)
    assert saved.structured_content["format"] == "ndc"
    assert seen and seen[-1] == (4, 4)
