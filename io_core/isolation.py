"""HDF5-family reads in a small pool of worker processes, so one slow file cannot stall the rest.

Why processes: h5py runs every call of a process behind one global lock (``phil``), so a
single long libhdf5 call (inflating big chunks, walking a hostile chunk index) makes every
other HDF5 call in the process wait, whichever file it reads; and a libhdf5 call cannot be
interrupted from Python, so a time limit could only abandon the thread. Measured on this
repository's server (tests/server/test_isolation.py): a 1 ms ``explore_h5`` of another file
waited 6 s behind such a read in-process, and answers in milliseconds through the pool.
Threads cannot fix either problem; a process can be killed.

* ``WorkerPool(factory, size)``: ``size`` processes, each holding ``factory()`` (a picklable
  callable, e.g. ``functools.partial(Workspace, roots, read_only=...)``), started with the
  "forkserver" context (never ``fork`` of a threaded server; "spawn" where forkserver does
  not exist). The fork server imports numpy/h5py/io_core once, so a replacement worker is a
  cheap fork. ``call(method, args, kwargs)`` sends a request to an idle worker and waits,
  polling ``check()`` (a cancel probe that raises) and the ``timeout``; on either, or on a
  raising ``progress``, the worker is SIGKILLed and a fresh one is started in the background.
  Results and ``IOCoreError``s come back pickled (same class, code, message, hint); a worker
  that dies mid-call is ``WORKER_LOST``; progress callbacks are relayed from the worker.
  Workers die with their parent (``PR_SET_PDEATHSIG`` under the single-threaded fork server,
  plus a watchdog thread polling the parent), redirect stdout to stderr (stdout may be a
  stdio protocol stream) and take io_core's process-wide limits from the parent.
* ``IsolatedWorkspace(ws, pool)``: ``ws``'s methods, with the reads that may open an HDF5
  container (``ROUTED_METHODS``: summarize, read_slice, preview_image, explore, key_exists, ...)
  sent to the pool when the file is HDF5-family: its format (``format=`` or extension) is a
  registry row whose ``container`` is "hdf5" (hdf5, netcdf, mat), or its bytes carry the HDF5
  signature at 0/512/1024/2048 (MATLAB v7.3, EEGLAB v7.3 ``.set``, unknown extensions).
  Everything else, writes included (a killed ``convert`` would leave its temp file), stays
  in-process; user loaders registered at run time exist only in this process, so their
  extensions stay in-process too.

Cost (bench/isolation.py): a round trip to an idle worker takes about 0.05 ms and an HDF5
summary costs about 0.25 ms more than in-process; nothing is imported or started at
construction. Like any forkserver/spawn user, a script using the pool must keep its main
module import-safe (``if __name__ == "__main__":``): workers import it as ``__mp_main__``.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import logging
import os
import signal
import stat
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from io_core.errors import IOCoreError

log = logging.getLogger("io_core.isolation")

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SIGNATURE_OFFSETS = (0, 512, 1024, 2048)  # where libhdf5 (and MATLAB v7.3's 512-byte header) puts it
ROUTED_METHODS = frozenset({  # the Workspace reads that may open a file's container; the rest stays in-process
    "summarize", "read_slice", "preview_image", "explore", "explore_h5", "key_exists", "read_metadata",
})
PRELOAD = [  # imported once in the fork server, so each worker starts warm
    "io_core.isolation", "io_core.workspace", "numpy", "h5py", "io_core.h5guard", "io_core.formats.hdf5", "io_core.h5tree",
    "io_core.summary", "io_core.stats", "io_core.slicing", "io_core.previews",
]
POLL_SECONDS = 0.05  # how often a waiting call looks at its cancel probe
START_TIMEOUT = 120.0  # a worker that is not ready by then is given up
QUIET_WINDOW = 0.1  # seconds of (almost) no CPU use that count as "the process is quiet"


class WorkerLostError(IOCoreError):
    code = "WORKER_LOST"
    default_hint = (
        "The process reading this file stopped (killed, crashed or out of memory) and is being replaced; "
        "retry, or read less at once (a key, a smaller selection)."
    )


class IsolationTimeoutError(IOCoreError):
    code = "TIMEOUT"
    default_hint = "Ask for less (a key, a smaller selection), or raise the time limit."


# -- which files go to the pool -------------------------------------------------------------

def has_hdf5_signature(path: str | os.PathLike[str]) -> bool:
    """Whether a regular file carries the HDF5 superblock signature at 0, 512, 1024 or 2048.

    Opened non-blocking and checked with ``fstat`` first, so a FIFO or device is never read.
    """
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.pread(fd, SIGNATURE_OFFSETS[-1] + len(HDF5_SIGNATURE), 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    return any(head[o : o + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE for o in SIGNATURE_OFFSETS)


def is_hdf5_container(spec: Any) -> bool:
    """A registry row whose files are HDF5 containers (``FormatSpec.container``: hdf5, netcdf, mat, plugins)."""
    return getattr(spec, "container", None) == "hdf5"


def opens_hdf5(ws: Any, path: str | os.PathLike[str], format: str | None, *, always: bool = False) -> bool:
    """Whether ``ws`` would open ``path`` with libhdf5. False when it cannot even resolve it (the error is
    then raised in-process, at no cost). ``always``: an HDF5-only call (explore_h5)."""
    try:
        real = ws.sandbox.resolve(path)
    except Exception:  # noqa: BLE001 - the in-process call raises the coded error itself
        return False
    from io_core.registry import candidate_extensions

    registry = ws.registry
    if always:
        return True
    if format:
        if registry.user_loader(format) is not None:
            return False
        spec = registry.spec(format)
        if spec is None:
            try:
                specs = registry.specs_for_extension(format)
            except ValueError:
                return False
            spec = specs[0] if specs else None
        return spec is not None and is_hdf5_container(spec)
    for ext in candidate_extensions(real):
        if registry.user_loader(ext) is not None:
            return False  # a plugin function registered in this process: the worker does not have it
        if any(is_hdf5_container(spec) for spec in registry.specs_for_extension(ext)):
            return True
    return has_hdf5_signature(real)


# -- the worker process ---------------------------------------------------------------------

def _process_state() -> dict[str, Any]:
    """Process-wide io_core settings a worker must share with its parent."""
    from io_core import limits

    return {"limits": limits.current()}


def _apply_state(state: dict[str, Any]) -> None:
    from io_core import limits

    if "limits" in state:
        limits.set_current(state["limits"])


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


def _export_error(exc: IOCoreError) -> tuple:
    import pickle

    state = {}
    for name, value in vars(exc).items():
        try:
            pickle.dumps(value)
        except Exception:  # noqa: BLE001, S112 - an unpicklable attribute is dropped, not fatal
            continue
        state[name] = value
    return (type(exc).__module__, type(exc).__qualname__, exc.args, state, exc.code)


def _import_error(payload: tuple) -> IOCoreError:
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


def _serve(conn: Any, factory: Callable[[], Any], cwd: str, server_pid: int, pdeathsig: bool,
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
            reply = ("error", _export_error(exc))
        except BaseException as exc:  # noqa: BLE001 - a bug: the parent logs the remote traceback
            reply = ("crash", f"{type(exc).__name__}: {exc}"[:2000], traceback.format_exc()[-8000:])
        try:
            conn.send(reply)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            conn.send(("crash", f"cannot send the result: {type(exc).__name__}: {exc}"[:2000], ""))
    os._exit(0)


# -- the pool, in the parent ----------------------------------------------------------------

class RemoteError(RuntimeError):
    """A non-io_core exception in a worker (a bug); carries the worker's traceback."""


