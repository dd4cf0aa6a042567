"""HDF5 through h5py: files open read-only without locking; nothing outside a file is followed.

Loading gives a dict of arrays with nested dicts for groups (attributes are not part
of it). Variable-length strings come back as NumPy unicode arrays. A full load refuses
external links, external raw storage and virtual datasets rather than reading other
files behind the sandbox's back; summaries show them as links without following them.
Paths are walked one link at a time (``io_core.formats.hdf5.tree``), so HDF5 itself never crosses an
external link, and a link or data file outside the roots is PATH_OUTSIDE_ROOT, not just
unsupported. Files are opened (and written) by ``io_core.formats.hdf5.guard``, the one HDF5 opener;
reading fails fast on truncated, corrupt or busy files. Every read of values is bounded by
the chunks it makes libhdf5 touch or walk (``io_core.formats.hdf5.bounds``), checked before reading.
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
from io_core.errors import CorruptFileError, KeyNotFoundError, PathOutsideRootError, UnsupportedOperationError
from io_core.formats.base import Explored, Format
from io_core.formats.common import require_streamable, slabs
from io_core.formats.hdf5 import guard as h5guard
from io_core.formats.hdf5 import tree, walk
from io_core.formats.hdf5.bounds import Bounded, bounded_summary
from io_core.formats.hdf5.describe import missing_filters
from io_core.limits import Limits
from io_core.links import active_sandbox, outside_error
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import encode_value
from schemas import ArraySummary, ChildInfo, TreeSummary


def open_read(path: Path) -> h5py.File:
    """Read-only, no locking; SWMR mode when a SWMR writer has it; fails fast (walk.open_h5)."""
    return walk.open_h5(path)[0]


def _check_filters(ds: h5py.Dataset) -> None:
    missing = missing_filters(ds) if ds.id.get_create_plist().get_nfilters() else []
    if missing:
        raise CorruptFileError(
            f"dataset {ds.name!r} is compressed with filters not available here: {', '.join(missing)}",
            hint="pip install hdf5plugin (blosc, zstd, lz4, bitshuffle, ...) and retry.",
        )


def _read_dataset(ds: h5py.Dataset, path: Path, limits: Limits) -> np.ndarray:
    walk.refuse_data_elsewhere(ds, path, active_sandbox())
    _check_filters(ds)
    bounded = Bounded(ds, limits)
    if h5py.check_string_dtype(ds.dtype) is not None:
        bounded.check(())
        return np.array(ds.asstr()[()], dtype=str)
    value = bounded[()]
    return np.asarray(value) if isinstance(value, np.generic) else value  # a 0-d dataset stays an array


def _load_group(group: h5py.Group, path: Path, limits: Limits, parents: tuple = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sandbox = active_sandbox()
    for name in group:
        obj = walk.child_for_read(group, path, name, sandbox)  # never crosses an external link
        if isinstance(obj, h5py.Group):
            if obj == group or obj in parents:
                raise UnsupportedOperationError(
                    f"{group.name.rstrip('/')}/{name} links back to a group that contains it; the file cannot load as a tree",
                    hint="Pass key= for a member below the loop.",
                )
            out[name] = _load_group(obj, path, limits, (*parents, group))
        elif isinstance(obj, h5py.Dataset):
            out[name] = _read_dataset(obj, path, limits)
    return out


def _lookup(f: h5py.File, key: str, path: Path) -> Any:
    """Soft links are followed inside the file; external links never (PATH_OUTSIDE_ROOT when they lead out)."""
    key = "/" + key.strip("/")
    if key == "/":
        return f
    return walk.lookup_for_read(f, path, key, active_sandbox())


def _compression(ds: h5py.Dataset) -> str | None:
    parts = [p for p in (ds.compression, "shuffle" if ds.shuffle else None, "fletcher32" if ds.fletcher32 else None) if p]
    return "+".join(parts) or None


def _child(group: h5py.Group, name: str, path: Path) -> ChildInfo:
    link = group.get(name, getlink=True)  # reads the link only; HDF5 does not follow it
    if isinstance(link, h5py.ExternalLink):
        return ChildInfo(name=name, kind="value", link=f"external:{link.filename}:{link.path}")
    try:
        obj = walk.child_for_read(group, path, name, active_sandbox())
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
        if not walk.extent_safe(obj, path, active_sandbox()):  # HDF5 would open its sources for the shape
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


class Hdf5Format(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        with open_read(path) as f:
            obj = _lookup(f, opts.key, path) if opts.key else f
            if isinstance(obj, h5py.Group):
                return _load_group(obj, path, opts.limits)
            return _read_dataset(obj, path, opts.limits)

    def summarize(self, path: Path, opts: ReadOptions) -> TreeSummary | ArraySummary:
        with open_read(path) as f:
            obj = _lookup(f, opts.key, path) if opts.key else f
            if isinstance(obj, h5py.Dataset):
                outside = walk.outside_data_file(obj, path, active_sandbox())
                if outside is not None:
                    raise outside_error(f"dataset {obj.name!r} stores its values in a file that", outside)
                elsewhere = walk.stores_elsewhere(obj.id)
                if elsewhere and not walk.extent_safe(obj, path, active_sandbox()):
                    raise UnsupportedOperationError(
                        f"dataset {obj.name!r} is virtual with sources that grow; its extent is not read",
                        hint="explore_h5 shows where its sources are.")
                note = "data stored in other files (virtual or external); values not read" if elsewhere else None
                summary = bounded_summary(Bounded(obj, opts.limits), opts, compression=_compression(obj), note=note,
                                          read_values=note is None)
                return summary.model_copy(update={"dtype": obj.dtype.str}) if obj.dtype.names is None else summary
            names = list(itertools.islice(obj, opts.preview_items))
            return TreeSummary(
                path=obj.name,
                n_children=len(obj),
                children=[_child(obj, n, path) for n in names],
                truncated=len(obj) > len(names),
                attrs=_attrs(obj, opts),
            )

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[h5py.Dataset]:
        """The dataset at ``key``, read lazily by whatever selection the caller makes."""
        with open_read(path) as f:
            if not opts.key:
                raise KeyNotFoundError(
                    "pass key= with a dataset path", hint=f"Top-level members: {list(itertools.islice(f, 50))}."
                )
            obj = _lookup(f, opts.key, path)
            if not isinstance(obj, h5py.Dataset):
                raise KeyNotFoundError(f"{opts.key!r} is a group, not a dataset", hint="Use load_summary to list it.")
            walk.refuse_data_elsewhere(obj, path, active_sandbox(), opts.key)
            _check_filters(obj)
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
