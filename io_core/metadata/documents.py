"""Metadata in SVG and PDF documents.

SVG: ``<metadata id="sciio">`` as the root's first child, spliced into the text (nothing else
changes); parsed with expat, refusing entity declarations (no entity expansion, no external
entities). PDF: document information entry ``/sciio`` by a pypdf incremental update (the
original bytes stay a prefix of the file). pypdf loads on use.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any, BinaryIO

from io_core.errors import CorruptFileError, UnsafeFormatError, UnsupportedOperationError
from io_core.metadata.envelope import INVALID, KEY, decode

# -- SVG ------------------------------------------------------------------------------------------

class SvgScan:
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
        return decode("".join(self.meta_text)) if self.meta is not None else INVALID


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


def svg_embed(data: bytes, text: str, out: BinaryIO) -> None:
    scan = SvgScan(data)
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


def pdf_read(path: Path) -> tuple[Any, dict[str, Any]]:
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
    value = INVALID
    try:
        doc = reader.metadata or {}
        raw = doc.get("/" + KEY)
        value = decode(str(raw)) if raw is not None else INVALID
        info["document_info"] = {str(k).lstrip("/"): str(v) for k, v in doc.items() if str(k) != "/" + KEY}
        info["xmp"] = reader.xmp_metadata is not None
    except Exception as exc:  # noqa: BLE001
        info["document_info_error"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    return value, info


def pdf_embed(path: Path, text: str, out: BinaryIO) -> None:
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
