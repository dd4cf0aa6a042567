"""More tables: Feather / Arrow IPC (pyarrow), Excel .xlsx (openpyxl); JSON Lines is in ``jsonl``.

- Feather v2 *is* the Arrow IPC file format: ``.feather`` is written lz4-compressed
  (pyarrow's default), ``.arrow`` uncompressed for the widest reader support. Both keep
  dtypes, column order and a non-default index. Summaries read the schema and the row
  count of each record batch from the file's metadata (no column data is decoded).
- ``.xlsx``: one sheet loads as a DataFrame, several as ``{sheet: DataFrame}``; ``key``
  picks a sheet. Summaries take the sheet sizes from the workbook's dimension records and
  read only the first rows. Saving takes a frame (one sheet, "Sheet1") or
  ``{sheet: frame | records | columns}``. Like CSV, a non-default index is written as a
  leading column and dtypes are re-inferred on load.
- ``.xlsm`` (openpyxl) and ``.xls`` (xlrd) load, summarize and page like ``.xlsx`` (one
  ``ExcelFormat``, a workbook reader per library); they are not written. A macro-enabled
  workbook's macros are never run: only the cell values Excel cached are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from io_core.coerce import as_frame
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.formats.common import write_arrow
from io_core.formats.tables import _has_default_index
from io_core.formats.tables import check_columns as _check_columns
from io_core.limits import Limits, check_page, check_text_size, check_zip, current
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import frame_summary, frame_summary_streamed
from schemas import ChildInfo, FrameSummary, TreeSummary

SMALL_TABLE_BYTES = 8 * 1024 * 1024  # at or below: read whole for exact stats
SMALL_XLSX_BYTES = 2 * 1024 * 1024  # zipped XML: a small file is a big parse
BATCH_ROWS = 200_000


def _exact_rows(summary: FrameSummary) -> FrameSummary:
    """The row count is known exactly even when the stats came from the first rows only."""
    return summary.model_copy(update={"n_rows_exact": True})


# -- Feather / Arrow IPC -------------------------------------------------------------------------

class FeatherFormat(Format):
    """Arrow IPC files (Feather v2); Feather v1 files are read through pyarrow.feather."""

    @staticmethod
    def _reader(path: Path, columns: list[str] | None = None):
        import pyarrow as pa
        from pyarrow import ipc

        source = pa.memory_map(str(path), "r")
        if columns is None:
            return ipc.open_file(source)
        names = ipc.open_file(source).schema.names
        fields = [names.index(c) for c in columns]
        return ipc.open_file(source, options=ipc.IpcReadOptions(included_fields=fields))

    @staticmethod
    def _is_v1(path: Path) -> bool:
        with open(path, "rb") as fh:
            return fh.read(4) == b"FEA1"

    def _names(self, path: Path) -> list[str]:
        from pyarrow import feather

        if self._is_v1(path):
            return feather.read_table(str(path), memory_map=True).schema.names
        schema = self._reader(path).schema
        index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
        return [n for n in schema.names if n not in index]

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame:
        from pyarrow import feather

        if opts.key:
            _check_columns(self._names(path), [opts.key])
            return feather.read_table(str(path), columns=[opts.key], memory_map=True).to_pandas()
        return feather.read_table(str(path), memory_map=True).to_pandas()

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        import pyarrow as pa
        from pyarrow import feather

        df = as_frame(data)
        df.columns = [str(c) for c in df.columns]
        table = pa.Table.from_pandas(df, preserve_index=None)
        compression = "uncompressed" if path.name.lower().endswith(".arrow") else None
        feather.write_feather(table, str(path), compression=compression)

    def row_count(self, path: Path) -> int:
        """Rows from each batch's metadata only: no column is decompressed."""
        from pyarrow import feather

        if self._is_v1(path):
            return feather.read_table(str(path), memory_map=True).num_rows
        reader = self._reader(path, columns=[])
        return sum(reader.get_batch(i).num_rows for i in range(reader.num_record_batches))

    def iter_frames(self, path: Path, opts: ReadOptions, rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
        """Record batches as DataFrames (the index, if any, restored per batch)."""
        import pyarrow as pa
        from pyarrow import feather

        columns = _check_columns(self._names(path), [opts.key]) if opts.key else None
        if self._is_v1(path):
            yield feather.read_table(str(path), columns=columns, memory_map=True).to_pandas()
            return
        reader = self._reader(path)
        for i in range(reader.num_record_batches):
            table = pa.Table.from_batches([reader.get_batch(i)])
            if columns:
                table = table.select(columns)
            for start in range(0, max(1, table.num_rows), rows):
                yield table.slice(start, rows).to_pandas()

    def write_frames(self, frames: Iterator[pd.DataFrame], path: Path, opts: WriteOptions) -> None:
        from pyarrow import ipc

        compression = None if path.name.lower().endswith(".arrow") else "lz4"
        write_arrow(frames, lambda schema: ipc.new_file(str(path), schema,
                                                        options=ipc.IpcWriteOptions(compression=compression)))

    def summarize(self, path: Path, opts: ReadOptions) -> FrameSummary:
        names = self._names(path)
        if opts.key:
            _check_columns(names, [opts.key])
        if path.stat().st_size <= SMALL_TABLE_BYTES:
            return frame_summary(self.load(path, opts), opts)
        total = self.row_count(path)
        frames = self.iter_frames(path, opts, rows=max(1000, opts.preview_items))
        head = next(frames, pd.DataFrame(columns=names))
        if opts.key:
            head = head[[opts.key]]
        if opts.exact_stats:
            chunks = (f[list(head.columns)] for f in self.iter_frames(path, opts))
            return frame_summary_streamed(head, chunks, opts, total_rows=total)
        return _exact_rows(frame_summary(head, opts, n_rows=max(total, len(head)), n_rows_exact=len(head) >= total))

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Only the record batches overlapping the page are decoded."""
        columns = columns or ([opts.key] if opts.key else None)  # key names one column here
        import pyarrow as pa

        check_page(limit, opts.limits)
        names = self._names(path)
        usecols = _check_columns(names, columns)
        check_page(limit, opts.limits, columns=len(usecols or names))
        if self._is_v1(path):
            df = self.load(path, ReadOptions())
            page = df.iloc[offset : offset + limit]
            return (page[usecols] if usecols else page), len(df), True
        counts = self._reader(path, columns=[])
        reader = self._reader(path)
        pieces, first = [], 0
        total = 0
        for i in range(counts.num_record_batches):
            n = counts.get_batch(i).num_rows
            if first + n > offset and first < offset + limit:
                lo = max(0, offset - first)
                table = pa.Table.from_batches([reader.get_batch(i)]).slice(lo, offset + limit - first - lo)
                pieces.append(table.to_pandas())
            first += n
            total = first
        page = pd.concat(pieces) if pieces else reader.schema.empty_table().to_pandas()
        return (page[usecols] if usecols else page), total, True


# -- Excel ---------------------------------------------------------------------------------------

_SHEET_FORBIDDEN = set("[]:*?/\\")


def _check_xlsx(path: Path, limits: Limits | None) -> None:
    """Every part of the workbook by its zip directory entry, before openpyxl inflates any."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            check_zip(zf, limits or current(), container=repr(path.name))
    except zipfile.BadZipFile as exc:
        raise CorruptFileError(f"{path.name!r} is not an .xlsx/.xlsm workbook (zip): {exc}",
                               hint="Excel 97-2003 workbooks are .xls (format='xls').") from None


def _workbook(path: Path, limits: Limits | None = None):
    import openpyxl

    _check_xlsx(path, limits)
    return openpyxl.load_workbook(str(path), read_only=True, data_only=True)


def _sheet_size(ws: Any) -> tuple[int, int, bool]:
    """(rows, columns, exact) from the sheet's dimension record; counted when it is missing."""
    rows, cols = ws.max_row, ws.max_column
    if rows is not None and cols is not None:
        return rows, cols, True
    rows = cols = 0
    for row in ws.iter_rows(values_only=True):  # streamed: one row in memory at a time
        rows += 1
        cols = max(cols, len(row))
    return rows, cols, True


def _header_names(cells: Sequence[Any]) -> list[str]:
    """Column names from a header row as pandas names them: blanks ``Unnamed: i``, repeats ``a.1``."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, c in enumerate(cells):
        name = f"Unnamed: {i}" if c is None or c == "" else str(c)
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def _frame_from_rows(rows: list[Sequence[Any]]) -> pd.DataFrame:
    """The first row as the header, the rest as data (short rows padded), dtypes inferred."""
    if not rows:
        return pd.DataFrame()
    header = _header_names(rows[0])
    body = [list(r)[: len(header)] + [None] * (len(header) - len(r)) for r in rows[1:]]
    return pd.DataFrame(body, columns=header).infer_objects()


def _head_frame(ws: Any, n: int) -> pd.DataFrame:
    return _frame_from_rows(list(ws.iter_rows(max_row=n + 1, values_only=True)))


class _OpenpyxlBook:
    """An .xlsx / .xlsm workbook: openpyxl (read-only, cached values) for names, sizes and heads;
    pandas for whole sheets and pages. Its zip directory is checked before anything inflates."""

    def __init__(self, path: Path, limits: Limits | None) -> None:
        self.path = path
        self.wb = _workbook(path, limits)
        self.names = list(self.wb.sheetnames)

    def size(self, name: str) -> tuple[int, int, bool]:
        return _sheet_size(self.wb[name])

    def head(self, name: str, n: int) -> pd.DataFrame:
        return _head_frame(self.wb[name], n)

    def header(self, name: str) -> list[Any]:
        return list(pd.read_excel(self.path, sheet_name=name, nrows=0, engine="openpyxl").columns)

    def frame(self, name: str, skip: int = 0, nrows: int | None = None, usecols: list[str] | None = None,
              header: list[Any] | None = None) -> pd.DataFrame:
        if not skip and nrows is None and usecols is None:
            return pd.read_excel(self.path, sheet_name=name, engine="openpyxl")
        return pd.read_excel(self.path, sheet_name=name, header=None, names=header or self.header(name),
                             skiprows=skip + 1, nrows=nrows, usecols=usecols, engine="openpyxl")

    def close(self) -> None:
        self.wb.close()


class _XlrdBook:
    """A BIFF .xls workbook through xlrd (sheets parsed one at a time, on demand).

    xlrd parses a sheet whole, so the file is parsed only up to ``max_text_bytes``
    (an .xls holds at most 65536 x 256 cells a sheet: real ones are small). Cells are
    converted as pandas' own xlrd reader does: whole numbers as int, dates as datetime,
    errors and blanks as NaN; the first row is the header.
    """

    def __init__(self, path: Path, limits: Limits | None) -> None:
        import xlrd

        check_text_size(path.stat().st_size, limits or current(), path.name, "XLS workbook",
                        hint="Save the workbook as .xlsx (read in pages) or .csv.")
        try:
            self.book = xlrd.open_workbook(str(path), on_demand=True)
        except xlrd.XLRDError as exc:
            raise CorruptFileError(f"{path.name!r} is not an .xls workbook: {exc}",
                                   hint="An .xls file is an Excel 97-2003 (BIFF) workbook; .xlsx is read as 'xlsx'."
                                   ) from None
        self.names = list(self.book.sheet_names())

    def _value(self, cell: Any) -> Any:
        import xlrd

        kind, value = cell.ctype, cell.value
        if kind == xlrd.XL_CELL_NUMBER:
            return int(value) if float(value).is_integer() else value
        if kind == xlrd.XL_CELL_DATE:
            try:
                return xlrd.xldate.xldate_as_datetime(value, self.book.datemode)
            except (xlrd.xldate.XLDateError, ValueError, OverflowError):
                return value
        if kind == xlrd.XL_CELL_BOOLEAN:
            return bool(value)
        if kind in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
            return np.nan
        return value

    def _rows(self, name: str, start: int, stop: int | None) -> list[list[Any]]:
        sheet = self.book.sheet_by_name(name)
        stop = sheet.nrows if stop is None else min(stop, sheet.nrows)
        return [[self._value(c) for c in sheet.row(i)] for i in range(start, stop)]

    def size(self, name: str) -> tuple[int, int, bool]:
        sheet = self.book.sheet_by_name(name)
        return sheet.nrows, sheet.ncols, True

    def head(self, name: str, n: int) -> pd.DataFrame:
        return _frame_from_rows(self._rows(name, 0, n + 1))

    def header(self, name: str) -> list[Any]:
        rows = self._rows(name, 0, 1)
        return _header_names([None if isinstance(c, float) and np.isnan(c) else c for c in rows[0]]) if rows else []

    def frame(self, name: str, skip: int = 0, nrows: int | None = None, usecols: list[str] | None = None,
              header: list[Any] | None = None) -> pd.DataFrame:
        names = header if header is not None else self.header(name)
        if not names:
            return pd.DataFrame()
        body = self._rows(name, 1 + skip, None if nrows is None else 1 + skip + nrows)
        frame = _frame_from_rows([names, *body]) if body else pd.DataFrame(columns=names)
        return frame[usecols] if usecols else frame

    def close(self) -> None:
        self.book.release_resources()


class ExcelFormat(Format):
    """Workbooks as pandas reads them: one sheet loads as a DataFrame, several as ``{sheet: DataFrame}``;
    ``key`` picks a sheet (summary, load, read_slice). Which library opens the file is ``book``'s choice:
    openpyxl for .xlsx / .xlsm (macros are never run, only cached cell values read), xlrd for .xls."""

    def __init__(self, name: str, book: Callable[[Path, Limits | None], Any]) -> None:
        self.name = name
        self._book = book

    @contextmanager
    def _opened(self, path: Path, limits: Limits | None) -> Iterator[Any]:
        book = self._book(path, limits)
        try:
            yield book
        finally:
            book.close()

    def _sheet_name(self, names: list[str], key: str | None) -> str:
        if key is None:
            return names[0]
        if key not in names:
            raise KeyNotFoundError(f"no sheet {key!r}; sheets: {names[:50]}").with_candidates(key, names)
        return key

    def sheet_names(self, path: Path, limits: Limits | None = None) -> list[str]:
        with self._opened(path, limits) as book:
            return list(book.names)

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame | dict[str, pd.DataFrame]:
        with self._opened(path, opts.limits) as book:
            names = book.names
            if not names:
                raise CorruptFileError(f"{path.name!r} holds no worksheet")
            if opts.key is not None or len(names) == 1:
                return book.frame(self._sheet_name(names, opts.key))
            return {name: book.frame(name) for name in names}

    def summarize(self, path: Path, opts: ReadOptions) -> FrameSummary | TreeSummary:
        with self._opened(path, opts.limits) as book:
            names = book.names
            if not names:
                raise CorruptFileError(f"{path.name!r} holds no worksheet")
            if opts.key is None and len(names) > 1:
                children = []
                for name in names[: opts.preview_items]:
                    rows, cols, _ = book.size(name)
                    children.append(ChildInfo(name=name, kind="group", shape=[max(0, rows - 1), cols], n_children=cols,
                                              dtype="sheet"))
                return TreeSummary(path="/", n_children=len(names), children=children,
                                   truncated=len(names) > len(children), attrs={"sheets": names[: opts.preview_items]})
            name = self._sheet_name(names, opts.key)
            rows, _, exact = book.size(name)
            if path.stat().st_size <= SMALL_XLSX_BYTES:
                return frame_summary(book.frame(name), opts)
            head = book.head(name, max(opts.preview_items, 1000))
        n_rows = max(rows - 1, len(head))
        return frame_summary(head, opts, n_rows=n_rows, n_rows_exact=len(head) >= n_rows).model_copy(
            update={"n_rows_exact": exact})

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """``key`` is the sheet; rows are parsed up to the end of the page only.

        The sheet's size comes first (its dimension record): an offset past the last row
        returns the header alone, without parsing any row.
        """
        check_page(limit, opts.limits)
        with self._opened(path, opts.limits) as book:
            name = self._sheet_name(book.names, opts.key)
            rows, _, exact = book.size(name)
            header = book.header(name)
            usecols = _check_columns([str(c) for c in header], columns)
            check_page(limit, opts.limits, columns=len(usecols or header))
            if offset >= rows - 1:
                empty = pd.DataFrame(columns=header)
                return (empty[usecols] if usecols else empty), max(rows - 1, 0), exact
            page = book.frame(name, skip=offset, nrows=limit, usecols=usecols, header=header)
        return (page[usecols] if usecols else page), max(rows - 1, offset + len(page)), exact


class XlsxFormat(ExcelFormat):
    """``.xlsx``, also written: a frame (one sheet, "Sheet1") or ``{sheet: frame | records | columns}``."""

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        sheets = _sheets(data)
        for name in sheets:
            if not name or len(name) > 31 or _SHEET_FORBIDDEN & set(name):
                raise InvalidDataError(
                    f"invalid sheet name {name!r}", hint="Sheet names have 1-31 characters and none of []:*?/\\."
                )
        with pd.ExcelWriter(path, engine="openpyxl") as writer:
            for name, df in sheets.items():
                df.to_excel(writer, sheet_name=name, index=not _has_default_index(df))


def _sheets(data: Any) -> dict[str, pd.DataFrame]:
    """``{sheet: frame | records | columns}`` -> several sheets; anything else is one table."""
    def is_table(v: Any) -> bool:
        return isinstance(v, (pd.DataFrame, Mapping)) or (
            isinstance(v, list) and bool(v) and all(isinstance(r, Mapping) for r in v))

    if isinstance(data, Mapping) and data and all(is_table(v) for v in data.values()):
        return {str(k): as_frame(v) for k, v in data.items()}
    return {"Sheet1": as_frame(data)}


FEATHER = FeatherFormat()
XLSX = XlsxFormat("xlsx", _OpenpyxlBook)
XLSM = ExcelFormat("xlsm", _OpenpyxlBook)  # macro-enabled: read like .xlsx; the macros are never run
XLS = ExcelFormat("xls", _XlrdBook)
