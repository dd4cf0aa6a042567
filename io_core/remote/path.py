"""Remote objects as handlers see them: ``RemotePath`` (a checked bucket/host + key) and ``RemotePin``.

The sandbox pins a remote path as it pins a local file: the object's size, ETag and version
id are read once (one HEAD request), and every read of the call is of that version (S3
``If-Match`` / ``versionId``; see ``io_core.remote.store``). Handlers are handed the
``RemotePath``; formats that read through file objects call ``open_binary(path)``
(``io_core.remote``), which gives a ``RemoteFile`` on the range cache.

A ``RemotePath`` is ``os.PathLike`` only so that name-based helpers (``Path(p).name``,
suffixes) keep working: its ``__fspath__`` is ``/proc/sciio-remote/...``, a name no local
file can have (procfs holds no such entry), so a library that tries to open it by name
fails with "no such file" and never reads anything local.
"""

from __future__ import annotations

import logging
import stat as st_
from dataclasses import dataclass
from typing import Any, Self

from io_core.errors import FileNotFoundIOError, NotAFileError
from io_core.remote import stats
from io_core.remote.roots import RemoteConfig, RemoteRoot, clean_key

log = logging.getLogger("io_core.remote")
SENTINEL = "/proc/sciio-remote"
FOLDER_SUFFIXES = (".zarr",)
STREAM_BYTES = 8 * 1024 * 1024  # range size when an object is read whole (hashing, downloads)


@dataclass(frozen=True)
class Stat:
    """What ``os.stat`` would say, for the fields io_core uses."""

    st_size: int
    st_mtime: float
    st_mode: int
    st_mtime_ns: int = 0
    st_ino: int = 0
    st_dev: int = 0


