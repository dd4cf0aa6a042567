"""Requests and bytes fetched from object stores: per call (the server's access log) and per process.

A call opens ``counting()`` (the server's access log does); every remote object pinned while
it runs counts into that call's ``Counter`` (the object keeps a reference to it, so requests
made from other threads, e.g. zarr's event loop, still land on the right call).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Counter:
    requests: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, requests: int, nbytes: int) -> None:
        with self._lock:
            self.requests += requests
            self.bytes += nbytes


TOTAL = Counter()
_CALL: ContextVar[Counter | None] = ContextVar("sciio_remote_counter", default=None)


def current() -> Counter | None:
    return _CALL.get()


def count(counter: Counter | None, requests: int, nbytes: int) -> None:
    TOTAL.add(requests, nbytes)
    if counter is not None:
        counter.add(requests, nbytes)


@contextmanager
def counting() -> Iterator[Counter]:
    """A fresh counter for the call running in this context (nested calls add to the outer one)."""
    outer = _CALL.get()
    if outer is not None:
        yield outer
        return
    counter = Counter()
    token = _CALL.set(counter)
    try:
        yield counter
    finally:
        _CALL.reset(token)


def bind(counter: Counter) -> object:
    """Make ``counter`` the current call's (the server's access log); ``unbind(token)`` after."""
    return _CALL.set(counter)


def unbind(token: object) -> None:
    _CALL.reset(token)  # type: ignore[arg-type]
