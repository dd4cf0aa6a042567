"""Tables: CSV/TSV through pandas, parquet through pyarrow (footer-only summaries).

CSV keeps neither dtypes nor an index: values come back as pandas infers them, and a
non-default index is written as a leading column that loads back as an ordinary
column. Parquet keeps dtypes, column order and the index.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from io_core.coerce import as_frame
from io_core.errors import CorruptFileError, KeyNotFoundError
from io_core.limits import check_member, check_page
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import encode_value, frame_summary, frame_summary_streamed
from schemas import ColumnInfo, FrameSummary, Stats

SMALL_TEXT_TABLE = 8 * 1024 * 1024  # read whole (exact counts) at or below this size
HEAD_BYTES = 1024 * 1024
CSV_CHUNK_ROWS = 200_000
PARQUET_BATCH_ROWS = 200_000


def _has_default_index(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1 and df.index.name is None


def _select(df: pd.DataFrame, key: str | None) -> pd.DataFrame:
    if key is None:
        return df
    if key not in df.columns:
        raise KeyNotFoundError(f"no column {key!r}; columns: {[str(c) for c in df.columns[:50]]}")
    return df[[key]]


class DelimitedFormat:
    def __init__(self, sep: str) -> None:
        self.sep = sep

    def _check_text(self, path: Path) -> None:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
        if not head.strip():
            raise CorruptFileError(f"{path.name!r} is empty", hint="A table needs at least a header line.")
        if b"\x00" in head and not path.name.lower().endswith(".gz"):
            raise CorruptFileError(f"{path.name!r} holds binary data, not delimited text")

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame:
        self._check_text(path)
        if _is_gz(path):  # a gzip stream is inflated whole only up to max_member_bytes
            inflated = inflated_size(path, opts.limits.max_member_bytes)
            check_member(path.name, inflated, path.stat().st_size, opts.limits, f"{path.name!r} (gzip)")
        return _select(pd.read_csv(path, sep=self.sep), opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        df = as_frame(data)
        df.to_csv(path, sep=self.sep, index=not _has_default_index(df))

    def summarize(self, path: Path, opts: ReadOptions) -> FrameSummary:
        """Small files are parsed whole; large ones give head rows and a sampled row count.

        With ``exact_stats`` the file is streamed in chunks (constant memory): exact row
        count and exact per-column stats.
        """
        self._check_text(path)
        if _text_size(path) <= SMALL_TEXT_TABLE:
            return frame_summary(_select(pd.read_csv(path, sep=self.sep), opts.key), opts)
        head = _select(pd.read_csv(path, sep=self.sep, nrows=max(opts.preview_items, 1000)), opts.key)
        if opts.exact_stats:
            chunks = pd.read_csv(path, sep=self.sep, chunksize=CSV_CHUNK_ROWS, usecols=list(head.columns))
            return frame_summary_streamed(head, chunks, opts, total_rows=estimate_rows(path))
        return frame_summary(head, opts, n_rows=max(estimate_rows(path), len(head)), n_rows_exact=False)

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Rows ``offset .. offset+limit`` (parsing stops there) and the table's row count.

        Skipped rows are found by a block-wise scan for row ends (``row_position``: constant
        memory, nothing parsed); an offset past the last possible row (each row takes at least
        one byte) reads no data at all.
        """
        check_page(limit, opts.limits)
        self._check_text(path)
        header = pd.read_csv(path, sep=self.sep, nrows=0)
        usecols = check_columns(list(header.columns), columns)
        check_page(limit, opts.limits, columns=len(usecols or header.columns))
        size = path.stat().st_size
        if offset >= size and not _is_gz(path):
            empty = header[usecols] if usecols else header
            if size > SMALL_TEXT_TABLE:
                return empty, estimate_rows(path), False
            return empty, _count_rows(path, self.sep), True
        with (gzip.open(path, "rb") if _is_gz(path) else open(path, "rb")) as fh:
            start, seen = row_position(fh, offset + 1, sep=self.sep)  # the header is row 0
            if start is None:  # the file ends before the page: its row count is now known
                empty = header[usecols] if usecols else header
                return empty, max(0, seen - 1), True
            fh.seek(start)
            page = pd.read_csv(fh, sep=self.sep, header=None, names=list(header.columns), nrows=limit,
                               usecols=usecols)
        page = page[usecols] if usecols else page
        if len(page) < limit:  # the page reached the end: the count is known without another parse
            return page, offset + len(page), True
        if _text_size(path) <= SMALL_TEXT_TABLE:
            return page, _count_rows(path, self.sep), True
        return page, max(estimate_rows(path), offset + len(page)), False