class RemotePath:
    """An object (or a key prefix: a "folder") inside one remote root."""

    __slots__ = ("_info", "_listed", "counter", "key", "root", "roots")

    def __init__(self, root: RemoteRoot, key: str, roots: Any, counter: stats.Counter | None = None) -> None:
        self.root, self.key, self.roots = root, key, roots  # roots: io_core.remote.roots.RemoteRoots
        self.counter = counter if counter is not None else stats.current()
        self._info: dict[str, Any] | None = None
        self._listed: dict[str, dict[str, Any]] | None = None  # names below, from one LIST

    # -- names ---------------------------------------------------------------------------------
    @property
    def config(self) -> RemoteConfig:
        return self.roots.config

    @property
    def url(self) -> str:
        return self.root.url_of(self.key)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1] if self.key else self.root.authority

    @property
    def suffixes(self) -> list[str]:
        name = self.name.lstrip(".")
        return ["." + s for s in name.split(".")[1:]]

    @property
    def suffix(self) -> str:
        s = self.suffixes
        return s[-1] if s else ""

    @property
    def stem(self) -> str:
        return self.name[: len(self.name) - len(self.suffix)] if self.suffix else self.name

    @property
    def parent(self) -> RemotePath:
        if not self.key or "/" not in self.key:
            return RemotePath(self.root, "", self.roots, self.counter)
        return RemotePath(self.root, self.key.rsplit("/", 1)[0], self.roots, self.counter)

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(p for p in self.key.split("/") if p)

    def joinpath(self, *others: str) -> RemotePath:
        key = self.key
        for other in others:
            key = clean_key(key, str(other), f"{self.url}/{other}")
        child = RemotePath(self.root, key, self.roots, self.counter)
        listed = self._listed.get(key[len(self.key) + 1:] if self.key else key) if self._listed else None
        if listed is not None and listed.get("type") == "file":  # known from the folder's LIST: no HEAD
            child._info = {"type": "file", "size": listed["size"], "ETag": listed.get("ETag")}
        if not self.root.contains(key):
            from io_core.remote.roots import _outside

            raise _outside(child.url, "leaves the remote root")
        return child

    def __truediv__(self, other: str) -> RemotePath:
        return self.joinpath(other)

    def is_relative_to(self, other: Any) -> bool:
        return isinstance(other, RemotePath) and other.root == self.root and (
            not other.key or self.key == other.key or self.key.startswith(other.key + "/"))

    def with_counter(self, counter: stats.Counter | None) -> RemotePath:
        twin = RemotePath(self.root, self.key, self.roots, counter)
        twin._info, twin._listed = self._info, self._listed
        return twin

    def __fspath__(self) -> str:
        return f"{SENTINEL}/{self.root.scheme}/{self.root.authority}/{self.key}"

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"RemotePath({self.url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.url == self.url

    def __hash__(self) -> int:
        return hash(("remote", self.url))

    # -- the store ---------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        from io_core.remote.store import store_for

        return store_for(self.root.scheme, self.config)

    def info(self) -> dict[str, Any]:
        """The object's size, type, ETag and version (asked once per path object).

        A name of a folder format (``.zarr``) on S3 is listed first (one LIST gives both "it is a
        folder" and its top-level names, which the Zarr store uses); anything else is one HEAD.
        """
        if self._info is None:
            if self.root.scheme == "s3" and (self.suffix.lower() in FOLDER_SUFFIXES or not self.key):
                names = self.listing_names(fresh=True)
                if names:
                    self._info = {"type": "directory", "size": 0, "names": names}
                    return self._info
                self._listed = None
            if self.root.scheme == "s3" and self.key:  # one ranged GET: size, ETag and the head's bytes at once
                from io_core.remote.ranges import head_cached

                head = self.store.head_get(self.root, self.key, self.config.readahead_bytes,
                                           still_cached=lambda info: head_cached(self, info))
                if head is not None:
                    info, data = head
                    stats.count(self.counter, 1, len(data))
                    self._info = info
                    if data:  # (none when the version pinned last is still current: 304)
                        from io_core.remote.ranges import seed

                        seed(self, data)
                    return info
            info = self.store.info(self.root, self.key)
            stats.count(self.counter, 1, 0)
            self._info = info
        return self._info

    def listing_names(self, fresh: bool = False) -> set[str] | None:
        """Names directly below this folder (one LIST, up to 1,000 entries; None when there are more)."""
        if not fresh and self._info is not None and "names" in self._info:
            return self._info["names"]
        entries = self.store.listing(self.root, self.key, recursive=False, limit=1000)
        stats.count(self.counter, 1, 0)
        if len(entries) >= 1000:
            return None
        cut = len(self.key) + 1 if self.key else 0
        children = {e["key"][cut:]: e for e in entries if e["key"][cut:]}
        if self._info is not None:
            self._info["children"] = children
        self._listed = children
        return set(children)

    @property
    def size(self) -> int:
        return int(self.info().get("size") or 0)

    @property
    def etag(self) -> str | None:
        info = self.info()
        tag = info.get("ETag") or info.get("etag")
        return str(tag) if tag else None

    @property
    def version(self) -> str | None:
        v = self.info().get("VersionId")
        return str(v) if v and v != "null" else None

    def fetch(self, start: int, end: int, counter: stats.Counter | None = None) -> bytes:
        data = self.store.fetch(self.root, self.key, start, end, self.etag, self.version)
        stats.count(counter if counter is not None else self.counter, 1, len(data))
        return data

    def forget(self) -> None:
        """Drop what is known of the object (after it was replaced)."""
        self._info, self._listed = None, None

    def facts(self) -> dict[str, Any]:
        """What the ledger records of an object: URL, size, ETag and version id (where the store has them)."""
        return {"url": self.url, "size": self.size, "etag": self.etag, "version_id": self.version}

    def sha256(self) -> tuple[str, int]:
        """(digest, size) of this object version, streamed in large ranges (not through the range cache)."""
        import hashlib

        if self.is_dir():
            from io_core.errors import UnsupportedOperationError

            raise UnsupportedOperationError(f"{self.url} is a folder store; remote folders are not hashed",
                                            hint="verify_file hashes remote objects (single files).")
        h = hashlib.sha256()
        size, step = self.size, STREAM_BYTES
        for start in range(0, size, step):
            h.update(self.fetch(start, min(start + step, size)))
        return h.hexdigest(), size

    def exists(self) -> bool:
        try:
            self.info()
        except FileNotFoundIOError:
            return False
        return True

    def is_dir(self) -> bool:
        try:
            return self.info().get("type") == "directory"
        except FileNotFoundIOError:
            return False

    def is_file(self) -> bool:
        try:
            return self.info().get("type", "file") == "file"
        except FileNotFoundIOError:
            return False

    def stat(self) -> Stat:
        info = self.info()
        mtime = info.get("LastModified") or info.get("last_modified")
        stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else 0.0
        mode = st_.S_IFDIR | 0o555 if info.get("type") == "directory" else st_.S_IFREG | 0o444
        return Stat(st_size=int(info.get("size") or 0), st_mtime=stamp, st_mode=mode, st_mtime_ns=int(stamp * 1e9))

    # -- reading ------------------------------------------------------------------------------
    def open(self, mode: str = "rb", buffering: int = -1) -> Any:
        """A seekable binary file object on this object's version, through the range cache."""
        if mode not in ("r", "rb"):
            raise NotAFileError(f"{self.url} is opened for reading only")
        from io_core.remote.ranges import RemoteFile, open_buffered

        if not self.is_file():
            raise NotAFileError(f"{self.url} is not an object")
        return RemoteFile(self, self.counter) if buffering == 0 else open_buffered(self, self.counter)

    def read_bytes(self) -> bytes:
        from io_core.remote.ranges import RemoteFile

        return RemoteFile(self, self.counter).read_range(0, self.size)

    def head(self, n: int) -> bytes:
        from io_core.remote.ranges import RemoteFile

        return RemoteFile(self, self.counter).read_range(0, min(n, self.size))

    def iterdir(self) -> list[RemotePath]:
        entries = self.store.listing(self.root, self.key, recursive=False, limit=10_000)
        stats.count(self.counter, 1, 0)
        out = []
        for e in entries:
            key = e["key"].strip("/")
            if key and key != self.key and self.root.contains(key):
                out.append(RemotePath(self.root, key, self.roots, self.counter))
        return out


