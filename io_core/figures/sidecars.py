"""The sidecar files' bytes: the data CSV (columns padded to one length), one grid CSV per image, the YAML recipe.

Writers take a binary stream and write row by row (an image of millions of pixels is never one
string), so the same code fills the atomic temp file and, for ``dry_run``, a counting sink.
Numbers are written as Python prints them (shortest text that reads back to the same float).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import numpy as np

CHANNELS = {3: "rgb", 4: "rgba"}


def _cells(values: np.ndarray) -> list[Any]:
    """One column's cells: numbers as Python numbers, dates as ISO text, missing (None) as an empty cell."""
    if values.dtype.kind == "M":
        return [str(v) for v in np.datetime_as_string(values)]
    if values.dtype.kind == "O":
        return ["" if v is None else (v.item() if isinstance(v, np.generic) else v) for v in values.tolist()]
    return values.tolist()


@contextmanager
def _text(out: BinaryIO) -> Iterator[Any]:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        yield csv.writer(text, lineterminator="\n")
    finally:
        text.flush()
        text.detach()  # the caller owns (and closes) the binary stream


def write_columns(columns: dict[str, np.ndarray], out: BinaryIO) -> None:
    """The data CSV: a header of column names, then rows; shorter columns end in empty cells."""
    cells = [_cells(v) for v in columns.values()]
    rows = max((len(c) for c in cells), default=0)
    with _text(out) as writer:
        writer.writerow(list(columns))
        for r in range(rows):
            writer.writerow([c[r] if r < len(c) else "" for c in cells])


def grid_header(array: np.ndarray) -> list[str]:
    width = array.shape[1] if array.ndim >= 2 else array.shape[0]
    if array.ndim == 3:
        names = CHANNELS.get(array.shape[2]) or [str(c) for c in range(array.shape[2])]
        return [f"{col}_{ch}" for col in range(width) for ch in names]
    return [str(col) for col in range(width)]


def write_grid(array: np.ndarray, out: BinaryIO) -> None:
    """An image array as a grid: one row per image row; (H, W, C) flattened per row (``<col>_<channel>``)."""
    grid = array.reshape(1, -1) if array.ndim == 1 else array
    with _text(out) as writer:
        writer.writerow(grid_header(array))
        for row in grid:
            writer.writerow(np.asarray(row).reshape(-1).tolist())


def write_yaml(recipe: dict[str, Any], out: BinaryIO) -> None:
    import yaml

    out.write(yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=120).encode("utf-8"))


class Counter(io.RawIOBase):
    """A sink that only counts: what a dry run would write, sized without keeping or writing it."""

    def __init__(self) -> None:
        super().__init__()
        self.nbytes = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.nbytes

    def write(self, b: Any) -> int:
        n = memoryview(b).nbytes
        self.nbytes += n
        return n


class Hasher(Counter):
    """A sink that hashes: whether a sidecar on disk already holds exactly these bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.hash = hashlib.sha256()

    def write(self, b: Any) -> int:
        self.hash.update(b)
        return super().write(b)


class Bounded(Counter):
    """Writes through to ``out`` while the total stays within ``limits.max_write_bytes``, else TOO_LARGE
    (raised before the write; the atomic temp file is then removed)."""

    def __init__(self, out: BinaryIO, limits: Any, what: str) -> None:
        super().__init__()
        self.out, self.limits, self.what = out, limits, what

    def write(self, b: Any) -> int:
        from io_core.limits import check_write

        n = memoryview(b).nbytes
        check_write(self.nbytes + n, self.limits, self.what)
        self.out.write(b)
        self.nbytes += n
        return n


def size_of(writer: Callable[[BinaryIO], None], limits: Any, what: str) -> int:
    """Bytes ``writer`` would write, counted (TOO_LARGE as soon as they pass the limit, as the real write would)."""
    sink = Bounded(Counter(), limits, what)
    writer(sink)
    return sink.nbytes


def sha256_of(writer: Callable[[BinaryIO], None]) -> str:
    sink = Hasher()
    writer(sink)
    return sink.hash.hexdigest()
