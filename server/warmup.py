"""Import the heavy libraries the roots' files need in the background, once the server is serving.

``import server`` stays cheap and ``initialize`` as fast as a bare server's, yet the first real call
should not pay 100+ ms of ``import h5py``. So when ``sciio-mcp`` starts serving, one daemon thread
waits ``DELAY``, lists the roots (bounded: ``SCAN_ENTRIES`` names, ``SCAN_DEPTH`` levels, no descent
into Zarr stores or hidden folders), picks the formats of the extensions it saw, and imports their
libraries (most frequent first, numpy always) and their io_core handler modules, each only once no
tool call has run for ``QUIET`` seconds and after an idle ``GAP`` (a client usually calls right after
the handshake; that call must not share the CPU with imports it may not need, and the HDF5 worker
pool starts in an idle moment). No middleware: nothing is added to any request's path. Pickle-family
formats are skipped (torch alone costs seconds and the formats are gated anyway). A library that
fails to import is left alone: the call that needs it reports it as usual. ``SCIIO_WARM_UP=0``
turns it off (benchmarks of cold imports).
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
DELAY = 0.5  # seconds after serving starts: the client's handshake and first call usually come first
QUIET = 0.25  # seconds without a running or finished call before each import (clients call right after connecting)
GAP = 0.25  # seconds of idle CPU before each import (io_core.isolation starts its workers in a 0.1 s idle window)
SWITCH_INTERVAL = 0.0005  # seconds; Python's default 0.005 makes each GIL hand-off of a call wait behind an import
ALWAYS = ("numpy",)
SKIP_KINDS = {"object"}  # pickle, joblib, torch: gated, and torch is huge
# submodules the first call imports beyond the top-level package
SUBMODULES = {"numpy": ("numpy.ma",), "pyarrow": ("pyarrow.parquet",)}  # numpy.ma: the stats of masked data
CORE = ("io_core.summary", "io_core.stats", "io_core.encoding")

_lock = threading.Lock()
_thread: threading.Thread | None = None


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


def plan(registry: Registry, extensions: Counter[str]) -> tuple[list[str], list[FormatSpec]]:
    """The libraries to import (most needed first) and the format specs whose handlers to import."""
    weight: Counter[str] = Counter({lib: 0 for lib in ALWAYS})
    specs: dict[str, FormatSpec] = {}
    for ext, count in extensions.most_common():
        for spec in registry.specs_for_extension(ext):
            if spec.kind in SKIP_KINDS or not registry.is_available(spec):
                continue
            specs.setdefault(spec.name, spec)
            for lib in spec.requires:
                weight[lib] += count
            break  # the format that would be chosen for this extension
    libs = [lib for lib in ALWAYS] + [lib for lib, _ in weight.most_common() if lib not in ALWAYS]
    return libs[:MAX_LIBRARIES], list(specs.values())


def _import(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception as exc:  # noqa: BLE001 - a broken optional library is reported by the call that needs it
        log.debug("warm-up: import %s failed: %s", name, exc)
        return False


def _wait_quiet(quiet: float) -> None:
    """Until no tool call ran for ``quiet`` seconds: imports never compete with a call for the CPU.

    Always a ``GAP`` first: other background starters that wait for an idle process (the HDF5
    worker pool) get their moment between two imports instead of after all of them.
    """
    from server import lifecycle

    time.sleep(GAP)
    while (idle := lifecycle.idle_for()) < quiet:
        time.sleep(max(0.02, quiet - idle))


def warm(registry: Registry, roots: list[Any], wait: Any = None) -> list[str]:
    """Scan, then import (calling ``wait()`` before each library); returns what was imported."""
    wait = wait or (lambda: None)
    wait()
    started = time.perf_counter()
    libs, specs = plan(registry, scan_extensions(roots))
    done = []
    for lib in libs:
        wait()
        if _import(lib):
            done.append(lib)
            done.extend(sub for sub in SUBMODULES.get(lib, ()) if _import(sub))
    for spec in specs:
        try:
            registry.handler(spec)
        except Exception as exc:  # noqa: BLE001 - see _import
            log.debug("warm-up: handler %s failed: %s", spec.name, exc)
    done.extend(mod for mod in CORE if _import(mod))
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
            def run() -> None:
                time.sleep(delay)
                interval = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)  # a call arriving mid-import gets the GIL back quickly
                try:
                    warm(registry, roots, wait=lambda: _wait_quiet(quiet))
                finally:
                    sys.setswitchinterval(interval)

            _thread = threading.Thread(target=run, name="sciio-warm-up", daemon=True)
            _thread.start()
        return _thread
