"""Video containers cut short, recognised from their structure without decoding (MP4 boxes, AVI RIFF size,
Matroska segment size): FFmpeg would otherwise decode what is there and stop quietly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from io_core.errors import CorruptFileError


def check_complete(path: Path, size: int) -> None:
    with open(path, "rb") as fh:
        head = fh.read(64)
        if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
            _check_boxes(fh, size, path.name)
        elif head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
            riff = int.from_bytes(head[4:8], "little") + 8
            if riff > size and int.from_bytes(head[4:8], "little") not in (0, 0xFFFFFFFF):
                raise _cut(path.name, riff, size, "its RIFF header")
        elif head[:4] == b"\x1a\x45\xdf\xa3":
            _check_matroska(head, fh, size, path.name)


def _cut(name: str, promised: int, size: int, where: str) -> CorruptFileError:
    return CorruptFileError(f"{name!r} is cut short: {where} promises {promised} bytes, the file has {size}",
                            hint="The file was truncated (an interrupted copy or recording); re-copy it.")


def _check_boxes(fh: Any, size: int, name: str) -> None:
    """MP4 / QuickTime: the top-level boxes must tile the file (a bounded walk over their headers)."""
    at, boxes, seen = 0, 0, set()
    while at + 8 <= size and boxes < 10_000:
        fh.seek(at)
        header = fh.read(16)
        length, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if length == 1 and len(header) >= 16:
            length = int.from_bytes(header[8:16], "big")
        elif length == 0:  # the last box runs to the end of the file
            length = size - at
        if length < 8:
            raise CorruptFileError(f"{name!r} has a broken MP4 box at byte {at}",
                                   hint="The file is damaged.")
        if at + length > size:
            raise _cut(name, at + length, size, f"its {kind.decode('latin-1')!r} box")
        seen.add(kind)
        at += length
        boxes += 1
    if at + 8 <= size:
        return  # more boxes than we walk: FFmpeg decides
    if b"moov" not in seen:
        raise CorruptFileError(f"{name!r} has no 'moov' box (the index of its samples)",
                               hint="The recording was not finished, or the file was truncated.")


def vint(data: bytes, at: int) -> tuple[int, int, bool]:
    """An EBML variable-size integer at ``at``: (value, length, all ones = unknown size)."""
    first = data[at]
    length = 9 - first.bit_length() if first else 9
    if length > 8 or at + length > len(data):
        raise ValueError("bad EBML size")
    value = first & (0xFF >> length)
    for byte in data[at + 1 : at + length]:
        value = (value << 8) | byte
    return value, length, value == (1 << (7 * length)) - 1


def _check_matroska(head: bytes, fh: Any, size: int, name: str) -> None:
    """Matroska / WebM: the Segment's declared size must fit the file (a live stream's unknown size passes)."""
    fh.seek(0)
    data = fh.read(4096)
    try:
        ebml_size, n, _ = vint(data, 4)
        at = 4 + n + ebml_size
        if data[at : at + 4] != b"\x18\x53\x80\x67":
            return
        seg_size, n, unknown = vint(data, at + 4)
    except (ValueError, IndexError):
        raise CorruptFileError(f"{name!r} has a broken Matroska header", hint="The file is damaged.") from None
    end = at + 4 + n + seg_size
    if not unknown and end > size:
        raise _cut(name, end, size, "its Matroska segment")
