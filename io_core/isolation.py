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
  The worker's side is io_core.isolation_worker.
* ``IsolatedWorkspace(ws, pool)`` (io_core.isolation_routing): ``ws``'s methods, with the reads
  that may open an HDF5 container sent to the pool when the file is HDF5-family (its registry
  row's ``container``, or the HDF5 signature in its bytes); everything else, writes included,
  stays in-process.

Cost (bench/isolation.py): a round trip to an idle worker takes about 0.05 ms and an HDF5
summary costs about 0.25 ms more than in-process; nothing is imported or started at
construction. Like any forkserver/spawn user, a script using the pool must keep its main
module import-safe (``if __name__ == "__main__":``): workers import it as ``__mp_main__``.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from io_core.errors import IOCoreError
from io_core.isolation_routing import (  # noqa: F401 - the public API is here
    ROUTED_METHODS,
    IsolatedWorkspace,
    has_hdf5_signature,
    is_hdf5_container,
    opens_hdf5,
)
from io_core.isolation_worker import import_error, process_state, serve

log = logging.getLogger("io_core.isolation")

PRELOAD = [  # imported once in the fork server, so each worker starts warm
    "io_core.isolation", "io_core.workspace", "numpy", "numpy.ma", "h5py", "io_core.formats.hdf5.guard",
    "io_core.formats.hdf5.handler", "io_core.formats.hdf5.tree", "io_core.summary", "io_core.stats",
    "io_core.slicing", "io_core.previews",
]
POLL_SECONDS = 0.05  # how often a waiting call looks at its cancel probe
START_TIMEOUT = 120.0  # a worker that is not ready by then is given up
QUIET_WINDOW = 0.1  # seconds of (almost) no CPU use that count as "the process is quiet"
RECYCLE_RSS = 1 << 30  # a worker left larger than this after a call is replaced


class WorkerLostError(IOCoreError):
    code = "WORKER_LOST"
    default_hint = (
        "The process reading this file stopped (killed, crashed or out of memory) and is being replaced; "
        "retry, or read less at once (a key, a smaller selection)."
    )


class IsolationTimeoutError(IOCoreError):
    code = "TIMEOUT"
    default_hint = "Ask for less (a key, a smaller selection), or raise the time limit."


# -- the pool, in the parent ----------------------------------------------------------------

class RemoteError(RuntimeError):
    """A non-io_core exception in a worker (a bug); carries the worker's traceback."""


class _Worker:
    __slots__ = ("conn", "pid", "process")

    def __init__(self, process: Any, conn: Any) -> None:
        self.process, self.conn, self.pid = process, conn, process.pid

    def alive(self) -> bool:
        """Running: multiprocessing says so (for a fork server's child it learns of a death only when the fork
        server, under load perhaps much later, reports it) and the kernel agrees (not gone, not a zombie)."""
        try:
            if not self.process.is_alive():
                return False
        except (ValueError, AssertionError):
            return False
        try:
            with open(f"/proc/{self.pid}/stat", "rb") as fh:
                return fh.read().rsplit(b")", 1)[1].split()[0] != b"Z"
        except (OSError, IndexError):
            return not sys.platform.startswith("linux")  # no /proc: trust multiprocessing


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
            process = ctx.Process(target=serve, name="sciio-hdf5-worker", daemon=True,
                                  args=(theirs, self.factory, os.getcwd(), os.getpid(), pdeathsig, process_state()))
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
        if healthy and _rss_bytes(worker.pid) > RECYCLE_RSS:
            healthy = False  # a big read left the worker large (allocators keep freed memory): start afresh
            log.info("HDF5 worker %d grew past %d MiB; replacing it", worker.pid, RECYCLE_RSS >> 20)
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
        request = (method, tuple(args), dict(kwargs or {}), progress is not None)
        worker = self._acquire(check, deadline)
        for _ in range(SEND_ATTEMPTS):  # an idle worker killed from outside may still look alive: take another
            try:
                worker.conn.send(request)
                break
            except (OSError, EOFError):
                self._release(worker, healthy=False)  # never got the request: killed and replaced, the call goes on
                worker = self._acquire(check, deadline)
        else:
            self._release(worker, healthy=False)
            raise WorkerLostError("no HDF5 worker process took the request", hint="See the server log; retry.")
        healthy = False
        try:
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
                        raise import_error(message[1])
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


SEND_ATTEMPTS = 3  # workers tried for one call whose request could not even be sent


def _rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux ``/proc``; 0 where unknown)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


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
