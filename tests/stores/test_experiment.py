"""The experiment store (issue 13): axopy's layout read and written without its faults.

Datasets "in axopy's layout" are made here by hand from the layout axopy 0.2.3 writes, read
from its source (``axopy/storage.py`` and ``axopy/design.py``: ``TrialWriter`` writes
``pandas.DataFrame(...).to_csv(index=False)`` with the attributes in insertion order and
``block``/``trial`` last, ``TaskWriter`` writes each array with ``h5py.File(path, 'a')
.create_dataset(str(row), data=...)`` -- unchunked, uncompressed, named by the row in
trials.csv counting across blocks; ``Array.stack`` uses vstack/hstack/dstack for stack_axis
0/1/2). axopy itself (a test dependency) is used where it still runs on current NumPy: its
writer makes one dataset, and its reader reads ours (its ``array()`` fails on NumPy 2, so
``iterarray``).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from fastmcp import Client

from io_core import Workspace
from io_core.errors import IOCoreError
from io_core.paths import Sandbox
from io_core.stores import experiment_journal as journal
from io_core.stores.experiment import Storage, TrialArray, read_hdf5, storage_to_zip, write_hdf5
from schemas import FileProvenance, SliceResult, SummaryResult, VerifyResult
from server.app import create_app
from server.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def code(call, *args, **kwargs) -> str:
    try:
        call(*args, **kwargs)
    except IOCoreError as exc:
        return exc.code
    return "OK"


# -- a dataset in axopy's layout, made by hand -----------------------------------------------------

SUBJECTS = {"p0": {"reach": (2, 3), "rest": (1, 2)}, "p1": {"reach": (2, 2)}}  # task: (blocks, trials per block)


def emg(subject: str, task: str, row: int) -> np.ndarray:
    """A trial's array as axopy accumulates it: two (4, 5) pieces hstack-ed (stack_axis=1)."""
    piece = np.arange(20.0).reshape(4, 5) + row + 100 * len(subject + task)
    return np.hstack([piece, -piece])


def axopy_layout(root: Path) -> dict:
    """Several subjects, tasks, blocks and arrays, written as axopy 0.2.3 writes them; returns what was written."""
    truth = {}
    for subject, tasks in SUBJECTS.items():
        for task, (blocks, per_block) in tasks.items():
            folder = root / subject / task
            folder.mkdir(parents=True)
            data: dict[str, list] = {}
            rows = []
            for block in range(blocks):
                for trial in range(per_block):
                    attrs = {"target": f"t{trial % 2}", "speed": 0.25 * trial, "ok": trial != 1,
                             "block": block, "trial": trial}
                    for col, val in attrs.items():
                        data.setdefault(col, []).append(val)
                    pd.DataFrame(data).to_csv(folder / "trials.csv", index=False)  # axopy rewrites it each trial
                    row = len(rows)
                    rows.append(attrs)
                    with h5py.File(folder / "emg.hdf5", "a") as f:
                        f.create_dataset(str(row), data=emg(subject, task, row))
                    with h5py.File(folder / "cursor.hdf5", "a") as f:
                        f.create_dataset(str(row), data=np.array([row, -row], dtype=np.int32))
            truth[(subject, task)] = rows
    return truth


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "data"
    truth = axopy_layout(root)
    return root, truth


def test_axopy_layout_reads_back_identically_through_the_library(store):
    root, truth = store
    storage = Storage(root)
    assert list(storage.subject_ids) == ["p0", "p1"]
    storage.subject_id = "p0"
    assert list(storage.task_ids) == ["reach", "rest"]
    for (subject, task), rows in truth.items():
        storage.subject_id = subject
        reader = storage.require_task(task)
        expected = pd.read_csv(root / subject / task / "trials.csv")
        pd.testing.assert_frame_equal(reader.trials, expected)
        assert list(reader.trials.columns) == ["target", "speed", "ok", "block", "trial"]
        assert len(reader.trials) == len(rows) and reader.problems == []
        stacked = reader.array("emg")
        assert stacked.shape == (4 * len(rows), 10)  # numpy.vstack of the trials, as axopy meant
        for row, arr in enumerate(reader.iterarray("emg")):
            np.testing.assert_array_equal(arr, emg(subject, task, row))
            np.testing.assert_array_equal(stacked[4 * row : 4 * row + 4], arr)
        assert reader.array("cursor").dtype == np.int32
    np.testing.assert_array_equal(read_hdf5(root / "p1/reach/emg.hdf5", "3"), emg("p1", "reach", 3))


