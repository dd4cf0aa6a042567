"""The object store behind remote roots: fsspec (s3fs, HTTP) made once per process, each request
bounded in time, retried with back-off, and its failures coded.

Every request io_core makes to a store goes through ``Store.call``: at most ``1 + retries``
attempts, each limited to ``timeout`` seconds (botocore/aiohttp time-outs and fsspec's own
``sync`` time-out), with exponential back-off between attempts; "not found" and "access
denied" are not retried. What is left is ``REMOTE_ERROR`` with the store's message, or
``TIMEOUT``. s3fs's own retry loop is cut to one attempt so the bound is ours.

fsspec and s3fs are imported on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from io_core.errors import (
    FileNotFoundIOError,
    IOCoreError,
    PermissionDeniedError,
    RemoteError,
    RemoteTimeoutError,
)
from io_core.remote.roots import RemoteConfig, RemoteRoot

log = logging.getLogger("io_core.remote")


def _is_timeout(exc: BaseException) -> bool:
    names = {c.__name__ for c in type(exc).__mro__}
    return bool(names & {"TimeoutError", "FSTimeoutError", "ReadTimeoutError", "ConnectTimeoutError",
                         "ServerTimeoutError", "ReadTimeout", "ConnectTimeout"})


def coded_failure(exc: BaseException, url: str) -> IOCoreError:
    """What a store's exception means for the caller."""
    if isinstance(exc, IOCoreError):
        return exc
    text = f"{type(exc).__name__}: {str(exc)[:300]}"
    if isinstance(exc, FileNotFoundError):
        return FileNotFoundIOError(f"no such object: {url}", path=url)
    if isinstance(exc, PermissionError):
        return PermissionDeniedError(f"the store refused access to {url}: {text}", path=url)
    if _is_timeout(exc):
        return RemoteTimeoutError(f"the object store did not answer in time for {url}: {text}", path=url)
    if "PreconditionFailed" in text or "412" in text:
        return RemoteError(f"{url} changed while it was being read: {text}", path=url,
                           hint="The object was replaced meanwhile; ask again to read the new version.")
    return RemoteError(f"the object store failed for {url}: {text}", path=url)


def _final(exc: BaseException) -> bool:
    return isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, ValueError,
                            IOCoreError)) or "PreconditionFailed" in str(exc)


