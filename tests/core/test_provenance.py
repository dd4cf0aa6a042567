"""Provenance: hashes equal sha256sum, the ledger survives concurrent writers, lineage, verify, hooks."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import io_core
from io_core import IOCoreError, Workspace
from io_core.atomic import TEMP_MARKER
from io_core.fileid import settled, stamp
from io_core.hashing import HashCache, HashingWriter, sha256_file

REPO = Path(__file__).resolve().parents[2]

# every core format, with data an agent (or a script) would save
FORMAT_CASES = [
    ("a.npy", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("f.npy", np.asfortranarray(np.arange(6).reshape(2, 3))),
    ("s.npy", np.array(3.5)),
    ("b.npz", {"x": np.arange(5), "y": np.eye(2)}),
    ("c.csv", {"a": [1, 2, 3], "b": ["x", "y", "z"]}),
    ("c.csv.gz", {"a": [1, 2, 3]}),
    ("d.tsv", [{"a": 1, "b": 0.5}, {"a": 2, "b": 1.5}]),
    ("e.parquet", {"a": [1, 2], "s": ["p", "q"]}),
    ("f.json", {"name": "run", "values": [1, 2, 3], "ü": "ß"}),
    ("g.yaml", {"model": {"lr": 0.01, "layers": [1, 2]}}),
    ("g2.yml", ["a", "b"]),
    ("h.txt", "hello\r\nworld\n"),
    ("h.md", "# Title\n"),
    ("h.log", "line 1\nline 2"),
    ("i.h5", {"x": [1, 2, 3], "grp": {"y": [[1.0, 2.0]]}}),
    ("j.hdf5", {"z": [0, 1]}),
]


def sha256sum(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
    return out.split()[0]


def rows(root: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(root / ".sciio" / "ledger.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute("SELECT * FROM records ORDER BY id").fetchall()


def wait_settled(path: Path) -> None:
    """Until the file's stamp can be trusted by the caches (a few tens of ms after a write)."""
    while not settled(stamp(path)):
        time.sleep(0.005)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace([tmp_path])


# -- hashes -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "data"), FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_every_format_records_the_hash_sha256sum_prints(ws, tmp_path, name, data):
    result = ws.save(data, name)
    digest = sha256sum(tmp_path / name)
    assert result.sha256 == digest and result.recorded
    assert result.size_bytes == (tmp_path / name).stat().st_size
    (row,) = rows(tmp_path)
    assert (row["path"], row["sha256"], row["size"], row["kind"], row["operation"]) == (
        str((tmp_path / name).resolve()), digest, result.size_bytes, "write", "save")
    assert ws.verify_file(name).status == "OK"


def test_a_user_plugin_saver_is_hashed_from_its_file(ws, tmp_path):
    io_core.register_saver(".blob", lambda data, path: path.write_bytes(bytes(data)))
    try:
        result = ws.save([1, 2, 3, 250], "x.blob")
    finally:
        io_core.unregister_saver(".blob")
    assert result.sha256 == sha256sum(tmp_path / "x.blob") == hashlib.sha256(bytes([1, 2, 3, 250])).hexdigest()


def test_npy_is_hashed_while_written_and_byte_identical_to_np_save(ws, tmp_path, monkeypatch):
    """No read-back for npy/json/yaml/text: the streamed digest is used (reading back would fail here)."""
    import io_core.hashing

    def no_read_back(path):
        raise AssertionError(f"{path} was read back to hash it")

    monkeypatch.setattr(io_core.hashing, "sha256_file", no_read_back)
    arrays = [np.random.default_rng(0).random((300, 700)), np.asfortranarray(np.ones((5, 7), dtype=">i4")),
              np.zeros((0, 3)), np.array([(1, 2.0)], dtype=[("a", "<i2"), ("b", "<f8")]),
              np.array(["ab", "c"]), np.arange(10)[::3]]
    for i, arr in enumerate(arrays):
        result = ws.save(arr, f"n{i}.npy")
        np.save(tmp_path / f"ref{i}.npy", arr)
        assert (tmp_path / f"n{i}.npy").read_bytes() == (tmp_path / f"ref{i}.npy").read_bytes()
        assert result.sha256 == hashlib.sha256((tmp_path / f"ref{i}.npy").read_bytes()).hexdigest()
    for name, data in [("d.json", {"k": [1]}), ("d.yaml", {"k": 1}), ("d.txt", "x" * 3_000_000)]:
        assert ws.save(data, name).sha256 == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("sync", [False, True])
