"""Exact statistics and HDF5 -> Zarr conversion at scale: in-process streaming vs a Dask LocalCluster.

Makes (in a temporary folder under --dir, deleted afterwards; ``df`` is checked first):

- one HDF5 dataset of --gb GB (float64, chunks of 1024 x 1024), values varied slab by slab;
- --files small HDF5 files (256 x 128 float64 each).

Measures, for each engine (``in-process``: this process, one block after another;
``dask``: a LocalCluster of --workers single-threaded worker processes on 127.0.0.1):

- exact stats (count, mean, std, min, max, NaN/Inf, exact quantiles 1/50/99 %, 64-bin histogram);
- the 8 GB dataset converted to one Zarr array (atomic, hashed, ledger-recorded);
- the small files concatenated into one Zarr array.

Printed per run: seconds, throughput (GB read / s), passes and tasks, peak RSS of the
process that did the work (in-process: this process's RSS growth; dask: the largest RSS any
worker reached, sampled every 0.2 s). Results of both engines are checked equal.

    python bench/scale.py [--gb 8] [--files 1000] [--workers 2] [--dir /tmp] [--skip-convert]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from io_core.compute import conversion
from io_core.compute.engine import Engine
from io_core.compute.executors import ClusterConfig
from io_core.limits import Limits
from io_core.workspace import Workspace

COLS = 1024
QS = [0.01, 0.5, 0.99]


def rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def make_big(path: Path, gb: float) -> tuple[int, int]:
    from io_core.h5guard import create

    rows = int(gb * 1e9) // (COLS * 8)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((1024, COLS))
    with create(path) as f:
        ds = f.create_dataset("x", shape=(rows, COLS), dtype="f8", chunks=(1024, COLS))
        for i, r in enumerate(range(0, rows, 1024)):
            n = min(1024, rows - r)
            ds[r:r + n] = base[:n] * (1 + (i % 97) * 1e-3) + (i % 13) * 0.1
    return rows, rows * COLS * 8


def make_small(folder: Path, count: int) -> None:
    from io_core.h5guard import create

    rng = np.random.default_rng(1)
    for i in range(count):
        with create(folder / f"run{i:05d}.h5") as f:
            f.create_dataset("v", data=rng.standard_normal((256, 128)))


class _Sampler:
    """Calls ``sample()`` every ``interval`` seconds on a thread while the ``with`` block runs."""

    interval = 0.05

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class PeakWorkers(_Sampler):
    """The largest RSS each Dask worker reaches while running (sampled)."""

    interval = 0.2

    def __init__(self, client) -> None:
        super().__init__()
        self.client, self.peak = client, {}

    def sample(self) -> None:
        try:
            for w, v in self.client.run(lambda: __import__("psutil").Process().memory_info().rss).items():
                self.peak[w] = max(self.peak.get(w, 0), v)
        except Exception:  # noqa: BLE001, S110 - a worker restarting: sample again
            pass


class PeakSelf(_Sampler):
    """This process's RSS growth at its peak (sampled)."""

    def __init__(self) -> None:
        super().__init__()
        self.base, self.peak = rss(), 0

    def sample(self) -> None:
        self.peak = max(self.peak, rss() - self.base)


def measure(label: str, engine_name: str, engine: Engine, fn) -> dict:
    if engine_name == "dask":
        with PeakWorkers(engine.cluster.client()) as peak:
            t0 = time.perf_counter()
            out, report = fn()
            seconds = time.perf_counter() - t0
        peak_bytes = max(peak.peak.values()) if peak.peak else None
    else:
        with PeakSelf() as peak:
            t0 = time.perf_counter()
            out, report = fn()
            seconds = time.perf_counter() - t0
        peak_bytes = peak.peak
    row = {"run": label, "engine": report.engine, "workers": report.workers, "seconds": round(seconds, 2),
           "gb_read": round(report.bytes_read / 1e9, 3), "gb_per_s": round(report.bytes_read / 1e9 / seconds, 3),
           "passes": report.passes, "tasks": report.blocks, "engine_s": report.seconds,
           "peak_rss_mib": None if peak_bytes is None else round(peak_bytes / 2**20)}
    print(json.dumps(row), flush=True)
    return {"row": row, "out": out}


