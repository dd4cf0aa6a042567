"""How the process stops: SIGINT or SIGTERM end it within a second, quietly.

The server (stdio or HTTP) runs in a worker thread and the main thread only waits for it
or for a signal; uvicorn, off the main thread, leaves the signals to us. On a signal the
tool calls still running (``guards.CallTimeout`` reports them through ``call_started`` /
``call_ended``) are told to stop (``guards.CallState``, polled by streaming work)
and get up to ``GRACE`` seconds to finish, so an atomic write either lands or removes its
temp file; the ``atexit`` cleanups (worker pools) get ``EXIT_HOOKS`` seconds; then the
process exits with status 0 without the rest of interpreter shutdown, which would wait
for the thread blocked reading stdin (what made Ctrl-C hang until the next newline and
then print a traceback). A second signal exits at once.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sciio_mcp.lifecycle")

GRACE = 0.5  # seconds running tool calls get to finish
EXIT_HOOKS = 0.15  # seconds the atexit cleanups get
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_active: dict[int, Any] = {}  # id -> guards.CallState of the tool calls running now
_active_lock = threading.Lock()
_last_activity = time.monotonic()  # when a call last started or ended (or touch() was called)
_stopping = threading.Event()


def _flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001, S110 - exiting anyway
            pass
    try:
        sys.stderr.flush()
    except Exception:  # noqa: BLE001, S110
        pass


def _run_exit_hooks(limit: float) -> None:
    """The ``atexit`` cleanups (worker pools, ...), but for at most ``limit`` seconds."""
    hooks = threading.Thread(target=atexit._run_exitfuncs, name="sciio-exit-hooks", daemon=True)
    hooks.start()
    hooks.join(limit)


def _exit_now(status: int = 0, hooks: float = EXIT_HOOKS) -> None:
    if hooks > 0:
        _run_exit_hooks(hooks)
    _flush_logs()
    os._exit(status)


_serving = threading.Event()


def _on_signal(signum: int, frame: Any) -> None:
    if not _serving.is_set() or _stopping.is_set():
        _exit_now(hooks=0)  # still starting (nothing to finish), or a second signal: no grace
    _stopping.set()


def call_started(state: Any) -> None:
    """A tool call began (``guards.CallTimeout``): it is told to stop on a signal and counts as activity."""
    with _active_lock:
        _active[id(state)] = state
    touch()


def call_ended(state: Any) -> None:
    """The call's work is over (its worker thread finished, not merely its answer sent)."""
    with _active_lock:
        _active.pop(id(state), None)
    touch()


def touch() -> None:
    """Note activity (a handshake, a call) for ``idle_for``."""
    global _last_activity
    _last_activity = time.monotonic()


def idle_for() -> float:
    """Seconds since the last activity; 0 while a tool call is running (background work waits for this)."""
    with _active_lock:
        if _active:
            return 0.0
    return time.monotonic() - _last_activity


def install_handlers() -> None:
    """Take SIGINT/SIGTERM from the start (before a signal could raise KeyboardInterrupt during imports)."""
    for sig in SIGNALS:
        signal.signal(sig, _on_signal)


def stop_calls(grace: float = GRACE) -> int:
    """Tell running tool calls to stop and wait up to ``grace`` s for them; returns how many were still running."""
    with _active_lock:
        running = list(_active.values())
    for state in running:
        state.cancel("the server is stopping")
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with _active_lock:
            if not _active:
                return 0
        time.sleep(0.01)
    with _active_lock:
        return len(_active)


def serve_until_stopped(serve: Callable[[], None], grace: float = GRACE) -> None:
    """Run ``serve`` (blocking) in a worker thread until it returns or a signal arrives."""
    install_handlers()
    failure: list[BaseException] = []
    finished = threading.Event()

    def target() -> None:
        try:
            serve()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)
        finally:
            finished.set()
            _stopping.set()

    _serving.set()
    threading.Thread(target=target, name="sciio-mcp-server", daemon=True).start()
    while not _stopping.wait(0.2):
        pass
    if not finished.is_set():
        log.info("stopping on signal")
        left = stop_calls(grace)
        if left:
            log.warning("exiting with %d tool call(s) still running", left)
        _exit_now()
    if failure:
        raise failure[0]
