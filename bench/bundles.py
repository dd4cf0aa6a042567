"""Result bundles (issue 14): a 10,000-result collection summarized and read lazily, vs scikit-neuromsi's read_ndc.

Writes (in a temporary folder, deleted afterwards unless ``--keep DIR``) a sweep of
``--results`` AlaisBurr2004-shaped results (modes auditory/visual/multi, 1 time, 400
positions, 1 coordinate; ``visual_position`` swept over 100 values, 100 repeats) as a
``.ndc`` through ``Workspace.save`` from a generator, with the default deflate level 9 and
NetCDF-4 members, in a child process that reports the write time and its peak RSS growth
(after a warm-up write, so imports and first-use allocations are not counted). Then each read
runs in fresh child processes (libraries imported and format plugins listed before the clock),
timing a first and a second call:

- summary: ``Workspace.summarize`` (32 KiB budget) of the whole collection
- one result: ``Workspace.load(key="ndr_<middle>")`` (numpy values + metadata) and
  ``read_slice(key=..., selection=":, 0, 0:50, 0")`` (what a server answers)
- scikit-neuromsi: ``skneuromsi.io.read_ndc`` of the same file (every result decompressed,
  rebuilt and re-compressed in memory before anything can be looked at), then that result's
  values; once, under ``--skn-timeout`` seconds (0 skips it)

Each row checks its answer (result count, the swept parameter's range, the values of the
result read against the generator's). Targets (issue 14): summary <= 100 ms, one result's
values <= 30 ms, write growth <= 128 MiB.

    python bench/bundles.py [--results 10000] [--repeat 3] [--skn-timeout 1800] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUDGET = 32 * 1024
POSITIONS = 400
MODES = ["auditory", "visual", "multi"]


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def result(i: int):
    """One AlaisBurr2004-shaped result, deterministic in ``i`` (so readers can check what they got)."""
    import numpy as np

    x = np.linspace(-20, 20, POSITIONS, endpoint=False)
    visual = -10.0 + (i % 100) * 0.2
    auditory = np.exp(-((x + 5) ** 2) / 18)
    seen = np.exp(-((x - visual) ** 2) / 18)
    multi = auditory * seen / (auditory * seen).max()
    values = np.stack([auditory, seen, multi])[:, None, :, None] * (1 + 1e-3 * (i // 100))
    return {"values": values, "modes": MODES, "mname": "AlaisBurr2004", "mtype": "MLE", "output_mode": "multi",
            "time_range": [1, 1], "position_range": [-20, 20], "position_res": 0.1,
            "run_parameters": {"auditory_position": -5, "visual_position": round(visual, 6), "auditory_sigma": 3.0,
                               "visual_sigma": 3.0, "noise": None},
            "extra": {"repeat": i // 100}}


# -- children ---------------------------------------------------------------------------------------

def _child_write(folder: str, n: int) -> None:
    from io_core import Workspace
    from io_core.stores.bundle_write import NDBundle

    ws = Workspace([folder], provenance=True)
    ws.save(NDBundle((result(i) for i in range(20)), name="warm-up"), "warmup.ndc", overwrite=True)
    base = _peak_kib()
    ticks = []
    t0 = time.perf_counter()
    saved = ws.save(NDBundle((result(i) for i in range(n)), name="AlaisBurr2004 sweep", size=n,
                             extra={"bench": "issue 14"}, progress=lambda done, total: ticks.append(done)),
                    "sweep.ndc", overwrite=True)
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "grown_mib": (_peak_kib() - base) / 1024, "size": saved.size_bytes,
                      "recorded": saved.recorded, "progress_calls": len(ticks)}))


def _child_read(task: str, folder: str, n: int) -> None:
    import h5netcdf  # noqa: F401 - imported before the clock, like any long-running server
    import h5py  # noqa: F401
    import numpy as np
    import scipy.io  # noqa: F401

    from io_core import Workspace
    from io_core.formats import bundles  # noqa: F401
    from io_core.registry import REGISTRY

    REGISTRY.specs  # noqa: B018 - entry-point plugins are read once per process (~10 ms), like an import
    path = str(Path(folder) / "sweep.ndc")
    ws = Workspace([folder], provenance=False)
    middle = n // 2
    expected = result(middle)["values"]

    def run() -> dict:
        if task == "ours-summary":
            a = ws.summarize("sweep.ndc", max_bytes=BUDGET).summary.attrs
            return {"n": a["n_results"], "varying": a["run_parameters"]["varying"]["visual_position"]}
        if task == "ours-load":
            r = ws.load("sweep.ndc", key=f"ndr_{middle}")
            return {"equal": bool(np.array_equal(r.array, expected)), "mname": r.metadata["mname"]}
        if task == "ours-slice":
            part = ws.read_slice("sweep.ndc", key=f"ndr_{middle}", selection=":, 0, 0:50, 0", max_bytes=BUDGET).slice
            return {"equal": bool(np.allclose(np.array(part.values), expected[:, 0, 0:50, 0]))}
        raise SystemExit(f"unknown task {task}")

    if task == "skn-read_ndc":
        import skneuromsi as skn

        t0, c0 = time.perf_counter(), time.process_time()
        base = _peak_kib()
        coll = skn.io.read_ndc(path, tqdm_cls=None)
        first = time.perf_counter() - t0
        values = coll[middle].to_xarray().values
        total = time.perf_counter() - t0
        print(json.dumps({"times": [first, total], "cpu": [time.process_time() - c0] * 2,
                          "result": {"n": len(coll), "equal": bool(np.array_equal(values, expected))},
                          "grown_mib": (_peak_kib() - base) / 1024}))
        return
    base = _peak_kib()
    times, cpu, results = [], [], []
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        results.append(run())
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"times": times, "cpu": cpu, "result": results[0], "grown_mib": (_peak_kib() - base) / 1024}))


# -- parent -----------------------------------------------------------------------------------------

def _run(args: list[str], timeout: float) -> dict | None:
    try:
        proc = subprocess.run([sys.executable, __file__, *args], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if proc.returncode != 0:
        raise SystemExit(f"{args[1]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _measure(task: str, folder: Path, n: int, repeat: int, timeout: float) -> dict | None:
    runs = [r for r in (_run(["--child", task, str(folder), str(n)], timeout) for _ in range(repeat)) if r]
    if not runs:
        return None
    return {"first": statistics.median(r["times"][0] for r in runs),
            "second": statistics.median(r["times"][1] for r in runs),
            "grown": max(r["grown_mib"] for r in runs), "result": runs[0]["result"]}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skn-timeout", type=float, default=1800, help="seconds for read_ndc (0: skip it)")
    parser.add_argument("--keep", type=Path, help="folder to write the bundle in (kept, and reused if present)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-bundles-"))
    folder.mkdir(parents=True, exist_ok=True)
    n = args.results
    try:
        lines = [("task", "who", "1st ms", "2nd ms", "RSS+ MiB", "checked")]
        if not (folder / "sweep.ndc").exists():
            print(f"writing {n:,} results to {folder} ...", file=sys.stderr)
            w = _run(["--child-write", "write", str(folder), str(n)], 24 * 3600)
            note = (f"{w['size'] / 1e6:.0f} MB, {w['progress_calls']:,} progress calls, "
                    f"ledger {'yes' if w['recorded'] else 'no'}")
            lines.append((f"write {n:,} results", "io_core", f"{w['seconds'] * 1000:,.0f}", "", f"{w['grown_mib']:.0f}",
                          note))
        size = (folder / "sweep.ndc").stat().st_size
        print(f"sweep.ndc: {n:,} results (3 x 1 x {POSITIONS} x 1 float64 each), {size / 1e6:.0f} MB, "
              f"{2 * n + 1:,} zip members; medians of {args.repeat} fresh processes\n")
        for label, task, repeat, timeout in (
            ("summary", "ours-summary", args.repeat, 600),
            (f"one result (ndr_{n // 2})", "ours-load", args.repeat, 600),
            ("", "ours-slice", args.repeat, 600),
            ("", "skn-read_ndc", 1 if args.skn_timeout else 0, args.skn_timeout),
        ):
            m = _measure(task, folder, n, repeat, timeout) if repeat else None
            who = {"ours-summary": "io_core summarize", "ours-load": "io_core load(key)",
                   "ours-slice": "io_core read_slice(key)", "skn-read_ndc": "skneuromsi read_ndc + [i]"}[task]
            if m is None:
                lines.append((label, who, "skipped" if not repeat else f"> {timeout:,.0f} s", "", "", ""))
                continue
            r = m["result"]
            if task == "skn-read_ndc":
                lines.append((label, who, _ms(m["first"]), _ms(m["second"]), f"{m['grown']:.0f}",
                              f"read_ndc alone {_ms(m['first'])} ms; n={r['n']:,}; values equal: {r['equal']}"))
                continue
            checked = (f"n={r['n']:,}; visual_position {r['varying']['min']}..{r['varying']['max']}" if "n" in r
                       else f"values equal: {r['equal']}")
            lines.append((label, who, _ms(m["first"]), _ms(m["second"]), f"{m['grown']:.0f}", checked))
        widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
        for k, row in enumerate(lines):
            print("  ".join(cell.ljust(w) if i in (0, 1, 5) else cell.rjust(w)
                            for i, (cell, w) in enumerate(zip(row, widths, strict=True))))
            if k == 0:
                print("  ".join("-" * w for w in widths))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child_read(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-write":
        _child_write(sys.argv[3], int(sys.argv[4]))
    else:
        main()
