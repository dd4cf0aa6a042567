"""Zarr v2/v3 on S3 through zarr's own ``FsspecStore``, wrapped: keys confined, requests counted and bounded.

Opening a remote store costs one LIST of its top level (taken when the store is pinned) and
one GET of its consolidated metadata when it has some (``.zmetadata`` for v2; v3 keeps it in
the root ``zarr.json``): every metadata document zarr then asks for is answered from those,
and top-level keys the listing shows absent are answered "missing" without a request. Chunks
are read by zarr through ``FsspecStore`` (each GET counted on the call, retried with back-off,
bounded by the time-out, failures coded REMOTE_ERROR / TIMEOUT). Every key zarr asks for is
checked as text (no ``..``, ``//``, escapes) before it reaches the store.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from zarr.core.buffer import default_buffer_prototype
from zarr.storage import FsspecStore, WrapperStore

from io_core.errors import PathOutsideRootError
from io_core.remote import stats
from io_core.remote.roots import clean_key
from io_core.remote.store import _final, coded_failure


def _checked(key: str, where: str) -> str:
    clean = clean_key("", key, f"{where}/{key}")
    if clean != key.strip("/"):
        raise PathOutsideRootError(f"the Zarr key {key!r} would leave the store {where}", path=key)
    return key


class RemoteZarrStore(WrapperStore):
    """See the module docstring."""

    def __init__(self, store: FsspecStore, remote: Any, meta: dict[str, bytes], top: set[str] | None) -> None:
        super().__init__(store)
        self.remote, self.meta, self.top = remote, meta, top
        self.complete = meta.pop(_COMPLETE, None) is not None  # consolidated: meta holds every document

    def _with_store(self, store: Any) -> RemoteZarrStore:
        twin = type(self)(store, self.remote, self.meta, self.top)
        twin.complete = self.complete
        return twin

    def with_read_only(self, read_only: bool = False) -> RemoteZarrStore:
        return self

    async def _call(self, make: Any, size: Any) -> Any:
        cfg = self.remote.config
        for i in range(1 + max(cfg.retries, 0)):
            try:
                result = await asyncio.wait_for(make(), cfg.timeout)
                stats.count(self.remote.counter, 1, size(result))
                return result
            except Exception as exc:  # noqa: BLE001 - coded below
                stats.count(self.remote.counter, 1, 0)
                if _final(exc) or i == cfg.retries:
                    raise coded_failure(exc,
                                        self.remote.url) from None
                await asyncio.sleep(cfg.backoff * (2**i))
        return None

    def _absent(self, key: str) -> bool:
        return self.top is not None and "/" not in key and key not in self.top

    async def get(self, key: str, prototype: Any = None, byte_range: Any = None) -> Any:
        _checked(key, self.remote.url)
        prototype = prototype or default_buffer_prototype()
        if key in self.meta and byte_range is None:
            return prototype.buffer.from_bytes(self.meta[key])
        if self._absent(key) or (self.complete and _is_meta(key) and key not in self.meta):
            return None
        return await self._call(lambda: self._store.get(key, prototype, byte_range),
                                lambda r: len(r) if r is not None else 0)

    async def get_partial_values(self, prototype: Any, key_ranges: Any) -> list[Any]:
        return [await self.get(k, prototype, r) for k, r in key_ranges]

    async def exists(self, key: str) -> bool:
        _checked(key, self.remote.url)
        if key in self.meta:
            return True
        if self._absent(key):
            return False
        return bool(await self._call(lambda: self._store.exists(key), lambda _: 0))

    async def list_dir(self, prefix: str) -> Any:
        _checked(prefix, self.remote.url)
        stats.count(self.remote.counter, 1, 0)
        async for key in self._store.list_dir(prefix):
            yield key

    async def list_prefix(self, prefix: str) -> Any:
        _checked(prefix, self.remote.url)
        stats.count(self.remote.counter, 1, 0)
        async for key in self._store.list_prefix(prefix):
            yield key

    async def list(self) -> Any:
        stats.count(self.remote.counter, 1, 0)
        async for key in self._store.list():
            yield key


_META = ("zarr.json", ".zarray", ".zgroup", ".zattrs")
_COMPLETE = "\x00complete"  # marks a metadata map taken from consolidated metadata


def _is_meta(key: str) -> bool:
    return key.rsplit("/", 1)[-1] in _META


def consolidated_metadata(remote: Any, top: set[str] | None) -> dict[str, bytes]:
    """Metadata documents known without further requests: from ``.zmetadata`` (v2) or the root ``zarr.json`` (v3)."""
    meta: dict[str, bytes] = {}
    if top is None:
        return meta
    if ".zmetadata" in top:
        raw = (remote / ".zmetadata").read_bytes()
        meta[".zmetadata"] = raw
        try:
            doc = json.loads(raw)
            for k, v in (doc.get("metadata") or {}).items():
                meta[k] = json.dumps(v).encode()
        except (ValueError, AttributeError):
            return {".zmetadata": raw}
        meta[_COMPLETE] = b"1"
    if "zarr.json" in top:
        raw = (remote / "zarr.json").read_bytes()
        meta = {"zarr.json": raw}  # a v3 store: zarr.json is its only metadata document
        try:
            if json.loads(raw).get("consolidated_metadata"):
                meta[_COMPLETE] = b"1"
        except (ValueError, AttributeError):
            pass
    return meta


def open_store(remote: Any) -> RemoteZarrStore:
    """A read-only zarr store on the remote folder object ``remote`` (an ``io_core.remote.path.RemotePath``)."""
    top = remote.listing_names()
    if top is not None and not top & {"zarr.json", ".zgroup", ".zarray", ".zmetadata"}:
        from io_core.errors import CorruptFileError

        raise CorruptFileError(f"{remote.name!r} is not a Zarr store (no zarr.json, .zarray or .zgroup)")
    meta = consolidated_metadata(remote, top)
    store = remote.store
    inner = FsspecStore(store.async_fs(), read_only=True, path=store.path_of(remote.root, remote.key))
    return RemoteZarrStore(inner, remote, meta, top)
