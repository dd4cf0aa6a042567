"""KEY_NOT_FOUND names up to 3 existing keys nearest to a mistyped one (issue 11 point 6), for every kind of key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from io_core.errors import (
    MAX_CANDIDATES,
    NEAR_KEY_CHARS,
    NEAR_KEYS,
    KeyNotFoundError,
    nearest_keys,
    nearest_paths,
)
from io_core.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(roots=[tmp_path])


def refused(call, *args, **kwargs) -> KeyNotFoundError:
    with pytest.raises(KeyNotFoundError) as info:
        call(*args, **kwargs)
    return info.value


# -- the helper ---------------------------------------------------------------------------------

def test_nearest_keys_closest_first_case_insensitive_at_most_three():
    names = ["temperature", "Temperatur_K", "temperature_2", "temperate", "pressure", "t"]
    near = nearest_keys("temprature", names)
    assert near[0] == "temperature" and len(near) == NEAR_KEYS and "pressure" not in near
    assert nearest_keys("PRESSURE", names) == ["pressure"]
    assert nearest_keys("zzzz", names) == [] and nearest_keys("x", []) == []


def test_hint_echoes_short_names_and_keeps_the_default_hint():
    long = "channel_" + "x" * 500
    err = KeyNotFoundError("no column 'chanel_xxx'").with_candidates("channel_" + "x" * 490, [long, "other"])
    assert err.candidates == (long,)
    assert err.hint.startswith("Did you mean 'channel_") and len(err.hint) < NEAR_KEY_CHARS + 120
    assert err.hint.endswith(KeyNotFoundError.default_hint)
    plain = KeyNotFoundError("no column 'q'").with_candidates("q", ["completely", "different"])
    assert plain.candidates == () and plain.hint == KeyNotFoundError.default_hint


def test_nearest_paths_walks_what_exists_and_names_full_paths():
    tree = {"": ["run0", "run1", "meta"], "run0": ["signal_00", "signal_01"], "run1": ["a"]}
    assert nearest_paths("/run0/signl_01", tree.get)[0] == "/run0/signal_01"
    assert nearest_paths("/rnu0/signal_01", tree.get)[0] == "/run0"  # the first part that does not exist
    assert set(nearest_paths("run0/signal_0x", tree.get)) == {"run0/signal_00", "run0/signal_01"}
    assert nearest_paths("/meta/x", tree.get) == []  # 'meta' is no group: nothing to list


def test_a_huge_candidate_list_is_bounded():
    import time

    names = (f"dataset_{i:07d}" for i in range(2_000_000))  # a generator: only the first names are drawn
    started = time.perf_counter()
    near = nearest_keys("dataset_000001x", names)
    assert time.perf_counter() - started < 5 and len(near) == NEAR_KEYS
    assert all(int(name.split("_")[1]) < MAX_CANDIDATES for name in near)


# -- every kind of key, through the Workspace ---------------------------------------------------

def test_hdf5_paths(ws, tmp_path):
    import h5py

    with h5py.File(tmp_path / "e.h5", "w") as f:
        f.create_dataset("run0/signal_01", data=[1, 2])
        f.create_dataset("run0/signal_02", data=[1, 2])
        f.create_dataset("calibration", data=[1])
    err = refused(ws.summarize, "e.h5", key="/run0/signal_1")
    assert err.code == "KEY_NOT_FOUND" and err.candidates[0] in ("/run0/signal_01", "/run0/signal_02")
    assert "Did you mean '/run0/signal_0" in str(err)
    assert refused(ws.read_slice, "e.h5", key="/calibraton").candidates == ("/calibration",)
    assert refused(ws.explore_h5, "e.h5", "/rnu0").candidates == ("/run0",)


def test_zarr_paths(ws, tmp_path):
    import zarr

    root = zarr.open_group(str(tmp_path / "s.zarr"), mode="w")
    root.create_array("images/raw", shape=(4,), dtype="i4")
    root.create_array("images/mask", shape=(4,), dtype="u1")
    assert refused(ws.summarize, "s.zarr", key="images/rwa").candidates == ("images/raw",)
    assert refused(ws.explore_zarr, "s.zarr", "imags").candidates == ("images",)


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.tsv"])
def test_table_columns(ws, tmp_path, name):
    ws.save({"temperature": [1.0, 2.0], "pressure": [3.0, 4.0], "humidity": [5, 6]}, name)
    err = refused(ws.summarize, name, key="temprature")
    assert err.candidates == ("temperature",) and "Did you mean 'temperature'" in err.hint
    assert refused(ws.read_slice, name, columns=["presure"]).candidates == ("pressure",)


def test_npz_members_sqlite_tables_and_sheets(ws, tmp_path):
    import sqlite3

    import numpy as np

    np.savez(tmp_path / "m.npz", weights=np.ones(3), bias=np.zeros(2))
    assert refused(ws.summarize, "m.npz", key="weigths").candidates == ("weights",)
    with sqlite3.connect(tmp_path / "d.sqlite") as con:
        con.execute("create table subjects (id integer, age integer)")
        con.execute("create table sessions (id integer)")
    assert refused(ws.summarize, "d.sqlite", key="subject").candidates[0] == "subjects"
    ws.save({"a": [1]}, "w.xlsx")
    assert refused(ws.summarize, "w.xlsx", key="Shet1").candidates == ("Sheet1",)


@pytest.mark.parametrize("name", ["c.json", "c.yaml"])
def test_document_and_config_paths(ws, name):
    ws.save({"model": {"learning_rate": 0.01, "layers": 3}, "data": {"path": "x"}}, name)
    err = refused(ws.summarize, name, key="model/learning_rat")
    assert err.candidates == ("model/learning_rate",)
    assert refused(ws.summarize, name, key="modle/layers").candidates == ("model",)


def test_eeg_channels(ws, tmp_path):
    mne = pytest.importorskip("mne")
    import numpy as np

    info = mne.create_info(["Fz", "Cz", "Pz", "Oz"], 100.0, ["eeg"] * 4)
    mne.io.RawArray(np.zeros((4, 200)), info, verbose=False).save(tmp_path / "r_raw.fif", verbose=False)
    err = refused(ws.summarize, "r_raw.fif", key="Czz")
    assert err.candidates[0] == "Cz" and len(err.candidates) <= NEAR_KEYS


def test_netcdf_variables(ws, tmp_path):
    from scipy.io import netcdf_file

    with netcdf_file(tmp_path / "v.nc", "w") as f:
        f.createDimension("t", 3)
        f.createVariable("temperature", "f4", ("t",))[:] = [1, 2, 3]
    assert refused(ws.summarize, "v.nc", key="temperatur").candidates == ("temperature",)


async def test_the_client_sees_the_nearest_keys(tmp_path):
    from fastmcp import Client

    from server.app import create_app
    from server.settings import Settings

    (tmp_path / "c.json").write_text(json.dumps({"alpha": 1, "beta": 2}))
    async with Client(create_app(Settings(roots=[tmp_path]))) as client:
        res = await client.call_tool("load_summary", {"path": "c.json", "key": "alpah"}, raise_on_error=False)
    text = res.content[0].text
    assert res.is_error and text.startswith("KEY_NOT_FOUND:") and "Hint: Did you mean 'alpha'?" in text
