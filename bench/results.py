"""What asking the result store costs: ``ResultStore.exists`` on a 10,000-entry store for a 1 MB input.

exists (hit/miss)  key the 1 MB input + meta (sha256 scheme: canonical encoding, hashed once),
                   look the key up in the open store, and on a hit compare the stored input hashes
                   and meta with the caller's (HASH_COLLISION otherwise). Hashing included.
exists, cold       the same on a store object opened for the call (pin, open, scheme attributes)
hashing            the sha256 scheme's key of the 1 MB input against plain hashlib.sha256 of its
                   bytes; the corelay scheme (frexp + rounding + pickle + MetroHash128) beside them

Target: exists <= 5 ms (median, hit and miss). The store is built once in a temp folder with
one batch (one copy-on-write transaction); its build time is printed too.

    python bench/results.py [--entries 10000] [--mb 1] [--runs 50] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from io_core import Workspace
from io_core.stores.results import ResultStore
from io_core.stores.results_keys import CorelayScheme, Sha256Scheme

TARGET_MS = 5.0


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000, help="entries in the store [10000]")
    ap.add_argument("--mb", type=float, default=1.0, help="size of the input looked up, MB [1]")
    ap.add_argument("--runs", type=int, default=50, help="timed calls of each (median) [50]")
    ap.add_argument("--dir", default=None, help="folder for the store (default: a temp folder)")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    x = rng.standard_normal(int(args.mb * 2**20) // 8)
    meta = OrderedDict(name="Affinity", n_neighbors=10, sigma=1.5)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ws = Workspace([tmp], provenance=False)
        store = ResultStore("bench.results.h5", "cache", workspace=ws)
        start = time.perf_counter()
        with store.batch():
            for i in range(args.entries - 1):
                store.write(np.full(4, i, "f4"), np.array([i, i + 1]), {"name": "small", "i": i})
            store.write(np.ones(8), x, meta)  # the entry the 1 MB input hits
        build_s = time.perf_counter() - start
        size = (Path(tmp) / "bench.results.h5").stat().st_size
        miss = x.copy()
        miss[-1] += 1e-12  # one ulp-scale change: another key (no rounding)
        assert store.exists(x, meta) and not store.exists(miss, meta) and len(store) == args.entries

        hit_ms = median_ms(lambda: store.exists(x, meta), args.runs)
        miss_ms = median_ms(lambda: store.exists(miss, meta), args.runs)

        def cold() -> None:
            with ResultStore("bench.results.h5", "cache", workspace=ws) as fresh:
                fresh.exists(x, meta)

        cold_ms = median_ms(cold, max(5, args.runs // 5))
        key_ms = median_ms(lambda: Sha256Scheme().key(x, meta), args.runs)
        plain_ms = median_ms(lambda: hashlib.sha256(memoryview(x)).hexdigest(), args.runs)
        corelay_ms = median_ms(lambda: CorelayScheme().key(x, meta), max(5, args.runs // 5))
        store.close()

    mb = x.nbytes / 1e6
    rows = [
        ("store", f"{args.entries} entries, {size / 1e6:.1f} MB, built in one batch in {build_s:.1f} s"),
        ("exists, hit", f"{hit_ms:.2f} ms"),
        ("exists, miss", f"{miss_ms:.2f} ms"),
        ("exists, cold (open + exists)", f"{cold_ms:.2f} ms"),
        ("sha256 scheme key", f"{key_ms:.2f} ms  {mb / key_ms * 1e3:8.0f} MB/s"),
        ("plain hashlib.sha256", f"{plain_ms:.2f} ms  {mb / plain_ms * 1e3:8.0f} MB/s"),
        ("corelay scheme key", f"{corelay_ms:.2f} ms  {mb / corelay_ms * 1e3:8.0f} MB/s"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"ResultStore.exists, {mb:.2f} MB input (median of {args.runs})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    ok = max(hit_ms, miss_ms) <= TARGET_MS
    print(f"target: exists <= {TARGET_MS:g} ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
