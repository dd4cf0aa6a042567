"""What an HDF5 object is, in the node vocabulary: dtypes, filters (and whether they decode here),
attributes (large ones described, not read) and pages of a group's link names from HDF5's own index.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import h5py
import numpy as np
from h5py import h5, h5a, h5d, h5l, h5p, h5z

from io_core.formats.hdf5.references import text
from io_core.summary import encode_value
from schemas import FieldInfo, FilterInfo

ATTR_ITEMS = 20
ATTR_CHARS = 200
ATTR_MAX_BYTES = 64 * 1024  # larger attributes are described, not read
MAX_FIELDS = 64
MAX_FILTER_VALUES = 16

# registered HDF5 filter ids (https://github.com/HDFGroup/hdf5_plugins/blob/master/docs/RegisteredFilterPlugins.md)
FILTER_NAMES = {
    1: "gzip", 2: "shuffle", 3: "fletcher32", 4: "szip", 5: "nbit", 6: "scaleoffset",
    305: "lzo", 307: "bzip2", 32000: "lzf", 32001: "blosc", 32002: "mafisc", 32003: "snappy",
    32004: "lz4", 32005: "apax", 32006: "cbf", 32007: "jpeg-xr", 32008: "bitshuffle", 32009: "spdp",
    32010: "lpc-rice", 32011: "ccsds-123", 32012: "jpeg-ls", 32013: "zfp", 32014: "fpzip", 32015: "zstd",
    32016: "b3d", 32017: "sz", 32018: "fcidecomp", 32019: "jpeg", 32020: "vbz", 32022: "subfiling",
    32023: "fapec", 32024: "sz3", 32025: "delta-rice", 32026: "blosc2", 32027: "flac", 32028: "sperr",
    32033: "htj2k",
}
LAYOUTS = {h5d.COMPACT: "compact", h5d.CONTIGUOUS: "contiguous", h5d.CHUNKED: "chunked", h5d.VIRTUAL: "virtual"}


@functools.cache
def ensure_plugins() -> bool:
    """Register hdf5plugin's filters (blosc, zstd, lz4, bitshuffle, ...) when it is installed; once."""
    try:
        import hdf5plugin  # noqa: F401 - importing registers the filters with HDF5
    except Exception:  # noqa: BLE001 - not installed, or a broken plugin install must not break reading
        return False
    return True


def missing_filters(ds: h5py.Dataset) -> list[str]:
    """Names of the dataset's filters this HDF5 cannot decode (after trying hdf5plugin)."""
    dcpl = ds.id.get_create_plist()
    ids = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    if all(h5z.filter_avail(i) for i in ids):
        return []
    ensure_plugins()
    return [FILTER_NAMES.get(i, f"filter {i}") for i in ids if not h5z.filter_avail(i)]


def describe_dtype(dt: np.dtype) -> tuple[str, list[FieldInfo] | None]:
    string = h5py.check_string_dtype(dt)
    if string is not None:
        return (f"vlen-str({string.encoding})" if string.length is None
                else f"{dt.str} ({string.encoding}, fixed length {string.length})"), None
    base = h5py.check_vlen_dtype(dt)
    if base is not None:
        return f"vlen({describe_dtype(base)[0]})", None
    ref = h5py.check_ref_dtype(dt)
    if ref is not None:
        return ("region-reference" if ref is h5py.RegionReference else "object-reference"), None
    enum = h5py.check_enum_dtype(dt)
    if enum is not None and dt.kind != "b":
        names = ",".join(itertools.islice(enum, 8)) + (",…" if len(enum) > 8 else "")
        return f"enum({dt.str}: {names})", None
    if dt.names:
        fields = [FieldInfo(name=n, dtype=describe_dtype(dt.fields[n][0])[0], offset=int(dt.fields[n][1]))
                  for n in dt.names[:MAX_FIELDS]]
        return f"compound({dt.itemsize} bytes)", fields
    if dt.subdtype is not None:
        sub, shape = dt.subdtype
        return f"array({describe_dtype(sub)[0]}, {list(shape)})", None
    if dt.kind == "V":
        return f"opaque({dt.itemsize} bytes)", None
    return dt.str, None


def filters_of(dcpl: h5p.PropDCID) -> list[FilterInfo]:
    out = []
    for i in range(dcpl.get_nfilters()):
        code, _flags, values, name = dcpl.get_filter(i)
        values = [int(v) for v in values]
        options: dict[str, Any] = {"cd_values": values[:MAX_FILTER_VALUES]} if values else {}
        if code == h5z.FILTER_DEFLATE and values:
            options = {"level": values[0]}
        stored = text(name).strip("\x00").strip()
        available = bool(h5z.filter_avail(code))
        if not available and ensure_plugins():
            available = bool(h5z.filter_avail(code))
        out.append(FilterInfo(id=int(code), name=FILTER_NAMES.get(code) or stored or f"filter-{code}",
                              options=options, available=available))
    return out


def _attr_value(obj: Any, name: str) -> Any:
    try:
        aid = h5a.open(obj.id, name.encode("utf-8", "surrogateescape"))
        size = aid.get_storage_size()
        if size > ATTR_MAX_BYTES:
            return f"<{describe_dtype(aid.dtype)[0]} {list(aid.shape or ())}: {size} bytes, not read>"
        return encode_value(obj.attrs[name], ATTR_CHARS)
    except Exception as exc:  # noqa: BLE001 - unreadable attribute types must not stop browsing
        return f"<unreadable: {type(exc).__name__}>"


def attributes(obj: Any, items: int) -> tuple[int, dict[str, Any]]:
    n = h5a.get_num_attrs(obj.id)
    if not n or items <= 0:
        return n, {}
    names: list[str] = []

    def collect(name: bytes) -> Any:
        names.append(text(name))
        return True if len(names) >= items else None

    try:
        order = obj.id.get_create_plist().get_attr_creation_order() if not isinstance(obj, h5py.Datatype) else 0
    except Exception:  # noqa: BLE001
        order = 0
    idx = h5.INDEX_CRT_ORDER if order & h5p.CRT_ORDER_TRACKED else h5.INDEX_NAME
    try:
        h5a.iterate(obj.id, collect, index_type=idx)
    except Exception:  # noqa: BLE001 - e.g. creation order tracked but not indexed
        names.clear()
        h5a.iterate(obj.id, collect)
    return n, {name: _attr_value(obj, name) for name in names}


def page_names(group: h5py.Group, offset: int, limit: int, total: int | None = None,
               hard_links: set[str] | None = None) -> list[str]:
    """Names of children ``offset .. offset+limit`` from HDF5's index; never lists the rest.

    (``total``: the group's link count when the caller has it; counting an old-style group walks its B-tree.)
    """
    if limit <= 0 or offset >= (len(group) if total is None else total):
        return []
    idx_type = h5.INDEX_NAME
    try:
        flags = group.id.get_create_plist().get_link_creation_order()
        if flags & h5p.CRT_ORDER_TRACKED and flags & h5p.CRT_ORDER_INDEXED:
            idx_type = h5.INDEX_CRT_ORDER
    except Exception:  # noqa: BLE001, S110 - no creation-order index: name order
        pass
    names: list[str] = []
    hard: set[str] = set()

    def collect(name: bytes, info: Any) -> Any:
        names.append(text(name))
        if info.type == h5l.TYPE_HARD:
            hard.add(names[-1])
        return True if len(names) >= limit else None

    group.id.links.iterate(collect, idx_type=idx_type, order=h5.ITER_INC, idx=offset, info=True)
    if hard_links is not None:
        hard_links.update(hard)
    return names
