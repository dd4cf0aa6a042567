"""Browse HDF5 files: a bounded, paginated tree that never leaves the sandbox, and opens that fail fast.

* Opening (``open_h5``, through ``io_core.formats.hdf5.guard``, the one HDF5 opener): read-only, file
  locking off. A file whose superblock says a SWMR writer has it open is opened in SWMR
  read mode, with HDF5's metadata read retries cut from 100 (which back off for minutes on
  a truncated file) to a few; any other file opens normally, where HDF5 checks the stored
  end of file at once. A file that a non-SWMR writer holds open is refused with a clear
  message. Either way a corrupt, truncated or busy file is ``CORRUPT_FILE`` in milliseconds.
* Paths are walked one link at a time (``resolve``): HDF5 is never handed a path that
  could cross an external link, so it never opens another file on its own. Soft links
  are followed here (loops stop after 16 hops); an external link is followed only into
  a file inside the roots (pinned through the sandbox and opened by us), and only when browsing.
* Virtual and external-storage datasets: their source files are located exactly where
  libhdf5 would look (``h5guard.locate``: external raw files relative to the current
  directory, as HDF5 does), shown, and never read; an unlimited virtual dataset is not
  asked its extent unless all its sources are inside the roots (HDF5 opens them for that).
* Pages of children come from HDF5's link index starting at ``offset`` (creation order
  when the group tracks it, else name order), so the first page of a 100,000-link group
  does not list the other names.

Nothing here prints; h5py is imported at module level because this module itself is
only imported on first use (by ``Workspace.explore_h5`` and the hdf5 format).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5, h5a, h5d, h5g, h5l, h5o, h5p, h5s, h5t, h5z

from io_core.errors import IOCoreError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.hdf5 import guard as h5guard
from io_core.links import LinkTarget, outside_error, resolve_target
from io_core.paths import Sandbox, pin_companion
from io_core.summary import encode_value
from schemas import DataSourceInfo, FieldInfo, FilterInfo, LinkInfo, NodeInfo

MAX_LINK_HOPS = 16  # as HDF5's own soft/external link traversal limit
MAX_EXTERNAL_FILES = 16  # other files one call may open to follow external links (inside the roots)
MAX_NODES = 2000  # nodes described in one call, all levels together
ATTR_ITEMS = 20
ATTR_CHARS = 200
ATTR_MAX_BYTES = 64 * 1024  # larger attributes are described, not read
MAX_SOURCES = 16
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


# -- opening ------------------------------------------------------------------------------------

def open_h5(path: Path) -> tuple[h5py.File, bool]:
    """Open read-only without locking; SWMR read mode when a SWMR writer has the file. (file, swmr).

    Through ``h5guard.open_walked``: nothing is scanned, because this module never lets HDF5
    cross a link and checks a dataset's sources before its values or extent are read.
    """
    return h5guard.open_walked(path)


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


# -- walking links ------------------------------------------------------------------------------

def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw


def _link(group: h5py.Group, name: str) -> tuple[str | None, Any]:
    """("hard", None) | ("soft", path) | ("external", (file, path)) | ("user", None) | (None, None)."""
    b = name.encode("utf-8", "surrogateescape")
    try:
        if not group.id.links.exists(b):
            return None, None
    except (KeyError, ValueError):
        return None, None
    info = group.id.links.get_info(b)  # damaged metadata raises: CORRUPT_FILE, not "missing"
    if info.type == h5l.TYPE_HARD:
        return "hard", None
    if info.type == h5l.TYPE_SOFT:
        return "soft", _text(group.id.links.get_val(b))
    if info.type == h5l.TYPE_EXTERNAL:
        file, obj = group.id.links.get_val(b)
        return "external", (_text(file), _text(obj))
    return "user", None


def _open_hard(group: h5py.Group, name: str) -> Any:
    oid = h5o.open(group.id, name.encode("utf-8", "surrogateescape"))
    if isinstance(oid, h5g.GroupID):
        return h5py.Group(oid)
    if isinstance(oid, h5d.DatasetID):
        return h5py.Dataset(oid)
    if isinstance(oid, h5t.TypeID):
        return h5py.Datatype(oid)
    return None


def _kind(obj: Any) -> str:
    if isinstance(obj, h5py.Group):
        return "group"
    if isinstance(obj, h5py.Dataset):
        return "dataset"
    return "committed_datatype"


@dataclass
class Hop:
    """Where walking a path ended: at an object, or stopped (missing, dangling, outside, external, loop)."""

    obj: Any
    file: Path
    stop: str | None = None
    target: LinkTarget | None = None  # the external file where it stopped
    link: tuple[str, str] | None = None  # (file, path) of that external link


class Session:
    """One call's files: the one asked for and those opened to follow external links inside the roots."""

    def __init__(self, sandbox: Sandbox | None, *, follow_external: bool) -> None:
        self.sandbox = sandbox
        self.follow_external = follow_external
        self.files: dict[Path, h5py.File] = {}

    def add(self, path: Path, f: h5py.File) -> None:
        self.files[path] = f

    def open(self, path: Path) -> h5py.File:
        f = self.files.get(path)
        if f is None:
            if len(self.files) > MAX_EXTERNAL_FILES:
                raise UnsupportedOperationError(
                    f"following external links would open more than {MAX_EXTERNAL_FILES} files in one call",
                    hint="Explore the target files directly.",
                )
            f = self.files[path] = open_h5(path)[0]
        return f

    def close(self) -> None:
        for f in self.files.values():
            with contextlib.suppress(Exception):  # closing never hides the call's own outcome
                f.close()
        self.files.clear()


