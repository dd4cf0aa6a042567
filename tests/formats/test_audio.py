"""Audio beyond the shared suite: sample types, agent JSON, lazy time windows, truncation, mismatches."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import io_core
from io_core import IOCoreError
from io_core.formats.windowed import time_window

RATE = 8000


def _code(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def _tone(seconds: float = 2.0, channels: int = 2, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([np.sin(2 * np.pi * (220 + 110 * c) * t) * 0.8 / (c + 1) for c in range(channels)], axis=1)


# -- sample types: exact where the encoding is lossless ------------------------------------------

@pytest.mark.parametrize(("dtype", "subtype"), [("int16", "PCM_16"), ("int32", "PCM_32"), ("float32", "FLOAT"),
                                                ("float64", "DOUBLE")])
def test_wav_keeps_every_sample_type_exactly(ws, tmp_path, dtype, subtype):
    data = _tone()
    data = (data * np.iinfo(dtype).max).astype(dtype) if dtype.startswith("int") else data.astype(dtype)
    ws.save({"samplerate": RATE, "data": data}, "a.wav")
    assert sf.info(str(tmp_path / "a.wav")).subtype == subtype  # a plain WAV any player reads
    got = ws.load("a.wav")
    assert got["data"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got["data"], data)
    s = ws.summarize("a.wav").summary
    assert (s.subtype, s.dtype, s.frames, s.channels) == (subtype, np.dtype(dtype).str, len(data), 2)
    assert s.samplerate == RATE
    assert s.stats.exact and s.stats.min == data.min() and s.stats.max == data.max()


def test_flac_int16_and_24_bit_exact_floats_quantized_low_bits_refused(ws, tmp_path):
    pcm16 = (_tone() * 30000).astype(np.int16)
    ws.save({"samplerate": RATE, "data": pcm16}, "a.flac")
    np.testing.assert_array_equal(ws.load("a.flac")["data"], pcm16)
    pcm24 = ((_tone() * 2**23).astype(np.int32) << 8)  # 24-bit audio, left-aligned as libsndfile gives it
    ws.save({"samplerate": RATE, "data": pcm24}, "b.flac")
    assert sf.info(str(tmp_path / "b.flac")).subtype == "PCM_24"
    got = ws.load("b.flac")["data"]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, pcm24)
    floats = _tone()
    ws.save({"samplerate": RATE, "data": floats}, "c.flac")
    got = ws.load("c.flac")["data"]
    assert got.dtype == np.int32 and np.abs(got / 2**31 - floats).max() < 2**-22
    err = _code(ws.save, {"samplerate": RATE, "data": np.arange(10, dtype=np.int32).reshape(-1, 1) * 1000}, "d.flac")
    assert err.code == "INVALID_DATA" and "24 bits" in err.message
    err = _code(ws.save, {"samplerate": RATE, "data": floats * 2}, "e.flac")
    assert err.code == "INVALID_DATA" and "[-1, 1]" in err.hint
    assert not (tmp_path / "d.flac").exists() and not (tmp_path / "e.flac").exists()


def test_ogg_is_lossy_float32_and_refuses_what_would_crash_libvorbis(ws, tmp_path):
    data = _tone(3.0).astype(np.float32)
    ws.save({"samplerate": RATE, "data": data}, "a.ogg")
    got = ws.load("a.ogg")
    assert got["data"].dtype == np.float32 and got["data"].shape == data.shape
    assert np.corrcoef(got["data"][:, 0], data[:, 0])[0, 1] > 0.99
    s = ws.summarize("a.ogg").summary
    assert (s.format, s.subtype, s.dtype) == ("OGG", "VORBIS", "<f4")
    # outside Vorbis's limits libvorbis segfaults: refused before it is called
    assert _code(ws.save, {"samplerate": 250_000, "data": data}, "b.ogg").code == "INVALID_DATA"
    assert _code(ws.save, {"samplerate": RATE, "data": data * 3}, "c.ogg").code == "INVALID_DATA"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".ogg") == ["a.ogg"]


def test_long_ogg_is_written_in_blocks_without_crashing(ws):
    """One sf.write of ~100 s of Ogg overflows libvorbis's stack (python-soundfile #426)."""
    data = np.zeros((RATE * 130, 2), dtype=np.float32)
    data[::97] = 0.25
    ws.save({"samplerate": RATE, "data": data}, "long.ogg")
    assert ws.summarize("long.ogg").summary.frames == RATE * 130


