"""What an agent sees, through the official ``mcp`` client over stdio: bytes of answers and times of first calls.

One run prints one table: tools/list bytes (whole, and name + description + inputSchema
alone), response bytes of explore_h5 / load_summary / read_slice on typical files (the whole
JSON-RPC response a client receives: structured content plus the text block, which carries
the same facts as lines, server.text_block; each copy's size in the note), and the
times of the first and second call in a fresh server (a new ``sciio-mcp`` process per run)
for a 2 GB HDF5 summary, a 2 GB Zarr summary and CSV/parquet pages at offset 500,000.
Times are medians over ``--runs`` fresh servers. Every file is made on the fly in a temp
folder (the 2 GB array files are chunked with their chunks unwritten: a few KB on disk;
the 1M-row CSV is about 100 MB) and deleted afterwards.

"Fresh" means: spawn, initialize, tools/list (what every client does first), then wait
``--pause`` seconds (an agent reading the tool list; 0 = call at once), then the timed calls.
Both a 0 s and the ``--pause`` s variant are measured for the HDF5 summary. The client's
output-schema validators are compiled right after tools/list (the mcp client compiles one per
tool per session on its first result, ~60x a validation: a client cost, not the server's).

    python bench/agent.py [--runs 3] [--pause 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROWS = 1_000_000
COLUMNS = 10
PAGE_OFFSET = 500_000
BIG_H5_SHAPE = (16384, 16384)  # float64: 2 GiB
BIG_ZARR_SHAPE, BIG_ZARR_CHUNKS = (15625, 16000), (1000, 1000)  # float64: 2.0 GB
ERRLOG: IO[str] = sys.stderr  # the servers' stderr; main() points it at /dev/null
SERVER_ARGS: list[str] = []  # extra sciio-mcp flags (--server-arg)


# -- data ---------------------------------------------------------------------------------------

def make_data(root: Path) -> None:
    import h5py
    import numpy as np
    import pandas as pd
    import zarr

    rng = np.random.default_rng(0)
    with h5py.File(root / "nested.h5", "w") as f:  # 3 groups x 17 datasets = 51, like a small experiment file
        f.attrs["instrument"] = "bench"
        for g in range(3):
            group = f.create_group(f"run{g}")
            group.attrs["started"] = f"2026-01-0{g + 1}T10:00:00"
            for d in range(17):
                shape = [(100,), (64, 64), (10, 3, 5)][d % 3]
                data = rng.standard_normal(shape).astype(["float64", "float32", "int16"][d % 3])
                kwargs = {"chunks": True, "compression": "gzip"} if d % 2 else {}
                ds = group.create_dataset(f"signal_{d:02d}", data=data, **kwargs)
                ds.attrs["units"] = "mV"
                ds.attrs["rate_hz"] = 1000.0
    with h5py.File(root / "big.h5", "w") as f:  # 2 GiB declared, chunks never written
        f.create_dataset("data", shape=BIG_H5_SHAPE, dtype="float64", chunks=(1024, 1024))
    zarr.create_array(store=str(root / "big.zarr"), shape=BIG_ZARR_SHAPE, chunks=BIG_ZARR_CHUNKS, dtype="float64",
                      fill_value=0.0)
    np.save(root / "values.npy", rng.standard_normal(100_000))
    frame = pd.DataFrame({"id": np.arange(ROWS)})
    for c in range(1, COLUMNS):
        frame[f"x{c}"] = rng.standard_normal(ROWS).round(6)
    frame.to_csv(root / "rows1m.csv", index=False)
    frame.to_parquet(root / "rows1m.parquet", index=False)


# -- client -------------------------------------------------------------------------------------

def server_params(root: Path) -> StdioServerParameters:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "SCIIO_WARM_UP")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    return StdioServerParameters(command=sys.executable, args=["-m", "server", "--root", str(root), *SERVER_ARGS],
                                 env=env)


def wire_bytes(model) -> int:
    """Bytes of a whole JSON-RPC response carrying ``model`` as its result (compact, aliases, no unset fields):
    for a tool result, the structured content and the text block together, as a client receives them."""
    envelope = b'{"jsonrpc":"2.0","id":1,"result":}'
    return len(envelope) + len(model.model_dump_json(by_alias=True, exclude_none=True).encode())


@asynccontextmanager
async def fresh(root: Path) -> AsyncIterator[ClientSession]:
    """A new server process, initialized and its tools listed (what every client does first)."""
    async with stdio_client(server_params(root), errlog=ERRLOG) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        build = getattr(session, "_output_schema_validator", None)
        for tool in listed.tools if build else ():
            if tool.output_schema:  # the client's one-time schema compile per session: not the server's time
                build(tool.name, tool.output_schema)
        yield session


async def timed(session: ClientSession, tool: str, args: dict) -> tuple[float, object]:
    started = time.perf_counter()
    result = await session.call_tool(tool, args)
    elapsed = time.perf_counter() - started
    if result.is_error:
        raise RuntimeError(f"{tool} {args}: {result.content[0].text}")
    return elapsed, result


async def first_and_second(root: Path, tool: str, args: dict, pause: float) -> tuple[float, float]:
    async with fresh(root) as session:
        if pause:
            await asyncio.sleep(pause)
        first, _ = await timed(session, tool, args)
        second, _ = await timed(session, tool, args)
    return first, second


# -- the run ------------------------------------------------------------------------------------

async def measure(root: Path, runs: int, pause: float) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    async with fresh(root) as session:
        tools = await session.list_tools()
        whole = wire_bytes(tools)
        core = sum(len(json.dumps({"name": t.name, "description": t.description, "inputSchema": t.input_schema},
                                  separators=(",", ":")).encode()) for t in tools.tools)
        rows.append(("tools/list, whole", f"{whole:,} B", f"{len(tools.tools)} tools; target <= 20,000"))
        rows.append(("tools/list, name + description + inputSchema", f"{core:,} B", "target <= 10,000"))
        for label, tool, args, note in [
            ("explore_h5, 51 datasets in 3 groups (depth 2)", "explore_h5", {"path": "nested.h5", "depth": 2},
             "target <= 10,000"),
            ("load_summary, CSV 10 columns x 1M rows", "load_summary", {"path": "rows1m.csv"}, "target <= 3,000"),
            ("read_slice, 1,000 float64 values", "read_slice", {"path": "values.npy", "selection": "0:1000"}, ""),
        ]:
            _, result = await timed(session, tool, args)
            text = len(result.content[0].text.encode()) if result.content else 0
            structured = len(json.dumps(result.structured_content, separators=(",", ":")).encode())
            rows.append((f"{label}: response", f"{wire_bytes(result):,} B",
                         f"structured {structured:,} B + text block {text:,} B; {note}".strip("; ")))

    def med(values: list[float]) -> str:
        return f"{statistics.median(values) * 1e3:,.1f} ms"

    timings = [
        ("HDF5 2 GiB summary, first call at once", "load_summary", {"path": "big.h5", "key": "data"}, 0.0,
         "target: first <= 2x second"),
        (f"HDF5 2 GiB summary, first call after {pause:g} s", "load_summary", {"path": "big.h5", "key": "data"}, pause,
         "target: first <= 2x second"),
        (f"Zarr 2 GB summary (15625x16000 f8, 1000^2 chunks), after {pause:g} s", "load_summary",
         {"path": "big.zarr"}, pause, "target <= 30 ms"),
        (f"CSV page offset {PAGE_OFFSET:,} limit 10, after {pause:g} s", "read_slice",
         {"path": "rows1m.csv", "offset": PAGE_OFFSET, "limit": 10}, pause, "target: second <= 100 ms"),
        (f"parquet page offset {PAGE_OFFSET:,} limit 10, after {pause:g} s", "read_slice",
         {"path": "rows1m.parquet", "offset": PAGE_OFFSET, "limit": 10}, pause, "target <= 50 ms"),
    ]
    for label, tool, args, wait, note in timings:
        firsts, seconds = [], []
        for _ in range(runs):
            first, second = await first_and_second(root, tool, args, wait)
            firsts.append(first)
            seconds.append(second)
        ratio = statistics.median(firsts) / statistics.median(seconds)
        rows.append((f"{label}: first / second", f"{med(firsts)} / {med(seconds)}",
                     f"first/second {ratio:.1f}x; {note}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="fresh servers per timing (median)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between tools/list and the first call")
    parser.add_argument("--server-arg", action="append", default=[], metavar="FLAG",
                        help="extra sciio-mcp flag, repeatable (e.g. --server-arg=--hdf5-workers=0)")
    args = parser.parse_args()
    global ERRLOG
    SERVER_ARGS[:] = args.server_arg
    tmp = Path(tempfile.mkdtemp(prefix="sciio-agent-bench-"))
    try:
        started = time.perf_counter()
        make_data(tmp)
        made = time.perf_counter() - started
        with open(os.devnull, "w") as ERRLOG:
            rows = asyncio.run(measure(tmp, args.runs, args.pause))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    print(f"sciio-mcp {' '.join(SERVER_ARGS)} through the official mcp client over stdio; medians of {args.runs} "
          f"fresh servers; data made in {made:.0f} s; python {sys.version.split()[0]}")
    print(f"{'measure':<{width}}  {'value':>{value_width}}  note")
    for label, value, note in rows:
        print(f"{label:<{width}}  {value:>{value_width}}  {note}")


if __name__ == "__main__":
    main()
