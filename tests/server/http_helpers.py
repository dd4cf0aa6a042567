"""Start the installed ``sciio-mcp --http`` as a subprocess on a free loopback port."""

from __future__ import annotations

import gzip
import io
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def http_post(url: str, body: bytes | object, headers: dict[str, str] | None = None, timeout: float = 10.0):
    """POST raw bytes (or an iterable of bytes: sent chunked); returns (status, headers, body)."""
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json", "accept": "application/json, text/event-stream", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


class Server:
    """A running server; ``stderr`` is read from a file so a full pipe never stalls it."""

    def __init__(self, cmd: list[str], args: list[str], env: dict[str, str], log_path: Path, port: int | None = None,
                 startup_timeout: float = 60.0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen([*cmd, "--http", "--port", str(self.port), *args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log, env=env)
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.stderr()}")
            try:
                if http_get(self.url + "/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not answer /health within {startup_timeout} s: {self.stderr()}")
            time.sleep(0.1)

    @property
    def mcp(self) -> str:
        return self.url + "/mcp"

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stderr().splitlines() if line.startswith("{")]

    def stop(self) -> bytes:
        """Stop (SIGTERM, then SIGKILL) and return what it wrote to stdout (must be nothing)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate(timeout=15)
        self._log.close()
        return out or b""


async def slow_summary_args(client, path: str) -> dict:
    """load_summary arguments that read the whole file: with exact_stats where the tool offers it."""
    tools = {t.name: t for t in await client.list_tools()}
    props = tools["load_summary"].input_schema.get("properties", {})
    return {"path": path, **({"exact_stats": True} if "exact_stats" in props else {})}


def write_slow_csv_gz(path: Path, blocks: int, rows_per_block: int = 100_000) -> Path:
    """A gzipped CSV that takes load_summary ~0.045 s per block here to read whole (see slow_summary_args).

    One block is compressed once and repeated as concatenated gzip members, so writing is instant.
    """
    rng = np.random.default_rng(0)
    text = io.StringIO()
    np.savetxt(text, rng.random((rows_per_block, 4)), delimiter=",", fmt="%.6f")
    member = gzip.compress(text.getvalue().encode(), compresslevel=1)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(b"a,b,c,d\n"))
        fh.writelines(member for _ in range(blocks))
    return path
