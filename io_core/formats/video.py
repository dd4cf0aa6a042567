"""Video through PyAV (FFmpeg): MP4 / QuickTime, AVI, Matroska / WebM.

What ``load`` returns and ``read_slice`` / ``preview_image`` address: the first video
stream as frames ``(frames, height, width, 3)`` uint8 RGB. Frame ``i`` is the frame shown
at ``start + i / frame_rate`` (exact for constant frame rate; a variable-rate video holds
a frame until the next one's time), so ``selection="10:20"`` is frames 10..19 and
``"0:600:24"`` one frame a second of a 24 fps video.

- ``summarize`` reads the container header: size, frame rate, frame count (the stream's
  own count when the header has it, else duration x rate, labelled ``frames_estimated``),
  codec, pixel format, bit rate and every stream (audio too). sciio decodes nothing; FFmpeg's
  probe may decode the first frames to learn codec parameters (bounded by ``PROBE``): about
  10 ms for a 10-minute 1080p MP4 (bench/video.py).
- ``open_array`` is a lazy array: indexing seeks to the keyframe at or before the first
  frame asked for and decodes forward from there, never from the start of the file; the
  bytes of the decoded answer are checked against the limits before anything is decoded.
- ``open_picture`` (``preview_image``) decodes one frame: ``selection="t=12.5s"`` (a time;
  ``"12.5s"`` too) or ``"120"`` (a frame index); the first frame without a selection.
- ``load`` decodes the whole video when it fits ``max_member_bytes`` (TOO_LARGE otherwise,
  with a ``read_slice`` to ask for instead).

Files that cannot be a whole video are refused fast (CORRUPT_FILE): probing is bounded
(``probesize`` / ``analyzeduration``), a file cut short is recognised from its structure
(an MP4 box, the RIFF size of an AVI, the Matroska segment size reaching past the end),
and every read demuxes a bounded number of packets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from io_core.errors import CorruptFileError, InvalidSelectionError, KeyNotFoundError, TooLargeError
from io_core.formats.base import SHOWN, Format
from io_core.formats.video_structure import check_complete, vint
from io_core.formats.windowed import LazyArray, normalize_key
from io_core.limits import check_pixels, human
from io_core.options import ReadOptions
from io_core.summary import encode_value
from schemas.models import VideoSummary

#: FFmpeg probing (bytes read, microseconds analysed before the streams are known); only the file itself is
#: opened: no other protocol, no QuickTime data references to other files (the demuxer is forced, so no playlist)
PROBE = {"probesize": "2000000", "analyzeduration": "2000000", "protocol_whitelist": "file", "enable_drefs": "0"}
#: frames decoded on the way to the first frame asked for (from its keyframe) before a read is refused
MAX_LEAD_FRAMES = 1500
#: a later wanted frame at most this far ahead is reached by decoding on; farther ones seek again
SEEK_AHEAD = 48
#: packets one read may demux beyond (frames wanted + lead): junk, other streams' packets
PACKET_SLACK = 2000
MAX_STREAMS_LISTED = 16  # summaries stay small: streams and tags are not cut by the budget
MAX_TAGS, TAG_CHARS = 20, 200
_TIME = re.compile(r"^\s*(?:t\s*=\s*([0-9]*\.?[0-9]+)\s*s?|([0-9]*\.?[0-9]+)\s*s)\s*$", re.IGNORECASE)
_INDEX = re.compile(r"^\s*([+-]?\d+)\s*$")
_DURATION_TAG = re.compile(r"^\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)\s*$")


def _open(path: Path, demuxer: str) -> Any:
    """The container through ``demuxer`` (the format's own: a PNG named .mp4 is not a one-frame video), probed
    within ``PROBE``; FFmpeg's refusals are CORRUPT_FILE."""
    size = path.stat().st_size
    if size == 0:
        raise CorruptFileError(f"{path.name!r} is empty", hint="The file is empty.")
    check_complete(path, size)
    try:
        container = av.open(str(path), "r", format=demuxer, options=dict(PROBE), metadata_errors="replace")
    except av.error.FFmpegError as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__  # str(exc) names the pinned view's path
        raise CorruptFileError(f"FFmpeg cannot read {path.name!r} as {demuxer}: {reason}",
                               hint="The file is damaged, or not in the container its name says.") from None
    if not container.streams.video:
        container.close()
        raise CorruptFileError(f"{path.name!r} holds no video stream",
                               hint="An audio-only file: read it as audio (e.g. convert it to .wav).")
    return container


# -- the header: what the first video stream is ----------------------------------------------------

@dataclass(frozen=True)
class VideoFacts:
    """The first video stream as ``read_slice`` sees it (from the header)."""

    width: int
    height: int
    frames: int
    estimated: bool
    rate: Fraction | None
    time_base: Fraction
    start: int  # pts of the first frame, in time_base

    def index_of(self, pts: int) -> int:
        assert self.rate is not None
        return round((pts - self.start) * self.time_base * self.rate)

    def pts_of(self, index: int | Fraction) -> int:
        assert self.rate is not None
        return self.start + math.floor(Fraction(index) / self.rate / self.time_base)


def facts(container: Any) -> VideoFacts:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    rate = Fraction(rate) if rate else None
    time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1_000_000)
    frames, estimated = int(stream.frames or 0), False
    if frames <= 0:
        estimated = True
        seconds = _duration(container, stream)
        frames = round(seconds * rate) if seconds is not None and rate else 0
    start = stream.start_time if stream.start_time is not None else 0
    return VideoFacts(width=int(ctx.width), height=int(ctx.height), frames=max(0, frames), estimated=estimated,
                      rate=rate, time_base=time_base, start=int(start))


