"""corelay 1.0.0's two HDF5 layouts, read and written object by object.

``HashedHDF5`` (the result store): under a caller-chosen group, one subgroup per key (32 hex
characters) holding ``data`` (a dataset, or for a tuple a group whose children are named
``f"{i:03d}"``, recursively), ``meta`` (the meta as JSON text) and ``input`` / ``output``
(JSON of the element-wise hashes, nested lists for nested tuples). Children of a tuple group
are read in numeric order, so a tuple of more than 1,000 items comes back in order ("1000"
sorts before "999" by name, which is how corelay itself reads them).

``HDF5Storage`` (the flat keyed store): a dict is a group of members, a tuple a group with
members "0", "1", ..., a scalar a 0-d dataset, a string a UTF-8 string dataset.

Our own writes add attributes only (corelay ignores them): the store group records its key
scheme (``sciio_key_scheme`` and ``sciio_key_version`` or ``sciio_pickle_protocol``) and
``sciio_store = "result_store"``, which is how a store file is recognised (a store written by
corelay itself has none: it is recognised by its layout, entries named by 32-hex keys); tuple
groups of the flat store carry ``sciio_type = "tuple"``.

Reading walks one link at a time (``Reader``): HDF5 is never asked to cross an external link,
and a dataset whose values live in another file is refused before it is read, so a hostile
store cannot make us read another file (the file is opened by ``guard.open_walked``, whose
contract this is). Values are read through the
chunk bounds (``Bounded``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5, h5d, h5g, h5l, h5o, h5z

from io_core.errors import InvalidDataError, IOCoreError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.hdf5.bounds import Bounded
from io_core.limits import Limits, current
from io_core.links import outside_error, resolve_target
from io_core.stores.results_errors import CorruptEntryError
from io_core.stores.results_keys import is_key

STORE_MARK = "result_store"
FLAT_MARK = "flat_store"
MEMBERS = ("data", "meta", "input", "output")
MAX_DEPTH = 64  # nesting of tuples (a group linking to its own ancestor must not loop)
MAX_JSON_BYTES = 16 << 20  # meta / input / output texts larger than this are refused (corrupt)
MAX_LEAVES = 64  # data leaves described per entry when browsing


MAX_HOPS = 16  # soft links followed in one lookup (HDF5's own limit)


def _open_hard(parent: h5py.Group, b: bytes) -> Any:
    oid = h5o.open(parent.id, b)
    if isinstance(oid, h5g.GroupID):
        return h5py.Group(oid)
    if isinstance(oid, h5d.DatasetID):
        return h5py.Dataset(oid)
    return None


def stores_elsewhere(ds: h5py.Dataset) -> bool:
    """A virtual or external-storage dataset: its values live in other files."""
    dcpl = ds.id.get_create_plist()
    return dcpl.get_layout() == h5d.VIRTUAL or dcpl.get_external_count() > 0


def source_files(ds: h5py.Dataset) -> list[str]:
    """The file names a virtual or external-storage dataset reads its values from (as stored)."""
    dcpl = ds.id.get_create_plist()
    names = [dcpl.get_virtual_filename(i) for i in range(dcpl.get_virtual_count())] \
        if dcpl.get_layout() == h5d.VIRTUAL else []
    names += [dcpl.get_external(i)[0] for i in range(dcpl.get_external_count())]
    return [n.decode("utf-8", "surrogateescape") if isinstance(n, bytes) else n for n in names if n not in (".", b".")]


@dataclass
class Reader:
    """One open store file, walked one link at a time: hard and soft links inside the file are
    followed, an external link or a dataset whose values live in another file is refused
    (UNSUPPORTED_OPERATION), so HDF5 never opens another file on our behalf."""

    f: h5py.File
    path: Path  # what the file was opened by (a pinned view): for messages
    sandbox: Any = None
    limits: Limits = field(default_factory=current)

    def get(self, parent: h5py.Group, name: str, hops: int = 0) -> Any:
        """The member ``name`` ("a/b" walks) of ``parent``: KEY_NOT_FOUND when missing."""
        obj = parent
        for part in [p for p in name.split("/") if p not in ("", ".")]:
            if not isinstance(obj, h5py.Group):
                raise KeyNotFoundError(f"{obj.name!r} is not a group (looking for {name!r})")
            b = part.encode("utf-8", "surrogateescape")
            if not obj.id.links.exists(b):
                raise KeyNotFoundError(f"no member {part!r} in {obj.name!r}")
            kind = obj.id.links.get_info(b).type
            if kind == h5l.TYPE_HARD:
                found = _open_hard(obj, b)
            elif kind == h5l.TYPE_SOFT and hops < MAX_HOPS:
                target = obj.id.links.get_val(b).decode("utf-8", "surrogateescape")
                found = self.get(self.f["/"] if target.startswith("/") else obj, target, hops + 1)
            else:
                where = f"{obj.name.rstrip('/')}/{part}"
                if kind == h5l.TYPE_EXTERNAL:
                    target = resolve_target(self.path, obj.id.links.get_val(b)[0], self.sandbox)
                    if target.inside is False:
                        raise outside_error(f"{where!r} is an external link that", target)
                raise UnsupportedOperationError(
                    f"{where} is an external, user-defined or looping link; a result store is read inside "
                    "its own file only", hint="Copy the linked data into the store file.")
            if found is None:
                raise KeyNotFoundError(f"{part!r} in {obj.name!r} is neither a group nor a dataset")
            obj = found
        return obj

    def find(self, parent: h5py.Group, name: str) -> Any:
        """The member, or None when there is none."""
        try:
            return self.get(parent, name)
        except KeyNotFoundError:
            return None

    def group(self, key: str) -> h5py.Group | None:
        """The group at ``key`` ("/" the root); None when missing; a dataset there: KEY_NOT_FOUND."""
        obj = self.find(self.f["/"], key)
        if obj is not None and not isinstance(obj, h5py.Group):
            raise KeyNotFoundError(f"{key!r} is a dataset, not a group", hint="Name the store's group.")
        return obj

    def _readable(self, ds: h5py.Dataset) -> None:
        if stores_elsewhere(ds):
            for name in source_files(ds):  # where libhdf5 would look: next to the file, or the current folder
                for base in (self.path, Path(os.getcwd()) / "-"):
                    target = resolve_target(base, name, self.sandbox)
                    if target.inside is False:
                        raise outside_error(f"dataset {ds.name!r} keeps its values in a file that", target)
            raise UnsupportedOperationError(
                f"dataset {ds.name!r} keeps its values in other files (virtual or external storage); not read",
                hint="A result store's values are read from the store file only.")
        dcpl = ds.id.get_create_plist()
        missing = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())
                   if not h5z.filter_avail(dcpl.get_filter(i)[0])]
        if missing:
            raise CorruptEntryError(f"{ds.name!r} is compressed with filters not available here: {missing}",
                                    hint="pip install hdf5plugin (and import it) and retry.")

    # -- values --------------------------------------------------------------------------------
    def dataset(self, ds: h5py.Dataset) -> Any:
        """A dataset's values: strings as ``str`` (arrays of them as a str array), 0-d as 0-d arrays."""
        self._readable(ds)
        bounded = Bounded(ds, self.limits)
        if h5py.check_string_dtype(ds.dtype) is not None:
            bounded.check(())
            value = ds.asstr()[()]
            return value if isinstance(value, str) else np.array(value, dtype=str)
        value = bounded[()]
        return np.asarray(value) if isinstance(value, np.generic) else value

    def text(self, parent: h5py.Group, name: str) -> str:
        """A JSON member (meta / input / output) as text."""
        obj = self.get(parent, name)
        if not isinstance(obj, h5py.Dataset) or obj.shape not in ((), None):
            raise CorruptEntryError(f"{parent.name}/{name} is not a scalar text dataset")
        if obj.dtype.kind not in "SOU" or obj.id.get_storage_size() > MAX_JSON_BYTES:
            raise CorruptEntryError(f"{parent.name}/{name} is not JSON text of at most {MAX_JSON_BYTES} bytes")
        self._readable(obj)
        value = obj[()]
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    def tuple_value(self, obj: Any, depth: int = 0) -> Any:
        """HashedHDF5 data: a dataset, or a group read as a tuple of its children in numeric order."""
        if isinstance(obj, h5py.Dataset):
            return self.dataset(obj)
        if not isinstance(obj, h5py.Group):
            raise CorruptEntryError(f"{getattr(obj, 'name', '?')!r} is neither data nor a group")
        if depth >= MAX_DEPTH:
            raise CorruptEntryError(f"{obj.name!r} nests tuples more than {MAX_DEPTH} levels deep (or loops)")
        return tuple(self.tuple_value(self.get(obj, n), depth + 1) for n in ordered(obj))

    def flat_value(self, obj: Any, depth: int = 0) -> Any:
        """HDF5Storage data: a dataset's value (0-d as a scalar), a group as a tuple or a dict."""
        if isinstance(obj, h5py.Dataset):
            value = self.dataset(obj)
            return value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value
        if depth >= MAX_DEPTH:
            raise CorruptEntryError(f"{obj.name!r} nests groups more than {MAX_DEPTH} levels deep (or loops)")
        names = ordered(obj)
        items = [(n, self.flat_value(self.get(obj, n), depth + 1)) for n in names]
        kind = obj.attrs.get("sciio_type")
        if kind == "tuple" or (kind is None and names == [str(i) for i in range(len(names))] and names):
            return tuple(v for _, v in items)
        return dict(items)


