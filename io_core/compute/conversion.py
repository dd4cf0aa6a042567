"""Conversions on the engine: arrays into one Zarr array (rechunked), tables into one parquet file.

Arrays: one source (an HDF5/NetCDF/MAT variable, npy, a Zarr array, ...) or many sources
concatenated along axis 0 (``stack=True``: along a new leading axis). The output array's chunks
are given or chosen (~``CHUNK_BYTES``, C order); every task writes one region made of whole
output chunks, assembled from the pieces of the source(s) it overlaps, so no two tasks touch
the same chunk and the result does not depend on the executor. Tables: each source file
becomes a parquet part (one task each, in a scratch folder beside the output), then the
parts' row groups are streamed into the one output file under a unified schema (an integer
column that is float in another file becomes float).

Either way the output is written through ``Workspace._write``: atomic (a cancelled or failed
run leaves nothing, the scratch parts are removed), hashed as it is finished, and recorded in
the ledger as ``convert`` with every input's hash, the engine and the cluster size.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from io_core.compute import kernels
from io_core.compute.exact import Progress, Report

TASK_BYTES = 32 * 1024 * 1024  # one region (one task)
from io_core.compute.source import ArraySource, TableSource, describe, describe_table
from io_core.errors import ExistsError, InvalidArgumentError, InvalidDataError, ReadOnlyError
from io_core.limits import check_write

CHUNK_BYTES = 16 * 1024 * 1024
MAX_FILES = 100_000


def default_chunks(shape: tuple[int, ...], itemsize: int, target: int | None = None) -> tuple[int, ...]:
    """C-order tiles of about ``target`` bytes: trailing axes whole while they fit, then rows of the next."""
    target = target or CHUNK_BYTES
    if not shape:
        return ()
    chunks = [1] * len(shape)
    inner = itemsize
    axis = len(shape) - 1
    while axis >= 0 and inner * max(1, shape[axis]) <= target:
        chunks[axis] = max(1, shape[axis])
        inner *= max(1, shape[axis])
        axis -= 1
    if axis >= 0:
        chunks[axis] = max(1, min(shape[axis], target // inner))
    return tuple(chunks)


def regions(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int, task_bytes: int | None = None) -> list[tuple]:
    """Regions of whole chunks of about ``task_bytes``: slabs of chunk rows when a row of chunks fits, else chunks."""
    if not shape:
        return [()]
    if 0 in shape:
        return []
    task_bytes = task_bytes or TASK_BYTES
    grid = [-(-s // c) for s, c in zip(shape, chunks, strict=True)]
    chunk_bytes = math.prod(chunks) * itemsize
    slab = math.prod(grid[1:]) * chunk_bytes
    if slab <= task_bytes:
        step = max(1, task_bytes // slab) * chunks[0]
        rest = tuple(slice(0, s) for s in shape[1:])
        return [(slice(r, min(r + step, shape[0])), *rest) for r in range(0, shape[0], step)]
    return [tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, shape, strict=True))
            for index in itertools.product(*(range(g) for g in grid))]


def _pieces(sources: Sequence[ArraySource], offsets: Sequence[int], region: tuple, stack: bool) -> list[tuple]:
    """(source, index in the source, index in the region) for every source the output region overlaps."""
    if not region:
        return [(sources[0], (), ())]
    r0, r1 = region[0].start, region[0].stop
    rest = region[1:]
    local_rest = tuple(slice(0, s.stop - s.start) for s in rest)
    out = []
    for src, off in zip(sources, offsets, strict=True):
        length = 1 if stack else src.shape[0]
        lo, hi = max(r0, off), min(r1, off + length)
        if lo >= hi:
            continue
        if stack:
            out.append((src, rest, (slice(lo - r0, hi - r0), *local_rest)))
        else:
            out.append((src, (slice(lo - off, hi - off), *rest), (slice(lo - r0, hi - r0), *local_rest)))
    return out


def plan_arrays(sources: Sequence[ArraySource], stack: bool, chunks: Sequence[int] | None) -> tuple[tuple, str, tuple, list]:
    """Output shape, dtype, chunks, and the task list (pieces, region) for ``sources`` laid out along axis 0."""
    first = sources[0]
    for s in sources[1:]:
        same = s.shape == first.shape if stack else s.shape[1:] == first.shape[1:]
        if not same or s.dtype != first.dtype or (not stack and not s.shape):
            raise InvalidDataError(f"{Path(s.real).name}: shape {list(s.shape)} {np.dtype(s.dtype).name} does not "
                                   f"{'stack with' if stack else 'concatenate along axis 0 with'} "
                                   f"{list(first.shape)} {np.dtype(first.dtype).name}",
                                   hint="Every file must hold the same dtype and the same shape (axis 0 may differ "
                                        "when concatenating).")
    if stack or len(sources) > 1:
        lengths = [1 if stack else s.shape[0] for s in sources]
        shape = (len(sources), *first.shape) if stack else (sum(lengths), *first.shape[1:])
    else:
        lengths, shape = [first.shape[0] if first.shape else 1], first.shape
    offsets = list(itertools.accumulate([0, *lengths[:-1]]))
    itemsize = first.itemsize
    if chunks:
        out_chunks = tuple(int(c) for c in chunks)
        if len(out_chunks) != len(shape) or min(out_chunks, default=1) < 1:
            raise InvalidArgumentError(f"chunks {list(out_chunks)} do not fit shape {list(shape)}",
                                       hint="One positive chunk length per axis.")
    elif stack:
        out_chunks = (1, *default_chunks(first.shape, itemsize))
    else:
        out_chunks = default_chunks(shape, itemsize)
    tasks = [(_pieces(sources, offsets, r, stack), r) for r in regions(shape, out_chunks, itemsize)]
    return shape, first.dtype, out_chunks, tasks


def _compressor() -> Any:
    """Blosc LZ4 with byte shuffle (Zarr v2's default): ~25 % faster than v3's zstd here, no larger."""
    from zarr.codecs import BloscCodec

    return BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")


def _array_task(pieces: list, region: tuple, dst: str, name: str, roots: Any) -> tuple[int, int]:
    return kernels.copy_region(pieces, region, dst, name, roots)


def _prepared(ws: Any, srcs: Sequence[str | os.PathLike[str]], dst: str | os.PathLike[str], describe_one: Any,
              key: str | None, src_format: str | None, dst_format: str, overwrite: bool) -> tuple[list, Path, Any]:
    """The checks every conversion makes before it reads: (sources described, real destination, its Choice)."""
    from io_core.dispatch import Choice

    if ws.read_only:
        raise ReadOnlyError(f"cannot write {os.fspath(dst)!r}")
    if not srcs:
        raise InvalidArgumentError("no source files")
    if len(srcs) > MAX_FILES:
        raise InvalidArgumentError(f"{len(srcs)} files; at most {MAX_FILES} are converted at once")
    sources = [describe_one(ws, s, key, src_format) for s in srcs]
    real_dst = ws._resolve(dst, existing=False)
    if any(Path(s.real) == real_dst for s in sources):
        raise InvalidDataError("source and destination are the same file", hint="Choose another destination path.")
    if real_dst.exists() and not overwrite:
        raise ExistsError(f"{real_dst.name!r} already exists")
    # written by the engine, not by the row's own writer (the zarr row only reads)
    return sources, real_dst, Choice(dst_format, ws.registry.spec(dst_format))


def convert_arrays(engine: Any, ws: Any, srcs: Sequence[str | os.PathLike[str]], dst: str | os.PathLike[str], *,
                   key: str | None = None, stack: bool = False, chunks: Sequence[int] | None = None,
                   overwrite: bool = False, src_format: str | None = None, engine_name: str = "auto",
                   progress: Progress | None = None, cancelled: Callable[[], bool] = lambda: False) -> tuple[Any, Report]:
    """``srcs`` (one array each, ``key`` in containers) into one Zarr array at ``dst`` (see module docstring)."""
    import zarr

    from io_core.dispatch import Choice

    sources, real_dst, dst_choice = _prepared(ws, srcs, dst, describe, key, src_format, "zarr", overwrite)
    shape, dtype, out_chunks, tasks = plan_arrays(sources, stack, chunks)
    check_write(math.prod(shape) * np.dtype(dtype).itemsize, ws.limits, what="the converted array")
    name = (key or "data").strip("/").split("/")[-1] or "data"
    executor = engine.executor(sum(s.nbytes for s in sources), engine_name)
    report = Report(engine=executor.name, **executor.size())

    def write(_data: Any, tmp: Path) -> None:
        real_tmp = str(real_dst.parent / tmp.name)  # the temp folder's real name: workers re-resolve it in the roots
        group = zarr.open_group(str(tmp), mode="w")
        group.create_array(name, shape=shape, dtype=np.dtype(dtype), chunks=out_chunks, compressors=_compressor())
        roots = tuple(str(r) for r in ws.sandbox.roots) if ws.sandbox.roots is not None else None

        def step(done: int, total: int, nbytes: int) -> None:
            report.bytes_read = nbytes
            if progress is not None:
                progress(done, total, nbytes, "copying regions")

        started = time.perf_counter()
        executor.map(_array_task, [(p, r, real_tmp, name, roots) for p, r in tasks], progress=step, cancelled=cancelled)
        report.passes, report.blocks, report.seconds = 1, len(tasks), round(time.perf_counter() - started, 3)

    arguments = {"engine": report.engine, "workers": report.workers, "threads": report.threads, "key": key,
                 "files": len(sources), "stack": stack, "chunks": list(out_chunks),
                 "source_format": sources[0].format}
    result = ws._write(None, real_dst, Choice(dst_choice.name, dst_choice.spec, write), overwrite=overwrite,
                       dtype=None, inputs=[Path(s.real) for s in sources], operation="convert", arguments=arguments)
    return result, report


# -- tables ---------------------------------------------------------------------------------------

def _table_task(src: TableSource, part: str, roots: Any) -> tuple[int, int]:
    return kernels.table_part(src, part, roots)


def convert_tables(engine: Any, ws: Any, srcs: Sequence[str | os.PathLike[str]], dst: str | os.PathLike[str], *,
                   key: str | None = None, overwrite: bool = False, src_format: str | None = None,
                   engine_name: str = "auto", progress: Progress | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> tuple[Any, Report]:
    """``srcs`` (tables: csv, tsv, jsonl, parquet, ...) as the rows of one parquet file at ``dst``, in file order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from io_core.dispatch import Choice

    sources, real_dst, dst_choice = _prepared(ws, srcs, dst, describe_table, key, src_format, "parquet", overwrite)
    executor = engine.executor(sum(s.identity[2] for s in sources), engine_name)
    report = Report(engine=executor.name, **executor.size())
    roots = tuple(str(r) for r in ws.sandbox.roots) if ws.sandbox.roots is not None else None

    def write(_data: Any, tmp: Path) -> None:
        scratch = real_dst.parent / f".{real_dst.name}.parts-{uuid.uuid4().hex[:12]}"
        ws.sandbox.resolve(scratch)  # inside the roots
        scratch.mkdir()
        try:
            parts = [str(scratch / f"{i:06d}.parquet") for i in range(len(sources))]

            def step(done: int, total: int, nbytes: int) -> None:
                report.bytes_read = nbytes
                if progress is not None:
                    progress(done, total, nbytes, "reading tables")

            executor.map(_table_task, [(s, p, roots) for s, p in zip(sources, parts, strict=True)],
                         progress=step, cancelled=cancelled)
            files = [pq.ParquetFile(p) for p in parts]
            schema = pa.unify_schemas([f.schema_arrow for f in files], promote_options="permissive")
            check_write(sum(os.path.getsize(p) for p in parts), ws.limits, what="the converted table")
            with pq.ParquetWriter(str(tmp), schema) as writer:
                for f in files:
                    if cancelled():
                        from io_core.compute.errors import CancelledError

                        raise CancelledError("the conversion was cancelled")
                    for rg in range(f.num_row_groups):
                        writer.write_table(_conform(f.read_row_group(rg), schema))
            report.passes, report.blocks = 1, len(sources)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    arguments = {"engine": report.engine, "workers": report.workers, "threads": report.threads, "key": key,
                 "files": len(sources), "source_format": sources[0].format}
    result = ws._write(None, real_dst, Choice(dst_choice.name, dst_choice.spec, write), overwrite=overwrite,
                       dtype=None, inputs=[Path(s.real) for s in sources], operation="convert", arguments=arguments)
    return result, report


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with ``schema``'s columns, in its order (missing ones null), each cast to its type."""
    import pyarrow as pa

    columns = []
    for field in schema:
        if field.name in table.column_names:
            columns.append(table.column(field.name).cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)
