"""One conformance suite over every built-in format.

For each format: round trip (values, dtype, shape, order, index where the format keeps
them), summary kind and contents, a bounded summary of a big object, corrupt input
(empty, truncated, garbage) and content that does not match the extension. Then the
safety rules (no unpickling, no YAML object tags, header-only .npy summaries) and the
JSON-ish inputs an agent sends to ``save``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest

import io_core
from io_core import IOCoreError, Workspace
from io_core.registry import BUILTIN_FORMATS
from tests.formats import doc_samples as docs
from tests.formats import video_samples as videos

REPO = Path(__file__).resolve().parents[2]
BUDGET = 32768
SLOW = 10.0  # seconds; generous bound for "fails fast instead of hanging"


# -- sample data -------------------------------------------------------------------------------

def _frame() -> pd.DataFrame:
    # deliberately unsorted column order
    return pd.DataFrame({
        "zeta": np.array([3, -1, 7], dtype=np.int64),
        "alpha": np.array([0.5, 1.25, -2.0], dtype=np.float64),
        "mid": ["x", "héllo", "日本"],
        "flag": [True, False, True],
    })


def _arrays() -> dict[str, np.ndarray]:
    return {"ints": np.arange(12, dtype=np.int32).reshape(3, 4), "floats": np.linspace(0, 1, 5)}


def _document() -> dict[str, Any]:
    return {"name": "run-7", "ünïcode": "日本語", "n": 3, "ratio": 0.25, "ok": True, "none": None,
            "nested": {"list": [1, 2, [3, 4]], "empty": {}}, "z_last": []}


def _text() -> str:
    return "first line\nsecond: ünïcode ✓\r\nthird without newline"


def _check_frame(orig: pd.DataFrame, got: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, orig)


def _check_arrays(orig: dict, got: dict) -> None:
    assert list(got) == list(orig)
    for k, want in orig.items():
        assert got[k].dtype == want.dtype and got[k].shape == want.shape
        np.testing.assert_array_equal(got[k], want)


def _check_equal(orig: Any, got: Any) -> None:
    assert got == orig
    if isinstance(orig, dict):
        assert list(got) == list(orig)  # key order kept


def _check_array(orig: np.ndarray, got: np.ndarray) -> None:
    assert isinstance(got, np.ndarray) and got.dtype == orig.dtype and got.shape == orig.shape
    np.testing.assert_array_equal(got, orig)


@dataclass(frozen=True)
class Case:
    ext: str
    fmt: str
    kind: str  # summary kind of the whole file
    sample: Callable[[], Any]
    check: Callable[[Any, Any], None]
    text_based: bool = False  # a cut file is indistinguishable from a shorter valid one
    # (sample, path): writes the file with the format's own library, for formats sciio reads but does not write
    make: Callable[[Any, Path], None] | None = None


CASES = [
    Case(".npy", "npy", "array", lambda: np.arange(20, dtype=np.float32).reshape(4, 5), _check_array),
    Case(".npz", "npz", "tree", _arrays, _check_arrays),
    Case(".csv", "csv", "frame", _frame, _check_frame, text_based=True),
    Case(".csv.gz", "csv", "frame", _frame, _check_frame),
    Case(".tsv", "tsv", "frame", _frame, _check_frame, text_based=True),
    Case(".tab", "tsv", "frame", _frame, _check_frame, text_based=True),
    Case(".tsv.gz", "tsv", "frame", _frame, _check_frame),
    Case(".parquet", "parquet", "frame", _frame, _check_frame),
    Case(".pq", "parquet", "frame", _frame, _check_frame),
    Case(".json", "json", "value", _document, _check_equal),
    Case(".yaml", "yaml", "value", _document, _check_equal, text_based=True),
    Case(".yml", "yaml", "value", _document, _check_equal, text_based=True),
    Case(".txt", "text", "text", _text, _check_equal, text_based=True),
    Case(".md", "text", "text", lambda: "# Title\n\n* ünïcode ✓\n", _check_equal, text_based=True),
    Case(".log", "text", "text", lambda: "12:00 INFO start\n12:01 WARN ✓\n", _check_equal, text_based=True),
    Case(".h5", "hdf5", "tree", _arrays, _check_arrays),
    Case(".hdf5", "hdf5", "tree", _arrays, _check_arrays),
    Case(".he5", "hdf5", "tree", _arrays, _check_arrays),
]

# -- issue 5 part A: more tables, MATLAB, NetCDF, markup, BibTeX, SQLite, pickles ----------------
def _check_mat(orig: dict, got: dict) -> None:
    """MATLAB has no 1-D arrays: a vector comes back as a 1xN row (matlab.py docstring)."""
    assert list(got) == list(orig)
    for k, value in orig.items():
        want = np.atleast_2d(value)
        assert got[k].dtype == want.dtype and got[k].shape == want.shape
        np.testing.assert_array_equal(got[k], want)


def _toml_doc() -> dict[str, Any]:  # TOML has no null; tables come after plain keys
    return {"name": "run-7", "ünïcode": "日本語", "n": 3, "ratio": 0.25, "ok": True, "list": [1, 2, [3, 4]],
            "empty": [], "nested": {"a": 1, "deep": {"x": "y"}}, "z_last": {}}


def _bib() -> list[dict[str, str]]:
    return [
        {"ENTRYTYPE": "article", "ID": "smith2020", "author": "Smith, J. and Müller, Ä.",
         "Title": "A {DNA} study of ünïcode", "journal": "J. Tests", "year": "2020"},
        {"ENTRYTYPE": "misc", "ID": "doe:2021-x", "howpublished": "\\url{https://example.org}", "note": "two, parts"},
    ]


def _tables() -> dict[str, pd.DataFrame]:
    return {"measurements": _frame(), "runs": pd.DataFrame({"id": [1, 2], "label": ["a", "b"]})}


def _check_tables(orig: dict, got: dict) -> None:
    assert list(got) == list(orig)
    for k, want in orig.items():
        pd.testing.assert_frame_equal(got[k], want)


def _pyobject() -> dict[str, Any]:
    return {"name": "run-7", "weights": np.arange(12.0).reshape(3, 4), "nested": {"list": [1, (2, 3)], "set": {1, 2}},
            "frame": _frame(), "none": None}


def _check_pyobject(orig: dict, got: dict) -> None:
    assert list(got) == list(orig)
    _check_array(orig["weights"], got["weights"])
    pd.testing.assert_frame_equal(got["frame"], orig["frame"])
    assert got["nested"] == orig["nested"] and got["name"] == orig["name"] and got["none"] is None


_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<run id="7"><title>ünïcode ✓</title><step n="1"/><step n="2"/></run>\n'
_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="48" viewBox="0 0 64 48"><rect width="8" height="8"/></svg>\n'
_HTML = '<!DOCTYPE html>\n<html lang="en"><head><title>Run 7 ✓</title></head><body><h1>Results</h1></body></html>\n'
# an empty file of these is a valid, empty document (the others are CORRUPT_FILE)
EMPTY_IS_VALID = {"toml": {}, "html": "", "bibtex": []}
PICKLE_FORMATS = ("pickle", "pickle_gz", "joblib", "torch")

CASES += [
    Case(".feather", "feather", "frame", _frame, _check_frame),
    Case(".arrow", "feather", "frame", _frame, _check_frame),
    Case(".xlsx", "xlsx", "frame", _frame, _check_frame),
    Case(".jsonl", "jsonl", "frame", _frame, _check_frame, text_based=True),
    Case(".ndjson", "jsonl", "frame", _frame, _check_frame, text_based=True),
    Case(".mat", "mat", "tree", _arrays, _check_mat),
    Case(".nc", "netcdf", "tree", _arrays, _check_arrays),
    Case(".nc4", "netcdf", "tree", _arrays, _check_arrays),
    Case(".toml", "toml", "value", _toml_doc, _check_equal, text_based=True),
    Case(".xml", "xml", "value", lambda: _XML, _check_equal),
    Case(".svg", "svg", "value", lambda: _SVG, _check_equal),
    Case(".html", "html", "value", lambda: _HTML, _check_equal, text_based=True),
    Case(".htm", "html", "value", lambda: _HTML, _check_equal, text_based=True),
    Case(".rst", "text", "text", lambda: "Title\n=====\n\n* ünïcode ✓\n", _check_equal, text_based=True),
    Case(".bib", "bibtex", "value", _bib, _check_equal, text_based=True),
    Case(".db", "sqlite", "tree", _tables, _check_tables),
    Case(".sqlite", "sqlite", "tree", _tables, _check_tables),
    Case(".sqlite3", "sqlite", "tree", _tables, _check_tables),
    Case(".pkl", "pickle", "value", _pyobject, _check_pyobject),
    Case(".pickle", "pickle", "value", _pyobject, _check_pyobject),
    Case(".pkl.gz", "pickle_gz", "value", _pyobject, _check_pyobject),
    Case(".pickle.gz", "pickle_gz", "value", _pyobject, _check_pyobject),
    Case(".joblib", "joblib", "value", _pyobject, _check_pyobject),
    Case(".pt", "torch", "value", _pyobject, _check_pyobject),  # torch is not installed here: see MISSING
    Case(".pth", "torch", "value", _pyobject, _check_pyobject),
]
def _picture(mode: str) -> Callable[[], np.ndarray]:
    def make() -> np.ndarray:
        y, x = np.mgrid[0:48, 0:64]
        grey = ((x * 4 + y * 2) % 256).astype(np.uint8)
        if mode == "L":
            return grey
        channels = [grey, (255 - grey), ((x * 7) % 256).astype(np.uint8)]
        if mode == "RGBA":
            channels.append(np.full_like(grey, 200))
        return np.stack(channels, axis=-1)

    return make


def _check_lossy(orig: np.ndarray, got: np.ndarray) -> None:
    assert got.shape == orig.shape and got.dtype == np.uint8
    assert np.abs(got.astype(int) - orig.astype(int)).mean() < 8  # JPEG: close, not equal


CASES += [
    Case(".png", "png", "image", _picture("RGBA"), _check_array),
    Case(".jpg", "jpeg", "image", _picture("RGB"), _check_lossy),
    Case(".jpeg", "jpeg", "image", _picture("L"), _check_lossy),
    Case(".tif", "tiff", "image", _picture("RGB"), _check_array),
    Case(".tiff", "tiff", "image", _picture("L"), _check_array),
    Case(".bmp", "bmp", "image", _picture("RGB"), _check_array),
    Case(".gif", "gif", "image", _picture("L"), _check_array),
]


# -- audio (soundfile) and EEG/MEG recordings (MNE) -------------------------------------------
def _sound(dtype: str) -> Callable[[], dict[str, Any]]:
    def make() -> dict[str, Any]:
        t = np.arange(8000 * 2) / 8000
        wave = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 97 * t)], axis=1)
        data = (wave * 20000).astype(dtype) if dtype == "int16" else (wave * 0.8).astype(dtype)
        return {"samplerate": 8000, "data": data}

    return make


def _check_sound(orig: dict, got: dict) -> None:
    assert list(got) == ["samplerate", "data"] and got["samplerate"] == orig["samplerate"]
    _check_array(orig["data"], got["data"])


def _check_sound_lossy(orig: dict, got: dict) -> None:  # Vorbis: close, not equal
    assert got["samplerate"] == orig["samplerate"] and got["data"].shape == orig["data"].shape
    assert got["data"].dtype == np.float32
    assert np.abs(got["data"] - orig["data"]).mean() < 0.02


def _recording() -> Any:
    import mne

    info = mne.create_info(["Fz", "Cz", "Pz", "EOG"], 128.0, ["eeg", "eeg", "eeg", "eog"])
    rng = np.random.default_rng(7)
    raw = mne.io.RawArray(rng.normal(scale=2e-5, size=(4, 128 * 3)), info, verbose="error")
    raw.set_meas_date(1_700_000_000)
    raw.set_annotations(mne.Annotations([0.5, 1.25], [0.25, 0.0], ["stim", "resp"]), verbose="error")
    return raw


def _check_recording(exact: bool) -> Callable[[Any, Any], None]:
    def check(orig: Any, got: Any) -> None:
        assert type(got).__module__.startswith("mne.io") and not got.preload  # header only
        assert got.ch_names == orig.ch_names and got.info["sfreq"] == orig.info["sfreq"]
        assert got.n_times == orig.n_times
        data, want = got.get_data(), orig.get_data()
        if exact:  # FIF: types and double-precision values kept
            np.testing.assert_array_equal(data, want)
            assert got.get_channel_types() == orig.get_channel_types()
        else:  # exports quantize: EDF to 16 bits of each channel's range, the others to float32 / 24 bits
            np.testing.assert_allclose(data, want, rtol=0, atol=np.abs(want).max() * 1e-4)
        np.testing.assert_allclose(got.annotations.onset - got.first_time, [0.5, 1.25], atol=1 / 128)
        assert [d.split("/")[-1] for d in got.annotations.description] == ["stim", "resp"]

    return check


CASES += [
    Case(".wav", "wav", "audio", _sound("int16"), _check_sound),
    Case(".flac", "flac", "audio", _sound("int16"), _check_sound),
    Case(".ogg", "ogg", "audio", _sound("float32"), _check_sound_lossy),
    Case(".oga", "ogg", "audio", _sound("float32"), _check_sound_lossy),
    Case(".fif", "fif", "recording", _recording, _check_recording(exact=True)),
    Case(".fif.gz", "fif", "recording", _recording, _check_recording(exact=True)),
    Case(".edf", "edf", "recording", _recording, _check_recording(exact=False)),
    Case(".bdf", "bdf", "recording", _recording, _check_recording(exact=False)),
    Case(".vhdr", "brainvision", "recording", _recording, _check_recording(exact=False)),
    Case(".set", "eeglab", "recording", _recording, _check_recording(exact=False)),
]
# -- issue 16: documents and workbooks sciio reads, made by their own libraries (tests/formats/doc_samples.py) --
_PDF_DOC = {"pages": ["Results of run 7\nalpha = 0.25", "Second page: beta", "Third page (gamma)"],
            "info": {"Title": "Run 7", "Author": "sciio tests"},
            "outline": [("Results", 0, 0), ("Beta", 1, 1), ("Gamma", 2, 0)]}
_DOCX_BLOCKS = [("heading", ("Run 7", 0)), ("heading", ("Results", 1)), ("paragraph", "alpha is 0.25 ✓"),
                ("table", [["name", "value"], ["a", "1.5"], ["b", "2"]]), ("paragraph", "End.")]


def _check_pdf(orig: dict, got: dict) -> None:
    assert [p.strip() for p in got["pages"]] == orig["pages"]
    assert {k: got["info"][k] for k in orig["info"]} == orig["info"]
    assert [(e["title"], e["page"], e["level"]) for e in got["outline"]] == orig["outline"]


def _check_docx(orig: list, got: dict) -> None:
    assert list(got) == ["paragraphs", "table0"]
    assert got["paragraphs"]["text"].tolist() == ["Run 7", "Results", "alpha is 0.25 ✓", "End."]
    assert got["paragraphs"]["level"].tolist() == [0, 1, None, None]
    assert got["paragraphs"]["style"].tolist()[:3] == ["Title", "Heading 1", "Normal"]
    pd.testing.assert_frame_equal(got["table0"], pd.DataFrame({"name": ["a", "b"], "value": [1.5, 2.0]}))


CASES += [
    Case(".pdf", "pdf", "value", lambda: _PDF_DOC, _check_pdf,
         make=lambda doc, path: docs.make_pdf(path, doc["pages"], doc["info"], doc["outline"])),
    Case(".docx", "docx", "tree", lambda: _DOCX_BLOCKS, _check_docx, make=lambda blocks, path: docs.make_docx(path, blocks)),
    Case(".xls", "xls", "frame", _frame, _check_frame, make=docs.make_xls),
    Case(".xlsm", "xlsm", "frame", _frame, _check_frame, make=docs.make_xlsm),
]


# -- issue 16: video sciio reads, written by PyAV (tests/formats/video_samples.py); load gives (frames, H, W, 3) --
def _check_video(ext: str) -> Callable[[Any, Any], None]:
    def check(orig: np.ndarray, got: np.ndarray) -> None:
        assert isinstance(got, np.ndarray) and got.shape == orig.shape and got.dtype == np.uint8
        assert videos.which_frames(got, ext) == list(range(len(orig)))  # every frame, in order

    return check


def _make_video(data: Any, path: Path) -> None:
    videos.write_video(path, **(data if isinstance(data, dict) else {}))


CASES += [Case(ext, videos.FORMAT[ext], "video", lambda: videos.ORIGINALS, _check_video(ext), make=_make_video)
          for ext in videos.EXTS]


def _write(ws: Workspace, tmp_path: Path, case: Case, data: Any, name: str) -> None:
    """``data`` into ``name``: saved by sciio, or made by the format's own library (``case.make``)."""
    if case.make is not None:
        case.make(data, tmp_path / name)
    else:
        ws.save(data, name)


