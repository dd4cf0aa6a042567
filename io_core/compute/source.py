"""What a worker is given to read: an already-confined real path, re-pinned and re-checked where it runs.

The server resolves the user's path inside its roots, pins it, and opens the array once
through the format's handler (HDF5 through ``io_core.formats.hdf5.guard``: every link,
virtual-dataset source and external raw file checked against the roots). A worker, in this
process or on another machine, gets only the resulting ``ArraySource``: the *real* path, the
roots, the format, the key and the file's identity (device, inode, size, mtime). It pins the
path again inside the same roots (``Sandbox.pin``: no symlink may lead out), refuses a file
whose identity changed since the server checked it (FILE_CHANGED), and opens it through the
same handler, so the guard runs on the worker too. Nothing a worker opens has not passed the
same confinement as an in-process read.

Open arrays are kept per process (a few, LRU): a worker reads many blocks of one file.
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import threading
from collections import OrderedDict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from io_core.compute.errors import FileChangedError

KEEP_OPEN = 8  # open sources per process


@dataclass(frozen=True)
class ArraySource:
    """One array of one file, described so that any process can open it again under the same confinement."""

    roots: tuple[str, ...] | None
    real: str
    format: str
    key: str | None
    identity: tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns of the pinned file
    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...] | None = None
    limits: Any = field(default=None, compare=False, hash=False)

    @property
    def itemsize(self) -> int:
        import numpy as np

        return np.dtype(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.itemsize


def identity_of(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size if not _isdir(st) else 0, st.st_mtime_ns)


def _isdir(st: os.stat_result) -> bool:
    import stat

    return stat.S_ISDIR(st.st_mode)


def describe(ws: Any, path: str | os.PathLike[str], key: str | None, format: str | None = None) -> ArraySource:
    """The ``ArraySource`` for ``key`` of ``path`` in workspace ``ws``, checked by opening it here once."""
    import numpy as np

    from io_core.errors import UnsupportedOperationError
    from io_core.formats.base import supports

    with ws._pin(path) as pinned:
        view = pinned.path
        choice = ws._choose(view, format, "load")
        handler = ws._handler(choice) if choice.spec is not None else None
        if handler is None or not supports(handler, "open_array"):
            raise UnsupportedOperationError(f"{choice.name} files are not read as arrays here",
                                            hint="compute_stats takes arrays (npy, HDF5/NetCDF variables, Zarr, ...).")
        opts = ws._read_options(key)
        with ws._reading(view, choice), handler.open_array(view, opts) as array:
            shape = tuple(int(n) for n in array.shape)
            dtype = np.dtype(array.dtype).str
            chunks = getattr(array, "chunks", None)
            chunks = tuple(int(c) for c in chunks) if chunks else None
        roots = tuple(str(r) for r in ws.sandbox.roots) if ws.sandbox.roots is not None else None
        return ArraySource(roots, str(pinned.real), choice.name, key, identity_of(pinned.stat), shape, dtype,
                           chunks, ws.limits)


_OPEN: OrderedDict[ArraySource, tuple[ExitStack, tuple[Any, Any]]] = OrderedDict()
_LOCK = threading.RLock()


def open_array(src: ArraySource) -> tuple[Any, Any]:
    """The source's array in this process (pinned inside the roots, identity checked, opened through its
    handler), and the context manager that confines links and codes library errors for a read."""
    with _LOCK:
        hit = _OPEN.get(src)
        if hit is not None:
            _OPEN.move_to_end(src)
            return hit[1]
        if not _OPEN:
            atexit.register(close_all)  # before the interpreter tears modules down (a worker's exit)
        stack = ExitStack()
        try:
            array = _open(src, stack)
        except BaseException:
            stack.close()
            raise
        _OPEN[src] = (stack, array)
        while len(_OPEN) > KEEP_OPEN:
            _, (old, _) = _OPEN.popitem(last=False)
            old.close()
        return array


def _open(src: ArraySource, stack: ExitStack) -> Any:
    """Pinned, checked and opened; the link confinement is entered around the open and around each read
    (it is a context variable: a worker's tasks run in contexts of their own)."""
    from io_core.dispatch import Chooser
    from io_core.options import ReadOptions
    from io_core.paths import Sandbox
    from io_core.registry import REGISTRY

    sandbox = Sandbox(src.roots)
    pinned = stack.enter_context(sandbox.pin(src.real, folders=True))
    if identity_of(pinned.stat) != src.identity or str(pinned.real) != src.real:
        raise FileChangedError(f"{Path(src.real).name!r} changed after it was checked")
    chooser = Chooser(REGISTRY)
    choice = chooser.named(src.format, "load")
    handler = REGISTRY.handler(choice.spec)
    opts = ReadOptions(key=src.key, limits=src.limits) if src.limits is not None else ReadOptions(key=src.key)
    reading = functools.partial(chooser.reading, pinned.path, choice.name, sandbox)
    with reading():
        array = stack.enter_context(handler.open_array(pinned.path, opts))
    return array, reading


def close_all() -> None:
    """Close every source this process keeps open (tests; a worker closes them at exit anyway)."""
    with _LOCK:
        while _OPEN:
            _, (stack, _) = _OPEN.popitem()
            stack.close()


def read_block(src: ArraySource, index: tuple) -> Any:
    """The values of ``index`` (a tuple of slices) as a NumPy array, read where this runs."""
    import numpy as np

    array, reading = open_array(src)
    with _LOCK, reading():  # h5py serialises anyway; one reader per open handle keeps libraries without locks safe
        block = array[index] if index else array[()]
    return np.asarray(block)


@dataclass(frozen=True)
class TableSource:
    """One table file (``key``: a column or sheet, as the format means it), described like ``ArraySource``."""

    roots: tuple[str, ...] | None
    real: str
    format: str
    key: str | None
    identity: tuple[int, int, int, int]
    limits: Any = field(default=None, compare=False, hash=False)


def describe_table(ws: Any, path: str | os.PathLike[str], key: str | None, format: str | None = None) -> TableSource:
    """The ``TableSource`` of ``path`` in ``ws`` (its format must stream rows: ``iter_frames``)."""
    from io_core.errors import UnsupportedOperationError
    from io_core.formats.base import supports

    with ws._pin(path) as pinned:
        choice = ws._choose(pinned.path, format, "load")
        handler = ws._handler(choice) if choice.spec is not None else None
        if handler is None or not supports(handler, "iter_frames"):
            raise UnsupportedOperationError(f"{choice.name} files are not read as tables in chunks",
                                            hint="Tables: csv, tsv, jsonl, parquet, feather, ...")
        roots = tuple(str(r) for r in ws.sandbox.roots) if ws.sandbox.roots is not None else None
        return TableSource(roots, str(pinned.real), choice.name, key, identity_of(pinned.stat), ws.limits)


def iter_table(src: TableSource, chunk_rows: int = 100_000) -> Any:
    """The table's rows as DataFrames of ``chunk_rows``, read where this runs under the same confinement."""
    from io_core.dispatch import Chooser
    from io_core.options import ReadOptions
    from io_core.paths import Sandbox
    from io_core.registry import REGISTRY

    sandbox = Sandbox(src.roots)
    with sandbox.pin(src.real) as pinned:
        if identity_of(pinned.stat) != src.identity or str(pinned.real) != src.real:
            raise FileChangedError(f"{Path(src.real).name!r} changed after it was checked")
        chooser = Chooser(REGISTRY)
        choice = chooser.named(src.format, "load")
        opts = ReadOptions(key=src.key, limits=src.limits) if src.limits is not None else ReadOptions(key=src.key)
        with chooser.reading(pinned.path, choice.name, sandbox):
            yield from REGISTRY.handler(choice.spec).iter_frames(pinned.path, opts, chunk_rows)
