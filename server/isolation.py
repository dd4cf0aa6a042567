"""The server's side of io_core.isolation: ``--hdf5-workers N`` worker processes for HDF5-family reads.

``workspace(make, settings)`` builds the in-process ``Workspace`` and, with N > 0, wraps it in
an ``IsolatedWorkspace`` whose pool builds the same workspace (``make`` is a picklable
``functools.partial``) in each worker. Pooled calls poll ``guards.raise_if_cancelled``, so a
client's cancellation or the ``--call-timeout`` kills the worker stuck in libhdf5 at once and
a fresh one starts in the background; the same limit also bounds calls that have no call
state (resource reads). Workers start in the background after the first ``initialize`` (or
``server/discover``), so connecting stays as fast as before and the first HDF5 call finds them
ready, and they are killed when the server's lifespan ends (each in-memory client session,
or the stdio/HTTP server stopping).
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from io_core.isolation import IsolatedWorkspace, WorkerPool
from server import guards


def workspace(make: Callable[[], Any], settings: Any) -> Any:
    """``make()``, with its HDF5-family reads sent to ``settings.hdf5_workers`` processes (0: none)."""
    ws = make()
    if settings.hdf5_workers <= 0:
        return ws
    pool = WorkerPool(make, settings.hdf5_workers)
    return IsolatedWorkspace(ws, pool, check=guards.raise_if_cancelled, timeout=settings.call_timeout)


def pool_of(ws: Any) -> WorkerPool | None:
    return ws.pool if isinstance(ws, IsolatedWorkspace) else None


def lifespan(ws: Any) -> Callable[[Any], Any] | None:
    """A FastMCP lifespan that kills the workers when the server (or in-memory session) ends."""
    pool = pool_of(ws)
    if pool is None:
        return None

    @asynccontextmanager
    async def workers(server: Any) -> AsyncIterator[dict]:
        try:
            yield {}
        finally:
            pool.close()

    return workers


class StartWorkers(Middleware):
    """Start the pool once the client is connected: after the answer to initialize / discover."""

    def __init__(self, pool: WorkerPool) -> None:
        self.pool = pool

    async def on_initialize(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        try:
            return await call_next(context)
        finally:
            self.pool.start()

    async def on_discover(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        try:
            return await call_next(context)
        finally:
            self.pool.start()


_POOLS: weakref.WeakKeyDictionary[Any, WorkerPool] = weakref.WeakKeyDictionary()


def install(mcp: Any, ws: Any) -> None:
    pool = pool_of(ws)
    if pool is not None:
        _POOLS[mcp] = pool
        mcp.add_middleware(StartWorkers(pool))


def pool_for(mcp: Any) -> WorkerPool | None:
    """The HDF5 worker pool of an app built by ``create_app`` (None with ``--hdf5-workers 0``)."""
    return _POOLS.get(mcp)
