"""NetCDF: NetCDF-4 (HDF5-based) through h5netcdf, classic NetCDF-3 read through scipy.io.

Loading gives ``{variable: ndarray}`` with nested dicts for NetCDF-4 groups (dimensions
and attributes are not part of it; the summary shows them). ``key`` picks a variable
(``group/var`` inside groups). Summaries list variables with their dimension names,
shapes, dtypes and attributes, read from the headers; ``read_slice`` reads a selection
of one variable. Saving writes NetCDF-4 from ``{name: array | dict}``: each variable
gets its own dimensions named ``<variable>_dim<axis>`` (coordinate variables and shared
dimensions need a library that knows the data model, such as xarray).

NetCDF-4 is HDF5: files are opened by ``io_core.formats.hdf5.guard`` (external links, external raw
storage and virtual sources checked against the roots before h5netcdf sees the file) and
every read of a variable is bounded by the chunks it touches (``io_core.formats.hdf5.bounds``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from io_core.coerce import as_array_tree
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.formats.hdf5 import guard as h5guard
from io_core.formats.hdf5.bounds import Bounded, bounded_summary
from io_core.limits import Limits
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary, encode_value
from schemas import ChildInfo, TreeSummary

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CLASSIC_MAGIC = (b"CDF\x01", b"CDF\x02")


def _kind(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(HDF5_SIGNATURE):
        return "nc4"
    if head[:4] in CLASSIC_MAGIC:
        return "nc3"
    if head[:4] == b"CDF\x05":
        raise CorruptFileError(f"{path.name!r} is CDF-5 (64-bit data) NetCDF, which is not supported",
                               hint="Convert it with nccopy -k nc4 first.")
    if head.startswith((b"\x89HDF", b"CDF")):
        raise CorruptFileError(f"{path.name!r} has a damaged NetCDF header")
    # HDF5 may sit after a user block (512, 1024, ... bytes)
    with open(path, "rb") as fh:
        offset = 512
        while offset < min(path.stat().st_size, 1 << 20):
            fh.seek(offset)
            if fh.read(8) == HDF5_SIGNATURE:
                return "nc4"
            offset *= 2
    raise CorruptFileError(f"{path.name!r} is not NetCDF (neither an HDF5 nor a CDF header)")


@contextmanager
def _open4(path: Path) -> Iterator[Any]:
    """h5netcdf over a file the guard has checked (h5netcdf lists every group and may cross links)."""
    import h5netcdf

    with h5guard.reading(path) as h5, h5netcdf.File(h5, "r", phony_dims="sort") as f:
        yield f


@contextmanager
def _open3(path: Path, mmap: bool = False) -> Iterator[Any]:
    """NetCDF-3 through scipy; with ``mmap`` a variable is read only where it is sampled.

    Callers keep no reference to a mapped variable past the block (scipy cannot unmap then).
    """
    import scipy.io

    f = scipy.io.netcdf_file(str(path), "r", mmap=mmap)
    try:
        yield f
    finally:
        f.variables.clear()  # drop the views of the map so that close() can unmap it
        f.close()


def _as_text(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _values(var: Any, limits: Limits | None = None) -> np.ndarray:
    """A variable's data in memory. NetCDF-4 data is read from its HDF5 dataset directly
    (h5netcdf would resolve every dimension scale first, which is slow in large files)."""
    source = getattr(var, "_h5ds", None)
    source = var if source is None else Bounded(source, limits, name=repr(var.name))
    data = np.asarray(source[()])
    attrs = getattr(var, "attrs", None)
    if attrs is not None and attrs.get("dtype") == "bool" and data.dtype.kind in "iu":
        return data.astype(bool)
    if data.dtype.kind == "O":
        flat = [_as_text(v) for v in data.reshape(-1)]
        if all(isinstance(v, str) for v in flat):
            return np.array(flat, dtype=str).reshape(data.shape)
    if data.dtype.kind == "S" and not isinstance(var, np.ndarray) and hasattr(var, "_h5ds"):
        return np.char.decode(data, "utf-8")
    return np.array(data)  # a copy: memory maps are closed with the file


def _attrs(attrs: Any, n: int, chars: int) -> dict[str, Any]:
    out = {}
    for name in itertools.islice(attrs, n):
        try:
            out[str(name)] = encode_value(_as_text(attrs[name]), chars)
        except (OSError, TypeError, ValueError) as exc:
            out[str(name)] = f"<unreadable: {type(exc).__name__}>"
    return out


def _lookup4(f: Any, key: str) -> Any:
    node = f
    parts = key.strip("/").split("/")
    for i, part in enumerate(parts):
        if part in getattr(node, "groups", {}):
            node = node.groups[part]
        elif part in getattr(node, "variables", {}) and i == len(parts) - 1:
            return node.variables[part]
        else:
            raise KeyNotFoundError(f"no variable or group {key!r} (stopped at {part!r})").with_candidates(
                part, [*getattr(node, "groups", {}), *getattr(node, "variables", {})], prefix="/".join(parts[:i]) or None)
    return node


def _load_group4(group: Any, limits: Limits) -> dict[str, Any]:
    out: dict[str, Any] = {name: _values(var, limits) for name, var in group.variables.items()}
    for name, sub in group.groups.items():
        out[name] = _load_group4(sub, limits)
    return out


def _dims_note(var: Any, sizes: dict[str, int], attrs: dict[str, Any]) -> str:
    dims = ", ".join(f"{d}={sizes.get(d, '?')}" for d in var.dimensions)
    text = f"dims ({dims})"
    if attrs:
        text += "; attrs " + ", ".join(f"{k}={v!r}" for k, v in attrs.items())
    return text


class NetcdfFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        if _kind(path) == "nc3":
            with _open3(path) as f:
                if opts.key:
                    if opts.key not in f.variables:
                        raise KeyNotFoundError(f"no variable {opts.key!r}; variables: {list(f.variables)[:50]}"
                                               ).with_candidates(opts.key, f.variables)
                    return _values(f.variables[opts.key])
                return {name: _values(var) for name, var in f.variables.items()}
        with _open4(path) as f:
            obj = _lookup4(f, opts.key) if opts.key else f
            if hasattr(obj, "dimensions") and not hasattr(obj, "groups"):
                return _values(obj, opts.limits)
            return _load_group4(obj, opts.limits)

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        chars = opts.preview_chars // 10
        if _kind(path) == "nc3":
            with _open3(path, mmap=True) as f:
                return self._summarize3(f, opts)
        with _open4(path) as f:
            node = _lookup4(f, opts.key) if opts.key else f
            sizes = _all_sizes(node, opts.preview_items)
            if not hasattr(node, "groups"):
                var = node
                note = _dims_note(var, sizes, _attrs(var.attrs, opts.preview_items, chars))
                ds = var._h5ds
                if _in_memory(var):
                    return array_summary(_values(var, opts.limits), opts, note=note)
                return bounded_summary(Bounded(ds, opts.limits, name=repr(var.name)), opts,
                                       compression=ds.compression, note=note)
            return self._tree(node.name, node.variables, node.groups, sizes, node.attrs, opts, version="NetCDF-4")

    def _summarize3(self, f: Any, opts: ReadOptions) -> Any:
        sizes = {name: int(n if n is not None else f._recs) for name, n in f.dimensions.items()}
        if opts.key:
            if opts.key not in f.variables:
                raise KeyNotFoundError(f"no variable {opts.key!r}; variables: {list(f.variables)[:50]}"
                                       ).with_candidates(opts.key, f.variables)
            var = f.variables[opts.key]
            note = _dims_note(var, sizes, _attrs(var._attributes, opts.preview_items, opts.preview_chars // 10))
            return array_summary(var.data, opts, note=note)
        return self._tree("/", f.variables, {}, sizes, f._attributes, opts, version="NetCDF-3 classic")

    @staticmethod
    def _tree(name: str, variables: Any, groups: Any, sizes: dict[str, int], attrs: Any, opts: ReadOptions,
              version: str) -> TreeSummary:
        names = list(variables) + list(groups)
        shown = names[: opts.preview_items]
        children = []
        for n in shown:
            if n in groups:
                children.append(ChildInfo(name=n, kind="group", n_children=len(groups[n].variables) + len(groups[n].groups)))
            else:
                var = variables[n]
                shape = getattr(var, "_h5ds", var).shape  # the stored shape, without resolving dimensions
                children.append(ChildInfo(name=n, kind="array", shape=[int(s) for s in shape], dtype=_dtype_str(var)))
        n = opts.preview_items
        return TreeSummary(
            path=name,
            n_children=len(names),
            children=children,
            truncated=len(names) > len(shown),
            attrs={
                "format": version,
                "dimensions": dict(itertools.islice(sizes.items(), n)),
                "variable_dims": {v: list(variables[v].dimensions) for v in shown if v in variables},
                "attributes": _attrs(attrs, n, opts.preview_chars // 10),
            },
        )

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        """One variable by ``key``, read lazily by the caller's selection."""
        if _kind(path) == "nc3":
            with _open3(path) as f:
                if not opts.key or opts.key not in f.variables:
                    raise KeyNotFoundError(f"pass key= with a variable name; variables: {list(f.variables)[:50]}")
                yield f.variables[opts.key].data
            return
        with _open4(path) as f:
            if not opts.key:
                raise KeyNotFoundError("pass key= with a variable name", hint=f"Variables: {list(f.variables)[:50]}.")
            var = _lookup4(f, opts.key)
            if hasattr(var, "groups"):
                raise KeyNotFoundError(f"{opts.key!r} is a group, not a variable", hint="Use load_summary to list it.")
            yield _values(var, opts.limits) if _in_memory(var) else Bounded(var._h5ds, opts.limits, name=repr(var.name))

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        import h5netcdf

        if isinstance(data, np.ndarray) or not isinstance(data, dict):
            data = {"data": data}
        tree = as_array_tree(data, opts.dtype, allow_pickle=False)
        with h5guard.create(path, track_order=True) as h5, h5netcdf.File(h5, "w") as f:
            _write_group(f, tree)