def _installed(case: Case) -> bool:
    from io_core.registry import REGISTRY

    return REGISTRY.is_available(REGISTRY.spec(case.fmt))


# formats whose library is not installed here (torch) are checked for honest refusal instead
MISSING = [c for c in CASES if not _installed(c)]
CASES = [c for c in CASES if _installed(c)]
IDS = [c.ext.lstrip(".") for c in CASES]
H5_EXTS = [".h5", ".hdf5"]


@pytest.mark.parametrize("case", MISSING, ids=[c.ext.lstrip(".") for c in MISSING])
def test_formats_without_their_library_are_listed_unavailable_and_refused(tmp_path, case):
    from io_core.registry import REGISTRY

    info = next(f for f in REGISTRY.list_formats() if f.name == case.fmt)
    assert not info.available and info.install_hint.startswith("pip install")
    (tmp_path / ("x" + case.ext)).write_bytes(b"\x80\x04N.")
    err = _code(Workspace([tmp_path], allow_pickle=True).load, "x" + case.ext)
    assert err.code == "MISSING_DEPENDENCY" and "pip install" in err.hint


@pytest.fixture()
def ws(tmp_path: Path, request: pytest.FixtureRequest) -> Workspace:
    """A workspace on tmp_path; a case's format must be installed, pickle cases allow pickle."""
    case = request.node.callspec.params.get("case") if hasattr(request.node, "callspec") else None
    if isinstance(case, Case):
        return Workspace([tmp_path], allow_pickle=case.fmt in PICKLE_FORMATS)
    return Workspace([tmp_path])


