"""The server's side of io_core.isolation: ``--hdf5-workers N`` worker processes for HDF5-family reads.

``workspace(make, settings)`` builds the in-process ``Workspace`` and, with N > 0, wraps it in
an ``IsolatedWorkspace`` whose pool builds the same workspace (``make`` is a picklable
``functools.partial``) in each worker. Pooled calls poll ``guards.raise_if_cancelled``, so a
client's cancellation or the ``--call-timeout`` kills the worker stuck in libhdf5 at once and
a fresh one starts in the background; the same limit also bounds calls that have no call
state (resource reads).

The workers live with the server's lifespan (the stdio or HTTP server; each in-memory client
session). They start in the background ``START_DELAY`` seconds after it begins, as soon as the
server is quiet (at most ``QUIET_WAIT`` seconds later): starting the fork server costs about
half a second of CPU, and started at ``initialize`` it measurably slowed the client's first
requests on a 2-core machine (bench/startup.py). The ``sciio-mcp`` command's warm-up
(server.warmup) starts them sooner, through ``start_pools``, as soon as the handshake is over
and no call is running. An HDF5 call arriving sooner starts them at once. They are killed when
the lifespan ends.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from io_core.isolation import IsolatedWorkspace, WorkerPool
from server import guards

START_DELAY = 0.25  # seconds after the server (or session) starts
QUIET_WAIT = 5.0  # then start at the first quiet moment, or after this many seconds anyway

_POOLS: weakref.WeakKeyDictionary[Any, WorkerPool] = weakref.WeakKeyDictionary()  # app -> its running pool
_MADE: weakref.WeakSet[WorkerPool] = weakref.WeakSet()  # every pool workspace() made


def workspace(make: Callable[[], Any], settings: Any) -> Any:
    """``make()``, with its HDF5-family reads sent to ``settings.hdf5_workers`` processes (0: none)."""
    ws = make()
    if settings.hdf5_workers <= 0:
        return ws
    pool = WorkerPool(make, settings.hdf5_workers)
    _MADE.add(pool)
    return IsolatedWorkspace(ws, pool, check=guards.raise_if_cancelled, timeout=settings.call_timeout)


def pool_of(ws: Any) -> WorkerPool | None:
    return ws.pool if isinstance(ws, IsolatedWorkspace) else None


def lifespan(ws: Any) -> Callable[[Any], Any] | None:
    """A FastMCP lifespan that starts the workers after ``START_DELAY`` and kills them at the end."""
    pool = pool_of(ws)
    if pool is None:
        return None

    @asynccontextmanager
    async def workers(server: Any) -> AsyncIterator[dict]:
        _POOLS[server] = pool
        pool.start(delay=START_DELAY, quiet=QUIET_WAIT)
        try:
            yield {}
        finally:
            pool.close()

    return workers


def pool_for(mcp: Any) -> WorkerPool | None:
    """The HDF5 worker pool of a running app built by ``create_app`` (None with ``--hdf5-workers 0``)."""
    return _POOLS.get(mcp)


def start_pools() -> frozenset[str]:
    """Start the workers of every running app's pool now (no delay); returns the containers read in
    worker processes (``{"hdf5"}`` when this process made a pool, else empty)."""
    for pool in list(_POOLS.values()):
        pool.start()
    return frozenset({"hdf5"}) if len(_MADE) else frozenset()
