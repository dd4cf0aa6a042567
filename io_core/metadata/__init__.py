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
JSON (``envelope``); the byte-level writers are in ``raster`` (PNG, JPEG, TIFF) and ``documents``
(SVG, PDF); which one a file gets is the registry's choice (each format's handler passes its name). Writers take the original file and a binary stream and only ever append to the
stream, so the workspace can write atomically and hash while writing. Pillow reads the
images' own metadata, pypdf the PDFs'; SVG is parsed with expat, refusing entity
declarations (no entity expansion, no external entities). Heavy libraries load on use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

from io_core.errors import ExistsError, UnsupportedOperationError
from io_core.formats.text import read_whole
from io_core.limits import check_write, current
from io_core.metadata.documents import SvgScan, pdf_embed, pdf_read, svg_embed
from io_core.metadata.envelope import INVALID, KEY, MAX_METADATA_BYTES, bounded, decode, encode_metadata
from io_core.metadata.raster import (
    TIFF_TAG,
    image_info,
    jpeg_embed,
    png_embed,
    png_sciio_in_file,
    tiff_embed,
    user_comment,
)

__all__ = ["KEY", "MAX_METADATA_BYTES", "TIFF_TAG", "embed", "encode_metadata", "read"]


def read(path: Path, fmt: str) -> tuple[Any, bool, dict[str, Any]]:
    """(metadata, present, the format's own metadata); metadata may be JSON null and present."""
    if fmt == "pdf":
        value, info = pdf_read(path)
    elif fmt == "svg":
        data = read_whole(path, current(), "SVG")  # TOO_LARGE past max_text_bytes, nothing read
        scan = SvgScan(data)
        value, info = scan.metadata, bounded({**scan.info, "elements": scan.n_elements, "size_bytes": len(data)})
    else:
        info, raw = image_info(path)
        if fmt == "png":
            value = png_sciio_in_file(path)
        elif fmt == "jpeg":
            value = user_comment(raw)
        else:
            envelope = decode(raw) if isinstance(raw, (str, bytes)) else INVALID
            value = envelope[KEY] if isinstance(envelope, dict) and set(envelope) == {KEY} else INVALID
    if value is INVALID:
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
        png_embed(path.read_bytes(), text, out)
    elif fmt == "jpeg":
        jpeg_embed(path.read_bytes(), text, out)
    elif fmt == "tiff":
        tiff_embed(path, text, out)
    elif fmt == "svg":
        svg_embed(path.read_bytes(), text, out)
    elif fmt == "pdf":
        pdf_embed(path, text, out)
    else:  # pragma: no cover - the handlers pass one of the five above
        raise UnsupportedOperationError(f"cannot embed metadata in {fmt}")
    return present
