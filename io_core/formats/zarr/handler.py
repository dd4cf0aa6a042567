"""Zarr v2 and v3 stores (directories, or .zip files) through zarr-python 3, read-only.

Summaries read metadata only (consolidated metadata when the store has it) plus a
bounded preview; selections read only the chunks they touch. Loading gives an array,
or a dict of arrays with nested dicts for groups, like HDF5.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from io_core.errors import KeyNotFoundError
from io_core.formats.base import Explored, Format
from io_core.limits import Limits, check_chunks, current
from io_core.links import active_sandbox
from io_core.options import ReadOptions
from io_core.summary import array_summary, encode_value
from schemas import ArraySummary, ChildInfo, TreeSummary


@contextmanager
def open_node(path: Path, key: str | None = None, limits: Limits | None = None) -> Iterator[Any]:
    """The array or group at ``key`` in a store opened read-only.

    Inside a workspace, a folder store with a symlink leading out of the roots is
    PATH_OUTSIDE_ROOT, and no key is read through such a link (``io_core.formats.zarr.tree``).
    An array whose single chunk inflates past ``max_member_bytes`` is TOO_LARGE before any
    chunk is read (every read decompresses whole chunks).
    """
    from io_core.formats.zarr.tree import open_root
    from io_core.links import active_sandbox

    limits = limits or current()
    with open_root(path, active_sandbox(), limits) as node:
        if key and key.strip("/"):
            if not isinstance(node, zarr.Group):
                raise KeyNotFoundError(f"{path.name!r} is a single array; it has no member {key!r}")
            if any(part in (".", "..") for part in key.strip("/").split("/")):
                raise KeyNotFoundError(f"no array or group {key!r} in the store",
                                       hint="Keys are paths inside the store, without '.' or '..' segments.")
            try:
                node = node[key.strip("/")]
            except (KeyError, ValueError):
                from io_core.formats.zarr.tree import members_of

                raise KeyNotFoundError(f"no array or group {key!r} in the store").with_paths(
                    key, members_of(node)) from None
        if isinstance(node, zarr.Array):
            _check_chunk_size(node, limits)
        yield node


def _codecs(arr: zarr.Array) -> str | None:
    names = [type(c).__name__ for c in (*arr.filters, *arr.compressors)]
    return "+".join(names) or None


def _child(group: zarr.Group, name: str) -> ChildInfo:
    node = group[name]
    if isinstance(node, zarr.Group):
        return ChildInfo(name=name, kind="group", n_children=sum(1 for _ in node))
    return ChildInfo(name=name, kind="array", shape=list(node.shape), dtype=np.dtype(node.dtype).str)


def _load(node: Any, limits: Limits) -> Any:
    """Everything below ``node``; each array's chunk size checked before it is read."""
    if isinstance(node, zarr.Group):
        return {name: _load(node[name], limits) for name in node}
    _check_chunk_size(node, limits)
    return node[...]


class _LastChunk:
    """A Zarr array whose reads inside one chunk decode that chunk once: a summary's head and its sample.

    Every Zarr read decompresses whole chunks, and a summary reads the head (the first values) and
    then an evenly spread sample by whole chunks, whose first pick is the first chunk: two decodes
    of the same (up to ``max_member_bytes``) chunk. Here a read that lies inside one chunk keeps that
    decoded chunk (one at a time, read-only) and later reads inside it are sliced from memory.
    Anything else (a read across chunks, a shape or dtype question) goes to the array itself.
    """

    def __init__(self, arr: zarr.Array) -> None:
        self.arr = arr
        self.shape, self.dtype, self.chunks = arr.shape, arr.dtype, arr.chunks
        self._corner: tuple[int, ...] | None = None
        self._block: np.ndarray | None = None

    def _chunk_of(self, key: Any) -> tuple[tuple[int, ...], tuple] | None:
        """(the chunk's first index per axis, ``key`` relative to it), when ``key`` lies inside one chunk."""
        key = key if isinstance(key, tuple) else (key,)
        if len(key) > len(self.shape) or any(k is Ellipsis for k in key):
            return None
        key = key + (slice(None),) * (len(self.shape) - len(key))
        corner, inner = [], []
        for k, n, c in zip(key, self.shape, self.chunks, strict=True):
            if isinstance(k, (int, np.integer)):
                start = int(k) + n if k < 0 else int(k)
                stop, step, single = start + 1, 1, True
            elif isinstance(k, slice):
                start, stop, step = k.indices(n)
                single = False
            else:
                return None
            if step != 1 or stop <= start or not 0 <= start < n:
                return None
            first = start // c * c
            if stop > first + c:
                return None
            corner.append(first)
            inner.append(start - first if single else slice(start - first, stop - first))
        return tuple(corner), tuple(inner)

    def __getitem__(self, key: Any) -> Any:
        found = self._chunk_of(key)
        if found is None:
            return self.arr[key]
        corner, inner = found
        if corner != self._corner:
            region = tuple(slice(f, min(f + c, n)) for f, c, n in zip(corner, self.chunks, self.shape, strict=True))
            block = np.asarray(self.arr[region])
            block.flags.writeable = False
            self._corner, self._block = corner, block
        return self._block[inner]


def _check_chunk_size(arr: zarr.Array, limits: Limits) -> None:
    check_chunks(0, math.prod(arr.chunks) * np.dtype(arr.dtype).itemsize, limits, "")


class ZarrFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        with open_node(path, opts.key, opts.limits) as node:
            return _load(node, opts.limits)

    def summarize(self, path: Path, opts: ReadOptions) -> TreeSummary | ArraySummary:
        with open_node(path, opts.key, opts.limits) as node:
            if isinstance(node, zarr.Array):
                note = f"zarr v{node.metadata.zarr_format}" + (f", shards {list(node.shards)}" if node.shards else "")
                return array_summary(_LastChunk(node), opts, chunks=node.chunks, compression=_codecs(node), note=note)
            keys = list(node.keys())  # one listing of the store, not one per use
            names = keys[: opts.preview_items]
            attrs = {k: encode_value(v, opts.preview_chars // 10)
                     for k, v in itertools.islice(node.attrs.items(), opts.preview_items)}
            return TreeSummary(
                path="/" + (opts.key or "").strip("/"),
                n_children=len(keys),
                children=[_child(node, n) for n in names],
                truncated=len(names) < len(keys),
                attrs=attrs,
            )

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[zarr.Array]:
        with open_node(path, opts.key, opts.limits) as node:
            if not isinstance(node, zarr.Array):
                raise KeyNotFoundError(
                    f"{opts.key or '/'!r} is a group, not an array", hint=f"Members: {list(itertools.islice(node.keys(), 50))}."
                )
            yield node

    def sniff_folder(self, path: Path) -> bool:
        from io_core.format_spec import is_zarr_dir

        return is_zarr_dir(path)

    def explore(self, path: Path, opts: ReadOptions, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        from io_core.formats.zarr import tree as zarrtree

        node, zarr_format, consolidated = zarrtree.explore(path, group or "", sandbox=active_sandbox(), depth=depth,
                                                           offset=offset, limit=limit, attrs=attrs)
        return Explored(node, {"zarr_format": zarr_format, "consolidated": consolidated})

    def key_exists(self, path: Path, opts: ReadOptions, key: str) -> tuple[bool | None, str | None, str | None]:
        from io_core.formats.zarr import tree as zarrtree

        exists, kind = zarrtree.key_exists(path, key or "", sandbox=active_sandbox())
        return exists, kind, None


ZARR = ZarrFormat()