def page_names(group: h5py.Group, offset: int, limit: int) -> list[str]:
    """Names ``offset .. offset+limit`` in HDF5's name index; the rest is never listed."""
    names: list[str] = []
    if limit <= 0 or offset >= len(group):
        return names

    def collect(name: bytes) -> Any:
        names.append(name.decode("utf-8", "surrogateescape"))
        return True if len(names) >= limit else None

    group.id.links.iterate(collect, idx_type=h5.INDEX_NAME, order=h5.ITER_INC, idx=offset)
    return names


def dtype_text(dt: np.dtype) -> str:
    info = h5py.check_string_dtype(dt)
    if info is not None and info.length is None:
        return f"vlen-str({info.encoding})"
    return dt.str if dt.names is None else "compound"


def ordered(group: h5py.Group) -> list[str]:
    """Member names, digit names in numeric order ("999" before "1000"), others by name after them."""
    names = list(group)
    return sorted(names, key=lambda n: (0, int(n), n) if n.isdigit() else (1, 0, n))


def marks(group: h5py.Group) -> dict[str, Any]:
    """The store attributes this library records (scheme, version / protocol, mark)."""
    out = {}
    for name in ("sciio_store", "sciio_key_scheme", "sciio_key_version", "sciio_pickle_protocol"):
        if name in group.attrs:
            value = group.attrs[name]
            out[name] = value.item() if isinstance(value, np.generic) else (
                value.decode() if isinstance(value, bytes) else value)
    return out


