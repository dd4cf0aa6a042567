"""Tables: CSV/TSV through pandas, parquet through pyarrow (footer-only summaries).

CSV keeps neither dtypes nor an index: values come back as pandas infers them, and a
non-default index is written as a leading column that loads back as an ordinary
column. Parquet keeps dtypes, column order and the index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from io_core.coerce import as_frame
from io_core.errors import CorruptFileError, KeyNotFoundError
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import encode_value, frame_summary
from schemas import ColumnInfo, FrameSummary, Stats

SMALL_TEXT_TABLE = 8 * 1024 * 1024  # read whole (exact counts) at or below this size
HEAD_BYTES = 1024 * 1024


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
        return _select(pd.read_csv(path, sep=self.sep), opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        df = as_frame(data)
        df.to_csv(path, sep=self.sep, index=not _has_default_index(df))

    def summarize(self, path: Path, opts: ReadOptions) -> FrameSummary:
        self._check_text(path)
        size = path.stat().st_size
        if size <= SMALL_TEXT_TABLE or path.name.lower().endswith(".gz"):
            return frame_summary(_select(pd.read_csv(path, sep=self.sep), opts.key), opts)
        with open(path, "rb") as fh:
            head_bytes = fh.read(HEAD_BYTES)
        cut = head_bytes.rfind(b"\n") + 1
        head_bytes = head_bytes[:cut]
        lines = head_bytes.count(b"\n")
        from io import BytesIO

        head = pd.read_csv(BytesIO(head_bytes), sep=self.sep)
        estimate = int(round((size / len(head_bytes)) * lines)) - 1 if lines else 0
        return frame_summary(_select(head, opts.key), opts, n_rows=max(estimate, len(head)), n_rows_exact=False)


class ParquetFormat:
    def _file(self, path: Path):
        import pyarrow.parquet as pq

        return pq.ParquetFile(path)

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame:
        if opts.key:
            return pd.read_parquet(path, columns=[self._check_column(path, opts.key)])
        return pd.read_parquet(path)

    def _check_column(self, path: Path, key: str) -> str:
        names = self._file(path).schema_arrow.names
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
            names = [self._check_column(path, opts.key)]
        shown = names[: opts.preview_columns]
        columns = [ColumnInfo(name=n, dtype=str(schema.field(n).type), **self._column_stats(meta, n)) for n in shown]
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
