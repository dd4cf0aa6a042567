"""Remote roots: objects on S3 (and plain HTTPS) read by byte ranges, confined like local files.

* ``roots``: parsing roots and confining a user's path to one (text only, no I/O);
* ``path``: ``RemotePath`` (what handlers get) and ``RemotePin`` (what the sandbox pins);
* ``store``: fsspec/s3fs underneath, every request bounded, retried and coded;
* ``ranges``: the byte-bounded block cache and the ``RemoteFile`` formats read through;
* ``stats``: requests and bytes per call (access log) and per process;
* ``formats``: which formats read remote objects through file objects, and the bounded local
  copy for the others; ``zarr_store``: Zarr through zarr's own ``FsspecStore``; ``listing``:
  ``find_files`` on a prefix; ``writing``: uploads when remote writes are allowed.

Nothing here imports fsspec, s3fs or aiohttp until a remote object is read.
"""

from __future__ import annotations

from typing import Any

from io_core.remote.roots import RemoteConfig, RemoteRoot, RemoteRoots, looks_remote, parse_root, split_roots

__all__ = ["RemoteConfig", "RemoteRoot", "RemoteRoots", "is_remote", "looks_remote", "open_binary", "parse_root",
           "split_roots"]


def is_remote(path: Any) -> bool:
    """Whether a handler was given a remote object (``io_core.remote.path.RemotePath``)."""
    return type(path).__name__ == "RemotePath" and type(path).__module__ == "io_core.remote.path"


def open_binary(path: Any, *, buffering: int = -1) -> Any:
    """A binary file object on ``path``: ``open(path, "rb")`` locally, a ranged ``RemoteFile`` remotely."""
    if is_remote(path):
        return path.open("rb", buffering)
    return open(path, "rb", buffering)