def _code(fn: Callable, *args: Any, **kwargs: Any) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _valid_file(ws: Workspace, tmp_path: Path, case: Case, name: str = "valid") -> Path:
    _write(ws, tmp_path, case, case.sample(), name + case.ext)
    return tmp_path / (name + case.ext)


# load-only stores made by their own library are tested in their own module
REFERENCE_SUITES = {"zarr": "test_zarr.py", "zarr_zip": "test_zarr.py", "gdf": "test_eeg.py", "cnt": "test_eeg.py",
                    "experiment": "../stores/test_experiment.py",
                    "experiment_zip": "../stores/test_experiment.py", "result_store": "../stores/test_results.py"}


# formats whose files the tests make with the format's own library (astropy, nibabel): their own module, which
# covers summary, slices, previews, conversion, saving and corrupt input against that library
OWN_LIBRARY_SUITES = {"fits": "test_fits.py", "nifti": "test_nifti.py", "nifti_pair": "test_nifti.py",
                      "ndr": "test_bundles.py", "ndc": "test_bundles.py"}


def test_every_builtin_extension_is_in_the_suite():
    covered = {c.ext for c in CASES + MISSING}
    for spec in BUILTIN_FORMATS:
        if spec.name in REFERENCE_SUITES:
            assert not spec.can_save and (Path(__file__).parent / REFERENCE_SUITES[spec.name]).exists()
            continue
        if spec.name in OWN_LIBRARY_SUITES:
            assert (Path(__file__).parent / OWN_LIBRARY_SUITES[spec.name]).exists()
            continue
        for ext in spec.extensions:
            assert ext in covered, f"{spec.name} {ext} has no conformance case"
    assert {c.fmt for c in CASES + MISSING} == {s.name for s in BUILTIN_FORMATS} - set(REFERENCE_SUITES) - set(
        OWN_LIBRARY_SUITES)


# -- round trip and summary kind, every format ------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_round_trip_and_summary_kind(ws, tmp_path, case):
    data = case.sample()
    if case.make is not None:
        case.make(data, tmp_path / ("rt" + case.ext))
    else:
        result = ws.save(data, "rt" + case.ext)
        assert result.format == case.fmt
        assert result.size_bytes == (tmp_path / ("rt" + case.ext)).stat().st_size > 0
    case.check(case.sample(), ws.load("rt" + case.ext))
    summary = ws.summarize("rt" + case.ext, max_bytes=BUDGET)
    assert summary.format == case.fmt
    assert summary.summary.kind == case.kind
    assert len(summary.model_dump_json()) <= BUDGET
    # module-level API goes through the same code
    case.check(case.sample(), io_core.load(tmp_path / ("rt" + case.ext), allow_pickle=case.fmt in PICKLE_FORMATS))