def test_axopy_layout_reads_back_identically_through_the_workspace(store):
    root, truth = store
    ws = Workspace([root], provenance=False)
    top = ws.summarize(".")
    assert top.format == "experiment" and top.summary.kind == "tree"
    assert [c.name for c in top.summary.children] == ["p0", "p1"]
    detail = top.summary.attrs["subjects"]
    assert detail["p0"]["reach"]["trials"] == 6 and detail["p0"]["rest"]["trials"] == 2
    assert detail["p0"]["reach"]["arrays"]["emg"] == {"trials": 6, "shape": [4, 10], "dtype": "<f8"}
    assert detail["p1"]["reach"]["arrays"]["cursor"] == {"trials": 4, "shape": [2], "dtype": "<i4"}
    assert detail["p0"]["reach"]["columns"] == ["target", "speed", "ok", "block", "trial"]

    task = ws.summarize("p0/reach")  # a task folder itself
    assert task.format == "experiment" and task.summary.attrs["trials"]["n_rows"] == 6
    assert task.summary.attrs["arrays"]["emg"]["shape"] == [4, 10]
    trials = ws.summarize(".", key="p0/reach/trials").summary
    assert trials.kind == "frame" and trials.n_rows == 6 and [c.name for c in trials.columns][:2] == ["target", "speed"]

    page = ws.read_slice(".", key="p0/reach/trials", offset=2, limit=3).slice
    assert page.kind == "frame" and page.total_rows == 6
    assert page.rows == [{k: truth[("p0", "reach")][r][k] for k in page.columns} for r in (2, 3, 4)]
    one = ws.read_slice(".", key="p1/reach/emg/3", selection="1:3, 2:4").slice
    assert one.kind == "array" and one.source_shape == [4, 10]
    assert one.values == emg("p1", "reach", 3)[1:3, 2:4].tolist()
    np.testing.assert_array_equal(ws.load(".", key="p0/rest/emg/1"), emg("p0", "rest", 1))
    assert ws.load(".", key="p0/reach/emg").shape == (24, 10)

    tree = ws.explore(".", "p0", depth=3, limit=3)
    reach = tree.node.children[0]
    assert reach.name == "reach" and reach.n_children == 3
    emg_node = next(c for c in reach.children if c.name == "emg")
    assert [c.shape for c in emg_node.children] == [[4, 10]] * 3 and emg_node.next_offset == 3
    assert ws.key_exists(".", "p1/reach/cursor/3").exists and not ws.key_exists(".", "p1/reach/cursor/x").exists
    # the raw files stay readable as what they are
    raw = ws.explore_h5("p0/reach/emg.hdf5")
    assert raw.format == "hdf5" and raw.node.n_children == 6
    assert ws.summarize("p0/reach/trials.csv").format == "csv"


async def test_axopy_layout_reads_back_identically_through_the_server(store):
    root, truth = store
    async with Client(create_app(Settings(roots=[root]))) as c:
        top = SummaryResult.model_validate((await c.call_tool("load_summary", {"path": "."})).structured_content)
        assert top.format == "experiment" and top.summary.attrs["subjects"]["p1"]["reach"]["trials"] == 4
        page = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": ".", "key": "p0/rest/trials"})).structured_content).slice
        assert page.rows == truth[("p0", "rest")]
        arr = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": ".", "key": "p0/reach/emg/5", "selection": "0"})).structured_content).slice
        assert arr.values == emg("p0", "reach", 5)[0].tolist()
        found = await c.call_tool("find_files", {"pattern": "**/*.hdf5"})
        assert found.structured_content["total"] == 6
        raw = await c.call_tool("explore_h5", {"path": "p1/reach/cursor.hdf5"})
        assert raw.structured_content["node"]["n_children"] == 4


