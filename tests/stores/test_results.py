"""The content-addressed result store (issue 15) through io_core: keys, corelay compatibility, failures, atomicity.

corelay 1.0.0 itself (test extra) writes stores that are read here, and reads entries written here.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import pytest
from corelay.io.hashing import ext_hash
from corelay.io.storage import HashedHDF5, HDF5Storage

from io_core import Workspace
from io_core.errors import IOCoreError
from io_core.stores.results import ResultStore
from io_core.stores.results_flat import FlatStore, NoStore
from io_core.stores.results_keys import CorelayScheme, Sha256Scheme, corelay_hash, metrohash128_hex

REPO = Path(__file__).resolve().parents[2]
MARKER = b"OUTSIDE-MARKER-15"


def code(call, *args, **kwargs) -> str:
    try:
        call(*args, **kwargs)
    except IOCoreError as exc:
        assert exc.hint, f"{exc.code} without a hint"
        return exc.code
    return "OK"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace([root])


def same(a, b) -> bool:
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b)) and np.asarray(a).dtype == np.asarray(b).dtype


# -- keys ---------------------------------------------------------------------------------------

def test_metrohash_reproduces_corelays_test_vector():
    assert metrohash128_hex(b"0123456789" * 6 + b"012") == "c77ce2bfa4ed9f9b0548b2ac5074a297"


@pytest.mark.parametrize("obj", [
    (np.arange(5.0), OrderedDict(name="Affinity", n_neighbors=10)),
    (np.arange(5.0), {"name": "Affinity", "n_neighbors": 10}),
    ((np.arange(6).reshape(2, 3), (np.ones(2, "f4"), np.zeros(3, bool))), OrderedDict(sigma=1.5)),
    ("text", None),
])
def test_corelay_scheme_is_corelays_ext_hash(obj):
    assert corelay_hash(obj, 4) == ext_hash(obj)  # this Python's default protocol is 4 (3.11)
    assert corelay_hash(obj, 5) != corelay_hash(obj, 4)  # the protocol is part of corelay's key


def test_sha256_scheme_has_no_rounding_no_mapping_type_and_no_pickle(monkeypatch):
    s = Sha256Scheme()
    assert s.key(np.array([1.000]), {}) != s.key(np.array([1.001]), {})
    assert CorelayScheme().key(np.array([1.000]), {}) == CorelayScheme().key(np.array([1.001]), {})  # corelay's rounding
    meta = {"name": "P", "k": 3, "sub": {"b": 1, "a": 2}}
    assert s.key(np.arange(3), meta) == s.key(np.arange(3), OrderedDict([("sub", {"a": 2, "b": 1}), ("k", 3),
                                                                          ("name", "P")]))
    assert CorelayScheme().key(np.arange(3), meta) != CorelayScheme().key(np.arange(3), OrderedDict(meta))
    before = s.key((np.arange(4.0), (np.ones(2),)), meta)
    monkeypatch.setattr(pickle, "DEFAULT_PROTOCOL", 5)

    def no_pickle(*a, **k):
        raise AssertionError("the sha256 scheme pickled something")

    monkeypatch.setattr(pickle, "Pickler", no_pickle)
    monkeypatch.setattr(pickle, "dumps", no_pickle)
    assert s.key((np.arange(4.0), (np.ones(2),)), meta) == before


def test_sha256_scheme_encodes_values_exactly():
    s = Sha256Scheme()
    keys = {s.key(v, None) for v in (np.array([1.0]), np.array([1.0], "f4"), np.array([[1.0]]), np.array([1]),
                                      1.0, 1, True, "1", b"1", [1.0], (np.array([1.0]),))}
    assert len(keys) == 11  # dtype, shape, type and structure all count
    assert s.key(np.array([1.0, 2.0], ">f8"), None) == s.key(np.array([1.0, 2.0], "<f8"), None)  # byte order does not
    assert s.key(np.arange(6).reshape(2, 3).T, None) == s.key(np.ascontiguousarray(np.arange(6).reshape(2, 3).T), None)
    assert code(s.key, np.array([object()]), None) == "INVALID_DATA"
    assert code(s.key, np.arange(2), {"x": float("nan")}) == "INVALID_DATA"


# -- corelay compatibility ----------------------------------------------------------------------

def corelay_store(path: Path) -> list[tuple]:
    """A store written by corelay 1.0.0's HashedHDF5: arrays, tuples, nested tuples, several meta."""
    cases = [
        (np.arange(4.0), OrderedDict(name="Flatten"), np.arange(4.0) * 2),
        (np.arange(4.0), OrderedDict(name="Affinity", n_neighbors=10), (np.ones((2, 2)), np.zeros(3, "i4"))),
        ((np.arange(3), np.ones(2)), OrderedDict(name="Pair", sigma=1.5),
         (np.arange(5.0), (np.full(2, 7, "u1"), (np.eye(2),)))),
    ]
    with h5py.File(path, "w") as f:
        storage = HashedHDF5(f.require_group("proc"))
        for data_in, meta, data_out in cases:
            storage.write(data_out, data_in, meta)
    return cases