# -- arrays: dtypes, shapes, order -----------------------------------------------------------------

ARRAY_DTYPES = ["int8", "float32", "float64", "bool", "complex128"]
ARRAY_SHAPES = [(3, 4), (), (0,), (0, 3), (2, 3, 2)]


def _array(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape, dtype=np.int64))
    base = np.arange(n) - n // 2
    if dtype == "bool":
        arr = base % 2 == 0
    elif dtype == "complex128":
        arr = base + 1j * base[::-1]
    else:
        arr = base
    return np.asarray(arr, dtype=dtype).reshape(shape)


@pytest.mark.parametrize("dtype", ARRAY_DTYPES)
@pytest.mark.parametrize("shape", ARRAY_SHAPES, ids=str)
def test_npy_round_trip_dtypes_and_shapes(ws, dtype, shape):
    arr = _array(dtype, shape)
    ws.save(arr, "a.npy")
    got = ws.load("a.npy")
    _check_array(arr, got)
    s = ws.summarize("a.npy").summary
    assert s.kind == "array"
    assert s.shape == list(shape)
    assert s.dtype == arr.dtype.str
    assert s.nbytes == arr.nbytes
    assert len(s.head) == min(arr.size, 20)
    if dtype in ("int8", "float32", "float64") and arr.size:
        assert s.stats is not None and s.stats.exact is True
        assert s.stats.min == arr.min() and s.stats.max == arr.max() and s.stats.count == arr.size
    if dtype == "complex128" and arr.size:
        first = arr.reshape(-1)[0]
        assert s.head[0] == {"real": first.real, "imag": first.imag}


def test_npy_fortran_order_is_kept(ws):
    arr = np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4))
    ws.save(arr, "f.npy")
    got = ws.load("f.npy")
    _check_array(arr, got)
    assert got.flags.f_contiguous and not got.flags.c_contiguous
    s = ws.summarize("f.npy").summary
    assert s.fortran_order is True
    assert s.head[:5] == [0.0, 1.0, 2.0, 3.0, 4.0]  # head is in C order whatever the layout


@pytest.mark.parametrize("dtype", ARRAY_DTYPES)
def test_npz_round_trip_dtypes_and_shapes(ws, dtype):
    members = {f"s{i}": _array(dtype, shape) for i, shape in enumerate(ARRAY_SHAPES)}
    members["fortran"] = np.asfortranarray(_array(dtype, (3, 4)))
    ws.save(members, "a.npz")
    got = ws.load("a.npz")
    _check_arrays(members, got)
    assert got["fortran"].flags.f_contiguous
    s = ws.summarize("a.npz").summary
    assert s.kind == "tree" and s.n_children == len(members)
    assert [(c.name, c.shape, c.dtype) for c in s.children] == [
        (k, list(v.shape), v.dtype.str) for k, v in members.items()
    ]
    one = ws.summarize("a.npz", key="fortran").summary
    assert one.kind == "array" and one.shape == [3, 4] and one.fortran_order is True
    _check_array(members["s0"], ws.load("a.npz", key="s0"))


@pytest.mark.parametrize("ext", H5_EXTS)
@pytest.mark.parametrize("dtype", ARRAY_DTYPES)
def test_h5_round_trip_dtypes_and_shapes(ws, ext, dtype):
    members = {f"s{i}": _array(dtype, shape) for i, shape in enumerate(ARRAY_SHAPES)}
    members["fortran"] = np.asfortranarray(_array(dtype, (3, 4)))
    ws.save(members, "a" + ext)
    got = ws.load("a" + ext)
    assert sorted(got) == sorted(members)
    for k, v in members.items():
        _check_array(v, got[k])
    for i, shape in enumerate(ARRAY_SHAPES):
        s = ws.summarize("a" + ext, key=f"s{i}").summary
        assert s.kind == "array" and s.shape == list(shape) and s.dtype == members[f"s{i}"].dtype.str


@pytest.mark.parametrize("ext", H5_EXTS)
def test_h5_nested_groups_and_unicode(ws, tmp_path, ext):
    data = {
        "top": np.arange(3),
        "grp": {
            "names": ["héllo", "wörld", "日本語", ""],
            "sub": {"deep": [[1.5, 2.5], [3.5, 4.5]], "label": "ünïcode ✓"},
        },
    }
    ws.save(data, "n" + ext)
    got = ws.load("n" + ext)
    assert set(got) == {"top", "grp"} and set(got["grp"]) == {"names", "sub"}
    assert got["grp"]["names"].dtype.kind == "U"
    assert got["grp"]["names"].tolist() == ["héllo", "wörld", "日本語", ""]
    assert str(got["grp"]["sub"]["label"]) == "ünïcode ✓"
    np.testing.assert_array_equal(got["grp"]["sub"]["deep"], [[1.5, 2.5], [3.5, 4.5]])
    with h5py.File(tmp_path / ("n" + ext), "r") as f:  # really groups, readable by plain h5py
        assert isinstance(f["grp/sub"], h5py.Group)
        assert f["grp/names"].asstr()[1] == "wörld"
    root = ws.summarize("n" + ext).summary
    assert root.kind == "tree" and root.n_children == 2
    assert {c.name: c.kind for c in root.children} == {"top": "array", "grp": "group"}
    grp = ws.summarize("n" + ext, key="grp").summary
    assert grp.kind == "tree" and grp.path == "/grp" and grp.n_children == 2
    names = ws.summarize("n" + ext, key="grp/names").summary
    assert names.kind == "array" and names.shape == [4] and names.head[:3] == ["héllo", "wörld", "日本語"]
    assert ws.load("n" + ext, key="grp/sub/deep").shape == (2, 2)
    assert _code(ws.load, "n" + ext, key="nope").code == "KEY_NOT_FOUND"


# -- frames ----------------------------------------------------------------------------------------

def _indexed_frame() -> pd.DataFrame:
    df = pd.DataFrame({
        "b8": np.array([1, -2, 3], dtype=np.int8),
        "f32": np.array([0.5, 1.5, -2.25], dtype=np.float32),
        "a_str": ["x", "y", "z"],
    }, index=pd.Index([100, 200, 300], name="id"))
    return df


@pytest.mark.parametrize("ext", [".parquet", ".pq"])
def test_parquet_keeps_dtypes_column_order_and_named_index(ws, ext):
    df = _indexed_frame()
    ws.save(df, "t" + ext)
    got = ws.load("t" + ext)
    pd.testing.assert_frame_equal(got, df)
    assert list(got.columns) == ["b8", "f32", "a_str"]
    assert got.index.name == "id" and got.index.tolist() == [100, 200, 300]
    assert got["b8"].dtype == np.int8 and got["f32"].dtype == np.float32
    s = ws.summarize("t" + ext).summary
    assert s.kind == "frame" and s.n_rows == 3 and s.n_columns == 3
    assert [c.name for c in s.columns] == ["b8", "f32", "a_str"]  # the index is not a column
    assert s.index == "id"
    assert s.columns[0].stats.min == -2 and s.columns[0].stats.max == 3
    assert s.head[0] == {"b8": 1, "f32": 0.5, "a_str": "x"}
    # one column by key
    assert list(ws.load("t" + ext, key="f32").columns) == ["f32"]


