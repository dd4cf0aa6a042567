"""Cold start and per-call latency over stdio: sciio-mcp next to a bare FastMCP server.

Cold start = spawn -> initialize -> first tool call answered (list_formats for ours,
the one trivial tool for the bare server). Per call = median of N calls on one open
session. Runs alternate between the two servers so machine noise hits both alike.

    python bench/startup.py [--starts 9] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastmcp import Client
from fastmcp.client.transports import StdioTransport

BARE_SERVER = '''
from fastmcp import FastMCP

mcp = FastMCP("bare")


@mcp.tool
def ping() -> str:
    """A trivial tool."""
    return "pong"


mcp.run(transport="stdio", show_banner=False)
'''


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH")}


def servers(workdir: Path) -> dict[str, tuple[list[str], str]]:
    bare = workdir / "bare_server.py"
    bare.write_text(BARE_SERVER)
    ours = [sys.executable, "-m", "server", "--root", str(workdir)]
    return {"sciio-mcp": (ours, "list_formats"), "bare FastMCP": ([sys.executable, str(bare)], "ping")}


async def cold_start(cmd: list[str], tool: str) -> float:
    transport = StdioTransport(command=cmd[0], args=cmd[1:], env=_env(), keep_alive=False)
    start = time.perf_counter()
    async with Client(transport) as client:
        await client.call_tool(tool, {})
        elapsed = time.perf_counter() - start
    return elapsed


async def per_call(cmd: list[str], tool: str, calls: int) -> list[float]:
    transport = StdioTransport(command=cmd[0], args=cmd[1:], env=_env(), keep_alive=False)
    times = []
    async with Client(transport) as client:
        for _ in range(10):  # warm up
            await client.call_tool(tool, {})
        for _ in range(calls):
            t0 = time.perf_counter()
            await client.call_tool(tool, {})
            times.append(time.perf_counter() - t0)
    return times


async def main(starts: int, calls: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        table = servers(Path(tmp))
        cold: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(starts):
            for name, (cmd, tool) in table.items():
                cold[name].append(await cold_start(cmd, tool))
        call: dict[str, list[float]] = {}
        for name, (cmd, tool) in table.items():
            call[name] = await per_call(cmd, tool, calls)

    ours, bare = "sciio-mcp", "bare FastMCP"
    cold_med = {n: statistics.median(v) for n, v in cold.items()}
    call_med = {n: statistics.median(v) for n, v in call.items()}
    call_p90 = {n: statistics.quantiles(v, n=10)[-1] for n, v in call.items()}
    print(f"stdio, {starts} cold starts each (alternating), {calls} calls per server; python {sys.version.split()[0]}")
    print(f"{'server':<14} {'cold start median (s)':>22} {'cold min (s)':>13} {'call median (ms)':>17} {'call p90 (ms)':>14}")
    for name in table:
        print(f"{name:<14} {cold_med[name]:>22.3f} {min(cold[name]):>13.3f} {call_med[name] * 1e3:>17.2f} {call_p90[name] * 1e3:>14.2f}")
    cold_ratio = cold_med[ours] / cold_med[bare]
    call_ratio = call_med[ours] / call_med[bare]
    print(f"ratio cold start (ours/bare): {cold_ratio:.2f}  target <= 1.30  {'OK' if cold_ratio <= 1.3 else 'MISSED'}")
    print(f"ratio call median (ours/bare): {call_ratio:.2f}  target <= 1.50  {'OK' if call_ratio <= 1.5 else 'MISSED'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=9)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.starts, args.calls))
