"""Records read at evenly spread byte offsets of a line-based text table, and the row count they imply.

Why: on sorted or time-ordered data (most lab data) the first rows are no sample of the
file, and stats from them mislead. Each block is read at an evenly spaced offset; its
partial first record is dropped and it is cut after its last complete record.

A block without quotes has one reading: every newline ends a record (rows with fewer
fields are missing values to pandas, but most rows must be whole; more fields drop the block). A block of delimited
text with quotes may start inside a quoted field (a newline inside quotes is data). Both
readings are tried (starting outside quotes, or inside): a reading counts only
when every record has the header's number of fields, every quote opens a field or closes
one (or is a doubled quote), and no record is cut by a quote. A block that neither or both
readings fit is dropped, so a kept block is one whose record boundaries are certain in
practice. The bytes per kept record give the row count estimate, over the whole file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

QUOTE = ord('"')
SAMPLE_BLOCKS = 64
BLOCK_BYTES = 16 * 1024
MAX_SAMPLE_BYTES = 4 * 1024 * 1024


class _BlankLines(dict):
    """Compiled "a line of blanks only" patterns, by the bytes that count as blank."""

    def __missing__(self, blanks: bytes) -> re.Pattern[bytes]:
        self[blanks] = re.compile(rb"\n[" + re.escape(blanks) + rb"]*\n")
        return self[blanks]


_BLANK_LINE = _BlankLines()


@dataclass
class Spread:
    """Whole records from spread blocks (each chunk ends with a newline) and what they measure."""

    chunks: list[bytes] = field(default_factory=list)
    records: int = 0  # non-blank records in ``chunks``
    nbytes: int = 0  # bytes those records take in the file (blank lines between them included)
    blocks: int = 0  # blocks read
    kept: int = 0  # blocks whose record boundaries were found

    def rows_in(self, data_bytes: int) -> int | None:
        """Rows estimated in ``data_bytes`` bytes of records (None without a kept block)."""
        if not self.records or not self.nbytes:
            return None
        return round(data_bytes * self.records / self.nbytes)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def block_plan(span: int, row_bytes: float, blocks: int = SAMPLE_BLOCKS) -> tuple[int, int]:
    """(blocks, bytes per block): each block holds at least ~16 rows, all of them at most MAX_SAMPLE_BYTES."""
    per = int(min(1024 * 1024, max(BLOCK_BYTES, 16 * row_bytes)))
    n = max(4, min(blocks, MAX_SAMPLE_BYTES // per))
    return n, per


def spread(fh: BinaryIO, size: int, data_start: int, *, sep: str | None, ncols: int | None,
           quote: int | None = QUOTE, blocks: int = SAMPLE_BLOCKS, block_bytes: int = BLOCK_BYTES) -> Spread:
    """Sample records between ``data_start`` (where the first record starts) and ``size``.

    ``sep=None``: records are lines and need no check (JSON Lines). Otherwise each kept
    block's records have ``ncols`` fields separated by ``sep``.
    """
    out = Spread()
    span = size - data_start
    if span <= 0:
        return out
    last = max(data_start, size - block_bytes)
    starts = np.unique(np.linspace(data_start, last, blocks).astype(np.int64))
    for start in starts.tolist():
        known = start == data_start  # the first block starts at a record: nothing to drop
        if known and start > 0:
            fh.seek(start - 1)
            block = fh.read(block_bytes + 1)  # from the newline that ends the previous record
        else:
            fh.seek(start)
            block = fh.read(block_bytes)
            if known:
                block = b"\n" + block
        out.blocks += 1
        found = _records(block, sep, ncols, quote, known)
        if found is None:
            continue
        lo, hi, count = found
        out.chunks.append(block[lo + 1 : hi + 1])
        out.records += count
        out.nbytes += hi - lo
        out.kept += 1
    return out


def _records(block: bytes, sep: str | None, ncols: int | None, quote: int | None,
             known: bool) -> tuple[int, int, int] | None:
    """(index of the newline before the first whole record, of the last record's newline, non-blank records)."""
    data = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    if newlines.size < 2:
        return None
    blanks = bytes(c for c in b" \t\r" if sep is None or c != ord(sep))
    if _BLANK_LINE[blanks].search(block) is None:  # no blank line: every record is filled
        content = None
    else:
        blank = np.zeros(256, dtype=bool)
        blank[list(blanks + b"\n")] = True
        content = np.cumsum(~blank[data], dtype=np.int64)
    if sep is None or quote is None or bytes([quote]) not in block:
        ends = newlines  # no quote: every newline ends a record
        filled = np.ones(ends.size - 1, dtype=bool) if content is None else np.diff(content[ends]) > 0
        if sep is not None and ncols is not None:
            per = np.diff(np.cumsum(data == ord(sep), dtype=np.int32)[ends])
            full = per[filled] == ncols - 1
            if np.any(per > ncols - 1) or not full.size or full.mean() < 0.5:  # short rows: missing values
                return None
        return int(ends[0]), int(ends[-1]), int(filled.sum())
    is_quote = data == quote
    quotes = np.cumsum(is_quote, dtype=np.int64)
    readings = []
    for inside in (0,) if known else (0, 1):
        reading = _reading(data, newlines, quotes, is_quote, content, ord(sep), ncols, quote, inside)
        if reading is not None:
            readings.append(reading)
    return readings[0] if len(readings) == 1 else None


def _reading(data: np.ndarray, newlines: np.ndarray, quotes: np.ndarray, is_quote: np.ndarray,
             content: np.ndarray | None, sep: int, ncols: int | None, quote: int, inside: int):
    """The records of ``data`` read as starting outside (``inside=0``) or inside quotes, if they check out."""
    outside_at = lambda pos: ((quotes[pos] + inside) & 1) == 0  # the state just after ``pos``
    ends = newlines[outside_at(newlines)]
    if ends.size < 2:
        return None
    lo, hi = int(ends[0]), int(ends[-1])
    filled = np.ones(ends.size - 1, dtype=bool) if content is None else np.diff(content[ends]) > 0
    if ncols is not None:
        seps = np.flatnonzero(data[lo:hi] == sep) + lo
        seps = seps[outside_at(seps)]
        per = np.bincount(np.searchsorted(ends, seps), minlength=ends.size)[1:]
        if not np.all((per == ncols - 1) | ~filled):
            return None
    marks = np.flatnonzero(is_quote[lo + 1 : hi]) + lo + 1
    if marks.size:
        opening = ((quotes[marks] - 1 + inside) & 1) == 0  # outside just before this quote
        before, after = data[marks - 1], data[marks + 1]
        opens_ok = (before == sep) | (before == 10) | (before == quote)
        closes_ok = (after == sep) | (after == 10) | (after == 13) | (after == quote)
        if not np.all(np.where(opening, opens_ok, closes_ok)):
            return None
    return lo, hi, int(filled.sum())


class StreamTooLong(Exception):
    """The stream inflated past the bound its sampler was given."""


class StreamSampler:
    """A reader over a stream that cannot seek (gzip) that cuts spread blocks from it as it passes.

    Whoever reads the stream once to its end (``row_index.scan_rows`` counting rows) reads
    through this; blocks are cut at evenly spaced offsets of the expected size and checked as
    in ``spread``. Past ``cap`` bytes it raises StreamTooLong, so the pass stays bounded.
    """

    def __init__(self, fh: BinaryIO, expected: int, cap: int, *, sep: str | None, ncols: int | None,
                 quote: int | None = QUOTE, blocks: int = SAMPLE_BLOCKS, block_bytes: int = BLOCK_BYTES) -> None:
        self.fh, self.cap = fh, cap
        self.sep, self.ncols, self.quote, self.block_bytes = sep, ncols, quote, block_bytes
        self.offsets = np.unique(np.linspace(0, max(0, expected - block_bytes), blocks).astype(np.int64)).tolist()
        self.out = Spread()
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        block = self.fh.read(n)
        if self.pos + len(block) > self.cap:
            raise StreamTooLong(f"more than {self.cap} bytes")
        while self.offsets and self.offsets[0] < self.pos + len(block):
            at = self.offsets.pop(0) - self.pos
            piece = block[at : at + self.block_bytes]
            self.out.blocks += 1
            found = _records(piece, self.sep, self.ncols, self.quote, at + self.pos == 0)
            if found is not None:  # at offset 0 the stream starts outside quotes, with its header to drop
                lo, hi, count = found
                self.out.chunks.append(piece[lo + 1 : hi + 1])
                self.out.records += count
                self.out.nbytes += hi - lo
                self.out.kept += 1
        self.pos += len(block)
        return block