# -- written here, read by axopy's rules ---------------------------------------------------------------

def test_a_store_written_here_is_read_by_axopys_rules_and_by_axopy(tmp_path):
    storage = Storage(tmp_path / "data")
    storage.subject_id = "s1"
    with storage.create_task("reach") as writer:
        for row in range(5):
            arr = TrialArray(stack_axis=1)
            arr.stack(np.full((4, 3), row, dtype=np.float32))
            arr.stack(np.zeros((4, 2), dtype=np.float32))
            assert writer.write({"label": f"x{row}", "gain": row / 3}, {"emg": arr}) == row
    folder = tmp_path / "data/s1/reach"
    trials = pd.read_csv(folder / "trials.csv")  # axopy's reader rules: pandas, then h5py by row index
    assert list(trials.columns) == ["label", "gain", "block", "trial"] and trials["trial"].tolist() == [0, 1, 2, 3, 4]
    assert trials["gain"].tolist() == [r / 3 for r in range(5)]
    with h5py.File(folder / "emg.hdf5", "r") as f:
        assert sorted(f, key=int) == ["0", "1", "2", "3", "4"]
        assert f["3"].shape == (4, 5) and f["3"].chunks is None and f["3"].compression is None
        np.testing.assert_array_equal(f["3"][:, :3], 3)
    assert not (folder / journal.JOURNAL).read_bytes().startswith(journal.MAGIC)  # no pending entry

    from axopy.storage import Storage as AxopyStorage  # axopy 0.2.3 itself (its array() needs NumPy < 2)

    theirs = AxopyStorage(str(tmp_path / "data"))
    theirs.subject_id = "s1"
    reader = theirs.require_task("reach")
    pd.testing.assert_frame_equal(reader.trials, trials)
    assert [a.shape for a in reader.iterarray("emg")] == [(4, 5)] * 5


def test_data_recorded_by_axopys_own_writer_reads_the_same(tmp_path):
    from axopy.design import Design
    from axopy.storage import Storage as AxopyStorage

    theirs = AxopyStorage(str(tmp_path / "data"))
    theirs.subject_id = "p9"
    writer = theirs.create_task("grip")
    design = Design()
    for _ in range(2):
        block = design.add_block()
        for t in range(2):
            trial = block.add_trial(attrs={"force": 1.5 * t})
            trial.add_array("emg", stack_axis=1)
            trial.arrays["emg"].stack(np.ones((2, 3)) * t)
            writer.write(trial)
    ours = Storage(tmp_path / "data")
    ours.subject_id = "p9"
    reader = ours.require_task("grip")
    assert reader.trials.to_dict("records") == [{"force": 1.5 * t, "block": b, "trial": t} for b in (0, 1) for t in (0, 1)]
    assert reader.array("emg").shape == (8, 3)
    # and our writer continues that task where axopy left it
    with ours.open_task("grip") as more:
        assert more.write({"force": 9.0}, {"emg": np.zeros((2, 3))}) == 4
    assert ours.require_task("grip").trials.to_dict("records")[-1] == {"force": 9.0, "block": 1, "trial": 2}


# -- axopy's faults, each with a coded error or the right data ---------------------------------------

def test_ragged_arrays_name_their_trials(tmp_path):
    storage = Storage(tmp_path / "d")
    storage.subject_id = "s"
    with storage.create_task("t") as w:
        for row in range(4):
            w.write({}, {"a": np.zeros((2, 7 if row == 2 else 5))})
    reader = storage.require_task("t")
    with pytest.raises(IOCoreError) as err:
        reader.array("a")
    assert err.value.code == "RAGGED_ARRAYS" and "[2]" in err.value.message
    assert [x.shape for x in reader.iterarray("a")] == [(2, 5), (2, 5), (2, 7), (2, 5)]
    brief = Workspace([tmp_path], provenance=False).summarize("d").summary.attrs["subjects"]["s"]["t"]["arrays"]["a"]
    assert [(g["shape"], g["rows"]) for g in brief["shapes"]] == [([2, 5], [0, 1, 3]), ([2, 7], [2])]


