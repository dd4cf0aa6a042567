"""Browse Zarr v2 and v3 stores (folders and .zip) in the same node vocabulary as HDF5.

* Symlinks: a folder store inside the roots may hold symlinks; one that leads outside
  the roots makes the whole store PATH_OUTSIDE_ROOT. ``check_symlinks`` scans the
  store's entries (up to ``SCAN_LIMIT`` of them, without following anything), and
  ``GuardedLocalStore`` checks the real path of every key zarr reads or lists, so a
  store too large to scan is still never read through a link that leads out.
* Pages: children of a group are listed from the store's folder (or the zip's name list,
  or consolidated metadata when the store has it) without opening them; only the page
  asked for is opened, so a wide group does not cost one metadata read per member.

zarr is imported at module level: this module is only imported on first use.
"""

from __future__ import annotations

import itertools
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.storage import LocalStore

from io_core.errors import CorruptFileError, KeyNotFoundError, PathOutsideRootError
from io_core.format_spec import is_zarr_dir
from io_core.limits import Limits, check_zip, current
from io_core.paths import Sandbox
from io_core.remote import is_remote
from io_core.summary import encode_value
from schemas import FieldInfo, FilterInfo, NodeInfo

META_FILES = ("zarr.json", ".zarray", ".zgroup")
SCAN_LIMIT = 10_000  # store entries inspected for symlinks before opening; the guarded store covers the rest
MAX_NODES = 2000
ATTR_ITEMS = 20
ATTR_CHARS = 200


# -- symlinks -----------------------------------------------------------------------------------

def _inside(real: str, roots: tuple[Path, ...]) -> bool:
    p = Path(real)
    return any(p == r or p.is_relative_to(r) for r in roots)


def _refuse_link(store: Path, where: str) -> PathOutsideRootError:
    return PathOutsideRootError(
        f"the Zarr store {store.name!r} contains a symlink ({where}) that leads outside the allowed roots; "
        "the store is not read",
        hint="Replace the symlink with the data it points to, or add a root that contains its target.",
        path=where,
    )


def check_symlinks(store: Path, sandbox: Sandbox | None, limit: int | None = None) -> None:
    """Refuse a folder store holding a symlink that leads out of the roots (first ``limit`` entries)."""
    if sandbox is None or not sandbox.confined or not store.is_dir():
        return
    limit = SCAN_LIMIT if limit is None else limit
    roots = tuple(sandbox.roots)
    stack, seen = [os.fspath(store)], 0
    while stack and seen < limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    seen += 1
                    if entry.is_symlink():
                        if not _inside(os.path.realpath(entry.path), roots):
                            raise _refuse_link(store, os.path.relpath(entry.path, store))
                    elif entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue


class GuardedLocalStore(LocalStore):
    """A read-only LocalStore that refuses any key whose real path (symlinks followed) leaves the roots."""

    def __init__(self, root: Path | str, *, read_only: bool = True, roots: tuple[Path, ...] = ()) -> None:
        super().__init__(root, read_only=read_only)
        self._roots = tuple(roots)

    def _check(self, key: str) -> None:
        if self._roots and not _inside(os.path.realpath(self.root / key), self._roots):
            raise _refuse_link(Path(self.root), key)

    def with_read_only(self, read_only: bool = False) -> GuardedLocalStore:
        return type(self)(self.root, read_only=read_only, roots=self._roots)

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        self._check(key)
        return await super().get(key, prototype, byte_range)

    def get_sync(self, key: str, *, prototype: Any = None, byte_range: Any = None) -> Any:
        self._check(key)
        return super().get_sync(key, prototype=prototype, byte_range=byte_range)

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> Any:
        key_ranges = list(key_ranges)
        for key, _ in key_ranges:
            self._check(key)
        return await super().get_partial_values(prototype, key_ranges)

    async def exists(self, key: str) -> bool:
        self._check(key)
        return await super().exists(key)

    async def getsize(self, key: str) -> int:
        self._check(key)
        return await super().getsize(key)

    async def list_dir(self, prefix: str) -> Any:
        self._check(prefix)
        async for key in super().list_dir(prefix):
            yield key

    async def list_prefix(self, prefix: str) -> Any:
        self._check(prefix)
        async for key in super().list_prefix(prefix):
            yield key


def store_for(path: Path, sandbox: Sandbox | None, limits: Limits | None = None) -> Any:
    """What ``zarr.open`` should read ``path`` through: a guarded folder store, a zip store, or the path.

    A zip store's members (chunks, metadata) are checked by their zip directory entries first.
    A remote folder (``io_core.remote``): zarr's FsspecStore, keys confined, consolidated metadata used.
    """
    if is_remote(path):
        from io_core.remote.zarr_store import open_store

        return open_store(path)
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                check_zip(zf, limits or current(), container=repr(path.name))
        except zipfile.BadZipFile as exc:
            raise CorruptFileError(f"{path.name!r} is not a zipped Zarr store: {exc}") from None
        return zarr.storage.ZipStore(path, mode="r")
    if sandbox is not None and sandbox.confined:
        check_symlinks(path, sandbox)
        return GuardedLocalStore(path, read_only=True, roots=tuple(sandbox.roots))
    return str(path)