def test_a_store_written_by_corelay_is_read_entry_by_entry(ws, root):
    cases = corelay_store(root / "corelay.h5")
    with ResultStore("corelay.h5", "proc", workspace=ws) as store:
        assert store.scheme.name == "corelay" and len(store) == 3
        for data_in, meta, data_out in cases:
            assert store.exists(data_in, meta)
            assert same(store.read(data_in, meta), data_out)
            assert not store.exists(data_in, dict(meta))  # corelay keys a dict differently from an OrderedDict
        listed = {e.key: e for e in store}
        for data_in, meta, _ in cases:
            entry = listed[ext_hash((data_in, meta))]
            assert entry.meta == dict(meta) and entry.problem is None
            assert entry.input == HashedHDF5._hash_data_recursively(data_in) or entry.input == list(
                HashedHDF5._hash_data_recursively(data_in))
        assert [leaf["path"] for leaf in listed[ext_hash((cases[2][0], cases[2][1]))].data] == [
            "data/000", "data/001/000", "data/001/001/000"]


def test_entries_written_with_the_corelay_scheme_are_read_by_corelay(ws, root):
    x = np.linspace(0, 1, 7)
    meta = OrderedDict(name="Embedding", n_components=2)
    out = (np.arange(6.0).reshape(3, 2), (np.ones(4, "f4"), np.array([3, 1, 2])))
    with ResultStore("ours.h5", "embed", scheme="corelay", workspace=ws) as store:
        receipt = store.write(out, x, meta)
        assert receipt.keys == [ext_hash((x, meta))]
    with h5py.File(root / "ours.h5", "r") as f:
        assert same(HashedHDF5(f["embed"]).read(x, meta), out)
        assert dict(f["embed"].attrs) == {"sciio_key_scheme": "corelay", "sciio_pickle_protocol": 4,
                                          "sciio_store": "result_store"}
        entry = f["embed"][ext_hash((x, meta))]
        import json

        assert json.loads(entry["input"][()]) == ext_hash(x)
        assert json.loads(entry["output"][()]) == [ext_hash(out[0]), [ext_hash(out[1][0]), ext_hash(out[1][1])]]


def test_corelay_written_under_protocol_5_is_found_without_guessing(ws, root):
    """A store corelay wrote under Python 3.14 (protocol 5): found by trying 5 after 4; pinning 4 misses it."""
    x, meta = np.arange(3.0), OrderedDict(name="P")
    with ResultStore("p5.h5", scheme="corelay", pickle_protocol=5, workspace=ws) as store:
        store.write(np.ones(2), x, meta)
    with h5py.File(root / "p5.h5", "a") as f:  # as corelay leaves it: no attributes of ours
        for name in list(f.attrs):
            del f.attrs[name]
    with ResultStore("p5.h5", workspace=ws) as store:
        assert same(store.read(x, meta), np.ones(2))
    with ResultStore("p5.h5", pickle_protocol=4, workspace=ws) as store:
        assert not store.exists(x, meta)


