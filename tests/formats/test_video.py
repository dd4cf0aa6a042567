"""Video through PyAV: header summaries, frames by index (seeking, never decoding from the start), previews
by time or frame, bounded loads, and what a damaged file gives. Every file is written by PyAV in the test.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from io_core import IOCoreError, Workspace
from io_core.formats import video
from io_core.limits import Limits
from io_core.options import ReadOptions
from tests.formats.video_samples import (
    CODECS,
    EXTS,
    FORMAT,
    ORIGINALS,
    RATE,
    H,
    N,
    W,
    frame_pixels,
    which_frames,
    write_video,
)


def _code(fn, *args: Any, **kwargs: Any) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


@pytest.fixture()
def clips(tmp_path: Path) -> dict[str, str]:
    return {ext: write_video(tmp_path / f"clip{ext}").name for ext in EXTS}


# -- summary: the header only ----------------------------------------------------------------------

@pytest.mark.parametrize("ext", EXTS)
def test_summary_reads_the_header(ws, clips, ext):
    result = ws.summarize(clips[ext], max_bytes=32768)
    s = result.summary
    assert result.format == FORMAT[ext] and s.kind == "video"
    assert s.container.split(" ")[0] == {".mov": "quicktime", ".avi": "avi", ".mkv": "matroska", ".webm": "webm"}.get(
        ext, "mp4")
    assert (s.width, s.height, s.frames, s.frame_rate) == (W, H, N, RATE)
    assert s.duration_s == pytest.approx(N / RATE, abs=0.05)
    assert s.codec == {"libx264rgb": "h264", "libvpx-vp9": "vp9"}.get(CODECS[ext][0], CODECS[ext][0])
    assert s.pix_fmt
    # Matroska headers carry a duration, not a frame count: the count is estimated and says so
    assert s.frames_estimated is (ext in (".mkv", ".webm"))
    assert [st["type"] for st in s.streams] == ["video"]
    assert s.streams[0]["width"] == W and s.streams[0]["frame_rate"] == RATE
    # the note's example selection is one frame that fits a small response budget
    example = s.note.split("selection='")[1].split("'")[0]
    part = ws.read_slice(clips[ext], selection=example, max_bytes=32768).slice
    assert part.shape[-1] == 3 and which_frames(ws.read_slice(clips[ext], selection=example.split(",")[0],
                                                              max_bytes=None).slice.values, ext) == [29]


@pytest.mark.parametrize("ext", [".mp4", ".mkv", ".webm"])
def test_summary_lists_the_audio_stream_too(ws, tmp_path, ext):
    write_video(tmp_path / f"talk{ext}", audio=1)  # the audio runs a little longer than the video
    s = ws.summarize(f"talk{ext}").summary
    assert [st["type"] for st in s.streams] == ["video", "audio"]
    audio = s.streams[1]
    assert (audio["codec"], audio["sample_rate"], audio["channels"]) == (
        ("opus", 48000, 1) if ext == ".webm" else ("aac", 8000, 1))
    # what read_slice addresses is the video's frames (Matroska: from the video track's own duration tag)
    assert s.frames == N and s.duration_s == pytest.approx(N / RATE, abs=0.05)
    assert which_frames(ws.read_slice(f"talk{ext}", selection="30", max_bytes=None).slice.values, ext) == [30]


def test_summary_decodes_nothing(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4")

    def no_decoding(*args, **kwargs):
        raise AssertionError("a summary decoded a packet")

    monkeypatch.setattr(av.packet.Packet, "decode", no_decoding)
    monkeypatch.setattr(av.container.InputContainer, "decode", no_decoding)
    s = video.MP4.summarize(path, ReadOptions())
    assert s.frames == N


# -- read_slice: frames by index -------------------------------------------------------------------

@pytest.mark.parametrize("ext", EXTS)
def test_read_slice_gives_exactly_the_frames_asked_for(ws, clips, ext):
    part = ws.read_slice(clips[ext], selection="10:12", max_bytes=None).slice
    assert part.shape == [2, H, W, 3] and part.dtype == "|u1" and part.source_shape == [N, H, W, 3]
    assert which_frames(part.values, ext) == [10, 11]
    assert which_frames(ws.read_slice(clips[ext], selection="50:60:4", max_bytes=None).slice.values, ext) == [50, 54, 58]
    assert which_frames(ws.read_slice(clips[ext], selection="-2:", max_bytes=None).slice.values, ext) == [58, 59]
    assert which_frames(ws.read_slice(clips[ext], selection="0", max_bytes=None).slice.values, ext) == [0]
    # backwards, and a pixel of one frame
    assert which_frames(ws.read_slice(clips[ext], selection="20:17:-1", max_bytes=None).slice.values, ext) == [
        20, 19, 18]
    pixel = ws.read_slice(clips[ext], selection="33, 5, 7", max_bytes=None).slice
    assert pixel.shape == [3] and np.abs(np.array(pixel.values) - frame_pixels(33)[5, 7]).max() <= (
        0 if CODECS[ext][3] else 16)


def test_read_slice_is_refused_by_size_before_decoding(ws, clips, monkeypatch):
    monkeypatch.setattr(video.VideoFrames, "decode", lambda *a, **k: pytest.fail("decoded before the size check"))
    err = _code(ws.read_slice, clips[".mp4"], selection="0:60", max_bytes=32768)
    assert err.code == "TOO_LARGE" and "selection=" in err.hint


def test_decoded_bytes_are_bounded_by_the_limits(tmp_path, clips):
    small = Workspace([tmp_path], limits=Limits(max_member_bytes=10 * W * H * 3))
    part = small.read_slice(clips[".mkv"], selection="0:10", max_bytes=None).slice
    assert which_frames(part.values, ".mkv") == list(range(10))
    err = _code(small.read_slice, clips[".mkv"], selection="0:11", max_bytes=None)
    assert err.code == "TOO_LARGE" and "selection='0:10'" in err.hint
    # what counts is what is kept: every 4th pixel of all 60 frames fits where 11 whole frames do not
    part = small.read_slice(clips[".mkv"], selection=":, ::4, ::4", max_bytes=None).slice
    assert part.shape == [N, H // 4, W // 4, 3]
    np.testing.assert_array_equal(np.array(part.values, dtype=np.uint8), ORIGINALS[:, ::4, ::4])
    err = _code(small.load, clips[".mkv"])
    assert err.code == "TOO_LARGE" and "selection=" in err.hint


def _counting(frames: video.VideoFrames) -> list[int]:
    """Indices of every frame ``frames`` decodes from now on."""
    decoded: list[int] = []
    inner = frames._decoded

    def counted(*args: Any):
        for index, frame in inner(*args):
            decoded.append(index)
            yield index, frame

    frames._decoded = counted
    return decoded


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mkv", ".webm"])
def test_a_frame_is_reached_from_the_keyframe_before_it(tmp_path, ext):
    path = write_video(tmp_path / f"long{ext}", n=240, gop=24)
    handler = {"mp4": video.MP4, "avi": video.AVI, "matroska": video.MATROSKA}[FORMAT[ext]]
    with handler.open_array(path, ReadOptions()) as frames:
        assert frames.shape == (240, H, W, 3)
        decoded = _counting(frames)
        got = frames[200]
        assert which_frames(got, ext) == [200 % N]
        assert decoded[0] <= 200 and 200 - decoded[0] < 24 + 2 and len(decoded) <= 26, decoded
        decoded.clear()
        # far apart frames: a new seek each, not a decode through everything between
        got = frames[10:240:100]
        assert which_frames(got, ext) == [10, 110 % N, 210 % N]
        assert len(decoded) < 3 * 26, decoded


def test_b_frames_before_the_frame_asked_for_are_skipped_not_decoded(tmp_path):
    """Non-reference B-frames shown before the wanted frame are not decoded; every frame still comes out right."""
    # near-lossless (x264 makes no B-frames when lossless): frames are recognised by their nearest original
    path = write_video(tmp_path / "b.mp4", n=240, gop=48,
                       options={"qp": "1", "x264-params": "bframes=3:b-adapt=0:b-pyramid=none:scenecut=0"})
    with av.open(str(path)) as container:
        assert {int(f.pict_type) for f in container.decode(video=0)} >= {1, 2, 3}  # I, P and B frames
    with video.MP4.open_array(path, ReadOptions()) as frames:
        decoded = _counting(frames)
        assert which_frames(frames[143], ".avi") == [143 % N]
        skipped = set(range(decoded[0], 143)) - set(decoded)
        assert decoded[0] == 96 and len(skipped) > 20, decoded  # from the keyframe at 96, B-frames left out
        for index in (0, 47, 48, 95, 130, 131, 239):
            assert which_frames(frames[index], ".avi") == [index % N]
        assert which_frames(frames[100:110], ".avi") == [i % N for i in range(100, 110)]
        assert which_frames(frames[:], ".avi") == [i % N for i in range(240)]


def test_a_gap_in_the_timestamps_holds_the_frame_before_it(ws, tmp_path):
    """Frame i is what is shown at i / rate: where a variable-rate stream has no frame, the one before stays."""
    from fractions import Fraction

    with av.open(str(tmp_path / "vfr.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = W, H, "bgr0"
        stream.codec_context.time_base = Fraction(1, RATE)
        for i in (0, 1, 2, 5, 6, 7, 8, 9):  # nothing at 3 and 4
            frame = av.VideoFrame.from_ndarray(frame_pixels(i), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, RATE)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    assert ws.summarize("vfr.mkv").summary.frames == 10
    shown = [0, 1, 2, 2, 2, 5, 6, 7, 8, 9]
    assert which_frames(ws.read_slice("vfr.mkv", selection="0:10", max_bytes=None).slice.values, ".mkv") == shown
    assert which_frames(ws.read_slice("vfr.mkv", selection="4", max_bytes=None).slice.values, ".mkv") == [2]
    assert which_frames(ws.load("vfr.mkv"), ".mkv") == shown


# -- previews: one frame by time or index ----------------------------------------------------------

def _preview_frame(png: bytes, ext: str) -> int:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert image.shape == (H, W, 3)  # smaller than max_side: drawn at its own size
    return which_frames(image, ".avi")  # PNG of a decoded frame: compared with the lossy tolerance


@pytest.mark.parametrize("ext", EXTS)
def test_preview_at_a_time_or_a_frame(ws, clips, ext):
    png, caption = ws.preview_image(clips[ext], selection="t=1.0s")
    assert caption["kind"] == "image" and caption["width"] == W and caption["format"] == FORMAT[ext]
    assert caption["frame"] == 24  # the caption says which frame was drawn
    assert _preview_frame(png, ext) == [24]
    assert _preview_frame(ws.preview_image(clips[ext], selection="2.25s")[0], ext) == [54]
    assert _preview_frame(ws.preview_image(clips[ext], selection="37")[0], ext) == [37]
    assert _preview_frame(ws.preview_image(clips[ext], selection="-1")[0], ext) == [59]
    assert _preview_frame(ws.preview_image(clips[ext])[0], ext) == [0]


def test_preview_selection_errors(ws, clips):
    for selection in ("t=99s", "60", "-61"):
        err = _code(ws.preview_image, clips[".mp4"], selection=selection)
        assert err.code == "INVALID_SELECTION" and "0..59" in err.hint, selection
    err = _code(ws.preview_image, clips[".mp4"], selection="10:20")
    assert err.code == "INVALID_SELECTION" and "t=12.5s" in err.hint


def test_time_and_index_agree_with_pts(tmp_path):
    path = write_video(tmp_path / "clip.mkv")
    with video.MATROSKA.open_array(path, ReadOptions()) as frames:
        assert video.parse_frame("t=0.5s", frames.facts) == 12
        assert video.parse_frame("t=0.54s", frames.facts) == 12  # the frame shown at that time
        assert video.parse_frame(None, frames.facts) == 0
        assert video.parse_frame("t=2", frames.facts) == video.parse_frame(" 2 S ", frames.facts) == 48
        assert video.parse_frame("2", frames.facts) == 2  # a bare number is a frame index


# -- load, keys, conversion ------------------------------------------------------------------------

@pytest.mark.parametrize("ext", EXTS)
def test_load_decodes_every_frame(ws, clips, ext):
    got = ws.load(clips[ext])
    assert isinstance(got, np.ndarray) and got.shape == (N, H, W, 3) and got.dtype == np.uint8
    assert which_frames(got, ext) == list(range(N))


def test_a_video_has_no_keys(ws, clips):
    for op in (ws.load, ws.summarize):
        err = _code(op, clips[".mp4"], key="audio")
        assert err.code == "KEY_NOT_FOUND" and "selection" in err.hint


def test_convert_to_npy_streams_the_frames(ws, tmp_path, clips):
    ws.convert(clips[".mkv"], "frames.npy")
    got = np.load(tmp_path / "frames.npy")
    np.testing.assert_array_equal(got, ORIGINALS)


def test_content_is_recognised_without_the_extension(ws, tmp_path, clips):
    (tmp_path / "clip.bin").write_bytes((tmp_path / clips[".mp4"]).read_bytes())
    assert ws.summarize("clip.bin").format == "mp4"
    (tmp_path / "clip2.bin").write_bytes((tmp_path / clips[".avi"]).read_bytes())
    assert ws.summarize("clip2.bin").format == "avi"
    (tmp_path / "clip3.bin").write_bytes((tmp_path / clips[".webm"]).read_bytes())
    assert ws.summarize("clip3.bin").format == "matroska"


# -- damaged files (the shared suite covers empty / half / garbage files of every extension) ----------

def test_cut_inside_the_data_of_a_faststart_mp4(ws, tmp_path):
    """The index (moov) is at the front: the header alone looks whole, the mdat box says the file is short."""
    path = write_video(tmp_path / "fast.mp4", faststart=True)
    raw = path.read_bytes()
    assert raw.index(b"moov") < raw.index(b"mdat")
    path.write_bytes(raw[: int(len(raw) * 0.8)])
    for op in (ws.summarize, ws.load):
        err = _code(op, "fast.mp4")
        assert err.code == "CORRUPT_FILE" and "cut short" in err.message and err.hint


def test_matroska_segment_cut_short(ws, tmp_path):
    path = write_video(tmp_path / "cut.mkv")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 100])
    err = _code(ws.summarize, "cut.mkv")
    assert err.code == "CORRUPT_FILE" and "segment" in err.message


def test_audio_only_file_is_refused_with_a_hint(ws, tmp_path):
    with av.open(str(tmp_path / "sound.mp4"), "w") as out:
        sound = out.add_stream("aac", rate=8000, layout="mono")
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 8000), np.float32), format="flt", layout="mono")
        chunk.sample_rate = 8000
        for packet in [*sound.encode(chunk), *sound.encode()]:
            out.mux(packet)
    err = _code(ws.summarize, "sound.mp4")
    assert err.code == "CORRUPT_FILE" and "no video stream" in err.message and "audio" in err.hint


def test_a_stream_shorter_than_its_header_is_refused_not_padded(tmp_path):
    path = write_video(tmp_path / "clip.mp4")
    with video.MP4.open_array(path, ReadOptions()) as frames:
        frames.shape = (N + 5, H, W, 3)  # a header promising more frames than the stream holds
        start = time.monotonic()
        err = _code(frames.__getitem__, slice(58, 62))
        assert time.monotonic() - start < 5
        assert err.code == "CORRUPT_FILE" and "ends before frame 60" in err.message


@pytest.mark.parametrize("ext", [".mp4", ".avi", ".mkv"])
def test_a_playlist_named_as_a_video_is_not_followed(ws, tmp_path, ext):
    """A playlist (HLS, concat) is never demuxed as one: each row forces its container (probing would pick them)."""
    secret = tmp_path / "secret.mkv"
    write_video(secret)
    (tmp_path / f"list{ext}").write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile://{secret}\n"
                                         "#EXT-X-ENDLIST\n")
    (tmp_path / f"concat{ext}").write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    for name in (f"list{ext}", f"concat{ext}"):
        err = _code(ws.summarize, name)
        assert err.code == "CORRUPT_FILE", name


@pytest.mark.parametrize("ext", EXTS)
def test_damaged_bytes_give_frames_or_coded_errors_quickly(ws, tmp_path, ext):
    """Bytes overwritten in the header or the data: FFmpeg conceals what it can; the rest is CORRUPT_FILE
    (never PERMISSION_DENIED from a reference FFmpeg may not follow, never a raw library error)."""
    src = write_video(tmp_path / f"src{ext}", n=120).read_bytes()
    rng = np.random.default_rng(1)
    seen = set()
    for trial in range(9):
        raw = bytearray(src)
        if trial % 3 == 2:
            at = int(rng.integers(0, len(raw) - 200))
            raw[at : at + 200] = bytes(200)
        else:
            low = len(raw) // 4 if trial % 3 == 0 else 0
            for _ in range(20 if trial % 3 == 0 else 5):
                raw[int(rng.integers(low, len(raw)))] = int(rng.integers(0, 256))
        name = f"bad{trial}{ext}"
        (tmp_path / name).write_bytes(bytes(raw))
        for op, kwargs in ((ws.summarize, {}), (ws.load, {}), (ws.preview_image, {"selection": "100"}),
                           (ws.read_slice, {"selection": "50:52, 0, 0", "max_bytes": None})):
            start = time.monotonic()
            try:
                op(name, **kwargs)
                seen.add("ok")
            except IOCoreError as exc:
                # a damaged header may promise huge frames: refused by size before decoding
                allowed = {"CORRUPT_FILE", "TOO_LARGE"} | ({"INVALID_SELECTION"} if op != ws.load else set())
                assert exc.code in allowed and exc.hint, (name, op.__name__, exc)
                seen.add(exc.code)
            assert time.monotonic() - start < 5
    assert "CORRUPT_FILE" in seen
