"""MCP tasks through the in-memory FastMCP client: a tasks-capable client gets a task at once and polls it
to the same numbers; a client without the extension gets the blocking call with progress; cancel leaves nothing."""

from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest
from fastmcp import Client

from io_core.compute import conversion, exact
from server import task_client
from server.app import create_app
from server.settings import Settings

QS = [0.1, 0.5, 0.9]


@pytest.fixture
def root(tmp_path):
    a = np.random.default_rng(5).standard_normal((500, 400)).astype("float32")
    a[1, 1] = np.nan
    np.save(tmp_path / "a.npy", a)
    return tmp_path


@pytest.fixture
def app(root, cluster):
    return create_app(Settings(roots=[root], hdf5_workers=0, dask_scheduler=cluster.scheduler_address))


def numbers(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "run"}


async def test_task_polls_to_the_blocking_numbers(app, root, monkeypatch):
    monkeypatch.setattr(exact, "TASK_BYTES", 64 * 1024)
    args = {"path": "a.npy", "quantiles": QS, "bins": 5}
    progress = []

    async def on_progress(done, total, message):
        progress.append((done, total, message))

    async with Client(app, progress_handler=on_progress) as plain:  # no tasks extension: blocking, as before
        blocking = (await plain.call_tool("compute_stats", args)).structured_content
    assert blocking["run"]["engine"] == "dask" and blocking["run"]["workers"] == 2
    assert progress and progress[-1][0] == progress[-1][1] and "MB read" in progress[-1][2]

    async with Client(app, extensions=[task_client.TasksClient()]) as c:
        created = await task_client.start(c, "compute_stats", args)
        assert isinstance(created, task_client.CreatedTask) and created.status == "working"
        final = await task_client.wait(c.session, created.task_id, timeout=120)
        assert final.status == "completed", final
        assert "blocks" in final.status_message and "MB read" in final.status_message
        tasked = final.result["structuredContent"]
        listed = await task_client.tasks(c.session)
        assert [t["taskId"] for t in listed] == [created.task_id]
        transparent = (await c.call_tool("compute_stats", args)).structured_content  # the claim polls for us
    assert numbers(tasked) == numbers(blocking) == numbers(transparent)
    a = np.load(root / "a.npy")
    finite = a[np.isfinite(a)]
    assert [tasked["quantiles"][repr(q)] for q in QS] == np.quantile(finite, QS).tolist()
    assert tasked["count"] == finite.size and tasked["nan_count"] == 1


async def test_exact_load_summary_runs_as_a_task(app):
    async with Client(app) as plain:
        blocking = (await plain.call_tool("load_summary", {"path": "a.npy", "exact_stats": True})).structured_content
    async with Client(app, extensions=[task_client.TasksClient()]) as c:
        created = await task_client.start(c, "load_summary", {"path": "a.npy", "exact_stats": True})
        assert isinstance(created, task_client.CreatedTask)
        final = await task_client.wait(c.session, created.task_id, timeout=60)
        quick = await task_client.start(c, "load_summary", {"path": "a.npy"})  # not exact: answered inline
    assert final.status == "completed" and final.result["structuredContent"] == blocking
    assert not isinstance(quick, task_client.CreatedTask) and not quick.is_error


async def test_cancelled_convert_task_leaves_nothing(app, root, monkeypatch):
    monkeypatch.setattr(conversion, "TASK_BYTES", 4096)
    monkeypatch.setattr(conversion, "CHUNK_BYTES", 4096)  # 200 chunks: 200 blocks, each a task
    async with Client(app, extensions=[task_client.TasksClient()]) as c:
        created = await task_client.start(c, "convert", {"src": "a.npy", "dst": "out.zarr"})
        for _ in range(400):
            state = await task_client.get(c.session, created.task_id)
            if state.status_message and "blocks" in state.status_message or state.status != "working":
                break
            await asyncio.sleep(0.01)
        assert state.status == "working", state  # still running: cancel it half-way
        await task_client.cancel(c.session, created.task_id)
        final = await task_client.wait(c.session, created.task_id, timeout=60)
    assert final.status == "cancelled"
    assert sorted(p for p in os.listdir(root) if p != ".sciio") == ["a.npy"]  # no output, no temp folder


async def test_convert_task_completes_with_a_ledger_record(app, root):
    async with Client(app, extensions=[task_client.TasksClient()]) as c:
        result = await c.call_tool("convert", {"src": "a.npy", "dst": "a.zarr"})
        prov = (await c.call_tool("file_provenance", {"path": "a.zarr"})).structured_content
    assert result.structured_content["format"] == "zarr"
    args = prov["records"][0]["arguments"]
    assert args["engine"] in ("dask", "in-process") and prov["records"][0]["inputs"][0]["path"] == "a.npy"


async def test_unknown_task_is_not_found(app):
    from mcp.shared.exceptions import MCPError

    async with Client(app, extensions=[task_client.TasksClient()]) as c:
        with pytest.raises(MCPError, match="task not found"):
            await task_client.get(c.session, "nope")


async def test_a_task_outlives_its_client(app, monkeypatch):
    monkeypatch.setattr(exact, "TASK_BYTES", 64 * 1024)
    async with Client(app, extensions=[task_client.TasksClient()]) as first:
        created = await task_client.start(first, "compute_stats", {"path": "a.npy", "quantiles": [0.5]})
    async with Client(app, extensions=[task_client.TasksClient()]) as second:  # a new connection, same owner
        final = await task_client.wait(second.session, created.task_id, timeout=120)
    assert final.status == "completed" and final.result["structuredContent"]["count"] == 500 * 400 - 1


async def test_local_cluster_started_on_first_need(root, monkeypatch):
    """No scheduler configured, input above --dask-min-bytes: the server starts its own LocalCluster."""
    import server.app
    from io_core.compute.engine import Engine

    made: list[Engine] = []

    class Kept(Engine):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(server.app, "Engine", Kept)
    app = create_app(Settings(roots=[root], hdf5_workers=0, dask_min_bytes=1, dask_workers=1,
                              dask_memory_limit=512 * 2**20))
    try:
        async with Client(app) as c:
            out = (await c.call_tool("compute_stats", {"path": "a.npy", "quantiles": [0.5]})).structured_content
    finally:
        for engine in made:  # its cluster would live on (and keep sockets open) until the test process exits
            engine.close()
    assert out["run"]["engine"] == "dask" and out["run"]["workers"] == 1
    a = np.load(root / "a.npy")
    assert out["quantiles"]["0.5"] == float(np.quantile(a[np.isfinite(a)], [0.5])[0])


async def test_a_failing_task_carries_the_coded_error(app):
    async with Client(app, extensions=[task_client.TasksClient()]) as c:
        created = await task_client.start(c, "compute_stats", {"path": "missing.npy"})
        final = await task_client.wait(c.session, created.task_id, timeout=60)
        with pytest.raises(Exception, match="FILE_NOT_FOUND"):  # the transparent path raises the same text
            await c.call_tool("compute_stats", {"path": "missing.npy"})
    assert final.status == "failed" and final.error["message"].startswith("FILE_NOT_FOUND")
