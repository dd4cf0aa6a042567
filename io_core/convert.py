"""``convert``: read one file, write it in another format, through the workspace's atomic save.

Two ways, chosen per pair:

- **streamed** when both sides have the capability (``io_core.formats.base``): tables go
  chunk by chunk from any format with ``iter_frames`` (csv, tsv, parquet, feather, jsonl,
  SQLite, FITS tables, ...) into any with ``write_frames``; one array from any format with
  ``open_array`` (npy, an HDF5 / NetCDF / MAT 7.3 variable, a Zarr array, a FITS image, a
  NIfTI volume, ...) goes slab by slab into any with ``write_array``. No format is named
  here. Memory stays bounded by one chunk. A table whose later chunk does not fit the
  types inferred from the first (an integer column that turns float) is converted again
  the whole way, so the result never depends on chunk boundaries.
- **whole** otherwise: the source is loaded, adapted to what the destination takes
  (a table becomes ``{column: array}`` for containers, records for documents, a 2-D
  array becomes a table, ...), and saved.

Either way the write is the workspace's ``save`` (atomic, hashed) and the ledger records
it as ``operation="convert"`` with the source as its input (lineage).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from io_core.errors import InvalidDataError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.base import CannotStream, supports
from io_core.formats.common import guarded
from io_core.limits import check_write
from io_core.options import ReadOptions, WriteOptions

CHUNK_ROWS = 100_000


@dataclass
class StreamPlan:
    """What the workspace hands to ``save`` as a writer: ``write(data, path)`` produces the file."""

    kind: str  # "frames" | "array"
    write: Callable[[Any, Path], None]
    description: str


def stream_plan(registry: Any, src: Path, src_spec: Any, dst_spec: Any, opts: ReadOptions) -> StreamPlan | None:
    """A streamed conversion for this pair, planned over capabilities alone, or None when it has to go whole.

    Tables: the source's ``iter_frames`` into the destination's ``write_frames``. One array: the source's
    ``open_array`` (for ``opts.key``, or the file itself when it is one array) into ``write_array``. Either
    side may still raise ``CannotStream`` once it sees the data; the workspace then converts whole.
    """
    source, sink = registry.handler(src_spec), registry.handler(dst_spec)
    if supports(source, "iter_frames") and supports(sink, "write_frames"):
        def write_frames(_data: Any, path: Path) -> None:
            chunks = guarded(source.iter_frames(src, opts, CHUNK_ROWS), src, src_spec.name)
            sink.write_frames(_plain_index(chunks), path, WriteOptions(limits=opts.limits))

        return StreamPlan("frames", write_frames, f"{src_spec.name} -> {dst_spec.name} in chunks of {CHUNK_ROWS} rows")
    if supports(source, "open_array") and supports(sink, "write_array"):
        if opts.key is None and src_spec.kind != "array":
            return None  # a container without key: the whole tree goes
        name = (opts.key or "data").strip("/").split("/")[-1] or "data"

        def write_array(_data: Any, path: Path) -> None:
            with _source_array(source, src, opts) as array:
                nbytes = math.prod(int(n) for n in array.shape) * np.dtype(array.dtype).itemsize
                check_write(nbytes, opts.limits, what=f"the converted array ({name})")  # before the file exists
                sink.write_array(array, path, WriteOptions(limits=opts.limits), name)

        return StreamPlan("array", write_array, f"{src_spec.name} -> {dst_spec.name} slab by slab")
    return None


def _plain_index(chunks: Iterator[Any]) -> Iterator[Any]:
    """Chunks with a default index; a named index would be dropped by streaming, so it is converted whole."""
    for chunk in chunks:
        index = chunk.index
        if index.name is not None or any(n is not None for n in getattr(index, "names", ())):
            raise CannotStream("the table has a named index, which only a whole conversion keeps")
        yield chunk.reset_index(drop=True)


@contextmanager
def _source_array(handler: Any, src: Path, opts: ReadOptions) -> Iterator[Any]:
    """The source's array; a key that names a group (or nothing) is left to the whole conversion."""
    with ExitStack() as stack:
        try:
            array = stack.enter_context(handler.open_array(src, opts))
        except (KeyNotFoundError, UnsupportedOperationError) as exc:
            raise CannotStream(str(exc)) from None
        yield array


# -- whole conversions: what the destination takes ------------------------------------------------

def adapt(data: Any, kind: str, *, table_name: str = "data") -> Any:
    """``data`` as loaded, reshaped into what a saver of ``kind`` takes."""
    if kind == "frame":
        return to_frame(data)
    if kind == "array":
        return to_array(data)
    if kind == "arrays":
        return to_tree(data)
    if kind in ("document", "records"):
        plain = to_plain(data)
        if kind == "records" and isinstance(plain, Mapping):
            raise InvalidDataError("a bibliography takes records (a list of objects)")
        return plain
    if kind == "text":
        if not isinstance(data, str):
            raise InvalidDataError(f"{type(data).__name__} data cannot be written as text",
                                   hint="Convert text formats (txt, md, xml, html, ...) into each other.")
        return data
    if kind == "tables":
        if _is_frame(data):
            return {table_name: data}
        if isinstance(data, Mapping) and data and all(_is_frame(v) for v in data.values()):
            return data
        return {table_name: to_frame(data)}
    if kind == "image":
        return to_array(data)
    return data