# -- what agents send ------------------------------------------------------------------------------

def test_agent_json_and_tuple_inputs(ws, tmp_path):
    ws.save({"samplerate": 8000, "data": [[0.5, -0.5], [0.25, -0.25], [0.0, 1.0]]}, "j.wav")
    got = ws.load("j.wav")
    assert got["samplerate"] == 8000 and got["data"].dtype == np.float64  # JSON floats: DOUBLE, exact
    assert got["data"].tolist() == [[0.5, -0.5], [0.25, -0.25], [0.0, 1.0]]
    ws.save({"samplerate": 8000.0, "data": [0, 100, -100, 32767]}, "mono.wav")  # 1-D: mono; ints that fit: int16
    got = ws.load("mono.wav")
    assert got["data"].shape == (4, 1) and got["data"].dtype == np.int16
    assert got["data"][:, 0].tolist() == [0, 100, -100, 32767]
    ws.save({"samplerate": 8000, "data": [70000, -70000]}, "wide.wav")  # needs 32 bits: PCM_32, values kept
    assert ws.load("wide.wav")["data"][:, 0].tolist() == [70000, -70000]
    ws.save({"samplerate": 8000, "data": [[1, 2], [3, 4]]}, "typed.wav", dtype="float32")
    assert ws.load("typed.wav")["data"].dtype == np.float32
    data, rate = sf.read(str(tmp_path / "j.wav"))  # what soundfile.read returns saves as it is
    ws.save((data, rate), "t.flac")
    assert ws.load("t.flac")["samplerate"] == 8000


@pytest.mark.parametrize("bad", [
    [[0.1, 0.2]],  # no samplerate
    {"data": [0.1]},
    {"samplerate": 0, "data": [0.1]},
    {"samplerate": -8000, "data": [0.1]},
    {"samplerate": 44100.5, "data": [0.1]},
    {"samplerate": "fast", "data": [0.1]},
    {"samplerate": True, "data": [0.1]},
    {"samplerate": 8000, "data": [[0.1, 0.2], [0.3]]},  # ragged
    {"samplerate": 8000, "data": ["a", "b"]},
    {"samplerate": 8000, "data": [0.1, float("nan")]},
    {"samplerate": 8000, "data": [True, False]},
    {"samplerate": 8000, "data": [[[0.1]]]},
    {"samplerate": 8000, "data": [0.1], "title": "x"},
    {"samplerate": 8000, "data": [2**40]},
])
def test_invalid_audio_is_refused_and_nothing_is_written(ws, tmp_path, bad):
    err = _code(ws.save, bad, "bad.wav")
    assert err.code in ("INVALID_DATA", "UNSAFE_FORMAT"), err
    assert not (tmp_path / "bad.wav").exists()


def test_empty_audio(ws, tmp_path):
    for ext in (".wav", ".ogg"):
        ws.save({"samplerate": RATE, "data": np.zeros((0, 2), dtype=np.float32)}, "e" + ext)
        assert ws.load("e" + ext)["data"].shape == (0, 2)
        s = ws.summarize("e" + ext).summary
        assert (s.frames, s.duration_s, s.stats.count) == (0, 0.0, 0)
    empty = {"samplerate": RATE, "data": np.zeros((0, 2), dtype=np.int16)}
    assert _code(ws.save, empty, "e.flac").code == "INVALID_DATA"
    assert not (tmp_path / "e.flac").exists()


def test_channels_first_array_is_refused_with_a_hint(ws):
    err = _code(ws.save, {"samplerate": RATE, "data": _tone(1.0).T}, "t.wav")
    assert err.code == "INVALID_DATA" and "transpose" in err.hint


# -- read_slice by time window: only the frames asked for are decoded ----------------------------

