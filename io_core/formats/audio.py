"""Audio through soundfile (libsndfile): WAV, FLAC, OGG (Vorbis, Opus).

What ``load`` returns and ``save`` takes: ``{"samplerate": int, "data": ndarray}`` with
``data`` shaped ``(frames, channels)`` (always 2-D; mono is ``(frames, 1)``). ``save``
also takes ``data`` 1-D (mono), nested lists (agent JSON:
``{"samplerate": 44100, "data": [[0.1, -0.1], ...]}``) and the ``(data, samplerate)``
tuple that ``soundfile.read`` returns. The dict goes through HDF5 / npz unchanged, so
``convert`` wav -> h5 -> wav keeps both.

Samples come back in the file's native type, so integer PCM round-trips exactly:
PCM_16 (and 8-bit) -> int16, PCM_24 / PCM_32 -> int32 (24-bit samples left-aligned in
int32, as libsndfile gives them), FLOAT -> float32, DOUBLE -> float64, lossy codecs
(Vorbis, Opus) and the rest -> float32 in [-1, 1]. Saving chooses the encoding from
the dtype: WAV int16 -> PCM_16, int32 -> PCM_32, float32 -> FLOAT, float64 -> DOUBLE
(RF64 past 4 GiB); FLAC int16 -> PCM_16, int32 -> PCM_24 (refused unless the low 8 bits
are zero, i.e. it is 24-bit audio), floats in [-1, 1] -> PCM_24; OGG -> Vorbis (lossy),
floats in [-1, 1]. Other integer types are narrowed when their values fit.

Summaries read the header (no decoding) plus, for stats, every sample of a short file
or an evenly spread sample of a long one (labelled ``exact: false``; exact on request,
streamed). ``read_slice`` / ``preview_image`` go through ``open_array``: a
``(frames, channels)`` array-like that seeks and decodes only the frames asked for, so
``selection="44100:88200, 0"`` reads one second of channel 0 of a 44.1 kHz file
(seconds -> frames: ``io_core.formats.windowed.time_window(samplerate, 1.0, 2.0)``).

A file cut short is refused (CORRUPT_FILE) from its structure: a WAV whose RIFF size
promises more bytes than the file has, an Ogg stream without its end-of-stream page, a
FLAC/Ogg file whose last frame cannot be decoded. Content in another container than
the extension says (a FLAC file named ``.wav``) is refused too, naming the real one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import numpy as np
import soundfile as sf

from io_core.coerce import as_array
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.formats.windowed import WindowedSignal
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_stats, encode_value
from schemas import AudioSummary

_NATIVE = {
    "PCM_S8": "int16", "PCM_U8": "int16", "PCM_16": "int16",
    "PCM_24": "int32", "PCM_32": "int32",
    "FLOAT": "float32", "DOUBLE": "float64",
}
# libsndfile container -> our format name (for "this is really a ..." hints)
_OURS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac", "OGG": "ogg"}
MAX_CHANNELS = 256  # more than this is almost surely a (channels, frames) array
_RF64_BYTES = 0xFFFFFFFF - (1 << 20)
_TAIL_FRAMES = 64
_WRITE_FRAMES = 16_384
_VORBIS_RATES = (1_000, 192_000)


def native_dtype(subtype: str) -> np.dtype:
    return np.dtype(_NATIVE.get(subtype, "float32"))


class AudioFrames(WindowedSignal):
    """``(frames, channels)`` over an open ``SoundFile``: indexing seeks and reads those frames only."""

    time_axis = 0

    def __init__(self, sound: Any) -> None:
        self._sound = sound
        self.shape = (int(sound.frames), int(sound.channels))
        self.dtype = getattr(sound, "dtype", None) or native_dtype(sound.subtype)

    def _read(self, start: int, stop: int, others: list[int]) -> np.ndarray:
        self._sound.seek(start)
        values = self._sound.read(stop - start, dtype=self.dtype.name, always_2d=True)
        if len(values) != stop - start:
            raise CorruptFileError(
                f"the audio data ends after frame {start + len(values)}, before the {self.shape[0]} its header promises"
            )
        if others != list(range(self.shape[1])):
            values = values[:, others]
        return values


class AudioFormat(Format):
    """One libsndfile container; ``containers`` are the libsndfile names the extension may hold."""

    def __init__(self, name: str, sf_format: str, containers: tuple[str, ...]) -> None:
        self.name = name
        self.sf_format = sf_format
        self.containers = containers

    # -- reading -----------------------------------------------------------------------
    @contextmanager
    def _opened(self, path: Path, opts: ReadOptions) -> Iterator[sf.SoundFile]:
        if opts.key not in (None, ""):
            raise KeyNotFoundError(
                f"audio files have no members (key={opts.key!r})",
                hint="Omit key; pick channels and frames with selection='start:stop, channel'.",
            )
        try:
            sound = sf.SoundFile(path)
        except sf.LibsndfileError as exc:
            if self.sf_format == "WAV" and (fallback := ScipyWav.open(path)) is not None:
                yield fallback  # a WAV libsndfile refuses (36/45/53/64-bit PCM) that scipy reads
                return
            raise CorruptFileError(
                f"cannot read {path.name!r} as {self.name}: {exc.error_string}",
                hint="The file is empty, truncated or not audio that libsndfile can read."
                if path.stat().st_size else "The file is empty.",
            ) from None
        with sound:
            self._check(path, sound)
            yield sound

    def _check(self, path: Path, sound: sf.SoundFile) -> None:
        """Refuse another container than the extension says, and files cut short."""
        if sound.format not in self.containers:
            real = _OURS.get(sound.format)
            raise CorruptFileError(
                f"{path.name!r} holds {sound.format} audio, not {self.name}",
                hint=f"Its content looks like {real!r}; pass format={real!r}." if real
                else f"libsndfile reads it as {sound.format_info}; rename it or convert it.",
            )
        size = path.stat().st_size
        if sound.format in ("WAV", "WAVEX"):
            with open(path, "rb") as fh:
                head = fh.read(12)
            declared = int.from_bytes(head[4:8], "little") + 8
            if head[:4] == b"RIFF" and head[4:8] not in (b"\x00" * 4, b"\xff" * 4) and declared > size + 1:
                raise CorruptFileError(f"{path.name!r} is truncated: its RIFF header promises {declared} bytes, "
                                       f"the file has {size}")
        if sound.format == "OGG" and not _ogg_ends_with_eos(path, size):
            raise CorruptFileError(f"{path.name!r} is truncated: its Ogg stream has no end-of-stream page")
        if sound.frames > 0 and sound.seekable():
            try:
                sound.seek(max(0, sound.frames - _TAIL_FRAMES))
                tail = sound.read(_TAIL_FRAMES, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise CorruptFileError(f"{path.name!r} is truncated or damaged: its last frames cannot be "
                                       f"decoded ({exc})") from None
            if len(tail) < min(_TAIL_FRAMES, sound.frames):
                raise CorruptFileError(f"{path.name!r} is truncated: it ends before the {sound.frames} frames "
                                       "its header promises")
            sound.seek(0)

    def load(self, path: Path, opts: ReadOptions) -> dict[str, Any]:
        with self._opened(path, opts) as sound:
            dtype = getattr(sound, "dtype", None) or native_dtype(sound.subtype)
            data = sound.read(dtype=dtype.name, always_2d=True)
            if len(data) != sound.frames:
                raise CorruptFileError(f"{path.name!r} is truncated: {len(data)} of {sound.frames} frames decoded")
            return {"samplerate": int(sound.samplerate), "data": data}

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[AudioFrames]:
        """``(frames, channels)`` read lazily: a selection decodes only its frames."""
        with self._opened(path, opts) as sound:
            yield AudioFrames(sound)

    def summarize(self, path: Path, opts: ReadOptions) -> AudioSummary:
        with self._opened(path, opts) as sound:
            frames = AudioFrames(sound)
            stats = array_stats(frames, opts) if frames.shape[1] else None
            tags = {k: encode_value(v, opts.preview_chars // 10)
                    for k, v in list(sound.copy_metadata().items())[: opts.preview_items] if v}
            rate = int(sound.samplerate)
            return AudioSummary(
                samplerate=rate, channels=int(sound.channels), frames=int(sound.frames),
                duration_s=float(sound.frames) / rate if rate else 0.0,
                format=sound.format, subtype=sound.subtype, endian=sound.endian, dtype=frames.dtype.str,
                stats=stats, tags=tags,
                note=f"read_slice selection is 'frames, channels': frame = seconds x {rate}, "
                     f"e.g. '{rate}:{2 * rate}, 0' is second 1-2 of channel 0",
            )

    # -- writing -----------------------------------------------------------------------
    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        samplerate, arr = _coerce(data, opts)
        arr, subtype = self._encoding(arr)
        fmt = self.sf_format
        if fmt == "WAV" and arr.nbytes > _RF64_BYTES:
            fmt = "RF64"
        if fmt == "FLAC" and len(arr) == 0:
            raise InvalidDataError("libsndfile writes no FLAC stream for zero frames (the file would be empty)",
                                   hint="Give at least one frame, or save empty audio as .wav.")
        if fmt == "OGG" and not (_VORBIS_RATES[0] <= samplerate <= _VORBIS_RATES[1] and arr.shape[1] <= 255):
            # libvorbis crashes the process (not an exception) outside these limits
            raise InvalidDataError(
                f"Ogg Vorbis takes {_VORBIS_RATES[0]}..{_VORBIS_RATES[1]} Hz and at most 255 channels, "
                f"not {samplerate} Hz x {arr.shape[1]}",
                hint="Resample, or save as .wav / .flac.",
            )
        with sf.SoundFile(os.fspath(path), "w", samplerate, arr.shape[1], subtype, format=fmt) as out:
            # in blocks: one huge write overflows libvorbis's stack (a segfault, python-soundfile #426)
            for start in range(0, len(arr), _WRITE_FRAMES):
                out.write(np.ascontiguousarray(arr[start : start + _WRITE_FRAMES]))

    def _encoding(self, arr: np.ndarray) -> tuple[np.ndarray, str]:
        kind = arr.dtype.kind
        if kind in "iu":
            arr = _narrow_ints(arr)
        elif kind == "f":
            if arr.dtype.itemsize < 4:
                arr = arr.astype(np.float32)
            elif arr.dtype.itemsize > 8:
                arr = arr.astype(np.float64)
        else:
            raise InvalidDataError(f"audio samples are numbers, not {arr.dtype}",
                                   hint="Give int16 / int32 PCM or floats in [-1, 1].")
        is_float = arr.dtype.kind == "f"
        if is_float and not np.isfinite(arr).all():
            raise InvalidDataError("audio samples must be finite (no NaN or Infinity)")
        if self.sf_format == "WAV":
            return arr, {"int16": "PCM_16", "int32": "PCM_32", "float32": "FLOAT", "float64": "DOUBLE"}[arr.dtype.name]
        if is_float and arr.size and float(np.abs(arr).max()) > 1.0:
            raise InvalidDataError(
                f"{self.name} stores floats as fixed point in [-1, 1]; these reach {float(np.abs(arr).max()):g}",
                hint="Scale the samples into [-1, 1], give int16 PCM, or save as .wav (which keeps any float).",
            )
        if self.sf_format == "OGG":
            return arr, "VORBIS"
        # FLAC: integer PCM only, at most 24 bits
        if arr.dtype == np.int16:
            return arr, "PCM_16"
        if arr.dtype == np.int32 and arr.size and np.any(arr & 0xFF):
            raise InvalidDataError(
                "FLAC keeps at most 24 bits: these int32 samples use the low 8 bits, which would be lost",
                hint="Give int16 samples, int32 left-aligned 24-bit samples (multiples of 256), or save as .wav.",
            )
        return arr, "PCM_24"


def _narrow_ints(arr: np.ndarray) -> np.ndarray:
    """int16 or int32 (what libsndfile writes), when the values fit; else refuse."""
    if arr.dtype in (np.int16, np.int32):
        return arr
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for target in (np.int16, np.int32):
        info = np.iinfo(target)
        if info.min <= lo and hi <= info.max:  # the values are kept, not rescaled
            return arr.astype(target)
    raise InvalidDataError(
        f"integer samples from {lo} to {hi} do not fit 32-bit PCM",
        hint="Give int16 / int32 PCM samples or floats in [-1, 1].",
    )


def _coerce(data: Any, opts: WriteOptions) -> tuple[int, np.ndarray]:
    if isinstance(data, tuple) and len(data) == 2:
        data = {"data": data[0], "samplerate": data[1]}
    if not isinstance(data, Mapping) or "data" not in data or "samplerate" not in data:
        raise InvalidDataError(
            "audio is saved from {'samplerate': int, 'data': (frames, channels) samples}",
            hint='For example {"samplerate": 8000, "data": [[0.0, 0.1], [0.5, -0.5]]} (frames x channels).',
        )
    extra = sorted(set(data) - {"data", "samplerate"})
    if extra:
        raise InvalidDataError(f"unexpected audio fields {extra}", hint="Give only 'samplerate' and 'data'.")
    rate = data["samplerate"]
    try:
        rate_f = float(np.asarray(rate).reshape(()))
    except (TypeError, ValueError):
        rate_f = float("nan")
    if isinstance(rate, bool) or not np.isfinite(rate_f) or rate_f != int(rate_f) or not 1 <= rate_f <= 10_000_000:
        raise InvalidDataError(f"samplerate must be a positive whole number of Hz, not {rate!r}")
    arr = as_array(data["data"], opts.dtype, name="data")
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise InvalidDataError(f"audio data is (frames,) or (frames, channels), not {arr.shape}")
    if arr.shape[1] > MAX_CHANNELS:
        raise InvalidDataError(
            f"{arr.shape[1]} channels: audio data is (frames, channels)",
            hint="If this is (channels, frames), transpose it.",
        )
    return int(rate_f), arr


class ScipyWav:
    """The part of ``soundfile.SoundFile`` the reader uses, over ``scipy.io.wavfile`` (second reader for WAV).

    libsndfile refuses valid PCM WAVs of unusual widths (36, 45, 53, 64 bits); scipy reads
    them as left-aligned int64. Whole-sample widths are memory-mapped (nothing is read
    up front); packed odd widths are decoded whole, so only files under ``_SCIPY_WHOLE_BYTES``.
    """

    format = "WAV"
    endian = "FILE"

    def __init__(self, rate: int, data: Any, subtype: str) -> None:
        self.samplerate = rate
        self._data = data if data.ndim == 2 else data.reshape(-1, 1)
        self.frames, self.channels = self._data.shape
        self.dtype = self._data.dtype.newbyteorder("=")
        self.subtype = subtype
        self._pos = 0

    @classmethod
    def open(cls, path: Path) -> ScipyWav | None:
        """The file through scipy, or None when scipy cannot read it either (or finds it cut short)."""
        import warnings

        from scipy.io import wavfile

        with warnings.catch_warnings():
            warnings.simplefilter("error", wavfile.WavFileWarning)  # "reached EOF prematurely": truncated
            for mmap in (True, False):
                if not mmap and path.stat().st_size > _SCIPY_WHOLE_BYTES:
                    return None
                try:
                    rate, data = wavfile.read(path, mmap=mmap)
                except (ValueError, OSError, wavfile.WavFileWarning, EOFError):
                    continue
                with open(path, "rb") as fh:
                    head = fh.read(64)
                at = head.find(b"fmt ")
                bits = int.from_bytes(head[at + 22 : at + 24], "little") if at >= 0 else data.dtype.itemsize * 8
                kind = "FLOAT" if data.dtype.kind == "f" else "PCM"
                return cls(int(rate), data, f"{kind}_{bits}")
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._data = None

    def copy_metadata(self) -> dict[str, str]:
        return {}

    def seekable(self) -> bool:
        return True

    def seek(self, frame: int) -> int:
        self._pos = max(0, min(int(frame), self.frames))
        return self._pos

    def read(self, frames: int = -1, dtype: str = "float64", always_2d: bool = True) -> np.ndarray:
        stop = self.frames if frames < 0 else min(self.frames, self._pos + frames)
        block = np.asarray(self._data[self._pos : stop])
        self._pos = stop
        if dtype == "float32" and block.dtype.kind in "iu":  # like libsndfile: full scale -> [-1, 1]
            return (block / float(2 ** (block.dtype.itemsize * 8 - 1))).astype(np.float32)
        return block.astype(dtype, copy=False)


_SCIPY_WHOLE_BYTES = 256 << 20


def _ogg_ends_with_eos(path: Path, size: int) -> bool:
    """Whether the last Ogg page (pages are < 64 KiB) carries the end-of-stream flag."""
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 65_536 - 27))
        tail = fh.read()
    at = tail.rfind(b"OggS\x00")
    while at >= 0:  # the last complete page decides; a page cut short is skipped
        if at + 27 <= len(tail):
            n_segments = tail[at + 26]
            if at + 27 + n_segments <= len(tail):
                body = sum(tail[at + 27 : at + 27 + n_segments])
                if at + 27 + n_segments + body <= len(tail):
                    return bool(tail[at + 5] & 0x04)
        at = tail.rfind(b"OggS\x00", 0, at)
    return False


WAV = AudioFormat("wav", "WAV", ("WAV", "WAVEX", "RF64"))
FLAC = AudioFormat("flac", "FLAC", ("FLAC",))
OGG = AudioFormat("ogg", "OGG", ("OGG",))
