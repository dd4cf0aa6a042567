"""Small videos written by PyAV for the tests (sciio reads video, it does not write it).

Frame ``i`` is one constant colour (``frame_pixels``) unlike every other frame's, so a decoded
frame tells which frame it is: exactly for the lossless codecs, by its nearest original for AVI's
lossy MPEG-4 Part 2.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

W, H, RATE, N = 64, 48, 24, 60

# ext -> (codec, pixel format, codec options, exact): lossless where the codec can be
CODECS: dict[str, tuple[str, str, dict[str, str], bool]] = {
    ".mp4": ("libx264rgb", "rgb24", {"qp": "0"}, True),
    ".mov": ("libx264rgb", "rgb24", {"qp": "0"}, True),
    ".m4v": ("libx264rgb", "rgb24", {"qp": "0"}, True),
    ".avi": ("mpeg4", "yuv420p", {}, False),  # lossy: frames are recognised by their nearest original
    ".mkv": ("ffv1", "bgr0", {}, True),
    ".webm": ("libvpx-vp9", "gbrp", {"lossless": "1"}, True),
}
EXTS = list(CODECS)
FORMAT = {".mp4": "mp4", ".mov": "mp4", ".m4v": "mp4", ".avi": "avi", ".mkv": "matroska", ".webm": "matroska"}


def frame_pixels(i: int) -> np.ndarray:
    """Frame ``i``: a constant colour that differs from every other frame's."""
    img = np.empty((H, W, 3), np.uint8)
    img[..., 0] = (i * 4) % 256
    img[..., 1] = 255 - (i * 4) % 256
    img[..., 2] = (i * 37) % 256
    return img


ORIGINALS = np.stack([frame_pixels(i) for i in range(N)])


def write_video(path: Path, n: int = N, gop: int = 12, audio: int = 0, faststart: bool = False,
                tags: dict[str, str] | None = None, options: dict[str, str] | None = None) -> Path:
    """``n`` frames of ``frame_pixels`` (a keyframe every ``gop``), ``audio`` tone tracks, container ``tags``;
    ``options`` add to the codec's (e.g. B-frames)."""
    codec, pix_fmt, codec_options, _ = CODECS[path.suffix]
    options = {**codec_options, **(options or {})}
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as out:
        out.metadata.update(tags or {})
        stream = out.add_stream(codec, rate=RATE, options=options)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.codec_context.gop_size = gop
        # WebM takes Opus / Vorbis audio only (Opus runs at 48 kHz)
        sound_codec, sound_rate = ("libopus", 48000) if path.suffix == ".webm" else ("aac", 8000)
        sounds = [out.add_stream(sound_codec, rate=sound_rate, layout="mono") for _ in range(audio)]
        for i in range(n):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame_pixels(i % N), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        samples = (np.sin(np.arange(sound_rate * n // RATE) / sound_rate * 2 * np.pi * 440) * 0.5)
        for sound in sounds:
            chunk = av.AudioFrame.from_ndarray(samples.astype(np.float32).reshape(1, -1), format="flt", layout="mono")
            chunk.sample_rate = sound_rate
            for packet in [*sound.encode(chunk), *sound.encode()]:
                out.mux(packet)
    return path


def which_frames(values: np.ndarray, ext: str) -> list[int]:
    """The original frame each decoded frame is (exactly equal for lossless codecs, else nearest)."""
    values = np.asarray(values, dtype=np.int16).reshape(-1, H, W, 3)
    out = []
    for v in values:
        errors = np.abs(ORIGINALS.astype(np.int16) - v).mean(axis=(1, 2, 3))
        best = int(errors.argmin())
        assert errors[best] < (0.5 if CODECS[ext][3] else 8), errors[best]
        if CODECS[ext][3]:
            np.testing.assert_array_equal(v, ORIGINALS[best])
        out.append(best)
    return out
