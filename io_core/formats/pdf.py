"""PDF documents (pypdf): the text of each page, the document information, the outline; and sciio metadata.

- ``load`` -> ``{"pages": [text of each page], "info": {...}, "outline": [{"title", "page", "level"}]}``;
  ``key`` picks a part: ``"pages"``, ``"pages/3"`` (that page's text alone), ``"info"``, ``"outline"``.
- ``summarize`` -> page count, PDF version, document info, outline (first entries) and the text of
  the first pages (up to 10), as much as half the response budget holds (later pages are never
  extracted); a page that cannot be read says why in its entry.
- ``read_rows``: one row per page, columns ``page`` and ``text``; ``read_slice`` with
  ``selection="2:5"`` gives pages 2, 3 and 4, ``"3"`` page 3 alone. Pages are numbered from 0,
  like rows and array indices everywhere else (page 0 is the one a viewer calls page 1); the
  outline's ``page`` uses the same numbers.
- ``open_picture`` (``preview_image``): one page drawn by pdfium (pypdfium2, the renderer of Chromium),
  ``selection="3"`` for page 3 (from 0; default page 0), at most ``RENDER_SIDE`` pixels on its long side;
  the page's content stream is held to the same 4 MiB as text extraction before pdfium draws it.
- Encrypted files are opened when the user password is empty (owner-password PDFs); others are
  refused with a hint. pypdf's own limits (page tree, outline and stream sizes, content-stream
  parsing work; a hostile file reaching one is TOO_LARGE) bound the work, and text is extracted
  only from pages whose content stream is at most 4 MiB decoded (about two seconds of parsing);
  the text ``load`` gathers is held to ``max_text_bytes``.

Reading and embedding sciio metadata live in ``io_core.metadata`` (an incremental update: the
pages are never rewritten).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from io_core.errors import (
    CorruptFileError,
    InvalidArgumentError,
    IOCoreError,
    KeyNotFoundError,
    TooLargeError,
    UnsupportedOperationError,
)
from io_core.formats.base import SHOWN, Format
from io_core.formats.document_text import fill, text_room
from io_core.limits import check_page, check_text_size, human
from io_core.options import ReadOptions
from schemas import ValueSummary

PARTS = ("pages", "info", "outline")
OUTLINE_SHOWN = 50  # outline entries a summary lists (all of them are counted)
SUMMARY_PAGES = 10  # pages a summary extracts text from at most (a scanned PDF has none to fill the room)
MAX_CONTENT_BYTES = 4 * 1024 * 1024  # decoded content stream of one page that text is extracted from or drawn
RENDER_SIDE = 2048  # pixels on the long side of a drawn page (the preview is scaled down from it)
INFO_CHARS = 500  # characters of one document-info value in a summary
SLICE_NOTE = "read_slice selection='2:5' gives pages 2-4 as rows (page, text); pages count from 0, end excluded"
_DAMAGED = "The file is not a readable PDF (damaged or cut short); export it again from its source."


def _coded(exc: Exception, name: str) -> IOCoreError:
    """A pypdf failure as a coded error: a safety limit reached is TOO_LARGE, anything else CORRUPT_FILE."""
    from pypdf.errors import LimitReachedError

    if isinstance(exc, LimitReachedError):
        return TooLargeError(f"{name!r} goes past a PDF safety limit: {exc}",
                             hint="The file is too large or too deeply nested to read safely.")
    return CorruptFileError(f"cannot read {name!r} as PDF: {type(exc).__name__}: {str(exc)[:200]}", hint=_DAMAGED)


@contextmanager
def opened(path: Path) -> Iterator[Any]:
    """A ``PdfReader`` over the open file (objects are read on demand, not the whole file at once)."""
    from pypdf import PasswordType, PdfReader
    from pypdf.errors import DependencyError

    with open(path, "rb") as fh:
        try:
            reader = PdfReader(fh, strict=False)
            locked = reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED
        except DependencyError as exc:
            raise UnsupportedOperationError(f"{path.name!r} is encrypted in a way pypdf needs more to read: {exc}",
                                            hint="pip install cryptography") from None
        except IOCoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - pypdf raises many types for damaged files
            raise _coded(exc, path.name) from None
        if locked:
            raise UnsupportedOperationError(
                f"{path.name!r} is encrypted with a password", path=path.name,
                hint="Only PDFs without a user password are read; decrypt it first "
                     "(e.g. qpdf --decrypt --password=... in.pdf out.pdf).")
        try:
            yield reader
        except IOCoreError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _coded(exc, path.name) from None


def _page_count(reader: Any) -> int:
    return len(reader.pages)


def _bounded_page(reader: Any, index: int, doing: str = "text is extracted from") -> Any:
    """The page, once its decoded content stream is known to be at most MAX_CONTENT_BYTES (else TOO_LARGE)
    (pypdf tokenizes about 2 MiB a second: its own limit, 2 million tokens, would take seconds to reach)."""
    page = reader.pages[index]
    contents = page.get_contents()
    size = len(contents.get_data()) if contents is not None else 0
    if size > MAX_CONTENT_BYTES:
        raise TooLargeError(f"page {index} draws with {human(size)} of content; {doing} pages of up to "
                            f"{human(MAX_CONTENT_BYTES)}", hint="Read the other pages (read_slice selection=...).")
    return page


def _text(reader: Any, index: int) -> str:
    """The page's text (a page over MAX_CONTENT_BYTES is TOO_LARGE before it is parsed)."""
    return _bounded_page(reader, index).extract_text() or ""


