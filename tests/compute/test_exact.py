"""Exact statistics in-process against NumPy: moments, NaN/Inf counts, exact quantiles, histograms."""

from __future__ import annotations

import numpy as np
import pytest

from io_core.compute import exact
from io_core.workspace import Workspace

QS = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999, 1.0]


@pytest.fixture
def narrow(monkeypatch):
    """Small windows and tasks, so that a small array needs several narrowing passes and many blocks."""
    monkeypatch.setattr(exact, "CAP", 500)
    monkeypatch.setattr(exact, "BINS", 16)


def stats(engine, root, name, **kw):
    ws = Workspace([root])
    return engine.stats(ws, name, quantiles=kw.pop("quantiles", QS), engine="local", **kw)


def check(values, finite, qs=QS):
    assert values["count"] == finite.size
    assert values["min"] == finite.min() and values["max"] == finite.max()
    assert values["mean"] == pytest.approx(finite.astype(np.float64).mean(), rel=1e-12, abs=1e-12)
    assert values["std"] == pytest.approx(finite.astype(np.float64).std(), rel=1e-10)
    expected = np.quantile(finite, qs)
    got = [values["quantiles"][repr(float(q))] for q in qs]
    assert got == [float(v) for v in expected]  # exact: bit for bit, not approximately


def test_float32_with_nan_and_inf_matches_numpy(local_engine, tmp_path, narrow):
    a = np.random.default_rng(0).standard_normal((400, 300)).astype("float32")
    a[3, 4], a[5, 6], a[7, 8] = np.nan, np.inf, -np.inf
    np.save(tmp_path / "a.npy", a)
    values, report, _ = stats(local_engine, tmp_path, "a.npy", bins=7)
    finite = a[np.isfinite(a)]
    check(values, finite)
    assert values["nan_count"] == 1 and values["inf_count"] == 2
    counts, edges = np.histogram(finite, bins=7, range=(finite.min(), finite.max()))
    assert values["histogram"]["counts"] == counts.tolist()
    assert values["histogram"]["edges"] == edges.tolist()
    assert report.passes >= 3  # moments, at least one narrowing pass, the exact values


def test_integers_with_many_ties(local_engine, tmp_path, narrow):
    a = np.random.default_rng(1).integers(-3, 4, size=20_000).astype("int16")
    np.save(tmp_path / "i.npy", a)
    values, _, _ = stats(local_engine, tmp_path, "i.npy")
    check(values, a)


def test_two_adjacent_floats_in_bulk(local_engine, tmp_path, narrow):
    """A window that cannot shrink (two neighbouring doubles, thousands of each) is read off exactly."""
    lo = 1.0
    a = np.array([lo] * 3000 + [np.nextafter(lo, 2.0)] * 2000 + [5.0])
    np.random.default_rng(2).shuffle(a)
    np.save(tmp_path / "t.npy", a)
    values, _, _ = stats(local_engine, tmp_path, "t.npy")
    check(values, a)


def test_constant_and_empty(local_engine, tmp_path):
    np.save(tmp_path / "c.npy", np.full(1000, 2.5))
    values, _, _ = stats(local_engine, tmp_path, "c.npy", bins=3)
    check(values, np.full(1000, 2.5))
    assert sum(values["histogram"]["counts"]) == 1000
    np.save(tmp_path / "n.npy", np.full(10, np.nan))
    values, _, _ = stats(local_engine, tmp_path, "n.npy")
    assert values["count"] == 0 and values["nan_count"] == 10 and "quantiles" not in values


def test_bad_arguments_are_coded(local_engine, tmp_path):
    from io_core.errors import InvalidArgumentError, UnsupportedOperationError

    np.save(tmp_path / "a.npy", np.arange(10))
    np.save(tmp_path / "s.npy", np.array(["x", "y"]))
    with pytest.raises(InvalidArgumentError):
        stats(local_engine, tmp_path, "a.npy", quantiles=[1.5])
    with pytest.raises(UnsupportedOperationError):
        stats(local_engine, tmp_path, "s.npy")


def test_too_many_chunks_is_refused_before_reading(local_engine, tmp_path):
    import h5py

    from io_core.errors import TooLargeError
    from io_core.limits import Limits

    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("x", data=np.arange(1000.0), chunks=(1,))
    ws = Workspace([tmp_path], limits=Limits(max_exact_chunks=100))
    with pytest.raises(TooLargeError, match="1000 chunks"):
        local_engine.stats(ws, "c.h5", "x", engine="local")