def test_a_trial_without_an_array_is_none_and_stacking_says_which(tmp_path):
    storage = Storage(tmp_path / "d")
    storage.subject_id = "s"
    with storage.create_task("t") as w:
        w.write({"k": 1}, {"a": [1.0, 2.0]})
        w.write({"k": 2})  # no array this trial
        w.write({"k": 3}, {"a": [5.0, 6.0]})
    reader = storage.require_task("t")
    assert [None if x is None else x.tolist() for x in reader.iterarray("a")] == [[1.0, 2.0], None, [5.0, 6.0]]
    with pytest.raises(IOCoreError) as err:
        reader.array("a")
    assert err.value.code == "KEY_NOT_FOUND" and "[1]" in err.value.message
    ws = Workspace([tmp_path], provenance=False)
    assert ws.summarize("d").summary.attrs["subjects"]["s"]["t"]["arrays"]["a"]["missing_rows"] == [1]
    assert code(ws.read_slice, "d", key="s/t/a/1") == "KEY_NOT_FOUND"


def test_a_differing_attribute_is_refused_unless_declared(tmp_path):
    storage = Storage(tmp_path / "d")
    storage.subject_id = "s"
    csv = tmp_path / "d/s/t/trials.csv"
    with storage.create_task("t") as w:
        w.write({"a": 1})
        before = csv.read_bytes()
        assert code(w.write, {"a": 2, "new": "x"}) == "UNDECLARED_ATTRIBUTE"
        assert csv.read_bytes() == before  # nothing rewritten, nothing appended
        w.write({"a": 3})
    with storage.create_task("u", columns=["a", "late"]) as w:
        w.write({"a": 1})
        w.write({"a": 2, "late": "here"})
    frame = storage.require_task("u").trials
    assert list(frame.columns) == ["a", "late", "block", "trial"]
    assert frame["late"].isna().tolist() == [True, False] and frame["trial"].tolist() == [0, 1]
    assert code(storage.open_task, "t", columns=["a", "other"]) == "UNDECLARED_ATTRIBUTE"


def test_zip_round_trip_keeps_the_structure_and_is_browsed_in_place(store, tmp_path):
    root, truth = store
    out = storage_to_zip(root)
    assert out == tmp_path / "data.zip"
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        assert {"data/p0/reach/trials.csv", "data/p1/reach/trials.csv", "data/p0/rest/emg.hdf5"} <= names
        assert zf.read("data/p0/reach/trials.csv") != zf.read("data/p1/reach/trials.csv")
        assert zf.getinfo("data/p0/reach/emg.hdf5").compress_type == zipfile.ZIP_STORED
    ws = Workspace([tmp_path], provenance=False)
    summary = ws.summarize("data.zip")
    assert summary.format == "experiment_zip"
    assert summary.summary.attrs["subjects"]["p0"]["reach"]["arrays"]["emg"]["shape"] == [4, 10]
    page = ws.read_slice("data.zip", key="p0/reach/trials").slice
    assert page.rows == truth[("p0", "reach")]
    np.testing.assert_array_equal(ws.load("data.zip", key="p1/reach/emg/2"), emg("p1", "reach", 2))
    # extracted, it is the same store
    with zipfile.ZipFile(out) as zf:
        zf.extractall(tmp_path / "x")
    again = Storage(tmp_path / "x/data")
    again.subject_id = "p1"
    np.testing.assert_array_equal(again.require_task("reach").array("emg"),
                                  np.vstack([emg("p1", "reach", r) for r in range(4)]))