def _render(path: Path, index: int) -> Any:
    """Page ``index`` drawn by pdfium as a PIL image, its long side RENDER_SIDE pixels at most."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        raise CorruptFileError(f"pdfium cannot open {path.name!r}: {exc}", hint=_DAMAGED) from None
    try:
        page = pdf[index]
        width, height = page.get_size()
        scale = min(2.0, RENDER_SIDE / max(width, height, 1.0))
        image = page.render(scale=scale).to_pil()
        image.info[SHOWN] = {"page": index}
        return image
    except pdfium.PdfiumError as exc:
        raise CorruptFileError(f"pdfium cannot draw page {index} of {path.name!r}: {exc}", hint=_DAMAGED) from None
    finally:
        pdf.close()


def _info(reader: Any, chars: int | None = None) -> dict[str, str]:
    """The document information dictionary as plain strings (sciio's own entry is read_metadata's)."""
    from io_core.metadata.envelope import KEY

    doc = reader.metadata or {}
    out = {}
    for k in list(doc.keys()):
        name = str(k).lstrip("/")
        if name == KEY:
            continue
        text = str(doc[k])  # indexing resolves an indirect value
        out[name] = text if chars is None or len(text) <= chars else text[:chars] + "…"
    return out


def _outline(reader: Any, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """(the first ``limit`` outline entries as {title, page, level}, how many there are).

    pypdf builds the outline within its limits (depth and entries); the nesting is walked
    here without recursion.
    """
    entries: list[dict[str, Any]] = []
    total = 0
    stack: list[tuple[Iterator[Any], int]] = [(iter(reader.outline), 0)]
    while stack:
        it, level = stack[-1]
        item = next(it, None)
        if item is None:
            stack.pop()
            continue
        if isinstance(item, list):
            stack.append((iter(item), level + 1))
            continue
        total += 1
        if limit is None or len(entries) < limit:
            try:
                page = reader.get_destination_page_number(item)
            except Exception:  # noqa: BLE001 - a destination naming no page of this file
                page = None
            entries.append({"title": str(getattr(item, "title", "") or ""), "page": page, "level": level})
    return entries, total


def _page_texts(reader: Any, n: int, name: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(record, text) of each page in turn for a summary; a page that cannot be read says why and the next follows."""
    for i in range(n):
        try:
            yield {"page": i}, _text(reader, i)
        except Exception as exc:  # noqa: BLE001 - one damaged or oversized page does not hide the others
            yield {"page": i, "error": (exc if isinstance(exc, IOCoreError) else _coded(exc, name)).message}, ""


def _page_index(part: str, n: int) -> int:
    if not part.lstrip("-").isdigit() or not -n <= int(part) < n:
        raise KeyNotFoundError(f"no page {part!r}; the document has {n} pages (numbered 0..{n - 1})")
    return int(part) % n