def looks_like_store(r: Reader, group: h5py.Group, probe: int = 8) -> bool:
    """A store by its mark, or by its layout: its first members are 32-hex groups with data and meta."""
    if marks(group).get("sciio_store") == STORE_MARK:
        return True
    names = page_names(group, 0, probe)
    if not names:
        return False
    for name in names:
        if not is_key(name):
            return False
        entry = r.find(group, name)
        if not isinstance(entry, h5py.Group) or r.find(entry, "data") is None or r.find(entry, "meta") is None:
            return False
    return True


# -- describing entries (iteration, browsing) --------------------------------------------------

@dataclass
class Entry:
    """One stored result, described without reading its data."""

    key: str
    meta: Any = None
    input: Any = None
    output: Any = None
    data: list[dict[str, Any]] = field(default_factory=list)  # leaves: path inside the entry, shape, dtype
    data_truncated: bool = False
    problem: str | None = None  # why the entry is not whole (browsing shows it; reading refuses it)

    def as_dict(self) -> dict[str, Any]:
        out = {"key": self.key, "meta": self.meta, "input": self.input, "output": self.output, "data": self.data}
        if self.data_truncated:
            out["data_truncated"] = True
        if self.problem:
            out["problem"] = self.problem
        return out


def describe(r: Reader, group: h5py.Group, key: str, max_leaves: int = MAX_LEAVES) -> Entry:
    """An entry's meta, hashes and the shapes/dtypes of its data; a damaged one says what is wrong."""
    entry = Entry(key)
    try:
        obj = r.get(group, key)
        if not isinstance(obj, h5py.Group):
            raise CorruptEntryError(f"entry {key!r} is not a group")
        for name in ("meta", "input", "output"):
            try:
                setattr(entry, name, json.loads(r.text(obj, name)))
            except ValueError:
                raise CorruptEntryError(f"{key}/{name} is not JSON") from None
        leaves: list[dict[str, Any]] = []
        entry.data_truncated = _leaves(r, r.get(obj, "data"), "data", leaves, max_leaves, 0)
        entry.data = leaves
    except KeyNotFoundError as exc:
        entry.problem = f"missing member: {exc.message}"
    except IOCoreError as exc:
        entry.problem = f"{exc.code}: {exc.message}"
    return entry


