"""``convert``: read one file, write it in another format, through the workspace's atomic save.

Two ways, chosen per pair:

- **streamed** when both sides allow it: tables go chunk by chunk from csv / tsv /
  parquet / feather / jsonl / an SQLite table into parquet (pyarrow's ParquetWriter),
  feather / arrow (an IPC file writer), csv / tsv or jsonl; one array (an npy file, an
  HDF5 / NetCDF / MAT 7.3 variable, a Zarr array) goes slab by slab into ``.npy`` or an
  HDF5 dataset. Memory stays bounded by one chunk. A table whose later chunk does not
  fit the types inferred from the first (an integer column that turns float) is
  converted again the whole way, so the result never depends on chunk boundaries.
- **whole** otherwise: the source is loaded, adapted to what the destination takes
  (a table becomes ``{column: array}`` for containers, records for documents, a 2-D
  array becomes a table, ...), and saved.

Either way the write is the workspace's ``save`` (atomic, hashed) and the ledger records
it as ``operation="convert"`` with the source as its input (lineage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from io_core.errors import (
    CorruptFileError,
    InvalidDataError,
    IOCoreError,
    KeyNotFoundError,
    UnsupportedOperationError,
)
from io_core.options import ReadOptions, WriteOptions

CHUNK_ROWS = 100_000
SLAB_BYTES = 16 * 1024 * 1024

FRAME_SOURCES = ("csv", "tsv", "parquet", "feather", "jsonl", "sqlite")
FRAME_SINKS = ("parquet", "feather", "csv", "tsv", "jsonl")
ARRAY_SINKS = ("npy", "hdf5")


class CannotStream(IOCoreError):
    """A streamed conversion found data it cannot write chunk-wise; the caller converts whole."""

    code = "CANNOT_STREAM"


@dataclass
class StreamPlan:
    """What the workspace hands to ``save`` as a writer: ``write(path)`` produces the file."""

    kind: str  # "frames" | "array"
    write: Callable[[Any, Path], None]
    description: str


# -- planning ------------------------------------------------------------------------------------

def stream_plan(registry: Any, src: Path, src_spec: Any, dst_spec: Any, opts: ReadOptions) -> StreamPlan | None:
    """A streamed conversion for this pair, or None when it has to go whole."""
    src_handler = registry.handler(src_spec)
    if dst_spec.name in FRAME_SINKS and src_spec.name in FRAME_SOURCES:
        frames = _frame_source(src_handler, src_spec.name, src, opts)
        if frames is None:
            return None
        sink = _FRAME_SINKS[dst_spec.name]
        return StreamPlan("frames", lambda _data, path: sink(frames(), path, registry.handler(dst_spec)),
                          f"{src_spec.name} -> {dst_spec.name} in chunks of {CHUNK_ROWS} rows")
    if dst_spec.name in ARRAY_SINKS and hasattr(src_handler, "open_array"):
        if opts.key is None and src_spec.kind != "array":
            return None  # a container without key: the whole tree goes
        sink = _ARRAY_SINKS[dst_spec.name]
        name = (opts.key or "data").strip("/").split("/")[-1] or "data"
        return StreamPlan("array", lambda _data, path: sink(src_handler, src, opts, path, name),
                          f"{src_spec.name} -> {dst_spec.name} in slabs of about {SLAB_BYTES >> 20} MiB")
    return None


def _frame_source(handler: Any, name: str, src: Path, opts: ReadOptions) -> Callable[[], Iterator[Any]] | None:
    """A factory of DataFrame chunks with a default index, or None when that would lose something."""
    if name in ("csv", "tsv"):
        import pandas as pd

        handler._check_text(src)
        usecols = [opts.key] if opts.key else None

        def chunks() -> Iterator[Any]:
            reader = pd.read_csv(src, sep=handler.sep, chunksize=CHUNK_ROWS, usecols=usecols)
            for chunk in reader:
                yield chunk.reset_index(drop=True)

        return lambda: _guarded(chunks(), src, name)
    if name == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(src)
        if _has_index(pf.schema_arrow):
            return None
        columns = [handler.check_column(pf.schema_arrow.names, opts.key)] if opts.key else None
        return lambda: _guarded((b.to_pandas() for b in pf.iter_batches(batch_size=CHUNK_ROWS, columns=columns)),
                                src, name)
    if name == "feather":
        if opts.key or handler._is_v1(src) or _has_index(handler._reader(src).schema):
            return None
        return lambda: _guarded(handler.iter_frames(src, opts, CHUNK_ROWS), src, name)
    if name == "jsonl":
        if opts.key:
            return None
        return lambda: _guarded(handler.iter_frames(src, opts, CHUNK_ROWS), src, name)
    if name == "sqlite":
        return lambda: _guarded(handler.iter_frames(src, opts, CHUNK_ROWS), src, name)
    return None


def _has_index(schema: Any) -> bool:
    meta = schema.pandas_metadata or {}
    return any(isinstance(c, str) for c in meta.get("index_columns", []))


def _guarded(chunks: Iterator[Any], src: Path, fmt: str) -> Iterator[Any]:
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


# -- frame sinks ---------------------------------------------------------------------------------

def _arrow_tables(frames: Iterator[Any]) -> Iterator[Any]:
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


def _write_arrow(frames: Iterator[Any], open_writer: Callable[[Any], Any]) -> None:
    """Arrow tables into the writer ``open_writer(schema)`` opens at the first chunk."""
    writer = None
    try:
        for table in _arrow_tables(frames):
            if writer is None:
                writer = open_writer(table.schema)
            writer.write_table(table)
        if writer is None:
            raise CannotStream("the source has no rows")
    finally:
        if writer is not None:
            writer.close()


def _to_parquet(frames: Iterator[Any], path: Path, handler: Any) -> None:
    import pyarrow.parquet as pq

    _write_arrow(frames, lambda schema: pq.ParquetWriter(str(path), schema))


def _to_feather(frames: Iterator[Any], path: Path, handler: Any) -> None:
    import pyarrow.ipc as ipc

    compression = None if path.name.lower().endswith(".arrow") else "lz4"
    _write_arrow(frames, lambda schema: ipc.new_file(str(path), schema,
                                                     options=ipc.IpcWriteOptions(compression=compression)))


def _to_delimited(frames: Iterator[Any], path: Path, handler: Any) -> None:
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    first = True
    with opener(path, "wt", encoding="utf-8", newline="") as fh:
        columns = None
        for df in frames:
            if columns is None:
                columns = list(df.columns)
            elif list(df.columns) != columns:
                raise CannotStream("chunks have different columns")
            df.to_csv(fh, sep=handler.sep, index=False, header=first, lineterminator="\n")
            first = False
    if first:
        raise CannotStream("the source has no rows")


def _to_jsonl(frames: Iterator[Any], path: Path, handler: Any) -> None:
    with open(path, "wb") as fh:
        for df in frames:
            handler.save_stream(df, fh, WriteOptions())


_FRAME_SINKS = {"parquet": _to_parquet, "feather": _to_feather, "csv": _to_delimited, "tsv": _to_delimited,
                "jsonl": _to_jsonl}


# -- array sinks ---------------------------------------------------------------------------------

def _slabs(array: Any) -> Iterator[tuple[slice, np.ndarray]]:
    shape = tuple(int(n) for n in array.shape)
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(array.dtype).itemsize)
    step = max(1, SLAB_BYTES // row_bytes)
    for start in range(0, shape[0], step):
        part = slice(start, min(shape[0], start + step))
        yield part, np.asarray(array[part])


def _streamable(array: Any) -> bool:
    dtype = np.dtype(array.dtype)
    return len(array.shape) >= 1 and 0 not in tuple(array.shape) and not dtype.hasobject and dtype.kind != "V"


@contextmanager
def _source_array(handler: Any, src: Path, opts: ReadOptions) -> Iterator[Any]:
    """The source's array; a key that names a group (or nothing) is left to the whole conversion."""
    with ExitStack() as stack:
        try:
            array = stack.enter_context(handler.open_array(src, opts))
        except (KeyNotFoundError, UnsupportedOperationError) as exc:
            raise CannotStream(str(exc)) from None
        yield array


def _to_npy(handler: Any, src: Path, opts: ReadOptions, path: Path, name: str) -> None:
    with _source_array(handler, src, opts) as array:
        if not _streamable(array):
            raise CannotStream("this array is written whole")
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(array.dtype), shape=tuple(array.shape))
        try:
            for part, values in _slabs(array):
                out[part] = values
            out.flush()
        finally:
            del out


def _to_hdf5(handler: Any, src: Path, opts: ReadOptions, path: Path, name: str) -> None:
    from io_core import h5guard

    with _source_array(handler, src, opts) as array:
        if not _streamable(array) or np.dtype(array.dtype).kind in "US":
            raise CannotStream("this array is written whole")
        with h5guard.create(path, track_order=True) as f:
            ds = f.create_dataset(name, shape=tuple(array.shape), dtype=np.dtype(array.dtype))
            for part, values in _slabs(array):
                ds[part] = values


_ARRAY_SINKS = {"npy": _to_npy, "hdf5": _to_hdf5}


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
    if isinstance(value, float) and value != value:
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