def _dtype_str(var: Any) -> str:
    ds = getattr(var, "_h5ds", None)
    if ds is None:  # scipy's netcdf_variable
        return var.data.dtype.str
    if ds.dtype.kind == "O" or h5_string(ds):
        return "str"
    if var.attrs.get("dtype") == "bool":
        return np.dtype(bool).str
    return ds.dtype.str


def _in_memory(var: Any) -> bool:
    """Variables decoded on read (strings, xarray-style booleans) rather than sliced lazily."""
    ds = var._h5ds
    return ds.dtype.kind == "O" or h5_string(ds) or var.attrs.get("dtype") == "bool"


def h5_string(ds: Any) -> bool:
    import h5py

    return h5py.check_string_dtype(ds.dtype) is not None


def _all_sizes(node: Any, limit: int) -> dict[str, int]:
    """Sizes of the dimensions a group or variable sees (its own and its parents'), at most
    ``limit`` per group plus those of the variables shown: sizing a dimension is not free."""
    group = node if hasattr(node, "groups") else node._parent
    wanted = set(node.dimensions) if not hasattr(node, "groups") else {
        d for v in itertools.islice(node.variables.values(), limit) for d in v.dimensions}
    sizes: dict[str, int] = {}
    while group is not None:
        for i, (name, dim) in enumerate(group.dimensions.items()):
            if name not in sizes and (i < limit or name in wanted):
                sizes[name] = int(dim.size)
        group = group.parent if group.name != "/" else None
    return sizes


def _write_group(group: Any, tree: dict[str, Any]) -> None:
    import h5py

    for name, value in tree.items():
        if isinstance(value, dict):
            _write_group(group.create_group(name), value)
            continue
        dims = tuple(f"{name}_dim{axis}" for axis in range(value.ndim))
        for dim, size in zip(dims, value.shape, strict=True):
            if dim in group.dimensions:
                raise InvalidDataError(f"dimension name {dim!r} is taken; rename variable {name!r}")
            group.dimensions[dim] = size
        if value.dtype.kind == "U":
            var = group.create_variable(name, dims, dtype=h5py.string_dtype("utf-8"))
            if value.size:
                var[...] = value.astype(object)
        elif value.dtype.kind == "b":  # NetCDF has no booleans: int8 marked the way xarray marks them
            var = group.create_variable(name, dims, data=value.astype(np.int8))
            var.attrs["dtype"] = "bool"
        elif value.dtype.kind == "c":
            raise InvalidDataError(f"{name!r}: NetCDF has no complex type", hint="Save real and imaginary parts.")
        else:
            group.create_variable(name, dims, data=value)


NETCDF = NetcdfFormat()
