"""An external cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, and the installed
``sciio-mcp --http --dask-scheduler tcp://127.0.0.1:PORT`` pointed at them. A task belongs to the token
that started it: another token can neither see, poll nor cancel it."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from fastmcp import Client
from mcp.shared.exceptions import MCPError

from server import task_client
from tests.server.conftest import child_env, installed_command
from tests.server.http_helpers import Server, free_port

ALICE, BOB = "alice-secret-token-0123456789", "bob-secret-token-0123456789"


def dask_command() -> list[str]:
    """The ``dask`` command installed with distributed (``python -m dask`` is the same entry point)."""
    return [sys.executable, "-m", "dask"]


@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory):
    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = child_env()
    procs = [subprocess.Popen([*dask_command(), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=subprocess.DEVNULL,
                              stderr=open(logs / "scheduler.log", "wb"), env=env)]
    for i in range(2):
        procs.append(subprocess.Popen([*dask_command(), "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                       "--no-dashboard", "--memory-limit", "1GiB", "--name", f"w{i}"],
                                      stdout=subprocess.DEVNULL, stderr=open(logs / f"worker{i}.log", "wb"), env=env))
    try:
        from distributed import Client as DaskClient

        deadline = time.monotonic() + 60
        while True:
            try:
                with DaskClient(address, timeout=5) as dc:
                    dc.wait_for_workers(2, timeout=max(1, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.mark.slow
async def test_server_on_an_external_scheduler_with_owned_tasks(external_cluster, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    a = np.random.default_rng(11).standard_normal((300, 300))
    np.save(data / "a.npy", a)
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{ALICE} alice\n{BOB} bob\n")
    server = Server(installed_command(), ["--root", str(data), "--token-file", str(tokens), "--rate-limit", "0",
                                          "--dask-scheduler", external_cluster], child_env(), tmp_path / "server.log")
    try:
        args = {"path": "a.npy", "quantiles": [0.5], "bins": 3}
        async with Client(server.mcp, auth=ALICE, extensions=[task_client.TasksClient()]) as alice, \
                Client(server.mcp, auth=BOB, extensions=[task_client.TasksClient()]) as bob:
            created = await task_client.start(alice, "compute_stats", args)
            assert isinstance(created, task_client.CreatedTask)
            with pytest.raises(MCPError, match="task not found"):
                await task_client.get(bob.session, created.task_id)
            with pytest.raises(MCPError, match="task not found"):
                await task_client.cancel(bob.session, created.task_id)
            assert await task_client.tasks(bob.session) == []
            final = await task_client.wait(alice.session, created.task_id, timeout=120)
        assert final.status == "completed", final
        out = final.result["structuredContent"]
        assert out["run"]["engine"] == "dask" and out["run"]["workers"] == 2
        assert out["quantiles"]["0.5"] == float(np.quantile(a, [0.5])[0]) and out["count"] == a.size
        assert out["histogram"]["counts"] == np.histogram(a, bins=3)[0].tolist()
        async with Client(server.mcp, auth=ALICE) as plain:  # no tasks: the blocking call, same numbers
            blocking = (await plain.call_tool("compute_stats", args)).structured_content
        assert {k: v for k, v in blocking.items() if k != "run"} == {k: v for k, v in out.items() if k != "run"}
    finally:
        server.stop()