class PdfFormat(Format):
    name = "pdf"

    def load(self, path: Path, opts: ReadOptions) -> Any:
        key = (opts.key or "").strip("/")
        part, _, rest = key.partition("/")
        if part and part not in PARTS:
            raise KeyNotFoundError(f"no {part!r} in a PDF; its parts are {list(PARTS)}").with_candidates(part, PARTS)
        if rest and part != "pages":
            raise KeyNotFoundError(f"no {key!r}: only pages are numbered (pages/3)")
        with opened(path) as reader:
            if part == "pages" and rest:
                return _text(reader, _page_index(rest, _page_count(reader)))
            doc: dict[str, Any] = {}
            if part in ("", "pages"):
                pages, size = [], 0
                for i in range(_page_count(reader)):
                    pages.append(_text(reader, i))
                    size += len(pages[-1])
                    check_text_size(size, opts.limits, path.name, "PDF text",
                                    hint="Read its pages in parts with read_slice (selection='0:20').")
                doc["pages"] = pages
            if part in ("", "info"):
                doc["info"] = _info(reader)
            if part in ("", "outline"):
                doc["outline"] = _outline(reader)[0]
        return doc[part] if part else doc

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        if opts.key:
            from io_core.summary import value_summary

            return value_summary(self.load(path, opts), opts)
        with opened(path) as reader:
            n = _page_count(reader)
            preview: dict[str, Any] = {"pages": n, "pdf_version": reader.pdf_header.removeprefix("%PDF-"),
                                       "encrypted": reader.is_encrypted}
            try:
                preview["info"] = _info(reader, INFO_CHARS)
            except Exception as exc:  # noqa: BLE001 - a damaged info dictionary does not hide the pages
                preview["info_error"] = _coded(exc, path.name).message
            try:
                outline, total = _outline(reader, OUTLINE_SHOWN)
                if total:
                    preview["outline"] = outline
                    preview["outline_entries"] = total
            except Exception as exc:  # noqa: BLE001
                preview["outline_error"] = _coded(exc, path.name).message
            shown, cut = fill(_page_texts(reader, min(n, SUMMARY_PAGES), path.name), text_room(opts))
        preview["text"] = shown
        preview["read_slice"] = SLICE_NOTE
        return ValueSummary(type="pdf", length=n, keys=list(PARTS), preview=preview,
                            truncated=cut or len(shown) < n)

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Pages ``offset .. offset+limit`` as rows (page, text); only those pages are extracted."""
        import pandas as pd

        from io_core.formats.tables import check_columns

        if opts.key:
            raise InvalidArgumentError("a PDF's pages are selected with selection= (e.g. '2:5'), not key=",
                                       hint="Drop key=; pages count from 0.")
        check_page(limit, opts.limits, "pages")
        wanted = check_columns(["page", "text"], columns) or ["page", "text"]
        with opened(path) as reader:
            n = _page_count(reader)
            pages = list(range(offset, min(n, offset + limit)))
            frame = pd.DataFrame({"page": pages, "text": [_text(reader, i) for i in pages]},
                                 columns=["page", "text"])
        return frame[wanted], n, True

    @contextmanager
    def open_picture(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        """Page ``selection`` (from 0; default 0) drawn, for preview_image."""
        with opened(path) as reader:
            n = _page_count(reader)
            if n == 0:
                raise UnsupportedOperationError(f"{path.name!r} has no pages to draw")
            index = _page_index((opts.selection or "0").strip().removeprefix("page=").strip(), n)
            _bounded_page(reader, index, "pages are drawn for")
        yield _render(path, index)

    def read_metadata(self, path: Path, opts: ReadOptions) -> tuple[Any, bool, dict[str, Any]]:
        from io_core import metadata

        return metadata.read(path, "pdf")

    def embed_metadata(self, path: Path, metadata: Any, stream: Any, overwrite: bool) -> bool:
        from io_core import metadata as md

        return md.embed(path, "pdf", metadata, stream, overwrite=overwrite)


PDF = PdfFormat()
