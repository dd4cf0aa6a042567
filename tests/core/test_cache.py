"""The load cache: nothing a caller gets can change it, any change to the file is seen, bytes stay bounded."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import io_core
from io_core import Workspace
from io_core.cache import LoadCache, measure
from io_core.fileid import settled, stamp

MiB = 1024 * 1024


def wait_settled(*paths: Path) -> None:
    """The cache stores nothing under a stamp the clock has not clearly passed (see io_core.fileid)."""
    for path in paths:
        while not settled(stamp(path)):
            time.sleep(0.005)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace([tmp_path], provenance=False)


def test_a_second_load_is_a_hit_and_arrays_are_read_only(ws, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(10))
    wait_settled(tmp_path / "a.npy")
    first = ws.load("a.npy")
    second = ws.load("a.npy")
    info = ws.cache_info()
    assert (info.misses, info.hits, info.entries, info.bytes) == (1, 1, 1, 80)
    for arr in (first, second):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 99
        with pytest.raises(ValueError):
            arr.setflags(write=True)
    mine = second.copy()
    mine[0] = 99  # a copy is the caller's own
    assert ws.load("a.npy")[0] == 0


@pytest.mark.parametrize(
    ("name", "write", "mutate"),
    [
        ("t.csv", lambda p: pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_csv(p, index=False),
         lambda v: (v.__setitem__("a", [100, 200]), v.loc.__setitem__((0, "b"), "changed"), v.pop("b"))),
        ("t.parquet", lambda p: pd.DataFrame({"a": [1.5, 2.5]}).to_parquet(p),
         lambda v: (v.iloc.__setitem__((0, 0), -1.0), v.__setitem__("new", 1))),
        ("d.json", lambda p: p.write_text('{"k": [1, 2], "n": {"x": 1}}'),
         lambda v: (v["k"].append(3), v["n"].__setitem__("x", 2), v.__setitem__("extra", True))),
        ("l.yaml", lambda p: p.write_text("- a\n- [1, 2]\n"),
         lambda v: (v.append("c"), v[1].append(3), v.__setitem__(0, "z"))),
        ("z.npz", lambda p: np.savez(p, x=np.arange(3), y=np.ones(2)),
         lambda v: (v.__setitem__("x", np.zeros(3)), v.pop("y"))),
        ("h.h5", lambda p: io_core.save({"g": {"x": [1, 2]}, "y": [3]}, p),
         lambda v: (v["g"].__setitem__("x", None), v.__setitem__("y", 0))),
    ],
)
def test_mutating_what_a_load_returned_never_reaches_the_cache(ws, tmp_path, name, write, mutate):
    write(tmp_path / name)
    wait_settled(tmp_path / name)
    reference = Workspace([tmp_path], provenance=False, cache_bytes=0).load(name)
    for _ in range(2):  # the miss's result, then a hit's
        got = ws.load(name)
        mutate(got)
    again = ws.load(name)
    assert ws.cache_info().entries == 1 and ws.cache_info().hits >= 2
    if isinstance(reference, pd.DataFrame):
        pd.testing.assert_frame_equal(again, reference)
    elif isinstance(reference, dict) and name.endswith((".npz", ".h5")):
        assert _plain(again) == _plain(reference)
    else:
        assert again == reference


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.tolist()


def test_arrays_inside_a_frame_cannot_write_through(ws, tmp_path):
    pd.DataFrame({"a": np.arange(5.0)}).to_parquet(tmp_path / "f.parquet")
    wait_settled(tmp_path / "f.parquet")
    for _ in range(2):
        df = ws.load("f.parquet")
        values = df["a"].to_numpy()
        if values.flags.writeable:  # pandas < 3 hands out a deep copy instead
            values[:] = -1
        else:
            with pytest.raises(ValueError):
                values[:] = -1
    assert ws.load("f.parquet")["a"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_same_size_rewrite_with_the_old_mtime_restored_is_seen(ws, tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.zeros(100))
    wait_settled(path)
    assert ws.load("a.npy").sum() == 0 and ws.load("a.npy").sum() == 0  # cached
    st = path.stat()
    np.save(path, np.ones(100))  # same size, same inode
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert path.stat().st_ino == st.st_ino
    assert ws.load("a.npy").sum() == 100
    assert ws.cache_info().entries <= 1  # the stale entry was dropped, not kept beside the new one


def test_an_os_replace_is_seen(ws, tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"v": 1}')
    wait_settled(path)
    assert ws.load("d.json") == {"v": 1} and ws.load("d.json") == {"v": 1}
    st = path.stat()
    other = tmp_path / "other.json"
    other.write_text('{"v": 2}')
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)
    assert ws.load("d.json") == {"v": 2}


def test_options_are_part_of_the_key(ws, tmp_path):
    np.savez(tmp_path / "z.npz", a=np.arange(3), b=np.arange(4))
    (tmp_path / "d.json").write_text('{"x": {"y": 5}}')
    wait_settled(tmp_path / "z.npz", tmp_path / "d.json")
    assert set(ws.load("z.npz")) == {"a", "b"}
    assert ws.load("z.npz", key="b").tolist() == [0, 1, 2, 3]
    assert ws.load("d.json", key="x/y") == 5 and ws.load("d.json") == {"x": {"y": 5}}
    assert ws.cache_info().entries == 4


def test_the_byte_bound_holds_under_a_stream_of_large_loads(tmp_path):
    bound = 10 * MiB
    ws = Workspace([tmp_path], provenance=False, cache_bytes=bound)
    names = []
    for i in range(12):
        np.save(tmp_path / f"big{i}.npy", np.full(3 * MiB // 8, i, dtype=np.float64))  # 3 MiB each
        names.append(f"big{i}.npy")
    wait_settled(*(tmp_path / n for n in names))
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, ws.cache_info().bytes)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for round_ in range(3):
            for i, name in enumerate(names):
                assert ws.load(name)[0] == i
                info = ws.cache_info()
                assert info.bytes <= bound and info.entries <= 3
        with ThreadPoolExecutor(8) as pool:  # and from many threads at once
            for i, arr in zip(range(48), pool.map(lambda k: ws.load(names[k % 12]), range(48))):
                assert arr[0] == i % 12
    finally:
        stop.set()
        watcher.join()
    info = ws.cache_info()
    assert peak <= bound and info.bytes <= bound
    assert info.evictions > 0 and info.hits + info.misses == 3 * 12 + 48


def test_an_object_bigger_than_the_bound_is_returned_but_not_kept(tmp_path):
    ws = Workspace([tmp_path], provenance=False, cache_bytes=1 * MiB)
    np.save(tmp_path / "big.npy", np.arange(2 * MiB // 8))
    wait_settled(tmp_path / "big.npy")
    got = ws.load("big.npy")
    assert got.shape == (2 * MiB // 8,) and not got.flags.writeable  # same rule, cached or not
    info = ws.cache_info()
    assert (info.entries, info.bytes, info.not_cached) == (0, 0, 1)


def test_clear_cache_frees_everything_and_keeps_the_counters(ws, tmp_path):
    for i in range(3):
        np.save(tmp_path / f"a{i}.npy", np.zeros(1000))
    wait_settled(*(tmp_path / f"a{i}.npy" for i in range(3)))
    for i in range(3):
        ws.load(f"a{i}.npy")
    cleared = ws.clear_cache()
    assert (cleared.entries_removed, cleared.bytes_freed) == (3, 24000)
    info = ws.cache_info()
    assert (info.entries, info.bytes, info.misses) == (0, 0, 3)
    ws.load("a0.npy")
    assert ws.cache_info().misses == 4
    assert ws.clear_cache().entries_removed == 1


def test_cache_off_returns_plain_writable_objects(tmp_path):
    ws = Workspace([tmp_path], provenance=False, cache_bytes=0)
    np.save(tmp_path / "a.npy", np.arange(3))
    got = ws.load("a.npy")
    got[0] = 5
    assert ws.load("a.npy")[0] == 0
    info = ws.cache_info()
    assert not info.enabled and info.entries == 0 and info.max_bytes == 0


def test_a_file_still_settling_or_changing_while_read_is_not_kept(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}')
    cache = LoadCache(MiB, settle_ns=60 * 10**9)  # nothing is old enough
    assert cache.load(path, None, lambda: {"a": 1}) == ({"a": 1}, False)
    assert cache.info().entries == 0 and cache.info().not_cached == 1

    wait_settled(path)
    cache = LoadCache(MiB)

    def changing_loader():
        value = {"a": 1}
        path.write_text('{"a": 22}')  # someone writes while we read
        return value

    cache.load(path, None, changing_loader)
    assert cache.info().entries == 0


def test_unknown_and_object_holding_values_are_not_cached(tmp_path):
    class Opaque:
        pass

    io_core.register_loader(".opq", lambda p: Opaque())
    try:
        (tmp_path / "x.opq").write_text("?")
        np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
        wait_settled(tmp_path / "x.opq", tmp_path / "o.npy")
        ws = Workspace([tmp_path], provenance=False, allow_pickle=True)
        assert isinstance(ws.load("x.opq"), Opaque)
        assert ws.load("o.npy")[0] == {"a": 1}
        assert ws.cache_info().entries == 0 and ws.cache_info().not_cached == 2
    finally:
        io_core.unregister_loader(".opq")
    assert measure(np.zeros(3, dtype=object)) is None and measure({"a": [1, "x"]}) > 0


def test_concurrent_loads_of_the_same_files_are_consistent(ws, tmp_path):
    for i in range(4):
        (tmp_path / f"d{i}.json").write_text(f'{{"i": {i}, "items": [1, 2, 3]}}')
    wait_settled(*(tmp_path / f"d{i}.json" for i in range(4)))

    def work(k: int) -> bool:
        got = ws.load(f"d{k % 4}.json")
        ok = got == {"i": k % 4, "items": [1, 2, 3]}
        got["items"].append(k)  # every caller mutates its own copy
        return ok

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(work, range(400)))
    info = ws.cache_info()
    assert info.hits + info.misses == 400 and info.entries == 4


def test_frames_holding_mutable_cells_are_not_cached(tmp_path):
    ws = Workspace([tmp_path], provenance=False)
    pd.DataFrame({"lists": [[1, 2], [3]], "n": [1, 2]}).to_parquet(tmp_path / "l.parquet")
    wait_settled(tmp_path / "l.parquet")
    first = ws.load("l.parquet")
    assert ws.cache_info().entries == 0 and ws.cache_info().not_cached == 1
    assert list(first["lists"][0]) == [1, 2]
    assert measure(pd.DataFrame([[1, "x"]], columns=["a", "a"])) > 0  # duplicate names, scalars only
