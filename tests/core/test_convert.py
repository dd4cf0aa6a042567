"""Workspace.convert: streamed where both sides allow, whole otherwise, always through save (atomic, ledger)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from io_core import IOCoreError, Workspace
from io_core import convert as conv
from io_core.formats import common

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace([tmp_path])


@pytest.fixture()
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv, "CHUNK_ROWS", 1000)
    monkeypatch.setattr(common, "SLAB_BYTES", 4096)  # array slabs are cut by the formats' shared helper


def _err(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _last(ws: Workspace, path: str):
    return ws.file_provenance(path).records[0]


def _table(n: int = 5500) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({"i": np.arange(n), "x": rng.normal(size=n), "s": [f"row {k} ✓" for k in range(n)],
                         "b": np.arange(n) % 3 == 0})


@pytest.mark.parametrize("dst", ["t.parquet", "t.feather", "t.arrow", "t.tsv", "t.jsonl", "t.csv.gz"])
def test_tables_stream_in_chunks_and_match_a_whole_conversion(ws, tmp_path, small_chunks, dst):
    ws.save(_table(), "t.csv")
    res = ws.convert("t.csv", dst)
    rec = _last(ws, dst)
    assert rec.operation == "convert" and rec.arguments["streamed"] is True and rec.arguments["source_format"] == "csv"
    assert [i.path for i in rec.inputs] == ["t.csv"] and rec.inputs[0].sha256 == ws.verify_file("t.csv").sha256
    assert res.sha256 == ws.verify_file(dst).sha256 and res.format == ws.summarize(dst).format
    pd.testing.assert_frame_equal(ws.load(dst), ws.load("t.csv"))
    lineage = ws.file_provenance(dst).lineage
    assert lineage[0].path == "t.csv" and lineage[0].operation == "save"


def test_streamed_parquet_has_one_row_group_per_chunk(ws, tmp_path, small_chunks):
    import pyarrow.parquet as pq

    ws.save(_table(), "t.csv")
    ws.convert("t.csv", "t.parquet")
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups == 6


def test_a_type_change_in_a_later_chunk_falls_back_to_a_whole_conversion(ws, tmp_path, small_chunks):
    lines = ["n,label"] + [f"{k},a" for k in range(1500)] + ["2.5,b"]  # ints, then a float in chunk 2
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ws.convert("m.csv", "m.parquet")
    got = ws.load("m.parquet")
    assert got["n"].dtype == np.float64 and got["n"].iloc[-1] == 2.5 and len(got) == 1501
    assert _last(ws, "m.parquet").arguments["streamed"] is False
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["m.csv", "m.parquet"]


def test_a_column_by_key_and_an_sqlite_table_by_key(ws, tmp_path, small_chunks):
    ws.save(_table(), "t.csv")
    ws.convert("t.csv", "x.parquet", key="x")
    assert list(ws.load("x.parquet").columns) == ["x"]
    ws.save({"a": _table(3000), "b": {"k": [1, 2]}}, "d.db")
    ws.convert("d.db", "a.parquet", key="a")
    assert _last(ws, "a.parquet").arguments["streamed"] is True
    pd.testing.assert_frame_equal(ws.load("a.parquet"), _table(3000))
    assert _err(ws.convert, "d.db", "all.parquet").code == "KEY_NOT_FOUND"  # two tables: which one?
    ws.convert("t.csv", "from_csv.db")
    assert list(ws.load("from_csv.db")) == ["t"]  # the table is named after the source file


def test_arrays_stream_slab_by_slab(ws, tmp_path, small_chunks):
    data = np.arange(4000, dtype=np.float32).reshape(200, 20)
    ws.save({"grp": {"d": data}, "other": [1, 2]}, "s.h5")
    ws.convert("s.h5", "d.npy", key="grp/d")
    np.testing.assert_array_equal(ws.load("d.npy"), data)
    assert _last(ws, "d.npy").arguments == {
        "format": "npy", "overwrite": False, "dtype": None, "source_format": "hdf5", "key": "grp/d", "streamed": True}
    ws.convert("d.npy", "back.h5")
    np.testing.assert_array_equal(ws.load("back.h5")["data"], data)
    assert _err(ws.convert, "s.h5", "tree.npz").code == "INVALID_DATA"  # no key: the whole tree; npz is flat
    ws.convert("s.h5", "grp.h5", key="grp")  # a group: not one array, so it goes whole
    np.testing.assert_array_equal(ws.load("grp.h5")["d"], data)
    assert _last(ws, "grp.h5").arguments["streamed"] is False
    ws.convert("s.h5", "tree.mat")
    got = ws.load("tree.mat")
    np.testing.assert_array_equal(got["grp"]["d"], data)


def test_whole_conversions_adapt_the_data(ws, tmp_path):
    ws.save({"st": {"a": [[1.0, 2.0]], "name": "x"}}, "m.mat")
    ws.convert("m.mat", "m.h5")
    assert ws.load("m.h5")["st"]["a"].tolist() == [[1.0, 2.0]]
    ws.save(np.arange(6).reshape(3, 2), "a.npy")
    ws.convert("a.npy", "a.csv")
    assert ws.load("a.csv").to_dict("list") == {"0": [0, 2, 4], "1": [1, 3, 5]}
    ws.save(np.zeros((2, 2, 2)), "c.npy")
    assert _err(ws.convert, "c.npy", "c.csv").code == "INVALID_DATA"
    ws.save(pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}), "f.parquet")
    assert _err(ws.convert, "f.parquet", "f.npy").code == "INVALID_DATA"  # mixed columns are not one array
    ws.convert("f.parquet", "f.h5")
    assert ws.load("f.h5")["s"].tolist() == ["x", "y"]
    ws.convert("f.parquet", "f.json")
    assert ws.load("f.json") == [{"a": 1, "s": "x"}, {"a": 2, "s": "y"}]
    ws.convert("f.json", "f.yaml")
    ws.convert("f.yaml", "f2.json")
    assert ws.load("f2.json") == ws.load("f.json")
    ws.save([{"ENTRYTYPE": "book", "ID": "k1", "title": "T"}], "r.bib")
    ws.convert("r.bib", "r.json")
    ws.convert("r.json", "r2.bib")
    assert ws.load("r2.bib") == ws.load("r.bib")
    ws.save({"one": [{"a": 1}], "two": [{"b": 2}]}, "w.xlsx")
    assert "key=" in _err(ws.convert, "w.xlsx", "w.csv").hint
    ws.convert("w.xlsx", "two.csv", key="two")
    assert ws.load("two.csv").to_dict("list") == {"b": [2]}
    ws.save("<a>ünï</a>\n", "x.xml")
    ws.convert("x.xml", "x.txt")
    assert ws.load("x.txt") == "<a>ünï</a>\n"
    assert _err(ws.convert, "x.xml", "x.npy").code == "INVALID_DATA"


def test_refusals(ws, tmp_path):
    ws.save({"a": [1]}, "t.csv")
    ws.save({"b": [2]}, "old.parquet")
    before = (tmp_path / "old.parquet").read_bytes()
    assert _err(ws.convert, "t.csv", "old.parquet").code == "EXISTS"
    assert (tmp_path / "old.parquet").read_bytes() == before
    assert ws.convert("t.csv", "old.parquet", overwrite=True).overwritten is True
    assert ws.load("old.parquet").to_dict("list") == {"a": [1]}
    assert _err(ws.convert, "t.csv", "t.csv", overwrite=True).code == "INVALID_DATA"
    assert _err(ws.convert, "../outside.csv", "x.parquet").code == "PATH_OUTSIDE_ROOT"
    assert _err(ws.convert, "t.csv", "../x.parquet").code == "PATH_OUTSIDE_ROOT"
    assert _err(ws.convert, "missing.csv", "x.parquet").code == "FILE_NOT_FOUND"
    assert _err(ws.convert, "t.csv", "x.weird").code == "FORMAT_UNKNOWN"
    assert _err(Workspace([tmp_path], read_only=True).convert, "t.csv", "y.parquet").code == "READ_ONLY"
    ws.convert("t.csv", "blob", dst_format="parquet")
    assert ws.load("blob").to_dict("list") == {"a": [1]}  # parquet found by its magic bytes


def test_a_corrupt_source_fails_cleanly_mid_stream(ws, tmp_path, small_chunks):
    ws.save(_table(), "t.parquet")
    raw = (tmp_path / "t.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(raw[:100] + raw[-2000:])
    err = _err(ws.convert, "cut.parquet", "out.csv")
    assert err.code == "CORRUPT_FILE" and "cut.parquet" in err.message
    assert not (tmp_path / "out.csv").exists()
    assert not [p for p in tmp_path.iterdir() if ".sciio-tmp-" in p.name]


_RSS = """
import json, resource, sys
from io_core import Workspace
ws = Workspace([sys.argv[1]])
ws.convert("warm.npy", "warm.h5")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
ws.convert("big.npy", "big.h5")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_kib": after - before}))
"""


def test_streamed_array_conversion_keeps_memory_bounded(tmp_path):
    mm = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float64, shape=(4000, 5000))  # 160 MB
    mm[::100] = 1.0
    mm.flush()
    del mm
    np.save(tmp_path / "warm.npy", np.arange(10.0))
    proc = subprocess.run([sys.executable, "-c", _RSS, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    growth = json.loads(proc.stdout.strip().splitlines()[-1])["growth_kib"] * 1024
    assert growth < 80_000_000, growth  # half the array; whole would be 160 MB and more
    import h5py

    with h5py.File(tmp_path / "big.h5", "r") as f:
        assert f["data"].shape == (4000, 5000) and f["data"][100, 7] == 1.0 and f["data"][101, 7] == 0.0