@pytest.mark.parametrize("scheme", ["sha256", "corelay"])
def test_a_1500_tuple_round_trips_in_order(ws, root, scheme):
    out = tuple(np.array([i], "i4") for i in range(1500))
    with ResultStore("t.h5", scheme=scheme, workspace=ws) as store:
        store.write(out, np.arange(2), {"n": 1500})
        back = store.read(np.arange(2), {"n": 1500})
    assert [int(a[0]) for a in back] == list(range(1500))
    if scheme == "corelay":  # corelay's own reader sorts "1000" before "101"
        with h5py.File(root / "t.h5", "r") as f:
            theirs = HashedHDF5(f["/"]).read(np.arange(2), {"n": 1500})
        assert [int(a[0]) for a in theirs] != list(range(1500))


# -- the library API -----------------------------------------------------------------------------

def test_store_api_iteration_batch_and_reopen(ws, root):
    a = ResultStore("s.h5", "r", workspace=ws)
    assert not a.exists(np.arange(3), None) and a.keys() == [] and list(a) == []
    assert code(a.read, np.arange(3), None) == "RESULT_NOT_FOUND"
    with ResultStore("s.h5", "r", workspace=ws) as b, b.batch():
        for i in range(4):
            assert b.write(np.full(2, i), np.arange(3) + i, {"i": i}) is None  # written at the end of the batch
    assert a.exists(np.arange(3) + 2, {"i": 2})  # a sees the file b replaced
    assert sorted(a.keys()) == sorted(b.keys()) and len(a) == 4
    assert a.keys()[0] in a and "nope" not in a
    assert same(a.read_key(a.key(np.arange(3) + 1, {"i": 1})), np.full(2, 1))
    assert {e.meta["i"] for e in a} == {0, 1, 2, 3}
    a.close()
    b.close()  # (h5py refuses to open a file this process holds open with other locking flags)
    with h5py.File(root / "s.h5", "r") as f:
        assert f["r"].attrs["sciio_key_scheme"] == "sha256" and f["r"].attrs["sciio_key_version"] == 1


def test_writes_are_recorded_with_the_input_hash_as_lineage(ws, root):
    x = np.arange(10.0)
    with ResultStore("led.h5", workspace=ws) as store:
        receipt = store.write(np.ones(2), x, {"a": 1})
    assert receipt.recorded
    history = ws.file_provenance("led.h5")
    record = history.records[0]
    assert record.operation == "write_result" and record.format == "result_store"
    assert record.sha256 == receipt.sha256 and record.arguments["keys"] == receipt.keys
    assert [i.sha256 for i in record.inputs] == [Sha256Scheme().input_digest(x)]
    assert ws.verify_file("led.h5").status == "OK"
    np.save(root / "x.npy", x)
    with ResultStore("led.h5", workspace=ws) as store:
        store.write(np.ones(2), x, {"a": 2}, inputs=["x.npy"])
    assert [i.path for i in ws.file_provenance("led.h5").records[0].inputs] == ["x.npy"]


def test_read_only_workspace_refuses_writes(root):
    ws = Workspace([root], read_only=True)
    with ResultStore("ro.h5", workspace=ws) as store:
        assert code(store.write, np.ones(1), np.ones(1), None) == "READ_ONLY"
    assert not (root / "ro.h5").exists()


def test_a_results_h5_file_is_browsed_as_a_store(ws, root):
    with ResultStore("run.results.h5", "pre", workspace=ws) as store, store.batch():
        for i in range(3):
            store.write((np.full(2, i), np.arange(i + 1)), np.arange(4) + i, {"i": i})
    summary = ws.summarize("run.results.h5")  # chosen by the name: the result_store format
    assert summary.format == "result_store" and summary.summary.preview["stores"][0]["entries"] == 3
    key = store.key(np.arange(4) + 2, {"i": 2})
    assert same(ws.load("run.results.h5", key=f"pre/{key}"), (np.full(2, 2), np.arange(3)))
    assert ws.read_slice("run.results.h5", key=f"pre/{key}/data/001").slice.values == [0, 1, 2]
    tree = ws.explore("run.results.h5", "pre", format="result_store")
    attrs = {child.name: child.attrs for child in tree.node.children}
    assert attrs[key]["meta"] == {"i": 2} and attrs[key]["input"] == Sha256Scheme().hashes(np.arange(4) + 2)
    assert ws.key_exists("run.results.h5", f"pre/{key}/meta").exists
    assert ws.summarize("run.results.h5", key=f"pre/{key}/data/000").summary.kind == "array"


