"""HDF5 through h5py: files open read-only without locking; nothing outside the roots is followed.

Loading gives a dict of arrays with nested dicts for groups (attributes are not part
of it). Variable-length strings come back as NumPy unicode arrays. Paths are walked one
link at a time (``io_core.formats.hdf5.walk``), so HDF5 itself never crosses an external
link: one that leads to a file inside the roots is followed into that file, pinned (the
file checked is the file read), as NeXus/Eiger master files point at their data files.
A virtual dataset whose sources are inside the roots is read once every place libhdf5 may
look for them is checked (relative names pinned next to the view, ``guard.check_object``).
A link or source outside the roots is PATH_OUTSIDE_ROOT; external raw storage is never read
(libhdf5 opens it by name from the current directory). Group summaries list external links
as links. Files are opened (and written) by ``io_core.formats.hdf5.guard``, the one HDF5
opener; reading fails fast on truncated, corrupt or busy files. Every read of values is
bounded by the chunks it makes libhdf5 touch or walk (``io_core.formats.hdf5.bounds``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from io_core.coerce import as_array_tree
from io_core.errors import (
    CorruptFileError,
    IOCoreError,
    KeyNotFoundError,
    PathOutsideRootError,
    UnsupportedOperationError,
)
from io_core.formats.base import Explored, Format
from io_core.formats.common import require_streamable, slabs
from io_core.formats.hdf5 import guard as h5guard
from io_core.formats.hdf5 import tree, walk
from io_core.formats.hdf5.bounds import Bounded, bounded_summary
from io_core.formats.hdf5.describe import missing_filters
from io_core.limits import Limits
from io_core.links import active_sandbox, outside_error
from io_core.options import ReadOptions, WriteOptions
from io_core.remote import is_remote
from io_core.summary import encode_value
from schemas import ArraySummary, ChildInfo, TreeSummary

MAX_DEPTH = 64  # group levels one load descends (external links can chain files into deep trees)


def _check_filters(ds: h5py.Dataset) -> None:
    missing = missing_filters(ds) if ds.id.get_create_plist().get_nfilters() else []
    if missing:
        raise CorruptFileError(
            f"dataset {ds.name!r} is compressed with filters not available here: {', '.join(missing)}",
            hint="pip install hdf5plugin (blosc, zstd, lz4, bitshuffle, ...) and retry.",
        )


def _read_dataset(ds: h5py.Dataset, file: Path, limits: Limits) -> np.ndarray:
    walk.check_data_elsewhere(ds, file, active_sandbox())
    _check_filters(ds)
    bounded = Bounded(ds, limits)
    if h5py.check_string_dtype(ds.dtype) is not None:
        bounded.check(())
        return np.array(ds.asstr()[()], dtype=str)
    value = bounded[()]
    return np.asarray(value) if isinstance(value, np.generic) else value  # a 0-d dataset stays an array


def _load_group(s: walk.Session, group: h5py.Group, file: Path, limits: Limits, parents: tuple = ()) -> dict[str, Any]:
    if len(parents) >= MAX_DEPTH:
        raise UnsupportedOperationError(f"{group.name} is nested more than {MAX_DEPTH} groups deep; not loaded whole",
                                        hint="Pass key= for a member further down.")
    out: dict[str, Any] = {}
    for name in group:
        obj, where = walk.child(s, group, file, name)  # external links followed only into the roots
        if isinstance(obj, h5py.Group):
            if obj == group or obj in parents:
                raise UnsupportedOperationError(
                    f"{group.name.rstrip('/')}/{name} links back to a group that contains it; the file cannot load as a tree",
                    hint="Pass key= for a member below the loop.",
                )
            out[name] = _load_group(s, obj, where, limits, (*parents, group))
        elif isinstance(obj, h5py.Dataset):
            out[name] = _read_dataset(obj, where, limits)
    return out


def _target(s: walk.Session, path: Path, key: str | None) -> tuple[Any, Path]:
    """The object at ``key`` (the root without one) and the file it lives in."""
    key = "/" + (key or "").strip("/")
    if key == "/":
        return s.files[path]["/"], path
    return walk.lookup(s, path, key)


def _compression(ds: h5py.Dataset) -> str | None:
    parts = [p for p in (ds.compression, "shuffle" if ds.shuffle else None, "fletcher32" if ds.fletcher32 else None) if p]
    return "+".join(parts) or None


def _child(s: walk.Session, group: h5py.Group, file: Path, name: str) -> ChildInfo:
    link = group.get(name, getlink=True)  # reads the link only; HDF5 does not follow it
    if isinstance(link, h5py.ExternalLink):
        return ChildInfo(name=name, kind="value", link=f"external:{link.filename}:{link.path}")
    try:
        obj, where = walk.child(s, group, file, name)
    except PathOutsideRootError:
        return ChildInfo(name=name, kind="value", link=f"soft:{link.path} (through a link out of the roots; not followed)")
    except UnsupportedOperationError:
        return ChildInfo(name=name, kind="value", link=f"soft:{link.path} (through an external link; not followed)")
    except KeyNotFoundError:
        obj = None
    if obj is None:
        target = link.path if isinstance(link, h5py.SoftLink) else "?"
        return ChildInfo(name=name, kind="value", link=f"dangling:{target}")
    soft = f"soft:{link.path}" if isinstance(link, h5py.SoftLink) else None
    if isinstance(obj, h5py.Group):
        return ChildInfo(name=name, kind="group", n_children=len(obj), link=soft)
    if isinstance(obj, h5py.Dataset):
        if not walk.extent_safe(obj, where, s.sandbox):  # HDF5 would open its sources for the shape
            return ChildInfo(name=name, kind="array", dtype=obj.dtype.str, link=soft)
        return ChildInfo(name=name, kind="array", shape=list(obj.shape or ()), dtype=obj.dtype.str, link=soft)
    return ChildInfo(name=name, kind="value", dtype=type(obj).__name__, link=soft)


def _attrs(obj: Any, opts: ReadOptions) -> dict[str, Any]:
    out = {}
    for name in itertools.islice(obj.attrs, opts.preview_items):
        try:
            out[name] = encode_value(obj.attrs[name], opts.preview_chars // 10)
        except (OSError, TypeError, ValueError) as exc:  # unreadable attribute types
            out[name] = f"<unreadable: {type(exc).__name__}>"
    return out


def _dataset_summary(ds: h5py.Dataset, file: Path, opts: ReadOptions) -> ArraySummary:
    """Shape, dtype, preview and stats; values kept in other files are read when they may be (else a note)."""
    sandbox = active_sandbox()
    note = None
    if walk.stores_elsewhere(ds.id):
        outside = walk.outside_data_file(ds, file, sandbox)
        if outside is not None:
            raise outside_error(f"dataset {ds.name!r} stores its values in a file that", outside)
        if not walk.extent_safe(ds, file, sandbox):
            raise UnsupportedOperationError(f"dataset {ds.name!r} is virtual with sources that grow; its extent is "
                                            "not read", hint="explore_h5 shows where its sources are.")
        try:
            walk.check_data_elsewhere(ds, file, sandbox)
            note = "virtual: values read from source files inside the roots"
        except IOCoreError as exc:  # external raw storage, a source behind a link out, no sandbox: not read
            note = f"data stored in other files (virtual or external); values not read ({exc.code})"
    summary = bounded_summary(Bounded(ds, opts.limits), opts, compression=_compression(ds), note=note,
                              read_values=note is None or note.startswith("virtual:"))
    return summary.model_copy(update={"dtype": ds.dtype.str}) if ds.dtype.names is None else summary


class Hdf5Format(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        with walk.reading(path, active_sandbox()) as s:
            obj, file = _target(s, path, opts.key)
            if isinstance(obj, h5py.Group):
                return _load_group(s, obj, file, opts.limits)
            return _read_dataset(obj, file, opts.limits)

    def summarize(self, path: Path, opts: ReadOptions) -> TreeSummary | ArraySummary:
        with walk.reading(path, active_sandbox()) as s:
            obj, file = _target(s, path, opts.key)
            if isinstance(obj, h5py.Dataset):
                return _dataset_summary(obj, file, opts)
            names = list(itertools.islice(obj, opts.preview_items))
            return TreeSummary(
                path=obj.name,
                n_children=len(obj),
                children=[_child(s, obj, file, n) for n in names],
                truncated=len(obj) > len(names),
                attrs=_attrs(obj, opts),
            )

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[h5py.Dataset]:
        """The dataset at ``key``, read lazily by whatever selection the caller makes (files it is reached
        through stay open until the caller is done)."""
        with walk.reading(path, active_sandbox()) as s:
            if not opts.key:
                raise KeyNotFoundError(
                    "pass key= with a dataset path", hint=f"Top-level members: {list(itertools.islice(s.files[path], 50))}."
                )
            obj, file = _target(s, path, opts.key)
            if not isinstance(obj, h5py.Dataset):
                raise KeyNotFoundError(f"{opts.key!r} is a group, not a dataset", hint="Use load_summary to list it.")
            walk.check_data_elsewhere(obj, file, active_sandbox(), opts.key)
            _check_filters(obj)
            if is_remote(file):  # a remote file: the chunks a read touches are fetched ahead, merged
                from io_core.remote.hdf5 import Prefetching

                obj = Prefetching(obj, file)
            yield Bounded(obj, opts.limits, name=repr(opts.key))

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        if isinstance(data, np.ndarray) or not isinstance(data, dict):
            data = {"data": data}
        tree = as_array_tree(data, opts.dtype, allow_pickle=False)
        with h5guard.create(path, track_order=True) as f:
            _write_group(f, tree)

    def explore(self, path: Path, opts: ReadOptions, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        """The bounded tree of io_core.formats.hdf5.tree: links to other files shown, followed only inside the roots."""
        node, swmr, cut = tree.explore(path, group or "/", sandbox=active_sandbox(), depth=depth, offset=offset,
                                         limit=limit, attrs=attrs, max_bytes=opts.max_bytes)
        return Explored(node, {"swmr": swmr}, truncated=cut)

    def key_exists(self, path: Path, opts: ReadOptions, key: str) -> tuple[bool | None, str | None, str | None]:
        return tree.key_exists(path, key or "/", sandbox=active_sandbox())

    def write_array(self, array: Any, path: Path, opts: WriteOptions, name: str) -> None:
        """One dataset ``name``, written slab by slab (memory bounded by one slab)."""
        require_streamable(array, strings=False)
        with h5guard.create(path, track_order=True) as f:
            ds = f.create_dataset(name, shape=tuple(array.shape), dtype=np.dtype(array.dtype))
            for part, values in slabs(array):
                ds[part] = values


def _write_group(group: h5py.Group, members: dict[str, Any]) -> None:
    for name, value in members.items():
        if isinstance(value, dict):
            _write_group(group.create_group(name, track_order=True), value)
        elif value.dtype.kind == "U":
            group.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype("utf-8"))
        else:
            group.create_dataset(name, data=value)


HDF5 = Hdf5Format()