def _leaves(r: Reader, obj: Any, path: str, out: list, limit: int, depth: int) -> bool:
    """Collect (path, shape, dtype) of the data leaves; True when cut at ``limit``."""
    if isinstance(obj, h5py.Dataset):
        if len(out) >= limit:
            return True
        shape = None if stores_elsewhere(obj) or obj.shape is None else list(obj.shape)
        out.append({"path": path, "shape": shape, "dtype": dtype_text(obj.dtype)})
        return False
    if not isinstance(obj, h5py.Group) or depth >= MAX_DEPTH:
        raise CorruptEntryError(f"{path} is neither data nor a group of data (or nests too deep)")
    for name in ordered(obj):
        if _leaves(r, r.get(obj, name), f"{path}/{name}", out, limit, depth + 1):
            return True
    return False


# -- writing -----------------------------------------------------------------------------------

def as_array(value: Any, what: str) -> np.ndarray:
    """A value to store as one dataset (lists and scalars become arrays); object arrays refused."""
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.hasobject:
        raise InvalidDataError(f"{what} is not an array of numbers or strings ({type(value).__name__})",
                               hint="Store arrays, tuples of arrays (nested), numbers or strings.")
    return arr


def put_array(group: h5py.Group, name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "U":
        data = arr.item() if arr.ndim == 0 else arr.astype(object)
        group.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"))
    else:
        group.create_dataset(name, data=arr)


def check_tuple_value(value: Any, what: str = "data_out", depth: int = 0) -> Any:
    """The value as it will be stored (arrays, tuples of them); INVALID_DATA before anything is written."""
    if depth >= MAX_DEPTH:
        raise InvalidDataError(f"{what} nests tuples more than {MAX_DEPTH} levels deep")
    if isinstance(value, tuple):
        return tuple(check_tuple_value(v, f"{what}[{i}]", depth + 1) for i, v in enumerate(value))
    return as_array(value, what)


def write_tuple_value(group: h5py.Group, name: str, value: Any) -> None:
    """HashedHDF5's ``_write_hdf5_recursively``: a tuple is a group with children ``f"{i:03d}"``."""
    if isinstance(value, tuple):
        sub = group.create_group(name)
        for i, item in enumerate(value):
            write_tuple_value(sub, f"{i:03d}", item)
    else:
        put_array(group, name, value)


def write_entry(store: h5py.Group, key: str, data_out: Any, meta_text: str, input_hashes: Any,
                output_hashes: Any) -> None:
    entry = store.create_group(key)
    write_tuple_value(entry, "data", data_out)
    for name, text in (("meta", meta_text), ("input", json.dumps(input_hashes)),
                       ("output", json.dumps(output_hashes))):
        entry.create_dataset(name, data=text, dtype=h5py.string_dtype("utf-8"))


def check_flat_value(value: Any, what: str = "value", depth: int = 0) -> Any:
    if depth >= MAX_DEPTH:
        raise InvalidDataError(f"{what} nests more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str) or not k or "/" in k or k in (".", ".."):
                raise InvalidDataError(f"{what} has a key {k!r} that cannot name an HDF5 member",
                                       hint="Keys are non-empty strings without '/'.")
        return {k: check_flat_value(v, f"{what}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(check_flat_value(v, f"{what}[{i}]", depth + 1) for i, v in enumerate(value))
    if isinstance(value, str):
        return value
    return as_array(value, what)


def write_flat_value(parent: h5py.Group, name: str, value: Any) -> None:
    """HDF5Storage's layout: dict -> group, tuple -> group "0", "1", ... (marked), str -> UTF-8, else a dataset."""
    if isinstance(value, dict):
        sub = parent.create_group(name)
        for k, v in value.items():
            write_flat_value(sub, k, v)
    elif isinstance(value, tuple):
        sub = parent.create_group(name)
        sub.attrs["sciio_type"] = "tuple"
        for i, v in enumerate(value):
            write_flat_value(sub, str(i), v)
    elif isinstance(value, str):
        parent.create_dataset(name, data=value, dtype=h5py.string_dtype("utf-8"))
    else:
        put_array(parent, name, value)