# -- honest failures -----------------------------------------------------------------------------

def test_an_entry_written_twice_is_refused_unless_overwritten(ws, root):
    with ResultStore("twice.h5", workspace=ws) as store:
        store.write(np.ones(2), np.arange(3), {"m": 1})
        before = (root / "twice.h5").read_bytes()
        assert code(store.write, np.zeros(2), np.arange(3), {"m": 1}) == "ENTRY_EXISTS"
        assert (root / "twice.h5").read_bytes() == before
        assert same(store.read(np.arange(3), {"m": 1}), np.ones(2))


def test_overwrite_replaces(ws):
    with ResultStore("ow.h5", workspace=ws) as store:
        store.write(np.ones(2), np.arange(3), None)
        receipt = store.write(np.zeros(5), np.arange(3), None, overwrite=True)
        assert receipt.overwritten == receipt.keys
        assert same(store.read(np.arange(3), None), np.zeros(5))


def test_a_batch_with_a_repeated_entry_writes_nothing(ws, root):
    with ResultStore("b.h5", workspace=ws) as store:
        store.write(np.ones(2), np.arange(3), None)
        before = (root / "b.h5").read_bytes()
        with pytest.raises(IOCoreError) as info, store.batch():
            store.write(np.ones(1), np.arange(9), None)
            store.write(np.zeros(2), np.arange(3), None)
        assert info.value.code == "ENTRY_EXISTS"
        assert not store.exists(np.arange(9), None)
    assert (root / "b.h5").read_bytes() == before


def test_a_collision_is_never_served(ws, root):
    x = np.arange(4.0)
    with ResultStore("c.h5", workspace=ws) as store:
        key = store.write(np.ones(2), x, {"m": 1}).keys[0]
    with h5py.File(root / "c.h5", "a") as f:  # another input's hashes under this key
        del f[key]["input"]
        f[key]["input"] = '"' + "0" * 64 + '"'
    with ResultStore("c.h5", workspace=ws) as store:
        for call in (store.exists, store.read, store.lookup):
            assert code(call, x, {"m": 1}) == "HASH_COLLISION"
        assert code(store.write, np.ones(2), x, {"m": 1}) == "HASH_COLLISION"
        assert store.write(np.ones(3), x, {"m": 1}, overwrite=True).overwritten == [key]
    with h5py.File(root / "c.h5", "a") as f:  # another meta under this key
        del f[key]["meta"]
        f[key]["meta"] = '{"m":2}'
    with ResultStore("c.h5", workspace=ws) as store:
        assert code(store.read, x, {"m": 1}) == "HASH_COLLISION"


def test_a_corrupt_entry_is_coded_and_shown(ws, root):
    with ResultStore("bad.h5", workspace=ws) as store:
        k1 = store.write(np.ones(2), np.arange(3), None).keys[0]
        k2 = store.write(np.ones(2), np.arange(4), None).keys[0]
    with h5py.File(root / "bad.h5", "a") as f:
        del f[k1]["input"]
        del f[k2]["meta"]
        f[k2]["meta"] = "{not json"
    with ResultStore("bad.h5", workspace=ws) as store:
        assert code(store.read, np.arange(3), None) == "CORRUPT_ENTRY"
        assert code(store.exists, np.arange(3), None) == "CORRUPT_ENTRY"
        assert code(store.read, np.arange(4), None) == "HASH_COLLISION"  # the meta is not the caller's
        problems = {e.key: e.problem for e in store}
    assert "input" in problems[k1] and "JSON" in problems[k2]


