"""explore_h5 / key_exists and the links policy of the hdf5 format, through io_core.Workspace.

The files are built once per session (``built()``): 100,000 datasets in one group, 20 levels
of nesting, every link kind (soft, dangling, looping, external inside and outside the roots,
virtual datasets, external raw storage), compound and variable-length string dtypes, gzip /
lzf / shuffle chunks and an hdf5plugin filter when installed. Every link that leads out of
the roots points at a FIFO watched by a thread (``FifoWatch``): if anything opened it, the
watch sees a reader at once, so "never followed" is checked, not assumed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from io_core.budget import json_size
from io_core.errors import IOCoreError
from io_core.workspace import Workspace
from schemas import ExploreResult

BUDGET = 32768
WIDE = 100_000
DEEP = 20


# -- building ---------------------------------------------------------------------------------

class FifoWatch:
    """A FIFO that records whether any reader ever opened it (without ever blocking the reader long)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)  # succeeds only while a reader has it open
            except OSError:
                time.sleep(0.002)
                continue
            self.opened = True
            os.close(fd)  # the reader sees EOF
            time.sleep(0.002)

    def stop(self) -> None:
        self._stop.set()


def build_wide(path: Path, n: int = WIDE) -> None:
    with h5py.File(path, "w") as f:
        g = f.create_group("wide")
        g.attrs["about"] = "one group, many datasets"
        space = h5py.h5s.create_simple((4,))
        for i in range(n):
            h5py.h5d.create(g.id, b"d%06d" % i, h5py.h5t.NATIVE_INT32, space)
        g10 = f.create_group("w10k", track_order=True)  # creation-ordered, dense link storage
        for i in range(10_000):
            h5py.h5d.create(g10.id, b"e%05d" % (9_999 - i), h5py.h5t.NATIVE_INT32, space)


def build_deep(path: Path, levels: int = DEEP) -> None:
    with h5py.File(path, "w") as f:
        g = f["/"]
        for i in range(levels):
            g = g.create_group(f"g{i}")
            g.attrs["level"] = i
        g["leaf"] = np.arange(3)


def build_links(root: Path, fifo: Path) -> None:
    """links.h5 (every kind of link and dtype) and the files it points to inside the roots."""
    with h5py.File(root / "src_in.h5", "w") as f:
        f["data"] = np.arange(10) * 2
        f.create_group("grp")["x"] = np.ones(2)
    np.arange(10, dtype="<i8").tofile(root / "raw_in.bin")
    out = os.path.relpath(fifo, root)
    with h5py.File(root / "links.h5", "w", libver="latest") as f:  # dense attribute storage: big attributes
        f.attrs["title"] = "every kind of link"
        grp = f.create_group("grp")
        for i in range(30):
            grp.attrs[f"a{i:02d}"] = i
        grp.attrs["_big"] = np.zeros(100_000)
        grp.attrs["_text"] = "x" * 5000
        grp.create_dataset("compound", data=np.zeros(5, dtype=[("x", "<f4"), ("y", "<i2"), ("s", "S4")]))
        grp.create_dataset("vlen_str", data=["a", "bb", "ccc"], dtype=h5py.string_dtype())
        grp.create_dataset("gzip", data=np.arange(1000), chunks=(100,), compression="gzip", compression_opts=6,
                           shuffle=True, fillvalue=-1, maxshape=(None,))
        grp.create_dataset("lzf", data=np.arange(1000.0), chunks=(100,), compression="lzf")
        try:
            import hdf5plugin

            grp.create_dataset("blosc", data=np.arange(1000), chunks=(100,), **hdf5plugin.Blosc())
        except ImportError:
            pass
        f["dtype"] = np.dtype("<f8")  # a committed datatype
        f["soft"] = h5py.SoftLink("/grp/gzip")
        f["soft_grp"] = h5py.SoftLink("/grp")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["loop"] = h5py.SoftLink("/loop")
        f["ext_in"] = h5py.ExternalLink("src_in.h5", "/data")
        f["ext_in_grp"] = h5py.ExternalLink("src_in.h5", "/grp")
        f["ext_in_missing"] = h5py.ExternalLink("no_such.h5", "/data")
        f["ext_out"] = h5py.ExternalLink(out, "/data")
        f["ext_out_abs"] = h5py.ExternalLink(str(fifo), "/data")
        f["soft_out"] = h5py.SoftLink("/ext_out")
        layout = h5py.VirtualLayout(shape=(10,), dtype="i8")
        layout[:] = h5py.VirtualSource("src_in.h5", "data", shape=(10,))
        f.create_virtual_dataset("vds_in", layout)
        layout = h5py.VirtualLayout(shape=(10,), dtype="i8")
        layout[:] = h5py.VirtualSource(out, "data", shape=(10,))
        f.create_virtual_dataset("vds_out", layout, fillvalue=-1)
        # libhdf5 takes a relative external raw file name from the current directory, not the file's folder
        f.create_dataset("raw_in", shape=(10,), dtype="<i8", external=[(str(root / "raw_in.bin"), 0, 80)])
        f.create_dataset("raw_out", shape=(10,), dtype="<i8", external=[(str(fifo), 0, 80)])
    with h5py.File(root / "only_out.h5", "w") as f:  # loading it whole meets only a link that leads out
        f["x"] = np.arange(3)
        f["ext_out"] = h5py.ExternalLink(out, "/data")