def via_mcp_task(root: Path, workers: int, memory_limit: int) -> dict:
    """compute_stats as an MCP task through FastMCP's client (tasks extension): progress polled to the end."""
    import asyncio

    from fastmcp import Client

    from server import task_client
    from server.app import create_app
    from server.settings import Settings

    async def run() -> dict:
        app = create_app(Settings(roots=[root], hdf5_workers=0, dask_min_bytes=0, dask_workers=workers,
                                  dask_threads=1, dask_memory_limit=memory_limit))
        async with Client(app, extensions=[task_client.TasksClient()], timeout=3600) as c:
            t0 = time.perf_counter()
            created = await task_client.start(c, "compute_stats", {"path": "big.h5", "key": "x", "quantiles": QS,
                                                                   "bins": 64})
            seen = []
            while True:
                state = await task_client.get(c.session, created.task_id)
                if not seen or seen[-1] != state.status_message:
                    seen.append(state.status_message)
                if state.status in task_client.TERMINAL:
                    break
                await asyncio.sleep(1.0)
            return {"status": state.status, "seconds": round(time.perf_counter() - t0, 1), "polls_seen": len(seen),
                    "progress_samples": seen[1:4] + seen[-1:],
                    "result": (state.result or {}).get("structuredContent") or state.error}

    return asyncio.run(run())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gb", type=float, default=8.0)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--memory-limit", default="1GiB", help="per Dask worker")
    p.add_argument("--dir", default=tempfile.gettempdir())
    p.add_argument("--skip-convert", action="store_true")
    p.add_argument("--skip-stats", action="store_true")
    p.add_argument("--skip-files", action="store_true")
    p.add_argument("--mcp", action="store_true", help="also run the stats as an MCP task (FastMCP client)")
    args = p.parse_args()

    need = args.gb * 1e9 * (1.0 if args.skip_convert else 2.1) + args.files * 300e3 * 2
    free = shutil.disk_usage(args.dir).free
    print(json.dumps({"dir": args.dir, "free_gb": round(free / 1e9, 1), "need_gb": round(need / 1e9, 1),
                      "cores": os.cpu_count()}), flush=True)
    if free < need * 1.1:
        sys.exit(f"not enough free space in {args.dir}")
    from dask.utils import parse_bytes

    root = Path(tempfile.mkdtemp(prefix="sciio-scale-", dir=args.dir))
    ws = Workspace([root], limits=Limits(max_write_bytes=10**13, max_exact_chunks=10**9))
    local = Engine(ClusterConfig(min_bytes=1 << 62))
    dask = Engine(ClusterConfig(workers=args.workers, threads=1, memory_limit=parse_bytes(args.memory_limit)))
    try:
        t0 = time.perf_counter()
        rows, nbytes = make_big(root / "big.h5", args.gb)
        print(json.dumps({"made": "big.h5", "shape": [rows, COLS], "gb": round(nbytes / 1e9, 2),
                          "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
        t0 = time.perf_counter()
        dask.cluster.client()
        print(json.dumps({"cluster_start_s": round(time.perf_counter() - t0, 2)}), flush=True)
        results = {}
        if not args.skip_stats:
            for name, eng in (("in-process", local), ("dask", dask)):
                results[name] = measure("exact stats", name, eng, lambda eng=eng, name=name: eng.stats(
                    ws, "big.h5", "x", quantiles=QS, bins=64, engine="local" if name == "in-process" else "dask")[:2])
            assert results["in-process"]["out"] == results["dask"]["out"], "engines disagree"
            print(json.dumps({"stats": {k: v for k, v in results["dask"]["out"].items() if k != "histogram"}}),
                  flush=True)
        if args.mcp:
            task = via_mcp_task(root, args.workers, parse_bytes(args.memory_limit))
            print(json.dumps({k: v for k, v in task.items() if k != "result"}), flush=True)
            got = task["result"]
            if results.get("in-process") and isinstance(got, dict):
                same = {k: v for k, v in got.items() if k not in ("run", "path", "key", "shape", "dtype")}
                print(json.dumps({"mcp_task_equals_in_process": same == results["in-process"]["out"],
                                  "run": got.get("run")}), flush=True)
        if not args.skip_convert:
            digests = {}
            for name, eng in (("in-process", local), ("dask", dask)):
                res = measure("hdf5 -> zarr", name, eng, lambda eng=eng, name=name: conversion.convert_arrays(
                    eng, ws, ["big.h5"], f"big_{name}.zarr", key="x",
                    engine_name="local" if name == "in-process" else "dask"))
                digests[name] = res["out"].sha256
                shutil.rmtree(root / f"big_{name}.zarr")
            assert digests["in-process"] == digests["dask"], digests
        (root / "big.h5").unlink()
        if not args.skip_files and args.files:
            small = root / "small"
            small.mkdir()
            t0 = time.perf_counter()
            make_small(small, args.files)
            print(json.dumps({"made": f"{args.files} files", "seconds": round(time.perf_counter() - t0, 1)}),
                  flush=True)
            files = sorted(str(f) for f in small.iterdir())
            digests = {}
            for name, eng in (("in-process", local), ("dask", dask)):
                res = measure(f"{args.files} hdf5 -> zarr", name, eng, lambda eng=eng, name=name: conversion.convert_arrays(
                    eng, ws, files, f"small_{name}.zarr", key="v",
                    engine_name="local" if name == "in-process" else "dask"))
                digests[name] = res["out"].sha256
            assert digests["in-process"] == digests["dask"], digests
    finally:
        dask.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