@pytest.mark.parametrize("ext", [".wav", ".flac", ".ogg"])
def test_time_window_slices_read_only_those_frames(ws, monkeypatch, ext):
    data = (_tone(10.0) * 20000).astype(np.int16)
    ws.save({"samplerate": RATE, "data": data if ext != ".ogg" else data / 32768}, "long" + ext)
    whole = ws.load("long" + ext)["data"]
    assert time_window(RATE, 1.0, 2.0) == "8000:16000" and time_window(RATE, 9.5) == "76000:"
    counted: list[int] = []
    real_read = sf.SoundFile.read

    def spy(self, frames=-1, *args, **kwargs):
        out = real_read(self, frames, *args, **kwargs)
        counted.append(len(out))
        return out

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    part = ws.read_slice("long" + ext, selection=time_window(RATE, 1.0, 1.25) + ", 0")
    assert part.slice.shape == [2000] and part.slice.source_shape == [RATE * 10, 2]
    np.testing.assert_allclose(part.slice.values, whole[8000:10000, 0], rtol=0, atol=1e-6)
    assert sum(counted) <= 2000 + 64  # the window, plus the 64-frame integrity check of the tail
    counted.clear()
    part = ws.read_slice("long" + ext, selection="100:40:-20, 1")  # backwards, strided
    np.testing.assert_allclose(part.slice.values, whole[100:40:-20, 1], rtol=0, atol=1e-6)
    assert sum(counted) <= 61 + 64


def test_strided_and_pointwise_reads_match_numpy(tmp_path):
    data = (np.arange(50_000 * 3) % 32000).astype(np.int16).reshape(-1, 3)
    sf.write(str(tmp_path / "s.wav"), data, RATE, subtype="PCM_16")
    from io_core.formats.audio import WAV
    from io_core.options import ReadOptions

    with WAV.open_array(tmp_path / "s.wav", ReadOptions()) as frames:
        assert frames.shape == (50_000, 3) and frames.ndim == 2 and len(frames) == 50_000
        for key in [(slice(None, None, 7), 1), (slice(5, None, 5000), slice(None)), (slice(-10, None), [2, 0]),
                    (..., 0), 49_999, (slice(3, 3), 1), ()]:
            np.testing.assert_array_equal(frames[key], data[key])
        with pytest.raises(IndexError):
            frames[50_000]


def test_exact_stats_on_request_stream_with_progress(ws):
    data = (_tone(120.0, channels=1, rate=48_000) * 30000).astype(np.int16)  # 11 MB: sampled by default
    ws.save({"samplerate": 48_000, "data": data}, "big.wav")
    approx = ws.summarize("big.wav").summary.stats
    assert approx.exact is False and approx.sampled_fraction < 0.1
    seen: list[tuple[int, int]] = []
    exact = ws.summarize("big.wav", exact_stats=True, progress=lambda done, total: seen.append((done, total))).summary
    assert exact.stats.exact is True and exact.stats.count == data.size
    assert exact.stats.min == data.min() and exact.stats.max == data.max()
    assert seen and seen[-1][0] == seen[-1][1] == data.nbytes


def test_summary_tags_and_preview(ws, tmp_path):
    with sf.SoundFile(str(tmp_path / "tagged.wav"), "w", RATE, 1, "PCM_16") as out:
        out.title = "Läb tone"
        out.comment = "calibration"
        out.write((_tone(1.0, 1) * 1000).astype(np.int16))
    s = ws.summarize("tagged.wav").summary
    assert s.tags.get("title") == "Läb tone" and s.tags.get("comment") == "calibration"
    assert "8000" in s.note
    png, caption = ws.preview_image("tagged.wav", selection=":, 0")
    assert png.startswith(b"\x89PNG") and caption["kind"] == "line" and caption["points"] == RATE
    png, caption = ws.preview_image("tagged.wav")
    assert caption["kind"] == "heatmap" and caption["source_shape"] == [RATE, 1]


def test_audio_has_no_keys(ws):
    ws.save({"samplerate": RATE, "data": [0.1, 0.2]}, "k.wav")
    for op in (ws.load, ws.summarize):
        assert _code(op, "k.wav", key="left").code == "KEY_NOT_FOUND"