class Store:
    """One fsspec filesystem for one scheme (+ endpoint), with bounded, retried, coded calls."""

    def __init__(self, scheme: str, config: RemoteConfig) -> None:
        self.scheme = scheme
        self.config = config
        self._fs: Any = None
        self._lock = threading.Lock()
        self.known: dict[str, dict[str, Any]] = {}  # URL -> info of the version last pinned

    @property
    def fs(self) -> Any:
        with self._lock:
            if self._fs is None:
                self._fs = self._make()
            return self._fs

    def _make(self, asynchronous: bool = False) -> Any:
        c = self.config
        if self.scheme == "s3":
            import s3fs

            fs = s3fs.S3FileSystem(
                anon=c.anon, endpoint_url=c.endpoint_url, skip_instance_cache=True, use_listings_cache=False,
                asynchronous=asynchronous,
                config_kwargs={"connect_timeout": c.timeout, "read_timeout": c.timeout,
                               "retries": {"max_attempts": 1, "mode": "standard"}},
                **dict(c.options),
            )
            fs.retries = 1  # our loop (Store.call) retries, bounded by the configured time
            return fs
        import aiohttp
        from fsspec.implementations.http import HTTPFileSystem

        return HTTPFileSystem(skip_instance_cache=True, block_size=0, asynchronous=asynchronous,
                              client_kwargs={"timeout": aiohttp.ClientTimeout(total=c.timeout)})

    def async_fs(self) -> Any:
        """A second filesystem in asynchronous mode, for libraries running their own event loop (zarr)."""
        with self._lock:
            if getattr(self, "_afs", None) is None:
                self._afs = self._make(asynchronous=True)
            return self._afs

    def call(self, what: str, url: str, func: Callable[[], Any]) -> Any:
        """``func()`` (one store request), retried with back-off; a coded error when it keeps failing."""
        attempts = 1 + max(self.config.retries, 0)
        for i in range(attempts):
            try:
                return func()
            except BaseException as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                if _final(exc) or i == attempts - 1:
                    log.info("remote %s %s failed: %s: %s", what, url, type(exc).__name__, str(exc)[:200])
                    raise coded_failure(exc, url) from None
                time.sleep(self.config.backoff * (2**i))
        raise AssertionError("unreachable")

    def sync(self, coro_fn: Callable[[], Any]) -> Any:
        """Run an async fsspec coroutine on the filesystem's loop, bounded by the time-out."""
        from fsspec.asyn import sync

        return sync(self.fs.loop, coro_fn, timeout=self.config.timeout)

    # -- requests -----------------------------------------------------------------------------------
    def path_of(self, root: RemoteRoot, key: str) -> str:
        """What fsspec is given: built by us from a checked bucket/host and key."""
        if self.scheme == "s3":
            return f"{root.authority}/{key}" if key else root.authority
        from urllib.parse import quote

        return f"{root.scheme}://{root.authority}/{quote(key, safe='/')}"

    def info(self, root: RemoteRoot, key: str) -> dict[str, Any]:
        path = self.path_of(root, key)
        url = root.url_of(key)
        if self.scheme == "s3":
            return self.call("info", url, lambda: self.sync(lambda: self.fs._info(path)))

        async def head() -> dict[str, Any]:  # fsspec's HTTP _info turns every failure into "not found"
            session = await self.fs.set_session()
            async with session.head(path, allow_redirects=True, headers={"Accept-Encoding": "identity"}) as r:
                if r.status == 404:
                    raise FileNotFoundError(url)
                if r.status in (401, 403):
                    raise PermissionError(f"HTTP {r.status}")
                r.raise_for_status()
                if "Content-Length" not in r.headers:
                    raise OSError(f"the server gave no size for {url} (Content-Length)")
                info = {"type": "file", "size": int(r.headers["Content-Length"])}
                for name in ("ETag", "Last-Modified"):
                    if r.headers.get(name):
                        info[name] = r.headers[name]
                return info

        return self.call("info", url, lambda: self.sync(head))

    def head_get(self, root: RemoteRoot, key: str, nbytes: int, *, still_cached: Callable[[dict], bool],
                 ) -> tuple[dict[str, Any], bytes] | None:
        """(info, first bytes) of an S3 object from one ranged GET; None when it is not an object (a prefix,
        an empty object): the caller then asks ``info``. When the version pinned last still has its head in
        the cache (``still_cached(info)``) the GET is If-None-Match: unchanged, it costs a 304 and no bytes."""
        url = root.url_of(key)
        known = self.known.get(url)
        if known is not None and not still_cached(known):
            known = None

        async def get() -> tuple[dict[str, Any], bytes] | None:
            kw = {"IfNoneMatch": known["ETag"]} if known and known.get("ETag") else {}
            try:
                resp = await self.fs._call_s3("get_object", Bucket=root.authority, Key=key,
                                              Range=f"bytes=0-{max(nbytes, 1) - 1}", **kw)
            except (FileNotFoundError, OSError) as exc:
                text = str(exc)
                if known is not None and ("304" in text or "Not Modified" in text or "NotModified" in text):
                    return dict(known), b""
                if isinstance(exc, FileNotFoundError) or "InvalidRange" in text or "416" in text:
                    return None
                raise
            try:
                data = await resp["Body"].read()
            finally:
                resp["Body"].close()
            total = str(resp.get("ContentRange") or "").rpartition("/")[2]
            size = int(total) if total.isdigit() else len(data)
            info = {"type": "file", "size": size, "ETag": resp.get("ETag"), "LastModified": resp.get("LastModified")}
            if resp.get("VersionId"):
                info["VersionId"] = resp["VersionId"]
            return info, data

        got = self.call("get", url, lambda: self.sync(get))
        if got is not None and got[0].get("ETag"):
            with self._lock:
                self.known[url] = got[0]
                while len(self.known) > 4096:
                    self.known.pop(next(iter(self.known)))
        return got

    def fetch(self, root: RemoteRoot, key: str, start: int, end: int, etag: str | None, version: str | None) -> bytes:
        """Bytes ``[start, end)`` of one object version (S3: If-Match on the ETag, or the version id)."""
        url = root.url_of(key)
        if self.scheme == "s3":
            bucket, k = root.authority, key

            async def get() -> bytes:
                kw: dict[str, Any] = {"Range": f"bytes={start}-{end - 1}"}
                if version:
                    kw["VersionId"] = version
                elif etag:
                    kw["IfMatch"] = etag
                resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=k, **kw)
                try:
                    return await resp["Body"].read()
                finally:
                    resp["Body"].close()

            return self.call("get", url, lambda: self.sync(get))
        path = self.path_of(root, key)
        return self.call("get", url, lambda: self.sync(lambda: self.fs._cat_file(path, start=start, end=end)))

    def listing(self, root: RemoteRoot, key: str, *, recursive: bool, limit: int) -> list[dict[str, Any]]:
        """Entries below ``key`` (objects; folders when not recursive), at most ``limit`` (S3 pages of 1,000)."""
        url = root.url_of(key)
        if self.scheme != "s3":
            path = self.path_of(root, key)
            return self.call("list", url, lambda: self.sync(lambda: self.fs._ls(path, detail=True)))[:limit]
        bucket = root.authority
        prefix = f"{key}/" if key else ""

        async def pages() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            token: str | None = None
            while len(out) < limit:
                kw: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": min(1000, limit - len(out) + 1)}
                if not recursive:
                    kw["Delimiter"] = "/"
                if token:
                    kw["ContinuationToken"] = token
                resp = await self.fs._call_s3("list_objects_v2", **kw)
                for p in resp.get("CommonPrefixes", []):
                    out.append({"key": p["Prefix"].rstrip("/"), "type": "directory", "size": None})
                for o in resp.get("Contents", []):
                    out.append({"key": o["Key"], "type": "file", "size": o.get("Size"), "ETag": o.get("ETag")})
                token = resp.get("NextContinuationToken")
                if not resp.get("IsTruncated") or not token:
                    break
            return out

        return self.call("list", url, lambda: self.sync(pages))


_STORES: dict[tuple[str, RemoteConfig], Store] = {}
_STORES_LOCK = threading.Lock()


def store_for(scheme: str, config: RemoteConfig) -> Store:
    """The process's store for a scheme and configuration (made once)."""
    kind = "s3" if scheme == "s3" else "http"
    with _STORES_LOCK:
        store = _STORES.get((kind, config))
        if store is None:
            store = _STORES[(kind, config)] = Store(kind, config)
        return store


def forget_versions() -> None:
    """Forget the object versions pinned so far (the next pin of each reads its head again)."""
    with _STORES_LOCK:
        for store in _STORES.values():
            store.known.clear()