def test_scheme_mismatches_are_refused(ws, root):
    with ResultStore("sha.h5", workspace=ws) as store:
        store.write(np.ones(1), np.ones(1), None)
    assert code(lambda: ResultStore("sha.h5", scheme="corelay", workspace=ws).exists(np.ones(1), None)) == \
        "SCHEME_MISMATCH"
    with ResultStore("cor.h5", scheme="corelay", workspace=ws) as store:
        store.write(np.ones(1), np.ones(1), None)
    assert code(lambda: ResultStore("cor.h5", scheme="sha256", workspace=ws).read(np.ones(1), None)) == \
        "SCHEME_MISMATCH"
    assert code(lambda: ResultStore("cor.h5", pickle_protocol=5, workspace=ws).read(np.ones(1), None)) == \
        "SCHEME_MISMATCH"
    corelay_store(root / "theirs.h5")
    assert code(lambda: ResultStore("theirs.h5", "proc", scheme="sha256", workspace=ws).keys() and
                ResultStore("theirs.h5", "proc", scheme="sha256", workspace=ws).exists(np.ones(1), None)) == \
        "SCHEME_MISMATCH"
    assert code(ResultStore, "x.h5", scheme="md5", workspace=ws) == "INVALID_DATA"


def test_a_group_holding_other_things_is_not_a_store(ws, root):
    with h5py.File(root / "other.h5", "w") as f:
        f["g/x"] = np.arange(3)
    with ResultStore("other.h5", "g", workspace=ws) as store:
        assert code(store.write, np.ones(1), np.ones(1), None) == "NOT_A_STORE"


def test_a_busy_store_is_store_busy(ws, root):
    import fcntl

    with ResultStore("busy.h5", workspace=ws) as store:
        store.write(np.ones(1), np.ones(1), None)
        with open(root / "busy.h5", "rb") as held:
            fcntl.flock(held.fileno(), fcntl.LOCK_EX)
            slow = ResultStore("busy.h5", workspace=ws, lock_timeout=0.2)
            started = time.monotonic()
            assert code(slow.write, np.ones(1), np.zeros(1), None) == "STORE_BUSY"
            assert time.monotonic() - started < 2


def test_links_out_of_the_store_are_never_followed(ws, root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "raw.bin").write_bytes(MARKER * 8)
    with h5py.File(outside / "secret.h5", "w") as f:
        f["data"] = np.frombuffer(MARKER, "u1")
    x = np.arange(3)
    with ResultStore("hostile.h5", workspace=ws) as store:
        k1 = store.write(np.ones(1), x, {"k": 1}).keys[0]
        k2 = store.write(np.ones(1), x, {"k": 2}).keys[0]
        k3 = store.write(np.ones(1), x, {"k": 3}).keys[0]
    with h5py.File(root / "hostile.h5", "a") as f:
        del f[k1]["data"]
        f[k1]["data"] = h5py.ExternalLink(str(outside / "secret.h5"), "/data")
        del f[k2]["data"]
        f[k2].create_dataset("data", shape=(8,), dtype="u1", external=[(str(outside / "raw.bin"), 0, 8)])
        f[k3 + "_link"] = h5py.ExternalLink(str(outside / "secret.h5"), "/")
    with ResultStore("hostile.h5", workspace=ws) as store:
        assert code(store.read, x, {"k": 1}) == "PATH_OUTSIDE_ROOT"
        assert code(store.read, x, {"k": 2}) == "PATH_OUTSIDE_ROOT"
        listed = {e.key: e.as_dict() for e in store}
    assert listed[k1]["problem"].startswith("PATH_OUTSIDE_ROOT") and len(listed) == 3
    assert MARKER.decode() not in repr(listed)
    summary = ws.summarize("hostile.h5", format="result_store")
    assert MARKER.decode() not in summary.model_dump_json()
    with h5py.File(root / "inside.h5", "w") as f:  # a link to another file inside the roots: not followed either
        f["data"] = np.arange(3)
    with h5py.File(root / "hostile.h5", "a") as f:
        del f[k3]["data"]
        f[k3]["data"] = h5py.ExternalLink("inside.h5", "/data")
    with ResultStore("hostile.h5", workspace=ws) as store:
        assert code(store.read, x, {"k": 3}) == "UNSUPPORTED_OPERATION"