class _Worker:
    __slots__ = ("conn", "pid", "process")

    def __init__(self, process: Any, conn: Any) -> None:
        self.process, self.conn, self.pid = process, conn, process.pid

    def alive(self) -> bool:
        try:
            return self.process.is_alive()
        except (ValueError, AssertionError):
            return False


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()
_PRELOAD_SET = False


def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()


atexit.register(_close_all)


class WorkerPool:
    """``size`` worker processes each holding ``factory()``; ``call`` runs one of its methods in one.

    Nothing starts at construction: ``start()`` (non-blocking) or the first ``call`` does.
    ``close()`` kills the workers; a later ``start``/``call`` starts new ones.
    """

    def __init__(self, factory: Callable[[], Any], size: int = 2, *, start_method: str | None = None,
                 preload: list[str] | None = None, start_timeout: float = START_TIMEOUT) -> None:
        if size < 1:
            raise ValueError("a WorkerPool needs at least one worker")
        self.factory = factory
        self.size = size
        self.start_timeout = start_timeout
        self._preload = PRELOAD if preload is None else preload
        self._start_method = start_method
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._starting = 0
        self._generation = 0
        self._open = False
        self._start_error: str | None = None
        self._ctx: Any = None
        _POOLS.add(self)

    # -- lifecycle ------------------------------------------------------------------------
    def _context(self) -> Any:
        if self._ctx is None:
            import multiprocessing

            global _PRELOAD_SET
            methods = multiprocessing.get_all_start_methods()
            method = self._start_method or ("forkserver" if "forkserver" in methods else "spawn")
            ctx = multiprocessing.get_context(method)
            if method == "forkserver" and not _PRELOAD_SET:
                ctx.set_forkserver_preload(self._preload)  # imported once, in the fork server
                _PRELOAD_SET = True
            self._ctx = ctx
        return self._ctx

    def start(self, delay: float = 0.0, *, quiet: float = 0.0) -> None:
        """Start missing workers in the background; returns at once.

        ``delay``: wait that long first; ``quiet``: then wait (at most that long) until this
        process has used under a tenth of a core for ``QUIET_WINDOW`` seconds, so starting the
        fork server (about half a second of CPU) does not slow the requests being answered.
        Nothing starts if the pool is closed meanwhile; a ``call`` starts workers at once.
        """
        if delay <= 0 and quiet <= 0:
            with self._cond:
                self._open = True
                self._top_up()
            return
        threading.Thread(target=self._start_later, args=(self._generation, delay, quiet),
                         name="sciio-worker-start", daemon=True).start()

    def _start_later(self, generation: int, delay: float, quiet: float) -> None:
        time.sleep(delay)
        give_up = time.monotonic() + quiet
        while time.monotonic() < give_up and generation == self._generation and not self._idle:
            used = time.process_time()
            time.sleep(QUIET_WINDOW)
            if time.process_time() - used < QUIET_WINDOW / 10:
                break
        with self._cond:
            if generation == self._generation:
                self._open = True
                self._top_up()

    def _top_up(self) -> None:  # with the lock held
        missing = self.size - len(self._idle) - len(self._busy) - self._starting
        for _ in range(max(0, missing)):
            self._starting += 1
            threading.Thread(target=self._spawn, args=(self._generation,), name="sciio-worker-start",
                             daemon=True).start()

    def _spawn(self, generation: int) -> None:
        process = None
        try:
            ctx = self._context()
            mine, theirs = ctx.Pipe(duplex=True)
            pdeathsig = ctx.get_start_method() == "forkserver"  # its parent is the single-threaded fork server
            process = ctx.Process(target=_serve, name="sciio-hdf5-worker", daemon=True,
                                  args=(theirs, self.factory, os.getcwd(), os.getpid(), pdeathsig, _process_state()))
            process.start()
            theirs.close()
            if not mine.poll(self.start_timeout):
                raise TimeoutError(f"not ready after {self.start_timeout:g} s")
            message = mine.recv()
            if message[0] != "ready":
                raise RuntimeError(message[1])
        except BaseException as exc:  # noqa: BLE001 - recorded; callers get WORKER_LOST
            text = f"{type(exc).__name__}: {exc}"
            log.error("could not start an HDF5 worker process: %s", text)
            if process is not None:
                _kill(process)
            with self._cond:
                self._starting -= 1
                self._start_error = text
                self._cond.notify_all()
            return
        worker = _Worker(process, mine)
        with self._cond:
            self._starting -= 1
            if generation != self._generation or not self._open:
                _kill(process)  # the pool was closed meanwhile
                self._cond.notify_all()
                return
            self._start_error = None
            self._idle.append(worker)
            self._cond.notify_all()
        log.debug("HDF5 worker %d ready", worker.pid)

    def close(self) -> None:
        """Kill every worker (busy ones too: their calls get WORKER_LOST)."""
        with self._cond:
            self._open = False
            self._generation += 1
            workers = self._idle + list(self._busy)
            self._idle.clear()
            self._busy.clear()
            self._cond.notify_all()
        for worker in workers:
            _kill(worker.process)
            worker.conn.close()

    def pids(self) -> dict[str, list[int]]:
        """The worker processes by state (for tests and diagnostics)."""
        with self._cond:
            return {"idle": [w.pid for w in self._idle], "busy": [w.pid for w in self._busy],
                    "starting": self._starting}  # type: ignore[dict-item]

    def wait_ready(self, timeout: float = 60.0) -> bool:
        """Block until all ``size`` workers are idle (tests, benchmarks)."""
        self.start()
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._idle) < self.size:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    # -- one call ---------------------------------------------------------------------------
    def _acquire(self, check: Callable[[], None] | None, deadline: float | None) -> _Worker:
        with self._cond:
            self._open = True
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive() and not _readable(worker.conn):  # an idle worker has nothing to say
                        self._busy.add(worker)
                        return worker
                    _kill(worker.process)  # died while idle (killed from outside): replaced below
                    worker.conn.close()
                self._top_up()
                if not self._busy and not self._starting and self._start_error is not None:
                    raise WorkerLostError(f"no HDF5 worker process could be started ({self._start_error})",
                                          hint="See the server log; --hdf5-workers 0 reads HDF5 in-process.")
                self._cond.wait(POLL_SECONDS)
                if check is not None:
                    check()
                if deadline is not None and time.monotonic() > deadline:
                    raise IsolationTimeoutError("no HDF5 worker became free within the time limit")

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._cond:
            if worker not in self._busy:  # the pool was closed meanwhile
                healthy = False
            self._busy.discard(worker)
            if healthy:
                self._idle.append(worker)
            elif self._open:
                self._top_up()
            self._cond.notify_all()
        if not healthy:
            _kill(worker.process)
            worker.conn.close()

    def call(self, method: str, args: tuple = (), kwargs: dict[str, Any] | None = None, *,
             progress: Callable[[int, int], None] | None = None, check: Callable[[], None] | None = None,
             timeout: float | None = None) -> Any:
        """``factory().<method>(*args, **kwargs)`` in a worker.

        ``check`` is called every few milliseconds while waiting and should raise to stop the call;
        ``progress(done, total)`` receives the worker's progress reports (raising stops the call too).
        A stopped, timed-out or lost call's worker is killed and replaced in the background.
        """
        from multiprocessing.connection import wait

        deadline = None if timeout is None else time.monotonic() + timeout
        worker = self._acquire(check, deadline)
        healthy = False
        try:
            try:
                worker.conn.send((method, tuple(args), dict(kwargs or {}), progress is not None))
            except (OSError, EOFError):
                raise self._lost(worker) from None
            while True:
                try:
                    ready = wait([worker.conn, worker.process.sentinel], POLL_SECONDS)
                except (OSError, ValueError):  # closed by close() meanwhile
                    raise self._lost(worker) from None
                if worker.conn in ready:
                    try:
                        message = worker.conn.recv()
                    except (OSError, EOFError):
                        raise self._lost(worker) from None
                    kind = message[0]
                    if kind == "progress":
                        if progress is not None:
                            progress(message[1], message[2])
                        continue
                    healthy = True
                    if kind == "ok":
                        return message[1]
                    if kind == "error":
                        raise _import_error(message[1])
                    raise RemoteError(f"{method} failed in an HDF5 worker: {message[1]}\n{message[2]}")
                if ready:  # only the sentinel: the process ended without answering
                    raise self._lost(worker)
                if check is not None:
                    check()
                if deadline is not None and time.monotonic() > deadline:
                    raise IsolationTimeoutError(f"{method} did not finish within {timeout:g} s; its worker was stopped")
        finally:
            self._release(worker, healthy)

    def _lost(self, worker: _Worker) -> WorkerLostError:
        try:
            worker.process.join(1.0)
            code = worker.process.exitcode
        except (ValueError, AssertionError):
            code = None
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        log.warning("HDF5 worker %d stopped mid-call (%s); starting a new one", worker.pid, how)
        return WorkerLostError(f"the process reading the file stopped ({how}) before answering")


