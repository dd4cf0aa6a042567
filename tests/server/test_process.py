"""The process behaves: signals stop it within a second without a traceback; refusals log at INFO;
heavy libraries are imported in the background once a client is connected.

The signal tests run the installed ``sciio-mcp`` as a real subprocess (stdio and ``--http``);
stderr goes to a file so a full pipe can never stall the server.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.server.conftest import child_env, installed_command
from tests.server.http_helpers import Server, http_post, write_slow_csv_gz

STOP_WITHIN = 1.0
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class StdioServer:
    """``sciio-mcp`` over raw stdio JSON-RPC lines."""

    def __init__(self, root: Path, log: Path, *args: str) -> None:
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen([*installed_command(), "--root", str(root), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, env=child_env())
        self._buf = b""

    def send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def receive(self, request_id: int, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                message = json.loads(line)
                if message.get("id") == request_id:
                    return message
            left = deadline - time.monotonic()
            assert left > 0, f"no answer to request {request_id}: {self.stderr()}"
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, f"server closed stdout: {self.stderr()}"
                self._buf += chunk

    def answered(self, request_id: int) -> bool:
        """Whether the answer to ``request_id`` has arrived (reads what is there, never waits)."""
        while select.select([self.proc.stdout], [], [], 0)[0]:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            self._buf += chunk
        return any(json.loads(line).get("id") == request_id for line in self._buf.split(b"\n") if line.strip())

    def initialize(self) -> dict:
        self.send(INIT)
        answer = self.receive(1)
        self.send(INITIALIZED)
        return answer

    def call(self, request_id: int, tool: str, arguments: dict) -> None:
        self.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
                   "params": {"name": tool, "arguments": arguments}})

    def stderr(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def stop_and_time(proc: subprocess.Popen, sig: int) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        pytest.fail(f"still running 10 s after {signal.Signals(sig).name}")
    return time.monotonic() - started


@pytest.fixture
def stdio(root, tmp_path):
    servers = []

    def start(*args: str) -> StdioServer:
        server = StdioServer(root, tmp_path / f"stderr{len(servers)}.txt", *args)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stdio_server_stops_on_signal_within_a_second_without_traceback(stdio, sig):
    server = stdio()
    assert server.initialize()["result"]["serverInfo"]["name"] == "sciio-mcp"
    server.send({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert server.receive(2)["result"]["tools"]
    elapsed = stop_and_time(server.proc, sig)  # stdin stays open: the server must not wait for it
    assert elapsed <= STOP_WITHIN, elapsed
    assert server.proc.returncode == 0
    assert "Traceback" not in server.stderr(), server.stderr()


def test_stdio_server_stops_within_a_second_while_a_call_is_running(stdio, root):
    write_slow_csv_gz(root / "slow.csv.gz", blocks=60)  # several seconds of exact stats here
    server = stdio()
    server.initialize()
    server.call(2, "load_summary", {"path": "slow.csv.gz", "exact_stats": True})
    time.sleep(0.5)
    assert server.proc.poll() is None
    assert not server.answered(2), f"the call should still be running: {server.stderr()}"
    elapsed = stop_and_time(server.proc, signal.SIGINT)
    assert elapsed <= STOP_WITHIN, elapsed
    assert "Traceback" not in server.stderr(), server.stderr()


def test_stdio_second_signal_before_serving_also_quiet(root, tmp_path):
    """A Ctrl-C while the process is still importing is not a KeyboardInterrupt traceback either."""
    log = tmp_path / "early.txt"
    with open(log, "wb") as err:
        proc = subprocess.Popen([*installed_command(), "--root", str(root)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err, env=child_env())
        time.sleep(0.3)  # inside the imports
        elapsed = stop_and_time(proc, signal.SIGINT)
    assert elapsed <= STOP_WITHIN
    assert "Traceback" not in log.read_text(errors="replace")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_http_server_stops_on_signal_within_a_second_without_traceback(root, tmp_path, sig):
    server = Server(installed_command(), ["--root", str(root), "--host", "127.0.0.1"], child_env(),
                    tmp_path / "http.log")
    try:
        status, _headers, body = http_post(server.mcp, json.dumps(INIT).encode())
        assert status == 200, body
        elapsed = stop_and_time(server.proc, sig)
    finally:
        out = server.stop()
    assert elapsed <= STOP_WITHIN, elapsed
    assert server.proc.returncode == 0
    assert "Traceback" not in server.stderr(), server.stderr()
    assert out == b""


def test_refusal_logs_at_info_with_its_code_and_no_error(stdio):
    server = stdio("--log-level", "INFO")
    server.initialize()
    server.call(2, "load_summary", {"path": "missing.csv"})
    answer = server.receive(2)["result"]
    assert answer["isError"] and answer["content"][0]["text"].startswith("FILE_NOT_FOUND:")
    server.call(3, "load_summary", {"path": 7})
    assert server.receive(3)["result"]["content"][0]["text"].startswith("INVALID_ARGUMENT:")
    time.sleep(0.2)
    lines = server.stderr().splitlines()
    assert any(" INFO " in line and "FILE_NOT_FOUND" in line for line in lines), lines
    assert any(" INFO " in line and "INVALID_ARGUMENT" in line for line in lines), lines
    assert not [line for line in lines if " ERROR " in line or " WARNING " in line], lines


def test_unexpected_exception_still_logs_at_error(caplog):
    from server.errors import translate

    with caplog.at_level("INFO"):
        err = translate("some_tool", ZeroDivisionError("boom"))
    assert str(err).startswith("INTERNAL_ERROR:") and err.code == "INTERNAL_ERROR"
    assert [r for r in caplog.records if r.levelname == "ERROR" and r.exc_info]


# -- warm-up ------------------------------------------------------------------------------------

WARM_PROBE = textwrap.dedent("""
    import asyncio, json, sys, time
    from fastmcp import Client
    from server import warmup
    from server.app import create_app
    from server.settings import Settings

    root, wanted = sys.argv[1], sys.argv[2].split(",")
    extra = {"hdf5_workers": 0} if "hdf5_workers" in Settings.model_fields else {}
    app = create_app(Settings(roots=[root], **extra))

    async def main():
        async with Client(app) as client:
            await client.call_tool("list_roots", {})
            connected = sorted(m for m in wanted if m in sys.modules)
            warmup.start([root])  # what sciio-mcp does when it starts serving
            deadline = time.monotonic() + 30
            while not all(m in sys.modules for m in wanted) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return connected
    connected = asyncio.run(main())
    print(json.dumps({"connected": connected, "after": sorted(m for m in wanted if m in sys.modules),
                      "h5py_after": "h5py" in sys.modules}))
