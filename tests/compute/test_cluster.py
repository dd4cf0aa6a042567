"""The Dask executor on a two-process LocalCluster (127.0.0.1): the same numbers and the same bytes as
in-process, HDF5 opened through the guard on the workers, cancellation, a worker killed mid-run."""

from __future__ import annotations

import os
import threading

import h5py
import numpy as np
import pandas as pd
import pytest
import zarr

from io_core.compute import conversion, exact
from io_core.compute.errors import CancelledError, FileChangedError
from io_core.workspace import Workspace

QS = [0.0, 0.05, 0.5, 0.95, 1.0]


@pytest.fixture
def small_tasks(monkeypatch):
    monkeypatch.setattr(exact, "CAP", 2000)
    monkeypatch.setattr(exact, "BINS", 64)
    monkeypatch.setattr(exact, "TASK_BYTES", 64 * 1024)
    monkeypatch.setattr(conversion, "TASK_BYTES", 64 * 1024)


@pytest.fixture
def data(tmp_path):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((600, 200))
    a[10, 10] = np.nan
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_dataset("g/x", data=a, chunks=(50, 200))
    return tmp_path, a


def test_stats_on_the_cluster_equal_in_process_and_numpy(engine, data, small_tasks):
    root, a = data
    ws = Workspace([root])
    local, local_report, _ = engine.stats(ws, "a.h5", "g/x", quantiles=QS, bins=9, engine="local")
    remote, report, _ = engine.stats(ws, "a.h5", "g/x", quantiles=QS, bins=9, engine="dask")
    assert remote == local  # identical, not approximately: same blocks, merged in the same order
    assert report.engine == "dask" and report.workers == 2 and local_report.engine == "in-process"
    assert report.blocks > 20 and report.passes >= 3
    finite = a[np.isfinite(a)]
    assert [remote["quantiles"][repr(q)] for q in QS] == np.quantile(finite, QS).tolist()
    assert remote["histogram"]["counts"] == np.histogram(finite, bins=9)[0].tolist()
    assert remote["nan_count"] == 1 and remote["mean"] == pytest.approx(finite.mean(), rel=1e-12)


def test_conversions_write_the_same_bytes_either_way(engine, data, small_tasks):
    root, a = data
    ws = Workspace([root])
    for i in range(3):
        with h5py.File(root / f"run{i}.h5", "w") as f:
            f.create_dataset("v", data=a[i * 50:(i + 1) * 50 + i])
        pd.DataFrame({"n": np.arange(5) + i, "x": np.arange(5) * (0.5 if i else 1)}).to_csv(root / f"t{i}.csv",
                                                                                            index=False)
    digests = {}
    for name in ("local", "dask"):
        one, rep = conversion.convert_arrays(engine, ws, ["a.h5"], f"one_{name}.zarr", key="g/x", chunks=(64, 50),
                                             engine_name=name)
        assert rep.engine == ("dask" if name == "dask" else "in-process") and rep.blocks > 1
        many, _ = conversion.convert_arrays(engine, ws, [f"run{i}.h5" for i in range(3)], f"many_{name}.zarr",
                                            key="v", engine_name=name)
        rows, _ = conversion.convert_tables(engine, ws, [f"t{i}.csv" for i in range(3)], f"rows_{name}.parquet",
                                            engine_name=name)
        digests[name] = (one.sha256, many.sha256, rows.sha256)
    assert digests["local"] == digests["dask"]
    z = zarr.open_group(str(root / "one_dask.zarr"), mode="r")["x"]
    assert z.chunks == (64, 50) and np.array_equal(z[:], a, equal_nan=True)
    m = zarr.open_group(str(root / "many_dask.zarr"), mode="r")["v"]
    assert np.array_equal(m[:], np.concatenate([a[i * 50:(i + 1) * 50 + i] for i in range(3)]), equal_nan=True)
    t = pd.read_parquet(root / "rows_dask.parquet")
    assert len(t) == 15 and t["x"].dtype == np.float64  # an int column in one file, float in others: float
    record = ws.file_provenance("many_dask.zarr").records[0]
    assert record.operation == "convert" and record.arguments["engine"] == "dask"
    assert record.arguments["workers"] == 2 and len(record.inputs) == 3
    assert not [p for p in os.listdir(root) if p.startswith(".") and p != ".sciio"]  # no temp or scratch left


def test_a_file_changed_after_the_check_is_refused_on_the_worker(engine, data):
    from io_core.compute import source

    root, _a = data
    ws = Workspace([root])
    src = source.describe(ws, "a.h5", "g/x")
    with h5py.File(root / "a.h5", "a") as f:  # same path, new content (and mtime)
        f["g/x"][0, 0] = 42.0
    executor = engine.executor(0, "dask")
    with pytest.raises(FileChangedError):
        exact.exact_stats(executor, src)


def test_cancel_mid_run_leaves_no_output(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(conversion, "TASK_BYTES", 8 * 1024)
    np.save(tmp_path / "big.npy", np.arange(400_000, dtype=np.float64))  # 3.2 MB: 400 tasks
    ws = Workspace([tmp_path])
    stop = threading.Event()

    def progress(done, total, nbytes, label):
        if done >= 5:
            stop.set()

    with pytest.raises(CancelledError):
        conversion.convert_arrays(engine, ws, ["big.npy"], "out.zarr", chunks=(1024,), engine_name="dask",
                                  progress=progress, cancelled=stop.is_set)
    assert sorted(os.listdir(tmp_path)) == [".sciio", "big.npy"] or sorted(os.listdir(tmp_path)) == ["big.npy"]


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_survived(engine, cluster, tmp_path, monkeypatch):
    """Dask reruns the lost worker's blocks (retries); the result is still exact."""
    monkeypatch.setattr(exact, "TASK_BYTES", 16 * 1024)
    a = np.random.default_rng(3).standard_normal(200_000)
    np.save(tmp_path / "k.npy", a)
    ws = Workspace([tmp_path])
    client = engine.cluster.client()
    pids = client.run(os.getpid)
    killed = []

    def progress(done, total, nbytes, label):
        if not killed and done >= 3:
            victim = next(iter(pids.values()))
            os.kill(victim, 9)
            killed.append(victim)

    values, _report, _ = engine.stats(ws, "k.npy", quantiles=[0.5], engine="dask", progress=progress)
    assert killed
    assert values["quantiles"]["0.5"] == float(np.quantile(a, [0.5])[0]) and values["count"] == a.size
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for the next tests