def test_loaded_audio_is_cached_read_only_and_goes_through_hdf5(ws):
    data = (_tone() * 1000).astype(np.int16)
    ws.save({"samplerate": RATE, "data": data}, "a.flac")
    first = ws.load("a.flac")
    assert not first["data"].flags.writeable
    ws.save(first, "copy.h5")  # {"samplerate", "data"} is a plain container of arrays
    back = ws.load("copy.h5")
    ws.save(back, "again.wav")
    again = ws.load("again.wav")
    assert again["samplerate"] == RATE
    np.testing.assert_array_equal(again["data"], data)
    assert io_core.load(ws.sandbox.roots[0] / "again.wav")["data"].shape == data.shape


# -- corrupt and mismatched content ------------------------------------------------------------

def test_wav_cut_anywhere_after_the_header_is_refused(ws, tmp_path):
    ws.save({"samplerate": RATE, "data": (_tone() * 1000).astype(np.int16)}, "w.wav")
    raw = (tmp_path / "w.wav").read_bytes()
    for keep in (12, 44, 100, len(raw) // 3, len(raw) - 8):
        (tmp_path / "cut.wav").write_bytes(raw[:keep])
        for op in (ws.load, ws.summarize, ws.read_slice):
            assert _code(op, "cut.wav").code == "CORRUPT_FILE", keep


@pytest.mark.parametrize("ext", [".flac", ".ogg"])
def test_compressed_audio_cut_short_is_refused(ws, tmp_path, ext):
    data = _tone(4.0)
    ws.save({"samplerate": RATE, "data": (data * 30000).astype(np.int16) if ext == ".flac" else data}, "c" + ext)
    raw = (tmp_path / ("c" + ext)).read_bytes()
    for keep in (len(raw) // 4, len(raw) * 3 // 4, len(raw) - 10):
        (tmp_path / ("cut" + ext)).write_bytes(raw[:keep])
        for op in (ws.load, ws.summarize):
            assert _code(op, "cut" + ext).code == "CORRUPT_FILE", keep


@pytest.mark.parametrize(("real", "named", "fmt"), [(".flac", ".wav", "flac"), (".ogg", ".wav", "ogg"),
                                                    (".wav", ".flac", "wav"), (".flac", ".ogg", "flac"),
                                                    (".wav", ".ogg", "wav")])
def test_audio_in_the_wrong_container_names_the_real_one(ws, tmp_path, real, named, fmt):
    data = (_tone(1.0) * 1000).astype(np.int16) if real != ".ogg" else _tone(1.0)
    ws.save({"samplerate": RATE, "data": data}, "real" + real)
    (tmp_path / ("liar" + named)).write_bytes((tmp_path / ("real" + real)).read_bytes())
    for op in (ws.load, ws.summarize):
        err = _code(op, "liar" + named)
        assert err.code == "CORRUPT_FILE" and f"format={fmt!r}" in err.hint, err
    assert ws.summarize("liar" + named, format=fmt).format == fmt  # following the hint works


def test_other_libsndfile_containers_and_other_formats_are_named(ws, tmp_path):
    sf.write(str(tmp_path / "x.aiff"), np.zeros((100, 1), dtype=np.int16), RATE, format="AIFF")
    (tmp_path / "aiff.wav").write_bytes((tmp_path / "x.aiff").read_bytes())
    err = _code(ws.load, "aiff.wav")
    assert err.code == "CORRUPT_FILE" and "AIFF" in err.message
    ws.save(np.arange(10), "n.npy")
    (tmp_path / "npy.wav").write_bytes((tmp_path / "n.npy").read_bytes())
    err = _code(ws.summarize, "npy.wav")
    assert err.code == "CORRUPT_FILE" and "format='npy'" in err.hint


def test_audio_magic_bytes_without_extension(ws):
    ws.save({"samplerate": RATE, "data": [1, 2, 3]}, "sound", format="flac")
    assert ws.summarize("sound").format == "flac"
    assert ws.load("sound")["data"][:, 0].tolist() == [1, 2, 3]


# -- through the MCP server, as an agent uses it ------------------------------------------------------

async def test_audio_through_the_mcp_tools(tmp_path):
    from fastmcp import Client

    from schemas import SliceResult, SummaryResult
    from server.app import create_app
    from server.settings import Settings

    frames = [[round(float(np.sin(i / 5)), 6), round(float(np.cos(i / 5)), 6)] for i in range(800)]
    async with Client(create_app(Settings(roots=[tmp_path]))) as client:
        await client.call_tool("save", {"path": "agent.wav", "data": {"samplerate": 800, "data": frames}})
        summary = SummaryResult.model_validate(
            (await client.call_tool("load_summary", {"path": "agent.wav"})).structured_content)
        s = summary.summary
        assert (s.kind, s.samplerate, s.channels, s.frames, s.duration_s) == ("audio", 800, 2, 800, 1.0)
        part = SliceResult.model_validate((await client.call_tool(
            "read_slice", {"path": "agent.wav", "selection": time_window(800, 0.5, 0.51) + ", 1"})).structured_content)
        assert part.slice.values == [f[1] for f in frames[400:408]]
        bad = await client.call_tool("save", {"path": "bad.wav", "data": {"data": frames}}, raise_on_error=False)
        assert bad.is_error and bad.content[0].text.startswith("INVALID_DATA:")


def test_audio_and_eeg_libraries_load_only_when_used(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    sf.write(str(tmp_path / "x.wav"), np.zeros((10, 1), dtype=np.int16), RATE)
    code = (
        "import json, sys, io_core, server, schemas\n"
        "heavy = ('soundfile', 'mne', 'edfio', 'pybv', 'eeglabio')\n"
        "seen = lambda: sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "before = seen()\n"
        f"io_core.summarize({str(tmp_path / 'x.wav')!r})\n"
        "print(json.dumps([before, seen()]))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    before, after = json.loads(proc.stdout.strip().splitlines()[-1])
    assert before == [] and after == ["soundfile"]


# -- a second reader: WAVs libsndfile refuses but scipy reads (issue 11 point 5) ---------------------

def _scipy_wav_files():
    import pathlib

    import scipy

    data = pathlib.Path(scipy.__file__).parent / "io" / "tests" / "data"
    return sorted(data.glob("test-8000Hz-le-3ch-5S-*bit.wav"))


def test_64_bit_pcm_written_by_scipy_summarizes_loads_and_slices(ws, tmp_path):
    from scipy.io import wavfile

    values = (np.arange(30, dtype=np.int64).reshape(10, 3) - 15) * (1 << 40)
    wavfile.write(ws.sandbox.roots[0] / "pcm64.wav", 8000, values)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(ws.sandbox.roots[0] / "pcm64.wav"))  # the first reader really refuses it
    summary = ws.summarize("pcm64.wav").summary
    assert (summary.frames, summary.channels, summary.samplerate) == (10, 3, 8000)
    assert summary.subtype == "PCM_64" and summary.dtype == "<i8"
    assert summary.stats.max == pytest.approx(float(values.max()))
    np.testing.assert_array_equal(ws.load("pcm64.wav")["data"], values)
    part = ws.read_slice("pcm64.wav", selection="2:4, 1").slice
    assert part.shape == [2]


@pytest.mark.parametrize("name", [p.name for p in _scipy_wav_files()])
def test_odd_bit_depth_wavs_shipped_with_scipy_are_not_called_corrupt(ws, name):
    import shutil

    from scipy.io import wavfile

    src = next(p for p in _scipy_wav_files() if p.name == name)
    shutil.copy(src, ws.sandbox.roots[0] / name)
    rate, expected = wavfile.read(src)
    summary = ws.summarize(name).summary
    assert (summary.frames, summary.channels, summary.samplerate) == (*expected.shape, rate)
    np.testing.assert_array_equal(ws.load(name)["data"], expected)


def test_wav_truncated_for_both_readers_is_still_corrupt(ws):
    from scipy.io import wavfile

    wavfile.write(ws.sandbox.roots[0] / "cut.wav", 8000, np.ones((1000, 2), dtype=np.int64))
    raw = (ws.sandbox.roots[0] / "cut.wav").read_bytes()
    (ws.sandbox.roots[0] / "cut.wav").write_bytes(raw[: len(raw) // 2])
    assert _code(ws.summarize, "cut.wav").code == "CORRUPT_FILE"