def resolve(s: Session, file: Path, base: h5py.Group, path: str, hops: int = 0) -> Hop:
    """Walk ``path`` from ``base`` (or the root of ``file`` when absolute), one link at a time."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    cur: Any = s.files[file]["/"] if path.startswith("/") else base
    for name in parts:
        if not isinstance(cur, h5py.Group):
            return Hop(None, file, "missing")
        kind, value = _link(cur, name)
        if kind is None:
            return Hop(None, file, "missing")
        if kind == "hard":
            cur = _open_hard(cur, name)
            if cur is None:
                return Hop(None, file, "missing")
            continue
        if kind == "user" or hops >= MAX_LINK_HOPS:
            return Hop(None, file, "loop" if kind != "user" else "unsupported")
        if kind == "soft":
            sub = resolve(s, file, cur, value, hops + 1)
        else:
            target_file, target_path = value
            target = resolve_target(file, target_file, s.sandbox)
            if target.inside is False:
                return Hop(None, file, "outside", target, value)
            if not s.follow_external or target.inside is None:
                return Hop(None, file, "external", target, value)
            if not target.exists:
                return Hop(None, file, "dangling", target, value)
            opened = pin_companion(file, target_file)  # pinned: the file checked is the file read
            f2 = s.open(opened)
            sub = resolve(s, opened, f2["/"], "/" + target_path.lstrip("/"), hops + 1)
        if sub.obj is None:
            stop = "dangling" if sub.stop == "missing" else sub.stop
            return replace(sub, stop=stop)
        cur, file = sub.obj, sub.file
    return Hop(cur, file)


def _refuse(hop: Hop, key: str) -> IOCoreError:
    """The error for a path that could not be walked to an object."""
    if hop.stop == "outside":
        return outside_error(f"{key!r} is (or lies behind) an external link that", hop.target)
    if hop.stop == "external":
        file, path = hop.link
        return UnsupportedOperationError(
            f"{key!r} is (or lies behind) an external link to {file}:{path}; it was not followed",
            hint="Load the target file directly (inside the roots), or use explore_h5 to browse through it.",
        )
    if hop.stop == "dangling":
        return KeyNotFoundError(f"{key!r} is (or lies behind) a dangling link")
    if hop.stop == "loop":
        return KeyNotFoundError(f"{key!r}: links loop (more than {MAX_LINK_HOPS} hops)")
    if hop.stop == "unsupported":
        return UnsupportedOperationError(f"{key!r} is a user-defined link type; it was not followed")
    return KeyNotFoundError(f"no object {key!r} in the file")


# -- reading (the hdf5 format) --------------------------------------------------------------------

def lookup_for_read(f: h5py.File, file: Path, key: str, sandbox: Sandbox | None) -> Any:
    """The object at ``key`` for loading: soft links followed inside the file, external links never."""
    return child_for_read(f["/"], file, key.strip("/"), sandbox)


def child_for_read(group: h5py.Group, file: Path, name: str, sandbox: Sandbox | None) -> Any:
    """One member of a group for loading, under the rules of ``lookup_for_read``."""
    s = Session(sandbox, follow_external=False)
    s.add(file, group.file)
    hop = resolve(s, file, group, name)
    if hop.obj is None:
        raise _refuse(hop, f"{group.name.rstrip('/')}/{name}")
    return hop.obj


def data_files(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> list[tuple[LinkTarget, DataSourceInfo]]:
    """The files a virtual dataset or external-storage dataset reads (first MAX_SOURCES), where HDF5 looks."""
    out = []
    for src in h5guard.dataset_sources(ds.id, MAX_SOURCES):
        target = h5guard.locate(src.kind, src.file, file, sandbox)
        out.append((target, DataSourceInfo(file=src.file, dataset=src.dataset, offset=src.offset, size=src.size,
                                           resolved=target.display, inside_roots=target.inside)))
    return out


def _all_data_files(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> Any:
    for src in h5guard.dataset_sources(ds.id):
        yield h5guard.locate(src.kind, src.file, file, sandbox)


def outside_data_file(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> LinkTarget | None:
    """The first file outside the roots (or not confinable) that this dataset's values live in, if any."""
    if sandbox is None:
        return None
    return next((t for t in _all_data_files(ds, file, sandbox) if t.inside is False), None)