def build_broken(root: Path) -> None:
    with h5py.File(root / "good.h5", "w", libver="latest") as f:
        for i in range(40):
            f.create_dataset(f"g{i}/d", data=np.arange(1000), chunks=(100,), compression="gzip")
    data = (root / "good.h5").read_bytes()
    (root / "truncated.h5").write_bytes(data[: len(data) // 2])
    (root / "garbage.h5").write_bytes(data[:64] + os.urandom(len(data) - 64))
    (root / "empty.h5").write_bytes(b"")
    (root / "not_hdf5.h5").write_bytes(b"hello, I am text\n" * 100)
    # a SWMR writer that died without closing: the superblock still says "SWMR writer active"; then cut short
    code = (
        "import h5py, numpy as np, os, sys\n"
        "f = h5py.File(sys.argv[1], 'w', libver='latest')\n"
        "for i in range(40): f.create_dataset(f'g{i}/d', data=np.arange(1000), chunks=(100,), maxshape=(None,))\n"
        "f.swmr_mode = True\n"
        "f.flush()\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(root / "swmr_crashed.h5")], check=True, timeout=60)
    data = (root / "swmr_crashed.h5").read_bytes()
    (root / "swmr_truncated.h5").write_bytes(data[: len(data) // 2])


def built(base: Path) -> tuple[Path, Path]:
    """(root, outside) with every file built; built once per test session and shared between modules."""
    root, outside = base / "root", base / "outside"
    if not (root / ".complete").exists():
        root.mkdir(parents=True, exist_ok=True)
        outside.mkdir(exist_ok=True)
        build_wide(root / "wide.h5")
        build_deep(root / "deep.h5")
        build_broken(root)
        (root / ".complete").write_text("ok")
    return root, outside


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    return built(tmp_path_factory.getbasetemp() / "h5-browse")


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """(root, watch): links.h5 and friends, their outside targets a watched FIFO."""
    base = tmp_path_factory.mktemp("h5-links")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    watch = FifoWatch(outside / "src.h5")
    build_links(root, watch.path)
    yield root, watch
    watch.stop()


@pytest.fixture
def ws(files) -> Workspace:
    return Workspace([files[0]], provenance=False)


def code(func, *args, **kwargs) -> str:
    with pytest.raises(IOCoreError) as info:
        func(*args, **kwargs)
    return info.value.code


def fits(result: ExploreResult, budget: int = BUDGET) -> ExploreResult:
    assert json_size(result.model_dump(mode="json")) <= budget
    return result


# -- the FIFO detector itself ---------------------------------------------------------------

def test_fifo_watch_sees_a_reader(tmp_path):
    watch = FifoWatch(tmp_path / "probe")
    try:
        with open(watch.path, "rb") as fh:  # blocks until the watch opens its end, then reads EOF
            assert fh.read() == b""
        assert watch.opened
    finally:
        watch.stop()


# -- wide and deep ----------------------------------------------------------------------------

def test_first_page_of_a_100k_group_fits_and_paginates(ws):
    started = time.perf_counter()
    res = fits(ws.explore_h5("wide.h5", "/wide", limit=1000, max_bytes=BUDGET))
    elapsed = time.perf_counter() - started
    node = res.node
    assert node.kind == "group" and node.n_children == WIDE and node.attrs == {"about": "one group, many datasets"}
    assert node.children[0].name == "d000000" and node.children[0].shape == [4] and node.children[0].dtype == "<i4"
    assert node.next_offset == len(node.children) and node.truncated
    assert res.truncated  # 1000 descriptions do not fit 32 KiB: the budget cut the page, next_offset says where
    assert elapsed < 2.0, elapsed  # generous for a loaded machine; bench/explore.py measures it properly

    last = fits(ws.explore_h5("wide.h5", "/wide", offset=WIDE - 10, limit=100, max_bytes=BUDGET)).node
    assert [c.name for c in last.children] == [f"d{i:06d}" for i in range(WIDE - 10, WIDE)]
    assert last.next_offset is None and not last.truncated and last.offset == WIDE - 10
    page = ws.explore_h5("wide.h5", "/wide", offset=500, limit=20).node
    assert [c.name for c in page.children] == [f"d{i:06d}" for i in range(500, 520)] and page.next_offset == 520
    assert ws.explore_h5("wide.h5", "/wide", offset=WIDE + 5).node.children == []


def test_creation_ordered_groups_page_in_creation_order(ws):
    node = ws.explore_h5("wide.h5", "/w10k", offset=9_998, limit=5).node
    assert node.n_children == 10_000 and [c.name for c in node.children] == ["e00001", "e00000"]


def test_twenty_levels_deep(ws):
    res = fits(ws.explore_h5("deep.h5", "/", depth=DEEP + 1))
    node, names = res.node, []
    while node.children:
        node = node.children[0]
        names.append(node.name)
    assert names == [f"g{i}" for i in range(DEEP)] + ["leaf"] and node.shape == [3]
    shallow = ws.explore_h5("deep.h5", "/", depth=2).node
    level2 = shallow.children[0].children[0]
    assert level2.name == "g1" and level2.n_children == 1 and level2.children == [] and level2.attrs == {"level": 1}
    path = "/" + "/".join(f"g{i}" for i in range(DEEP))
    bottom = ws.explore_h5("deep.h5", path).node
    assert bottom.path == path and [c.name for c in bottom.children] == ["leaf"]
    assert ws.explore_h5("deep.h5", "/", depth=0).node.children == []


def test_small_budgets_cut_deeper_pages_first(ws):
    for budget in (1024, 2048, 4096, 16384):
        res = fits(ws.explore_h5("wide.h5", "/", depth=2, max_bytes=budget), budget)
        assert res.truncated and res.node.children and res.node.n_children == 2
        for group in res.node.children:
            assert group.next_offset == len(group.children) and group.truncated
        if budget >= 4096:  # both top-level groups stay, each with a shorter page
            assert [c.name for c in res.node.children] == ["w10k", "wide"]


def test_paging_arguments_are_checked(ws):
    assert code(ws.explore_h5, "wide.h5", "/wide", offset=-1) == "INVALID_SELECTION"
    assert code(ws.explore_h5, "wide.h5", "/nope") == "KEY_NOT_FOUND"
    assert code(ws.explore_h5, "../x.h5") == "PATH_OUTSIDE_ROOT"


# -- every kind of object and link --------------------------------------------------------------

def test_every_kind_of_link_and_dtype(linked):
    root, watch = linked
    ws = Workspace([root], provenance=False)
    res = fits(ws.explore_h5("links.h5", "/", depth=2))
    kids = {c.name: c for c in res.node.children}
    assert res.node.attrs == {"title": "every kind of link"} and not res.swmr

    assert kids["dtype"].kind == "committed_datatype" and kids["dtype"].dtype == "<f8"
    assert kids["soft"].kind == "soft_link" and kids["soft"].target_kind == "dataset"
    assert kids["soft"].link.path == "/grp/gzip" and kids["soft"].shape == [1000]
    assert kids["soft_grp"].target_kind == "group" and kids["soft_grp"].children == []  # links are not expanded
    assert kids["dangling"].kind == "dangling" and kids["dangling"].link.exists is False
    assert kids["loop"].kind == "soft_link" and "loop" in kids["loop"].note

    ext_in = kids["ext_in"]
    assert ext_in.kind == "external_link" and ext_in.target_kind == "dataset" and ext_in.shape == [10]
    assert ext_in.link.file == "src_in.h5" and ext_in.link.resolved == "src_in.h5" and ext_in.link.inside_roots
    assert kids["ext_in_missing"].kind == "dangling" and kids["ext_in_missing"].link.exists is False
    for name in ("ext_out", "ext_out_abs"):
        out = kids[name]
        assert out.kind == "external_link" and out.target_kind is None and out.shape is None
        assert out.link.inside_roots is False and out.link.resolved is None and out.link.path == "/data"
        assert "outside" in out.note
    assert kids["soft_out"].kind == "soft_link" and kids["soft_out"].target_kind is None

    assert kids["vds_in"].layout == "virtual" and kids["vds_in"].sources[0].inside_roots
    assert kids["vds_in"].sources[0].dataset == "data" and kids["vds_in"].n_sources == 1
    assert kids["vds_out"].sources[0].inside_roots is False and kids["vds_out"].fill_value == -1
    assert kids["raw_in"].layout == "external" and kids["raw_in"].sources[0].size == 80
    assert kids["raw_out"].sources[0].inside_roots is False

    grp = {c.name: c for c in kids["grp"].children}
    assert grp["compound"].dtype.startswith("compound") and [f.name for f in grp["compound"].fields] == ["x", "y", "s"]
    assert grp["vlen_str"].dtype == "vlen-str(utf-8)"
    gz = grp["gzip"]
    assert gz.layout == "chunked" and gz.chunks == [100] and gz.maxshape == [None] and gz.fill_value == -1
    assert [(f.name, f.id) for f in gz.filters] == [("shuffle", 2), ("gzip", 1)] and gz.filters[1].options == {"level": 6}
    assert gz.compression == "shuffle+gzip" and 0 < gz.storage_bytes < gz.nbytes == 8000
    assert grp["lzf"].filters[0].name == "lzf" and grp["lzf"].filters[0].id == 32000
    if "blosc" in grp:
        blosc = grp["blosc"].filters[0]
        assert (blosc.id, blosc.name, blosc.available) == (32001, "blosc", True)
    assert kids["grp"].n_attrs == 32 and len(kids["grp"].attrs) == 20 and kids["grp"].truncated
    assert not watch.opened


def test_attributes_are_bounded(linked):
    root, _ = linked
    ws = Workspace([root], provenance=False)
    node = ws.explore_h5("links.h5", "/grp", depth=0).node
    assert node.n_attrs == 32 and len(node.attrs) == 20 and node.attrs["a00"] == 0
    assert "not read" in node.attrs["_big"] and len(node.attrs["_text"]) <= 201
    assert ws.explore_h5("links.h5", "/grp", attrs=False).node.attrs == {}


def test_browsing_follows_links_inside_the_roots(linked):
    root, watch = linked
    ws = Workspace([root], provenance=False)
    node = ws.explore_h5("links.h5", "/ext_in_grp").node
    assert node.kind == "external_link" and node.target_kind == "group" and [c.name for c in node.children] == ["x"]
    assert ws.explore_h5("links.h5", "/ext_in_grp/x").node.shape == [2]
    assert ws.explore_h5("links.h5", "/soft_grp/gzip").node.chunks == [100]
    shown = ws.explore_h5("links.h5", "/ext_out").node
    assert shown.kind == "external_link" and shown.link.inside_roots is False
    assert code(ws.explore_h5, "links.h5", "/ext_out/anything") == "PATH_OUTSIDE_ROOT"
    assert code(ws.explore_h5, "links.h5", "/soft_out/anything") == "PATH_OUTSIDE_ROOT"
    assert not watch.opened


def test_reading_through_links_out_of_the_roots_is_refused(linked):
    root, watch = linked
    ws = Workspace([root], provenance=False)
    for key in ("/ext_out", "/ext_out_abs", "/soft_out", "/vds_out", "/raw_out", "/ext_out/deeper"):
        assert code(ws.load, "links.h5", key=key) == "PATH_OUTSIDE_ROOT", key
        assert code(ws.read_slice, "links.h5", key=key) == "PATH_OUTSIDE_ROOT", key
    for key in ("/ext_out", "/vds_out", "/raw_out"):
        assert code(ws.summarize, "links.h5", key=key) == "PATH_OUTSIDE_ROOT", key
    assert code(ws.load, "only_out.h5") == "PATH_OUTSIDE_ROOT"
    summary = ws.summarize("only_out.h5").summary  # the group listing still shows the link
    assert {c.name: c.link for c in summary.children}["ext_out"].startswith("external:")
    assert not watch.opened


def test_links_inside_the_roots_are_read_but_not_external_raw_storage(linked):
    """External links and virtual sources inside the roots are followed (issue 11.7); raw storage never is."""
    root, watch = linked
    ws = Workspace([root], provenance=False)
    for key in ("/ext_in", "/vds_in"):
        np.testing.assert_array_equal(ws.load("links.h5", key=key), np.arange(10) * 2)
    np.testing.assert_array_equal(ws.load("links.h5", key="/ext_in_grp")["x"], np.ones(2))
    assert ws.read_slice("links.h5", key="/ext_in_grp/x").slice.values == [1.0, 1.0]
    assert ws.summarize("links.h5", key="/vds_in").summary.note.startswith("virtual: values read")
    assert code(ws.load, "links.h5", key="/raw_in") == "UNSUPPORTED_OPERATION"
    assert ws.summarize("links.h5", key="/raw_in").summary.note.startswith("data stored in other files")
    assert code(ws.load, "links.h5", key="/ext_in_missing") == "KEY_NOT_FOUND"
    assert not watch.opened
    np.testing.assert_array_equal(ws.load("links.h5", key="/soft"), np.arange(1000))
    assert ws.read_slice("links.h5", key="/grp/lzf", selection="0:3").slice.values == [0.0, 1.0, 2.0]
    if "blosc" in ws.explore_h5("links.h5", "/grp").node.model_dump_json():
        assert ws.read_slice("links.h5", key="/grp/blosc", selection="5:7").slice.values == [5, 6]
    assert code(ws.load, "links.h5", key="/dangling") == "KEY_NOT_FOUND"


def test_without_a_workspace_links_are_only_unsupported(linked):
    """A handler used directly knows no roots: it refuses every link as before."""
    from io_core.formats.hdf5.handler import HDF5
    from io_core.options import ReadOptions

    root, watch = linked
    with pytest.raises(IOCoreError) as info:
        HDF5.load(root / "links.h5", ReadOptions(key="/ext_out"))
    assert info.value.code == "UNSUPPORTED_OPERATION"
    assert not watch.opened


def test_key_exists_never_errors_for_a_missing_key(linked):
    root, watch = linked
    ws = Workspace([root], provenance=False)
    expect = {
        "/": (True, "group"), "/grp/gzip": (True, "dataset"), "grp/compound": (True, "dataset"),
        "/nope": (False, None), "/grp/nope/deeper": (False, None), "/grp/gzip/x": (False, None),
        "/dtype": (True, "committed_datatype"), "/soft": (True, "soft_link"), "/dangling": (True, "dangling"),
        "/dangling/x": (False, None), "/ext_in": (True, "external_link"), "/ext_in_grp/x": (True, "dataset"),
        "/ext_out": (True, "external_link"), "/ext_out/x": (None, None), "/soft_grp/lzf": (True, "dataset"),
    }
    for key, (exists, kind) in expect.items():
        res = ws.key_exists("links.h5", key)
        assert (res.exists, res.kind) == (exists, kind), key
    assert code(ws.key_exists, "nope.h5", "/x") == "FILE_NOT_FOUND"
    assert not watch.opened


# -- corrupt, truncated and busy files ------------------------------------------------------------

@pytest.mark.parametrize("name", ["truncated.h5", "garbage.h5", "empty.h5", "not_hdf5.h5", "swmr_truncated.h5"])
def test_damaged_files_fail_fast(ws, name):
    for call in (lambda: ws.explore_h5(name, "/", depth=2), lambda: ws.load(name), lambda: ws.summarize(name),
                 lambda: ws.key_exists(name, "/g1/d")):
        started = time.perf_counter()
        try:
            call()
        except IOCoreError as exc:
            assert exc.code == "CORRUPT_FILE", (name, exc)
        else:  # garbage past the superblock may leave some objects readable; it must still be quick
            assert name == "garbage.h5"
        assert time.perf_counter() - started < 5.0, name


def test_a_crashed_swmr_writer_file_opens_in_swmr_mode(ws):
    res = ws.explore_h5("swmr_crashed.h5", "/")
    assert res.swmr and res.node.n_children == 40


WRITER = """
import sys, time, h5py, numpy as np
f = h5py.File(sys.argv[1], "w", libver="latest")   # file locking on (the default)
f["x"] = np.arange(10)
f.flush()
if sys.argv[2] == "swmr":
    f.create_dataset("grow", shape=(0,), maxshape=(None,), chunks=(16,), dtype="i4")
    f.swmr_mode = True
print("ready", flush=True)
sys.stdin.readline()
f.close()
"""


@pytest.mark.parametrize("mode", ["plain", "swmr"])
def test_a_file_held_open_by_a_writer(tmp_path, mode):
    path = tmp_path / "busy.h5"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        ws = Workspace([tmp_path], provenance=False)
        started = time.perf_counter()
        if mode == "plain":
            with pytest.raises(IOCoreError) as info:
                ws.explore_h5("busy.h5")
            assert info.value.code == "CORRUPT_FILE" and "open for writing" in info.value.message
            assert "SWMR" in info.value.hint
            assert code(ws.load, "busy.h5") == "CORRUPT_FILE"
        else:
            res = ws.explore_h5("busy.h5")
            assert res.swmr and {c.name for c in res.node.children} == {"x", "grow"}
            np.testing.assert_array_equal(ws.load("busy.h5", key="x"), np.arange(10))
        assert time.perf_counter() - started < 5.0
    finally:
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=30)


def test_results_are_json_with_a_schema(linked):
    root, _ = linked
    res = Workspace([root], provenance=False).explore_h5("links.h5", "/", depth=2)
    again = ExploreResult.model_validate(json.loads(res.model_dump_json()))
    assert again == res
