"""Word documents (.docx, python-docx) as pandas frames: the paragraphs, and each table.

- ``load`` -> ``{"paragraphs": DataFrame, "table0": DataFrame, "table1": ...}``; ``key`` picks one.
  ``paragraphs`` has one row per body paragraph in document order (row ``i`` is
  ``docx.Document(...).paragraphs[i]``, empty ones included), columns ``style`` (the style name),
  ``level`` (1-9 for "Heading N", 0 for "Title", null for other text) and ``text``. Tables are
  numbered in document order from 0; the first row is the header (blank names ``Unnamed: i``,
  repeats ``a.1``, as pandas names them); cells are text, and a column whose every non-blank
  cell is a number becomes numeric (blanks NaN), as ``pandas.read_html`` does. Merged cells
  repeat their text in each grid column they span; tables nested in cells are not listed.
- ``summarize`` (no key): counts of paragraphs, headings and tables, the headings outline,
  the first non-empty paragraphs (half the response budget), each table's shape, the core
  properties. With ``key``: that frame's summary.
- ``read_rows`` (``read_slice``): rows of ``key`` (default ``paragraphs``): ``selection="10:20"``
  gives paragraphs 10-19, ``key="table0"`` pages the first table.
- A .docx is a zip: every part is checked by its directory entry (``max_member_bytes``, the
  compression ratio) and the parts together to ``max_member_bytes`` (python-docx reads them
  all into memory), before python-docx opens it. Its XML parser resolves no entities.
"""

from __future__ import annotations

import os
import re
import threading
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd

from io_core.errors import CorruptFileError, KeyNotFoundError, TooLargeError
from io_core.formats.base import Format
from io_core.formats.document_text import fill, text_room
from io_core.formats.tabular_extra import _frame_from_rows
from io_core.limits import Limits, check_page, check_zip, human
from io_core.options import ReadOptions
from io_core.summary import frame_summary
from schemas import ChildInfo, TreeSummary

PARAGRAPHS = "paragraphs"
_TABLE = re.compile(r"^table(\d+)$")
_HEADING = re.compile(r"^heading (\d)$", re.IGNORECASE)
OUTLINE_SHOWN = 100  # headings a summary lists (all are counted)
SLICE_NOTE = ("read_slice key='paragraphs' (default) selection='10:20' gives paragraphs 10-19 "
              "(from 0, end excluded); key='table0' pages the first table")
_NOT_DOCX = "A .docx file is a Word 2007+ document (a zip); save .doc files as .docx first."


def _check_package(path: Path, limits: Limits) -> None:
    """The zip directory against the limits: each part, then all of them together, before anything inflates."""
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip(zf, limits, container=repr(path.name))
            total = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name!r} is not a .docx document (zip): {exc}", hint=_NOT_DOCX) from None
    if total > limits.max_member_bytes:
        raise TooLargeError(f"{path.name!r} inflates to {human(total)}; a document is read whole only up to "
                            f"{human(limits.max_member_bytes)}", hint="Split the document, or remove large images.")


def _document(path: Path, limits: Limits) -> Any:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    _check_package(path, limits)
    try:
        return docx.Document(str(path))
    except (PackageNotFoundError, ValueError, KeyError) as exc:
        raise CorruptFileError(f"{path.name!r} is not a Word document: {exc}", hint=_NOT_DOCX) from None


def _level(style: str) -> int | None:
    if style.lower() == "title":
        return 0
    m = _HEADING.match(style)
    return int(m.group(1)) if m else None


def _style_names(doc: Any) -> tuple[dict[str, str], str]:
    """(style id -> name, the default paragraph style's name), read once: python-docx looks each
    paragraph's style up through the whole styles part (seconds for a long document)."""
    from docx.enum.style import WD_STYLE_TYPE

    names = {str(s.style_id): str(s.name) for s in doc.styles if s.style_id is not None}
    default = doc.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    return names, (str(default.name) if default is not None else "")


def _numeric(column: pd.Series) -> pd.Series:
    """Numbers when every non-blank cell is one (blanks NaN); the text otherwise."""
    stripped = column.astype(str).str.strip()
    blank = stripped == ""
    if blank.all():
        return column
    try:
        return pd.to_numeric(stripped.mask(blank))
    except (ValueError, TypeError):
        return column


def _table_frame(table: Any) -> pd.DataFrame:
    rows = [[cell.text for cell in row.cells] for row in table.rows]
    frame = _frame_from_rows(rows)
    return frame.apply(_numeric) if len(frame.columns) else frame