@contextmanager
def open_root(path: Path, sandbox: Sandbox | None, limits: Limits | None = None) -> Iterator[Any]:
    if not is_remote(path) and path.is_dir() and not is_zarr_dir(path):
        raise CorruptFileError(f"{path.name!r} is not a Zarr store (no zarr.json, .zarray or .zgroup)")
    store = store_for(path, sandbox, limits)
    try:
        yield zarr.open(store=store, mode="r")
    finally:
        if hasattr(store, "close"):
            store.close()


# -- listing ------------------------------------------------------------------------------------

class Listing:
    """Names of a group's members, found without opening them."""

    def __init__(self, path: Path, consolidated: bool) -> None:
        self.path = path
        self.consolidated = consolidated
        self._zip: dict[str, set[str]] | None = None

    def _zip_children(self) -> dict[str, set[str]]:
        if self._zip is None:
            children: dict[str, set[str]] = {}
            with zipfile.ZipFile(self.path) as zf:
                for name in zf.namelist():
                    folder, _, leaf = name.rpartition("/")
                    if leaf in META_FILES and folder:
                        parent, _, child = folder.rpartition("/")
                        children.setdefault(parent, set()).add(child)
            self._zip = children
        return self._zip

    def names(self, group: Any, group_path: str) -> list[str]:
        if self.consolidated or is_remote(self.path):  # remote: zarr lists through the store
            return sorted(group.keys())
        key = group_path.strip("/")
        if self.path.is_file():
            return sorted(self._zip_children().get(key, ()))
        folder = self.path / key if key else self.path
        out = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.is_dir():
                        continue
                    if any(os.path.isfile(os.path.join(entry.path, m)) for m in META_FILES):
                        out.append(entry.name)
        except OSError:
            return []
        return sorted(out)


# -- describing ---------------------------------------------------------------------------------

def _dtype(value: Any) -> tuple[str, list[FieldInfo] | None]:
    try:
        dt = np.dtype(value)
    except TypeError:
        return str(value), None
    if dt.kind == "T":
        return "vlen-str(utf-8)", None
    if dt.kind == "O":
        return "object", None
    if dt.names:
        return f"compound({dt.itemsize} bytes)", [
            FieldInfo(name=n, dtype=_dtype(dt.fields[n][0])[0], offset=int(dt.fields[n][1])) for n in dt.names[:64]
        ]
    return dt.str, None


def _codec_name(codec: Any) -> str:
    if hasattr(codec, "codec_id"):
        return str(codec.codec_id)
    try:
        return str(codec.to_dict()["name"])
    except Exception:  # noqa: BLE001
        return type(codec).__name__


def _filters(md: dict[str, Any], fmt: int) -> list[FilterInfo]:
    out = []
    if fmt >= 3:
        for codec in md.get("codecs") or []:
            if isinstance(codec, dict):
                out.append(FilterInfo(name=str(codec.get("name")), options=encode_value(codec.get("configuration") or {}, 100)))
            else:
                out.append(FilterInfo(name=str(codec)))
    else:
        for codec in [*(md.get("filters") or []), md.get("compressor")]:
            if isinstance(codec, dict):
                options = {k: v for k, v in codec.items() if k != "id"}
                out.append(FilterInfo(name=str(codec.get("id")), options=encode_value(options, 100)))
    return out


def _attrs(node: Any, items: int) -> tuple[int, dict[str, Any]]:
    attrs = node.attrs.asdict()
    return len(attrs), {str(k): encode_value(v, ATTR_CHARS) for k, v in itertools.islice(attrs.items(), max(items, 0))}


