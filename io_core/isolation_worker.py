"""The worker side of io_core.isolation: one process answering one request at a time.

``serve`` builds its target (``factory()``, e.g. a ``Workspace``) and answers ``(method, args,
kwargs, wants_progress)`` requests on its pipe with ``("ok", result)``, ``("error", payload)``
for an ``IOCoreError`` (rebuilt in the parent by ``import_error`` with its class, code, message
and hint), ``("crash", text, traceback)`` for anything else, and ``("progress", done, total)``
while it works. It dies with its parent, never writes to stdout, ignores Ctrl-C (the server
ends it) and takes the parent's process-wide io_core settings (``process_state``).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from io_core.errors import IOCoreError


def process_state() -> dict[str, Any]:
    """Process-wide settings a worker must share with its parent: io_core's limits, and the environment as it is
    now (the fork server kept the one it started with; credentials of remote roots come from it, e.g. AWS_*)."""
    from io_core import limits

    return {"limits": limits.current(), "environ": dict(os.environ)}


def _apply_state(state: dict[str, Any]) -> None:
    from io_core import limits

    if "limits" in state:
        limits.set_current(state["limits"])
    if "environ" in state:
        os.environ.clear()
        os.environ.update(state["environ"])


def _die_with_parent(server_pid: int, pdeathsig: bool) -> None:
    """Exit as soon as the parent (the fork server or the server) or the server itself is gone."""
    parent = os.getppid()
    if pdeathsig and sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the death signal was armed

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="sciio-parent-watch", daemon=True).start()


def export_error(exc: IOCoreError) -> tuple:
    import pickle

    state = {}
    for name, value in vars(exc).items():
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001, S112 - an unpicklable attribute is dropped, not fatal
            continue
        state[name] = value
    return (type(exc).__module__, type(exc).__qualname__, exc.args, state, exc.code)


def import_error(payload: tuple) -> IOCoreError:
    module, qualname, args, state, code = payload
    cls: Any = None
    try:
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
    except Exception:  # noqa: BLE001 - a class only the worker knows: keep its code on the root class
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, IOCoreError)):
        cls = IOCoreError
    exc = cls.__new__(cls)
    exc.args = tuple(args)
    exc.__dict__.update(state)
    if exc.code != code:
        exc.code = code  # type: ignore[misc]  # instance attribute shadows the class's
    for name, default in (("message", args[0] if args else ""), ("hint", ""), ("path", None)):
        exc.__dict__.setdefault(name, default)
    return exc


def warm_up(target: Any) -> None:
    """Pay a worker's first-use costs before it says ready, so the first real call does not.

    Measured: a fresh worker's first 2 GB HDF5 summary took 19 ms against 5.6 ms for the next,
    mostly listing the format plugins (entry points, 12 ms) and first imports (numpy.ma); the
    rest is code run for the first time (the guard, the handler, the stats, the models). So the
    plugins are listed on ``target``'s registry and one tiny HDF5 file, written to a temporary
    folder, is summarized, sliced and explored through a throwaway workspace of the same class
    (its own root: nothing of the user's is touched). Failures are ignored: warming is optional.
    """
    import shutil
    import tempfile

    folder = None
    try:
        registry = getattr(target, "registry", None)
        if registry is not None:
            registry.specs_for_extension(".h5")  # lists the entry-point plugins once
        import numpy as np

        from io_core.formats.hdf5 import guard

        folder = tempfile.mkdtemp(prefix="sciio-warm-")
        with guard.create(Path(folder) / "w.h5") as f:
            f.create_dataset("g/d", data=np.arange(64.0).reshape(8, 8), chunks=(4, 4), compression="gzip")
        ws = type(target)([folder], read_only=True, provenance=False, cache_bytes=0)
        ws.summarize("w.h5", key="g/d")
        ws.read_slice("w.h5", key="g/d", selection="0:2")
        ws.explore_h5("w.h5", "/", depth=1)
    except Exception:  # noqa: BLE001, S110 - a worker that could not warm up still serves
        pass
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def serve(conn: Any, factory: Callable[[], Any], cwd: str, server_pid: int, pdeathsig: bool,
           state: dict[str, Any]) -> None:
    """A worker's whole life: build the target, then answer one request at a time until EOF."""
    _die_with_parent(server_pid, pdeathsig)
    try:
        os.dup2(2, 1)  # stdout may be the server's stdio protocol stream: nothing of ours goes there
    except OSError:
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the server, which ends us
    try:
        os.chdir(cwd)
        _apply_state(state)
        target = factory()
        warm_up(target)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which gives up on this worker
        conn.send(("failed", f"{type(exc).__name__}: {exc}"[:2000]))
        os._exit(1)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            break
        if request is None:
            break
        method, args, kwargs, wants_progress = request
        if wants_progress:
            kwargs["progress"] = lambda done, total: conn.send(("progress", done, total))
        try:
            if method.startswith("_"):
                raise AttributeError(f"no public method {method!r}")
            reply: tuple = ("ok", getattr(target, method)(*args, **kwargs))
        except IOCoreError as exc:
            reply = ("error", export_error(exc))
        except BaseException as exc:  # noqa: BLE001 - a bug: the parent logs the remote traceback
            reply = ("crash", f"{type(exc).__name__}: {exc}"[:2000], traceback.format_exc()[-8000:])
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            conn.send(("crash", f"cannot send the result: {type(exc).__name__}: {exc}"[:2000], ""))
    os._exit(0)