def test_overwrite_builds_beside_and_swaps_at_the_first_trial(tmp_path):
    storage = Storage(tmp_path / "d", allow_overwrite=True)
    storage.subject_id = "s"
    with storage.create_task("t") as w:
        w.write({"v": "old"}, {"a": [1]})
    assert code(Storage(tmp_path / "d").create_task, "t") in ("INVALID_ARGUMENT", "EXISTS")
    writer = storage.create_task("t")
    assert storage.require_task("t").trials["v"].tolist() == ["old"]  # nothing new yet: the old task is whole
    assert code(storage.open_task, "t") == "TASK_BUSY"  # nor may anyone append to the task being replaced
    writer.write({"v": "new"}, {"a": [2]})
    assert storage.require_task("t").trials["v"].tolist() == ["new"]
    writer.write({"v": "new2"})
    writer.close()
    assert storage.require_task("t").trials["v"].tolist() == ["new", "new2"]
    assert sorted(os.listdir(tmp_path / "d/s")) == ["t"]  # no hidden folder left
    with storage.open_task("t"):  # someone is recording: no overwrite, and no hidden folder left behind
        assert code(storage.create_task, "t") == "TASK_BUSY"
    assert sorted(os.listdir(tmp_path / "d/s")) == ["t"]
    idle = storage.create_task("t")
    idle.close()  # nothing recorded: the task stays as it was
    assert storage.require_task("t").trials["v"].tolist() == ["new", "new2"]
    assert sorted(os.listdir(tmp_path / "d/s")) == ["t"]


def test_pickles_load_only_when_allowed(tmp_path):
    storage = Storage(tmp_path / "d")
    storage.subject_id = "s"
    with storage.create_task("t") as w:
        w.pickle({"model": [1, 2]}, "clf")
        w.write({})
    assert code(storage.require_task("t").pickle, "clf") == "UNSAFE_FORMAT"
    trusted = Storage(tmp_path / "d", allow_pickle=True)
    trusted.subject_id = "s"
    assert trusted.require_task("t").pickle("clf") == {"model": [1, 2]}


def test_every_path_stays_in_the_sandbox(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "outside/s/t").mkdir(parents=True)
    (tmp_path / "outside/s/t/trials.csv").write_text("a,block,trial\n1,0,0\n")
    os.symlink(tmp_path / "outside", tmp_path / "root/link")
    sandbox = Sandbox([tmp_path / "root"])
    assert code(Storage, tmp_path / "root/link", sandbox=sandbox) == "PATH_OUTSIDE_ROOT"
    assert code(Storage, "../outside", sandbox=sandbox) == "PATH_OUTSIDE_ROOT"
    storage = Storage(tmp_path / "root/ok", sandbox=sandbox)
    assert code(setattr, storage, "subject_id", "../x") == "INVALID_ARGUMENT"
    os.symlink(tmp_path / "outside/s", tmp_path / "root/ok/s")
    assert list(storage.subject_ids) == []  # a subject that is a link out of the roots is not listed
    ws = Workspace([tmp_path / "root"], provenance=False)
    assert code(ws.summarize, "link") == "PATH_OUTSIDE_ROOT"
    assert code(write_hdf5, tmp_path / "outside/x.hdf5", [1], sandbox=sandbox) == "PATH_OUTSIDE_ROOT"
    write_hdf5(tmp_path / "root/w.hdf5", [1, 2], "d", sandbox=sandbox)
    assert read_hdf5(tmp_path / "root/w.hdf5", "d", sandbox=sandbox).tolist() == [1, 2]


# -- what a crash leaves ---------------------------------------------------------------------------------

def _task(tmp_path, n=3):
    storage = Storage(tmp_path / "d")
    storage.subject_id = "s"
    with storage.create_task("t") as w:
        for row in range(n):
            w.write({"q": f"a,{row}"}, {"a": np.full(3, row)})  # quoted values
    return storage, tmp_path / "d/s/t"


def test_a_torn_record_is_reported_never_parsed_and_cut_by_the_next_writer(tmp_path):
    storage, folder = _task(tmp_path)
    with open(folder / "trials.csv", "ab") as fh:
        fh.write(b'"a,9')  # a record cut inside its quoted field
    reader = storage.require_task("t")
    assert len(reader.trials) == 3 and any("torn" in p for p in reader.problems)
    with open(folder / "trials.csv", "ab") as fh:
        fh.write(b'\nmore",0,3')  # ends in a newline yet still inside the quotes
    assert len(storage.require_task("t").trials) == 3
    with storage.open_task("t") as w:
        assert w.recovered["torn_record_bytes"] > 0
        assert w.write({"q": "z"}, {"a": np.full(3, 3)}) == 3
    reader = storage.require_task("t")
    assert reader.trials["q"].tolist() == ["a,0", "a,1", "a,2", "z"] and reader.problems == []


