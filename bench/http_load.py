"""HTTP load on loopback against a real ``sciio-mcp --http`` subprocess.

1. **Load**: N clients (each its own token, so its own rate-limit bucket; the limit is off
   here) × M calls of mixed tools — list_formats, load_summary on a small CSV, find_files —
   reporting throughput, p50/p99 per tool and errors.
2. **Quick call under a slow one**: the p50/p99 of quick calls (list_roots, load_summary on a
   small file) alone, then while another client runs a ~10 s slow call. The slow call is
   ``load_summary(exact_stats=True)`` on a large float32 ``.npy`` (exact stats streamed over
   every value, sized by a calibration run) when the tool has ``exact_stats``; otherwise a
   gzipped CSV that load_summary parses whole (``--slow csv`` forces that).
3. ``--soak SECONDS`` (not for CI): the load clients loop for that long while the server's
   RSS is sampled from /proc; reports RSS after warm-up, at the end, and the growth.

    python bench/http_load.py [--clients 16] [--calls 100] [--slow-seconds 10] [--soak 300]

Clients and server share this machine's CPUs, so absolute figures include the clients' cost.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from fastmcp import Client

LOAD_CALLS = [
    ("list_formats", {}),
    ("load_summary", {"path": "small.csv"}),
    ("find_files", {"pattern": "**/*.csv"}),
]
QUICK_CALLS = [("list_roots", {}), ("load_summary", {"path": "small.npy"})]
MAX_SLOW_BYTES = 6 * 2**30  # the slow .npy never takes more disk than this (or 30% of what is free)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))] * 1000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("sciio-mcp")
    return [str(script)] if script.exists() else [shutil.which("sciio-mcp") or "sciio-mcp"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# -- data ---------------------------------------------------------------------------------------

def make_data(root: Path) -> None:
    (root / "runs" / "a").mkdir(parents=True)
    (root / "small.csv").write_text("t,x,y\n" + "".join(f"{i},{i * 0.5},{i % 7}\n" for i in range(200)))
    np.save(root / "small.npy", np.arange(1000, dtype=np.float64).reshape(10, 100))
    for i in range(30):
        (root / "runs" / "a" / f"run{i}.csv").write_text("v\n1\n")


def write_npy(path: Path, nbytes: int) -> None:
    rows = max(1, nbytes // (4 * 1024 * 1024))
    arr = np.lib.format.open_memmap(path, mode="w+", dtype="float32", shape=(rows, 1024 * 1024))
    block = np.random.default_rng(0).random(1024 * 1024, dtype=np.float32)
    for i in range(rows):
        arr[i] = block + i
    arr.flush()
    del arr


def write_csv_gz(path: Path, blocks: int) -> None:
    text = io.StringIO()
    np.savetxt(text, np.random.default_rng(0).random((100_000, 4)), delimiter=",", fmt="%.6f")
    member = gzip.compress(text.getvalue().encode(), compresslevel=1)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(b"a,b,c,d\n"))
        fh.writelines(member for _ in range(blocks))


def calibrate_slow_file(root: Path, kind: str, seconds: float) -> tuple[str, dict, str]:
    """Write a file whose slow call takes about ``seconds`` here (timed in-process on a sample)."""
    import io_core

    ws = io_core.Workspace([root])
    exact = kind == "npy"
    if kind == "npy":
        sample = 512 * 1024 * 1024
        write_npy(root / "calib.npy", sample)
        ws.summarize("calib.npy", None, max_bytes=32768, exact_stats=True)  # warm: page cache, imports
        started = time.perf_counter()
        ws.summarize("calib.npy", None, max_bytes=32768, exact_stats=True)
        per_byte = (time.perf_counter() - started) / sample
        (root / "calib.npy").unlink()
        nbytes = int(min(seconds / per_byte, shutil.disk_usage(root).free * 0.3, MAX_SLOW_BYTES))
        write_npy(root / "slow.npy", nbytes)
        return "slow.npy", {"exact_stats": True}, f"load_summary(exact_stats=True) on a {nbytes / 2**30:.1f} GiB float32 .npy"
    write_csv_gz(root / "calib.csv.gz", 10)
    started = time.perf_counter()
    try:
        ws.summarize("calib.csv.gz", None, max_bytes=32768, **({"exact_stats": True} if exact else {}))
    except TypeError:
        ws.summarize("calib.csv.gz", None, max_bytes=32768)
    per_block = (time.perf_counter() - started) / 10
    blocks = max(1, round(seconds / per_block))
    write_csv_gz(root / "slow.csv.gz", blocks)
    size = (root / "slow.csv.gz").stat().st_size
    return "slow.csv.gz", {}, f"load_summary on a {size / 2**20:.0f} MiB gzipped CSV ({blocks * 100_000:,} rows)"


# -- phases ---------------------------------------------------------------------------------------

async def client_loop(url: str, token: str, calls: int | None, until: float | None, out: dict) -> None:
    async with Client(url, auth=token) as c:
        i = 0
        while (calls is not None and i < calls) or (until is not None and time.monotonic() < until):
            name, args = LOAD_CALLS[i % len(LOAD_CALLS)]
            started = time.perf_counter()
            try:
                res = await c.call_tool(name, args, raise_on_error=False)
                ok = not res.is_error
            except Exception:  # noqa: BLE001 - a transport failure is an error to count
                ok = False
            out.setdefault(name, []).append(time.perf_counter() - started)
            if not ok:
                out["errors"] = out.get("errors", 0) + 1
            i += 1


async def load_phase(url: str, tokens: list[str], calls: int | None, until: float | None = None) -> tuple[dict, float]:
    results: list[dict] = [{} for _ in tokens]
    started = time.perf_counter()
    await asyncio.gather(*(client_loop(url, t, calls, until, r) for t, r in zip(tokens, results)))
    elapsed = time.perf_counter() - started
    merged: dict = {"errors": 0}
    for r in results:
        merged["errors"] += r.pop("errors", 0)
        for name, values in r.items():
            merged.setdefault(name, []).extend(values)
    return merged, elapsed


async def quick_phase(url: str, quick_token: str, slow_token: str, slow_path: str, slow_extra: dict, samples: int):
    alone: dict[str, list[float]] = {n: [] for n, _ in QUICK_CALLS}
    busy: dict[str, list[float]] = {n: [] for n, _ in QUICK_CALLS}
    async with Client(url, auth=quick_token) as quick, Client(url, auth=slow_token) as slow_client:
        for name, args in QUICK_CALLS * 5:  # warm up
            await quick.call_tool(name, args)
        for i in range(samples):
            name, args = QUICK_CALLS[i % len(QUICK_CALLS)]
            started = time.perf_counter()
            await quick.call_tool(name, args)
            alone[name].append(time.perf_counter() - started)
        slow_started = time.perf_counter()
        slow = asyncio.create_task(slow_client.call_tool("load_summary", {"path": slow_path, **slow_extra}))
        await asyncio.sleep(0.2)
        i = 0
        while not slow.done():
            name, args = QUICK_CALLS[i % len(QUICK_CALLS)]
            started = time.perf_counter()
            await quick.call_tool(name, args)
            if not slow.done():
                busy[name].append(time.perf_counter() - started)
            i += 1
        result = await slow
        slow_seconds = time.perf_counter() - slow_started
    return alone, busy, slow_seconds, result.is_error


# -- main ---------------------------------------------------------------------------------------------

def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
    for row in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))


async def run(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="sciio-http-load-"))
    root = workdir / "data"
    root.mkdir()
    proc = None
    try:
        make_data(root)
        tokens = [f"bench-client-{i:03d}-{os.urandom(8).hex()}" for i in range(args.clients + 2)]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")}
        env["SCIIO_TOKENS"] = "\n".join(f"{t} c{i}" for i, t in enumerate(tokens))
        port = free_port()
        url = f"http://127.0.0.1:{port}/mcp"
        log = open(workdir / "server.log", "wb")
        proc = subprocess.Popen([*server_command(), "--http", "--port", str(port), "--root", str(root), "--rate-limit", "0",
                                 "--call-timeout", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log, env=env)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"server exited: {(workdir / 'server.log').read_text()[-2000:]}") from None
                time.sleep(0.1)
        load_tokens, quick_token, slow_token = tokens[: args.clients], tokens[-2], tokens[-1]

        async with Client(url, auth=quick_token) as c:
            tools = {t.name: t for t in await c.list_tools()}
        has_exact = "exact_stats" in tools["load_summary"].input_schema.get("properties", {})
        kind = args.slow or ("npy" if has_exact else "csv")
        print(f"sciio-mcp over HTTP on loopback; python {sys.version.split()[0]}, {os.cpu_count()} CPUs shared by server and clients")

        # 1. load
        await load_phase(url, load_tokens[:2], 5)  # warm up
        server_cpu, client_cpu = cpu_seconds(proc.pid), time.process_time()
        results, elapsed = await load_phase(url, load_tokens, args.calls)
        server_cpu, client_cpu = cpu_seconds(proc.pid) - server_cpu, time.process_time() - client_cpu
        total = sum(len(v) for k, v in results.items() if k != "errors")
        rows = [[name, len(results[name]), f"{pct(results[name], 50):.1f}", f"{pct(results[name], 99):.1f}"]
                for name, _ in LOAD_CALLS]
        everything = [x for k, v in results.items() if k != "errors" for x in v]
        rows.append(["all", total, f"{pct(everything, 50):.1f}", f"{pct(everything, 99):.1f}"])
        print_table(f"1. load: {args.clients} clients x {args.calls} calls, {elapsed:.1f} s, "
                    f"{total / elapsed:.0f} calls/s, errors {results['errors']}",
                    ["tool", "calls", "p50 ms", "p99 ms"], rows)
        print(f"CPU per call: server {server_cpu / total * 1000:.1f} ms, clients (this process) "
              f"{client_cpu / total * 1000:.1f} ms")

        # 2. quick call alone vs under a slow call
        slow_path, slow_extra, slow_what = calibrate_slow_file(root, kind, args.slow_seconds)
        alone, busy, slow_seconds, slow_error = await quick_phase(url, quick_token, slow_token, slow_path, slow_extra,
                                                                  args.quick_samples)
        rows = []
        for name, _ in QUICK_CALLS:
            a50, a99, b50, b99 = pct(alone[name], 50), pct(alone[name], 99), pct(busy[name], 50), pct(busy[name], 99)
            rows.append([name, len(alone[name]), f"{a50:.1f}", f"{a99:.1f}", len(busy[name]), f"{b50:.1f}", f"{b99:.1f}",
                         f"{b50 / a50:.2f}", f"{b99 / a99:.2f}"])
        print_table(f"2. quick calls alone vs during the slow call: {slow_what}; it took {slow_seconds:.1f} s"
                    f"{' (ERROR)' if slow_error else ''}",
                    ["quick call", "n alone", "p50 ms", "p99 ms", "n busy", "p50 ms", "p99 ms", "x p50", "x p99"], rows)
        worst = max(pct(busy[n], 99) / pct(alone[n], 99) for n, _ in QUICK_CALLS)
        print(f"worst p99 ratio busy/alone: {worst:.2f} (target within 5x: {'OK' if worst <= 5 else 'MISSED'})")
        (root / slow_path).unlink()

        # 3. soak
        if args.soak:
            warmup = min(30.0, args.soak / 10)
            samples: list[tuple[float, int]] = []
            until = time.monotonic() + args.soak
            soak = asyncio.create_task(load_phase(url, load_tokens, None, until))
            started = time.monotonic()
            while not soak.done():
                samples.append((time.monotonic() - started, rss_bytes(proc.pid)))
                await asyncio.sleep(2)
            soak_results, soak_elapsed = await soak
            base = next(r for t, r in samples if t >= warmup)
            end, peak = samples[-1][1], max(r for _, r in samples)
            calls = sum(len(v) for k, v in soak_results.items() if k != "errors")
            print_table(f"3. soak: {args.soak:.0f} s, {args.clients} clients, {calls} calls ({calls / soak_elapsed:.0f}/s), "
                        f"errors {soak_results['errors']}",
                        ["server RSS", "MiB"],
                        [["at start", f"{samples[0][1] / 2**20:.1f}"], [f"after {warmup:.0f} s warm-up", f"{base / 2**20:.1f}"],
                         ["peak", f"{peak / 2**20:.1f}"], ["at end", f"{end / 2**20:.1f}"]])
            growth = (end - base) / base * 100
            print(f"RSS growth after warm-up: {growth:+.1f}% (target < 10%: {'OK' if growth < 10 else 'MISSED'})")
        lines = (workdir / "server.log").read_text().splitlines()
        bad = [x for x in lines if not x.startswith("{")]
        print(f"\nserver log: {len(lines)} lines, all JSON: {not bad}")
        return 0 if results["errors"] == 0 else 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--calls", type=int, default=100, help="calls per client in the load phase")
    parser.add_argument("--slow-seconds", type=float, default=10.0, help="target duration of the slow call")
    parser.add_argument("--slow", choices=["npy", "csv"], default=None, help="slow call kind [default: npy if exact_stats]")
    parser.add_argument("--quick-samples", type=int, default=200, help="quick calls measured alone")
    parser.add_argument("--soak", type=float, default=0, metavar="SECONDS", help="also run a soak this long (not in CI)")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (data and server log)")
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
