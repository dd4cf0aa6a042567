"""Metadata in PNG, JPEG and TIFF, written at the byte level (pixel data never re-encoded), and the
images' own metadata as Pillow reads it (headers only).

PNG: an ``iTXt`` chunk spliced in before the first IDAT; JPEG: EXIF ``UserComment`` in a replaced
or inserted APP1 segment; TIFF: private ASCII tag ``TIFF_TAG`` in a copy of the first IFD appended
at the end, the header pointing to it (strips and tiles untouched).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from io_core.errors import CorruptFileError, InvalidDataError, TooLargeError, UnsupportedOperationError
from io_core.limits import current
from io_core.metadata.envelope import INVALID, KEY, MAX_METADATA_BYTES, bounded, decode

TIFF_TAG = 65420  # in the TIFF "reusable" private range; the value is also tagged by its {"sciio": ...} envelope
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
ASCII_PREFIX = b"ASCII\x00\x00\x00"
MAX_TEXT_INFLATED = 4 * MAX_METADATA_BYTES  # a compressed text chunk is inflated at most this far
MAX_TEXT_CHUNK = 16 * MAX_METADATA_BYTES  # longer text chunks cannot hold sciio metadata: skipped unread


# -- PNG ------------------------------------------------------------------------------------------

def _png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, type) of every chunk; CORRUPT_FILE when the structure is broken."""
    if not data.startswith(PNG_SIGNATURE):
        raise CorruptFileError("not a PNG file (bad signature)")
    out, pos = [], len(PNG_SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise CorruptFileError("the PNG is truncated (a chunk header is cut)")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise CorruptFileError(f"the PNG is truncated (chunk {kind!r} is cut)")
        out.append((pos, end, kind))
        pos = end
        if kind == b"IEND":
            break
    return out


def _inflate(data: bytes) -> bytes:
    """zlib data inflated to at most MAX_TEXT_INFLATED bytes (more: zlib.error, the text is unreadable)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_INFLATED)
    if inflater.unconsumed_tail:
        raise zlib.error(f"a text chunk inflates past {MAX_TEXT_INFLATED} bytes")
    return out


def _png_text(kind: bytes, body: bytes) -> tuple[str, str | None]:
    """(keyword, text) of a tEXt/iTXt/zTXt chunk body; text None when unreadable (or inflating too far)."""
    keyword, _, rest = body.partition(b"\x00")
    name = keyword.decode("latin-1")
    try:
        if kind == b"tEXt":
            return name, rest.decode("latin-1")
        if kind == b"zTXt":
            return name, _inflate(rest[1:]).decode("latin-1")
        compressed, _method = rest[0], rest[1]
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        return name, (_inflate(text) if compressed else text).decode("utf-8")
    except (IndexError, zlib.error, UnicodeDecodeError):
        return name, None


def png_sciio_in_file(path: Path) -> Any:
    """The first sciio text chunk's value, walking chunk headers with seeks (pixel data is never read)."""
    value = INVALID
    with open(path, "rb") as fh:
        if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            raise CorruptFileError("not a PNG file (bad signature)")
        while len(head := fh.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind in (b"tEXt", b"iTXt", b"zTXt") and length <= MAX_TEXT_CHUNK:
                body = fh.read(length)
                if len(body) < length:
                    raise CorruptFileError(f"the PNG is truncated (chunk {kind!r} is cut)")
                if body.partition(b"\x00")[0] == KEY.encode() and value is INVALID:
                    text = _png_text(kind, body)[1]
                    value = decode(text) if text is not None else INVALID
                fh.seek(4, 1)
            else:
                fh.seek(length + 4, 1)
            if kind == b"IEND":
                break
    return value


def png_sciio(data: bytes) -> tuple[list[tuple[int, int]], Any]:
    """Spans of every sciio text chunk, and the first one's value (``INVALID`` when there is none)."""
    spans, value = [], INVALID
    for start, end, kind in _png_chunks(data):
        if kind in (b"tEXt", b"iTXt", b"zTXt") and data[start + 8 : end - 4].partition(b"\x00")[0] == KEY.encode():
            name, text = _png_text(kind, data[start + 8 : end - 4])
            if name == KEY:
                spans.append((start, end))
                if text is not None and value is INVALID:
                    value = decode(text)
    return spans, value


def png_embed(data: bytes, text: str, out: BinaryIO) -> None:
    spans, _ = png_sciio(data)
    body = KEY.encode() + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")  # keyword, flag, method, lang, translated
    chunk = struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    chunks = _png_chunks(data)
    idat = next((s for s, _, k in chunks if k == b"IDAT"), None)
    if idat is None:
        raise CorruptFileError("the PNG has no image data (IDAT)")
    pos = 0  # copy everything but the old sciio chunks; the new one goes just before the first IDAT
    for start, end, insert in sorted([(s, e, False) for s, e in spans] + [(idat, idat, True)]):
        out.write(data[pos:start])
        if insert:
            out.write(chunk)
        pos = start if insert else end
    out.write(data[pos:])


# -- JPEG -----------------------------------------------------------------------------------------

def _jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(start, end, marker) of each marker segment before the scan data."""
    if not data.startswith(b"\xff\xd8"):
        raise CorruptFileError("not a JPEG file (no SOI marker)")
    out, pos = [], 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise CorruptFileError(f"the JPEG structure is broken at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            out.append((pos, pos + 2, marker))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if end > len(data):
            raise CorruptFileError("the JPEG is truncated (a marker segment is cut)")
        out.append((pos, end, marker))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        pos = end
    return out


def user_comment(raw: Any) -> Any:
    """The sciio metadata inside an EXIF UserComment, or ``INVALID``."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes):
        return INVALID
    body = raw[8:] if raw[:8] in (ASCII_PREFIX, b"UNICODE\x00", b"\x00" * 8) else raw
    if raw[:8] == b"UNICODE\x00":
        for enc in ("utf-16-be", "utf-16-le"):
            try:
                value = decode(body.decode(enc))
                break
            except UnicodeDecodeError:
                value = INVALID
    else:
        value = decode(body.rstrip(b"\x00").decode("utf-8", "replace"))
    return value[KEY] if isinstance(value, dict) and set(value) == {KEY} else INVALID


def jpeg_embed(data: bytes, text: str, out: BinaryIO) -> None:
    from PIL import Image

    segments = _jpeg_segments(data)
    exif_seg = next(((s, e) for s, e, m in segments if m == 0xE1 and data[s + 4 : s + 10] == b"Exif\x00\x00"), None)
    exif = Image.Exif()
    if exif_seg is not None:
        exif.load(data[exif_seg[0] + 4 : exif_seg[1]])
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = ASCII_PREFIX + f'{{"{KEY}":{text}}}'.encode("ascii")
    payload = exif.tobytes()
    if not payload.startswith(b"Exif\x00\x00"):
        payload = b"Exif\x00\x00" + payload
    if len(payload) + 2 > 0xFFFF:
        raise InvalidDataError(
            f"the EXIF block would be {len(payload)} bytes; JPEG allows 65533",
            hint="Embed a smaller record in a JPEG, or use PNG/TIFF.",
        )
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    if exif_seg is not None:
        start, end = exif_seg
    else:  # after SOI and a leading JFIF APP0, where readers look for EXIF
        first = segments[0] if segments else (2, 2, 0)
        start = end = first[1] if first[2] == 0xE0 else 2
    out.write(data[:start])
    out.write(segment)
    out.write(data[end:])


# -- TIFF -----------------------------------------------------------------------------------------

def tiff_embed(path: Path, text: str, out: BinaryIO) -> None:
    with open(path, "rb") as fh:
        header = fh.read(8)
        order = {b"II": "<", b"MM": ">"}.get(header[:2])
        if order is None or len(header) < 8:
            raise CorruptFileError("not a TIFF file (bad header)")
        (magic,) = struct.unpack(order + "H", header[2:4])
        if magic == 43:
            raise UnsupportedOperationError("BigTIFF files cannot take embedded metadata yet")
        if magic != 42:
            raise CorruptFileError("not a TIFF file (bad magic number)")
        (ifd0,) = struct.unpack(order + "I", header[4:8])
        size = fh.seek(0, io.SEEK_END)
        fh.seek(ifd0)
        raw_count = fh.read(2)
        if len(raw_count) < 2:
            raise CorruptFileError("the TIFF is truncated (its first IFD is missing)")
        (count,) = struct.unpack(order + "H", raw_count)
        entries_raw = fh.read(12 * count)
        next_raw = fh.read(4)
        if len(entries_raw) < 12 * count or len(next_raw) < 4:
            raise CorruptFileError("the TIFF is truncated (its first IFD is cut)")
        entries = [entries_raw[i : i + 12] for i in range(0, 12 * count, 12)]
        entries = [e for e in entries if struct.unpack(order + "H", e[:2])[0] != TIFF_TAG]
        value = f'{{"{KEY}":{text}}}'.encode("ascii") + b"\x00"
        pad = size % 2
        new_ifd = size + pad
        value_at = new_ifd + 2 + 12 * (len(entries) + 1) + 4
        entries.append(struct.pack(order + "HHII", TIFF_TAG, 2, len(value), value_at))
        entries.sort(key=lambda e: struct.unpack(order + "H", e[:2])[0])
        out.write(header[:4] + struct.pack(order + "I", new_ifd))
        fh.seek(8)
        while block := fh.read(1 << 20):
            out.write(block)
    out.write(b"\x00" * pad)
    out.write(struct.pack(order + "H", len(entries)) + b"".join(entries) + next_raw)
    out.write(value + b"\x00" * (len(value) % 2))


# -- images' own metadata -------------------------------------------------------------------------

def image_info(path: Path) -> tuple[dict[str, Any], Any]:
    """Pillow's view: size, mode, info, EXIF fields; and the image (closed) for format checks."""
    from PIL import ExifTags, Image, TiffTags

    # as io_core.formats.images.pillow_guard: only headers are read here; Pillow refuses past twice the limit
    Image.MAX_IMAGE_PIXELS = current().max_image_pixels
    try:
        with Image.open(path) as image:
            info: dict[str, Any] = {
                "format": image.format, "width": image.width, "height": image.height, "mode": image.mode,
                "n_frames": getattr(image, "n_frames", 1),
            }
            extra = {k: v for k, v in image.info.items() if k not in ("exif", "icc_profile", "xmp", KEY)}
            if "icc_profile" in image.info:
                extra["icc_profile_bytes"] = len(image.info["icc_profile"])
            info["info"] = bounded(extra)
            exif = image.getexif()
            fields: dict[str, Any] = {}
            tags = exif if image.format != "TIFF" else {}
            for tag, value in tags.items():
                if tag not in (EXIF_IFD, 0x8825):
                    fields[ExifTags.TAGS.get(tag, str(tag))] = value
            for tag, value in exif.get_ifd(EXIF_IFD).items():
                if tag != USER_COMMENT:
                    fields[ExifTags.TAGS.get(tag, str(tag))] = value
            if fields:
                info["exif"] = bounded(fields)
            if image.format == "TIFF":
                tiff = {TiffTags.lookup(tag).name or str(tag): value for tag, value in image.tag_v2.items()
                        if tag not in (TIFF_TAG, 273, 279, 324, 325)}  # strip/tile offsets are noise
                info["tiff_tags"] = bounded(tiff)
                return info, image.tag_v2.get(TIFF_TAG)
            return info, exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
    except Image.DecompressionBombError as exc:
        raise TooLargeError(f"{path.name!r} is too large to open safely: {exc}",
                            hint="Its pixel count is past the image limit (max_image_pixels).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFileError(f"cannot read {path.name!r} as an image: {exc}") from None
