"""JSON Lines (``.jsonl`` / ``.ndjson``): one JSON value a line.

Objects load as a DataFrame (keys are columns, in first-seen order); a file with other values
loads as a list. Floats keep every digit (Python's ``repr``); NaN / missing values are written as
``null``. Summaries of large files take stats from records at evenly spread offsets; pages seek
through a per-file row index.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from io_core.coerce import as_frame
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.formats.row_index import index_for
from io_core.formats.tables import _has_default_index
from io_core.formats.tables import check_columns as _check_columns
from io_core.formats.text import _refuse_binary
from io_core.formats.text_sample import spread
from io_core.limits import check_page, check_text_size
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import frame_summary, frame_summary_streamed, value_summary
from schemas import FrameSummary, ValueSummary

SMALL_TABLE_BYTES = 8 * 1024 * 1024  # at or below: read whole for exact stats
BATCH_ROWS = 200_000


def _exact_rows(summary: FrameSummary) -> FrameSummary:
    """The row count is known exactly even when the stats came from the first rows only."""
    return summary.model_copy(update={"n_rows_exact": True})


def _plain(value: Any) -> Any:
    """A JSON-ready value: NumPy/pandas scalars as Python, NaN and NaT as None, dates as ISO text."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.generic):
        if isinstance(value, (np.datetime64, np.timedelta64)):
            return None if np.isnat(value) else str(value)
        return _plain(value.item())
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is pd.NaT or (not isinstance(value, (list, dict)) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise InvalidDataError(f"cannot write {type(value).__name__} as JSON")


def _records(data: Any) -> Iterator[Any]:
    if isinstance(data, list):
        yield from data  # records as given (keys a record lacks stay absent), or any JSON values
        return
    df = as_frame(data)
    if not _has_default_index(df):
        df = df.reset_index()
    names = [str(c) for c in df.columns]
    for row in df.itertuples(index=False, name=None):
        yield dict(zip(names, row, strict=True))


def _dump(value: Any) -> bytes:
    try:
        return (json.dumps(_plain(value), ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"not JSON-serialisable: {exc}") from None


class JsonLinesFormat(Format):
    def _lines(self, path: Path, skip: int = 0) -> Iterator[tuple[int, Any]]:
        """(line number, value) of each non-blank line after the first ``skip`` (those are not decoded).

        Any bad line decoded is CORRUPT_FILE.
        """
        with open(path, "rb") as fh:
            _refuse_binary(fh.read(8192), path.name, "JSON Lines")
            fh.seek(0)
            for number, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                if skip:
                    skip -= 1
                    continue
                try:
                    yield number, json.loads(raw.decode("utf-8-sig" if number == 1 else "utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise CorruptFileError(f"{path.name!r} line {number} is not JSON: {exc}") from None

    def _values(self, path: Path, limit: int | None = None) -> list[Any]:
        values = [v for _, v in itertools.islice(self._lines(path), limit)]
        if not values and limit is None:
            raise CorruptFileError(f"{path.name!r} holds no JSON line", hint="The file is empty.")
        return values

    @staticmethod
    def _frame(values: list[Any]) -> pd.DataFrame | list[Any]:
        if values and all(isinstance(v, dict) for v in values):
            return pd.DataFrame.from_records(values)
        return values

    def load(self, path: Path, opts: ReadOptions) -> pd.DataFrame | list[Any]:
        check_text_size(path.stat().st_size, opts.limits, path.name, "JSON Lines",
                        hint="Use read_slice to page through its records.")
        got = self._frame(self._values(path))
        if opts.key is not None:
            if not isinstance(got, pd.DataFrame) or opts.key not in got.columns:
                raise KeyNotFoundError(f"no column {opts.key!r}").with_candidates(
                    opts.key, got.columns if isinstance(got, pd.DataFrame) else ())
            return got[[opts.key]]
        return got

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            self.save_stream(data, fh, opts)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """One line per record, written (and hashed) as it is encoded."""
        for record in _records(data):
            fh.write(_dump(record))

    def count_lines(self, path: Path) -> int:
        n, last = 0, b"\n"
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                n += block.count(b"\n")
                last = block[-1:]
        return n + (last != b"\n")

    def iter_frames(self, path: Path, opts: ReadOptions, rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
        lines = self._lines(path)
        while batch := [v for _, v in itertools.islice(lines, rows)]:
            got = self._frame(batch)
            if not isinstance(got, pd.DataFrame):
                raise InvalidDataError("JSON Lines of non-objects are not a table")
            yield got[_check_columns(list(got.columns), [opts.key])] if opts.key else got

    def write_frames(self, frames: Iterator[pd.DataFrame], path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            for df in frames:
                self.save_stream(df, fh, opts)

    def summarize(self, path: Path, opts: ReadOptions) -> FrameSummary | ValueSummary:
        """Small files are read whole. Large ones: the first records as the head; column stats
        and the record count from lines at evenly spread offsets (``sample="spread"``, the
        count an estimate), never from the head alone."""
        if path.stat().st_size <= SMALL_TABLE_BYTES:
            got = self.load(path, opts)
            if isinstance(got, pd.DataFrame):
                return frame_summary(got, opts)
            return value_summary(got, opts)
        head = self._values(path, limit=max(1, opts.preview_items))
        if not head:
            raise CorruptFileError(f"{path.name!r} holds no JSON line", hint="The file is empty.")
        got = self._frame(head)
        if not isinstance(got, pd.DataFrame):
            return value_summary(got, opts).model_copy(update={"length": self.count_lines(path), "truncated": True})
        if opts.key is not None:
            got = got[[_check_columns(list(got.columns), [opts.key])[0]]]
        if opts.exact_stats:
            total = sum(1 for _ in self._lines(path))
            chunks = (f.reindex(columns=got.columns) for f in self.iter_frames(path, opts))
            return frame_summary_streamed(got, chunks, opts, total_rows=total)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            found = spread(fh, size, 0, sep=None, ncols=None)
        sample = self._frame(self._decode(found.data, path.name))
        if not isinstance(sample, pd.DataFrame) or not len(sample):  # not all objects: stats from the head
            return frame_summary(got, opts, n_rows=max(self.count_lines(path), len(got)), n_rows_exact=False)
        columns = list(got.columns) + ([] if opts.key else [c for c in sample.columns if c not in got.columns])
        n_rows = max(found.rows_in(size) or 0, len(got))
        return frame_summary(got.reindex(columns=columns), opts, n_rows=n_rows, n_rows_exact=False,
                             sample=sample.reindex(columns=columns))

    @staticmethod
    def _decode(data: bytes, name: str, first: int = 0) -> list[Any]:
        """The JSON values of the non-blank lines in ``data`` (record ``first`` is the first line's)."""
        values = []
        for raw in data.splitlines():
            if not raw.strip():
                continue
            try:
                values.append(json.loads(raw))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CorruptFileError(f"{name!r} record {first + len(values)} is not JSON: {exc}") from None
        return values

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """Records ``offset .. offset+limit``, parsing stops there; the total counts records.

        Where the page starts comes from the file's row index (``row_index``: a record is a
        non-blank line), so records before it are neither decoded nor scanned twice; an offset
        past the end reads nothing. The count is exact for small files or once a scan reached
        the end, else estimated from spread lines.
        """
        columns = columns or ([opts.key] if opts.key else None)  # key names one column here
        check_page(limit, opts.limits)
        with open(path, "rb") as fh:
            _refuse_binary(fh.read(8192), path.name, "JSON Lines")
            size = os.fstat(fh.fileno()).st_size
            index = index_for(fh, None, "")
            values: list[Any] = []
            if offset < size:
                start = index.locate(fh, offset)
                if start is not None and limit:
                    fh.seek(start)
                    for raw in fh:
                        if raw.strip():
                            values.extend(self._decode(raw, path.name, offset + len(values)))
                            if len(values) >= limit:
                                break
            if 0 < len(values) < limit or (not values and index.total is not None):
                total, exact = offset + len(values) if values else index.total or 0, True
            elif size <= SMALL_TABLE_BYTES:
                total, exact = index.count(fh), True
            elif index.total is not None:
                total, exact = index.total, True
            else:
                if index.estimate is None:
                    index.estimate = spread(fh, size, 0, sep=None, ncols=None).rows_in(size) or 0
                total, exact = index.estimate, False
        got = self._frame(values) if values else pd.DataFrame()
        if not isinstance(got, pd.DataFrame):
            got = pd.DataFrame({"value": [json.dumps(v, ensure_ascii=False) for v in values]})
        got.index = pd.RangeIndex(offset, offset + len(got))
        usecols = _check_columns([str(c) for c in got.columns], columns) if len(got.columns) else None
        if usecols:
            got = got[usecols]
        return got, max(total, offset + len(values)), exact


JSONL = JsonLinesFormat()
