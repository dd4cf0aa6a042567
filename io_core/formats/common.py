"""Helpers shared by format modules: chunked table writing through Arrow, array slabs, guarded sources.

Formats implement the streaming capabilities of ``io_core.formats.base`` (``iter_frames``,
``write_frames``, ``write_array``) with these, so every streamed conversion behaves the
same whichever pair of formats it joins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from io_core.errors import CorruptFileError, IOCoreError
from io_core.formats.base import CannotStream

SLAB_BYTES = 16 * 1024 * 1024


def arrow_tables(frames: Iterator[Any]) -> Iterator[Any]:
    """Arrow tables with the first chunk's schema; a chunk that does not fit is CannotStream."""
    import pyarrow as pa

    schema = None
    for df in frames:
        df.columns = [str(c) for c in df.columns]
        if schema is None:
            table = pa.Table.from_pandas(df, preserve_index=False)
            schema = table.schema
        else:
            try:
                table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, KeyError) as exc:
                raise CannotStream(f"a later chunk does not fit the first chunk's types: {exc}") from None
        yield table


def write_arrow(frames: Iterator[Any], open_writer: Callable[[Any], Any]) -> None:
    """Arrow tables into the writer ``open_writer(schema)`` opens at the first chunk."""
    writer = None
    try:
        for table in arrow_tables(frames):
            if writer is None:
                writer = open_writer(table.schema)
            writer.write_table(table)
        if writer is None:
            raise CannotStream("the source has no rows")
    finally:
        if writer is not None:
            writer.close()


def has_pandas_index(schema: Any) -> bool:
    """An Arrow schema that carries a named pandas index (streaming chunks would drop it)."""
    meta = schema.pandas_metadata or {}
    return any(isinstance(c, str) for c in meta.get("index_columns", []))


def guarded(chunks: Iterator[Any], src: Path, fmt: str) -> Iterator[Any]:
    """Source errors while streaming are CORRUPT_FILE about the source, not about the writer."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except IOCoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - any reader failure means the source is unreadable
            raise CorruptFileError(f"cannot read {src.name!r} as {fmt}: {type(exc).__name__}: {str(exc)[:300]}") \
                from None
        yield chunk


def slabs(array: Any) -> Iterator[tuple[slice, np.ndarray]]:
    """Leading-axis slabs of about SLAB_BYTES, read one at a time."""
    shape = tuple(int(n) for n in array.shape)
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize)
    step = max(1, SLAB_BYTES // row_bytes)
    for start in range(0, shape[0], step):
        part = slice(start, min(shape[0], start + step))
        yield part, np.asarray(array[part])


def require_streamable(array: Any, *, strings: bool = True) -> None:
    """CannotStream for arrays a slab writer cannot take (0-d, empty, objects, records; strings if not allowed)."""
    dtype = np.dtype(array.dtype)
    if (len(array.shape) < 1 or 0 in tuple(array.shape) or dtype.hasobject or dtype.kind == "V"
            or (not strings and dtype.kind in "US")):
        raise CannotStream("this array is written whole")