@pytest.mark.parametrize(("ext", "sep"), [(".csv", ","), (".tsv", "\t"), (".tab", "\t"), (".csv.gz", ",")])
def test_csv_documented_behaviour_dtypes_widen_and_index_becomes_a_column(ws, tmp_path, ext, sep):
    """CSV keeps neither dtypes nor an index (tables.py docstring): assert exactly that."""
    df = _indexed_frame()
    ws.save(df, "t" + ext)
    if not ext.endswith(".gz"):
        assert (tmp_path / ("t" + ext)).read_text(encoding="utf-8").splitlines()[0] == sep.join(
            ["id", "b8", "f32", "a_str"]
        )
    got = ws.load("t" + ext)
    assert list(got.columns) == ["id", "b8", "f32", "a_str"]  # the index is now an ordinary first column
    assert isinstance(got.index, pd.RangeIndex) and got.index.name is None
    assert got["id"].tolist() == [100, 200, 300]
    assert got["b8"].dtype == np.int64  # int8 widened: dtype inferred on load
    assert got["f32"].dtype == np.float64
    np.testing.assert_allclose(got["f32"].to_numpy(), df["f32"].to_numpy(), rtol=1e-6)
    assert got["a_str"].tolist() == ["x", "y", "z"]
    # a default index is not written at all
    ws.save(df.reset_index(drop=True), "plain" + ext)
    assert list(ws.load("plain" + ext).columns) == ["b8", "f32", "a_str"]


@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
def test_frame_summary_columns_and_rows(ws, ext):
    df = _frame()
    ws.save(df, "s" + ext)
    s = ws.summarize("s" + ext).summary
    assert s.kind == "frame"
    assert (s.n_rows, s.n_columns, s.n_rows_exact) == (3, 4, True)
    assert [c.name for c in s.columns] == ["zeta", "alpha", "mid", "flag"]
    by_name = {c.name: c for c in s.columns}
    assert by_name["zeta"].stats.min == -1 and by_name["zeta"].stats.max == 7
    assert by_name["alpha"].stats.min == -2.0
    assert by_name["mid"].stats is None  # strings have no numeric stats
    assert [r["mid"] for r in s.head] == ["x", "héllo", "日本"]
    assert s.index is None


# -- documents and text ------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".json", ".yaml", ".yml"])
def test_document_summary(ws, ext):
    doc = _document()
    ws.save(doc, "d" + ext)
    s = ws.summarize("d" + ext).summary
    assert s.kind == "value" and s.type == "dict" and s.length == len(doc)
    assert s.keys == list(doc)
    assert s.preview["ünïcode"] == "日本語"
    assert ws.load("d" + ext, key="nested/list/2") == [3, 4]
    # lists at the top level are fine too
    ws.save([1, "two", {"three": 3.0}], "l" + ext)
    assert ws.load("l" + ext) == [1, "two", {"three": 3.0}]
    assert ws.summarize("l" + ext).summary.length == 3


@pytest.mark.parametrize("ext", [".txt", ".md", ".log"])
def test_text_round_trip_is_byte_exact(ws, tmp_path, ext):
    text = "a\r\nb\n\nünïcode ✓\tend"
    ws.save(text, "t" + ext)
    assert (tmp_path / ("t" + ext)).read_bytes() == text.encode("utf-8")  # no newline translation
    assert ws.load("t" + ext) == text
    s = ws.summarize("t" + ext).summary
    assert (s.kind, s.n_chars, s.n_lines, s.head, s.truncated) == ("text", len(text), 4, text, False)
    ws.save("", "empty" + ext)
    assert ws.load("empty" + ext) == ""
    assert ws.summarize("empty" + ext).summary.n_chars == 0


# -- big objects: the summary stays inside the budget ------------------------------------------