SCAN_BLOCK = 1024 * 1024


def row_position(fh: Any, rows: int, quote: int = ord('"'), sep: str = ",") -> tuple[int | None, int]:
    """(byte offset where non-blank row ``rows`` starts, or None when the file has no such row; rows seen).

    Rows end at a newline outside double quotes (RFC 4180: a newline inside a quoted field,
    and doubled quotes, keep the row going); lines of only blanks are not rows, as in
    pandas. The file is read in SCAN_BLOCK pieces with NumPy: memory stays constant
    whatever ``rows``.
    """
    if rows <= 0:
        return 0, 0
    blanks = np.array([ord(c) for c in " \t\r\n" if c != sep], dtype=np.uint8)
    pos = row_start = parity = 0
    carried = 0  # content bytes of the current row seen in earlier blocks
    seen = 0
    while block := fh.read(SCAN_BLOCK):
        data = np.frombuffer(block, dtype=np.uint8)
        quotes = np.cumsum(data == quote, dtype=np.uint8)  # only the parity matters: wrapping is fine
        content = np.cumsum(~np.isin(data, blanks, kind="table"), dtype=np.int32)
        newlines = np.flatnonzero(data == 10)
        ends = newlines[((quotes[newlines].astype(np.int64) + parity) & 1) == 0]  # newlines outside quotes
        if ends.size:
            before = np.concatenate(([0], content[ends[:-1]]))  # content up to each row's start
            filled = (content[ends] - before + np.concatenate(([carried], np.zeros(ends.size - 1, np.int32)))) > 0
            count = int(filled.sum())
            if seen + count >= rows:
                nth = np.flatnonzero(filled)[rows - seen - 1]
                return pos + int(ends[nth]) + 1, rows
            seen += count
            row_start = pos + int(ends[-1]) + 1
            carried = int(content[-1] - content[ends[-1]])
        else:
            carried += int(content[-1])
        parity = (parity + int(quotes[-1])) & 1
        pos += len(block)
    if pos > row_start and carried:  # a last row without a line end
        seen += 1
    return None, seen


