"""Issue 5 part A beyond the shared conformance cases: what each new format keeps, refuses and shows.

Feather/Arrow, xlsx, JSON Lines, MATLAB (v4/v5 by scipy, v7.3 in MATLAB's HDF5 layout),
NetCDF-4/-3, TOML, XML/SVG/HTML (safe parsing), BibTeX, SQLite (read-only) and pickles
(never unpickled unless allowed). Reference files are made by each format's own library.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import pickle
import sqlite3
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from test_conformance import CASES, OWN_LIBRARY_SUITES, REFERENCE_SUITES  # the one suite, same folder

import io_core
from io_core import IOCoreError, Workspace
from io_core.registry import BUILTIN_FORMATS, REGISTRY, Registry

BUDGET = 32768


def _err(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


# -- the count the issue asks for ------------------------------------------------------------------

def test_at_least_30_extensions_load_and_summarize_each_in_the_suite():
    infos = io_core.list_formats()
    working = sorted({ext for info in infos if info.available and {"load", "summarize"} <= set(info.operations)
                      for ext in info.extensions})
    assert len(working) >= 30, working
    exercised = {c.ext for c in CASES}
    by_name = {s.name: s for s in BUILTIN_FORMATS}
    for info in infos:
        if not info.available or info.kind == "user" or info.name not in by_name:
            continue
        for ext in info.extensions:
            assert ext in exercised or info.name in REFERENCE_SUITES or info.name in OWN_LIBRARY_SUITES, \
                f"{info.name} {ext} is not in the suite"


def test_optional_libraries_are_listed_as_unavailable_with_an_install_hint(tmp_path):
    infos = {i.name: i for i in io_core.list_formats()}
    for name, module in (("joblib", "joblib"), ("torch", "torch")):
        installed = REGISTRY.is_available(REGISTRY.spec(name))
        assert infos[name].available is installed
        if not installed:
            assert infos[name].install_hint.startswith("pip install " + module)
            (tmp_path / f"x.{'pt' if name == 'torch' else 'joblib'}").write_bytes(b"\x80\x04N.")
            err = _err(Workspace([tmp_path], allow_pickle=True).load, f"x.{'pt' if name == 'torch' else 'joblib'}")
            assert err.code == "MISSING_DEPENDENCY" and module in err.hint


# -- pickles: never executed unless allowed -------------------------------------------------------

class _Trap:
    """Unpickling this runs os.mkdir(marker): proof that a pickle was (or was not) executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("ext", [".pkl", ".pickle", ".pkl.gz"])
def test_pickles_are_refused_and_never_unpickled(tmp_path, ext):
    marker = tmp_path / "PWNED"
    payload = pickle.dumps({"trap": _Trap(marker), "x": np.arange(3)}, protocol=5)
    (tmp_path / ("evil" + ext)).write_bytes(gzip.compress(payload) if ext.endswith(".gz") else payload)
    ws = Workspace([tmp_path])
    for op in (ws.load, ws.summarize, lambda p: ws.read_slice(p), lambda p: ws.convert(p, "out.json"),
               lambda p: io_core.load(tmp_path / p)):
        err = _err(op, "evil" + ext)
        assert err.code == "UNSAFE_FORMAT" and "--allow-pickle" in err.hint
        assert "protocol 5" in err.message and "mkdir" in err.message  # what it would import, read without running it
    assert not marker.exists() and not (tmp_path / "out.json").exists()
    Workspace([tmp_path], allow_pickle=True).load("evil" + ext)  # allowed, it runs: the test can see that
    assert marker.exists()


