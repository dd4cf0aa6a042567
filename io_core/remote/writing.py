"""Writing to a remote root (only with ``--allow-remote-writes``): a private local temp, then one upload.

The saver writes and the workspace hashes a private temp file exactly as for a local save;
only when that succeeded is it uploaded (s3fs ``put_file``: multipart for large files). An S3
object appears whole when its upload completes, so readers never see a partial object; a
failed save or upload leaves the old object as it was. (A folder store, Zarr, is uploaded file by
file: a reader may see it half-written.) The temp folder is removed either way.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from io_core.errors import ExistsError, ReadOnlyError
from io_core.remote import stats


@contextmanager
def remote_target(target: Any, *, overwrite: bool, sandbox: Any) -> Iterator[Path]:
    """``io_core.atomic.atomic_target`` for a ``RemotePath``: the temp path to write, uploaded on success."""
    remote = getattr(sandbox, "remote", None)
    if remote is None or not remote.writable(target.root):
        raise ReadOnlyError(f"{target.url} is in a read-only remote root",
                            hint="Remote roots are read-only unless the server runs with --allow-remote-writes "
                                 "(s3:// roots only); write to a local root instead.")
    if not target.key or target.key == target.root.prefix:
        raise ExistsError(f"{target.url} names the root, not an object", hint="Choose a file name.")
    if target.exists() and not overwrite:
        raise ExistsError(f"{target.name!r} already exists")
    folder = tempfile.mkdtemp(prefix="sciio-upload-")
    try:
        tmp = Path(folder) / target.name
        yield tmp
        upload(tmp, target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def upload(local: Path, target: Any) -> None:
    store = target.store
    path = store.path_of(target.root, target.key)
    if local.is_dir():  # a folder store (Zarr): its files one by one (readers may see it half-uploaded)
        files = [p for p in local.rglob("*") if p.is_file()]
        for f in files:
            key = f"{path}/{f.relative_to(local).as_posix()}"
            store.call("put", target.url, lambda f=f, key=key: store.fs.put_file(str(f), key))
        stats.count(target.counter, len(files), sum(f.stat().st_size for f in files))
    else:
        size = local.stat().st_size
        store.call("put", target.url, lambda: store.fs.put_file(str(local), path))
        stats.count(target.counter, 1, size)
    target.forget()  # its ETag and version are the new object's from now on (asked once, for the ledger)
