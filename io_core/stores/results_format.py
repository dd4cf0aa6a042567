"""The result store as a format: browse a store file's entries through the workspace and the server.

A store file is HDF5, so a plain ``.h5`` is the ``hdf5`` format (``explore_h5`` lists the entry
groups, ``read_slice(key="<group>/<hash>/data/001")`` reads a stored array). Browsing it *as a
store* is the ``result_store`` format: chosen with ``format="result_store"``, or by a
``.results.h5`` name. A group is a store when it carries our mark (``sciio_store =
"result_store"``, written with the key scheme by every ``ResultStore`` write) or, for stores
corelay wrote, by its layout (its first members are 32-hex groups holding data and meta).

* ``summarize`` (load_summary): ``key`` = a store group (default: the root, else the store
  groups found at the top level) lists its entries (key, meta, input/output hashes, data
  shapes and dtypes) as far as the budget allows; ``key`` = an entry describes that entry; any
  other key is summarized as HDF5.
* ``read_rows`` (read_slice with offset/limit): the entries of the store group ``key`` as table
  pages, one row per entry, ``next_offset`` to continue: every entry, page by page.
* ``open_array`` / ``load`` / ``key_exists`` / ``explore``: the HDF5 format's, where a tuple
  stored under an entry's ``data`` loads as a tuple, in order; ``explore`` adds each entry's
  meta and hashes to its node's attributes.

Everything is read one link at a time (``results_layout.Reader``): never out of the roots.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py

from io_core.errors import KeyNotFoundError, UnsupportedOperationError
from io_core.formats.base import Explored, Format
from io_core.links import active_sandbox
from io_core.options import ReadOptions
from io_core.stores import results_layout as layout
from io_core.stores.results_keys import is_key
from schemas import ValueSummary

PREVIEW_ENTRIES = 100  # entries a summary lists (then cut to the budget); read_slice pages the rest
MAX_STORES = 50  # store groups a file-level summary lists


def _hdf5() -> Any:
    from io_core.formats.hdf5.handler import HDF5

    return HDF5


@contextmanager
def opened(path: Path, opts: ReadOptions) -> Iterator[layout.Reader]:
    from io_core.formats.hdf5 import guard as h5guard

    f, _ = h5guard.open_walked(path)  # links are walked by layout.Reader, one at a time
    try:
        yield layout.Reader(f, path, active_sandbox(), opts.limits)
    finally:
        f.close()


def _split(key: str | None) -> list[str]:
    return [p for p in (key or "").split("/") if p not in ("", ".")]


def locate(r: layout.Reader, key: str | None) -> tuple[str, Any, str | None, list[str]]:
    """Where ``key`` points: ("store", group, None, []), ("entry", store group, entry key, []),
    ("inside", store group, entry key, rest below the entry), or ("other", None, None, [])."""
    parts = _split(key)
    for i in range(len(parts), -1, -1):  # the deepest store group on the path
        try:
            group = r.group("/".join(parts[:i]))
        except KeyNotFoundError:  # a dataset
            continue
        if group is None or not layout.looks_like_store(r, group):
            continue
        rest = parts[i:]
        if not rest:
            return "store", group, None, []
        if is_key(rest[0]):
            return ("entry" if len(rest) == 1 else "inside"), group, rest[0], rest[1:]
        return "other", None, None, []
    return "other", None, None, []


def store_info(r: layout.Reader, group: Any) -> dict[str, Any]:
    marked = layout.marks(group)
    scheme = marked.get("sciio_key_scheme") or "corelay (written by corelay: no scheme recorded)"
    info = {"group": group.name, "scheme": scheme, "entries": len(group)}
    if "sciio_pickle_protocol" in marked:
        info["pickle_protocol"] = marked["sciio_pickle_protocol"]
    return info


def entries(r: layout.Reader, group: Any, offset: int, limit: int) -> list[dict[str, Any]]:
    """One page of entry descriptions, in HDF5's link order (names that are not keys skipped)."""
    return [layout.describe(r, group, n).as_dict() for n in layout.page_names(group, offset, limit) if is_key(n)]


