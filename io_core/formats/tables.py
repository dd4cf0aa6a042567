"""Tables: CSV/TSV through pandas, parquet through pyarrow (footer-only summaries).

CSV keeps neither dtypes nor an index: values come back as pandas infers them, and a
non-default index is written as a leading column that loads back as an ordinary
column. Parquet keeps dtypes, column order and the index.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from io_core.coerce import as_frame
from io_core.errors import CorruptFileError, KeyNotFoundError
from io_core.formats.base import CannotStream, Format
from io_core.formats.common import write_arrow
from io_core.formats.row_index import QUOTE, RowIndex, index_for, scan_rows
from io_core.formats.text_sample import StreamSampler, StreamTooLong, block_plan, spread
from io_core.limits import check_member, check_page
from io_core.options import ReadOptions, WriteOptions
from io_core.remote import is_remote, open_binary
from io_core.summary import encode_value, frame_summary, frame_summary_streamed, head_rows
from schemas import ColumnInfo, FrameSummary, Stats

SMALL_TEXT_TABLE = 8 * 1024 * 1024  # read whole (exact counts) at or below this size
HEAD_BYTES = 1024 * 1024
HEAD_STATS_ROWS = 1000  # rows stats come from when no spread sample can be taken (a long gzip stream)
GZ_SCAN_BYTES = 64 * 1024 * 1024  # a gzip stream inflating to at most this is read once for its summary
PAGE_BATCH_ROWS = 10_000  # parquet pages: batches decoded up to the page (pyarrow cannot skip inside a row group)
CSV_CHUNK_ROWS = 200_000
PARQUET_BATCH_ROWS = 200_000


def _has_default_index(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1 and df.index.name is None


def _select(df: pd.DataFrame, key: str | None) -> pd.DataFrame:
    if key is None:
        return df
    if key not in df.columns:
        raise KeyNotFoundError(f"no column {key!r}; columns: {[str(c) for c in df.columns[:50]]}").with_candidates(
            key, df.columns)
    return df[[key]]


class DelimitedFormat(Format):
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
        """Small files are parsed whole. Large ones: the first rows as the head; column stats and
        the row count from records at evenly spread offsets over the whole file (``sample="spread"``,
        ``n_rows_exact=False``: see ``text_sample``). A gzip stream cannot seek: its stats come
        from its first rows and say ``sample="head"``.

        With ``exact_stats`` the file is streamed in chunks (constant memory): exact row
        count and exact per-column stats.
        """
        self._check_text(path)
        if _text_size(path) <= SMALL_TEXT_TABLE:
            return frame_summary(_select(pd.read_csv(path, sep=self.sep), opts.key), opts)
        first = pd.read_csv(path, sep=self.sep, nrows=max(opts.preview_items, 1))
        head = _select(first, opts.key)
        if opts.exact_stats:
            chunks = pd.read_csv(path, sep=self.sep, chunksize=CSV_CHUNK_ROWS, usecols=list(head.columns))
            return frame_summary_streamed(head, chunks, opts, total_rows=estimate_rows(path))
        names = [str(c) for c in first.columns]
        sampler = self._gz_sample if _is_gz(path) else self._spread_sample
        sampled = sampler(path, names, len(first), opts.key)
        if sampled is not None:
            sample, n_rows, exact = sampled
            return frame_summary(head, opts, n_rows=max(n_rows, len(head)), n_rows_exact=exact, sample=sample)
        head = _select(pd.read_csv(path, sep=self.sep, nrows=max(opts.preview_items, HEAD_STATS_ROWS)), opts.key)
        return frame_summary(head, opts, n_rows=max(estimate_rows(path), len(head)), n_rows_exact=False)

    def _parse_sample(self, data: bytes, names: list[str], key: str | None) -> pd.DataFrame | None:
        """The sampled records as a frame (None when pandas cannot parse them: the head is used then)."""
        import io

        try:
            return pd.read_csv(io.BytesIO(data), sep=self.sep, header=None, names=names,
                               usecols=[key] if key else None, encoding_errors="replace")
        except (ValueError, pd.errors.ParserError):
            return None

    def _gz_sample(self, path: Path, names: list[str], head_rows: int,
                   key: str | None) -> tuple[pd.DataFrame, int, bool] | None:
        """A gzip stream cannot seek: one bounded pass inflates it (up to GZ_SCAN_BYTES), counting
        rows exactly and cutting spread blocks as they pass; a longer stream gives None (head stats)."""

        expected = inflated_estimate(path)
        if expected > GZ_SCAN_BYTES:
            return None
        _, block_bytes = block_plan(expected, 64)
        with gzip.open(path, "rb") as fh:
            tee = StreamSampler(fh, expected, GZ_SCAN_BYTES, sep=self.sep, ncols=len(names), block_bytes=block_bytes)
            try:
                _, rows = scan_rows(tee, 1 << 62, sep=self.sep)  # type: ignore[arg-type]
            except StreamTooLong:
                return None
        if not tee.out.records:
            return None
        sample = self._parse_sample(tee.out.data, names, key)
        return None if sample is None else (sample, max(0, rows - 1), True)

    def _spread_sample(self, path: Path, names: list[str], head_rows: int,
                       key: str | None) -> tuple[pd.DataFrame, int, bool] | None:
        """(records parsed from spread blocks, row count, whether it is exact), or None when no block
        could be cut at record boundaries (the caller then says its stats come from the head)."""

        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            index = index_for(fh, QUOTE, self.sep)
            data_start = index.locate(fh, 1)  # the header is row 0
            if data_start is None:
                return None
            after_head = index.locate(fh, 1 + head_rows)
            row_bytes = ((after_head or size) - data_start) / max(1, head_rows)
            blocks, block_bytes = block_plan(size - data_start, row_bytes)
            found = spread(fh, size, data_start, sep=self.sep, ncols=len(names), blocks=blocks,
                           block_bytes=block_bytes)
            if not found.records:
                return None
            sample = self._parse_sample(found.data, names, key)
            if sample is None:
                return None
            if index.total is not None:  # a page request has scanned the whole file: the count is known
                return sample, index.total - 1, True
            estimate = found.rows_in(size - data_start) or 0
            index.estimate = index.estimate or estimate
            return sample, estimate, False

    def iter_frames(self, path: Path, opts: ReadOptions, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Chunks of ``chunk_rows`` rows (only the ``opts.key`` column when given), parsed as they are read."""
        return _delimited_frames(self, path, opts, chunk_rows)

    def write_frames(self, frames: Iterator[pd.DataFrame], path: Path, opts: WriteOptions) -> None:
        _write_delimited(frames, path, self.sep)

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Rows ``offset .. offset+limit`` (parsing stops there) and the table's row count.

        Where the page starts comes from the file's row index (``row_index``): the nearest
        mark, then a scan of at most one block; the first request deep in a file scans up to
        the page once (constant memory, nothing parsed) and leaves marks for the next. An
        offset past the end of the file (each row takes at least one byte) reads nothing.
        The count is exact once known (small files, or a scan reached the end), else the
        spread-sample estimate. Gzip streams cannot seek: they are scanned from the start.
        """
        columns = columns or ([opts.key] if opts.key else None)  # key names one column here
        columns = columns or ([opts.key] if opts.key else None)  # key names one column here
        check_page(limit, opts.limits)
        self._check_text(path)
        header = pd.read_csv(path, sep=self.sep, nrows=0)
        usecols = check_columns(list(header.columns), columns)
        check_page(limit, opts.limits, columns=len(usecols or header.columns))
        empty = header[usecols] if usecols else header
        if _is_gz(path):
            return self._gz_rows(path, header, usecols, offset, limit)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            index = index_for(fh, QUOTE, self.sep)
            if offset >= size:
                return empty, *self._row_count(path, fh, index, size, len(header.columns))
            start = index.locate(fh, offset + 1)  # the header is row 0
            if start is None:  # the file ends before the page: its row count is now known
                return empty, max(0, (index.total or 1) - 1), True
            page = empty
            if limit:
                fh.seek(start)
                page = pd.read_csv(fh, sep=self.sep, header=None, names=list(header.columns), nrows=limit,
                                   usecols=usecols)
                page = page[usecols] if usecols else page
                if len(page) < limit:  # the page reached the end: the count is known without another scan
                    return page, offset + len(page), True
            total, exact = self._row_count(path, fh, index, size, len(header.columns))
        return page, max(total, offset + len(page)), exact

    def _row_count(self, path: Path, fh: Any, index: RowIndex, size: int, ncols: int) -> tuple[int, bool]:
        """(data rows, exact): counted when known or cheap (a small file), else estimated once per file."""
        if index.total is None and size <= SMALL_TEXT_TABLE:
            index.count(fh)
        if index.total is not None:
            return max(0, index.total - 1), True
        if index.estimate is None:
            data_start = index.locate(fh, 1) or size
            found = spread(fh, size, data_start, sep=self.sep, ncols=ncols)
            index.estimate = found.rows_in(size - data_start) or estimate_rows(path)
        return index.estimate, False

    def _gz_rows(self, path: Path, header: pd.DataFrame, usecols: list[str] | None, offset: int, limit: int):
        empty = header[usecols] if usecols else header
        with gzip.open(path, "rb") as fh:
            start, seen = scan_rows(fh, offset + 1, sep=self.sep)  # the header is row 0
            if start is None:  # the file ends before the page: its row count is now known
                return empty, max(0, seen - 1), True
            fh.seek(start)
            page = pd.read_csv(fh, sep=self.sep, header=None, names=list(header.columns), nrows=limit,
                               usecols=usecols) if limit else empty
        page = page[usecols] if usecols else page
        if len(page) < limit:
            return page, offset + len(page), True
        if _text_size(path) <= SMALL_TEXT_TABLE:
            return page, _count_rows(path, self.sep), True
        return page, max(estimate_rows(path), offset + len(page)), False


def _delimited_frames(fmt: DelimitedFormat, path: Path, opts: ReadOptions, chunk_rows: int) -> Iterator[pd.DataFrame]:
    fmt._check_text(path)
    usecols = [opts.key] if opts.key else None
    yield from pd.read_csv(path, sep=fmt.sep, chunksize=chunk_rows, usecols=usecols)


def _write_delimited(frames: Iterator[pd.DataFrame], path: Path, sep: str) -> None:
    opener = gzip.open if _is_gz(path) else open
    first, columns = True, None
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        for df in frames:
            if columns is None:
                columns = list(df.columns)
            elif list(df.columns) != columns:
                raise CannotStream("chunks have different columns")
            df.to_csv(fh, sep=sep, index=False, header=first, lineterminator="\n")
            first = False
    if first:
        raise CannotStream("the source has no rows")


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
        raise KeyNotFoundError(f"no column(s) {missing}; columns: {[str(n) for n in names[:50]]}").with_candidates(
            missing[0], names)
    return list(wanted)


def inflated_estimate(path: Path) -> int:
    """Bytes a gzip file inflates to, from its trailer (modulo 4 GiB, and of the last member only),
    checked against the size its first megabyte's compression ratio predicts."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        fh.seek(-4, 2)
        trailer = int.from_bytes(fh.read(4), "little")
    with open(path, "rb") as raw, gzip.open(raw, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        predicted = size * len(head) / max(1, raw.tell())  # read-ahead makes this a lower bound
    if len(head) < HEAD_BYTES:
        return len(head)  # the whole stream was read
    wraps = max(0, round((predicted - trailer) / 2**32))
    inflated = trailer + wraps * 2**32
    if not predicted / 2 <= inflated <= predicted * 2:
        inflated = round(predicted)  # a multi-member stream: the trailer is the last member's
    return inflated


def estimate_rows(path: Path, blocks: int = 16, block_bytes: int = 64 * 1024) -> int:
    """Data rows (header excluded) estimated from the newline density of evenly spread blocks.

    A gzip stream cannot seek: its first megabyte gives the density, and its inflated size
    comes from the trailer (modulo 4 GiB, and of the last member only), checked against the
    size the head's compression ratio predicts.
    """
    size = path.stat().st_size
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            head = fh.read(HEAD_BYTES)
        inflated = max(inflated_estimate(path), len(head))
        return max(0, round(inflated * head.count(b"\n") / max(1, len(head))) - 1)
    newlines = sampled = 0
    with open(path, "rb") as fh:
        for start in np.linspace(0, max(0, size - block_bytes), blocks).astype(np.int64):
            fh.seek(int(start))
            block = fh.read(block_bytes)
            newlines += block.count(b"\n")
            sampled += len(block)
    return max(0, round(size * newlines / max(1, sampled)) - 1)


class ParquetFormat(Format):
    def _file(self, path: Path, memory_map: bool = False):
        import pyarrow.parquet as pq

        if is_remote(path):  # footer first, then only the row groups and columns asked for, by range
            return pq.ParquetFile(open_binary(path, buffering=0))
        return pq.ParquetFile(path, memory_map=memory_map)

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame:
        src = open_binary(path, buffering=0) if is_remote(path) else path
        if opts.key:
            return pd.read_parquet(src, columns=[self.check_column(self._file(path).schema_arrow.names, opts.key)])
        return pd.read_parquet(src)

    @staticmethod
    def check_column(names: list[str], key: str) -> str:
        """``key`` when the file has that column, else KEY_NOT_FOUND listing the columns."""
        if key not in names:
            raise KeyNotFoundError(f"no column {key!r}; columns: {names[:50]}").with_candidates(key, names)
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
                for row in batch.to_pylist()[: head_rows(len(shown), opts)]:
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

    def iter_frames(self, path: Path, opts: ReadOptions, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """Record batches of ``chunk_rows`` rows as DataFrames (the ``opts.key`` column when given)."""
        pf = self._file(path)
        columns = [self.check_column(pf.schema_arrow.names, opts.key)] if opts.key else None
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas()

    def write_frames(self, frames: Iterator[pd.DataFrame], path: Path, opts: WriteOptions) -> None:
        import pyarrow.parquet as pq

        write_arrow(frames, lambda schema: pq.ParquetWriter(str(path), schema))

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Only the row groups that overlap the page are read (none for an offset past the end).

        pyarrow decodes a row group from its start, so inside one the page is reached by
        decoding small batches and dropping those before it (memory-mapped, one thread): a
        page deep in a large row group costs the decoding up to it, never the whole group.
        """
        import pyarrow as pa

        columns = columns or ([opts.key] if opts.key else None)  # key names one column here
        check_page(limit, opts.limits)
        pf = self._file(path, memory_map=True)
        meta = pf.metadata
        names = [n for n in pf.schema_arrow.names if not n.startswith("__index_level_")]
        usecols = check_columns(names, columns)
        check_page(limit, opts.limits, columns=len(usecols or names))
        end = offset + limit
        pieces, first = [], 0
        for rg in range(meta.num_row_groups):
            n = meta.row_group(rg).num_rows
            if first + n > offset and first < end:
                at = first
                batches = pf.iter_batches(batch_size=PAGE_BATCH_ROWS if limit <= PAGE_BATCH_ROWS else 65_536,
                                          row_groups=[rg], columns=usecols, use_threads=False,
                                          use_pandas_metadata=True)
                for batch in batches:
                    if at + batch.num_rows > offset:
                        lo = max(0, offset - at)
                        pieces.append(batch.slice(lo, end - at - lo))
                    at += batch.num_rows
                    if at >= end:
                        break
            first += n
            if first >= end:
                break
        if pieces:
            page = pa.Table.from_batches(pieces).to_pandas()
        else:
            page = pf.schema_arrow.empty_table().to_pandas()
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