def test_arrays_without_a_row_are_ignored_reported_and_replaced(tmp_path):
    storage, folder = _task(tmp_path)
    with h5py.File(folder / "a.hdf5", "a") as f:  # a crash after the arrays, before the row
        f.create_dataset("3", data=np.full(3, 99))
    reader = storage.require_task("t")
    assert len(list(reader.iterarray("a"))) == 3 and any("['3']" in p for p in reader.problems)
    with storage.open_task("t") as w:
        w.write({"q": "new"}, {"a": np.full(3, 7)})
    assert storage.require_task("t").array("a")[-1].tolist() == [7, 7, 7]


def test_a_half_applied_trial_write_is_refused_then_repaired(tmp_path):
    """A crash inside step 2 (the journal applied to the files in part): arrays INTERRUPTED_WRITE, rows intact."""
    storage, folder = _task(tmp_path)
    dirfd = os.open(folder, os.O_RDONLY)
    try:
        files = journal.ArrayFiles(dirfd)
        files.file("a.hdf5").create_dataset("3", data=np.full(3, 3))
        files.file("a.hdf5").flush()
        pending = [ov.pending() for ov, _ in files.open.values()]
        journal.write_journal(dirfd, pending, {"row": 3})
        half = [dict(pending[0], extents=pending[0]["extents"][:1])]
        journal.apply(dirfd, half)  # ... and the process dies here
        files.open.clear()
        assert journal.state(dirfd)[0] == "partial"
    finally:
        os.close(dirfd)
    reader = storage.require_task("t")
    assert len(reader.trials) == 3
    assert code(lambda: list(reader.iterarray("a"))) == "INTERRUPTED_WRITE"
    assert code(storage.to_zip) == "INTERRUPTED_WRITE"
    with storage.open_task("t") as w:  # the next writer finishes it: dataset 3 exists, row 3 never committed
        assert w.recovered["finished_write"] == {"row": 3}
    reader = storage.require_task("t")
    assert reader.array("a").tolist() == [[0] * 3, [1] * 3, [2] * 3]
    with h5py.File(folder / "a.hdf5", "r") as f:
        assert f["3"][()].tolist() == [3, 3, 3]


CRASH_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from io_core.stores.experiment import Storage
    storage = Storage(sys.argv[1])
    storage.subject_id = "s"
    with storage.open_task("t") as w:
        row = w.n_trials
        print("ready", row, flush=True)
        while True:
            got = w.write({"i": row, "label": f"l{row},x"}, {"a": np.full((4, 50), row, dtype="f8"),
                                                          "b": np.arange(row % 7 + 1)})
            assert got == row
            print(row, flush=True)
            row += 1
