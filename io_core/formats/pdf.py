"""PDF documents, for the metadata they carry: sciio JSON in the document info, embedded by an incremental update.

Reading and embedding live in ``io_core.metadata`` (with pypdf, imported there on first use);
the pages are never rewritten.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from io_core.formats.base import Format
from io_core.options import ReadOptions


class PdfFormat(Format):
    name = "pdf"

    def read_metadata(self, path: Path, opts: ReadOptions) -> tuple[Any, bool, dict[str, Any]]:
        from io_core import metadata

        return metadata.read(path, "pdf")

    def embed_metadata(self, path: Path, metadata: Any, stream: Any, overwrite: bool) -> bool:
        from io_core import metadata as md

        return md.embed(path, "pdf", metadata, stream, overwrite=overwrite)


PDF = PdfFormat()
