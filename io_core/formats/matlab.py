"""MATLAB .mat files: v4/v5 (and v6/v7) through scipy.io, v7.3 (HDF5) through h5py.

MATLAB has no 1-D arrays: a 1-D array is saved as a 1×N row and loads back as one.
Loading gives ``{name: value}``: numeric, logical (bool) and char arrays as NumPy
arrays, structs as dicts, struct arrays and cell arrays as lists. Saving takes
``{name: array | dict}`` (dicts become structs); names must be valid MATLAB
identifiers. Summaries list variables from the headers only (``scipy.io.whosmat``,
or the HDF5 tree for v7.3); ``key`` picks a variable (``a/b`` for a struct field).
v7.3 arrays are stored transposed (column-major); they are read back in MATLAB's
shape and sliced without reading the whole variable.

A v7.3 file is HDF5 (found by its signature at byte 512, whatever the text header says):
it is opened by ``io_core.formats.hdf5.guard`` (links, external storage and virtual sources checked
against the roots first), objects reached through references are checked before they are
read, and every read is bounded by the chunks it touches (``io_core.formats.hdf5.bounds``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from io_core.coerce import as_array_tree
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.base import Format
from io_core.formats.hdf5 import guard as h5guard
from io_core.formats.hdf5.bounds import Bounded, bounded_summary
from io_core.limits import Limits
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary, value_summary
from schemas import ChildInfo, TreeSummary

HEADER_BYTES = 128
V73_MARKER = b"MATLAB 7.3 MAT-file"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MI_MATRIX, MI_COMPRESSED = 14, 15
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")


def _version(path: Path) -> str:
    """'v73' (HDF5 at byte 512), 'v5' or 'v4' from the header; anything else is CORRUPT_FILE.

    v7.3 follows the HDF5 signature, not the header text (MATLAB writes "MATLAB 7.0 MAT-file ...
    HDF5 schema" in some v7.3 files, and the bytes are what libhdf5 will read).
    """
    with open(path, "rb") as fh:
        head = fh.read(HEADER_BYTES)
        if len(head) < 20:
            raise CorruptFileError(f"{path.name!r} is too short to be a MAT-file")
        fh.seek(512)
        if fh.read(8) == HDF5_SIGNATURE:  # at 0 it is plain HDF5 (or NetCDF-4), not a MAT-file
            return "v73"
        if head.startswith(V73_MARKER):
            raise CorruptFileError(f"{path.name!r} says MAT 7.3 but holds no HDF5 data at byte 512")
    if len(head) == HEADER_BYTES and head[126:128] in (b"IM", b"MI"):
        return "v5"
    if 0 in head[:4]:  # v4 starts with a small MOPT integer: M*1000 + O*100 + P*10 + T
        mopt = int.from_bytes(head[:4], "little" if head[0] else "big")
        m, o, p, t = mopt // 1000, mopt // 100 % 10, mopt // 10 % 10, mopt % 10
        if m in (0, 1) and o == 0 and p <= 5 and t <= 2 and mopt < 2000:
            return "v4"
    raise CorruptFileError(f"{path.name!r} is not a MAT-file (no v4/v5/v7.3 header)")


def _check_v5_complete(path: Path) -> None:
    """Walk the top-level data elements by their tags: a cut file is refused without decoding."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        endian = "little" if fh.read(HEADER_BYTES)[126:128] == b"IM" else "big"
        pos = HEADER_BYTES
        while pos < size:
            fh.seek(pos)
            tag = fh.read(8)
            if len(tag) < 8:
                raise CorruptFileError(f"{path.name!r} is truncated (a cut element tag at byte {pos})")
            mdtype, nbytes = int.from_bytes(tag[:4], endian), int.from_bytes(tag[4:], endian)
            if mdtype >> 16:  # a small data element: 4 bytes of data inside the tag
                pos += 8
                continue
            pos += 8 + nbytes
            if mdtype != MI_COMPRESSED:
                pos += -pos % 8
            if pos > size + 7:
                raise CorruptFileError(
                    f"{path.name!r} is truncated: a variable needs {pos - size} bytes more than the file has"
                )


# -- v4 / v5 through scipy -------------------------------------------------------------------------

def _convert(value: Any) -> Any:
    """scipy's MATLAB objects as plain Python: structs -> dicts, cells -> lists."""
    from scipy.io.matlab import mat_struct

    if isinstance(value, mat_struct):
        return {name: _convert(getattr(value, name)) for name in value._fieldnames}
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        if value.size == 1 and isinstance(value.reshape(-1)[0], mat_struct):
            return _convert(value.reshape(-1)[0])
        items = value if value.ndim > 1 and min(value.shape) > 1 else value.reshape(-1)
        return [_convert(v) for v in items]
    return value


def _loadmat(path: Path, names: list[str] | None = None) -> dict[str, Any]:
    import scipy.io

    raw = scipy.io.loadmat(str(path), squeeze_me=False, struct_as_record=False, chars_as_strings=True,
                           variable_names=names)
    classes = {name: cls for name, _, cls in scipy.io.whosmat(str(path))}
    out = {}
    for name, value in raw.items():
        if name.startswith("__"):
            continue
        value = _convert(value)
        if classes.get(name) == "logical" and isinstance(value, np.ndarray):
            value = value.astype(bool)
        out[name] = value
    return out


def _pick(tree: dict[str, Any], key: str) -> Any:
    node: Any = tree
    parts = key.strip("/").split("/")
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyNotFoundError(f"no variable or field {key!r} (stopped at {part!r})").with_candidates(
                part, node if isinstance(node, dict) else (), prefix="/".join(parts[:i]) or None)
    return node


# -- v7.3 through h5py -----------------------------------------------------------------------------

class _Transposed:
    """A v7.3 dataset seen in MATLAB's (column-major) shape; selections read only what they need."""

    def __init__(self, ds: Bounded) -> None:
        self.ds = ds
        self.shape = tuple(reversed(ds.shape))
        self.dtype = ds.dtype
        self.ndim = len(self.shape)
        self.size = ds.size
        self.chunks = tuple(reversed(ds.chunks)) if ds.chunks else None

    def whole_read_ok(self) -> bool:
        return self.ds.whole_read_ok()

    def __getitem__(self, item: Any) -> np.ndarray:
        if item == () or item is Ellipsis:
            return np.asarray(self.ds[()]).T
        items = item if isinstance(item, tuple) else (item,)
        if any(i is Ellipsis for i in items):
            at = items.index(Ellipsis)
            fill = (slice(None),) * (self.ndim - len(items) + 1)
            items = items[:at] + fill + items[at + 1 :]
        items = items + (slice(None),) * (self.ndim - len(items))
        values = np.asarray(self.ds[tuple(reversed(items))])
        return values.T


def _h5_class(obj: Any) -> str | None:
    cls = obj.attrs.get("MATLAB_class")
    return cls.decode() if isinstance(cls, bytes) else (str(cls) if cls is not None else None)


class _V73:
    """One v7.3 read: the checked file, the path it was opened as (for references) and the limits."""

    def __init__(self, f: Any, path: Path, limits: Limits) -> None:
        self.f, self.path, self.limits = f, path, limits

    def deref(self, ref: Any) -> Any:
        obj = self.f[ref]
        h5guard.check_object(obj, self.path)  # objects reached by reference were not visited by the scan
        return obj

    def read(self, obj: Any) -> np.ndarray:
        return np.asarray(Bounded(obj, self.limits)[()])


def _h5_value(r: _V73, obj: Any) -> Any:
    import h5py

    if isinstance(obj, h5py.Group):
        return {name: _h5_value(r, obj[name]) for name in obj if not name.startswith("#")}
    cls = _h5_class(obj)
    if obj.attrs.get("MATLAB_empty"):
        return np.zeros(tuple(reversed(r.read(obj).ravel().tolist())) or (0, 0))
    if cls == "cell" or obj.dtype == h5py.ref_dtype:
        refs = r.read(obj).T
        items = refs if refs.ndim > 1 and min(refs.shape) > 1 else refs.reshape(-1)
        return [_h5_value(r, r.deref(x)) if isinstance(x, h5py.Reference) else [_h5_value(r, r.deref(y)) for y in x]
                for x in items]
    value = r.read(obj).T
    if cls == "char":
        codes = value.astype(np.uint16)
        rows = ["".join(map(chr, row)) for row in np.atleast_2d(codes)]
        return np.array(rows)
    if cls == "logical":
        return value.astype(bool)
    if value.dtype.names and set(value.dtype.names) == {"real", "imag"}:
        return value["real"] + 1j * value["imag"]
    return value


def _h5_lookup(f: Any, key: str) -> Any:
    key = key.strip("/")
    if key not in f or key.startswith("#"):
        names = [n for n in f if not n.startswith("#")]
        raise KeyNotFoundError(f"no variable {key!r}; variables: {names[:50]}").with_candidates(key, names)
    return f[key]


class MatFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        version = _version(path)
        if version == "v73":
            with h5guard.reading(path) as f:
                r = _V73(f, path, opts.limits)
                if opts.key:
                    return _h5_value(r, _h5_lookup(f, opts.key))
                return {name: _h5_value(r, f[name]) for name in f if not name.startswith("#")}
        if version == "v5":
            _check_v5_complete(path)
        if opts.key:
            top = opts.key.strip("/").split("/")[0]
            tree = _loadmat(path, [top])
            return _pick(tree, opts.key)
        return _loadmat(path)

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        version = _version(path)
        if version == "v73":
            return self._summarize_v73(path, opts)
        if version == "v5":
            _check_v5_complete(path)
        import scipy.io

        if opts.key:
            value = self.load(path, opts)
            if isinstance(value, np.ndarray) and not value.dtype.hasobject:
                return array_summary(value, opts)
            return value_summary(value, opts)
        variables = scipy.io.whosmat(str(path))
        children = [
            ChildInfo(name=name, kind="group" if cls == "struct" else "array", shape=list(shape), dtype=cls)
            for name, shape, cls in variables[: opts.preview_items]
        ]
        return TreeSummary(path="/", n_children=len(variables), children=children,
                           truncated=len(variables) > len(children),
                           attrs={"mat_version": "5", "header": _header_text(path)} if version == "v5"
                           else {"mat_version": "4"})

    def _summarize_v73(self, path: Path, opts: ReadOptions) -> Any:
        import h5py

        with h5guard.reading(path) as f:
            if opts.key:
                obj = _h5_lookup(f, opts.key)
                cls = _h5_class(obj)
                if isinstance(obj, h5py.Dataset) and cls not in ("cell", "char") and obj.dtype != h5py.ref_dtype \
                        and not obj.dtype.names:
                    summary = bounded_summary(_Transposed(Bounded(obj, opts.limits)), opts)
                    note = "; ".join(n for n in (f"MATLAB class {cls}" if cls else None, summary.note) if n)
                    return summary.model_copy(update={"note": note or None})
                return value_summary(_h5_value(_V73(f, path, opts.limits), obj), opts)
            names = [n for n in f if not n.startswith("#")]
            children = []
            for name in names[: opts.preview_items]:
                obj = f[name]
                if isinstance(obj, h5py.Group):
                    children.append(ChildInfo(name=name, kind="group", n_children=len(obj), dtype=_h5_class(obj)))
                else:
                    children.append(ChildInfo(name=name, kind="array", shape=list(reversed(obj.shape)),
                                              dtype=_h5_class(obj) or obj.dtype.str))
        return TreeSummary(path="/", n_children=len(names), children=children, truncated=len(names) > len(children),
                           attrs={"mat_version": "7.3", "header": _header_text(path)})

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        """One variable by ``key``: lazily for v7.3 (HDF5), else that variable alone is read."""
        version = _version(path)
        if version == "v73":
            import h5py

            with h5guard.reading(path) as f:
                if not opts.key:
                    raise KeyNotFoundError("pass key= with a variable name",
                                           hint=f"Variables: {[n for n in f if not n.startswith('#')][:50]}.")
                obj = _h5_lookup(f, opts.key)
                if isinstance(obj, h5py.Dataset) and _h5_class(obj) not in ("cell", "char") \
                        and obj.dtype != h5py.ref_dtype and not obj.dtype.names:
                    yield _Transposed(Bounded(obj, opts.limits))
                    return
                value = _h5_value(_V73(f, path, opts.limits), obj)
        else:
            if not opts.key:
                import scipy.io

                raise KeyNotFoundError("pass key= with a variable name",
                                       hint=f"Variables: {[n for n, _, _ in scipy.io.whosmat(str(path))][:50]}.")
            value = self.load(path, opts)
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise UnsupportedOperationError(f"{opts.key!r} is a {type(value).__name__}, not an array",
                                            hint="Use load_summary with key= to look inside it.")
        yield value

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        import scipy.io

        if isinstance(data, np.ndarray) or not isinstance(data, dict):
            data = {"data": data}
        tree = as_array_tree(data, opts.dtype, allow_pickle=False)
        _check_names(tree)
        with open(path, "wb") as fh:
            scipy.io.savemat(fh, tree, format="5", oned_as="row", do_compression=True, long_field_names=True)


def _check_names(tree: dict[str, Any], where: str = "") -> None:
    for name, value in tree.items():
        if not NAME_RE.fullmatch(name):
            raise InvalidDataError(
                f"{where + name!r} is not a valid MATLAB name",
                hint="Names start with a letter, then letters, digits or '_' (at most 63 characters).",
            )
        if isinstance(value, dict):
            _check_names(value, where + name + "/")
        elif value.dtype.kind == "c" and value.dtype.itemsize > 16:
            raise InvalidDataError(f"{where + name!r}: MATLAB has no {value.dtype} type")


def _header_text(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(116)
    return head.split(b"\x00")[0].decode("latin-1").strip()[:116]


MAT = MatFormat()
