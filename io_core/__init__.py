"""io_core: load, save and summarize scientific files by extension, inside a sandbox.

``load`` / ``save`` / ``summarize`` at module level use an unconfined default
workspace (a script owns its own file system); a server builds a ``Workspace`` with
roots. Importing this package loads no heavy library: formats import theirs on use.
"""

from __future__ import annotations

import os
from typing import Any

from io_core.errors import IOCoreError
from io_core.hooks import (
    IOEvent,
    register_post_load_hook,
    register_post_save_hook,
    unregister_post_load_hook,
    unregister_post_save_hook,
)
from io_core.registry import (
    get_loader,
    get_saver,
    list_formats,
    register_loader,
    register_saver,
    unregister_loader,
    unregister_saver,
)
from io_core.workspace import Workspace

__version__ = "0.1.0"

_default = Workspace(None)


def load(path: str | os.PathLike[str], format: str | None = None, *, key: str | None = None,
         allow_pickle: bool = False) -> Any:
    """Load a file by extension (or ``format``); ``key`` picks a member of a container."""
    ws = _default if not allow_pickle else Workspace(None, allow_pickle=True)
    return ws.load(path, format, key=key)


def save(data: Any, path: str | os.PathLike[str], format: str | None = None, *, overwrite: bool = False,
         dtype: str | None = None, no_csv: bool = False, dry_run: bool = False,
         symlink_to: str | os.PathLike[str] | None = None):
    """Save atomically by extension (or ``format``); refuses to replace unless ``overwrite``.

    A matplotlib Figure also writes its data (CSV) and a YAML recipe beside the picture unless ``no_csv``;
    ``dry_run`` writes nothing and says what would be written; ``symlink_to`` also links that path to the file.
    """
    return _default.save(data, path, format, overwrite=overwrite, dtype=dtype, no_csv=no_csv, dry_run=dry_run,
                         symlink_to=symlink_to)


def summarize(path: str | os.PathLike[str], format: str | None = None, *, key: str | None = None,
              max_bytes: int | None = None):
    """Header-only summary with bounded previews."""
    return _default.summarize(path, format, key=key, max_bytes=max_bytes)


__all__ = [
    "IOCoreError",
    "IOEvent",
    "Workspace",
    "get_loader",
    "get_saver",
    "list_formats",
    "load",
    "register_loader",
    "register_post_load_hook",
    "register_post_save_hook",
    "register_saver",
    "save",
    "summarize",
    "unregister_loader",
    "unregister_post_load_hook",
    "unregister_post_save_hook",
    "unregister_saver",
]
