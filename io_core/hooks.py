"""Post-save and post-load hooks: let other code see every file io_core writes or reads.

A hook is a plain callable taking one ``IOEvent``. Hooks run after the I/O has
succeeded (and after the ledger row is written), in registration order. A hook that
raises is logged to stderr with its traceback and skipped: a hook can never undo or
break the save or load that triggered it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("io_core.hooks")


@dataclass(frozen=True)
class IOEvent:
    """What happened. ``sha256`` is None for a load unless the workspace records loads."""

    operation: str  # "save", "load"; later "convert", "embed"
    path: Path  # resolved
    format: str
    size_bytes: int
    sha256: str | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)
    inputs: tuple[tuple[str, str], ...] = ()  # (resolved path, sha256) of the files it was made from
    cached: bool = False  # a load answered from the load cache


Hook = Callable[[IOEvent], Any]

_lock = threading.Lock()
_hooks: dict[str, list[Hook]] = {"save": [], "load": []}


def _register(kind: str, fn: Hook) -> Hook:
    if not callable(fn):
        raise TypeError(f"a post-{kind} hook must be callable")
    with _lock:
        _hooks[kind] = [*_hooks[kind], fn]  # copy on write: run() iterates without the lock
    return fn


def _unregister(kind: str, fn: Hook) -> bool:
    with _lock:
        if fn not in _hooks[kind]:
            return False
        remaining = list(_hooks[kind])
        remaining.remove(fn)
        _hooks[kind] = remaining
        return True


def register_post_save_hook(fn: Hook) -> Hook:
    """Call ``fn(event)`` after every successful save; usable as a decorator."""
    return _register("save", fn)


def register_post_load_hook(fn: Hook) -> Hook:
    """Call ``fn(event)`` after every successful load; usable as a decorator."""
    return _register("load", fn)


def unregister_post_save_hook(fn: Hook) -> bool:
    return _unregister("save", fn)


def unregister_post_load_hook(fn: Hook) -> bool:
    return _unregister("load", fn)


def has_hooks(kind: str) -> bool:
    return bool(_hooks[kind])


def run_hooks(kind: str, event: IOEvent) -> None:
    """Run every hook of ``kind``; failures are logged, never raised."""
    for fn in _hooks[kind]:
        try:
            fn(event)
        except Exception:
            log.exception("post-%s hook %r failed for %s; the %s itself succeeded",
                          kind, getattr(fn, "__qualname__", fn), event.path, kind)
