"""load_summary vs a full load with the plain library, on 2 GiB arrays and 1M-row tables.

Creates (in a temporary folder next to the repo, deleted afterwards): a 2 GiB HDF5
dataset, a 2 GiB .npy, a 2 GiB Zarr v3 array, and a 1M-row CSV and parquet. Each
measurement runs in a fresh child process, which reports its wall time and its peak
RSS growth over the baseline after imports. Printed side by side, medians of
``--repeat`` runs:

- summary: io_core ``Workspace.summarize`` (header, bounded preview, sampled stats)
- full load: ``np.load`` / ``ds[()]`` / ``zarr[...]`` / ``pd.read_csv`` / ``pd.read_parquet``
- exact: ``summarize(exact_stats=True)``: every value streamed in constant memory

Targets (issue 3): on 2 GiB files the summary is >= 100x faster than the full load with
peak RSS growth < 64 MiB; exact stats run at >= 50% of the full-load throughput with
RSS growth < 256 MiB.

    python bench/summary.py [--gib 2] [--rows 1000000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
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


# -- child: one measurement -------------------------------------------------------------------

def _child(mode: str, kind: str, path: str, key: str | None) -> None:
    import h5py
    import numpy as np
    import pandas as pd
    import zarr

    from io_core import Workspace

    ws = Workspace([str(Path(path).parent)], provenance=False)
    choice = ws._choose(Path(path), None, "summarize")
    ws.registry.handler(choice.spec)  # the format module is imported up front, like the plain libraries
    import io_core.stats  # noqa: F401
    base = _peak_rss_kib()
    start = time.perf_counter()
    if mode == "summary":
        ws.summarize(path, key=key, max_bytes=32768)
    elif mode == "exact":
        ws.summarize(path, key=key, exact_stats=True, max_bytes=32768)
    else:  # the plain library reading everything
        if kind == "npy":
            value = np.load(path)
        elif kind == "h5":
            with h5py.File(path, "r") as f:
                value = f[key][()]
        elif kind == "zarr":
            value = zarr.open_array(path, mode="r")[...]
        elif kind == "csv":
            value = pd.read_csv(path)
        else:
            value = pd.read_parquet(path)
        del value
    wall = time.perf_counter() - start
    peak = _peak_rss_kib()
    print(json.dumps({"wall": wall, "rss_growth_mib": (peak - base) / 1024}))


def _peak_rss_kib() -> int:
    """VmHWM: this process's peak RSS (unlike ru_maxrss it does not carry the parent's over exec)."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(mode: str, kind: str, path: Path, key: str | None, repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        cmd = [sys.executable, __file__, "--child", mode, kind, str(path), key or ""]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO, env=_env())
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


# -- data ---------------------------------------------------------------------------------------

def make_files(folder: Path, gib: float, rows: int) -> dict[str, tuple[Path, str | None, int]]:
    import h5py
    import numpy as np
    import pandas as pd
    import zarr

    n_cols = 8192
    n_rows = int(gib * 1024**3 // (n_cols * 8))
    block = 256
    rng = np.random.default_rng(0)
    nbytes = n_rows * n_cols * 8

    def blocks():
        for start in range(0, n_rows, block):
            stop = min(start + block, n_rows)
            yield start, stop, rng.normal(100.0, 15.0, size=(stop - start, n_cols))

    files: dict[str, tuple[Path, str | None, int]] = {}
    npy = folder / "big.npy"
    mm = np.lib.format.open_memmap(npy, mode="w+", dtype="f8", shape=(n_rows, n_cols))
    for start, stop, data in blocks():
        mm[start:stop] = data
    mm.flush()
    del mm
    files["npy"] = (npy, None, nbytes)

    h5 = folder / "big.h5"
    src = np.load(npy, mmap_mode="r")
    with h5py.File(h5, "w") as f:
        ds = f.create_dataset("data", shape=(n_rows, n_cols), dtype="f8", chunks=(64, n_cols))
        for start in range(0, n_rows, block):
            ds[start : start + block] = src[start : start + block]
    files["h5"] = (h5, "/data", nbytes)

    zpath = folder / "big.zarr"
    z = zarr.create_array(store=str(zpath), shape=(n_rows, n_cols), chunks=(128, 1024), dtype="f8")
    for start in range(0, n_rows, block):
        z[start : start + block] = src[start : start + block]
    files["zarr"] = (zpath, None, nbytes)
    del src

    frame = pd.DataFrame({
        "id": np.arange(rows),
        "x": rng.normal(size=rows),
        "y": rng.uniform(size=rows),
        "k": rng.integers(0, 100, size=rows),
        "label": np.array(["alpha", "beta", "gamma", "delta"])[rng.integers(0, 4, size=rows)],
    })
    frame.to_csv(folder / "table.csv", index=False)
    frame.to_parquet(folder / "table.parquet")
    files["csv"] = (folder / "table.csv", None, (folder / "table.csv").stat().st_size)
    files["parquet"] = (folder / "table.parquet", None, int(frame.memory_usage(deep=True).sum()))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse/keep the data in this folder")
    args = parser.parse_args()

    folder = args.keep or Path(tempfile.mkdtemp(prefix="sciio-bench-", dir=REPO.parent))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        files = make_files(folder, args.gib, args.rows)
        print(f"data created in {time.perf_counter() - t0:.1f} s under {folder}", file=sys.stderr)
        header = (f"{'file':<9} {'size':>9} | {'summary s':>9} {'RSS+ MiB':>8} | {'full load s':>11} {'RSS+ MiB':>8}"
                  f" | {'speed-up':>8} | {'exact s':>8} {'RSS+ MiB':>8} {'exact/full thr.':>15}")
        rows = []
        for kind, (path, key, nbytes) in files.items():
            summ = measure("summary", kind, path, key, args.repeat)
            full = measure("full", kind, path, key, args.repeat)
            exact = measure("exact", kind, path, key, args.repeat)
            rows.append((kind, nbytes, summ, full, exact))
        print(f"median of {args.repeat} runs each, fresh process per run; RSS+ = peak RSS growth over the "
              f"baseline after imports; python {sys.version.split()[0]}")
        print(header)
        print("-" * len(header))
        verdicts = []
        for kind, nbytes, summ, full, exact in rows:
            speedup = full["wall"] / max(summ["wall"], 1e-9)
            thr_ratio = full["wall"] / max(exact["wall"], 1e-9)  # same bytes: throughput ratio
            print(f"{kind:<9} {nbytes / MIB:>7.0f}Mi | {summ['wall']:>9.3f} {summ['rss_growth_mib']:>8.1f} | "
                  f"{full['wall']:>11.3f} {full['rss_growth_mib']:>8.1f} | {speedup:>7.0f}x | "
                  f"{exact['wall']:>8.3f} {exact['rss_growth_mib']:>8.1f} {thr_ratio:>14.0%}")
            if kind in ("npy", "h5", "zarr"):
                verdicts.append((kind, speedup >= 100, summ["rss_growth_mib"] < 64,
                                 thr_ratio >= 0.5, exact["rss_growth_mib"] < 256))
        print()
        for kind, fast, small, thr, lean in verdicts:
            print(f"{kind:<5} summary >=100x: {'OK' if fast else 'MISSED'}; summary RSS+ <64 MiB: "
                  f"{'OK' if small else 'MISSED'}; exact >=50% throughput: {'OK' if thr else 'MISSED'}; "
                  f"exact RSS+ <256 MiB: {'OK' if lean else 'MISSED'}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] or None)
    else:
        main()