class Parsed:
    """A document read once: paragraph rows and tables in document order."""

    def __init__(self, doc: Any) -> None:
        from docx.table import Table

        names, default = _style_names(doc)
        styles: list[str] = []
        texts: list[str] = []
        self.tables: list[Any] = []
        for block in doc.iter_inner_content():
            if isinstance(block, Table):
                self.tables.append(block)
            else:
                style_id = block._p.style  # the paragraph's own style id; None: the default style
                styles.append(names.get(style_id, default) if style_id else default)
                texts.append(block.text)
        self.paragraphs = pd.DataFrame({"style": styles, "level": pd.Series([_level(s) for s in styles], dtype=object),
                                        "text": texts}, columns=["style", "level", "text"])
        props = doc.core_properties
        self.properties = {k: str(v) for k in ("title", "subject", "author", "created", "modified", "last_modified_by")
                           if (v := getattr(props, k, None)) not in (None, "")}

    @property
    def keys(self) -> list[str]:
        return [PARAGRAPHS] + [f"table{i}" for i in range(len(self.tables))]

    def frame(self, key: str | None) -> pd.DataFrame:
        if key is None or key == PARAGRAPHS:
            return self.paragraphs
        m = _TABLE.match(key)
        if m is None or int(m.group(1)) >= len(self.tables):
            raise KeyNotFoundError(f"no {key!r} in the document; its parts are {self.keys[:50]}").with_candidates(
                key, self.keys)
        return _table_frame(self.tables[int(m.group(1))])


class DocxFormat(Format):
    name = "docx"

    def __init__(self) -> None:
        self._last: tuple[Any, Parsed] | None = None
        self._lock = threading.Lock()

    def _parsed(self, path: Path, opts: ReadOptions) -> Parsed:
        """The document parsed, or the last one again while the file is unchanged (``read_slice`` reads a
        page in two steps; python-docx takes about a second for 10,000 paragraphs)."""
        st = os.stat(path)
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, opts.limits)
        with self._lock:
            if self._last is not None and self._last[0] == ident:
                return self._last[1]
        parsed = Parsed(_document(path, opts.limits))
        with self._lock:
            self._last = (ident, parsed)
        return parsed

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame | dict[str, pd.DataFrame]:
        parsed = self._parsed(path, opts)
        if opts.key is not None:
            return parsed.frame(opts.key).copy()
        return {key: parsed.frame(key).copy() for key in parsed.keys}

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        parsed = self._parsed(path, opts)
        if opts.key is not None:
            return frame_summary(parsed.frame(opts.key), opts)
        par = parsed.paragraphs
        headings = [(i, int(lv), t) for i, (lv, t) in enumerate(zip(par["level"], par["text"], strict=True))
                    if lv is not None]
        children = [ChildInfo(name=PARAGRAPHS, kind="group", shape=[len(par), 3], n_children=3, dtype="paragraphs")]
        for i, table in enumerate(parsed.tables[: opts.preview_items]):
            n_rows, n_cols = len(table.rows), len(table.columns)
            children.append(ChildInfo(name=f"table{i}", kind="group", shape=[max(0, n_rows - 1), n_cols],
                                      n_children=n_cols, dtype="table"))
        body = ((({"paragraph": i, "style": s} if _level(s) is None else {"paragraph": i, "level": _level(s)}), t)
                for i, (s, t) in enumerate(zip(par["style"], par["text"], strict=True)) if t.strip())
        head, cut = fill(body, text_room(opts))
        attrs: dict[str, Any] = {"paragraphs": len(par), "headings": len(headings), "tables": len(parsed.tables)}
        if parsed.properties:
            attrs["properties"] = parsed.properties
        if headings:
            attrs["outline"] = [{"paragraph": i, "level": lv, "text": t[:200]} for i, lv, t in headings[:OUTLINE_SHOWN]]
        attrs["head"] = head
        attrs["read_slice"] = SLICE_NOTE
        return TreeSummary(path="/", n_children=len(children) + len(parsed.tables[opts.preview_items:]),
                           children=children, attrs=attrs,
                           truncated=cut or len(parsed.tables) > opts.preview_items or len(headings) > OUTLINE_SHOWN)

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Rows of the paragraphs (default) or of the table ``key`` names."""
        from io_core.formats.tables import check_columns

        check_page(limit, opts.limits)
        frame = self._parsed(path, opts).frame(opts.key)
        usecols = check_columns([str(c) for c in frame.columns], columns)
        page = frame.iloc[offset : offset + limit]
        return (page[usecols] if usecols else page), len(frame), True


DOCX = DocxFormat()
