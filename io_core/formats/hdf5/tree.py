"""Browse HDF5 files: a bounded, paginated tree that never leaves the sandbox.

Paths are walked by ``io_core.formats.hdf5.walk`` (one link at a time; external links followed
only into files inside the roots, pinned), objects described by ``...describe``. Virtual and
external-storage datasets show where their sources are (located where libhdf5 would look),
never read. Pages of children come from HDF5's link index starting at ``offset`` (creation
order when the group tracks it, else name order), so the first page of a 100,000-link group
does not list the other names.

Nothing here prints; h5py is imported at module level because this module itself is
only imported on first use (by ``Workspace.explore_h5`` and the hdf5 format).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5d, h5s

from io_core.errors import IOCoreError, KeyNotFoundError
from io_core.formats.hdf5.describe import (
    ATTR_ITEMS,
    LAYOUTS,
    attributes,
    describe_dtype,
    filters_of,
    page_names,
)
from io_core.formats.hdf5.walk import (
    MAX_LINK_HOPS,
    Hop,
    Session,
    data_files,
    extent_safe,
    kind_of,
    link_of,
    members_of,
    open_h5,
    open_hard,
    refusal,
    resolve,
    unlimited_virtual,
)
from io_core.links import resolve_target
from io_core.paths import Sandbox
from io_core.remote import is_remote
from io_core.remote.hdf5 import too_many_chunks
from io_core.summary import encode_value
from schemas import LinkInfo, NodeInfo

MAX_NODES = 2000  # nodes described in one call, all levels together


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
        d: dict[str, Any] = {"name": name, "path": path, "kind": kind_of(obj)}  # one model built at the end: fast
        try:
            d["n_attrs"], d["attrs"] = attributes(obj, ATTR_ITEMS if self.attrs else 0)
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
        d["filters"] = filters_of(dcpl)
        d["compression"] = "+".join(f.name for f in d["filters"]) or None
        try:
            fill = np.zeros((1,), dtype=dt)
            dcpl.get_fill_value(fill)
            d["fill_value"] = encode_value(fill[0], 100)
        except Exception:  # noqa: BLE001 - fill values of exotic types
            d["fill_value"] = None
        if layout != h5d.VIRTUAL and not (is_remote(file) and layout == h5d.CHUNKED and too_many_chunks(d)):
            d["storage_bytes"] = int(dsid.get_storage_size())  # (remote: not when it walks a large chunk index)
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
        kind, value = (kind, None) if kind == "hard" else link_of(group, name)
        if kind == "hard":
            try:
                obj = open_hard(group, name)
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
            node.kind, node.target_kind = kind_name, kind_of(hop.obj)
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
            error = refusal(hop, key)
            raise error.with_paths(key, members_of(f["/"])) if hop.stop == "missing" else error
        if not isinstance(hop.obj, h5py.Group):
            raise KeyNotFoundError(f"no object {key!r}: {parent_path!r} is not a group")
        parent, parent_file = hop.obj, hop.file
        kind, _ = link_of(parent, leaf)
        if kind is None:
            raise KeyNotFoundError(f"no object {key!r} in {path.name!r}",
                                   hint="Explore its parent group to list what is there.").with_candidates(
                                       leaf, iter(parent), prefix=parent_path)
        obj = open_hard(parent, leaf) if kind == "hard" else None
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
        kind, _ = link_of(hop.obj, leaf)
        if kind is None:
            return False, None, None
        if kind == "hard":
            obj = open_hard(hop.obj, leaf)
            return True, kind_of(obj) if obj is not None else "dangling", None
        node = Explorer(s, attrs=False, limit=0).link_node(hop.obj, hop.file, leaf, key, 0)
        return True, node.kind, node.note
    finally:
        s.close()
