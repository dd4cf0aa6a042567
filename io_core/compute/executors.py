"""Where the blocks run: this process, one block after another, or a Dask cluster.

Both take the same kernel and the same list of blocks and return the partials in block order
(the caller merges them in that order: results are identical either way). ``progress(done,
total, bytes)`` is called as blocks finish; ``cancelled()`` is polled and stops the run
(Dask: the pending futures are cancelled, the graph stops) with CANCELLED.

The Dask cluster is an existing scheduler (``ClusterConfig.address``) or a ``LocalCluster``
started on first need, sized to the machine unless told (one single-threaded worker process
per core, memory split between them up to ``MAX_WORKER_MEMORY``). ``dask`` is imported only here,
on first use.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from io_core.compute.errors import CancelledError, ClusterError, ComputeFailedError
from io_core.errors import IOCoreError

log = logging.getLogger("sciio_mcp.compute")

Progress = Callable[[int, int, int], None]  # blocks done, blocks total, bytes read
MAX_WORKER_MEMORY = 4 * 1024**3
RETRIES = 2  # a block whose worker died is run again this many times (Dask's retries)
POLL_S = 0.2
#: glibc settings of the LocalCluster's workers (the process environment still wins). Dask's default trim
#: threshold (64 KiB) turns off glibc's adaptive mmap threshold: every 32 MB block read is then a fresh mmap,
#: zeroed page by page (a block's stats took 1.7x as long). Blocks now reuse heap memory; at most 256 MiB of
#: free heap is kept per worker. For `dask worker` processes, set the same two variables in their environment.
WORKER_MALLOC = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 256 * 2**20,
                 "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 64 * 2**20}
DRAIN_S = 60.0


def _never() -> bool:
    return False


class InProcess:
    """Blocks in this thread, in order."""

    name = "in-process"

    def size(self) -> dict[str, int]:
        return {"workers": 1, "threads": 1}

    def map(self, fn: Callable, args: Sequence[tuple], *, progress: Progress | None = None,
            cancelled: Callable[[], bool] = _never) -> list[Any]:
        out, done_bytes = [], 0
        for i, a in enumerate(args):
            if cancelled():
                raise CancelledError("the computation was cancelled")
            value, nbytes = fn(*a)
            out.append(value)
            done_bytes += nbytes
            if progress is not None:
                progress(i + 1, len(args), done_bytes)
        return out


@dataclass(frozen=True)
class ClusterConfig:
    """``address``: an existing scheduler (tcp://host:port); else a LocalCluster of ``workers`` processes."""

    address: str | None = None
    workers: int | None = None
    threads: int | None = None  # per worker
    memory_limit: int | None = None  # bytes per worker
    min_bytes: int = 256 * 1024**2  # "auto": smaller inputs stay in-process (starting a cluster costs ~2 s)

    def local_size(self) -> tuple[int, int, int]:
        cores = os.cpu_count() or 1
        workers = self.workers or cores
        threads = self.threads or 1
        if self.memory_limit:
            memory = self.memory_limit
        else:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            memory = min(MAX_WORKER_MEMORY, int(total * 0.5 / workers))
        return workers, threads, memory


class Dask:
    """Blocks as Dask futures on ``client``'s cluster."""

    name = "dask"

    def __init__(self, client: Any) -> None:
        self.client = client

    def size(self) -> dict[str, int]:
        info = self.client.scheduler_info(n_workers=-1) if _takes_n_workers(self.client) else self.client.scheduler_info()
        workers = info.get("workers", {})
        return {"workers": len(workers), "threads": sum(int(w.get("nthreads", 1)) for w in workers.values())}

    def map(self, fn: Callable, args: Sequence[tuple], *, progress: Progress | None = None,
            cancelled: Callable[[], bool] = _never) -> list[Any]:
        from distributed import wait

        if not args:
            return []
        futures = self.client.map(fn, *zip(*args, strict=True), pure=False, retries=RETRIES)
        position = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        pending, done_blocks, done_bytes = set(futures), 0, 0
        try:
            while pending:
                if cancelled():
                    raise CancelledError("the computation was cancelled")
                try:
                    with self.client.as_current():
                        finished, pending = wait(pending, timeout=POLL_S, return_when="FIRST_COMPLETED")
                except TimeoutError:  # nothing finished in POLL_S: look at the cancel flag again
                    continue
                for f in finished:
                    value, nbytes = _result(f)
                    out[position[f.key]] = value
                    done_blocks += 1
                    done_bytes += nbytes
                if finished and progress is not None:
                    progress(done_blocks, len(futures), done_bytes)
        except BaseException:
            self.client.cancel(list(pending), force=True)  # stop the rest of the graph
            self._drain({f.key for f in pending})  # blocks already running finish first: then clean up
            raise
        finally:
            for f in futures:
                f.release()
        return out


    def _drain(self, keys: set, timeout: float = DRAIN_S) -> None:
        """Wait until no worker still executes one of ``keys`` (a cancelled Dask task runs to its end: a
        conversion's temp output must not be removed while a block is still being written into it)."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while keys and time.monotonic() < deadline:
            try:  # a worker that cannot answer (lost, restarting) executes nothing any more; the others still may
                busy = self.client.run(_executing, keys, on_error="return")
            except Exception:  # noqa: BLE001 - the scheduler itself is gone: nothing runs
                return
            # idle several times in a row: a task the scheduler sent before the cancel reached it may still be on
            # its way to a worker, which then starts it although it was cancelled
            quiet = 0 if any(v is True for v in busy.values()) else quiet + 1
            if quiet >= QUIET_POLLS:
                return
            time.sleep(0.05)
        log.warning("dask tasks still running %.0f s after cancel", timeout)


QUIET_POLLS = 4  # polls 50 ms apart with no worker holding a cancelled block before the output is removed


def _executing(keys: set, dask_worker: Any = None) -> bool:
    """On a worker: whether one of ``keys`` still executes or may yet start (a task already handed to the worker,
    ``ready`` or waiting, can start before the cancel reaches it: only settled states are idle)."""
    state = getattr(dask_worker, "state", None)
    tasks = getattr(state, "tasks", {}) if state is not None else {}
    return any(k in tasks and tasks[k].state not in _SETTLED for k in keys)


_SETTLED = frozenset({"memory", "error", "released", "forgotten"})


def _takes_n_workers(client: Any) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def _result(future: Any) -> Any:
    """The future's value; a task's own coded error as it was raised, a lost worker as COMPUTE_FAILED."""
    if future.status == "error":
        exc = future.exception()
        if isinstance(exc, IOCoreError):
            raise exc
        name = type(exc).__name__
        if name == "KilledWorker":
            raise ComputeFailedError(f"a block failed {RETRIES + 1} times as its workers died: {str(exc)[:200]}")
        raise ComputeFailedError(f"a block failed on a worker: {name}: {str(exc)[:300]}")
    if future.status == "cancelled":
        raise CancelledError("the computation was cancelled on the cluster")
    return future.result()


class Cluster:
    """One Dask client per process, connected (or a LocalCluster started) on first use."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._client: Any = None
        self._cluster: Any = None

    def client(self) -> Any:
        with self._lock:
            if self._client is not None and self._client.status in ("running", "connecting"):
                return self._client
            try:
                self._client = self._connect()
            except IOCoreError:
                raise
            except ImportError as exc:
                from io_core.errors import MissingDependencyError

                raise MissingDependencyError(f"Dask is not installed: {exc}",
                                             hint="pip install 'sciio-mcp[dask]'") from None
            except (OSError, TimeoutError) as exc:
                raise ClusterError(f"cannot reach the Dask scheduler: {type(exc).__name__}: {str(exc)[:200]}") from None
            return self._client

    def _connect(self) -> Any:
        from distributed import Client

        started = time.perf_counter()
        if self.config.address:
            client = Client(self.config.address, timeout=10, set_as_default=False)
        else:
            import dask
            from distributed import LocalCluster

            workers, threads, memory = self.config.local_size()
            with dask.config.set(WORKER_MALLOC):
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=threads, memory_limit=memory,
                                             processes=True, host="127.0.0.1", dashboard_address=None,
                                             # the scheduler's HTTP server (health, metrics) on a free port
                                             scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                             silence_logs=logging.WARNING)
            client = Client(self._cluster, set_as_default=False)
        log.info("dask cluster ready in %.1f s: %s", time.perf_counter() - started, client)
        atexit.register(self.close)  # a LocalCluster's workers end with the server
        return client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None