def _big(case: Case) -> tuple[Any, Callable[[Any], None]]:
    """A big object for the case's family and a check of what its summary must still say."""
    if case.fmt == "npy":
        arr = np.arange(3_000_000, dtype=np.float64).reshape(1000, 3000)

        def chk(s):
            assert s.shape == [1000, 3000] and s.stats.exact is False and s.head_truncated

        return arr, chk
    if case.fmt == "npz":
        return {f"m{i}": np.arange(3) for i in range(5000)}, lambda s: (
            s.n_children == 5000 and s.truncated or pytest.fail(str(s)[:500]))
    if case.fmt == "hdf5":
        def chk_h5(s):
            assert s.n_children == 5000 and s.truncated and s.children[0].shape == [3]

        return {f"d{i:04d}": np.arange(3) for i in range(5000)}, chk_h5
    if case.fmt == "pdf":  # 150 long pages: the first pages' text, all counted, never all extracted
        pages = [f"Page {i}\n" + "\n".join(["lorem ipsum dolor sit amet " * 3] * 40) for i in range(150)]

        def chk_pdf(s):
            assert s.length == 150 and s.preview["pages"] == 150 and s.truncated
            assert 0 < len(s.preview["text"]) < 150 and s.preview["text"][0]["text"].startswith("Page 0")
            assert s.preview["outline_entries"] == 150 and 0 < len(s.preview["outline"]) < 150

        return {"pages": pages, "info": {"Title": "big"}, "outline": [(f"Section {i}", i, 0) for i in range(150)]}, chk_pdf
    if case.fmt == "docx":  # 2000 paragraphs, 300 headings, 30 tables: counted, listed in part
        blocks = []
        for i in range(300):
            blocks.append(("heading", (f"Section {i}", 1 + i % 3)))
            blocks += [("paragraph", f"paragraph {i}.{j} " + "é" * 200) for j in range(6)]
            if i % 10 == 0:
                blocks.append(("table", [["k", "v"]] + [[str(r), "x" * 20] for r in range(5)]))

        def chk_docx(s):
            assert s.attrs["paragraphs"] == 2100 and s.attrs["headings"] == 300 and s.attrs["tables"] == 30
            assert s.n_children == 31 and len(s.children) < 31 and s.truncated
            assert s.children[1].name == "table0" and s.children[1].shape == [5, 2]

        return blocks, chk_docx
    if case.kind == "video":  # 40 audio tracks and 100 long tags: listed in part, the frames still counted
        def chk_video(s):
            assert s.frames == videos.N and len(s.streams) == 16 and s.streams_truncated
            assert [st["type"] for st in s.streams[:2]] == ["video", "audio"] and len(s.tags) <= 20

        return {"audio": 40, "tags": {f"note{i:03d}": "x" * 2000 for i in range(100)}}, chk_video
    if case.kind == "frame":
        width = 250 if case.fmt == "xls" else 2000  # a BIFF (.xls) sheet has at most 256 columns
        df = pd.DataFrame(np.arange(10 * width, dtype=np.float64).reshape(10, width),
                          columns=[f"column_with_a_long_name_{i}" for i in range(width)])

        def chk(s):
            assert s.n_columns == width and s.n_rows == 10 and s.columns_truncated
            assert s.columns[0].name == "column_with_a_long_name_0"

        return df, chk
    if case.fmt in ("json", "yaml"):
        doc = {f"key{i}": {"text": "é" * 3000, "rows": [[i, j, "x" * 40] for j in range(30)]}
               for i in range(300 if case.fmt == "json" else 120)}

        def chk(s):
            assert s.type == "dict" and s.length == len(doc) and s.truncated

        return doc, chk

    if case.fmt in ("mat", "netcdf"):  # thousands of variables: listed from the headers, cut
        n = 5000 if case.fmt == "mat" else 300  # h5netcdf writes a dimension scale per axis: slower

        def chk_vars(s):
            assert s.n_children == n and s.truncated and s.children[0].name == "d0000"
            assert s.children[0].shape == ([1, 3] if case.fmt == "mat" else [3])

        return {f"d{i:04d}": np.arange(3) for i in range(n)}, chk_vars

    if case.fmt == "sqlite":
        def chk_db(s):
            assert s.n_children == 300 and s.truncated and s.children[0].shape == [2, 2]

        return {f"table_{i:03d}": {"a": [1, 2], "b": ["x" * 500, "y"]} for i in range(300)}, chk_db

    if case.fmt in ("toml", "bibtex") or case.fmt in PICKLE_FORMATS:
        if case.fmt == "bibtex":
            data = [{"ENTRYTYPE": "article", "ID": f"key{i}", "title": "é" * 2000, "year": str(2000 + i % 20)}
                    for i in range(1500)]
        else:
            data = {f"key{i}": {"text": "é" * 3000, "rows": [[i, j, "x" * 40] for j in range(30)]} for i in range(300)}
            if case.fmt in PICKLE_FORMATS:
                data["arrays"] = {f"a{i}": np.zeros((i + 1, 3)) for i in range(100)}

        def chk_doc(s):
            assert s.length == len(data) and s.truncated

        return data, chk_doc

    if case.fmt in ("xml", "svg", "html"):
        n = 100_000
        if case.fmt == "html":
            text = "<html><head><title>Big ✓</title></head><body>" + "<p>x</p>" * n + "</body></html>"
        else:
            root = "svg" if case.fmt == "svg" else "log"
            ns = ' xmlns="http://www.w3.org/2000/svg"' if case.fmt == "svg" else ""
            text = f"<{root}{ns}>" + '<g id="x"/>' * n + f"</{root}>"

        def chk_markup(s):
            assert s.length == len(text) and s.truncated and len(s.preview["head"]) < 2000
            if case.fmt == "html":
                assert s.preview["title"] == "Big ✓"
            else:
                assert s.preview["n_elements"] == n + 1 and s.preview["children"] == {"g": n}

        return text, chk_markup

    if case.kind == "image":
        def chk_image(s):
            assert (s.width, s.height) == (6000, 4000) and s.n_frames == 1

        return np.zeros((4000, 6000, 3) if case.fmt != "gif" else (4000, 6000), dtype=np.uint8), chk_image

    if case.kind == "audio":  # 60 s of stereo at 48 kHz: stats from a sample, header facts exact
        t = np.arange(48_000 * 60, dtype=np.float32) / 48_000
        tone = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 3 * t)], axis=1) * 0.5
        data = (tone * 30000).astype(np.int16) if case.fmt != "ogg" else tone

        def chk_audio(s):
            assert (s.frames, s.channels, s.samplerate, s.duration_s) == (48_000 * 60, 2, 48_000, 60.0)
            assert s.stats is not None and s.stats.exact is False and 0 < s.stats.sampled_fraction < 0.5

        return {"samplerate": 48_000, "data": data}, chk_audio

    if case.kind == "recording":  # 300 channels, 600 annotations (pybv checks events slowly): described, bounded
        import mne

        names = [f"EEG-ch-{i:03d}-long" for i in range(300)]
        raw = mne.io.RawArray(np.random.default_rng(1).normal(scale=1e-5, size=(300, 100 * 20)),
                              mne.create_info(names, 100.0, "eeg"), verbose="error")
        raw.set_annotations(mne.Annotations(np.linspace(0, 19, 600), 0.0, [f"event {i % 70} " + "x" * 60
                                                                            for i in range(600)]))

        def chk_recording(s):
            assert (s.n_channels, s.n_times, s.sfreq) == (300, 2000, 100.0) and s.channel_types == {"eeg": 300}
            assert s.channels_truncated and 0 < len(s.channels) < 300 and s.channels[0].name == names[0]
            assert s.n_annotations == 600 and s.annotations_truncated and 0 < len(s.annotations) < 600
            assert sum(s.annotation_counts.values()) <= 600 and len(s.annotation_counts) < 70

        return raw, chk_recording

    def chk_text(s):
        assert s.n_chars == 5_000_000 and s.n_lines == 1 and s.truncated

    return "x" * 4_999_999 + "✓", chk_text


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_summary_of_big_object_fits_the_budget(ws, tmp_path, case):
    data, check = _big(case)
    _write(ws, tmp_path, case, data, "big" + case.ext)
    start = time.monotonic()
    result = ws.summarize("big" + case.ext, max_bytes=BUDGET)
    assert time.monotonic() - start < SLOW
    assert len(result.model_dump_json()) <= BUDGET
    assert result.summary.kind == case.kind
    if check is not None:
        check(result.summary)


def test_h5_group_with_5000_datasets_and_huge_attributes_fits_the_budget(ws, tmp_path):
    with h5py.File(tmp_path / "many.h5", "w") as f:
        g = f.create_group("g")
        for i in range(5000):
            g.create_dataset(f"d{i:04d}", data=np.arange(3))
        g.attrs["description"] = "x" * 100_000
        for i in range(100):
            g.attrs[f"attr{i}"] = np.arange(1000)
    s = ws.summarize("many.h5", key="g", max_bytes=BUDGET)
    assert len(s.model_dump_json()) <= BUDGET
    assert s.summary.kind == "tree" and s.summary.path == "/g"
    assert s.summary.n_children == 5000 and s.summary.truncated
    assert s.summary.children[0].name == "d0000" and s.summary.children[0].kind == "array"
    assert s.summary.children[0].shape == [3]
    assert 0 < len(s.summary.attrs) <= 20


# -- corrupt input --------------------------------------------------------------------------------