class Explorer:
    def __init__(self, listing: Listing, *, attrs: bool, limit: int, max_nodes: int = MAX_NODES) -> None:
        self.listing = listing
        self.attrs = attrs
        self.limit = limit
        self.max_nodes = max_nodes
        self.count = 0

    def node(self, obj: Any, name: str, path: str, depth: int, offset: int = 0) -> NodeInfo:
        self.count += 1
        is_group = isinstance(obj, zarr.Group)
        node = NodeInfo(name=name, path=path, kind="group" if is_group else "dataset")
        try:
            node.n_attrs, node.attrs = _attrs(obj, ATTR_ITEMS if self.attrs else 0)
            node.truncated = self.attrs and len(node.attrs) < node.n_attrs
        except Exception as exc:  # noqa: BLE001
            node.note = f"attributes unreadable: {type(exc).__name__}"
        if is_group:
            names = self.listing.names(obj, path)
            node.n_children = len(names)
            if depth > 0:
                self.list_children(node, obj, names, depth, offset)
        else:
            self._array(node, obj)
        return node

    def list_children(self, node: NodeInfo, group: Any, names: list[str], depth: int, offset: int) -> None:
        node.offset = offset
        limit = min(self.limit, max(self.max_nodes - self.count, 0))
        page = names[offset : offset + limit]
        for name, child in zip(page, _open_members(group, page), strict=True):
            path = node.path.rstrip("/") + "/" + name
            if isinstance(child, PathOutsideRootError):
                raise child
            if isinstance(child, BaseException):  # a damaged member must not hide its siblings
                self.count += 1
                node.children.append(NodeInfo(name=name, path=path, kind="dangling",
                                              note=f"unreadable: {type(child).__name__}: {str(child)[:120]}"))
                continue
            node.children.append(self.node(child, name, path, depth - 1))
        if offset + len(node.children) < len(names):
            node.next_offset = offset + len(node.children)
            node.truncated = True

    def _array(self, node: NodeInfo, arr: Any) -> None:
        md = arr.metadata.to_dict()
        fmt = int(arr.metadata.zarr_format)
        node.shape = list(arr.shape)
        node.dtype, node.fields = _dtype(arr.dtype)
        node.chunks = list(arr.chunks)
        node.shards = list(arr.shards) if getattr(arr, "shards", None) else None
        node.layout = "sharded" if node.shards else "chunked"
        node.filters = _filters(md, fmt)
        codecs = [*arr.filters, *arr.compressors]
        node.compression = "+".join(_codec_name(c) for c in codecs) or None
        node.fill_value = encode_value(arr.fill_value, 100)
        node.nbytes = int(arr.nbytes)
        names = getattr(arr.metadata, "dimension_names", None)
        node.dimension_names = list(names) if names else None
        node.note = f"zarr v{fmt}"


def _open_members(group: Any, names: list[str]) -> list[Any]:
    """The members ``names`` of ``group``, their metadata read concurrently (an exception for a damaged one)."""
    if not names:
        return []
    import asyncio

    from zarr.core.sync import sync

    async_group = group._async_group

    async def fetch() -> list[Any]:
        return await asyncio.gather(*(async_group.getitem(n) for n in names), return_exceptions=True)

    try:
        found = sync(fetch())
    except Exception:  # noqa: BLE001 - zarr internals changed: one at a time through the public API
        found = []
        for name in names:
            try:
                found.append(group[name])
            except Exception as exc:  # noqa: BLE001
                found.append(exc)
        return found
    return [zarr.Group(m) if isinstance(m, zarr.AsyncGroup) else zarr.Array(m) if isinstance(m, zarr.AsyncArray) else m
            for m in found]


def _consolidated(root: Any) -> bool:
    return isinstance(root, zarr.Group) and getattr(root.metadata, "consolidated_metadata", None) is not None


def _member(root: Any, key: str) -> Any:
    key = key.strip("/")
    if not key:
        return root
    if not isinstance(root, zarr.Group):
        raise KeyNotFoundError(f"the store is a single array; it has no member {key!r}")
    try:
        return root[key]
    except (KeyError, ValueError):
        raise KeyNotFoundError(f"no array or group {key!r} in the store",
                               hint="Explore its parent group to list what is there.").with_paths(
                                   key, members_of(root)) from None


def members_of(root: Any) -> Any:
    """``members(path)``: the names in the group at ``path`` of ``root`` (None if none), for nearest keys."""
    def members(path: str) -> Any:
        try:
            node = root[path] if path else root
        except (KeyError, ValueError):
            return None
        return node.keys() if isinstance(node, zarr.Group) else None

    return members


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
) -> tuple[NodeInfo, int, bool]:
    """(node at ``group`` with ``depth`` levels of children, zarr format, consolidated metadata used)."""
    with open_root(path, sandbox) as root:
        consolidated = _consolidated(root)
        obj = _member(root, group)
        key = "/" + group.strip("/")
        ex = Explorer(Listing(path, consolidated), attrs=attrs, limit=limit, max_nodes=max_nodes)
        node = ex.node(obj, key.rsplit("/", 1)[-1] or "/", key, depth, offset)
        return node, int(root.metadata.zarr_format), consolidated


def key_exists(path: Path, key: str, *, sandbox: Sandbox | None) -> tuple[bool, str | None]:
    """(exists, kind); a missing key is (False, None), never an error."""
    with open_root(path, sandbox) as root:
        try:
            obj = _member(root, key)
        except KeyNotFoundError:
            return False, None
        return True, "group" if isinstance(obj, zarr.Group) else "dataset"