@pytest.mark.parametrize("ext", [".pkl", ".pkl.gz"])
def test_broken_pickles_are_corrupt_even_when_pickle_is_off(tmp_path, ext):
    ws = Workspace([tmp_path])
    ws_ok = Workspace([tmp_path], allow_pickle=True)
    ws_ok.save({"a": list(range(1000))}, "good" + ext)
    raw = (tmp_path / ("good" + ext)).read_bytes()
    # fixed junk: random bytes are now and then a valid pickle ("N." is one), so urandom made this flaky
    junk = bytes(range(256))[::-1] * 12
    for name, data in (("empty", b""), ("cut", raw[: len(raw) // 2]), ("junk", junk)):
        (tmp_path / (name + ext)).write_bytes(data)
        for w in (ws, ws_ok):
            assert _err(w.load, name + ext).code == "CORRUPT_FILE", name
    assert _err(ws.load, "good" + ext).code == "UNSAFE_FORMAT"


def test_allowed_pickle_summary_describes_without_printing_everything(tmp_path):
    ws = Workspace([tmp_path], allow_pickle=True)
    obj = {"weights": np.zeros((512, 256), dtype=np.float32), "frame": pd.DataFrame({"a": range(1000)}),
           "history": list(range(100_000)), "text": "x" * 1_000_000, "config": {"lr": 0.01, "layers": [64, 32]}}
    ws.save(obj, "model.pkl")
    res = ws.summarize("model.pkl", max_bytes=BUDGET)
    assert len(res.model_dump_json()) <= BUDGET
    s = res.summary
    assert s.kind == "value" and s.type == "dict" and s.length == 5
    assert s.keys == ["weights", "frame", "history", "text", "config"]
    assert s.preview["weights"] == "<ndarray shape=512x256 dtype=float32>"
    assert s.preview["frame"].startswith("<DataFrame 1000 rows x 1 columns")
    assert s.preview["history"][-1] == "… 99980 more" and len(s.preview["text"]) < 1000
    assert s.preview["config"] == {"lr": 0.01, "layers": [64, 32]}
    arr = ws.summarize("model.pkl", key="weights").summary
    assert arr.kind == "array" and arr.shape == [512, 256]
    assert ws.read_slice("model.pkl", key="weights", selection="0, 0:3").slice.values == [0.0, 0.0, 0.0]


# -- feather / arrow ---------------------------------------------------------------------------

def test_feather_keeps_index_and_reads_pages_and_counts_from_metadata(ws, tmp_path, monkeypatch):
    df = pd.DataFrame({"v": np.arange(5, dtype=np.int16), "s": list("abcde")}, index=pd.Index([9, 8, 7, 6, 5], name="id"))
    ws.save(df, "t.feather")
    pd.testing.assert_frame_equal(ws.load("t.feather"), df)
    assert ws.summarize("t.feather").summary.index == "id:int64"
    import pyarrow as pa
    from pyarrow import feather

    big = pd.DataFrame({"a": np.arange(300_000), "b": np.arange(300_000) * 0.5})
    feather.write_feather(pa.Table.from_pandas(big), tmp_path / "big.arrow", chunksize=50_000, compression="zstd")
    from io_core.formats import tabular_extra

    monkeypatch.setattr(tabular_extra, "SMALL_TABLE_BYTES", 0)  # the header-only path
    s = ws.summarize("big.arrow").summary
    assert (s.n_rows, s.n_rows_exact, s.n_columns) == (300_000, True, 2) and s.columns[0].stats.exact is False
    exact = ws.summarize("big.arrow", exact_stats=True).summary
    assert exact.columns[0].stats.exact and exact.columns[0].stats.max == 299_999
    page = ws.read_slice("big.arrow", offset=149_998, limit=4, columns=["b"]).slice
    assert page.rows == [{"b": 74_999.0}, {"b": 74_999.5}, {"b": 75_000.0}, {"b": 75_000.5}]
    assert page.total_rows == 300_000 and page.next_offset == 150_002
    assert list(ws.load("big.arrow", key="b").columns) == ["b"]
    assert _err(ws.load, "big.arrow", key="nope").code == "KEY_NOT_FOUND"
    assert (tmp_path / "t.feather").read_bytes()[:6] == b"ARROW1"


# -- xlsx ------------------------------------------------------------------------------------------

def test_xlsx_sheets_keys_and_pages(ws, tmp_path, monkeypatch):
    ws.save({"runs": [{"id": 1, "ok": True}, {"id": 2, "ok": False}], "notes": {"text": ["ünïcode ✓"]}}, "b.xlsx")
    book = ws.load("b.xlsx")
    assert list(book) == ["runs", "notes"] and book["runs"]["id"].tolist() == [1, 2]
    assert ws.load("b.xlsx", key="notes")["text"].tolist() == ["ünïcode ✓"]
    s = ws.summarize("b.xlsx").summary
    assert s.kind == "tree" and [(c.name, c.shape) for c in s.children] == [("runs", [2, 2]), ("notes", [1, 1])]
    one = ws.summarize("b.xlsx", key="runs").summary
    assert one.kind == "frame" and one.n_rows == 2 and [c.name for c in one.columns] == ["id", "ok"]
    assert ws.read_slice("b.xlsx", key="runs", offset=1).slice.rows == [{"id": 2, "ok": False}]
    assert _err(ws.load, "b.xlsx", key="nope").code == "KEY_NOT_FOUND"
    assert _err(ws.save, {"bad/name": [{"a": 1}]}, "c.xlsx").code == "INVALID_DATA"
    # a big sheet: the summary takes its size from the dimension record and reads the first rows only
    ws.save(pd.DataFrame({"x": np.arange(5000), "y": np.arange(5000) * 2.0}), "big.xlsx")
    from io_core.formats import tabular_extra

    monkeypatch.setattr(tabular_extra, "SMALL_XLSX_BYTES", 0)
    big = ws.summarize("big.xlsx").summary
    assert (big.n_rows, big.n_rows_exact) == (5000, True) and big.columns[0].stats.exact is False
    assert big.head[0] == {"x": 0, "y": 0.0}


# -- JSON Lines ------------------------------------------------------------------------------------

def test_jsonl_records_values_nulls_and_bad_lines(ws, tmp_path):
    ws.save([{"a": 1, "b": float("nan"), "t": pd.Timestamp("2024-01-02")}, {"a": 2, "c": "x"}], "r.jsonl")
    lines = (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"a": 1, "b": null, "t": "2024-01-02T00:00:00"}'
    df = ws.load("r.jsonl")
    assert list(df.columns) == ["a", "b", "t", "c"] and df["a"].tolist() == [1, 2]
    ws.save([1, "two", [3], {"four": 4}], "v.jsonl")  # JSON Lines of any values
    assert ws.load("v.jsonl") == [1, "two", [3], {"four": 4}]
    assert ws.summarize("v.jsonl").summary.kind == "value"
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n\n{"a": 2}\n{"a": \n', encoding="utf-8")
    err = _err(ws.load, "bad.jsonl")
    assert err.code == "CORRUPT_FILE" and "line 4" in err.message
    ws.save({"k": list(range(250))}, "p.jsonl")
    page = ws.read_slice("p.jsonl", offset=240, limit=20).slice
    assert [r["k"] for r in page.rows] == list(range(240, 250)) and page.total_rows == 250
    assert ws.load("p.jsonl")["k"].dtype == np.int64
    x = 0.1 + 0.2  # floats keep every digit
    ws.save([{"x": x}], "f.jsonl")
    assert ws.load("f.jsonl")["x"].iloc[0] == x


# -- MATLAB ----------------------------------------------------------------------------------------

def test_mat_structs_cells_strings_and_names(ws, tmp_path):
    import scipy.io

    ws.save({"st": {"a": [1, 2, 3], "label": "hello", "inner": {"d": 1.5}}, "flag": [True, False], "z": [1 + 2j]}, "r.mat")
    got = ws.load("r.mat")
    assert got["st"]["label"].tolist() == ["hello"] and got["st"]["inner"]["d"].tolist() == [[1.5]]
    assert got["flag"].dtype == bool and got["flag"].tolist() == [[True, False]]
    assert got["z"].dtype == np.complex128
    assert ws.load("r.mat", key="st/a").tolist() == [[1, 2, 3]]
    s = ws.summarize("r.mat").summary
    assert [(c.name, c.kind, c.shape, c.dtype) for c in s.children] == [
        ("st", "group", [1, 1], "struct"), ("flag", "array", [1, 2], "logical"), ("z", "array", [1, 1], "double")]
    assert s.attrs["mat_version"] == "5"
    # cells made by scipy itself load as lists
    scipy.io.savemat(tmp_path / "cells.mat", {"c": np.array([np.arange(2), "ab"], dtype=object)})
    cell = ws.load("cells.mat")["c"]
    assert isinstance(cell, list) and cell[0].tolist() == [[0, 1]] and cell[1].tolist() == ["ab"]
    for bad in ({"_x": [1]}, {"1x": [1]}, {"a-b": [1]}, {"ok": {"bad name": [1]}}):
        assert _err(ws.save, bad, "bad.mat").code == "INVALID_DATA"
    assert not (tmp_path / "bad.mat").exists()


def test_mat_v4_reference_file(ws, tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "v4.mat", {"x": np.arange(6.0).reshape(2, 3)}, format="4")
    np.testing.assert_array_equal(ws.load("v4.mat")["x"], np.arange(6.0).reshape(2, 3))
    s = ws.summarize("v4.mat").summary
    assert s.attrs == {"mat_version": "4"} and s.children[0].shape == [2, 3]
    assert ws.read_slice("v4.mat", key="x", selection="1, :").slice.values == [3.0, 4.0, 5.0]


def _v73(path: Path) -> np.ndarray:
    """A MAT 7.3 file in MATLAB's layout: a 512-byte header, column-major datasets, MATLAB_class."""
    a = np.arange(12.0).reshape(3, 4)
    with h5py.File(path, "w", userblock_size=512) as f:
        ds = f.create_dataset("A", data=a.T)  # MATLAB writes column-major: HDF5 sees the transpose
        ds.attrs["MATLAB_class"] = np.bytes_("double")
        s = f.create_dataset("s", data=np.array([[ord(c)] for c in "héllo"], dtype=np.uint16))
        s.attrs["MATLAB_class"] = np.bytes_("char")
        s.attrs["MATLAB_int_decode"] = np.int32(2)
        b = f.create_dataset("flag", data=np.array([[1], [0]], dtype=np.uint8))
        b.attrs["MATLAB_class"] = np.bytes_("logical")
        g = f.create_group("st")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        g.create_dataset("x", data=np.array([[7.0]])).attrs["MATLAB_class"] = np.bytes_("double")
        refs = f.create_group("#refs#")
        r0 = refs.create_dataset("a", data=np.array([[1.0, 2.0]]).T)
        r0.attrs["MATLAB_class"] = np.bytes_("double")
        cell = f.create_dataset("c", data=np.array([[r0.ref]], dtype=h5py.ref_dtype))
        cell.attrs["MATLAB_class"] = np.bytes_("cell")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")
    return a


def test_mat_v73_through_h5py(ws, tmp_path):
    a = _v73(tmp_path / "v73.mat")
    got = ws.load("v73.mat")
    np.testing.assert_array_equal(got["A"], a)
    assert got["s"].tolist() == ["héllo"] and got["flag"].tolist() == [[True, False]]
    assert list(got["st"]) == ["x"] and got["st"]["x"].tolist() == [[7.0]]
    assert got["c"][0].tolist() == [[1.0, 2.0]] and "#refs#" not in got
    s = ws.summarize("v73.mat").summary
    assert s.attrs["mat_version"] == "7.3"
    assert {c.name: (c.shape, c.dtype) for c in s.children}["A"] == ([3, 4], "double")
    one = ws.summarize("v73.mat", key="A").summary
    assert one.kind == "array" and one.shape == [3, 4] and one.head[:5] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert ws.read_slice("v73.mat", key="A", selection="1:3, -1").slice.values == [7.0, 11.0]
    assert ws.read_slice("v73.mat", key="A", selection="..., 0").slice.values == [0.0, 4.0, 8.0]
    assert _err(ws.load, "v73.mat", key="#refs#").code == "KEY_NOT_FOUND"
    # convert to a plain HDF5 file, transposed back to MATLAB's shape
    ws.convert("v73.mat", "plain.h5", key="A")
    np.testing.assert_array_equal(ws.load("plain.h5")["A"], a)


def test_mat_cut_inside_a_variable_is_corrupt_even_for_the_header_summary(ws, tmp_path):
    ws.save({"a": np.arange(10_000.0), "b": np.ones((50, 50))}, "x.mat")
    raw = (tmp_path / "x.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(raw[: len(raw) - 100])
    for op in (ws.load, ws.summarize):
        err = _err(op, "cut.mat")
        assert err.code == "CORRUPT_FILE" and "truncated" in err.message


# -- NetCDF ----------------------------------------------------------------------------------------

def test_netcdf4_made_by_h5netcdf_dims_attrs_groups_and_slices(ws, tmp_path):
    import h5netcdf

    with h5netcdf.File(tmp_path / "ref.nc", "w") as f:
        f.attrs["title"] = "reference ✓"
        f.dimensions = {"time": 4, "lat": 3}
        t = f.create_variable("time", ("time",), data=np.arange(4.0))
        t.attrs["units"] = "days since 2000-01-01"
        v = f.create_variable("temp", ("time", "lat"), data=np.arange(12, dtype="f4").reshape(4, 3), chunks=(2, 3),
                              compression="gzip")
        v.attrs["units"] = "K"
        g = f.create_group("station")
        g.create_variable("id", ("lat",), data=np.array([7, 8, 9]))
    s = ws.summarize("ref.nc").summary
    assert s.kind == "tree" and [c.name for c in s.children] == ["time", "temp", "station"]
    assert s.attrs["dimensions"] == {"time": 4, "lat": 3} and s.attrs["variable_dims"]["temp"] == ["time", "lat"]
    assert s.attrs["attributes"] == {"title": "reference ✓"} and s.attrs["format"] == "NetCDF-4"
    temp = ws.summarize("ref.nc", key="temp").summary
    assert temp.shape == [4, 3] and temp.chunks == [2, 3] and temp.compression == "gzip"
    assert "dims (time=4, lat=3)" in temp.note and "units='K'" in temp.note
    assert ws.read_slice("ref.nc", key="temp", selection="3, ::2").slice.values == [9.0, 11.0]
    assert ws.load("ref.nc", key="station/id").tolist() == [7, 8, 9]
    assert ws.load("ref.nc")["station"]["id"].tolist() == [7, 8, 9]
    assert "dims (lat=3)" in ws.summarize("ref.nc", key="station/id").summary.note  # the parent's dimension


def test_netcdf3_classic_made_by_scipy(ws, tmp_path):
    import scipy.io

    with scipy.io.netcdf_file(tmp_path / "c.nc", "w") as f:
        f.history = "scipy"
        f.createDimension("time", None)
        f.createDimension("x", 3)
        v = f.createVariable("temp", "f4", ("time", "x"))
        v[:] = np.arange(6, dtype="f4").reshape(2, 3)
        v.units = "K"
    assert ws.load("c.nc")["temp"].tolist() == [[0, 1, 2], [3, 4, 5]]
    s = ws.summarize("c.nc").summary
    assert s.attrs["format"] == "NetCDF-3 classic" and s.attrs["dimensions"] == {"time": 2, "x": 3}
    assert ws.read_slice("c.nc", key="temp", selection="1").slice.values == [3.0, 4.0, 5.0]
    assert ws.summarize("c.nc", key="temp").summary.note == "dims (time=2, x=3); attrs units='K'"


def test_netcdf_save_types(ws, tmp_path):
    ws.save({"flag": [True, False], "names": ["a", "ünï"], "grp": {"x": [1.5]}}, "t.nc")
    got = ws.load("t.nc")
    assert got["flag"].dtype == bool and got["names"].tolist() == ["a", "ünï"] and got["grp"]["x"].tolist() == [1.5]
    assert _err(ws.save, {"c": [1j]}, "c.nc").code == "INVALID_DATA"


# -- TOML, XML, SVG, HTML --------------------------------------------------------------------------

def test_toml_types_and_refusals(ws, tmp_path):
    (tmp_path / "c.toml").write_text('when = 2024-01-02T03:04:05Z\n[model]\nlr = 1e-3\n', encoding="utf-8")
    doc = ws.load("c.toml")
    assert doc["when"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC) and ws.load("c.toml", key="model/lr") == 0.001
    assert ws.summarize("c.toml").summary.preview["when"] == "2024-01-02T03:04:05+00:00"
    assert _err(ws.save, {"a": None}, "n.toml").code == "INVALID_DATA"
    assert _err(ws.save, [1, 2], "l.toml").code == "INVALID_DATA"
    (tmp_path / "bad.toml").write_text("a = [1,\n", encoding="utf-8")
    assert _err(ws.load, "bad.toml").code == "CORRUPT_FILE"


_LAUGHS = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n' + "".join(
    f' <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">\n' for i in range(1, 10)
) + ']>\n<lolz><title>&lol9;</title></lolz>\n'


def test_xml_entities_are_never_expanded_nor_fetched(ws, tmp_path):
    (tmp_path / "laughs.xml").write_text(_LAUGHS, encoding="utf-8")
    start = time.monotonic()
    s = ws.summarize("laughs.xml").summary
    assert time.monotonic() - start < 2
    assert s.preview["root"] == "lolz" and s.preview["entities_declared"] == "10 (not expanded)"
    assert s.preview["title"] == ""  # the entity was not expanded
    assert ws.load("laughs.xml") == _LAUGHS  # loads as the text itself
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    xxe = f'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>\n<r><title>&x;</title></r>\n'
    (tmp_path / "xxe.xml").write_text(xxe, encoding="utf-8")
    assert "TOP-SECRET" not in ws.summarize("xxe.xml").model_dump_json()
    assert ws.load("xxe.xml") == xxe


def test_xml_svg_structure_and_refusals(ws, tmp_path):
    ws.save('<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48" viewBox="0 0 64 48"><g/><g/></svg>', "p.svg")
    s = ws.summarize("p.svg").summary
    assert (s.type, s.preview["width"], s.preview["height"], s.preview["viewBox"]) == ("svg", "64", "48", "0 0 64 48")
    assert s.preview["namespace"] == "http://www.w3.org/2000/svg" and s.preview["children"] == {"g": 2}
    (tmp_path / "not.svg").write_text("<html><body/></html>", encoding="utf-8")
    assert _err(ws.load, "not.svg").code == "CORRUPT_FILE"
    assert _err(ws.save, "<a><b></a>", "bad.xml").code == "INVALID_DATA"
    assert _err(ws.save, "<html/>", "bad.svg").code == "INVALID_DATA"
    assert not (tmp_path / "bad.xml").exists()
    ws.save("<a>\n  <b/>\n</a>\n", "x.xml")
    assert ws.read_slice("x.xml", offset=1).slice.lines == ["  <b/>", "</a>"]
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?>\n<a>Café</a>\n'
    ws.save(latin, "l.xml")  # written in the encoding it declares
    assert (tmp_path / "l.xml").read_bytes() == latin.encode("latin-1")
    assert ws.load("l.xml") == latin and ws.summarize("l.xml").summary.preview["encoding"] == "iso8859-1"
    assert _err(ws.save, latin.replace("Café", "日本"), "l2.xml").code == "INVALID_DATA"  # not in Latin-1


def test_html_title_headings_and_declared_charset(ws, tmp_path):
    ws.save('<html lang="de"><head><title> Läufe ✓ </title></head><body><h1>Eins</h1><h2>Zwei</h2>'
            '<a href="x">x</a><p>broken <b>markup</body>', "p.html")
    s = ws.summarize("p.html").summary
    assert (s.preview["title"], s.preview["lang"], s.preview["headings"], s.preview["n_links"]) == (
        "Läufe ✓", "de", ["h1: Eins", "h2: Zwei"], 1)
    latin = '<html><head><meta charset="iso-8859-1"><title>Café</title></head></html>'
    (tmp_path / "l.htm").write_bytes(latin.encode("latin-1"))
    assert ws.load("l.htm") == latin and ws.summarize("l.htm").summary.preview["title"] == "Café"


# -- BibTeX ----------------------------------------------------------------------------------------

def test_bib_keeps_keys_fields_and_refuses_what_it_cannot_write(ws, tmp_path):
    src = ('@String{jan = "January"}\n'
           '@Article{Smith2020,\n  author = {Smith, J. and Doe, A.},\n  Title = "A {DNA} Study",\n'
           '  year = 2020,\n  month = jan,\n}\n\n@book{b1, title={T}}\n')
    (tmp_path / "ref.bib").write_text(src, encoding="utf-8")
    records = ws.load("ref.bib")
    assert records == [
        {"ENTRYTYPE": "article", "ID": "Smith2020", "author": "Smith, J. and Doe, A.", "Title": "A {DNA} Study",
         "year": "2020", "month": "January"},
        {"ENTRYTYPE": "book", "ID": "b1", "title": "T"},
    ]
    ws.save(records, "out.bib")
    assert ws.load("out.bib") == records  # keys, field names (with their case) and values survive
    assert "@article{Smith2020," in (tmp_path / "out.bib").read_text(encoding="utf-8")
    assert ws.load("out.bib", key="b1") == [records[1]]
    s = ws.summarize("ref.bib").summary
    assert s.length == 2 and s.preview["entry_types"] == {"article": 1, "book": 1} and s.preview["n_strings"] == 1
    one = ws.summarize("ref.bib", key="b1").summary
    assert one.length == 1 and one.preview["entry_types"] == {"book": 1} and one.preview["n_strings"] == 1
    assert _err(ws.summarize, "ref.bib", key="nope").code == "KEY_NOT_FOUND"
    for bad in ([{"ID": "x"}], [{"ENTRYTYPE": "misc"}], [{"ENTRYTYPE": "misc", "ID": "a b"}],
                [{"ENTRYTYPE": "misc", "ID": "k", "title": "{unbalanced"}], [{"ENTRYTYPE": "misc", "ID": "k", "n": [1]}],
                [{"ENTRYTYPE": "misc", "ID": "k"}, {"ENTRYTYPE": "misc", "ID": "k"}], "text"):
        assert _err(ws.save, bad, "bad.bib").code == "INVALID_DATA", bad
    (tmp_path / "broken.bib").write_text("@article{ok, title={x}}\n\n@misc{y, note={never closed\n", encoding="utf-8")
    err = _err(ws.load, "broken.bib")
    assert err.code == "CORRUPT_FILE" and "line 3" in err.message


# -- SQLite ----------------------------------------------------------------------------------------

def _db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute('CREATE TABLE "odd ""name" (a INTEGER PRIMARY KEY, b TEXT, c REAL)')
    con.executemany('INSERT INTO "odd ""name" VALUES (?, ?, ?)', [(i, f"r{i}", i / 2) for i in range(500)])
    con.execute("CREATE TABLE other (x BLOB)")
    con.execute("CREATE VIEW v AS SELECT a FROM \"odd \"\"name\"")
    con.commit()
    con.close()


def test_sqlite_is_opened_read_only_and_summarized_from_the_schema(ws, tmp_path):
    _db(tmp_path / "ref.db")
    before = (tmp_path / "ref.db").read_bytes(), (tmp_path / "ref.db").stat().st_mtime_ns
    s = ws.summarize("ref.db").summary
    assert [(c.name, c.shape) for c in s.children] == [('odd "name', [500, 3]), ("other", [0, 1])]
    assert s.attrs["schema"]["other"] == "CREATE TABLE other (x BLOB)" and s.attrs["views"] == ["v"]
    t = ws.summarize("ref.db", key='odd "name').summary
    assert t.kind == "frame" and t.n_rows == 500 and t.columns[2].stats.max == 249.5
    page = ws.read_slice("ref.db", key='odd "name', offset=498, columns=["b"]).slice
    assert page.rows == [{"b": "r498"}, {"b": "r499"}] and page.total_rows == 500
    assert ws.read_slice("ref.db", key='odd "name', limit=1).slice.rows == [{"a": 0, "b": "r0", "c": 0.0}]
    assert set(ws.load("ref.db")) == {'odd "name', "other"}
    assert _err(ws.read_slice, "ref.db").code == "KEY_NOT_FOUND"  # two tables: which one?
    assert _err(ws.load, "ref.db", key="missing").code == "KEY_NOT_FOUND"
    assert ((tmp_path / "ref.db").read_bytes(), (tmp_path / "ref.db").stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["ref.db"]  # no journal


def test_sqlite_in_wal_mode_and_types_round_trip(ws, tmp_path):
    _db(tmp_path / "wal.sqlite")
    con = sqlite3.connect(tmp_path / "wal.sqlite")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("INSERT INTO other VALUES (x'00ff')")
    con.commit()
    try:  # read as immutable: the committed row still in the -wal is not seen, and the summary says so
        assert ws.load("wal.sqlite", key="other")["x"].tolist() == []
        assert "not yet checkpointed" in ws.summarize("wal.sqlite").summary.attrs["note"]
    finally:
        con.close()  # the last connection checkpoints the WAL into the database
    ws.clear_cache()
    assert ws.load("wal.sqlite", key="other")["x"].tolist() == [b"\x00\xff"]
    assert sorted(p.name for p in tmp_path.iterdir() if "wal" in p.name) == ["wal.sqlite"]  # no -wal/-shm made
    df = pd.DataFrame({"when": pd.to_datetime(["2024-01-01 10:00", "2024-02-01 00:00"]), "ok": [True, False],
                       "n": [1, None]}, index=pd.Index(["a", "b"], name="key"))
    ws.save({"t": df}, "typed.db")
    got = ws.load("typed.db", key="t")
    assert list(got.columns) == ["key", "when", "ok", "n"] and got["ok"].dtype == bool
    assert got["when"].tolist() == df["when"].tolist() and np.isnan(got["n"].iloc[1])


def test_sqlite_truncated_and_mismatched_files(ws, tmp_path):
    _db(tmp_path / "ref.db")
    raw = (tmp_path / "ref.db").read_bytes()
    (tmp_path / "cut.db").write_bytes(raw[: len(raw) // 2])
    err = _err(ws.summarize, "cut.db")
    assert err.code == "CORRUPT_FILE" and "truncated" in err.message
    (tmp_path / "db.csv").write_bytes(raw)  # a database named .csv: the error says what it is
    err = _err(ws.load, "db.csv")
    assert err.code == "CORRUPT_FILE" and "format='sqlite'" in err.hint
    assert ws.summarize("db.csv", format="sqlite").summary.n_children == 2


# -- content that does not match the extension, for the new formats --------------------------------

@pytest.mark.parametrize(
    ("data_ext", "data", "named_ext", "real_fmt"),
    [
        (".mat", {"x": [1.0]}, ".npy", "mat"),
        (".feather", {"a": [1]}, ".parquet", "feather"),
        (".nc", {"x": [1.0]}, ".mat", "hdf5"),  # NetCDF-4 is HDF5 inside
        (".db", {"t": {"a": [1]}}, ".xlsx", "sqlite"),
        (".h5", {"x": [1.0]}, ".nc", None),  # plain HDF5 opens as NetCDF-4 (phony dimensions)
        (".npy", [1, 2], ".jsonl", "npy"),
        (".parquet", {"a": [1]}, ".sqlite", "parquet"),
        (".xlsx", {"a": [1]}, ".mat", None),
    ],
)
def test_new_formats_content_not_matching_extension(ws, tmp_path, data_ext, data, named_ext, real_fmt):
    ws.save(data, "real" + data_ext)
    (tmp_path / ("liar" + named_ext)).write_bytes((tmp_path / ("real" + data_ext)).read_bytes())
    if real_fmt is None and named_ext == ".nc":
        assert ws.load("liar.nc")["x"].tolist() == [1.0]
        return
    for op in (ws.load, ws.summarize):
        err = _err(op, "liar" + named_ext)
        assert err.code == "CORRUPT_FILE" and err.hint
        if real_fmt is not None:
            assert f"format={real_fmt!r}" in err.hint, err


def test_a_private_registry_without_entry_points_still_has_every_builtin():
    reg = Registry(BUILTIN_FORMATS)
    assert set(reg.specs) == {s.name for s in BUILTIN_FORMATS}
