"""HDF5 reads in worker processes (--hdf5-workers) against in-process reads, over stdio.

For each setting (0 = in-process, N = pool of N workers):
* cold start: spawn -> initialize -> first list_formats answered (the pool starts after initialize);
* first HDF5 call: load_summary of a small .h5 right after connecting (pays imports / worker start);
* per call: median and p90 of load_summary of a small .h5 on one open session (and, without MCP,
  Workspace.summarize in-process against the same call through a worker);
* stalled: how long explore_h5 of a small file takes while the same session's slow read_slice
  (one libhdf5 call inflating many 64 MiB gzip chunks) runs.

    python bench/isolation.py [--starts 5] [--calls 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path

import h5py
import numpy as np
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

CHUNK = (4096, 4096)
SLOW_CHUNKS = 24


def make_data(root: Path) -> None:
    with h5py.File(root / "small.h5", "w") as f:
        f["a"] = np.arange(1000, dtype="float64").reshape(10, 100)
        f["g/b"] = np.linspace(0, 1, 50)
    blob = zlib.compress(bytes(CHUNK[0] * CHUNK[1] * 4), 9)
    with h5py.File(root / "slow.h5", "w") as f:
        d = f.create_dataset("x", shape=(CHUNK[0], CHUNK[1] * SLOW_CHUNKS), dtype="float32", chunks=CHUNK,
                             compression="gzip", compression_opts=9)
        for j in range(SLOW_CHUNKS):
            d.id.write_direct_chunk((0, j * CHUNK[1]), blob, 0)


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")}


def transport(root: Path, workers: int) -> StdioTransport:
    return StdioTransport(command=sys.executable, args=["-m", "server", "--root", str(root), "--hdf5-workers",
                                                        str(workers)], env=_env(), keep_alive=False)


SUMMARY = {"path": "small.h5", "key": "a"}


async def cold(root: Path, workers: int) -> tuple[float, float]:
    start = time.perf_counter()
    async with Client(transport(root, workers)) as c:
        await c.call_tool("list_formats", {})
        connected = time.perf_counter() - start
        t0 = time.perf_counter()
        await c.call_tool("load_summary", SUMMARY)
        first = time.perf_counter() - t0
    return connected, first


async def per_call(root: Path, workers: int, calls: int) -> list[float]:
    times = []
    async with Client(transport(root, workers)) as c:
        for _ in range(20):
            await c.call_tool("load_summary", SUMMARY)
        for _ in range(calls):
            t0 = time.perf_counter()
            await c.call_tool("load_summary", SUMMARY)
            times.append(time.perf_counter() - t0)
    return times


async def stalled(root: Path, workers: int) -> tuple[float, float]:
    async with Client(transport(root, workers)) as c:
        await c.call_tool("explore_h5", {"path": "small.h5"})
        await asyncio.sleep(2.0)  # workers started
        t0 = time.perf_counter()
        slow = asyncio.create_task(c.call_tool("read_slice", {"path": "slow.h5", "key": "x", "selection": "::4096, ::4096"}))
        await asyncio.sleep(0.3)
        t1 = time.perf_counter()
        await c.call_tool("explore_h5", {"path": "small.h5"})
        quick = time.perf_counter() - t1
        await slow
        return quick, time.perf_counter() - t0


def direct(root: Path, calls: int) -> tuple[list[float], list[float]]:
    """io_core only: Workspace.summarize in-process against the same call through a 1-worker pool."""
    import functools

    from io_core.isolation import IsolatedWorkspace, WorkerPool
    from io_core.workspace import Workspace

    pool = WorkerPool(functools.partial(Workspace, [root]), 1)
    pool.wait_ready()
    ws = Workspace([root])
    timings = []
    for target in (ws, IsolatedWorkspace(ws, pool)):
        for _ in range(20):
            target.summarize("small.h5", key="a")
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            target.summarize("small.h5", key="a")
            times.append(time.perf_counter() - t0)
        timings.append(times)
    pool.close()
    return timings[0], timings[1]


async def main(starts: int, calls: int, workers: int) -> None:
    settings = (0, workers)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_data(root)
        here, pooled = direct(root, calls)
        connect: dict[int, list[float]] = {w: [] for w in settings}
        first: dict[int, list[float]] = {w: [] for w in settings}
        for _ in range(starts):
            for w in settings:
                a, b = await cold(root, w)
                connect[w].append(a)
                first[w].append(b)
        call = {w: await per_call(root, w, calls) for w in settings}
        stall = {w: await stalled(root, w) for w in settings}

    print(f"stdio, {starts} cold starts each (alternating), {calls} load_summary calls of a small .h5; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} cpus")
    print(f"{'hdf5 workers':<13} {'cold start (s)':>15} {'first h5 call (ms)':>19} {'call median (ms)':>17} "
          f"{'call p90 (ms)':>14} {'explore during slow read (s)':>29} {'slow read (s)':>14}")
    for w in settings:
        print(f"{w:<13} {statistics.median(connect[w]):>15.3f} {statistics.median(first[w]) * 1e3:>19.1f} "
              f"{statistics.median(call[w]) * 1e3:>17.2f} {statistics.quantiles(call[w], n=10)[-1] * 1e3:>14.2f} "
              f"{stall[w][0]:>29.3f} {stall[w][1]:>14.2f}")
    print(f"io_core only, Workspace.summarize of a small .h5: in-process {statistics.median(here) * 1e3:.2f} ms, "
          f"through a worker {statistics.median(pooled) * 1e3:.2f} ms (median of {calls})")
    ratio = statistics.median(call[workers]) / statistics.median(call[0])
    cold_ratio = statistics.median(connect[workers]) / statistics.median(connect[0])
    print(f"pool / in-process: call median {ratio:.2f}x, cold start {cold_ratio:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.starts, args.calls, args.workers))
