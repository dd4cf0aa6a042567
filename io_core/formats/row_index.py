"""Where the rows of a delimited text file start: a block-wise scan, and a sparse index of it.

Why: a page deep in a CSV must not parse (or even tokenize) the rows before it, and the
second page must not scan them again. The scan finds row ends with NumPy in constant
memory (a newline outside double quotes ends a row, RFC 4180; lines of blanks are not
rows, as in pandas). While it runs it leaves one mark (row number, byte offset) per block
it crossed; a later request seeks to the nearest mark and scans at most one block. The
indexes live in a small LRU keyed on the file's identity (device, inode, size, mtime,
ctime: ``fileid``), so a changed file never meets a stale index.
"""

from __future__ import annotations

import bisect
import os
import re
import threading
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from io_core.fileid import FileStamp, settled, stamp_of

SCAN_BLOCK = 1024 * 1024
MAX_INDEXES = 32
QUOTE = ord('"')


class RowIndex:
    """Marks (row, byte offset where that row starts) of one file, filled in as it is scanned.

    Row ``r`` starts after ``r`` non-blank rows have ended (a header, if any, is row 0).
    ``total`` is the number of rows once a scan has reached the end of the file;
    ``estimate`` is free for the reader to keep a cached row-count estimate in.
    """

    def __init__(self, quote: int | None, sep: str) -> None:
        self.quote, self.sep = quote, sep
        self.rows: list[int] = [0]
        self.offsets: list[int] = [0]
        self.total: int | None = None
        self.estimate: Any = None
        self._lock = threading.Lock()

    def nearest(self, row: int) -> tuple[int, int]:
        with self._lock:
            at = bisect.bisect_right(self.rows, row) - 1
            return self.rows[at], self.offsets[at]

    def _mark(self, row: int, offset: int) -> None:
        with self._lock:
            if row > self.rows[-1] and offset > self.offsets[-1]:  # marks only ever extend the index
                self.rows.append(row)
                self.offsets.append(offset)

    def locate(self, fh: BinaryIO, row: int) -> int | None:
        """Byte offset where ``row`` starts, or None when the file has fewer rows (``total`` is then set)."""
        mark_row, mark_offset = self.nearest(row)
        if mark_row == row:
            return mark_offset
        if self.total is not None and row > self.total:
            return None
        fh.seek(mark_offset)
        start, seen = scan_rows(fh, row - mark_row, quote=self.quote, sep=self.sep, base=mark_offset,
                                mark=lambda r, o: self._mark(mark_row + r, o))
        if start is None:
            self.total = mark_row + seen
        return start

    def count(self, fh: BinaryIO) -> int:
        """Rows in the file (scanning on from the last mark once; then known)."""
        if self.total is None:
            self.locate(fh, 1 << 62)
        assert self.total is not None
        return self.total


def _blank_bytes(sep: str) -> bytes:
    return bytes(c for c in b" \t\r" if chr(c) != sep)


def scan_rows(fh: BinaryIO, rows: int, *, quote: int | None = QUOTE, sep: str = ",", base: int = 0,
              mark: Any = None) -> tuple[int | None, int]:
    """From the current position (a row start outside quotes, at byte ``base``): where the row
    ``rows`` rows further on starts, or None when the file ends first; and the rows seen.

    ``quote=None`` for formats whose records never span lines (JSON Lines). ``mark(rows, offset)``
    is called at the end of each block with the rows ended so far and where the next starts.
    """
    if rows <= 0:
        return base, 0
    blanks = _blank_bytes(sep)
    blank_table = np.zeros(256, dtype=bool)
    blank_table[list(blanks + b"\n")] = True
    blank_line = re.compile(rb"\n[" + re.escape(blanks) + rb"]*\n")
    lead_blank = re.compile(rb"[" + re.escape(blanks) + rb"]*\n")
    quote_byte = bytes([quote]) if quote is not None else None
    pos = row_start = base
    parity = 0
    carried = False  # the current row has content in earlier blocks
    seen = 0
    while block := fh.read(SCAN_BLOCK):
        fast = (parity == 0 and (quote_byte is None or quote_byte not in block)
                and blank_line.search(block) is None and (carried or lead_blank.match(block) is None))
        if fast:  # every newline ends a non-blank row
            count = block.count(b"\n")
            if seen + count >= rows:
                newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
                return pos + int(newlines[rows - seen - 1]) + 1, rows
            if count:
                seen += count
                last = block.rfind(b"\n")
                row_start = pos + last + 1
                carried = bool(block[last + 1 :].translate(None, blanks))
            else:
                carried = carried or bool(block.translate(None, blanks + b"\n"))
        else:
            data = np.frombuffer(block, dtype=np.uint8)
            newlines = np.flatnonzero(data == 10)
            if quote is not None:
                quotes = np.cumsum(data == quote, dtype=np.uint8)  # only the parity matters: wrapping is fine
                ends = newlines[((quotes[newlines].astype(np.int64) + parity) & 1) == 0]
                parity = (parity + int(quotes[-1])) & 1
            else:
                ends = newlines
            if ends.size:
                content = np.cumsum(~blank_table[data], dtype=np.int64)
                before = np.concatenate(([0], content[ends[:-1]]))  # content up to each row's start
                filled = (content[ends] - before) > 0
                filled[0] |= carried
                count = int(filled.sum())
                if seen + count >= rows:
                    nth = np.flatnonzero(filled)[rows - seen - 1]
                    return pos + int(ends[nth]) + 1, rows
                seen += count
                row_start = pos + int(ends[-1]) + 1
                carried = bool(content[-1] - content[ends[-1]])
            else:
                carried = carried or bool(block.translate(None, blanks + b"\n"))
        pos += len(block)
        if mark is not None and row_start > base:  # row_start is outside quotes whatever the parity now
            mark(seen, row_start)
    if pos > row_start and carried:  # a last row without a line end
        seen += 1
    return None, seen


# -- the indexes, by file identity ------------------------------------------------------------------

_indexes: OrderedDict[tuple, RowIndex] = OrderedDict()
_lock = threading.Lock()


def index_for(fh: BinaryIO, quote: int | None, sep: str) -> RowIndex:
    """The index of the open file ``fh`` (shared while the file is unchanged, else a fresh one)."""
    st: FileStamp = stamp_of(os.fstat(fh.fileno()))
    key = (st, quote, sep)
    with _lock:
        found = _indexes.get(key)
        if found is not None:
            _indexes.move_to_end(key)
            return found
    index = RowIndex(quote, sep)
    if settled(st):  # a stamp the clock has not moved past could be reused by a later change
        with _lock:
            index = _indexes.setdefault(key, index)
            _indexes.move_to_end(key)
            while len(_indexes) > MAX_INDEXES:
                _indexes.popitem(last=False)
    return index


def clear() -> None:
    with _lock:
        _indexes.clear()
