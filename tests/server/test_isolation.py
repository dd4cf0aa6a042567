"""HDF5 work does not stall the server (issue 10, point 5).

The slow file is real: one ``read_slice`` inflates many 64 MiB gzip chunks of zeros inside a
single libhdf5 call (h5py holds its global lock throughout, and the call cannot be
interrupted from Python). Without isolation it makes another client's ``explore_h5`` of a
different file wait; through the worker pool that call answers at once, a time limit or a
cancellation kills the stuck worker, and a fresh one takes its place.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import time
import zlib
from pathlib import Path

import anyio
import h5py
import numpy as np
import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from io_core.errors import KeyNotFoundError
from io_core.isolation import IsolatedWorkspace, WorkerPool, has_hdf5_signature
from io_core.workspace import Workspace
from server import isolation
from server.app import create_app
from server.settings import Settings
from tests.server.conftest import child_env, installed_command

CHUNK = (4096, 4096)  # float32: 64 MiB inflated per chunk
SLOW_CHUNKS = 24  # chunks one read inflates: seconds of libhdf5 work
SLOW_READ = {"path": "slow.h5", "key": "x", "selection": f"::{CHUNK[0]}, ::{CHUNK[1]}"}
QUICK = 1.0  # seconds: "the server answers a quick call within 1 s"


@functools.cache
def _zero_chunk(shape: tuple[int, int]) -> bytes:
    return zlib.compress(bytes(shape[0] * shape[1] * 4), 9)


def write_zeros(path: Path, name: str, chunk: tuple[int, int], grid: tuple[int, int]) -> None:
    """A float32 dataset of zeros, gzip-chunked, written chunk by chunk pre-compressed (small file, fast)."""
    blob = _zero_chunk(chunk)
    with h5py.File(path, "a") as f:
        d = f.create_dataset(name, shape=(chunk[0] * grid[0], chunk[1] * grid[1]), dtype="float32", chunks=chunk,
                             compression="gzip", compression_opts=9)
        for i in range(grid[0]):
            for j in range(grid[1]):
                d.id.write_direct_chunk((i * chunk[0], j * chunk[1]), blob, 0)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("iso")
    write_zeros(root / "slow.h5", "x", CHUNK, (1, SLOW_CHUNKS))
    write_zeros(root / "medium.h5", "m", (1024, 1024), (4, 4))  # 64 MiB: four 16 MiB stats blocks
    with h5py.File(root / "small.h5", "w") as f:
        f["a"] = np.arange(12, dtype="int16").reshape(3, 4)
        f["grp/b"] = np.linspace(0, 1, 5)
        f["big"] = np.zeros(100_000)
        f["a"].attrs["unit"] = "mV"
    with h5py.File(root / "cdf.nc", "w") as f:  # NetCDF-4 is HDF5 inside
        f["t"] = np.arange(6.0)
    (root / "garbage.h5").write_bytes(b"not an hdf5 file at all" * 10)
    (root / "table.csv").write_text("a,b\n1,2\n3,4\n")
    with h5py.File(root / "v73.bin", "w", userblock_size=512) as f:  # the signature at 512, as in MATLAB v7.3
        f["v"] = np.arange(3)
    return root


def settings(root: Path, workers: int, **extra) -> Settings:
    return Settings(roots=[root], hdf5_workers=workers, rate_limit=0, **extra)


async def ready_pool(mcp) -> WorkerPool:
    pool = isolation.pool_for(mcp)
    assert pool is not None
    assert await anyio.to_thread.run_sync(pool.wait_ready, 60.0)
    return pool


async def until(predicate, timeout: float = 30.0, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(step)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def text(result) -> str:
    return result.content[0].text


# -- routing ------------------------------------------------------------------------------------

def test_hdf5_family_files_are_routed_to_the_pool_and_nothing_else(data, tmp_path):
    ws = Workspace([data])
    pool = WorkerPool(functools.partial(Workspace, [data]), 1)
    iso = IsolatedWorkspace(ws, pool)
    assert iso.routed("summarize", "small.h5") and iso.routed("read_slice", "cdf.nc")
    assert iso.routed("summarize", "garbage.h5") and iso.routed("key_exists", "small.h5", ("a",))
    assert iso.routed("summarize", "v73.bin")  # no extension known: the signature at 512 decides
    assert iso.routed("summarize", "table.csv", ("hdf5",))  # format= is honoured
    assert not iso.routed("summarize", "table.csv")
    assert not iso.routed("summarize", "small.h5", ("csv",))
    assert not iso.routed("summarize", "../outside.h5")  # refused in-process, PATH_OUTSIDE_ROOT
    assert has_hdf5_signature(data / "small.h5") and not has_hdf5_signature(data / "table.csv")
    fifo = tmp_path / "pipe.bin"
    os.mkfifo(fifo)
    started = time.perf_counter()
    assert not has_hdf5_signature(fifo)  # never opened for reading: no hang on a FIFO
    assert time.perf_counter() - started < 1
    assert pool.pids() == {"idle": [], "busy": [], "starting": 0}  # nothing starts until used


# -- the case: one slow HDF5 call, another client's quick calls --------------------------

async def test_a_slow_hdf5_call_stalls_other_hdf5_calls_in_process_but_not_through_the_pool(data):
    # without isolation: h5py's lock makes explore_h5 of another file wait for the slow read
    mcp = create_app(settings(data, 0))
    async with Client(mcp) as a, Client(mcp) as b:
        await b.call_tool("explore_h5", {"path": "small.h5"})  # h5py imported, file system warm
        slow = asyncio.create_task(a.call_tool("read_slice", SLOW_READ))
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        await b.call_tool("explore_h5", {"path": "small.h5"})
        stalled = time.perf_counter() - started
        assert stalled > QUICK, f"the slow read did not hold h5py's lock ({stalled:.2f} s): the test proves nothing"
        result = await slow
        assert result.structured_content["slice"]["shape"] == [1, SLOW_CHUNKS]

    # with the pool: the same calls, two clients of one server
    mcp = create_app(settings(data, 2))
    async with Client(mcp) as a, Client(mcp) as b:
        pool = await ready_pool(mcp)
        slow = asyncio.create_task(a.call_tool("read_slice", SLOW_READ))
        await until(lambda: len(pool.pids()["busy"]) == 1)
        await asyncio.sleep(0.2)  # well inside libhdf5 now
        for tool, args in (("explore_h5", {"path": "small.h5"}), ("list_roots", {}),
                           ("load_summary", {"path": "table.csv"}), ("key_exists", {"path": "small.h5", "key": "a"})):
            started = time.perf_counter()
            result = await b.call_tool(tool, args)
            assert time.perf_counter() - started < QUICK, tool
            assert not result.is_error
        assert not slow.done()
        stuck = pool.pids()["busy"]
        slow.cancel()  # the client gives up: the worker stuck in libhdf5 is killed and replaced
        with pytest.raises(asyncio.CancelledError):
            await slow
        await until(lambda: not alive(stuck[0]), timeout=5)
        assert await anyio.to_thread.run_sync(pool.wait_ready, 60.0)
        assert stuck[0] not in pool.pids()["idle"]
        again = await b.call_tool("read_slice", {"path": "small.h5", "key": "a", "selection": "1"})
        assert again.structured_content["slice"]["values"] == [4, 5, 6, 7]


async def test_the_call_timeout_reaches_a_call_stuck_in_libhdf5(data):
    mcp = create_app(settings(data, 1, call_timeout=1.0))
    async with Client(mcp) as c:
        pool = await ready_pool(mcp)
        (first,) = pool.pids()["idle"]
        started = time.perf_counter()
        result = await c.call_tool("read_slice", SLOW_READ, raise_on_error=False)
        assert time.perf_counter() - started < 1.0 + QUICK
        assert result.is_error and text(result).startswith("TIMEOUT:")
        await until(lambda: not alive(first), timeout=5)  # killed, not left running
        explored = await c.call_tool("explore_h5", {"path": "small.h5"})  # the one worker was replaced
        assert [n["name"] for n in explored.structured_content["node"]["children"]] == ["a", "big", "grp"]
        assert first not in pool.pids()["idle"] and len(pool.pids()["idle"]) == 1


async def test_a_worker_killed_from_outside_is_a_coded_error_and_is_replaced(data):
    mcp = create_app(settings(data, 1))
    async with Client(mcp) as c:
        pool = await ready_pool(mcp)
        slow = asyncio.create_task(c.call_tool("read_slice", SLOW_READ, raise_on_error=False))
        await until(lambda: len(pool.pids()["busy"]) == 1)
        os.kill(pool.pids()["busy"][0], signal.SIGKILL)
        started = time.perf_counter()
        result = await slow
        assert time.perf_counter() - started < QUICK
        assert result.is_error and text(result).startswith("WORKER_LOST:") and "signal 9" in text(result)
        assert "Hint:" in text(result)
        ok = await c.call_tool("read_slice", {"path": "small.h5", "key": "grp/b", "selection": "-1"})
        assert ok.structured_content["slice"]["values"] == 1.0
        # an idle worker that dies is replaced before the next call, which does not notice
        (idle,) = pool.pids()["idle"]
        os.kill(idle, signal.SIGKILL)
        await until(lambda: not alive(idle), timeout=5)
        ok = await c.call_tool("load_summary", {"path": "cdf.nc"})
        assert not ok.is_error and ok.structured_content["format"] == "netcdf"


# -- same answers, same errors ------------------------------------------------------------------

CALLS = [  # (tool, arguments, the code of the error it must raise, or None)
    ("load_summary", {"path": "small.h5"}, None),
    ("load_summary", {"path": "small.h5", "key": "a"}, None),
    ("load_summary", {"path": "cdf.nc"}, None),
    ("load_summary", {"path": "v73.bin", "format": "hdf5"}, None),
    ("read_slice", {"path": "small.h5", "key": "a", "selection": "::2, 1:"}, None),
    ("explore_h5", {"path": "small.h5", "depth": 2}, None),
    ("key_exists", {"path": "small.h5", "key": "nope"}, None),
    ("preview_image", {"path": "small.h5", "key": "a"}, None),
    # errors raised inside the worker: same class, code, message and hint
    ("load_summary", {"path": "small.h5", "key": "missing"}, "KEY_NOT_FOUND"),
    ("load_summary", {"path": "garbage.h5"}, "CORRUPT_FILE"),
    ("read_slice", {"path": "small.h5", "key": "big"}, "TOO_LARGE"),  # with a selection that fits
    ("read_slice", {"path": "small.h5", "key": "a", "selection": "9"}, "INVALID_SELECTION"),
    ("explore_h5", {"path": "small.h5", "group": "/nowhere"}, "KEY_NOT_FOUND"),
    ("explore_h5", {"path": "../escape.h5"}, "PATH_OUTSIDE_ROOT"),  # refused before any worker is involved
]


async def test_answers_and_coded_errors_are_the_same_through_the_pool(data):
    async def run_all(workers: int) -> list:
        mcp = create_app(settings(data, workers))
        async with Client(mcp) as c:
            out = []
            for tool, args, _ in CALLS:
                r = await c.call_tool(tool, args, raise_on_error=False)
                out.append((r.is_error, [getattr(b, "text", None) or getattr(b, "data", None) for b in r.content]))
            return out

    in_process, pooled = await run_all(0), await run_all(2)
    for (tool, args, code), (is_error, blocks) in zip(CALLS, pooled, strict=True):
        if code is None:
            assert not is_error, (tool, args, blocks[0][:300])
        else:
            assert is_error and blocks[0].startswith(f"{code}:") and "Hint:" in blocks[0], (tool, args, blocks[0])
    assert pooled == in_process


def test_the_pool_rebuilds_io_core_errors_with_their_class_and_hint(data):
    pool = WorkerPool(functools.partial(Workspace, [data]), 1)
    try:
        with pytest.raises(KeyNotFoundError) as caught:
            pool.call("summarize", ("small.h5",), {"key": "missing"}, timeout=60)
        assert caught.value.code == "KEY_NOT_FOUND" and caught.value.hint
        assert "missing" in caught.value.message
    finally:
        pool.close()


def test_a_worker_left_large_after_a_call_is_replaced(data, monkeypatch):
    from io_core import isolation as iso

    pool = WorkerPool(functools.partial(Workspace, [data]), 1)
    try:
        assert pool.wait_ready(60)
        (first,) = pool.pids()["idle"]
        pool.call("summarize", ("small.h5",), timeout=60)
        assert pool.pids()["idle"] == [first]  # small: kept
        monkeypatch.setattr(iso, "RECYCLE_RSS", 1)
        result = pool.call("summarize", ("small.h5",), {"key": "a"}, timeout=60)
        assert result.summary.shape == [3, 4]  # the answer is delivered, then the worker is replaced
        assert pool.wait_ready(60) and pool.pids()["idle"] != [first]
    finally:
        pool.close()


async def test_exact_stats_progress_is_relayed_from_the_worker(data):
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    mcp = create_app(settings(data, 1))
    async with Client(mcp) as c:
        await ready_pool(mcp)
        result = await c.call_tool("load_summary", {"path": "medium.h5", "key": "m", "exact_stats": True},
                                   progress_handler=on_progress)
    stats = result.structured_content["summary"]["stats"]
    assert stats.get("exact", True) is True and stats["max"] == 0 and stats["count"] == 4096 * 4096  # absent: true
    assert len(seen) >= 4 and seen[-1][0] == seen[-1][1] == 4096 * 4096 * 4


# -- a real stdio server ------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_pids(server: int) -> list[int]:
    """The HDF5 workers of a server process: the children of its multiprocessing fork server."""
    return [w for f in _children(server) if "forkserver" in _cmdline(f) for w in _children(f)]


def our_server(root: str = "") -> int:
    """The server this test started: a child of ours running sciio-mcp with ``root`` (other tests' servers,
    e.g. the security corpus's session servers, are children too)."""
    (pid,) = [p for p in _children(os.getpid())
              if ("sciio-mcp" in _cmdline(p) or " -m server" in _cmdline(p)) and root in _cmdline(p)]
    return pid


async def test_over_stdio_a_slow_hdf5_call_does_not_stall_the_server_and_workers_end_with_it(data):
    cmd = installed_command()
    transport = StdioTransport(command=cmd[0], args=[*cmd[1:], "--root", str(data), "--hdf5-workers", "2"],
                               env=child_env(), keep_alive=False)
    async with Client(transport) as c:
        server = our_server(str(data))
        await until(lambda: len(worker_pids(server)) == 2, timeout=60)  # started after initialize
        await c.call_tool("explore_h5", {"path": "small.h5"})
        slow = asyncio.create_task(c.call_tool("read_slice", SLOW_READ, raise_on_error=False))
        await asyncio.sleep(0.5)
        started = time.perf_counter()
        quick = await c.call_tool("explore_h5", {"path": "small.h5"})
        assert time.perf_counter() - started < QUICK and not quick.is_error
        assert not slow.done()
        workers = worker_pids(server)
        for pid in workers:  # an operator (or the OOM killer) ends the workers
            os.kill(pid, signal.SIGKILL)
        lost = await slow
        assert lost.is_error and text(lost).startswith("WORKER_LOST:")
        summary = await c.call_tool("load_summary", {"path": "small.h5", "key": "grp/b"})
        assert summary.structured_content["summary"]["shape"] == [5]
        await until(lambda: len(worker_pids(server)) == 2, timeout=60)
        replaced = worker_pids(server)
        assert not set(replaced) & set(workers)
    await until(lambda: not any(alive(p) for p in [server, *replaced]), timeout=10)  # no orphans


def test_workers_die_with_a_killed_server(data):
    cmd = installed_command()
    proc = subprocess.Popen([*cmd, "--root", str(data)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=child_env())
    try:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}}
        proc.stdin.write((json.dumps(hello) + "\n").encode())
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        deadline = time.monotonic() + 60
        while len(worker_pids(proc.pid)) < 2:
            assert time.monotonic() < deadline, "workers did not start after initialize"
            time.sleep(0.05)
        workers = worker_pids(proc.pid)
        proc.kill()  # SIGKILL: no cleanup code runs in the server
        proc.wait()
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers):
            assert time.monotonic() < deadline, "workers outlived their server"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdin.close()
        proc.stdout.close()
