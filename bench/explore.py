"""explore_h5 / explore_zarr: the first page of a 10,000-child group, next to listing it with the library alone.

Creates (in a temporary folder next to the repo, deleted afterwards) HDF5 files with one
group of ``--children`` datasets in three layouts: the default old-style group (symbol
table, name-ordered B-tree), a new-style dense group (libver='latest'), and a group that
tracks creation order; plus a Zarr v3 store with as many arrays in one group. For each,
the median of ``--repeat`` runs (after one warm-up) of:

- ``explore_h5`` / ``explore_zarr``: first page (limit 100) through ``Workspace`` with the
  32 KiB response budget, opening and closing the file each call, as the server does;
- the same at the last page (offset = children - 100);
- the library alone listing every name: ``list(group.keys())`` on an open file (h5py), or
  on an opened group (zarr), and the same including opening the file.

Target (issue 4): the first page of a 10,000-child group in 50 ms or less.

    python bench/explore.py [--children 10000] [--repeat 15] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
TARGET_MS = 50.0


def make_h5(path: Path, n: int, layout: str) -> None:
    import h5py

    libver = "latest" if layout == "dense" else None
    with h5py.File(path, "w", libver=libver) as f:
        group = f.create_group("wide", track_order=layout == "creation-order")
        space = h5py.h5s.create_simple((16,))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((16,))
        dcpl.set_deflate(4)
        for i in range(n):
            h5py.h5d.create(group.id, b"d%06d" % i, h5py.h5t.NATIVE_FLOAT, space, dcpl=dcpl)


def make_zarr(path: Path, n: int) -> None:
    import zarr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group = zarr.open_group(path, mode="w", zarr_format=3).create_group("wide")
        group.create_array("d000000", shape=(16,), chunks=(16,), dtype="f4")
    meta = (path / "wide" / "d000000" / "zarr.json").read_bytes()
    for i in range(1, n):  # the same array metadata in every folder: what zarr would write, much faster
        folder = path / "wide" / f"d{i:06d}"
        folder.mkdir()
        (folder / "zarr.json").write_bytes(meta)


def median_ms(func, repeat: int) -> float:
    func()  # warm-up: imports, page cache
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="reuse/keep the data in this folder")
    args = parser.parse_args()

    import h5py
    import zarr

    from io_core import Workspace

    n = args.children
    folder = args.keep or Path(tempfile.mkdtemp(prefix="sciio-bench-explore-", dir=REPO.parent))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        layouts = ("old-style", "dense", "creation-order")
        for layout in layouts:
            if not (folder / f"{layout}.h5").exists():
                make_h5(folder / f"{layout}.h5", n, layout)
        if not (folder / "wide.zarr").exists():
            make_zarr(folder / "wide.zarr", n)
        print(f"data created in {time.perf_counter() - t0:.1f} s under {folder}", file=sys.stderr)

        ws = Workspace([folder], provenance=False)
        rows = []
        for layout in layouts:
            name = f"{layout}.h5"
            first = median_ms(lambda name=name: ws.explore_h5(name, "/wide", max_bytes=32768), args.repeat)
            last = median_ms(lambda name=name: ws.explore_h5(name, "/wide", offset=n - 100, max_bytes=32768),
                             args.repeat)
            with h5py.File(folder / name, "r", locking=False) as f:
                keys = median_ms(lambda: list(f["wide"].keys()), args.repeat)

            def open_and_list(name: str = name) -> None:
                with h5py.File(folder / name, "r", locking=False) as fh:
                    list(fh["wide"].keys())

            rows.append((f"hdf5 {layout}", first, last, keys, median_ms(open_and_list, args.repeat)))

        first = median_ms(lambda: ws.explore_zarr("wide.zarr", "wide", max_bytes=32768), args.repeat)
        last = median_ms(lambda: ws.explore_zarr("wide.zarr", "wide", offset=n - 100, max_bytes=32768), args.repeat)
        group = zarr.open_group(folder / "wide.zarr", mode="r")["wide"]
        keys = median_ms(lambda: list(group.keys()), max(3, args.repeat // 5))
        opened = median_ms(lambda: list(zarr.open_group(folder / "wide.zarr", mode="r")["wide"].keys()),
                           max(3, args.repeat // 5))
        rows.append(("zarr v3 folder", first, last, keys, opened))

        print(f"{n} children in one group; medians of {args.repeat} runs in ms; explore = first page "
              f"(limit 100, 32 KiB budget), file opened and closed per call; python {sys.version.split()[0]}, "
              f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version}), zarr {zarr.__version__}")
        header = (f"{'group layout':<22} | {'explore 1st page':>16} | {'explore last page':>17} | "
                  f"{'library list(keys)':>18} | {'open + list(keys)':>17} | target <= {TARGET_MS:.0f} ms")
        print(header)
        print("-" * len(header))
        for label, first, last, keys, opened in rows:
            verdict = ("OK" if first <= TARGET_MS else "MISSED") if label.startswith("hdf5") else "-"
            print(f"{label:<22} | {first:>16.1f} | {last:>17.1f} | {keys:>18.1f} | {opened:>17.1f} | {verdict}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
