"""Remote roots (``s3://bucket/prefix``, ``https://host/prefix/``) and the confinement of keys to them.

A user's path naming a remote object is checked here as *text*, before any library sees it:
the scheme and authority (bucket, or host[:port]) must be a root's exactly, and the key is
normalised (``.`` dropped, ``..`` popped) and must stay inside the root's prefix. Everything
a store or a URL parser could read differently from us is refused outright as
``PATH_OUTSIDE_ROOT``: percent-escapes (``%2e%2e``), empty segments (``//``), ``@``,
``?`` (query strings), ``#`` (fragments), backslashes and control characters. What comes out
is a bucket + key (or host + key) built by us; fsspec never interprets a user's string.

Pure Python (no fsspec import): the sandbox asks this module about every path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from io_core.errors import PathOutsideRootError

SCHEMES = ("s3", "https", "http")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)(/.*)?$", re.DOTALL)
_LOOKS_REMOTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(//|$)")
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_BAD = re.compile(r"[\x00-\x1f\x7f\\?#@]")


@dataclass(frozen=True)
class RemoteConfig:
    """How remote roots are reached (picklable: HDF5 worker processes build their workspace from it).

    ``timeout``: seconds one request may take (connect and read); ``retries``: attempts after
    the first, with exponential back-off from ``backoff`` seconds; ``cache_bytes`` bounds the
    in-memory range cache (per process); ``block_bytes`` is the unit ranges are fetched and cached in,
    and a small read that misses fetches ``readahead_bytes`` more (``io_core.remote.ranges``).
    ``fetch_max_bytes``: formats that cannot read through a file object get a private local
    copy of objects up to this size (0: never; they are then UNSUPPORTED_OPERATION).
    Credentials come from the standard AWS chain (environment, profile, instance role).
    """

    endpoint_url: str | None = None
    allow_writes: bool = False
    timeout: float = 20.0
    retries: int = 2
    backoff: float = 0.2
    cache_bytes: int = 256 * 1024 * 1024
    block_bytes: int = 64 * 1024
    readahead_bytes: int = 1024 * 1024
    fetch_max_bytes: int = 64 * 1024 * 1024
    anon: bool = False
    options: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class RemoteRoot:
    """One remote root: ``scheme://authority/prefix`` (prefix without leading or trailing slash)."""

    scheme: str
    authority: str
    prefix: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.authority}/{self.prefix}" if self.prefix else f"{self.scheme}://{self.authority}"

    @property
    def writable_scheme(self) -> bool:
        return self.scheme == "s3"

    def url_of(self, key: str) -> str:
        return f"{self.scheme}://{self.authority}/{key}" if key else f"{self.scheme}://{self.authority}"

    def contains(self, key: str) -> bool:
        return not self.prefix or key == self.prefix or key.startswith(self.prefix + "/")


def looks_remote(text: str) -> bool:
    """Whether a path is written as a URL (``scheme://...`` or a bare ``scheme:``): never a local name to walk."""
    return bool(_LOOKS_REMOTE.match(text))


def parse_root(text: str) -> RemoteRoot | None:
    """A remote root from an operator's ``--root`` value; None when it is a local path."""
    if not looks_remote(text):
        return None
    m = _URL.match(text)
    if m is None or m.group(1).lower() not in SCHEMES:
        raise ValueError(f"remote roots are s3://bucket/prefix or https://host/prefix, not {text!r}")
    scheme, authority = m.group(1).lower(), m.group(2).lower()
    if not authority or _BAD.search(authority) or _ESCAPE.search(authority):
        raise ValueError(f"a remote root needs a plain bucket or host: {text!r}")
    segments = [s for s in (m.group(3) or "").split("/") if s]
    if any(s in (".", "..") or _BAD.search(s) or _ESCAPE.search(s) for s in segments):
        raise ValueError(f"a remote root's prefix must be plain names: {text!r}")
    return RemoteRoot(scheme, authority, "/".join(segments))


