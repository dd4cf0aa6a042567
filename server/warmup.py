"""Import the heavy libraries the roots' files need in the background, once the server is serving.

``import server`` stays cheap and ``initialize`` as fast as a bare server's, yet the first real call
should not pay 100+ ms of ``import zarr`` nor wait for the HDF5 worker pool. So when ``sciio-mcp``
starts serving, one daemon thread waits until the client has listed the tools (``client_ready``;
every client does so after its handshake; at most ``READY_WAIT`` seconds), at least ``DELAY``, and
until no tool call ran for ``QUIET`` seconds (a client's first call right after the handshake comes
first), then:

1. starts the HDF5 worker pools at once (server.isolation; their fork server and workers run in
   other processes, each worker warmed by io_core.isolation_worker.warm_up);
2. lists the roots (bounded: ``SCAN_ENTRIES`` names, ``SCAN_DEPTH`` levels, no descent into Zarr
   stores or hidden folders), picks the formats of the extensions it saw and imports their libraries
   (most frequent first, numpy always) and their io_core handler modules, back to back, each only
   while no call is running. Formats read in the worker pool (HDF5 containers) are not imported here;
3. runs each imported library's first use once where that costs (``EXERCISES``: zarr starts its
   event-loop thread and codec pipeline on the first open) on a tiny store in a temporary folder.

Measured on the agent bench (bench/agent.py): the old schedule (0.5 s, then an idle gap before each
import, h5py imported here too) was still importing when an agent's first call came a second after
``tools/list``, and that call shared the GIL with the import (HDF5 summary 40-130 ms instead of 12).
No middleware: nothing is added to any request's path. Pickle-family formats are skipped (torch alone
costs seconds and the formats are gated anyway). A library that fails to import is left alone: the
call that needs it reports it as usual. ``SCIIO_WARM_UP=0`` turns it off (benchmarks of cold imports).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
import time
from collections import Counter
from typing import Any

from io_core.registry import REGISTRY, ZARR_METADATA_FILES, FormatSpec, Registry, candidate_extensions

log = logging.getLogger("sciio_mcp.lifecycle")

SCAN_ENTRIES = 2000
SCAN_DEPTH = 3
MAX_LIBRARIES = 6
DELAY = 0.3  # at least this many seconds after serving starts (the handshake comes first)
QUIET = 0.1  # seconds without a running or finished call before each step (clients call right after connecting)
READY_WAIT = 5.0  # seconds to wait for tools/list before warming up anyway
SWITCH_INTERVAL = 0.0005  # seconds; Python's default 0.005 makes each GIL hand-off of a call wait behind an import
ALWAYS = ("numpy",)
SKIP_KINDS = {"object"}  # pickle, joblib, torch: gated, and torch is huge
# submodules the first call imports beyond the top-level package
SUBMODULES = {"numpy": ("numpy.ma",), "pyarrow": ("pyarrow.parquet",)}  # numpy.ma: the stats of masked data
CORE = ("io_core.summary", "io_core.stats", "io_core.encoding")

_lock = threading.Lock()
_thread: threading.Thread | None = None
_ready = threading.Event()


def client_ready() -> None:
    """A client listed the tools (server.errors calls this on tools/list): its handshake is over."""
    _ready.set()


def scan_extensions(roots: list[Any], limit: int = SCAN_ENTRIES, depth: int = SCAN_DEPTH) -> Counter[str]:
    """How often each extension occurs among the first ``limit`` names under the roots (breadth first)."""
    seen: Counter[str] = Counter()
    budget = limit
    level = [os.fspath(r) for r in roots]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if budget <= 0:
                    return seen
                budget -= 1
                if entry.name.startswith("."):
                    continue
                exts = candidate_extensions(entry.name)
                for ext in exts:
                    seen[ext] += 1
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    continue
                if is_dir and not exts:  # a folder with an extension is a store (x.zarr): not descended into
                    if any(os.path.exists(os.path.join(entry.path, m)) for m in ZARR_METADATA_FILES):
                        seen[".zarr"] += 1  # a store without the extension
                    else:
                        below.append(entry.path)
        level = below
    return seen


def plan(registry: Registry, extensions: Counter[str],
         pooled: frozenset[str] = frozenset()) -> tuple[list[str], list[FormatSpec]]:
    """The libraries to import (most needed first) and the format specs whose handlers to import.

    ``pooled``: containers read in worker processes (``{"hdf5"}`` with an HDF5 pool): their formats'
    libraries and handlers are not needed in this process.
    """
    weight: Counter[str] = Counter({lib: 0 for lib in ALWAYS})
    specs: dict[str, FormatSpec] = {}
    for ext, count in extensions.most_common():
        for spec in registry.specs_for_extension(ext):
            if spec.kind in SKIP_KINDS or not registry.is_available(spec):
                continue
            if getattr(spec, "container", None) not in pooled:
                specs.setdefault(spec.name, spec)
                for lib in spec.requires:
                    weight[lib] += count
            break  # the format that would be chosen for this extension
    libs = [lib for lib in ALWAYS] + [lib for lib, _ in weight.most_common() if lib not in ALWAYS]
    return libs[:MAX_LIBRARIES], list(specs.values())


def _import(name: str) -> bool:
    try:
        started = time.perf_counter()
        importlib.import_module(name)
        log.debug("warm-up: import %s took %.0f ms", name, (time.perf_counter() - started) * 1e3)
        return True
    except Exception as exc:  # noqa: BLE001 - a broken optional library is reported by the call that needs it
        log.debug("warm-up: import %s failed: %s", name, exc)
        return False


def _wait_quiet(quiet: float) -> None:
    """Until no tool call ran for ``quiet`` seconds: a step never starts while a call is running."""
    from server import lifecycle

    while (idle := lifecycle.idle_for()) < quiet:
        time.sleep(max(0.01, quiet - idle))


def _exercise_zarr() -> None:
    """One summary of a tiny Zarr store through a throwaway workspace: zarr's event-loop thread, codec
    pipeline and v3 metadata parsing, and io_core's store detection and summary, all run once."""
    import shutil
    import tempfile

    import numpy as np
    import zarr

    from io_core.workspace import Workspace

    folder = tempfile.mkdtemp(prefix="sciio-warm-")
    try:
        arr = zarr.create_array(store=os.path.join(folder, "w.zarr"), shape=(8, 8), chunks=(4, 4), dtype="float64")
        arr[:] = np.arange(64.0).reshape(8, 8)
        Workspace([folder], read_only=True, provenance=False, cache_bytes=0).summarize("w.zarr")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


