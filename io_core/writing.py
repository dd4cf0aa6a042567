"""What a failed write means: an OSError coded, and a hint for data a saver refused (by the kind it takes)."""

from __future__ import annotations

import errno

from io_core.errors import IOCoreError, TooLargeError, WriteFailedError, coded

_HINTS = {
    "array": "Give a rectangular nested list of numbers (optionally with dtype).",
    "arrays": "Give an object mapping names to rectangular nested lists (objects nest as groups).",
    "frame": "Give records (a list of objects) or columns (an object of equal-length lists).",
    "document": "Give JSON-compatible objects, lists, strings and numbers.",
    "text": "Give a string.",
    "image": "Give an (H, W), (H, W, 3) or (H, W, 4) nested list of 0..255 values (dtype uint8).",
    "records": 'Give records: [{"ENTRYTYPE": "article", "ID": "key", "title": "..."}, ...].',
    "tables": "Give {table: records or columns}, or one table's records or columns.",
}


def save_hint(kind: str) -> str:
    """What a saver of ``kind`` (FormatSpec.kind) takes."""
    return _HINTS.get(kind, "Check the data against what the saver expects.")


def write_error(exc: OSError, name: str) -> IOCoreError:
    """A writer's OSError, coded by ``io_core.errors.coded`` (full disk, denied, name too long, ...), said of
    the file being written. A file past the largest size allowed is TOO_LARGE (ask for less), and what
    ``coded`` cannot name is WRITE_FAILED: the old file is unchanged either way."""
    if exc.errno == errno.EFBIG:
        return TooLargeError(f"writing {name!r} would pass the largest file size allowed here",
                             hint="Write less (one key, a selection); the old file is unchanged.")
    known = coded(exc)
    if known is None or type(known) is IOCoreError:
        return WriteFailedError(f"writing {name!r} failed: {exc.strerror or exc}")
    known.message = f"writing {name!r} failed: {known.message}"
    return known
