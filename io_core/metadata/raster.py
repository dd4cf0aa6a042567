"""JSON metadata embedded in figures and documents under one well-known key, ``sciio``.

Where it goes, per format (reading also returns the format's own metadata):

| format | stored as | how it is written |
| --- | --- | --- |
| PNG  | an ``iTXt`` chunk, keyword ``sciio`` | chunks spliced at the byte level: pixel data (IDAT) untouched |
| JPEG | EXIF ``UserComment`` (Exif IFD), ``{"sciio": ...}`` | the EXIF APP1 segment is replaced or inserted; the image data is not re-encoded |
| TIFF | private ASCII tag 65420, ``{"sciio": ...}`` | a copy of the first IFD with the tag is appended and the header points to it; strips/tiles untouched |
| SVG  | ``<metadata id="sciio">`` as the root's first child | the element is spliced into the text; nothing else changes |
| PDF  | document information entry ``/sciio`` | pypdf incremental update: the original bytes stay a prefix of the file |

The metadata is any JSON value (no NaN/Infinity), at most ``MAX_METADATA_BYTES`` as compact
JSON. Writers take the original file and a binary stream and only ever append to the
stream, so the workspace can write atomically and hash while writing. Pillow reads the
images' own metadata, pypdf the PDFs'; SVG is parsed with expat, refusing entity
declarations (no entity expansion, no external entities). Heavy libraries load on use.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any, BinaryIO

from io_core.errors import (
    CorruptFileError,
    ExistsError,
    FormatUnknownError,
    InvalidDataError,
    TooLargeError,
    UnsafeFormatError,
    UnsupportedOperationError,
)
from io_core.formats.text import read_whole
from io_core.limits import check_write, current
from io_core.summary import encode_value

KEY = "sciio"
TIFF_TAG = 65420  # in the TIFF "reusable" private range; the value is also tagged by its {"sciio": ...} envelope
MAX_METADATA_BYTES = 32 * 1024
INFO_ITEMS = 40
INFO_CHARS = 200
EXTENSIONS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".svg": "svg", ".pdf": "pdf"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
ASCII_PREFIX = b"ASCII\x00\x00\x00"
MAX_TEXT_INFLATED = 4 * MAX_METADATA_BYTES  # a compressed text chunk is inflated at most this far
MAX_TEXT_CHUNK = 16 * MAX_METADATA_BYTES  # longer text chunks cannot hold sciio metadata: skipped unread


def format_of(path: Path) -> str:
    """png, jpeg, tiff, svg or pdf: by extension, else by the first bytes."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt:
        return fmt
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head.lstrip().startswith(b"%PDF"):
        return "pdf"
    if b"<svg" in head:
        return "svg"
    raise FormatUnknownError(
        f"{path.name!r} is not a PNG, JPEG, TIFF, SVG or PDF file",
        hint="Metadata can be read from and embedded in .png, .jpg/.jpeg, .tif/.tiff, .svg and .pdf files.",
    )


def encode_metadata(metadata: Any) -> str:
    """Compact, ASCII-only JSON (safe in EXIF, TIFF ASCII tags and XML), or INVALID_DATA."""
    try:
        text = json.dumps(metadata, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"metadata must be JSON (objects, lists, strings, finite numbers, booleans, null): {exc}"
        ) from None
    if len(text) > MAX_METADATA_BYTES:
        raise InvalidDataError(
            f"metadata is {len(text)} bytes as JSON; at most {MAX_METADATA_BYTES} can be embedded",
            hint="Embed a smaller record (e.g. a reference to a sidecar file and its SHA-256).",
        )
    return text


_INVALID = object()  # a sciio entry whose text is not JSON: treated as absent (and replaced by the next embed)