def short(raw: str, n: int = 120) -> str:
    """A user's path quoted for an error message, cut to ``n`` characters (as ``io_core.paths.short``)."""
    return repr(raw) if len(raw) <= n else repr(raw[:n])[:-1] + "…" + repr(raw[:n])[-1]


def _outside(raw: str, why: str) -> PathOutsideRootError:
    return PathOutsideRootError(f"{short(raw)} {why}", path=raw,
                                hint="Name an object inside a remote root by its plain key (list_roots shows the roots).")


def clean_key(base: str, rel: str, raw: str) -> str:
    """``rel`` (slash-separated) normalised below the key ``base``; refused when it holds a URL trick."""
    if _BAD.search(rel) or _ESCAPE.search(rel):
        raise _outside(raw, "holds characters a store or URL parser reads differently (%-escapes, @, ?, #, \\)")
    parts = rel.split("/")
    if rel.endswith("/"):
        parts.pop()
    if rel.startswith("/"):
        parts.pop(0)
    if any(p == "" for p in parts) and rel not in ("", "/"):
        raise _outside(raw, "has an empty name (//)")
    names = [p for p in base.split("/") if p]
    for p in parts:
        if p in ("", "."):
            continue
        if p == "..":
            if not names:
                raise _outside(raw, "climbs above the bucket or host")
            names.pop()
        else:
            names.append(p)
    return "/".join(names)


class RemoteRoots:
    """The remote roots of one sandbox, in order, and the check that confines a path to one of them."""

    def __init__(self, roots: list[RemoteRoot], config: RemoteConfig | None, first: bool) -> None:
        self.roots = roots
        self.config = config or RemoteConfig()
        self.first = first  # the first root of the sandbox is remote: relative paths are keys below it

    def writable(self, root: RemoteRoot) -> bool:
        """Remote roots are read-only unless remote writes are allowed (and never over plain HTTP(S))."""
        return self.config.allow_writes and root.writable_scheme

    def locate(self, raw: str) -> tuple[RemoteRoot, str] | None:
        """(root, key) for a path naming a remote object; None for a local path; PATH_OUTSIDE_ROOT otherwise."""
        if looks_remote(raw):
            m = _URL.match(raw)
            if m is None:
                raise _outside(raw, "is not a URL of a remote root")
            scheme, authority = m.group(1).lower(), m.group(2)
            if _BAD.search(authority) or _ESCAPE.search(authority):
                raise _outside(raw, "names a bucket or host with URL tricks (@, %-escapes)")
            same = [r for r in self.roots if r.scheme == scheme and r.authority == authority.lower()]
            if not same:
                raise _outside(raw, "is not inside a remote root (another bucket, host or scheme)")
            key = clean_key("", m.group(3) or "", raw)
            for root in sorted(same, key=lambda r: -len(r.prefix)):
                if root.contains(key):
                    return root, key
            raise _outside(raw, "is outside the remote root's prefix")
        if raw.startswith("/") or not self.first:
            return None
        if _SCHEME_LIKE.match(raw):  # "s3:/bucket/x", "gs:x": a mistyped URL, never a key
            raise _outside(raw, "looks like a URL of another kind")
        root = self.roots[0]
        key = clean_key(root.prefix, raw, raw)
        if not root.contains(key):
            raise _outside(raw, "climbs out of the remote root's prefix")
        return root, key

    def display(self, root: RemoteRoot, key: str) -> str:
        """As a client should see it: relative to the first root when that is this remote root, else the URL."""
        if self.first and root == self.roots[0]:
            rel = key[len(root.prefix):].lstrip("/") if root.prefix else key
            return rel or "."
        return root.url_of(key)


def split_roots(roots: list, config: RemoteConfig | None) -> tuple[list, RemoteRoots | None]:
    """(local roots, remote roots or None) from a mixed list, the order of each kept."""
    local, remote = [], []
    first_remote = False
    for i, r in enumerate(roots):
        parsed = parse_root(r) if isinstance(r, str) else None
        if parsed is None:
            local.append(r)
        else:
            remote.append(parsed)
            first_remote = first_remote or i == 0
    return local, (RemoteRoots(remote, config, first_remote) if remote else None)