def _is_frame(value: Any) -> bool:
    return hasattr(value, "iloc") and hasattr(value, "columns")


def to_frame(data: Any) -> Any:
    import pandas as pd

    if _is_frame(data):
        return data
    if isinstance(data, np.ndarray):
        if data.ndim == 1:
            return pd.DataFrame({"value": data})
        if data.ndim == 2:
            return pd.DataFrame(data, columns=[str(i) for i in range(data.shape[1])])
        raise InvalidDataError(f"a {data.ndim}-D array is not a table", hint="Pick a 1-D or 2-D array with key=.")
    if isinstance(data, Mapping) and data:
        values = list(data.values())
        if all(_is_frame(v) for v in values):
            if len(values) == 1:
                return values[0]
            raise InvalidDataError(f"the source holds {len(values)} tables: {list(data)[:20]}",
                                   hint="Pass key= with the table (or sheet) to convert.")
        if all(isinstance(v, np.ndarray) for v in values):
            lengths = {v.shape[0] if v.ndim else -1 for v in values}
            if all(v.ndim == 1 for v in values) and len(lengths) == 1:
                return pd.DataFrame({str(k): v for k, v in data.items()})
            raise InvalidDataError("only 1-D arrays of one length make a table",
                                   hint="Pass key= with one 1-D or 2-D array.")
    from io_core.coerce import as_frame

    return as_frame(data)


def to_array(data: Any) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, str):
        raise InvalidDataError("text is not an array", hint="Convert text into another text format (.txt, .md, ...).")
    if _is_frame(data):
        kinds = {np.dtype(t).kind if isinstance(t, np.dtype) else "O" for t in data.dtypes}
        if not kinds <= set("biuf"):
            raise InvalidDataError("only an all-numeric table becomes one array",
                                   hint="Convert to a container (.npz, .h5) to keep one array per column.")
        return data.to_numpy()
    if isinstance(data, Mapping):
        arrays = {k: v for k, v in data.items() if isinstance(v, np.ndarray)}
        if len(arrays) == 1 and len(data) == 1:
            return next(iter(arrays.values()))
        raise InvalidDataError(f"the source holds {len(data)} members: {list(data)[:20]}",
                               hint="Pass key= with the one array to convert.")
    from io_core.coerce import as_array

    return as_array(data)


def to_tree(data: Any) -> Any:
    if isinstance(data, np.ndarray):
        return {"data": data}
    if _is_frame(data):
        return _frame_columns(data)
    if isinstance(data, Mapping):
        return {str(k): to_tree(v) if (isinstance(v, Mapping) or _is_frame(v)) else _array_of(v, str(k))
                for k, v in data.items()}
    if isinstance(data, list) and data and all(isinstance(r, Mapping) for r in data):
        return _frame_columns(to_frame(data))
    raise InvalidDataError(f"{type(data).__name__} data cannot be written as a set of arrays")


def _array_of(value: Any, name: str) -> Any:
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list) and value and all(isinstance(v, (np.ndarray, Mapping)) for v in value):
        return {str(i): to_tree(v) if isinstance(v, Mapping) else v for i, v in enumerate(value)}
    return value  # numbers, strings, nested lists: the saver checks them


def _frame_columns(df: Any) -> dict[str, np.ndarray]:
    import pandas as pd

    out = {}
    for name in df.columns:
        col = df[name]
        if pd.api.types.is_bool_dtype(col.dtype) or (
                pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_extension_array_dtype(col.dtype)):
            out[str(name)] = col.to_numpy()
        elif pd.api.types.is_datetime64_any_dtype(col.dtype):
            out[str(name)] = col.astype(str).to_numpy(dtype=str)
        elif pd.api.types.is_numeric_dtype(col.dtype):
            out[str(name)] = col.to_numpy(dtype="float64", na_value=np.nan)
        else:
            out[str(name)] = col.astype(str).to_numpy(dtype=str)
    return out


def to_plain(data: Any) -> Any:
    """JSON-like data: tables as records, arrays as nested lists, NaN as None."""
    if _is_frame(data):
        import pandas as pd

        frame = data if isinstance(data.index, pd.RangeIndex) else data.reset_index()
        return [{str(k): _plain_scalar(v) for k, v in row.items()} for row in frame.to_dict("records")]
    if isinstance(data, np.ndarray):
        return to_plain(data.tolist())
    if isinstance(data, Mapping):
        return {str(k): to_plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [to_plain(v) for v in data]
    return _plain_scalar(data)


def _plain_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool, list, dict)):
        return value
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:
            return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value