def _decode(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return _INVALID


def _plain(value: Any) -> Any:
    """EXIF rationals as floats (encode_value handles the rest)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value[:20]]
    if hasattr(value, "numerator") and hasattr(value, "denominator") and not isinstance(value, int):
        try:
            return float(value)
        except (ZeroDivisionError, ValueError, TypeError):
            return None
    return value


def _bounded(info: dict[str, Any]) -> dict[str, Any]:
    return {str(k): encode_value(_plain(v), INFO_CHARS) for k, v in list(info.items())[:INFO_ITEMS]}


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


def _png_sciio_in_file(path: Path) -> Any:
    """The first sciio text chunk's value, walking chunk headers with seeks (pixel data is never read)."""
    value = _INVALID
    with open(path, "rb") as fh:
        if fh.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            raise CorruptFileError("not a PNG file (bad signature)")
        while len(head := fh.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind in (b"tEXt", b"iTXt", b"zTXt") and length <= MAX_TEXT_CHUNK:
                body = fh.read(length)
                if len(body) < length:
                    raise CorruptFileError(f"the PNG is truncated (chunk {kind!r} is cut)")
                if body.partition(b"\x00")[0] == KEY.encode() and value is _INVALID:
                    text = _png_text(kind, body)[1]
                    value = _decode(text) if text is not None else _INVALID
                fh.seek(4, 1)
            else:
                fh.seek(length + 4, 1)
            if kind == b"IEND":
                break
    return value


def _png_sciio(data: bytes) -> tuple[list[tuple[int, int]], Any]:
    """Spans of every sciio text chunk, and the first one's value (``_INVALID`` when there is none)."""
    spans, value = [], _INVALID
    for start, end, kind in _png_chunks(data):
        if kind in (b"tEXt", b"iTXt", b"zTXt") and data[start + 8 : end - 4].partition(b"\x00")[0] == KEY.encode():
            name, text = _png_text(kind, data[start + 8 : end - 4])
            if name == KEY:
                spans.append((start, end))
                if text is not None and value is _INVALID:
                    value = _decode(text)
    return spans, value


def _png_embed(data: bytes, text: str, out: BinaryIO) -> None:
    spans, _ = _png_sciio(data)
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


def _user_comment(raw: Any) -> Any:
    """The sciio metadata inside an EXIF UserComment, or ``_INVALID``."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    if not isinstance(raw, bytes):
        return _INVALID
    body = raw[8:] if raw[:8] in (ASCII_PREFIX, b"UNICODE\x00", b"\x00" * 8) else raw
    if raw[:8] == b"UNICODE\x00":
        for enc in ("utf-16-be", "utf-16-le"):
            try:
                value = _decode(body.decode(enc))
                break
            except UnicodeDecodeError:
                value = _INVALID
    else:
        value = _decode(body.rstrip(b"\x00").decode("utf-8", "replace"))
    return value[KEY] if isinstance(value, dict) and set(value) == {KEY} else _INVALID


def _jpeg_embed(data: bytes, text: str, out: BinaryIO) -> None:
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

def _tiff_embed(path: Path, text: str, out: BinaryIO) -> None:
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


# -- SVG ------------------------------------------------------------------------------------------

class _SvgScan:
    """Byte offsets of the root start tag and of an existing sciio <metadata>, via expat (no entities)."""

    def __init__(self, data: bytes) -> None:
        import xml.parsers.expat

        if data.startswith((b"\xff\xfe", b"\xfe\xff")) or re.match(rb"<\?xml[^>]*encoding=['\"](?!utf-?8|us-ascii)", data[:200], re.IGNORECASE):
            raise UnsupportedOperationError("only UTF-8 SVG files can take embedded metadata")
        self.data = data
        self.root: tuple[str, int] | None = None
        self.meta: tuple[int, int] | None = None
        self.meta_text: list[str] = []
        self.info: dict[str, Any] = {}
        self.n_elements = 0
        self._depth = 0
        self._in_meta = False
        self._title: list[str] | None = None
        p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        p.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.EntityDeclHandler = self._refuse_entities
        p.ExternalEntityRefHandler = self._refuse_external
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        self._p = p
        try:
            p.Parse(data, True)
        except xml.parsers.expat.ExpatError as exc:
            raise CorruptFileError(f"the SVG is not well-formed XML: {exc}") from None
        if self.root is None or self.root[0] != "svg":
            raise CorruptFileError("the file's root element is not <svg>")

    def _refuse_entities(self, *args: Any) -> None:
        raise UnsafeFormatError(
            "the SVG declares XML entities; it is not parsed (entity expansion can exhaust memory or read files)",
            hint="Remove the DOCTYPE's entity declarations.",
        )

    def _refuse_external(self, *args: Any) -> int:
        raise UnsafeFormatError("the SVG refers to an external entity; it is not parsed")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        self.n_elements += 1
        self._depth += 1
        if self._depth == 1:
            self.root = (local, self._p.CurrentByteIndex)
            self.info = {k: attrs[k] for k in ("width", "height", "viewBox", "version") if k in attrs}
        elif self._depth == 2 and local == "metadata" and attrs.get("id") == KEY and self.meta is None:
            self.meta = (self._p.CurrentByteIndex, -1)
            self._in_meta = True
        elif self._depth == 2 and local == "title" and "title" not in self.info:
            self._title = []

    def _end(self, name: str) -> None:
        if self._in_meta and self._depth == 2:
            self.meta = (self.meta[0], _tag_end(self.data, self._p.CurrentByteIndex))
            self._in_meta = False
        if self._title is not None and self._depth == 2:
            self.info["title"] = "".join(self._title).strip()
            self._title = None
        self._depth -= 1

    def _text(self, text: str) -> None:
        if self._in_meta:
            self.meta_text.append(text)
        elif self._title is not None:
            self._title.append(text)

    @property
    def metadata(self) -> Any:
        return _decode("".join(self.meta_text)) if self.meta is not None else _INVALID


def _tag_end(data: bytes, start: int) -> int:
    """Offset just past the '>' closing the tag that starts at ``start`` (quotes respected)."""
    quote = None
    for i in range(start, len(data)):
        c = data[i : i + 1]
        if quote:
            if c == quote:
                quote = None
        elif c in (b'"', b"'"):
            quote = c
        elif c == b">":
            return i + 1
    raise CorruptFileError("an SVG tag is not closed")


def _svg_embed(data: bytes, text: str, out: BinaryIO) -> None:
    scan = _SvgScan(data)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    element = f'<metadata id="{KEY}">{escaped}</metadata>'.encode("ascii")
    if scan.meta is not None:
        start, end = scan.meta
        out.write(data[:start] + element + data[end:])
        return
    root_start = scan.root[1]
    root_end = _tag_end(data, root_start)
    if data[root_end - 2 : root_end] == b"/>":  # <svg ... /> : open it up
        name = re.match(rb"<([^\s/>]+)", data[root_start:]).group(1)
        out.write(data[: root_end - 2].rstrip() + b">" + element + b"</" + name + b">" + data[root_end:])
        return
    out.write(data[:root_end] + element + data[root_end:])


# -- PDF ------------------------------------------------------------------------------------------

def _pdf_reader(path: Path) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            with contextlib.suppress(Exception):  # an empty password failed: a password is needed
                reader.decrypt("")
        return reader
    except (PdfReadError, ValueError, OSError, KeyError) as exc:
        raise CorruptFileError(f"cannot read {path.name!r} as PDF: {exc}") from None


def _pdf_read(path: Path) -> tuple[Any, dict[str, Any]]:
    reader = _pdf_reader(path)
    info: dict[str, Any] = {"pdf_version": reader.pdf_header.lstrip("%PDF-"), "encrypted": reader.is_encrypted}
    try:
        info["pages"] = len(reader.pages)
        if reader.pages:
            box = reader.pages[0].mediabox
            info["page_size_pt"] = [float(box.width), float(box.height)]
    except Exception as exc:  # noqa: BLE001 - encrypted without the password, damaged page tree
        info["pages"] = None
        info["pages_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    value = _INVALID
    try:
        doc = reader.metadata or {}
        raw = doc.get("/" + KEY)
        value = _decode(str(raw)) if raw is not None else _INVALID
        info["document_info"] = {str(k).lstrip("/"): str(v) for k, v in doc.items() if str(k) != "/" + KEY}
        info["xmp"] = reader.xmp_metadata is not None
    except Exception as exc:  # noqa: BLE001
        info["document_info_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return value, info


def _pdf_embed(path: Path, text: str, out: BinaryIO) -> None:
    from pypdf import PdfWriter

    reader = _pdf_reader(path)
    if reader.is_encrypted:
        raise UnsupportedOperationError("the PDF is encrypted; metadata is not embedded")
    try:
        writer = PdfWriter(reader, incremental=True)
        writer.add_metadata({"/" + KEY: text})
        buffer = io.BytesIO()
        writer.write(buffer)
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types for damaged files
        raise CorruptFileError(f"cannot update {path.name!r}: {type(exc).__name__}: {str(exc)[:200]}") from None
    out.write(buffer.getbuffer())


# -- images' own metadata -------------------------------------------------------------------------

def _image_info(path: Path) -> tuple[dict[str, Any], Any]:
    """Pillow's view: size, mode, info, EXIF fields; and the image (closed) for format checks."""
    from PIL import ExifTags, Image, TiffTags

    from io_core.formats.images import pillow_guard

    pillow_guard(current())  # only headers are read here; Pillow refuses past twice the pixel limit
    try:
        with Image.open(path) as image:
            info: dict[str, Any] = {
                "format": image.format, "width": image.width, "height": image.height, "mode": image.mode,
                "n_frames": getattr(image, "n_frames", 1),
            }
            extra = {k: v for k, v in image.info.items() if k not in ("exif", "icc_profile", "xmp", KEY)}
            if "icc_profile" in image.info:
                extra["icc_profile_bytes"] = len(image.info["icc_profile"])
            info["info"] = _bounded(extra)
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
                info["exif"] = _bounded(fields)
            if image.format == "TIFF":
                tiff = {TiffTags.lookup(tag).name or str(tag): value for tag, value in image.tag_v2.items()
                        if tag not in (TIFF_TAG, 273, 279, 324, 325)}  # strip/tile offsets are noise
                info["tiff_tags"] = _bounded(tiff)
                return info, image.tag_v2.get(TIFF_TAG)
            return info, exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
    except Image.DecompressionBombError as exc:
        raise TooLargeError(f"{path.name!r} is too large to open safely: {exc}",
                            hint="Its pixel count is past the image limit (max_image_pixels).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptFileError(f"cannot read {path.name!r} as an image: {exc}") from None


# -- public -------------------------------------------------------------------------------------

def read(path: Path, fmt: str) -> tuple[Any, bool, dict[str, Any]]:
    """(metadata, present, the format's own metadata); metadata may be JSON null and present."""
    if fmt == "pdf":
        value, info = _pdf_read(path)
    elif fmt == "svg":
        data = read_whole(path, current(), "SVG")  # TOO_LARGE past max_text_bytes, nothing read
        scan = _SvgScan(data)
        value, info = scan.metadata, _bounded({**scan.info, "elements": scan.n_elements, "size_bytes": len(data)})
    else:
        info, raw = _image_info(path)
        if fmt == "png":
            value = _png_sciio_in_file(path)
        elif fmt == "jpeg":
            value = _user_comment(raw)
        else:
            envelope = _decode(raw) if isinstance(raw, (str, bytes)) else _INVALID
            value = envelope[KEY] if isinstance(envelope, dict) and set(envelope) == {KEY} else _INVALID
    if value is _INVALID:
        return None, False, info
    return value, True, info


def embed(path: Path, fmt: str, metadata: Any, out: BinaryIO, *, overwrite: bool) -> bool:
    """Write ``path`` with ``metadata`` embedded to ``out``; True when earlier metadata was replaced."""
    text = encode_metadata(metadata)
    check_write(path.stat().st_size + len(text), current(), repr(path.name) + " with its metadata")
    _, present, _ = read(path, fmt)
    if present and not overwrite:
        raise ExistsError(
            f"{path.name!r} already holds {KEY} metadata",
            hint="Pass overwrite=True to replace it (read it first with read_metadata).",
        )
    if fmt == "png":
        _png_embed(path.read_bytes(), text, out)
    elif fmt == "jpeg":
        _jpeg_embed(path.read_bytes(), text, out)
    elif fmt == "tiff":
        _tiff_embed(path, text, out)
    elif fmt == "svg":
        _svg_embed(path.read_bytes(), text, out)
    elif fmt == "pdf":
        _pdf_embed(path, text, out)
    else:  # pragma: no cover - format_of only returns the five above
        raise UnsupportedOperationError(f"cannot embed metadata in {fmt}")
    return present
