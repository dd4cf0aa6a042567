"""``trials.csv`` of an experiment store task: one line appended per trial, torn tails detected.

The file is what axopy's ``TrialWriter`` leaves (pandas ``to_csv(index=False)``: a header of
the trial attributes in insertion order, then one record per trial, ``\\n`` line ends, minimal
quoting), so ``pandas.read_csv`` reads it as before. It is never rewritten: a trial is one
``pwrite`` of its line at the end, then ``fsync``. A crash can leave only the last record torn;
a torn record has no final newline or an odd number of quote characters before its newline
(a quoted field cut after an inner newline), so ``scan`` finds where the whole records end
and readers parse only those. ``TrialsFile.repair`` (a writer) cuts a torn tail off.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

from io_core.errors import InvalidDataError, WriteFailedError
from io_core.stores.experiment_journal import open_in

TRIALS = "trials.csv"


def format_value(value: Any, column: str) -> str:
    """One attribute as pandas' ``to_csv`` writes it (NaN/None empty, floats by ``repr``, bools True/False)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # NumPy scalars
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return "" if math.isnan(value) else "inf" if value == math.inf else "-inf" if value == -math.inf else repr(value)
    if isinstance(value, str):
        return value
    raise InvalidDataError(
        f"trial attribute {column!r} is a {type(value).__name__}; attributes are single values",
        hint="Give numbers, strings, booleans or null; store arrays as the trial's arrays.",
    )


def format_record(values: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue().encode("utf-8")


def complete_end(data: bytes) -> int:
    """Bytes of ``data`` that are whole records: up to a newline with an even number of quotes before it."""
    end = data.rfind(b"\n") + 1
    while end and data.count(b'"', 0, end) % 2:
        end = data.rfind(b"\n", 0, end - 1) + 1
    return end


@dataclass
class TrialsText:
    """What ``trials.csv`` holds: its header, the number of whole records and where they end."""

    columns: list[str] = field(default_factory=list)
    n_rows: int = 0
    end: int = 0  # bytes of whole records (header included)
    size: int = 0  # bytes in the file
    last: dict[str, str] | None = None  # the last record, as text

    @property
    def torn(self) -> bool:
        return self.size > self.end


def scan(data: bytes) -> TrialsText:
    end = complete_end(data)
    text = TrialsText(end=end, size=len(data))
    if not end:
        return text
    whole = data[:end].decode("utf-8", "surrogateescape")
    if '"' not in whole:  # the common case, at C speed: one record a line
        lines = whole.split("\n")[:-1]
        text.columns = next(csv.reader([lines[0]]))
        text.n_rows = len(lines) - 1
        last = next(csv.reader([lines[-1]])) if text.n_rows else None
    else:
        records = list(csv.reader(io.StringIO(whole, newline="")))
        text.columns = records[0]
        text.n_rows = len(records) - 1
        last = records[-1] if text.n_rows else None
    if last is not None:
        text.last = dict(zip(text.columns, last, strict=False))
    return text


def read_frame(data: bytes, text: TrialsText, *, offset: int = 0, limit: int | None = None,
               columns: list[str] | None = None) -> Any:
    """The whole records as a DataFrame (``pandas.read_csv``, as axopy reads them), one page of them if asked."""
    import pandas as pd

    if not text.columns:
        return pd.DataFrame()
    unknown = [c for c in columns or () if c not in text.columns]
    if unknown:
        from io_core.errors import KeyNotFoundError

        raise KeyNotFoundError(f"no trial attribute {unknown[0]!r}", hint=f"Columns: {text.columns[:50]}.")
    skip = range(1, offset + 1) if offset else None
    frame = pd.read_csv(io.BytesIO(data[: text.end]), skiprows=skip, nrows=limit, usecols=columns or None)
    if offset:
        frame.index = range(offset, offset + len(frame))
    return frame


class TrialsFile:
    """The writer's ``trials.csv`` (in the task folder ``dirfd``), open for appending whole records."""

    def __init__(self, dirfd: int) -> None:
        self.fd = open_in(dirfd, TRIALS, os.O_RDWR | os.O_CREAT)
        with contextlib.suppress(OSError):  # the task folder's names (a new trials.csv) made durable once
            os.fsync(dirfd)
        size = os.fstat(self.fd).st_size
        self.data = os.pread(self.fd, size, 0) if size else b""
        self.text = scan(self.data)
        self.data = b""  # only the scan was needed

    @property
    def columns(self) -> list[str]:
        return self.text.columns

    def repair(self) -> int:
        """Cut a torn last record (a crash while it was written); the bytes removed."""
        cut = self.text.size - self.text.end
        if cut:
            os.ftruncate(self.fd, self.text.end)
            os.fsync(self.fd)
            self.text.size = self.text.end
        return cut

    def append(self, columns: list[str], values: list[str]) -> None:
        """One record (with the header first when the file has none), written at the end and fsynced."""
        line = format_record(values)
        if not self.text.columns:
            line = format_record(columns) + line
        try:
            written = os.pwrite(self.fd, line, self.text.end)
            if written != len(line):
                raise OSError(28, "short write")
            os.fdatasync(self.fd)
        except OSError as exc:
            try:  # leave no torn record behind when the process survives
                os.ftruncate(self.fd, self.text.end)
            except OSError:
                pass
            raise WriteFailedError(f"cannot append the trial to {TRIALS}: {exc.strerror or exc}",
                                   hint="Check free space; earlier trials are unchanged.") from None
        self.text.columns = list(columns)
        self.text.end += len(line)
        self.text.size = self.text.end
        self.text.n_rows += 1
        self.text.last = dict(zip(columns, values, strict=False))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