def _readable(conn: Any) -> bool:
    """Data or end-of-file waiting: for an idle worker, the sign that it died (its end is closed)."""
    try:
        return conn.poll(0)
    except (OSError, ValueError):
        return True


def _kill(process: Any) -> None:
    """SIGKILL (libhdf5 cannot be interrupted) and reap in the background."""
    try:
        if process.is_alive():  # polls first: never signal a pid that was already reaped
            process.kill()
    except (OSError, ValueError, AssertionError, AttributeError):
        return

    def reap() -> None:
        try:
            process.join(10)  # not close(): multiprocessing's own exit handler may still look at it
        except (OSError, ValueError, AssertionError):
            pass

    threading.Thread(target=reap, name="sciio-worker-reap", daemon=True).start()


# -- the proxy ------------------------------------------------------------------------------

class IsolatedWorkspace:
    """``workspace``'s methods, with HDF5-family reads run in ``pool`` (see the module docstring).

    ``check``: a cancel probe that raises (e.g. the server's ``raise_if_cancelled``);
    ``timeout``: seconds after which a pooled call is stopped (TIMEOUT) even without one.
    """

    def __init__(self, workspace: Any, pool: WorkerPool, *, check: Callable[[], None] | None = None,
                 timeout: float | None = None) -> None:
        self.workspace = workspace
        self.pool = pool
        self.check = check
        self.timeout = timeout
        self._signatures: dict[str, inspect.Signature] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.workspace, name)
        if name in ROUTED_METHODS and callable(attr):
            return functools.partial(self._run, name)
        return attr

    def _format_arg(self, method: str, path: Any, args: tuple, kwargs: dict[str, Any]) -> str | None:
        sig = self._signatures.get(method)
        if sig is None:
            sig = self._signatures[method] = inspect.signature(getattr(self.workspace, method))
        try:
            return sig.bind(path, *args, **kwargs).arguments.get("format")
        except TypeError:
            return None  # the in-process call raises the same TypeError

    def routed(self, method: str, path: Any, args: tuple = (), kwargs: dict[str, Any] | None = None) -> bool:
        """Whether this call would run in the pool."""
        kwargs = kwargs or {}
        return opens_hdf5(self.workspace, path, self._format_arg(method, path, args, kwargs),
                          always=method == "explore_h5")

    def _run(self, method: str, path: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.routed(method, path, args, kwargs):
            return getattr(self.workspace, method)(path, *args, **kwargs)
        progress = kwargs.pop("progress", None)
        if isinstance(path, Path):
            path = os.fspath(path)
        return self.pool.call(method, (path, *args), kwargs, progress=progress, check=self.check,
                              timeout=self.timeout)
