"""The background warm-up of a fresh server (server.warmup) and of HDF5 workers (io_core.isolation_worker.warm_up)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import zarr
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from io_core.registry import REGISTRY
from server import warmup
from tests.server.conftest import child_env


def test_plan_leaves_pooled_containers_to_the_workers():
    seen = Counter({".h5": 3, ".zarr": 1, ".csv": 1})
    libs, specs = warmup.plan(REGISTRY, seen)
    assert "h5py" in libs and "hdf5" in {s.name for s in specs}
    libs, specs = warmup.plan(REGISTRY, seen, frozenset({"hdf5"}))
    assert "h5py" not in libs and "hdf5" not in {s.name for s in specs}
    assert {"numpy", "zarr", "pandas"} <= set(libs)


def test_zarr_first_use_leaves_nothing_behind():
    before = set(os.listdir(tempfile.gettempdir()))
    warmup._exercise_zarr()
    assert {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("sciio-warm-")} == set()
    assert "zarr" in sys.modules


def test_worker_warm_up_lists_plugins_and_cleans_up(tmp_path):
    from io_core.isolation_worker import warm_up
    from io_core.registry import Registry
    from io_core.workspace import Workspace

    registry = Registry(entry_points="sciio.formats.none")
    ws = Workspace([tmp_path], registry=registry)
    before = set(os.listdir(tempfile.gettempdir()))
    warm_up(ws)
    assert registry._plugins_loaded
    assert {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.startswith("sciio-warm-")} == set()
    assert list(tmp_path.iterdir()) == []  # nothing of the user's root touched


async def _read_until(path: Path, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = path.read_text()
        if text in log:
            return log
        await asyncio.sleep(0.1)
    return path.read_text()


async def test_a_fresh_server_warms_up_after_tools_list_not_before(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    with h5py.File(root / "a.h5", "w") as f:
        f["d"] = np.arange(10.0)
    zarr.create_array(store=str(root / "s.zarr"), shape=(4,), chunks=(2,), dtype="f8")
    errlog = tmp_path / "stderr.log"
    params = StdioServerParameters(command=sys.executable, args=["-m", "server", "--root", str(root), "--log-level",
                                                                 "DEBUG"], env=child_env(),
                                   cwd=str(Path(__file__).resolve().parents[2]))
    with open(errlog, "w") as err:
        async with stdio_client(params, errlog=err) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            await asyncio.sleep(1.5)  # no tools/list yet: nothing starts
            quiet = errlog.read_text()
            assert "lifecycle: warm-up" not in quiet  # (the pool's own start is the lifespan's: server.isolation)
            await session.list_tools()
            log = await _read_until(errlog, "warm-up imported", 30)
            log = await _read_until(errlog, "ready", 30)
            result = await session.call_tool("load_summary", {"path": "a.h5", "key": "d"})
            assert not result.is_error
    lines = [ln for ln in log.splitlines() if "warm-up imported" in ln]
    assert lines and "zarr" in lines[0] and "h5py" not in lines[0]  # h5py is the workers' business
    assert "first use of zarr took" in log
    assert "HDF5 worker" in log and "ready" in log