""")


def _check_store(path: Path, committed: int) -> int:
    """Every committed trial is there, every row is whole and right; the number of rows."""
    storage = Storage(path)
    storage.subject_id = "s"
    reader = storage.require_task("t")
    frame = reader.trials
    n = len(frame)
    assert n >= committed
    if n == 0:  # killed before the first row
        return 0
    assert frame["i"].tolist() == list(range(n)) and frame["label"].tolist() == [f"l{r},x" for r in range(n)]
    assert frame["trial"].tolist() == list(range(n))
    for row, (a, b) in enumerate(zip(reader.iterarray("a"), reader.iterarray("b"), strict=True)):
        assert a.shape == (4, 50) and (a == row).all() and b.tolist() == list(range(row % 7 + 1))
    return n


def test_sigkill_at_random_points_loses_no_committed_trial(tmp_path):
    rng = random.Random(13)
    store = tmp_path / "crash"
    committed, kills, interrupted = 0, 0, 0
    deadline = time.monotonic() + 20
    while kills < 12 and time.monotonic() < deadline:
        proc = subprocess.Popen([sys.executable, "-c", CRASH_WRITER, str(store)], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        assert line.startswith("ready"), line
        assert int(line.split()[1]) >= committed
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        done = [int(x) for x in out.split()]
        if done:
            committed = max(done) + 1
        kills += 1
        try:  # readers never write: straight after the kill, unless a trial write was half applied
            _check_store(store, committed)
        except IOCoreError as exc:
            assert exc.code == "INTERRUPTED_WRITE", exc
            interrupted += 1
    assert kills >= 8 and committed > 20
    storage = Storage(store)
    storage.subject_id = "s"
    storage.open_task("t").close()  # a writer repairs whatever the last kill left
    n = _check_store(store, committed)
    with h5py.File(store / "s/t/a.hdf5", "r") as f:  # plain h5py agrees
        assert all(f[str(r)][0, 0] == r for r in range(n))


# -- through the server ----------------------------------------------------------------------------------

async def test_record_trial_through_the_server_is_committed_browsable_and_in_the_ledger(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    async with Client(create_app(Settings(roots=[root]))) as c:
        tools = {t.name: t for t in await c.list_tools()}
        hints = tools["record_trial"].annotations
        assert hints.read_only_hint is False and hints.destructive_hint is True
        for row in range(3):
            res = (await c.call_tool("record_trial", {
                "store": "lab", "subject": "p1", "task": "reach", "attrs": {"target": f"t{row}", "x": row * 0.5},
                "arrays": {"emg": [[row, row + 1], [row + 2, row + 3]]}, "dtype": "float32"})).structured_content
            assert res["row"] == row and res["n_trials"] == row + 1 and res["recorded"] is True
            assert res["arrays"] == {"emg": {"shape": [2, 2], "dtype": "<f4"}}
        bad = await c.call_tool("record_trial", {"store": "lab", "subject": "p1", "task": "reach",
                                                 "attrs": {"nope": 1}}, raise_on_error=False)
        assert bad.is_error and bad.content[0].text.startswith("UNDECLARED_ATTRIBUTE:")
        escape = await c.call_tool("record_trial", {"store": "../x", "subject": "p", "task": "t", "attrs": {}},
                                   raise_on_error=False)
        assert escape.is_error and escape.content[0].text.startswith("PATH_OUTSIDE_ROOT:")
        history = FileProvenance.model_validate((await c.call_tool(
            "file_provenance", {"path": "lab/p1/reach/trials.csv"})).structured_content)
        assert [r.operation for r in history.records] == ["record_trial"] * 3
        assert history.records[0].arguments["row"] == 2
        ok = VerifyResult.model_validate((await c.call_tool(
            "verify_file", {"path": "lab/p1/reach/trials.csv"})).structured_content)
        assert ok.status == "OK"
        page = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": "lab", "key": "p1/reach/trials"})).structured_content).slice
        assert [r["target"] for r in page.rows] == ["t0", "t1", "t2"] and page.rows[2]["trial"] == 2
        arr = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": "lab", "key": "p1/reach/emg/2"})).structured_content).slice
        assert arr.values == [[2.0, 3.0], [4.0, 5.0]] and arr.dtype == "<f4"
    before = {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}
    async with Client(create_app(Settings(roots=[root], read_only=True))) as c:
        assert "record_trial" not in {t.name for t in await c.list_tools()}
        summary = await c.call_tool("load_summary", {"path": "lab"})  # browsing stays, and writes nothing
        assert summary.structured_content["summary"]["attrs"]["subjects"]["p1"]["reach"]["trials"] == 3
        for key in ("p1/reach", "p1/reach/trials", "p1/reach/emg", "p1/reach/emg/0"):
            assert not (await c.call_tool("load_summary", {"path": "lab", "key": key})).is_error, key
        assert not (await c.call_tool("explore_h5", {"path": "lab/p1/reach/emg.hdf5"})).is_error
    assert {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")} == before
