"""Large tables (issue 11, points 1-2): spread summaries and pages sized before reading, vs plain pandas.

Creates (in a temporary folder, deleted afterwards unless ``--keep DIR``) a 1M-row CSV with
10 columns, the first 0..999,999 and nine full-precision floats (~184 MB, like the issue's
``rows1m.csv``), and its parquet twin (one row group, pyarrow's default). Each measurement
runs in a fresh child process (libraries imported before the clock starts) that times a
first and a second call and reports its peak RSS growth. One table, medians of ``--repeat``:

- summary: ``Workspace.summarize`` (head + spread sample) vs pandas reading the whole file
  (exact) and pandas reading the first 1,000 rows (what a head summary sees); the error
  columns give |max - 999,999| and |rows - 1,000,000| in percent
- page at 500,000 (10 rows): ``read_slice`` vs ``pd.read_csv(skiprows=..., nrows=10)`` and
  ``pd.read_parquet(...).iloc``
- limit=1,000,000: ``read_slice`` with the default 32 KiB budget vs pandas reading 1M rows

Targets (issue 11): summary <= 100 ms with max and row count within 1 %; a CSV page at
500,000 <= 100 ms on the second call, a parquet one <= 50 ms; limit=1,000,000 answers
within 2 s growing the process by <= 256 MiB.

    python bench/tables.py [--rows 1000000] [--repeat 3] [--keep DIR]
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
MIB = 1024 * 1024
OFFSET = 500_000
BUDGET = 32 * 1024


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# -- child: one task, a first and a second call ----------------------------------------------------

def _child(task: str, folder: str, rows: int) -> None:
    import pandas as pd
    import pyarrow.parquet as pq  # noqa: F401 - imported before the clock, like io_core's formats

    from io_core import Workspace
    from io_core.formats import tables  # noqa: F401

    ws = Workspace([folder], provenance=False)
    csv, parquet = str(Path(folder) / "rows.csv"), str(Path(folder) / "rows.parquet")
    offset = min(OFFSET, rows // 2)

    def run() -> dict:
        if task == "ours-summary":
            s = ws.summarize("rows.csv", max_bytes=BUDGET).summary
            return {"max": s.columns[0].stats.max, "rows": s.n_rows}
        if task == "pandas-summary":
            df = pd.read_csv(csv)
            return {"max": float(df["id"].max()), "rows": len(df)}
        if task == "pandas-head":
            df = pd.read_csv(csv, nrows=1000)
            return {"max": float(df["id"].max()), "rows": None}
        if task == "ours-csv-page":
            return {"first": ws.read_slice("rows.csv", offset=offset, limit=10, max_bytes=BUDGET).slice.rows[0]["id"]}
        if task == "pandas-csv-page":
            return {"first": int(pd.read_csv(csv, skiprows=range(1, offset + 1), nrows=10)["id"].iloc[0])}
        if task == "ours-parquet-page":
            return {"first": ws.read_slice("rows.parquet", offset=offset, limit=10, max_bytes=BUDGET).slice.rows[0]["id"]}
        if task == "pandas-parquet-page":
            return {"first": int(pd.read_parquet(parquet).iloc[offset : offset + 10]["id"].iloc[0])}
        if task == "ours-limit":
            part = ws.read_slice("rows.csv", limit=1_000_000, max_bytes=BUDGET).slice
            return {"rows_returned": len(part.rows), "next_offset": part.next_offset}
        if task == "pandas-limit":
            return {"rows_returned": len(pd.read_csv(csv, nrows=1_000_000))}
        raise SystemExit(f"unknown task {task}")

    base = _peak_kib()
    times, cpu, results = [], [], []
    for _ in range(2):
        t0, c0 = time.perf_counter(), time.process_time()
        results.append(run())
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    print(json.dumps({"times": times, "cpu": cpu, "result": results[0], "grown_mib": (_peak_kib() - base) / 1024}))


# -- parent -------------------------------------------------------------------------------------------

def _make(folder: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(rows), **{f"c{i}": rng.normal(size=rows) for i in range(1, 10)}})
    df.to_csv(folder / "rows.csv", index=False)
    df.to_parquet(folder / "rows.parquet")


def _measure(task: str, folder: Path, rows: int, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        proc = subprocess.run([sys.executable, __file__, "--child", task, str(folder), str(rows)], cwd=REPO,
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise SystemExit(f"{task} failed:\n{proc.stderr[-3000:]}")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        "first": statistics.median(r["times"][0] for r in runs),
        "second": statistics.median(r["times"][1] for r in runs),
        "cpu_second": statistics.median(r["cpu"][1] for r in runs),
        "grown": max(r["grown_mib"] for r in runs),
        "result": runs[0]["result"],
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="folder to create the files in (kept, and reused if present)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-tables-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if not (folder / "rows.csv").exists() or not (folder / "rows.parquet").exists():
            print(f"writing {args.rows:,} rows to {folder} ...", file=sys.stderr)
            _make(folder, args.rows)
        size = (folder / "rows.csv").stat().st_size
        print(f"rows.csv: {args.rows:,} rows x 10 columns, {size / 1e6:.0f} MB; rows.parquet: "
              f"{(folder / 'rows.parquet').stat().st_size / 1e6:.0f} MB; medians of {args.repeat} fresh processes\n")
        top = args.rows - 1
        lines = [("task", "who", "1st ms", "2nd ms", "2nd cpu ms", "RSS+ MiB", "result")]
        for label, ours, theirs in (
            ("summary", "ours-summary", ("pandas-summary", "pandas-head")),
            (f"CSV page @{min(OFFSET, args.rows // 2):,}", "ours-csv-page", ("pandas-csv-page",)),
            (f"parquet page @{min(OFFSET, args.rows // 2):,}", "ours-parquet-page", ("pandas-parquet-page",)),
            ("limit=1,000,000", "ours-limit", ("pandas-limit",)),
        ):
            for task in (ours, *theirs):
                m = _measure(task, folder, args.rows, args.repeat)
                r = m["result"]
                if "max" in r:
                    err = f"max err {abs(r['max'] - top) / top:.2%}"
                    err += f", rows err {abs(r['rows'] - args.rows) / args.rows:.2%}" if r["rows"] is not None else \
                        ", rows: not known"
                elif "rows_returned" in r:
                    err = f"{r['rows_returned']:,} rows" + (f", next_offset {r['next_offset']}" if "next_offset" in r else "")
                else:
                    err = f"first id {r['first']:,}"
                who = "io_core" if task.startswith("ours") else task.removeprefix("pandas-").replace("-", " ")
                who = who if who == "io_core" else f"pandas ({who})"
                lines.append((label, who, _ms(m["first"]), _ms(m["second"]), _ms(m["cpu_second"]),
                              f"{m['grown']:.0f}", err))
                label = ""
        widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
        for n, row in enumerate(lines):
            print("  ".join(cell.ljust(w) if i in (0, 1, 6) else cell.rjust(w) for i, (cell, w) in
                            enumerate(zip(row, widths, strict=True))))
            if n == 0:
                print("  ".join("-" * w for w in widths))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