def unlimited_virtual(dcpl: h5p.PropDCID) -> bool:
    """A virtual dataset with an unlimited mapping: HDF5 opens its sources when asked its extent."""
    for i in range(dcpl.get_virtual_count()):
        vspace = dcpl.get_virtual_vspace(i)
        if vspace.get_select_type() == h5s.SEL_HYPERSLABS and vspace.is_regular_hyperslab():
            _, _, count, block = vspace.get_regular_hyperslab()
            if h5s.UNLIMITED in count or h5s.UNLIMITED in block:
                return True
    return False


def extent_safe(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> bool:
    """Whether asking the dataset's extent reads nothing outside the roots (see ``unlimited_virtual``)."""
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() != h5d.VIRTUAL or not unlimited_virtual(dcpl):
        return True
    return sandbox is not None and all(t.inside for t in _all_data_files(ds, file, sandbox))


def refuse_data_elsewhere(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None, key: str | None = None) -> None:
    """Virtual and external-storage datasets are never read: PATH_OUTSIDE_ROOT or UNSUPPORTED_OPERATION."""
    if not h5guard.stores_elsewhere(ds.id):
        return
    name = key or ds.name
    outside = outside_data_file(ds, file, sandbox)
    if outside is not None:
        raise outside_error(f"dataset {name!r} stores its values in a file that", outside)
    raise UnsupportedOperationError(
        f"dataset {name!r} stores its data in other files; it was not read",
        hint="Summaries and explore_h5 show where it points; copy the data into this file to load it.",
    )


# -- describing ---------------------------------------------------------------------------------

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


def _filters(dcpl: h5p.PropDCID) -> list[FilterInfo]:
    out = []
    for i in range(dcpl.get_nfilters()):
        code, _flags, values, name = dcpl.get_filter(i)
        values = [int(v) for v in values]
        options: dict[str, Any] = {"cd_values": values[:MAX_FILTER_VALUES]} if values else {}
        if code == h5z.FILTER_DEFLATE and values:
            options = {"level": values[0]}
        stored = _text(name).strip("\x00").strip()
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


def _attrs(obj: Any, items: int) -> tuple[int, dict[str, Any]]:
    n = h5a.get_num_attrs(obj.id)
    if not n or items <= 0:
        return n, {}
    names: list[str] = []

    def collect(name: bytes) -> Any:
        names.append(_text(name))
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
        names.append(_text(name))
        if info.type == h5l.TYPE_HARD:
            hard.add(names[-1])
        return True if len(names) >= limit else None

    group.id.links.iterate(collect, idx_type=idx_type, order=h5.ITER_INC, idx=offset, info=True)
    if hard_links is not None:
        hard_links.update(hard)
    return names


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


class Explorer:
    """Builds ``NodeInfo`` trees for one call, counting nodes against ``max_nodes``."""

    def __init__(self, s: Session, *, attrs: bool, limit: int, max_nodes: int = MAX_NODES,
                 max_bytes: int | None = None) -> None:
        self.s = s
        self.attrs = attrs
        self.limit = limit
        self.max_nodes = max_nodes
        self.max_bytes = max_bytes  # a page of leaves stops once its JSON alone exceeds the response budget
        self.count = 0
        self.budget_cut = False  # a page stopped early for the budget

    def object_node(self, obj: Any, file: Path, name: str, path: str, depth: int, offset: int = 0) -> NodeInfo:
        self.count += 1
        d: dict[str, Any] = {"name": name, "path": path, "kind": _kind(obj)}  # one model built at the end: fast
        try:
            d["n_attrs"], d["attrs"] = _attrs(obj, ATTR_ITEMS if self.attrs else 0)
            d["truncated"] = self.attrs and len(d["attrs"]) < d["n_attrs"]
        except Exception as exc:  # noqa: BLE001
            d["note"] = f"attributes unreadable: {type(exc).__name__}"
        if isinstance(obj, h5py.Group):
            d["n_children"] = len(obj)
        elif isinstance(obj, h5py.Dataset):
            self._dataset(d, obj, file)
        else:
            d["dtype"], d["fields"] = describe_dtype(obj.dtype)
        node = NodeInfo(**d)
        if isinstance(obj, h5py.Group) and depth > 0:
            self.list_children(node, obj, file, depth, offset, node.n_children)
        return node

    def list_children(self, node: NodeInfo, group: h5py.Group, file: Path, depth: int, offset: int,
                      total: int | None = None) -> None:
        node.n_children = total = len(group) if total is None else total
        node.offset = offset
        room = self.max_nodes - self.count
        limit = min(self.limit, max(room, 0))
        hard: set[str] = set()
        # a page of leaves stops where the budget would: describing children that get cut is wasted work
        bytes_left = self.max_bytes - len(node.model_dump_json()) - 512 if self.max_bytes and depth == 1 else None
        for name in page_names(group, offset, limit, total, hard):
            child = self.link_node(group, file, name, _join(node.path, name), depth - 1,
                                   "hard" if name in hard else None)
            if bytes_left is not None:
                bytes_left -= len(child.model_dump_json()) + 1
                if bytes_left < 0 and node.children:
                    self.budget_cut = True
                    break
            node.children.append(child)
        if offset + len(node.children) < total:
            node.next_offset = offset + len(node.children)
            node.truncated = True

    def _dataset(self, d: dict[str, Any], ds: h5py.Dataset, file: Path) -> None:
        """Shape, dtype, layout, filters, fill value, sizes, sources: each HDF5 property read once."""
        dsid = ds.id
        dt = dsid.dtype
        dcpl = dsid.get_create_plist()
        layout = dcpl.get_layout()
        if layout == h5d.VIRTUAL and unlimited_virtual(dcpl) and not extent_safe(ds, file, self.s.sandbox):
            d["nbytes"] = None  # HDF5 would open the sources to work the extent out
        else:
            space = dsid.get_space()
            if space.get_simple_extent_type() != h5s.NULL:
                d["shape"] = list(space.shape)
                d["maxshape"] = [None if m == h5s.UNLIMITED else int(m) for m in space.get_simple_extent_dims(True)]
                d["nbytes"] = math.prod(d["shape"]) * dt.itemsize
            else:
                d["nbytes"] = 0
        d["dtype"], d["fields"] = describe_dtype(dt)
        n_external = dcpl.get_external_count()
        d["layout"] = "external" if n_external else LAYOUTS.get(layout, str(layout))
        d["chunks"] = list(dcpl.get_chunk()) if layout == h5d.CHUNKED else None
        d["filters"] = _filters(dcpl)
        d["compression"] = "+".join(f.name for f in d["filters"]) or None
        try:
            fill = np.zeros((1,), dtype=dt)
            dcpl.get_fill_value(fill)
            d["fill_value"] = encode_value(fill[0], 100)
        except Exception:  # noqa: BLE001 - fill values of exotic types
            d["fill_value"] = None
        if layout != h5d.VIRTUAL:
            d["storage_bytes"] = int(dsid.get_storage_size())
        if layout == h5d.VIRTUAL or n_external:
            d["sources"] = [info for _, info in data_files(ds, file, self.s.sandbox)]
            d["n_sources"] = dcpl.get_virtual_count() if layout == h5d.VIRTUAL else n_external
            outside = sum(1 for src in d["sources"] if src.inside_roots is False)
            d["note"] = (f"values live in other files; sources outside the allowed roots ({outside} of those shown) "
                         "are never read" if outside else "values live in other files (load does not read them)")
        missing = [f.name for f in d["filters"] if f.available is False]
        if missing:
            d["note"] = f"filters not available here: {', '.join(missing)} (pip install hdf5plugin)"

    def link_node(self, group: h5py.Group, file: Path, name: str, path: str, depth: int,
                  kind: str | None = None) -> NodeInfo:
        """A child entry: hard links as their object; soft/external links shown, and followed when allowed."""
        kind, value = (kind, None) if kind == "hard" else _link(group, name)
        if kind == "hard":
            try:
                obj = _open_hard(group, name)
            except Exception as exc:  # noqa: BLE001 - one damaged object must not hide its siblings
                self.count += 1
                return NodeInfo(name=name, path=path, kind="dangling", note=f"unreadable: {type(exc).__name__}")
            if obj is not None:
                return self.object_node(obj, file, name, path, depth)
        if kind in (None, "user", "hard"):
            self.count += 1
            return NodeInfo(name=name, path=path, kind="dangling",
                            note="user-defined link type, not followed" if kind == "user" else "no such object")
        if kind == "soft":
            link = LinkInfo(type="soft", path=value)
        else:
            target = resolve_target(file, value[0], self.s.sandbox)
            link = LinkInfo(type="external", file=value[0], path=value[1], resolved=target.display,
                            inside_roots=target.inside)
        try:
            hop = resolve(self.s, file, group, name)
        except IOCoreError as exc:
            hop = Hop(None, file, "error")
            note = f"target not opened: {exc.message}"
        else:
            note = None
        kind_name = "soft_link" if kind == "soft" else "external_link"
        if hop.obj is not None:
            node = self.object_node(hop.obj, hop.file, name, path, 0)
            node.kind, node.target_kind = kind_name, _kind(hop.obj)
            node.link = link.model_copy(update={"exists": True})
            return node
        self.count += 1
        if hop.stop == "dangling":
            return NodeInfo(name=name, path=path, kind="dangling", link=link.model_copy(update={"exists": False}))
        notes = {
            "outside": "points outside the allowed roots: shown, never followed",
            "external": "external link: not followed",
            "loop": f"links loop (more than {MAX_LINK_HOPS} hops)",
            "unsupported": "leads through a user-defined link type, not followed",
            "missing": "target not found",
        }
        if kind == "soft" and hop.stop == "outside":
            note = "leads through an external link to a file outside the allowed roots: not followed"
        return NodeInfo(name=name, path=path, kind=kind_name, link=link, note=note or notes.get(hop.stop))


def explore(
    path: Path,
    group: str,
    *,
    sandbox: Sandbox | None,
    depth: int = 1,
    offset: int = 0,
    limit: int = 100,
    attrs: bool = True,
    max_nodes: int = MAX_NODES,
    max_bytes: int | None = None,
) -> tuple[NodeInfo, bool, bool]:
    """The node at ``group`` with ``depth`` levels of children (one page each).

    Returns (node, opened in SWMR mode, a page was stopped early for the budget).

    ``max_bytes``: the response budget; a page of leaves stops once it alone would exceed it
    (``next_offset`` says where the next page starts). The caller still cuts to the budget.
    """
    f, swmr = open_h5(path)
    s = Session(sandbox, follow_external=True)
    s.add(path, f)
    try:
        ex = Explorer(s, attrs=attrs, limit=limit, max_nodes=max_nodes, max_bytes=max_bytes)
        key = "/" + group.strip("/")
        if key == "/":
            return ex.object_node(f["/"], path, "/", "/", depth, offset), swmr, ex.budget_cut
        parent_path, _, leaf = key.rpartition("/")
        hop = resolve(s, path, f["/"], parent_path or "/")
        if hop.obj is None:
            raise _refuse(hop, key)
        if not isinstance(hop.obj, h5py.Group):
            raise KeyNotFoundError(f"no object {key!r}: {parent_path!r} is not a group")
        parent, parent_file = hop.obj, hop.file
        kind, _ = _link(parent, leaf)
        if kind is None:
            raise KeyNotFoundError(f"no object {key!r} in {path.name!r}",
                                   hint="Explore its parent group to list what is there.")
        obj = _open_hard(parent, leaf) if kind == "hard" else None
        if obj is not None:
            return ex.object_node(obj, parent_file, leaf, key, depth, offset), swmr, ex.budget_cut
        node = ex.link_node(parent, parent_file, leaf, key, depth)
        if depth > 0 and node.target_kind == "group":  # a link asked for by name is browsed through
            target = resolve(s, parent_file, parent, leaf)
            ex.list_children(node, target.obj, target.file, depth, offset)
        return node, swmr, ex.budget_cut
    finally:
        s.close()


def key_exists(path: Path, key: str, *, sandbox: Sandbox | None) -> tuple[bool | None, str | None, str | None]:
    """(exists, kind, note) for ``key``; never raises for a missing key. Links are entries: a dangling one exists."""
    f, _ = open_h5(path)
    s = Session(sandbox, follow_external=True)
    s.add(path, f)
    try:
        key = "/" + key.strip("/")
        if key == "/":
            return True, "group", None
        parent_path, _, leaf = key.rpartition("/")
        hop = resolve(s, path, f["/"], parent_path or "/")
        if hop.obj is None:
            if hop.stop == "outside":
                return None, None, "lies behind an external link to a file outside the allowed roots (not followed)"
            return False, None, {"dangling": "lies behind a dangling link", "loop": "links loop"}.get(hop.stop)
        if not isinstance(hop.obj, h5py.Group):
            return False, None, f"{parent_path!r} is a dataset, not a group"
        kind, _ = _link(hop.obj, leaf)
        if kind is None:
            return False, None, None
        if kind == "hard":
            obj = _open_hard(hop.obj, leaf)
            return True, _kind(obj) if obj is not None else "dangling", None
        node = Explorer(s, attrs=False, limit=0).link_node(hop.obj, hop.file, leaf, key, 0)
        return True, node.kind, node.note
    finally:
        s.close()