class ResultStoreFormat(Format):
    name = "result_store"

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        with opened(path, opts) as r:
            where, group, key, _ = locate(r, opts.key)
            if where == "store":
                info = store_info(r, group)
                page = entries(r, group, 0, PREVIEW_ENTRIES)
                preview = {**info, "entries_listed": len(page), "entries": page,
                           "more": "read_slice(path, key=<group>, format='result_store', offset=...) pages all entries"}
                return ValueSummary(type="result_store", length=info["entries"], preview=preview,
                                    truncated=info["entries"] > len(page))
            if where == "entry":
                return ValueSummary(type="result_store_entry", preview={"group": group.name,
                                                                         **layout.describe(r, group, key).as_dict()})
            if not _split(opts.key):
                stores = [store_info(r, g) for g in self._top_stores(r)]
                if stores:
                    return ValueSummary(type="result_store_file", length=len(stores), preview={"stores": stores},
                                        truncated=len(stores) >= MAX_STORES)
        return _hdf5().summarize(path, opts)

    def _top_stores(self, r: layout.Reader) -> list[Any]:
        found = []
        for name in layout.page_names(r.f["/"], 0, 1000):
            obj = r.find(r.f["/"], name)
            if isinstance(obj, h5py.Group) and layout.looks_like_store(r, obj):
                found.append(obj)
                if len(found) >= MAX_STORES:
                    break
        return found

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int) -> Any:
        import pandas as pd

        with opened(path, opts) as r:
            where, group, _, _ = locate(r, opts.key)
            if where != "store":
                from io_core.stores.results_errors import NotAStoreError

                raise NotAStoreError(f"{opts.key or '/'!r} is not a result store group")
            total = len(group)
            rows = entries(r, group, offset, limit)
        frame = pd.DataFrame(rows, columns=["key", "meta", "input", "output", "data", "problem"])
        frame = frame.drop(columns=["problem"]) if frame["problem"].isna().all() else frame
        return (frame[columns] if columns else frame), total, True

    def load(self, path: Path, opts: ReadOptions) -> Any:
        """A stored result (tuples as tuples) for a key at or inside an entry's data; else as HDF5."""
        with opened(path, opts) as r:
            where, group, key, rest = locate(r, opts.key)
            if where == "entry" or (where == "inside" and rest[0] == "data"):
                obj = r.get(r.get(group, key), "data")
                for name in rest[1:]:
                    obj = r.get(obj, name)
                return r.tuple_value(obj)
        return _hdf5().load(path, opts)

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        """A stored array (a dataset key); a store group's entries are pages of rows instead."""
        with opened(path, opts) as r:
            where = locate(r, opts.key)[0]
            group = not opts.key or isinstance(r.find(r.f["/"], opts.key), h5py.Group)
        if where == "store" or group:  # read_rows pages a store's entries (or says it is no store)
            raise UnsupportedOperationError("a store group is read as pages of entries (read_rows)")
        with _hdf5().open_array(path, opts) as array:
            yield array

    def key_exists(self, path: Path, opts: ReadOptions, key: str) -> tuple[bool | None, str | None, str | None]:
        return _hdf5().key_exists(path, opts, key)

    def explore(self, path: Path, opts: ReadOptions, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        """The HDF5 tree, each entry node with its meta and input/output hashes among its attributes."""
        found = _hdf5().explore(path, opts, group, depth, offset, limit, attrs)
        if attrs:
            try:
                with opened(path, opts) as r:
                    _annotate(r, found.node, 0)
            except KeyNotFoundError:
                pass
        return found


def _annotate(r: layout.Reader, node: Any, depth: int) -> None:
    """Add meta/input/output to the attrs of entry nodes under store groups (as listed; bounded by the page)."""
    if depth > 8 or getattr(node, "kind", None) != "group" or not node.children:
        return
    group = r.group(node.path)
    store = group is not None and layout.looks_like_store(r, group)
    for child in node.children:
        if store and is_key(child.name) and getattr(child, "kind", None) == "group":
            entry = layout.describe(r, group, child.name, max_leaves=0)
            child.attrs = {**child.attrs, "meta": entry.meta, "input": entry.input, "output": entry.output,
                           **({"problem": entry.problem} if entry.problem else {})}
        else:
            _annotate(r, child, depth + 1)


RESULT_STORE = ResultStoreFormat()