def _duration(container: Any, stream: Any) -> float | None:
    """The stream's own duration; Matroska keeps it as a tag ("00:00:02.500000000"); else the file's."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tagged = _DURATION_TAG.match(str(stream.metadata.get("DURATION", stream.metadata.get("duration", ""))))
    if tagged is not None:
        return int(tagged.group(1)) * 3600 + int(tagged.group(2)) * 60 + float(tagged.group(3))
    if container.duration:
        return container.duration / av.time_base
    return None


def parse_frame(selection: str | None, facts_: VideoFacts) -> int:
    """The frame a preview draws: ``"t=12.5s"`` / ``"12.5s"`` (a time) or ``"120"`` (an index); 0 when None."""
    if facts_.frames == 0:
        raise CorruptFileError("the video has no frames: its header gives neither a frame count nor a duration",
                               hint="The recording may be empty or unfinished.")
    if selection is None or not selection.strip():
        index = 0
    elif (m := _TIME.match(selection)) is not None:
        if facts_.rate is None:
            raise InvalidSelectionError("the video has no frame rate to turn a time into a frame",
                                        hint="Give a frame index, e.g. selection='0'.")
        index = math.floor(float(m.group(1) or m.group(2)) * facts_.rate + 1e-6)
    elif (m := _INDEX.match(selection)) is not None:
        index = int(m.group(1))
        index = index + facts_.frames if index < 0 else index
    else:
        raise InvalidSelectionError(
            f"a video preview selects one frame, not {selection!r}",
            hint="Give a time, selection='t=12.5s', or a frame index, selection='120'.",
        )
    if not 0 <= index < facts_.frames:
        seconds = facts_.frames / facts_.rate if facts_.rate else None
        raise InvalidSelectionError(
            f"frame {index} is outside the video's {facts_.frames} frames"
            + (f" ({float(seconds):.3f} s)" if seconds is not None else ""),
            hint=f"Frames are 0..{facts_.frames - 1}" + (f"; times 0..{float(seconds):.3f} s." if seconds else "."),
        )
    return index


# -- decoding: seek to a keyframe, decode forward ---------------------------------------------------

class VideoFrames(LazyArray):
    """``(frames, height, width, 3)`` uint8 over an open container: indexing decodes only what it needs."""

    dtype = np.dtype(np.uint8)

    def __init__(self, container: Any, facts_: VideoFacts, max_bytes: int, name: str) -> None:
        self._container = container
        self._stream = container.streams.video[0]
        # frame and slice threads: decoding from a keyframe to a frame ~250 frames on is the cost of a seek
        self._stream.thread_type = "AUTO"
        self.facts = facts_
        self.shape = (facts_.frames, facts_.height, facts_.width, 3)
        self._max_bytes = max_bytes
        self._name = name

    def __getitem__(self, key: Any) -> np.ndarray:
        items = normalize_key(key, self.shape)
        first = items[0]
        wanted = [first] if isinstance(first, int) else list(first)
        rest = tuple(_as_index(item) for item in items[1:])
        part = np.empty(self.shape[1:], dtype=np.uint8)[rest]  # what each frame gives (pages never touched)
        if wanted:  # what is kept is the part of each frame asked for; frames are decoded one at a time
            self.check(len(set(wanted)), part.nbytes)
        frames = self.decode(sorted(set(wanted)), lambda frame: frame.to_ndarray(format="rgb24")[rest])
        if isinstance(first, int):
            return frames[first]
        if not wanted:
            return np.empty((0, *part.shape), dtype=np.uint8)
        return np.stack([frames[i] for i in wanted])

    def check(self, n_frames: int, frame_bytes: int | None = None) -> None:
        """TOO_LARGE before decoding when ``n_frames`` of ``frame_bytes`` each (whole frames by default) exceed
        the byte limit."""
        if frame_bytes is None:
            frame_bytes = self.facts.width * self.facts.height * 3
        if n_frames * frame_bytes > self._max_bytes:
            fits = max(1, self._max_bytes // max(1, frame_bytes))
            raise TooLargeError(
                f"{n_frames} frames of {self.facts.width}x{self.facts.height} give "
                f"{human(n_frames * frame_bytes)}; at most {human(self._max_bytes)} are decoded at once",
                hint=f"Ask for at most {fits} frames at a time, e.g. selection='0:{fits}', or step through them "
                     f"(selection='0:{self.shape[0]}:{max(2, -(-self.shape[0] // fits))}').",
            )

    def decode(self, wanted: list[int], convert: Callable[[Any], Any], partial: bool = False) -> dict[int, Any]:
        """``convert(frame)`` for each frame index in ``wanted`` (sorted, unique), seeking as needed.

        ``partial``: an estimated frame count may overshoot; the frames that exist are returned.
        FFmpeg's refusals while demuxing or decoding (damaged data) are CORRUPT_FILE.
        """
        try:
            return self._decode(wanted, convert, partial)
        except av.error.FFmpegError as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise CorruptFileError(f"{self._name!r} cannot be decoded: {reason}",
                                   hint="The file is damaged; frames before the damage may still be read.") from None

    def _decode(self, wanted: list[int], convert: Callable[[Any], Any], partial: bool) -> dict[int, Any]:
        if self.facts.rate is None:
            raise CorruptFileError(f"{self._name!r} has no frame rate: its frames cannot be addressed by index")
        got: dict[int, Any] = {}
        n, pos, budget = len(wanted), 0, len(wanted) + MAX_LEAD_FRAMES + PACKET_SLACK
        while pos < n:
            target, held, lead, reseek = wanted[pos], None, 0, False
            for index, frame in self._frames_from(target, budget):
                while pos < n and held is not None and wanted[pos] < index:
                    got[wanted[pos]] = convert(held)  # the held frame is still shown at these times
                    pos += 1
                if pos < n and index == wanted[pos]:
                    got[index] = convert(frame)
                    pos, lead = pos + 1, 0
                else:
                    lead += 1
                    if lead > MAX_LEAD_FRAMES:
                        raise TooLargeError(
                            f"frame {wanted[pos]} lies more than {MAX_LEAD_FRAMES} frames after the keyframe "
                            f"before it; {self._name!r} has too few keyframes to seek to it quickly",
                            hint="Re-encode with a shorter keyframe interval (e.g. ffmpeg -g 250), or read "
                                 "frames near a keyframe.",
                        )
                if pos == n:
                    break
                held = frame
                # a far later frame (not the one this seek was for): seeking again is cheaper than decoding on
                if wanted[pos] != target and wanted[pos] - index > SEEK_AHEAD:
                    reseek = True
                    break
            if not reseek:
                break  # all found, or the end of the stream
        if pos < len(wanted) and not (partial and self.facts.estimated):
            raise self._ended(wanted[pos:], got)
        return got

    def _ended(self, missing: list[int], got: dict[int, Any]) -> Exception:
        if self.facts.estimated:
            return InvalidSelectionError(
                f"the video ends before frame {missing[0]}: its frame count ({self.shape[0]}) was estimated "
                f"from duration x frame rate",
                hint="Ask for earlier frames (the last few of an estimated count may not exist).",
            )
        return CorruptFileError(
            f"{self._name!r} ends before frame {missing[0]} of the {self.shape[0]} its header promises",
            hint="The file is truncated or damaged after that point.",
        )

    def _frames_from(self, target: int, budget: int) -> Iterator[tuple[int, Any]]:
        """(index, frame) from the keyframe at or before ``target`` on; seeks further back if FFmpeg overshoots."""
        back = 0.0
        facts_ = self.facts
        for attempt in range(4):
            pts = facts_.pts_of(target)
            if back:
                pts -= math.ceil(Fraction(back) / facts_.time_base)
            at_start = pts <= facts_.start or attempt == 3
            self._container.seek(max(pts, facts_.start) if not at_start else facts_.start,
                                 stream=self._stream, backward=True, any_frame=False)
            frames = self._decoded(budget, facts_.pts_of(target - Fraction(1, 2)))  # half a frame of margin
            first = next(frames, None)
            if first is None:
                if at_start:
                    return
            elif first[0] <= target or at_start:
                yield first
                yield from frames
                return
            back = 1.0 if not back else back * 8

    def _decoded(self, budget: int, skip_before: int | None = None) -> Iterator[tuple[int, Any]]:
        """Decoded frames in order; packets shown before ``skip_before`` (pts) skip their non-reference frames
        (B-frames nothing else is predicted from: not needed on the way to the frame asked for)."""
        ctx = self._stream.codec_context
        packets = 0
        try:
            for packet in self._container.demux(self._stream):
                packets += 1
                if packets > budget:
                    raise TooLargeError(
                        f"{self._name!r}: more than {budget} packets demuxed for one read",
                        hint="Ask for fewer frames, or frames closer together.",
                    )
                early = skip_before is not None and packet.pts is not None and packet.pts < skip_before
                ctx.skip_frame = "NONREF" if early else "DEFAULT"
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    yield self.facts.index_of(frame.pts), frame
        finally:
            ctx.skip_frame = "DEFAULT"


def _as_index(item: int | range | list[int]) -> Any:
    if isinstance(item, range):
        stop = item.stop if item.stop >= 0 else None
        return slice(item.start, stop, item.step)
    return item


# -- the format ---------------------------------------------------------------------------------------

class VideoFormat(Format):
    """One container family FFmpeg demuxes (the handler is the same; the rows differ by extension and magic)."""

    def __init__(self, name: str, demuxer: str) -> None:
        self.name = name
        self.demuxer = demuxer

    @contextmanager
    def _opened(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        if opts.key not in (None, ""):
            raise KeyNotFoundError(
                f"a video has no members (key={opts.key!r}); its first video stream is read",
                hint="Omit key; choose frames with selection='10:20' (read_slice) or 't=12.5s' (preview_image).",
            )
        container = _open(path, self.demuxer)
        try:
            yield container
        finally:
            container.close()

    def summarize(self, path: Path, opts: ReadOptions) -> VideoSummary:
        with self._opened(path, opts) as container:
            f = facts(container)
            stream = container.streams.video[0]
            streams = [_stream_info(s) for s in list(container.streams)[:MAX_STREAMS_LISTED]]
            seconds = _duration(container, stream)
            tags = {str(k)[:TAG_CHARS]: encode_value(v, TAG_CHARS)
                    for k, v in list(container.metadata.items())[:MAX_TAGS]}
            return VideoSummary(
                container=_container_name(container, path), width=f.width, height=f.height, frames=f.frames,
                frames_estimated=f.estimated, frame_rate=float(f.rate) if f.rate else None, duration_s=seconds,
                codec=stream.codec_context.name, pix_fmt=stream.codec_context.pix_fmt,
                bit_rate=container.bit_rate or None, streams=streams,
                streams_truncated=len(container.streams) > MAX_STREAMS_LISTED, tags=tags,
                note=_note(f),
            )

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[VideoFrames]:
        with self._opened(path, opts) as container:
            f = facts(container)
            check_pixels(f.width, f.height, opts.limits, path.name)
            yield VideoFrames(container, f, opts.limits.max_member_bytes, path.name)

    @contextmanager
    def open_picture(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        with self.open_array(path, opts) as frames:
            index = parse_frame(opts.selection, frames.facts)
            image = frames.decode([index], lambda frame: frame.to_image())[index]
            image.info[SHOWN] = {"frame": index}
            yield image

    def load(self, path: Path, opts: ReadOptions) -> np.ndarray:
        with self.open_array(path, opts) as frames:
            frames.check(frames.shape[0])
            # an estimated count (Matroska) may be a frame or two off: the frames the stream holds
            got = frames.decode(list(range(frames.shape[0])), lambda frame: frame.to_ndarray(format="rgb24"),
                                partial=True)
            if not got:
                return np.empty((0, *frames.shape[1:]), dtype=np.uint8)
            return np.stack([got[i] for i in sorted(got)])


def _container_name(container: Any, path: Path) -> str:
    """mp4 (with its major brand), quicktime, avi, matroska or webm (Matroska's DocType)."""
    name = container.format.name.split(",")[0]
    if name == "mov":
        brand = str(container.metadata.get("major_brand", "")).strip()
        return "quicktime" if brand == "qt" else f"mp4 ({brand})" if brand else "mp4"
    if name == "matroska":
        with open(path, "rb") as fh:
            head = fh.read(256)
        at = head.find(b"\x42\x82")  # EBML DocType
        if at >= 0:
            try:
                size, n, _ = vint(head, at + 2)
                return head[at + 2 + n : at + 2 + n + size].decode("ascii", "replace") or name
            except (ValueError, IndexError):
                return name
    return name


def _note(f: VideoFacts) -> str:
    """How to read frames: one frame every ``step``-th pixel fits about 24 KB of JSON (4 bytes a value)."""
    middle = max(0, f.frames - 1) // 2
    step = max(1, math.ceil(math.sqrt(f.width * f.height * 3 * 4 / 24_000)))
    pixels = f"'{middle}'" if step == 1 else f"'{middle}, ::{step}, ::{step}' (one frame, every {step} pixels)"
    return (f"read_slice: frames as (frames, height, width, 3) uint8, e.g. selection={pixels}; "
            "preview_image: selection='t=1.5s' (a time) or '120' (a frame index)")


def _stream_info(stream: Any) -> dict[str, Any]:
    ctx = stream.codec_context
    info: dict[str, Any] = {"index": stream.index, "type": stream.type, "codec": ctx.name if ctx else None}
    if stream.duration and stream.time_base:
        info["duration_s"] = round(float(stream.duration * stream.time_base), 6)
    if stream.type == "video":
        rate = stream.average_rate or stream.guessed_rate
        info.update(width=ctx.width, height=ctx.height, pix_fmt=ctx.pix_fmt,
                    frame_rate=round(float(rate), 6) if rate else None, frames=stream.frames or None)
    elif stream.type == "audio":
        info.update(sample_rate=ctx.sample_rate, channels=ctx.channels,
                    layout=getattr(ctx.layout, "name", None), frames=stream.frames or None)
    if ctx is not None and ctx.bit_rate:
        info["bit_rate"] = ctx.bit_rate
    language = stream.metadata.get("language")
    if language:
        info["language"] = language
    return {k: v for k, v in info.items() if v is not None}


MP4 = VideoFormat("mp4", "mov")
AVI = VideoFormat("avi", "avi")
MATROSKA = VideoFormat("matroska", "matroska")