def _expect_corrupt(ws: Workspace, name: str) -> None:
    for op in (ws.load, ws.summarize):
        start = time.monotonic()
        err = _code(op, name)
        assert time.monotonic() - start < SLOW
        assert err.code == "CORRUPT_FILE", (op.__name__, err)
        assert err.hint


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_empty_file(ws, tmp_path, case):
    (tmp_path / ("e" + case.ext)).write_bytes(b"")
    if case.fmt == "text":
        assert ws.load("e" + case.ext) == ""  # an empty text file is a valid, empty text
        assert ws.summarize("e" + case.ext).summary.n_chars == 0
    elif case.fmt == "yaml":
        assert ws.load("e" + case.ext) is None  # an empty YAML stream is a null document
    elif case.fmt in EMPTY_IS_VALID:
        assert ws.load("e" + case.ext) == EMPTY_IS_VALID[case.fmt]
        assert ws.summarize("e" + case.ext, max_bytes=BUDGET).summary.kind == case.kind
    else:
        _expect_corrupt(ws, "e" + case.ext)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_truncated_file(ws, tmp_path, case):
    path = _valid_file(ws, tmp_path, case, "cut")
    if case.fmt in ("npy", "npz", "hdf5"):  # make it big enough that half of it loses real data
        path.unlink()
        big = {"a": np.arange(20000.0), "b": np.ones((100, 100))}
        ws.save(big["a"] if case.fmt == "npy" else big, path.name)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    if not case.text_based:
        _expect_corrupt(ws, path.name)
        return
    # a text format cannot tell a cut file from a shorter one: it loads what is there, or
    # refuses with CORRUPT_FILE; never a raw library exception
    try:
        got = ws.load(path.name)
    except IOCoreError as exc:
        assert exc.code == "CORRUPT_FILE"
        return
    if case.fmt == "text":
        assert got == raw[: len(raw) // 2].decode("utf-8")
    elif case.kind == "frame":
        assert isinstance(got, pd.DataFrame) and list(got.columns) == list(_frame().columns)
        assert len(got) < 3
    else:
        assert got != case.sample()


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_garbage_bytes(ws, tmp_path, case):
    rng = np.random.default_rng(12345)
    garbage = rng.integers(0, 256, 8192, dtype=np.uint8).tobytes()
    assert b"\x00" in garbage
    (tmp_path / ("g" + case.ext)).write_bytes(garbage)
    _expect_corrupt(ws, "g" + case.ext)
    # a second fixed sequence, not os.urandom: a random prefix can form a valid pickle ("N."), so
    # truly random bytes made the pickle rows fail about once in ten thousand runs
    (tmp_path / ("u" + case.ext)).write_bytes(np.random.default_rng(2024).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _expect_corrupt(ws, "u" + case.ext)


@pytest.mark.parametrize(
    ("real_ext", "named_ext", "real_fmt"),
    [
        (".h5", ".npy", "hdf5"),
        (".parquet", ".csv", "parquet"),
        (".parquet", ".tsv", "parquet"),
        (".npy", ".h5", "npy"),
        (".h5", ".parquet", "hdf5"),
        (".npy", ".json", "npy"),
        (".npy", ".yaml", "npy"),
        (".parquet", ".txt", "parquet"),
        (".h5", ".npz", "hdf5"),
        (".npy", ".npz", "npy"),
        (".parquet", ".h5", "parquet"),
    ],
)
def test_content_not_matching_extension_names_the_real_format(ws, tmp_path, real_ext, named_ext, real_fmt):
    data = {"npy": np.arange(10), "hdf5": {"x": np.arange(10)}, "parquet": pd.DataFrame({"a": [1, 2]})}[real_fmt]
    ws.save(data, "real" + real_ext)
    (tmp_path / ("liar" + named_ext)).write_bytes((tmp_path / ("real" + real_ext)).read_bytes())
    for op in (ws.load, ws.summarize):
        err = _code(op, "liar" + named_ext)
        assert err.code == "CORRUPT_FILE"
        assert repr(real_fmt) in err.hint, err
        assert f"format={real_fmt!r}" in err.hint
    # and following the hint works
    assert ws.summarize("liar" + named_ext, format=real_fmt).format == real_fmt


def test_unsniffable_mismatch_still_gives_a_clear_error(ws, tmp_path):
    (tmp_path / "table.npy").write_text("a,b\n1,2\n", encoding="utf-8")
    err = _code(ws.load, "table.npy")
    assert err.code == "CORRUPT_FILE" and "npy" in err.message and err.hint


# -- pickle and other code in files ---------------------------------------------------------------

class _Trap:
    """Unpickling this runs os.mkdir(marker): proof that a pickle was (or was not) executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_object_npy_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "PWNED"
    np.save(tmp_path / "obj.npy", np.array([_Trap(marker)], dtype=object), allow_pickle=True)
    ws = Workspace([tmp_path])
    assert _code(ws.load, "obj.npy").code == "UNSAFE_FORMAT"
    assert _code(io_core.load, tmp_path / "obj.npy").code == "UNSAFE_FORMAT"
    s = ws.summarize("obj.npy", max_bytes=BUDGET).summary
    assert s.kind == "array" and s.shape == [1] and s.dtype == "|O" and s.head == [] and s.stats is None
    assert not marker.exists()
    # allowed explicitly, it loads (and the trap fires, which shows the test can see it)
    out = Workspace([tmp_path], allow_pickle=True).load("obj.npy")
    assert out.dtype == object and out.shape == (1,)
    assert marker.exists()


def test_object_npz_member_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "PWNED"
    np.savez(tmp_path / "mix.npz", ok=np.arange(3), bad=np.array([_Trap(marker)], dtype=object))
    ws = Workspace([tmp_path])
    assert _code(ws.load, "mix.npz").code == "UNSAFE_FORMAT"
    assert _code(ws.load, "mix.npz", key="bad").code == "UNSAFE_FORMAT"
    assert _code(ws.summarize, "mix.npz", key="bad").code == "UNSAFE_FORMAT"
    s = ws.summarize("mix.npz").summary
    assert {c.name: c.dtype for c in s.children} == {"ok": np.dtype(np.int64).str, "bad": "|O"}
    np.testing.assert_array_equal(ws.load("mix.npz", key="ok"), np.arange(3))  # the safe member
    assert not marker.exists()
    out = io_core.load(tmp_path / "mix.npz", allow_pickle=True)
    assert set(out) == {"ok", "bad"} and out["bad"].dtype == object
    assert marker.exists()


def test_saving_objects_needs_pickle(tmp_path):
    ws = Workspace([tmp_path])
    assert _code(ws.save, np.array([{"a": 1}], dtype=object), "o.npy").code == "UNSAFE_FORMAT"
    assert _code(ws.save, {"m": np.array([{"a": 1}], dtype=object)}, "o.npz").code == "UNSAFE_FORMAT"
    assert _code(ws.save, {"m": np.array([{"a": 1}], dtype=object)}, "o.h5").code == "UNSAFE_FORMAT"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".yaml", ".yml"])
def test_yaml_python_tags_are_refused(tmp_path, ext):
    marker = tmp_path / "PWNED"
    (tmp_path / ("evil" + ext)).write_text(
        f"a: !!python/object/apply:os.mkdir [{str(marker)!r}]\nb: !!python/object:collections.OrderedDict {{}}\n",
        encoding="utf-8",
    )
    ws = Workspace([tmp_path], allow_pickle=True)  # not even with pickle allowed
    assert _code(ws.load, "evil" + ext).code == "UNSAFE_FORMAT"
    assert _code(ws.summarize, "evil" + ext).code == "UNSAFE_FORMAT"
    assert not marker.exists()


# -- .npy summaries read the header, not the data ---------------------------------------------------

_RSS_PROBE = """
import json, resource, sys, time
import numpy as np
from io_core import Workspace
ws = Workspace([sys.argv[1]])
ws.summarize("warm.npy", max_bytes=32768)  # import and build everything once
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
res = ws.summarize("big.npy", max_bytes=32768)
elapsed = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = res.summary
print(json.dumps({"growth_kib": after - before, "elapsed": elapsed, "exact": s.stats.exact,
                  "fraction": s.stats.sampled_fraction, "shape": s.shape, "max": s.stats.max,
                  "head": s.head[:3], "size": len(res.model_dump_json())}))
"""


def test_npy_summary_does_not_read_the_data(tmp_path):
    shape = (5000, 5000)  # 200 MB of float64
    mm = np.lib.format.open_memmap(tmp_path / "big.npy", mode="w+", dtype=np.float64, shape=shape)
    mm[0, :3] = [1.0, 2.0, 3.0]
    mm.flush()
    del mm
    size = (tmp_path / "big.npy").stat().st_size
    assert size >= 200_000_000
    np.save(tmp_path / "warm.npy", np.arange(10.0))
    proc = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["shape"] == list(shape)
    assert out["head"] == [1.0, 2.0, 3.0]
    assert out["exact"] is False and out["fraction"] < 0.1
    assert out["elapsed"] < SLOW
    assert out["size"] <= BUDGET
    growth_bytes = out["growth_kib"] * 1024  # ru_maxrss is in KiB on Linux
    assert growth_bytes < 0.4 * size, out


# -- what agents send to save ------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".csv", ".tsv", ".parquet"])
def test_frames_from_records_and_columns(ws, ext):
    records = [{"b": 1, "a": "x"}, {"b": 2, "a": "ÿ"}, {"b": 3, "a": None}]
    ws.save(records, "r" + ext)
    got = ws.load("r" + ext)
    assert list(got.columns) == ["b", "a"]
    assert got["b"].tolist() == [1, 2, 3]
    assert got["a"].tolist()[:2] == ["x", "ÿ"] and pd.isna(got["a"].iloc[2])
    columns = {"z": [1.5, 2.5], "y": [True, False]}
    ws.save(columns, "c" + ext)
    got = ws.load("c" + ext)
    assert list(got.columns) == ["z", "y"]
    assert got.to_dict("list") == columns
    assert _code(ws.save, [1, 2, 3], "bad" + ext).code == "INVALID_DATA"  # not records
    assert _code(ws.save, {"a": [1, 2], "b": [1]}, "bad" + ext).code == "INVALID_DATA"  # ragged columns
    assert _code(ws.save, {"a": 1}, "bad" + ext).code == "INVALID_DATA"  # not lists
    assert _code(ws.save, "text", "bad" + ext).code == "INVALID_DATA"


def test_npy_from_nested_lists_with_dtype(ws):
    ws.save([[1, 2, 3], [4, 5, 6]], "l.npy", dtype="int16")
    got = ws.load("l.npy")
    assert got.dtype == np.int16 and got.shape == (2, 3) and got.tolist() == [[1, 2, 3], [4, 5, 6]]
    ws.save([[True, False]], "b.npy")
    assert ws.load("b.npy").dtype == np.bool_
    ws.save(7.5, "s.npy")
    assert ws.load("s.npy").shape == ()
    assert _code(ws.save, [[1, 2], [3]], "ragged.npy").code == "INVALID_DATA"
    assert _code(ws.save, [1, 2], "d.npy", dtype="not-a-dtype").code == "INVALID_DATA"
    assert _code(ws.save, ["a", "b"], "d2.npy", dtype="int16").code == "INVALID_DATA"


@pytest.mark.parametrize("ext", [".npz", ".h5", ".hdf5"])
def test_containers_from_dict_of_nested_lists(ws, ext):
    ws.save({"a": [[1, 2], [3, 4]], "b": [0.5]}, "d" + ext, dtype="int16" if ext == ".npz" else None)
    got = ws.load("d" + ext)
    assert got["a"].tolist() == [[1, 2], [3, 4]] and got["a"].shape == (2, 2)
    if ext == ".npz":
        assert got["a"].dtype == np.int16 and got["b"].dtype == np.int16  # dtype applies to every member
    assert _code(ws.save, {"a": [[1, 2], [3]]}, "ragged" + ext).code == "INVALID_DATA"
    if ext == ".npz":
        assert _code(ws.save, [1, 2, 3], "list" + ext).code == "INVALID_DATA"  # members need names
        ws.save(np.arange(3), "bare" + ext)  # a bare array is stored as arr_0, like np.savez
        assert list(ws.load("bare" + ext)) == ["arr_0"]
    else:
        ws.save([1, 2, 3], "list" + ext)  # a bare array is stored as the dataset "data"
        assert ws.load("list" + ext)["data"].tolist() == [1, 2, 3]
    assert _code(ws.save, {"": [1]}, "noname" + ext).code == "INVALID_DATA"
    assert _code(ws.save, {"a/b": [1]}, "slash" + ext).code == "INVALID_DATA"


@pytest.mark.parametrize("ext", [".h5", ".hdf5"])
def test_h5_nested_dicts_become_groups(ws, tmp_path, ext):
    ws.save({"g": {"x": [1, 2], "h": {"y": [[1.0]]}}, "top": [5]}, "g" + ext, dtype="float32")
    with h5py.File(tmp_path / ("g" + ext), "r") as f:
        assert isinstance(f["g"], h5py.Group) and isinstance(f["g/h"], h5py.Group)
        assert f["g/h/y"].dtype == np.float32 and f["g/h/y"].shape == (1, 1)
    got = ws.load("g" + ext)
    assert got["g"]["x"].tolist() == [1.0, 2.0] and got["g"]["h"]["y"].tolist() == [[1.0]]


def test_npz_refuses_nested_dicts(ws, tmp_path):
    err = _code(ws.save, {"g": {"x": [1]}}, "n.npz")
    assert err.code == "INVALID_DATA" and ".h5" in err.hint
    assert not (tmp_path / "n.npz").exists()


@pytest.mark.parametrize("ext", [".txt", ".md", ".log"])
def test_text_takes_strings_only(ws, tmp_path, ext):
    ws.save("plain ünïcode", "t" + ext)
    assert ws.load("t" + ext) == "plain ünïcode"
    for bad in ({"a": 1}, [1, 2], 3, b"bytes", None):
        assert _code(ws.save, bad, "bad" + ext).code == "INVALID_DATA"
    assert not (tmp_path / ("bad" + ext)).exists()


def test_json_refuses_nan_infinity_and_objects(ws, tmp_path):
    for bad in ({"a": float("nan")}, [1.0, float("inf")], {"deep": [{"x": -float("inf")}]},
                np.array([1.0, np.nan]), {"obj": object()}, {"s": {1, 2}}):
        assert _code(ws.save, bad, "bad.json").code == "INVALID_DATA"
    assert not (tmp_path / "bad.json").exists()
    ws.save({"arr": np.arange(3), "f": np.float32(0.5), "n": None}, "ok.json")  # numpy values become plain
    assert ws.load("ok.json") == {"arr": [0, 1, 2], "f": 0.5, "n": None}


def test_yaml_refuses_objects(ws, tmp_path):
    assert _code(ws.save, {"obj": object()}, "bad.yaml").code == "INVALID_DATA"
    assert not (tmp_path / "bad.yaml").exists()
    ws.save({"arr": np.arange(2), "s": "ünïcode"}, "ok.yaml")
    assert ws.load("ok.yaml") == {"arr": [0, 1], "s": "ünïcode"}
