"""The sandbox that links inside files are checked against, for the handler call running now.

Format handlers are called without a workspace, so the workspace makes its sandbox the
*active* one around each handler call (``links_confined_to``); a handler (or
``io_core.paths.pin_companion``) asks ``active_sandbox()``. ``None`` means the caller never
said (a handler used directly): handlers then follow no link. A module of its own so that
both ``io_core.paths`` and ``io_core.links`` can use it without importing each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_ACTIVE: ContextVar[Any] = ContextVar("sciio_link_sandbox", default=None)  # an io_core.paths.Sandbox or None


@contextmanager
def links_confined_to(sandbox: Any) -> Iterator[None]:
    """Make ``sandbox`` the one link targets are checked against while the block runs (this thread/task)."""
    token = _ACTIVE.set(sandbox)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def active_sandbox() -> Any:
    """The ``io_core.paths.Sandbox`` of the running call, or None."""
    return _ACTIVE.get()
