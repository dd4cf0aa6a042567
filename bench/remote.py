"""Remote roots on a local SeaweedFS: range requests and bytes per answer, sciio vs h5py/zarr through fsspec.

Made on the fly (and deleted after): a 2 GiB chunked HDF5 file (float64, 16384 x 16384, chunks
256 x 256 = 512 KiB, h5py defaults otherwise), the same with ``libver="latest"`` and a 2 GiB Zarr v2 store (same array, chunks
1024 x 1024, no compression, consolidated metadata). For each: ``load_summary``, 1,000 values
from the middle, and an ``explore_h5`` page (HDF5), each from a cold cache, counted as range
requests (GET/HEAD/LIST) and bytes fetched; beside them the same answers from h5py/zarr opened
directly on the same objects through fsspec with default settings (s3fs ``open``; zarr's
``FsspecStore``), counted on s3fs's request calls.

    python bench/remote.py            # prints a table to stdout
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

SHAPE = (16384, 16384)  # float64: 2 GiB
H5_CHUNKS = (256, 256)
ZARR_CHUNKS = (1024, 1024)
MID = (8192, slice(4000, 5000))  # 1,000 values from the middle


def make_h5(path: Path, libver: str | None = None) -> None:
    import h5py

    with h5py.File(path, "w", libver=libver) as f:
        run = f.create_group("run")
        run.attrs["subject"] = "s01"
        ds = run.create_dataset("data", shape=SHAPE, dtype="f8", chunks=H5_CHUNKS)
        ds.attrs["units"] = "mV"
        for i in range(0, SHAPE[0], 1024):
            ds[i : i + 1024] = np.arange(i * SHAPE[1], (i + 1024) * SHAPE[1], dtype="f8").reshape(1024, SHAPE[1])
        for k in range(20):
            run.create_dataset(f"meta_{k:02d}", data=np.arange(100) * k)


def make_zarr(path: Path) -> None:
    import zarr

    g = zarr.open_group(path, mode="w", zarr_format=2)
    g.attrs["subject"] = "s01"
    arr = g.create_array("data", shape=SHAPE, dtype="f8", chunks=ZARR_CHUNKS, compressors=None)
    for i in range(0, SHAPE[0], 1024):
        arr[i : i + 1024] = np.arange(i * SHAPE[1], (i + 1024) * SHAPE[1], dtype="f8").reshape(1024, SHAPE[1])
    zarr.consolidate_metadata(path)


def upload(weed: object, folder: Path, prefix: str) -> None:
    """The files under ``folder`` to s3://test/<prefix>/ through s3fs (multipart for the large ones)."""
    import s3fs

    fs = s3fs.S3FileSystem(key=weed.env()["AWS_ACCESS_KEY_ID"], secret=weed.env()["AWS_SECRET_ACCESS_KEY"],  # type: ignore[attr-defined]
                           client_kwargs={"endpoint_url": weed.endpoint})  # type: ignore[attr-defined]
    files = [p for p in folder.rglob("*") if p.is_file()]

    def put(p: Path) -> None:
        fs.put_file(str(p), f"test/{prefix}/{p.relative_to(folder).as_posix()}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(put, files))


class FsspecCount:
    """Requests and bytes of one s3fs instance (its calls to S3), for the baseline."""

    def __init__(self, fs: object) -> None:
        self.requests = 0
        self.bytes = 0
        inner = fs._call_s3  # type: ignore[attr-defined]

        async def counted(method: str, *args: object, **kwargs: object) -> object:
            self.requests += 1
            out = await inner(method, *args, **kwargs)
            if method == "get_object" and isinstance(out, dict):
                self.bytes += int(out.get("ContentLength") or 0)
            return out

        fs._call_s3 = counted  # type: ignore[attr-defined]

    def reset(self) -> None:
        self.requests = self.bytes = 0


def measure(fn: object) -> tuple[int, int, float, object]:
    from io_core.remote import stats
    from io_core.remote.ranges import clear

    clear()  # cold: nothing fetched before, no version known
    started = time.perf_counter()
    with stats.counting() as c:
        out = fn()  # type: ignore[operator]
    return c.requests, c.bytes, time.perf_counter() - started, out


def baseline(fs: object, counter: FsspecCount, fn: object) -> tuple[int, int, float, object]:
    fs.invalidate_cache()  # type: ignore[attr-defined]
    counter.reset()
    started = time.perf_counter()
    out = fn()  # type: ignore[operator]
    return counter.requests, counter.bytes, time.perf_counter() - started, out


def main() -> None:
    from tests.remote.weed import Weed

    work = Path(tempfile.mkdtemp(prefix="sciio-bench-remote-"))
    weed = Weed()
    os.environ.update(weed.env())
    rows: list[tuple[str, str, tuple, tuple, str]] = []
    try:
        t = time.perf_counter()
        make_h5(work / "big.h5")  # h5py defaults: v1 B-tree chunk index, spread through the file
        make_h5(work / "latest.h5", libver="latest")  # HDF5 1.10+ format: fixed-array chunk index
        make_zarr(work / "big.zarr")
        upload(weed, work, "bench")
        shutil.rmtree(work, ignore_errors=True)
        made = time.perf_counter() - t

        import h5py
        import s3fs
        import zarr
        from zarr.storage import FsspecStore

        from io_core import Workspace
        from io_core.remote import RemoteConfig

        ws = Workspace(["s3://test/bench"], remote=RemoteConfig(endpoint_url=weed.endpoint))
        fs = s3fs.S3FileSystem(endpoint_url=weed.endpoint)  # fsspec defaults (block size, readahead cache)
        count = FsspecCount(fs)

        def h5_summary(name: str) -> object:
            with fs.open(f"test/bench/{name}", "rb") as fh, h5py.File(fh, "r") as f:
                return {k: (dict(v.attrs), len(v)) for k, v in f.items()}

        def h5_mid(name: str) -> object:
            with fs.open(f"test/bench/{name}", "rb") as fh, h5py.File(fh, "r") as f:
                return f["run/data"][MID]

        def h5_page(name: str) -> object:
            with fs.open(f"test/bench/{name}", "rb") as fh, h5py.File(fh, "r") as f:
                g = f["run"]
                return [(k, v.shape, v.dtype, v.chunks, dict(v.attrs)) for k, v in g.items()]

        ops = []
        for name, fmt in (("big.h5", "hdf5"), ("latest.h5", "hdf5*")):
            ops += [
                (fmt, "load_summary", functools.partial(ws.summarize, name), functools.partial(h5_summary, name),
                 "≤ 10 req, ≤ 4 MiB"),
                (fmt, "1,000 mid values",
                 functools.partial(ws.read_slice, name, key="run/data", selection="8192, 4000:5000"),
                 functools.partial(h5_mid, name), "≤ 4 req"),
                (fmt, "explore_h5 page", functools.partial(ws.explore_h5, name, "run", limit=100),
                 functools.partial(h5_page, name), ""),
            ]

        afs = s3fs.S3FileSystem(endpoint_url=weed.endpoint, asynchronous=True)
        zcount = FsspecCount(afs)

        def z_open() -> object:
            return zarr.open_group(FsspecStore(afs, read_only=True, path="test/bench/big.zarr"), mode="r")

        def z_summary() -> object:
            g = z_open()
            return {k: (v.shape, v.dtype, dict(v.attrs)) for k, v in g.members()}

        def z_mid() -> object:
            return z_open()["data"][MID]

        zops = [
            ("zarr", "load_summary", lambda: ws.summarize("big.zarr"), z_summary, "≤ 3 req"),
            ("zarr", "1,000 mid values", lambda: ws.read_slice("big.zarr", key="data", selection="8192, 4000:5000"),
             z_mid, ""),
            ("zarr", "explore_zarr page", lambda: ws.explore_zarr("big.zarr", limit=100), z_summary, ""),
        ]
        for fmt, what, ours, theirs, target in ops:
            rows.append((fmt, what, measure(ours)[:3], baseline(fs, count, theirs)[:3], target))
        for fmt, what, ours, theirs, target in zops:
            rows.append((fmt, what, measure(ours)[:3], baseline(afs, zcount, theirs)[:3], target))
        mid = measure(ops[1][2])[3]
        assert mid.slice.values[:3] == [8192 * SHAPE[1] + 4000.0, 8192 * SHAPE[1] + 4001.0, 8192 * SHAPE[1] + 4002.0]
    finally:
        weed.stop()
        shutil.rmtree(work, ignore_errors=True)

    out = sys.stdout
    out.write(f"remote roots on SeaweedFS (weed mini, 127.0.0.1); 2 GiB HDF5 + 2 GiB Zarr made and uploaded in {made:.0f} s\n")
    out.write(f"{'format':6} {'answer':18} {'sciio req':>9} {'sciio bytes':>12} {'s':>6} | "
              f"{'fsspec req':>10} {'fsspec bytes':>13} {'s':>6} | target\n")
    for fmt, what, ours, theirs, target in rows:
        out.write(f"{fmt:6} {what:18} {ours[0]:9d} {ours[1]:12,d} {ours[2]:6.2f} | "
                  f"{theirs[0]:10d} {theirs[1]:13,d} {theirs[2]:6.2f} | {target}\n")
    out.write("hdf5: h5py defaults (v1 B-tree chunk index: pin, group heap, index node, index leaf with the "
              "chunks after it); hdf5*: libver='latest' (fixed-array chunk index).\n"
              "Requests include the one that pins the object (size, ETag; S3: a ranged GET of its head); cold caches.\n")


if __name__ == "__main__":
    main()