EXERCISES = {"zarr": _exercise_zarr}  # a library's costly first use, run once after its import


def _exercise(lib: str) -> None:
    started = time.perf_counter()
    try:
        EXERCISES[lib]()
    except Exception as exc:  # noqa: BLE001 - see _import
        log.debug("warm-up: first use of %s failed: %s", lib, exc)
        return
    log.debug("warm-up: first use of %s took %.0f ms", lib, (time.perf_counter() - started) * 1e3)


def warm(registry: Registry, roots: list[Any], wait: Any = None, pooled: frozenset[str] = frozenset()) -> list[str]:
    """Scan, then import (calling ``wait()`` before each step); returns what was imported."""
    wait = wait or (lambda: None)
    wait()
    started = time.perf_counter()
    libs, specs = plan(registry, scan_extensions(roots), pooled)
    done = []
    for lib in libs:
        wait()
        if _import(lib):
            done.append(lib)
            done.extend(sub for sub in SUBMODULES.get(lib, ()) if _import(sub))
    for spec in specs:
        wait()
        try:
            registry.handler(spec)
        except Exception as exc:  # noqa: BLE001 - see _import
            log.debug("warm-up: handler %s failed: %s", spec.name, exc)
    done.extend(mod for mod in CORE if _import(mod))
    for lib in done:
        if lib in EXERCISES:
            wait()
            _exercise(lib)
    log.info("warm-up imported %s in %.0f ms", ", ".join(done) or "nothing", (time.perf_counter() - started) * 1e3)
    return done


def enabled() -> bool:
    return os.environ.get("SCIIO_WARM_UP", "1").strip().lower() not in ("0", "false", "no", "off")


def start(roots: list[Any], registry: Registry = REGISTRY, delay: float = DELAY,
          quiet: float = QUIET) -> threading.Thread | None:
    """Start the warm-up thread once per process (later calls return the same thread); None when disabled."""
    global _thread
    if not enabled():
        return None
    with _lock:
        if _thread is None:
            started = time.monotonic()

            def run() -> None:
                _ready.wait(READY_WAIT)
                time.sleep(max(quiet, delay - (time.monotonic() - started)))  # a call right after tools/list first
                interval = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)  # a call arriving mid-import gets the GIL back quickly
                try:
                    _wait_quiet(quiet)
                    from server import isolation

                    pooled = isolation.start_pools()  # their fork server and workers run in other processes
                    warm(registry, roots, wait=lambda: _wait_quiet(quiet), pooled=pooled)
                finally:
                    sys.setswitchinterval(interval)

            _thread = threading.Thread(target=run, name="sciio-warm-up", daemon=True)
            _thread.start()
        return _thread