""")


def run_probe(root: Path, wanted: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", WARM_PROBE, str(root), ",".join(wanted)], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_warm_up_imports_what_the_roots_need_after_initialize(root):
    (root / "scan.h5").write_bytes(b"")  # only names are looked at
    sub = root / "tables"
    sub.mkdir()
    (sub / "t.parquet").write_bytes(b"")
    got = run_probe(root, ["h5py", "pyarrow", "pandas", "numpy"])
    assert got["connected"] == []  # serving and a first call import none of them
    assert got["after"] == ["h5py", "numpy", "pandas", "pyarrow"]


def test_warm_up_leaves_out_what_the_roots_do_not_hold(root):
    (root / "a.csv").write_text("a\n1\n")
    got = run_probe(root, ["pandas"])
    assert got["connected"] == [] and got["after"] == ["pandas"] and got["h5py_after"] is False


def test_scan_is_bounded_and_skips_hidden_folders_and_stores(tmp_path):
    from server.warmup import scan_extensions

    for i in range(50):
        (tmp_path / f"f{i}.csv").write_text("")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.h5").write_text("")
    store = tmp_path / "s.zarr"
    store.mkdir()
    (store / "zarr.json").write_text("{}")
    (store / "c.npy").write_text("")
    deep = tmp_path / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    (deep / "deep.mat").write_text("")
    seen = scan_extensions([tmp_path])
    assert seen[".csv"] == 50 and seen[".zarr"] == 1
    assert ".h5" not in seen and ".npy" not in seen and ".mat" not in seen
    assert sum(scan_extensions([tmp_path], limit=10).values()) <= 10