# -- atomicity ------------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from io_core import Workspace
    from io_core.stores import results_layout
    from io_core.stores.results import ResultStore

    root, mode, tag = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "stall":  # stop inside the transaction, after writing into the private copy
        real = results_layout.write_entry
        def stalled(*args):
            real(*args)
            open(root + "/../inside", "w").close()
            time.sleep(60)
        results_layout.write_entry = stalled
    ws = Workspace([root])
    with ResultStore("store.h5", workspace=ws) as store:
        for i in range(5):
            store.write(np.full(1000, i), np.array([int(tag), i]), {"tag": tag})
""")


def run_writer(root: Path, mode: str, tag: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), mode, str(tag)], env=env, cwd=root.parent)


def test_a_writer_killed_mid_write_leaves_the_store_as_it_was(ws, root):
    with ResultStore("store.h5", workspace=ws) as store, store.batch():
        for i in range(50):
            store.write(np.arange(100) * i, np.array([i]), {"old": True})
    before = (root / "store.h5").read_bytes()
    child = run_writer(root, "stall", 7)
    deadline = time.monotonic() + 60
    while not (root.parent / "inside").exists():
        assert child.poll() is None and time.monotonic() < deadline, "the writer never got inside its transaction"
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    assert (root / "store.h5").read_bytes() == before
    with ResultStore("store.h5", workspace=ws) as store:
        assert len(store) == 50 and all(e.problem is None for e in store)
        assert same(store.read(np.array([49]), {"old": True}), np.arange(100) * 49)
        store.write(np.ones(1), np.array([-1]), None)  # the dead writer's lock is gone
        assert len(store) == 51


def test_concurrent_writers_lose_nothing(ws, root):
    children = [run_writer(root, "plain", tag) for tag in (1, 2, 3)]
    assert [c.wait(120) for c in children] == [0, 0, 0]
    with ResultStore("store.h5", workspace=ws) as store:
        assert len(store) == 15
        assert same(store.read(np.array([2, 4]), {"tag": "2"}), np.full(1000, 4))
    assert not [p for p in root.iterdir() if p.name.startswith(".sciio-tmp-")]


# -- the flat store and the no-op store -------------------------------------------------------------

def test_flat_store_layout_round_trips_and_refuses_silent_rewrites(ws, root):
    with FlatStore("flat.h5", workspace=ws) as store:
        store.write("cfg", {"x": np.arange(3), "name": "run", "n": 5})
        store.write("parts", tuple(np.array([i]) for i in range(12)))
        store.write("a/b", 2.5)
        assert code(store.write, "a/b", 3.5) == "ENTRY_EXISTS"
        assert store.write("a/b", 3.5, overwrite=True).overwritten == ["a/b"]
        cfg = store.read("cfg")
        assert same(cfg["x"], np.arange(3)) and cfg["name"] == "run" and cfg["n"] == 5
        assert [int(p[0]) for p in store.read("parts")] == list(range(12))
        assert store.read("a/b") == 3.5 and store.exists("cfg") and not store.exists("nope")
        assert code(store.read, "nope") == "RESULT_NOT_FOUND"
        assert sorted(store.keys()) == ["a", "cfg", "parts"]
    with h5py.File(root / "flat.h5", "r") as f:  # corelay's HDF5Storage reads our layout
        theirs = HDF5Storage.__new__(HDF5Storage)
        theirs.io = f
        assert HDF5Storage._unpack("/", f["cfg"])[1]["name"] == "run"


def test_flat_store_reads_what_corelay_wrote(ws, root):
    theirs = HDF5Storage(root / "theirs.h5", mode="w", data_key="res")
    theirs.write({"x": np.arange(4), "label": "ok"})
    theirs.close()
    theirs = HDF5Storage(root / "theirs.h5", mode="a", data_key="pair")
    theirs.write((np.ones(2), np.zeros(1)))
    theirs.close()
    with FlatStore("theirs.h5", workspace=ws) as store:
        value = store.read("res")
        assert same(value["x"], np.arange(4)) and value["label"] == "ok"
        assert same(store.read("pair"), (np.ones(2), np.zeros(1)))


def test_no_store_stores_nothing():
    store = NoStore()
    assert store.write(np.ones(1), np.ones(1), None) is None
    assert not store.exists(np.ones(1), None) and list(store) == [] and not store
    assert code(store.read, np.ones(1), None) == "RESULT_NOT_FOUND"