def test_hashing_writer_hashes_exactly_what_it_writes(tmp_path, sync):
    """Small writes gathered, large ones hashed on a worker; a reused mutable buffer is safe."""
    rng = np.random.default_rng(1)
    expected = hashlib.sha256()
    reused = bytearray(3 * 1024 * 1024)
    with HashingWriter(tmp_path / "w.bin", sync=sync) as w:
        for size in [0, 1, 17, 5_000_000, 100, 2_000_000, 3, 1024 * 1024, 700_000, 9_000_000]:
            chunk = rng.integers(0, 256, size, dtype=np.uint8)
            if size % 2:
                data = chunk.tobytes()
            else:
                data = chunk  # a mutable numpy buffer, changed right after write() returns
            assert w.write(data) == size
            expected.update(chunk.tobytes())
            if not size % 2:
                chunk[:] = 0
        reused[:] = b"\x01" * len(reused)
        w.write(reused)
        expected.update(bytes(reused))
        reused[:] = b"\x02" * len(reused)  # after write(): must not reach the digest
        assert not w.seekable() and w.tell() == w.nbytes
    assert w.hexdigest() == expected.hexdigest() == sha256sum(tmp_path / "w.bin")
    assert w.matches(tmp_path / "w.bin")


def test_sha256_file_streams_big_and_empty_files(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    big = os.urandom(9 * 1024 * 1024 + 7)
    (tmp_path / "big").write_bytes(big)
    assert sha256_file(tmp_path / "empty") == sha256sum(tmp_path / "empty")
    assert sha256_file(tmp_path / "big") == hashlib.sha256(big).hexdigest()


def test_a_failing_saver_records_nothing_and_leaves_no_temp_file(ws, tmp_path):
    class Exploding:
        def __array__(self, dtype=None, copy=None):
            raise ValueError("cannot")

    with pytest.raises(IOCoreError):
        ws.save(Exploding(), "x.npy")
    with pytest.raises(IOCoreError):
        ws.save({"bad": float("nan")}, "x.json")
    assert not [p for p in tmp_path.rglob("*") if TEMP_MARKER in p.name]
    assert not (tmp_path / ".sciio").exists() or rows(tmp_path) == []


# -- verify -------------------------------------------------------------------------------------

def test_verify_ok_modified_unknown(ws, tmp_path):
    ws.save(np.arange(100), "a.npy")
    assert ws.verify_file("a.npy").status == "OK"

    # changed behind the workspace's back: same size, old mtime restored
    path = tmp_path / "a.npy"
    st = path.stat()
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    modified = ws.verify_file("a.npy")
    assert modified.status == "MODIFIED" and modified.sha256 == sha256sum(path) != modified.recorded_sha256
    assert modified.recorded_size_bytes == modified.size_bytes and modified.operation == "save"

    (tmp_path / "never.txt").write_text("made by someone else")
    unknown = ws.verify_file("never.txt")
    assert unknown.status == "UNKNOWN" and unknown.sha256 == sha256sum(tmp_path / "never.txt")
    assert unknown.recorded_sha256 is None

    ws.save(np.arange(100), "a.npy", overwrite=True)  # a new recorded write: OK again
    assert ws.verify_file("a.npy").status == "OK"
    with pytest.raises(IOCoreError) as info:
        ws.verify_file("gone.npy")
    assert info.value.code == "FILE_NOT_FOUND"


def test_verify_sees_a_change_even_when_the_hash_cache_knew_the_file(ws, tmp_path):
    ws.save({"a": 1}, "in.json")
    wait_settled(tmp_path / "in.json")
    ws.save({"b": 2}, "out.json", inputs=["in.json"])  # caches the input's hash
    (tmp_path / "in.json").write_text('{"a": 2}\n')
    assert ws.verify_file("in.json").status == "MODIFIED"


# -- lineage and history ------------------------------------------------------------------------

def test_lineage_is_recorded_and_walked(ws, tmp_path):
    a = ws.save(np.arange(5), "raw/a.npy")
    b = ws.save({"mean": 2.0}, "stats/b.json", inputs=["raw/a.npy"], operation="convert",
                arguments={"source": "raw/a.npy", "to": "json"})
    c = ws.save("report", "c.txt", inputs=["stats/b.json", "raw/a.npy"])
    prov = ws.file_provenance("c.txt")
    assert prov.exists and prov.ledger == ".sciio/ledger.sqlite" and prov.n_records == 1
    (record,) = prov.records
    assert record.sha256 == c.sha256 and record.operation == "save"
    assert [(i.path, i.sha256) for i in record.inputs] == [("stats/b.json", b.sha256), ("raw/a.npy", a.sha256)]
    by_path = {e.path: e for e in prov.lineage}
    assert set(by_path) == {"stats/b.json", "raw/a.npy"}
    assert by_path["stats/b.json"].depth == 1 and by_path["stats/b.json"].operation == "convert"
    assert [i.path for i in by_path["stats/b.json"].inputs] == ["raw/a.npy"]
    assert by_path["raw/a.npy"].produced_by is not None and by_path["raw/a.npy"].sha256 == a.sha256
    assert not prov.lineage_truncated

    b_prov = ws.file_provenance("stats/b.json")
    assert b_prov.records[0].arguments["source"] == "raw/a.npy" and b_prov.records[0].arguments["to"] == "json"

    # the input changes later: the lineage still names the bytes that were used, and who made them
    ws.save(np.arange(6), "raw/a.npy", overwrite=True)
    again = {e.path: e for e in ws.file_provenance("stats/b.json").lineage}
    assert again["raw/a.npy"].sha256 == a.sha256 and again["raw/a.npy"].produced_by == by_path["raw/a.npy"].produced_by


def test_inputs_must_exist_inside_the_roots(ws, tmp_path):
    outside = tmp_path.parent / "outside.txt"
    outside.write_text("x")
    for bad, code in [(str(outside), "PATH_OUTSIDE_ROOT"), ("missing.npy", "FILE_NOT_FOUND")]:
        with pytest.raises(IOCoreError) as info:
            ws.save([1], "out.npy", inputs=[bad])
        assert info.value.code == code
    assert not (tmp_path / "out.npy").exists()


def test_history_is_newest_first_bounded_and_holds_no_contents(ws, tmp_path):
    digests = [ws.save(f"SECRET-CONTENT-{i}", "t.txt", overwrite=True).sha256 for i in range(5)]
    prov = ws.file_provenance("t.txt", limit=3)
    assert prov.n_records == 5 and prov.truncated
    assert [r.sha256 for r in prov.records] == digests[::-1][:3]
    assert [r.id for r in prov.records] == sorted((r.id for r in prov.records), reverse=True)
    ledger_bytes = b"".join(p.read_bytes() for p in (tmp_path / ".sciio").iterdir())
    assert b"SECRET-CONTENT" not in ledger_bytes

    huge = {"blob": "y" * 100_000, "many": list(range(10_000)), "deep": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}
    ws.save("x", "u.txt", arguments=huge)
    (row,) = [r for r in rows(tmp_path) if r["path"].endswith("u.txt")]
    assert len(row["arguments"]) <= 4096
    json.loads(row["arguments"])

    never = ws.file_provenance("not/there.csv")
    assert not never.exists and never.n_records == 0 and never.records == [] and never.lineage == []


def test_input_hashes_come_from_the_cache_while_the_file_is_unchanged(tmp_path, monkeypatch):
    import io_core.hashing

    calls: list[Path] = []
    real_hash = io_core.hashing.sha256_file
    monkeypatch.setattr(io_core.hashing, "sha256_file", lambda p: calls.append(Path(p)) or real_hash(p))
    monkeypatch.setattr(io_core.hashing, "HASHES", HashCache())
    ws = Workspace([tmp_path])
    ws.provenance.hashes = io_core.hashing.HASHES
    np.save(tmp_path / "big.npy", np.zeros(1000))
    wait_settled(tmp_path / "big.npy")
    for i in range(3):
        ws.save([i], f"out{i}.npy", inputs=["big.npy"])
    assert [p.name for p in calls].count("big.npy") == 1
    np.save(tmp_path / "big.npy", np.ones(1000))  # changed: hashed again
    ws.save([9], "out9.npy", inputs=["big.npy"])
    assert [p.name for p in calls].count("big.npy") == 2


# -- where the ledger lives, and who may touch it --------------------------------------------------

@pytest.mark.parametrize("path", [".sciio/x.json", "./.sciio/ledger.sqlite", "sub/../.sciio/y.npy", ".SCIIO/z.txt"])
def test_the_ledger_folder_is_not_a_user_path(ws, tmp_path, path):
    ws.save([1], "seed.npy")  # the ledger exists
    before = sorted(p.name for p in (tmp_path / ".sciio").iterdir())
    with pytest.raises(IOCoreError) as info:
        ws.save({"a": 1} if path.endswith(".json") else [1], path, overwrite=True)
    assert info.value.code == "PATH_OUTSIDE_ROOT" and ".sciio" in info.value.message
    for call in (ws.load, ws.summarize, ws.verify_file):
        with pytest.raises(IOCoreError) as info:
            call(".sciio/ledger.sqlite")
        assert info.value.code == "PATH_OUTSIDE_ROOT"
    assert sorted(p.name for p in (tmp_path / ".sciio").iterdir()) == before
    assert ws.save([1], "deeper/.sciio/ok.npy").recorded  # only <root>/.sciio is reserved


def test_a_workspace_without_roots_keeps_no_ledger_unless_told(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = io_core.save([1, 2], tmp_path / "plain.npy")
    assert result.sha256 == sha256sum(tmp_path / "plain.npy") and not result.recorded
    assert not list(tmp_path.rglob(".sciio"))
    assert Workspace(None).verify_file(tmp_path / "plain.npy").status == "UNKNOWN"

    ledger = tmp_path / "ledgers" / "mine.sqlite"
    ws = Workspace(None, ledger_path=ledger)
    assert ws.save([3], tmp_path / "tracked.npy").recorded
    assert ws.verify_file(tmp_path / "tracked.npy").status == "OK"
    assert ws.file_provenance(tmp_path / "tracked.npy").records[0].path == str((tmp_path / "tracked.npy").resolve())
    with pytest.raises(IOCoreError) as info:
        ws.save([1], ledger, overwrite=True)
    assert info.value.code == "PATH_OUTSIDE_ROOT"


def test_provenance_off_and_read_only_workspaces_create_no_ledger(tmp_path):
    off = Workspace([tmp_path], provenance=False)
    assert not off.save([1], "a.npy").recorded
    assert not (tmp_path / ".sciio").exists()
    assert off.verify_file("a.npy").status == "UNKNOWN" and off.file_provenance("a.npy").ledger is None

    reader = Workspace([tmp_path], read_only=True, record_loads=True)
    assert reader.load("a.npy").tolist() == [1]
    assert reader.file_provenance("a.npy").n_records == 0
    assert not (tmp_path / ".sciio").exists()

    Workspace([tmp_path]).save([2], "b.npy")  # a writer makes the ledger; the reader can consult it
    assert reader.verify_file("b.npy").status == "OK"
    assert reader.file_provenance("b.npy").n_records == 1


def test_a_broken_ledger_never_breaks_a_save(tmp_path, caplog):
    (tmp_path / ".sciio").mkdir()
    (tmp_path / ".sciio" / "ledger.sqlite").write_bytes(b"this is not a database" * 100)
    ws = Workspace([tmp_path])
    with caplog.at_level(logging.WARNING, logger="io_core.provenance"):
        result = ws.save([1, 2], "a.npy")
    assert not result.recorded and result.sha256 == sha256sum(tmp_path / "a.npy")
    assert "provenance not recorded" in caplog.text
    for ask in (ws.verify_file, ws.file_provenance):
        with pytest.raises(IOCoreError) as info:
            ask("a.npy")
        assert info.value.code == "LEDGER_ERROR"
    assert Workspace([tmp_path]).load("a.npy").tolist() == [1, 2]  # reading data never needs the ledger


def test_loads_are_recorded_only_when_asked(tmp_path):
    Workspace([tmp_path]).save({"k": 1}, "d.json")
    Workspace([tmp_path]).load("d.json")
    assert [r["kind"] for r in rows(tmp_path)] == ["write"]
    Workspace([tmp_path], record_loads=True).load("d.json")
    assert [(r["kind"], r["operation"]) for r in rows(tmp_path)] == [("write", "save"), ("read", "load")]
    assert rows(tmp_path)[1]["sha256"] == sha256sum(tmp_path / "d.json")


# -- hooks --------------------------------------------------------------------------------------

def test_hooks_see_every_save_and_load_and_a_failing_hook_breaks_nothing(ws, tmp_path, caplog):
    seen: list[io_core.IOEvent] = []

    def failing(event):
        raise RuntimeError("hook bug")

    io_core.register_post_save_hook(failing)
    io_core.register_post_save_hook(seen.append)
    io_core.register_post_load_hook(failing)
    io_core.register_post_load_hook(seen.append)
    try:
        with caplog.at_level(logging.ERROR, logger="io_core.hooks"):
            saved = ws.save(np.arange(3), "h.npy")
            loaded = ws.load("h.npy")
    finally:
        assert io_core.unregister_post_save_hook(failing) and io_core.unregister_post_save_hook(seen.append)
        assert io_core.unregister_post_load_hook(failing) and io_core.unregister_post_load_hook(seen.append)
    assert not io_core.unregister_post_save_hook(failing)
    assert saved.recorded and loaded.tolist() == [0, 1, 2]
    failures = [r for r in caplog.records if r.name == "io_core.hooks"]
    assert len(failures) == 2 and all(r.exc_info and "hook bug" in str(r.exc_info[1]) for r in failures)
    save_event, load_event = seen
    assert (save_event.operation, save_event.path, save_event.format, save_event.sha256) == (
        "save", (tmp_path / "h.npy").resolve(), "npy", saved.sha256)
    assert load_event.operation == "load" and load_event.size_bytes == saved.size_bytes
    ws.save(np.arange(3), "after.npy")  # unregistered hooks are no longer called
    assert len(seen) == 2


def test_hooks_must_be_callable():
    with pytest.raises(TypeError):
        io_core.register_post_save_hook("not callable")


# -- many writers ---------------------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from io_core import Workspace

    root, proc, per_thread = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    ws = Workspace([root])
    go = root / "go"
    while not go.exists():
        time.sleep(0.001)
    errors = []

    def work(t):
        try:
            for i in range(per_thread):
                r = ws.save({{"p": proc, "t": t, "i": i}}, f"out/p{{proc}}_t{{t}}_{{i}}.json")
                assert r.recorded, r
        except BaseException as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads: th.start()
    for th in threads: th.join()
    if errors:
        sys.stderr.write("\\n".join(errors))
        sys.exit(1)
""")


def test_four_processes_of_eight_threads_lose_no_ledger_row(tmp_path):
    per_thread = 6
    script = tmp_path / "writer.py"
    script.write_text(_WRITER.format(repo=str(REPO)))
    root = tmp_path / "root"
    root.mkdir()
    procs = [subprocess.Popen([sys.executable, str(script), str(root), str(p), str(per_thread)],
                              stderr=subprocess.PIPE, text=True) for p in range(4)]
    time.sleep(1.0)  # let every process import and wait at the start line
    (root / "go").touch()
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    records = rows(root)
    assert len(records) == 4 * 8 * per_thread
    assert len({r["path"] for r in records}) == 4 * 8 * per_thread
    for r in records[:: max(1, len(records) // 20)]:
        assert r["sha256"] == sha256_file(r["path"])
    with sqlite3.connect(root / ".sciio" / "ledger.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_threads_sharing_one_workspace_lose_no_row(ws, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: ws.save([i], f"t/{i}.npy"), range(200)))
    assert all(r.recorded for r in results)
    assert len(rows(tmp_path)) == 200


def test_folder_stores_hash_like_the_coreutils_pipeline(ws, tmp_path):
    store = tmp_path / "s.zarr"
    (store / "a" / "b").mkdir(parents=True)
    (store / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')
    (store / "a" / "b" / "c").write_bytes(os.urandom(5000))
    (store / "a" / "é x").write_bytes(b"")
    (store / "B").write_bytes(b"upper sorts first")
    pipeline = subprocess.run(
        "find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
        shell=True, cwd=store, capture_output=True, text=True, check=True,
    ).stdout.split()[0]
    from io_core.hashing import sha256_tree

    assert sha256_tree(store) == (pipeline, 5000 + len('{"zarr_format": 3, "node_type": "group"}') + 17)
    assert ws.verify_file("s.zarr").status == "UNKNOWN" and ws.verify_file("s.zarr").sha256 == pipeline