class RemotePin:
    """A remote object (or key prefix) pinned for one call: what ``Sandbox.pin`` gives for a remote path.

    The same shape as ``io_core.paths.Pinned`` (``path``, ``real``, ``stat``, ``is_dir``,
    ``fd`` = None, ``close``, ``keep_for``); closing it logs the requests and bytes it cost.
    """

    def __init__(self, path: RemotePath, *, folders: bool) -> None:
        self.own = stats.Counter()
        self._call = stats.current()
        self.path = self.real = path.with_counter(_Both(self.own, self._call))
        try:
            info = self.path.info()
        except FileNotFoundIOError:
            raise FileNotFoundIOError(f"no such object: {path.url}", path=path.url) from None
        self.stat = self.path.stat()
        self.fd = None
        if info.get("type") == "directory" and not folders:
            raise NotAFileError(f"{path.url} is a folder (a key prefix)", path=path.url)

    @property
    def is_dir(self) -> bool:
        return st_.S_ISDIR(self.stat.st_mode)

    def close(self) -> None:
        if self.own.requests:
            log.info("remote %s: %d requests, %d bytes", self.path.url, self.own.requests, self.own.bytes)

    def keep_for(self, value: Any) -> None:
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Both(stats.Counter):
    """Counts into a pin's own counter and the call's (if any)."""

    def __init__(self, own: stats.Counter, call: stats.Counter | None) -> None:
        super().__init__()
        self.own, self.call = own, call

    def add(self, requests: int, nbytes: int) -> None:
        self.own.add(requests, nbytes)
        if self.call is not None:
            self.call.add(requests, nbytes)


def from_record(roots: Any, text: str) -> RemotePath | None:
    """The RemotePath of a URL as stored (``s3://b/k``, or ``s3:/b/k`` once it went through ``Path``); else None."""
    import re

    from io_core.errors import PathOutsideRootError

    m = re.match(r"^(s3|https?):/+([^/].*)$", text)
    if m is None:
        return None
    try:
        hit = roots.locate(f"{m.group(1)}://{m.group(2)}")
    except PathOutsideRootError:
        return None
    return None if hit is None else RemotePath(hit[0], hit[1], roots)


def split_pattern(roots: Any, pattern: str) -> tuple[RemotePath, str] | None:
    """(RemotePath of the root searched, pattern relative to it) for a pattern in a remote root, else None."""
    from io_core.remote.roots import _outside, looks_remote

    if looks_remote(pattern):
        for root in sorted(roots.roots, key=lambda r: -len(r.url)):
            if pattern.startswith(root.url + "/"):
                return RemotePath(root, root.prefix, roots), pattern[len(root.url) + 1:]
        raise _outside(pattern, "is not inside a remote root")
    if roots.first and not pattern.startswith("/"):
        return RemotePath(roots.roots[0], roots.roots[0].prefix, roots), pattern
    return None
