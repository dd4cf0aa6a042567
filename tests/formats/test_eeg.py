"""EEG/MEG beyond the shared suite, and the reference suite of the load-only GDF and CNT.

MNE cannot write GDF or CNT and no library on PyPI that we use does, and the installed
MNE ships no sample files; so the reference files here are written by hand, byte by
byte, from the published layouts (GDF 1.25; Neuroscan SETUP/ELECTLOC/TEEG), and are
checked against what MNE's own readers make of them.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import mne
import numpy as np
import pytest

import io_core
from io_core import IOCoreError, Workspace
from io_core.options import ReadOptions
from io_core.summary import summarize_object

BUDGET = 32768
SLOW = 10.0


def _code(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _raw(n_channels: int = 4, seconds: float = 3.0, sfreq: float = 128.0):
    names = ["Fz", "Cz", "Pz", "EOG", "ECG", "Oz"][:n_channels]
    types = ["eeg", "eeg", "eeg", "eog", "ecg", "eeg"][:n_channels]
    data = np.random.default_rng(3).normal(scale=2e-5, size=(n_channels, int(seconds * sfreq)))
    raw = mne.io.RawArray(data, mne.create_info(names, sfreq, types), verbose="error")
    raw.set_meas_date(1_700_000_000)
    raw.set_annotations(mne.Annotations([0.5, 1.25, 2.0], [0.25, 0.0, 0.5], ["stim", "resp", "BAD_blink"]),
                        verbose="error")
    return raw


# -- reference files for the load-only formats -----------------------------------------------------

def write_gdf1(path: Path, microvolts: np.ndarray, sfreq: int, names: list[str], events=()) -> np.ndarray:
    """GDF 1.25: int16 samples at 0.1 uV, 1-second records, event table mode 1; returns volts as stored."""
    ns, n = microvolts.shape
    n_records = n // sfreq
    head = bytearray()
    head += b"GDF 1.25" + b"X X".ljust(80) + b"sciio reference".ljust(80) + b"2023111422132000"
    head += struct.pack("<q", 256 * (ns + 1)) + bytes(8 * 3) + bytes(20)
    head += struct.pack("<q", n_records) + struct.pack("<II", 1, 1) + struct.pack("<I", ns)
    head += b"".join(name.encode().ljust(16) for name in names) + b" " * 80 * ns + b"uV".ljust(8) * ns
    head += struct.pack(f"<{ns}d", *[-3276.8] * ns) + struct.pack(f"<{ns}d", *[3276.7] * ns)
    head += struct.pack(f"<{ns}q", *[-32768] * ns) + struct.pack(f"<{ns}q", *[32767] * ns)
    head += b" " * 80 * ns + struct.pack(f"<{ns}i", *[sfreq] * ns) + struct.pack(f"<{ns}i", *[3] * ns)
    head += bytes(32 * ns)
    assert len(head) == 256 * (ns + 1)
    digital = np.round(microvolts[:, : n_records * sfreq] * 10).astype("<i2")
    body = b"".join(digital[:, r * sfreq : (r + 1) * sfreq].tobytes() for r in range(n_records))
    events = list(events)
    table = bytes([1]) + int(sfreq).to_bytes(3, "little") + struct.pack("<I", len(events))
    table += struct.pack(f"<{len(events)}I", *[p + 1 for p, _ in events])
    table += struct.pack(f"<{len(events)}H", *[t for _, t in events])
    path.write_bytes(bytes(head) + body + table)
    return digital / 10 * 1e-6


def write_cnt(path: Path, digital: np.ndarray, sfreq: int, names: list[str], events=()) -> np.ndarray:
    """Neuroscan CNT: 900-byte SETUP, 75-byte electrodes, int16 multiplexed (1 unit = 1 uV), TEEG type 1."""
    nch, n = digital.shape
    data_at = 900 + 75 * nch
    hdr = bytearray(900)
    hdr[0:12] = b"Version 3.0\x00"
    hdr[21:41] = b"42".ljust(20, b"\x00")
    hdr[121:141] = b"Doe Jane".ljust(20, b"\x00")
    hdr[143:145] = b"FR"
    hdr[205:225] = b"reference".ljust(20, b"\x00")
    hdr[225:247] = b"11/14/23".ljust(10, b"\x00") + b"22:13:20".ljust(12, b"\x00")
    struct.pack_into("<H", hdr, 370, nch)
    struct.pack_into("<H", hdr, 376, sfreq)
    struct.pack_into("<i", hdr, 864, n)
    struct.pack_into("<i", hdr, 886, data_at + n * nch * 2)
    struct.pack_into("<f", hdr, 890, n / sfreq)
    electrodes = bytearray()
    for i, name in enumerate(names):
        e = bytearray(75)
        e[0:10] = name.encode().ljust(10, b"\x00")
        struct.pack_into("<ff", e, 19, np.cos(i), np.sin(i))
        struct.pack_into("<f", e, 59, 204.8)  # sensitivity; MNE's scale is cal * sensitivity / 204.8 uV
        struct.pack_into("<f", e, 71, 1.0)
        electrodes += e
    body = np.ascontiguousarray(digital.T).astype("<i2").tobytes()
    events = list(events)
    table = struct.pack("<Bll", 1, 8 * len(events), 0)
    table += b"".join(struct.pack("<HBcl", kind, 0, b"\x00", data_at + (sample + 1) * nch * 2)
                      for sample, kind in events)
    path.write_bytes(bytes(hdr) + bytes(electrodes) + body + table)
    return digital * 1e-6


def _reference(tmp_path: Path, fmt: str, name: str = "ref") -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(11)
    if fmt == "gdf":
        volts = write_gdf1(tmp_path / f"{name}.gdf", rng.normal(scale=20, size=(3, 128 * 4)), 128,
                           ["Fz", "Cz", "Pz"], [(64, 1), (300, 2)])
        return tmp_path / f"{name}.gdf", volts
    volts = write_cnt(tmp_path / f"{name}.cnt", rng.integers(-500, 500, size=(3, 250 * 4)).astype(np.int16), 250,
                      ["FZ", "CZ", "PZ"], [(50, 1), (300, 7)])
    return tmp_path / f"{name}.cnt", volts


LOAD_ONLY = ["gdf", "cnt"]


@pytest.mark.parametrize("fmt", LOAD_ONLY)
def test_load_only_formats_are_listed_as_such(fmt):
    info = {i.name: i for i in io_core.list_formats()}[fmt]
    assert info.extensions == ["." + fmt] and info.kind == "recording" and info.available
    assert info.operations[:2] == ["load", "summarize"] and "save" not in info.operations


@pytest.mark.parametrize("fmt", LOAD_ONLY)
def test_load_only_reference_file_loads_summarizes_and_slices(ws, tmp_path, fmt):
    path, volts = _reference(tmp_path, fmt)
    raw = ws.load(path.name)
    assert isinstance(raw, mne.io.BaseRaw) and not raw.preload
    sfreq = 128.0 if fmt == "gdf" else 250.0
    assert raw.info["sfreq"] == sfreq and raw.n_times == volts.shape[1]
    np.testing.assert_allclose(raw.get_data(), volts, rtol=1e-5, atol=1e-12)
    result = ws.summarize(path.name, max_bytes=BUDGET)
    s = result.summary
    assert result.format == fmt and s.kind == "recording" and len(result.model_dump_json()) <= BUDGET
    assert (s.n_channels, s.n_times, s.sfreq) == (3, volts.shape[1], sfreq)
    assert s.channel_types == {"eeg": 3} and [c.name for c in s.channels] == raw.ch_names
    assert s.meas_date == "2023-11-14T22:13:20+00:00" and s.n_annotations == 2
    onsets = [64 / 128, 300 / 128] if fmt == "gdf" else [50 / 250, 300 / 250]
    np.testing.assert_allclose([a.onset for a in s.annotations], onsets, atol=1.5 / sfreq)
    part = ws.read_slice(path.name, selection="1, 10:20")
    np.testing.assert_allclose(part.slice.values, volts[1, 10:20], rtol=1e-5, atol=1e-12)
    one = ws.read_slice(path.name, key=raw.ch_names[2], selection="0, -5:")
    np.testing.assert_allclose(one.slice.values, volts[2, -5:], rtol=1e-5, atol=1e-12)
    # and a load-only format converts to a writable one
    ws.save(raw, "converted.fif")
    np.testing.assert_allclose(ws.load("converted.fif").get_data(), raw.get_data(), rtol=1e-6, atol=1e-12)
    assert _code(ws.save, raw, "back." + fmt).code in ("FORMAT_UNKNOWN", "UNSUPPORTED_OPERATION")
    assert _code(ws.save, raw, "back.x", format=fmt).code == "UNSUPPORTED_OPERATION"


def _expect_corrupt(ws: Workspace, name: str) -> IOCoreError:
    for op in (ws.load, ws.summarize, ws.read_slice):
        start = time.monotonic()
        err = _code(op, name)
        assert time.monotonic() - start < SLOW
        assert err.code == "CORRUPT_FILE", (op.__name__, err)
        assert err.hint
    return err


@pytest.mark.parametrize("fmt", LOAD_ONLY)
def test_load_only_empty_truncated_and_garbage_files_are_corrupt(ws, tmp_path, fmt):
    (tmp_path / f"e.{fmt}").write_bytes(b"")
    assert "empty" in _expect_corrupt(ws, f"e.{fmt}").hint.lower()
    path, _ = _reference(tmp_path, fmt, "cut")
    raw = path.read_bytes()
    for keep in (len(raw) // 2, len(raw) - 40, 300):
        path.write_bytes(raw[:keep])
        _expect_corrupt(ws, path.name)
    garbage = np.random.default_rng(12345).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    (tmp_path / f"g.{fmt}").write_bytes(garbage)
    _expect_corrupt(ws, f"g.{fmt}")
    (tmp_path / f"u.{fmt}").write_bytes(os.urandom(4096))
    _expect_corrupt(ws, f"u.{fmt}")


# -- content that does not match the extension ------------------------------------------------------

@pytest.mark.parametrize(("real", "named", "fmt"), [
    (".edf", ".bdf", "edf"), (".bdf", ".edf", "bdf"), (".fif", ".edf", "fif"), (".edf", ".fif", "edf"),
    (".vhdr", ".set", "brainvision"), (".bdf", ".gdf", "bdf"), (".fif", ".cnt", "fif"), (".gdf", ".edf", "gdf"),
])
def test_recording_with_the_wrong_extension_names_the_real_format(ws, tmp_path, real, named, fmt):
    if real == ".gdf":
        _reference(tmp_path, "gdf", "real")
    else:
        ws.save(_raw(), "real" + real)
    (tmp_path / ("liar" + named)).write_bytes((tmp_path / ("real" + real)).read_bytes())
    for op in (ws.load, ws.summarize):
        err = _code(op, "liar" + named)
        assert err.code == "CORRUPT_FILE" and f"format={fmt!r}" in err.hint, err
    if fmt != "brainvision":  # MNE reads BrainVision only from a file named .vhdr
        assert ws.summarize("liar" + named, format=fmt).format == fmt


def test_recordings_are_sniffed_without_extension(ws, tmp_path):
    # (MNE cannot open a FIF file whose name has no suffix at all; any unknown suffix will do)
    for name, fmt in (("rec.bin", "fif"), ("rec_edf", "edf"), ("rec_bdf", "bdf")):
        ws.save(_raw(), name, format=fmt)
        assert ws.summarize(name).format == fmt
        assert ws.load(name).ch_names == _raw().ch_names
    _reference(tmp_path, "gdf", "g")
    os.replace(tmp_path / "g.gdf", tmp_path / "g_noext")
    assert ws.summarize("g_noext").format == "gdf"


# -- keys, windows and laziness ----------------------------------------------------------------------

def test_keys_pick_channels_by_name_list_or_type(ws):
    raw = _raw()
    ws.save(raw, "k.fif")
    data = raw.get_data()
    np.testing.assert_array_equal(ws.load("k.fif", key="Cz"), data[1:2])
    np.testing.assert_array_equal(ws.load("k.fif", key="Fz, EOG"), data[[0, 3]])
    np.testing.assert_array_equal(ws.load("k.fif", key="eog"), data[3:4])
    np.testing.assert_array_equal(ws.load("k.fif", key="eeg"), data[:3])
    np.testing.assert_array_equal(ws.load("k.fif", key="pz"), data[2:3])  # case-insensitive when unambiguous
    err = _code(ws.load, "k.fif", key="T7")
    assert err.code == "KEY_NOT_FOUND" and "Fz" in err.hint and "eog" in err.hint
    s = ws.summarize("k.fif", key="Fz,Cz").summary
    assert s.kind == "array" and s.shape == [2, 384] and s.stats.exact and "Fz" in s.note
    assert s.stats.min == pytest.approx(data[:2].min()) and s.stats.max == pytest.approx(data[:2].max())
    part = ws.read_slice("k.fif", key="EOG,Fz", selection="1, 128:132")
    np.testing.assert_array_equal(part.slice.values, data[0, 128:132])
    assert part.slice.source_shape == [2, 384]


@pytest.mark.parametrize("ext", [".fif", ".edf", ".vhdr", ".set"])
def test_read_slice_reads_only_the_window(ws, monkeypatch, ext):
    raw = _raw(seconds=20.0)
    ws.save(raw, "w" + ext)
    calls: list[tuple[int | None, int | None]] = []
    real_get_data = mne.io.BaseRaw.get_data

    def spy(self, picks=None, start=0, stop=None, *args, **kwargs):
        calls.append((start, stop))
        return real_get_data(self, picks, start, stop, *args, **kwargs)

    monkeypatch.setattr(mne.io.BaseRaw, "get_data", spy)
    part = ws.read_slice("w" + ext, selection="0:2, 1280:1408")  # second 10-11 of Fz and Cz
    assert part.slice.shape == [2, 128]
    assert all(stop is not None and stop - start <= 128 for start, stop in calls), calls
    want = raw.get_data()[:2, 1280:1408]
    np.testing.assert_allclose(part.slice.values, want, rtol=0, atol=np.abs(want).max() * 1e-4)
    calls.clear()
    png, caption = ws.preview_image("w" + ext, max_side=64)  # strided heatmap: points, not the whole recording
    assert png.startswith(b"\x89PNG") and caption["kind"] == "heatmap" and caption["source_shape"] == [4, 2560]
    assert sum(stop - start for start, stop in calls) < 2560


def test_loaded_recording_is_lazy_and_summary_never_loads(ws, monkeypatch):
    ws.save(_raw(), "lazy.edf")
    raw = ws.load("lazy.edf")
    assert not raw.preload
    monkeypatch.setattr(mne.io.BaseRaw, "load_data", lambda *a, **k: pytest.fail("data loaded"))
    ws.summarize("lazy.edf")
    ws.read_slice("lazy.edf", selection="0, 0:10")


def test_summary_contents(ws):
    raw = _raw(6)
    raw.info["bads"] = ["Oz"]
    raw.crop(tmin=0.5)  # first_samp != 0: onsets are reported from the first sample
    ws.save(raw, "s.fif")
    s = ws.summarize("s.fif").summary
    assert s.reader == "Raw" and s.channel_types == {"eeg": 4, "eog": 1, "ecg": 1} and s.bads == ["Oz"]
    assert [(c.name, c.type, c.unit) for c in s.channels[:4]] == [("Fz", "eeg", "V"), ("Cz", "eeg", "V"),
                                                                  ("Pz", "eeg", "V"), ("EOG", "eog", "V")]
    assert s.first_time_s == pytest.approx(0.5) and s.duration_s == pytest.approx(s.n_times / 128)
    assert [(a.onset, a.description) for a in s.annotations] == [(0.0, "stim"), (0.75, "resp"), (1.5, "BAD_blink")]
    assert s.annotation_counts == {"stim": 1, "resp": 1, "BAD_blink": 1} and not s.annotations_truncated
    assert s.lowpass == 64.0 and s.meas_date.startswith("2023-11-14")
    assert summarize_object(raw, ReadOptions()).kind == "recording"  # objects in memory too


# -- what save accepts -----------------------------------------------------------------------------

@pytest.mark.parametrize("ext", [".fif", ".edf", ".bdf", ".vhdr", ".set"])
def test_agent_json_recording(ws, ext):
    data = (np.arange(3 * 256).reshape(3, 256) % 50 - 25) * 1e-6
    doc = {"sfreq": 128, "data": data.tolist(), "ch_names": ["C3", "C4", "EOG1"], "ch_types": ["eeg", "eeg", "eog"],
           "annotations": [{"onset": 0.5, "duration": 0.1, "description": "go"}],
           "meas_date": "2024-01-02T03:04:05+00:00"}
    ws.save(doc, "j" + ext)
    raw = ws.load("j" + ext)
    assert raw.ch_names == ["C3", "C4", "EOG1"] and raw.info["sfreq"] == 128
    np.testing.assert_allclose(raw.get_data(), data, rtol=0, atol=2e-8)
    assert [d.split("/")[-1] for d in raw.annotations.description] == ["go"]
    if ext == ".fif":
        assert raw.get_channel_types() == ["eeg", "eeg", "eog"]
    if ext != ".set":  # EEGLAB keeps no measurement date
        assert raw.info["meas_date"].isoformat() == "2024-01-02T03:04:05+00:00"


@pytest.mark.parametrize("bad", [
    {"data": [[0.0]]},
    {"sfreq": 100, "data": [["a"]]},
    {"sfreq": 0, "data": [[0.0]]},
    {"sfreq": "fast", "data": [[0.0]]},
    {"sfreq": 100, "data": [[0.0, 1.0], [0.0]]},
    {"sfreq": 100, "data": [[0.0]], "ch_names": ["a", "b"]},
    {"sfreq": 100, "data": [[0.0], [1.0]], "ch_names": ["a", "a"]},
    {"sfreq": 100, "data": [[0.0]], "ch_types": ["brainwave"]},
    {"sfreq": 100, "data": [[0.0]], "annotations": [{"when": 1}]},
    {"sfreq": 100, "data": [[0.0]], "meas_date": "yesterday"},
    {"sfreq": 100, "data": [[0.0]], "subject": "x"},
    np.zeros((2, 10)),
    [[0.0, 1.0]],
])
def test_invalid_recordings_are_refused_and_nothing_is_written(ws, tmp_path, bad):
    err = _code(ws.save, bad, "bad.fif")
    assert err.code == "INVALID_DATA", err
    assert not (tmp_path / "bad.fif").exists()


def test_brainvision_writes_its_companions_under_the_final_name(ws, tmp_path):
    ws.save(_raw(), "sub/rec.vhdr")
    folder = tmp_path / "sub"
    assert sorted(p.name for p in folder.iterdir()) == ["rec.eeg", "rec.vhdr", "rec.vmrk"]  # no temp leftovers
    header = (folder / "rec.vhdr").read_text(encoding="utf-8")
    assert "DataFile=rec.eeg" in header and "MarkerFile=rec.vmrk" in header
    assert _code(ws.save, _raw(), "sub/rec.vhdr").code == "EXISTS"
    ws.save(_raw(2), "sub/rec.vhdr", overwrite=True)
    assert ws.load("sub/rec.vhdr").ch_names == ["Fz", "Cz"]
    # a stray .eeg that belongs to no header is never taken over
    (folder / "other.eeg").write_bytes(b"not mine")
    assert _code(ws.save, _raw(), "sub/other.vhdr").code == "EXISTS"
    assert (folder / "other.eeg").read_bytes() == b"not mine" and not (folder / "other.vhdr").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".sciio")]


def test_exports_do_not_load_the_callers_raw(ws, tmp_path):
    ws.save(_raw(), "src.fif")
    raw = ws.load("src.fif")
    for ext in (".edf", ".bdf", ".vhdr", ".set", ".fif"):
        ws.save(raw, "out" + ext)
    assert not raw.preload
    assert ws.load("out.set").n_times == raw.n_times


# -- files that point at other files ------------------------------------------------------------------

@pytest.mark.parametrize(("field", "target"), [("DataFile", "../outside.eeg"), ("MarkerFile", "/etc/passwd"),
                                               ("DataFile", "/etc/hostname")])
def test_brainvision_companions_outside_the_folder_are_refused(tmp_path, field, target):
    root = tmp_path / "root"
    ws = Workspace([root])
    ws.save(_raw(), "rec.vhdr")
    (tmp_path / "outside.eeg").write_bytes((root / "rec.eeg").read_bytes())
    header = (root / "rec.vhdr").read_text(encoding="utf-8")
    original = "rec.eeg" if field == "DataFile" else "rec.vmrk"
    (root / "rec.vhdr").write_text(header.replace(f"{field}={original}", f"{field}={target}"), encoding="utf-8")
    for op in (ws.load, ws.summarize, ws.read_slice):
        err = _code(op, "rec.vhdr")
        assert err.code == "PATH_OUTSIDE_ROOT" and target in err.message


def test_companion_symlinked_out_of_the_folder_is_refused(tmp_path):
    root = tmp_path / "root"
    ws = Workspace([root])
    ws.save(_raw(), "rec.vhdr")
    os.replace(root / "rec.eeg", tmp_path / "elsewhere.eeg")
    os.symlink(tmp_path / "elsewhere.eeg", root / "rec.eeg")
    assert _code(ws.load, "rec.vhdr").code == "PATH_OUTSIDE_ROOT"


# -- cut short ---------------------------------------------------------------------------------------

def test_data_cut_short_is_refused(ws, tmp_path):
    ws.save(_raw(seconds=4.0), "c.edf")
    raw = (tmp_path / "c.edf").read_bytes()
    record = (len(raw) - 256 * 6) // 4  # 4 records of 1 s: cutting one whole record is still detected
    (tmp_path / "c.edf").write_bytes(raw[:-record])
    _expect_corrupt(ws, "c.edf")
    ws.save(_raw(), "c.vhdr")
    eeg = (tmp_path / "c.eeg").read_bytes()
    (tmp_path / "c.eeg").write_bytes(eeg[:-3])
    _expect_corrupt(ws, "c.vhdr")
    ws.save(_raw(), "c.fif")
    fif = (tmp_path / "c.fif").read_bytes()
    (tmp_path / "c.fif").write_bytes(fif[: len(fif) * 3 // 4])
    _expect_corrupt(ws, "c.fif")


# -- quiet: MNE logs to stdout by default, which is the stdio protocol's ----------------------------

def test_nothing_is_printed(ws, tmp_path, capfd):
    raw = _raw()
    raw.set_annotations(mne.Annotations([10.0], [1.0], ["outside the data"]), verbose="error")
    for ext in (".fif", ".edf", ".bdf", ".vhdr", ".set"):
        ws.save(raw, "q" + ext)
        ws.summarize("q" + ext)
        ws.read_slice("q" + ext, selection="0, 0:5")
        ws.load("q" + ext, key="Fz")
    _reference(tmp_path, "gdf", "q")
    _reference(tmp_path, "cnt", "q")
    ws.summarize("q.gdf")
    ws.summarize("q.cnt")
    out, _ = capfd.readouterr()
    assert out == ""


# -- through the MCP server, as an agent uses it ------------------------------------------------------

async def test_recordings_through_the_mcp_tools(tmp_path):
    from fastmcp import Client

    from schemas import SliceResult, SummaryResult
    from server.app import create_app
    from server.settings import Settings

    rows = [[round(1e-6 * ((i * (c + 1)) % 40 - 20), 9) for i in range(512)] for c in range(3)]
    doc = {"sfreq": 256, "data": rows, "ch_names": ["Fz", "Cz", "HEOG"], "ch_types": ["eeg", "eeg", "eog"],
           "annotations": [{"onset": 1.0, "duration": 0.5, "description": "stimulus"}]}
    async with Client(create_app(Settings(roots=[tmp_path]))) as client:
        await client.call_tool("save", {"path": "agent.edf", "data": doc})
        s = SummaryResult.model_validate(
            (await client.call_tool("load_summary", {"path": "agent.edf"})).structured_content).summary
        assert (s.kind, s.sfreq, s.n_channels, s.n_times) == ("recording", 256.0, 3, 512)
        assert [c.name for c in s.channels] == ["Fz", "Cz", "HEOG"] and s.annotations[0].description == "stimulus"
        part = SliceResult.model_validate((await client.call_tool(
            "read_slice", {"path": "agent.edf", "key": "Cz", "selection": "0, 256:260"})).structured_content)
        np.testing.assert_allclose(part.slice.values, rows[1][256:260], atol=1e-8)
        bad = await client.call_tool("load_summary", {"path": "agent.edf", "key": "T7"}, raise_on_error=False)
        assert bad.is_error and bad.content[0].text.startswith("KEY_NOT_FOUND:")