def _is_gz(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def inflated_size(path: Path, cap: int) -> int:
    """Bytes a gzip file inflates to, counted in blocks and stopping past ``cap`` (constant memory)."""
    import gzip

    total = 0
    with gzip.open(path, "rb") as fh:
        while total <= cap and (block := fh.read(1 << 20)):
            total += len(block)
    return total


def _text_size(path: Path) -> int:
    """The size of the text: on disk, or inflated (counted only up to just past SMALL_TEXT_TABLE)."""
    return inflated_size(path, SMALL_TEXT_TABLE) if _is_gz(path) else path.stat().st_size


def _count_rows(path: Path, sep: str) -> int:
    return len(pd.read_csv(path, sep=sep, usecols=[0]))


def check_columns(names: list[str], wanted: list[str] | None) -> list[str] | None:
    """The wanted columns (None: all), or KEY_NOT_FOUND naming the ones that are missing."""
    if wanted is None:
        return None
    missing = [c for c in wanted if c not in names]
    if missing:
        raise KeyNotFoundError(f"no column(s) {missing}; columns: {[str(n) for n in names[:50]]}")
    return list(wanted)


def estimate_rows(path: Path, blocks: int = 16, block_bytes: int = 64 * 1024) -> int:
    """Data rows (header excluded) estimated from the newline density of evenly spread blocks.

    Compressed files use the gzip trailer's uncompressed size and their first megabyte.
    """
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        import gzip

        with open(path, "rb") as fh:
            fh.seek(-4, 2)
            raw_size = int.from_bytes(fh.read(4), "little")  # modulo 4 GiB: a lower bound beyond
        with gzip.open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        return max(0, round(raw_size * head.count(b"\n") / max(1, len(head))) - 1)
    newlines = sampled = 0
    with open(path, "rb") as fh:
        for start in np.linspace(0, max(0, size - block_bytes), blocks).astype(np.int64):
            fh.seek(int(start))
            block = fh.read(block_bytes)
            newlines += block.count(b"\n")
            sampled += len(block)
    return max(0, round(size * newlines / max(1, sampled)) - 1)


class ParquetFormat:
    def _file(self, path: Path):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path)

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame:
        if opts.key:
            return pd.read_parquet(path, columns=[self.check_column(self._file(path).schema_arrow.names, opts.key)])
        return pd.read_parquet(path)

    @staticmethod
    def check_column(names: list[str], key: str) -> str:
        """``key`` when the file has that column, else KEY_NOT_FOUND listing the columns."""
        if key not in names:
            raise KeyNotFoundError(f"no column {key!r}; columns: {names[:50]}")
        return key

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        df = as_frame(data)
        df.columns = [str(c) for c in df.columns]
        df.to_parquet(path, engine="pyarrow")

    def summarize(self, path: Path, opts: ReadOptions) -> FrameSummary:
        pf = self._file(path)
        meta = pf.metadata
        schema = pf.schema_arrow
        pandas_meta = schema.pandas_metadata or {}
        index_cols = {c for c in pandas_meta.get("index_columns", []) if isinstance(c, str)}
        names = [n for n in schema.names if n not in index_cols]
        if opts.key:
            names = [self.check_column(schema.names, opts.key)]  # the schema in hand: no second open
        shown = names[: opts.preview_columns]
        columns = [ColumnInfo(name=n, dtype=str(schema.field(n).type), **self._column_stats(meta, n)) for n in shown]
        if opts.exact_stats and meta.num_rows:
            head_df = next(pf.iter_batches(batch_size=max(1, opts.preview_items), columns=shown)).to_pandas()
            batches = (b.to_pandas() for b in pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=shown))
            streamed = frame_summary_streamed(head_df, batches, opts, total_rows=meta.num_rows)
            return streamed.model_copy(update={
                "n_columns": len(names), "columns_truncated": len(names) > len(shown),
                "index": ", ".join(sorted(index_cols)) or None,
            })
        head: list[dict[str, Any]] = []
        if meta.num_rows and shown:
            batch = next(pf.iter_batches(batch_size=opts.preview_items, columns=shown), None)
            if batch is not None:
                cell_chars = max(20, opts.preview_chars // 20)
                for row in batch.to_pylist()[: opts.preview_items]:
                    head.append({k: encode_value(v, cell_chars) for k, v in row.items()})
        return FrameSummary(
            n_rows=meta.num_rows,
            n_rows_exact=True,
            n_columns=len(names),
            columns=columns,
            columns_truncated=len(names) > len(shown),
            index=", ".join(sorted(index_cols)) or None,
            head=head,
        )

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Only the row groups that overlap the page are read (none for an offset past the end)."""
        check_page(limit, opts.limits)
        pf = self._file(path)
        meta = pf.metadata
        names = [n for n in pf.schema_arrow.names if not n.startswith("__index_level_")]
        usecols = check_columns(names, columns)
        check_page(limit, opts.limits, columns=len(usecols or names))
        pieces, first = [], 0
        for rg in range(meta.num_row_groups):
            n = meta.row_group(rg).num_rows
            if first + n > offset and first < offset + limit:
                table = pf.read_row_group(rg, columns=usecols, use_pandas_metadata=True)
                lo = max(0, offset - first)
                pieces.append(table.slice(lo, offset + limit - first - lo).to_pandas())
            first += n
            if first >= offset + limit:
                break
        page = pd.concat(pieces) if pieces else pf.schema_arrow.empty_table().to_pandas()
        return (page[usecols] if usecols else page), meta.num_rows, True

    @staticmethod
    def _column_stats(meta: Any, name: str) -> dict[str, Any]:
        """min/max/null counts from row-group statistics in the footer (no data read)."""
        lo = hi = None
        nulls = 0
        complete = True
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            col = next((group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == name), None)
            st = col.statistics if col is not None else None
            if st is None or not st.has_min_max:
                complete = False
                if st is not None and st.has_null_count:
                    nulls += st.null_count
                continue
            nulls += st.null_count if st.has_null_count else 0
            lo = st.min if lo is None else min(lo, st.min)
            hi = st.max if hi is None else max(hi, st.max)
        if lo is None or not complete or not isinstance(lo, (int, float, np.number)):
            return {"null_count": nulls if complete else None}
        stats = Stats(min=encode_value(lo), max=encode_value(hi), count=meta.num_rows - nulls, exact=True)
        return {"null_count": nulls, "stats": stats}


CSV = DelimitedFormat(",")
TSV = DelimitedFormat("\t")
PARQUET = ParquetFormat()
