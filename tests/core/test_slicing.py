"""read_slice, preview_image and exact streamed stats through the Workspace."""

import io
import json

import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from io_core import IOCoreError, Workspace
from io_core.budget import json_size

BUDGET = 32768


@pytest.fixture
def ws(tmp_path):
    return Workspace([tmp_path])


def _code(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value


def test_array_selections_from_npy_npz_and_hdf5(ws, tmp_path):
    arr = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    np.save(tmp_path / "a.npy", arr)
    np.savez(tmp_path / "b.npz", first=arr, second=arr * 2)
    np.savez_compressed(tmp_path / "c.npz", only=arr)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f.create_dataset("g/x", data=arr, chunks=(1, 2, 5), compression="gzip")
    for name, key in [("a.npy", None), ("b.npz", "second"), ("c.npz", None), ("d.h5", "/g/x")]:
        factor = 2 if key == "second" else 1
        res = ws.read_slice(name, key=key, selection="1:, ::-2, -1", max_bytes=BUDGET).slice
        assert res.kind == "array" and res.source_shape == [3, 4, 5]
        assert res.values == (arr[1:, ::-2, -1] * factor).tolist(), name
        assert res.shape == [2, 2] and res.dtype == "<i2" and res.selection == "1:3, 3:0:-2, 4"


def test_npz_uncompressed_members_are_memory_mapped(tmp_path):
    from io_core.formats.numpy_files import NPZ
    from io_core.options import ReadOptions

    np.savez(tmp_path / "m.npz", x=np.arange(10.0), y=np.ones((2, 2)))
    with NPZ.open_array(tmp_path / "m.npz", ReadOptions(key="x")) as member:
        assert isinstance(member, np.memmap) and member[3] == 3.0


def test_selection_errors_and_size_refusal_suggest_what_fits(ws, tmp_path):
    np.save(tmp_path / "big.npy", np.zeros((5000, 400)))
    err = _code(ws.read_slice, "big.npy", selection="5000", max_bytes=BUDGET)
    assert err.code == "INVALID_SELECTION" and "-5000..4999" in str(err)
    err = _code(ws.read_slice, "big.npy", selection="0, 0, 0", max_bytes=BUDGET)
    assert err.code == "INVALID_SELECTION"
    err = _code(ws.read_slice, "big.npy", max_bytes=BUDGET)
    assert err.code == "TOO_LARGE"
    suggested = err.hint.split("selection='")[1].split("'")[0]
    fitted = ws.read_slice("big.npy", selection=suggested, max_bytes=BUDGET)
    assert json_size(fitted.model_dump(mode="json")) <= BUDGET and fitted.slice.shape[0] >= 1
    err = _code(ws.read_slice, "big.npy", offset=-1)
    assert err.code == "INVALID_SELECTION"


def test_special_values_are_encoded(ws, tmp_path):
    np.save(tmp_path / "f.npy", np.array([np.nan, np.inf, -np.inf, 1.5]))
    np.save(tmp_path / "c.npy", np.array([1 + 2j]))
    np.save(tmp_path / "t.npy", np.array(["2024-01-02T03:04", "NaT"], dtype="datetime64[m]"))
    assert ws.read_slice("f.npy").slice.values == ["NaN", "Infinity", "-Infinity", 1.5]
    assert ws.read_slice("c.npy").slice.values == [{"real": 1.0, "imag": 2.0}]
    assert ws.read_slice("t.npy").slice.values == ["2024-01-02T03:04", None]


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet"])
def test_table_pages_and_columns(ws, tmp_path, name):
    df = pd.DataFrame({"a": range(250), "b": [f"row{i}" for i in range(250)], "c": np.linspace(0, 1, 250)})
    ws.save(df, name)
    page = ws.read_slice(name, offset=240, limit=20, columns=["c", "a"], max_bytes=BUDGET).slice
    assert page.columns == ["c", "a"] and [r["a"] for r in page.rows] == list(range(240, 250))
    assert page.total_rows == 250 and page.total_rows_exact and page.next_offset is None
    first = ws.read_slice(name, max_bytes=BUDGET).slice
    assert len(first.rows) == 100 and first.next_offset == 100 and first.rows[0] == {"a": 0, "b": "row0", "c": 0.0}
    by_key = ws.read_slice(name, key="b", limit=2).slice
    assert by_key.rows == [{"b": "row0"}, {"b": "row1"}]
    assert _code(ws.read_slice, name, columns=["nope"]).code == "KEY_NOT_FOUND"


def test_pages_are_cut_to_the_budget_with_next_offset(ws, tmp_path):
    df = pd.DataFrame({"s": ["x" * 1_000_000, "short", "y" * 2000]})
    ws.save(df, "cells.parquet")
    res = ws.read_slice("cells.parquet", max_bytes=BUDGET)
    assert json_size(res.model_dump(mode="json")) <= BUDGET
    assert res.slice.truncated and res.slice.rows[0]["s"].endswith("…")


def test_text_lines(ws, tmp_path):
    (tmp_path / "log.txt").write_text("".join(f"line {i}\n" for i in range(1000)))
    res = ws.read_slice("log.txt", offset=10, limit=3).slice
    assert res.lines == ["line 10", "line 11", "line 12"] and res.next_offset == 13
    (tmp_path / "one.txt").write_text("z" * 3_000_000)
    one = ws.read_slice("one.txt", max_bytes=BUDGET)
    assert json_size(one.model_dump(mode="json")) <= BUDGET and one.slice.lines[0].endswith("…")


def test_hdf5_without_key_or_with_a_group_key_is_refused(ws, tmp_path):
    with h5py.File(tmp_path / "g.h5", "w") as f:
        f.create_dataset("grp/x", data=[1, 2])
    assert _code(ws.read_slice, "g.h5").code == "KEY_NOT_FOUND"
    assert _code(ws.read_slice, "g.h5", key="grp").code == "KEY_NOT_FOUND"


# -- budget cases of the summary ------------------------------------------------------------

def test_ten_thousand_column_frame_summary_fits(ws, tmp_path):
    pd.DataFrame(np.zeros((2, 10_000)), columns=[f"c{i}" for i in range(10_000)]).to_parquet(tmp_path / "w.parquet")
    res = ws.summarize("w.parquet", max_bytes=BUDGET)
    assert json_size(res.model_dump(mode="json")) <= BUDGET
    assert res.summary.n_columns == 10_000 and res.summary.columns_truncated


def test_hundred_thousand_children_group_fits(ws, tmp_path):
    with h5py.File(tmp_path / "wide.h5", "w") as f:
        for i in range(100_000):
            f.create_group(f"g{i}")
    res = ws.summarize("wide.h5", max_bytes=BUDGET)
    assert json_size(res.model_dump(mode="json")) <= BUDGET
    assert res.summary.n_children == 100_000 and res.summary.truncated


def test_megabyte_strings_in_cells_and_single_line_text_fit(ws, tmp_path):
    pd.DataFrame({"s": ["x" * 2_000_000, "y" * 2_000_000]}).to_csv(tmp_path / "s.csv", index=False)
    (tmp_path / "line.txt").write_text("w" * 1_000_000)
    for name in ("s.csv", "line.txt"):
        res = ws.summarize(name, max_bytes=BUDGET)
        assert json_size(res.model_dump(mode="json")) <= BUDGET


# -- exact streamed stats ---------------------------------------------------------------------

def test_exact_stats_for_large_csv_and_parquet_match_pandas(ws, tmp_path, monkeypatch):
    from io_core.formats import tables

    monkeypatch.setattr(tables, "SMALL_TEXT_TABLE", 10_000)  # make the file "large"
    monkeypatch.setattr(tables, "CSV_CHUNK_ROWS", 777)
    monkeypatch.setattr(tables, "PARQUET_BATCH_ROWS", 777)
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(5, 2, 20_000), "k": rng.integers(0, 9, 20_000)})
    df.loc[7, "x"] = np.nan
    df.to_csv(tmp_path / "big.csv", index=False)
    df.to_parquet(tmp_path / "big.parquet")
    for name in ("big.csv", "big.parquet"):
        seen = []
        approx = ws.summarize(name).summary
        exact = ws.summarize(name, exact_stats=True, progress=lambda d, t, out=seen: out.append((d, t))).summary
        if name.endswith(".csv"):
            assert not approx.n_rows_exact and abs(approx.n_rows - 20_000) < 2_000
        assert exact.n_rows == 20_000 and exact.n_rows_exact
        x = next(c for c in exact.columns if c.name == "x")
        assert x.null_count == 1 and x.stats.exact and x.stats.count == 19_999
        assert x.stats.mean == pytest.approx(df["x"].mean()) and x.stats.std == pytest.approx(df["x"].std(ddof=0))
        assert len(seen) > 10 and seen[-1][0] == 20_000


def test_exact_stats_for_arrays_stream_with_progress(ws, tmp_path):
    arr = np.random.default_rng(2).normal(size=(3000, 1000))
    np.save(tmp_path / "n.npy", arr)
    seen = []
    res = ws.summarize("n.npy", exact_stats=True, progress=lambda d, t: seen.append((d, t))).summary
    assert res.stats.exact and res.stats.count == arr.size
    assert res.stats.mean == pytest.approx(arr.mean()) and res.stats.std == pytest.approx(arr.std())
    assert seen[-1] == (arr.nbytes, arr.nbytes)
    sampled = ws.summarize("n.npy").summary.stats
    assert not sampled.exact and 0 < sampled.sampled_fraction < 1


# -- previews -----------------------------------------------------------------------------------

def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def test_heatmap_preview_is_size_capped_and_shows_the_gradient(ws, tmp_path):
    grad = np.tile(np.linspace(0, 1, 2000), (1500, 1))  # values grow left to right
    np.save(tmp_path / "grad.npy", grad)
    png, caption = ws.preview_image("grad.npy", max_side=256)
    image = _png(png)
    assert max(image.size) <= 256 and caption["kind"] == "heatmap" and caption["stride"] == [6, 8]
    assert caption["value_min"] == 0.0 and caption["value_max"] == pytest.approx(1.0, abs=0.01)  # drawn samples
    left, right = np.asarray(image)[image.height // 2, 2], np.asarray(image)[image.height // 2, -3]
    assert left[2] > left[1] and right[1] > right[2]  # viridis: purple on the left, yellow on the right


def test_picture_array_and_3d_selection(ws, tmp_path):
    rgb = np.zeros((40, 60, 3), dtype=np.uint8)
    rgb[:, :, 0] = 255
    np.save(tmp_path / "red.npy", rgb)
    png, caption = ws.preview_image("red.npy")
    assert caption["kind"] == "image" and _png(png).getpixel((5, 5)) == (255, 0, 0)
    cube = np.random.default_rng(0).normal(size=(4, 30, 20))
    np.save(tmp_path / "cube.npy", cube)
    _, caption = ws.preview_image("cube.npy", selection="2, :, :")
    assert caption["selection"] == "2, 0:30, 0:20"
    assert _code(ws.preview_image, "cube.npy", selection=":, :, :").code == "INVALID_SELECTION"


def test_line_previews_for_signals_and_table_columns(ws, tmp_path):
    np.save(tmp_path / "sig.npy", np.sin(np.linspace(0, 20, 100_000)))
    png, caption = ws.preview_image("sig.npy", max_side=300)
    image = _png(png)
    assert image.width == 300 and caption["kind"] == "line" and caption["value_min"] == pytest.approx(-1, abs=1e-3)
    assert (np.asarray(image) != 255).any(axis=2).sum() > 500  # a curve was drawn
    ws.save({"t": list(range(50)), "v": [i * i for i in range(50)], "name": ["a"] * 50}, "tab.csv")
    _, caption = ws.preview_image("tab.csv")
    assert caption["columns"] == ["t", "v"] and caption["value_max"] == 49 * 49
    assert _code(ws.preview_image, "tab.csv", key="name").code == "INVALID_SELECTION"


def test_preview_fits_a_small_budget(ws, tmp_path):
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).random((1000, 1000)))
    png, caption = ws.preview_image("noise.npy", max_side=1024, max_bytes=8192)
    assert len(png) * 4 / 3 <= 8192 + 4 and caption["max_side"] < 1024
    assert json.dumps(caption)


def test_picture_file_preview_is_downsampled(ws, tmp_path):
    img = np.zeros((1000, 2000, 3), dtype=np.uint8)
    img[:, :1000] = (255, 0, 0)
    img[:, 1000:] = (0, 0, 255)
    ws.save(img, "photo.png")
    png, caption = ws.preview_image("photo.png", max_side=200)
    thumb = _png(png)
    assert thumb.size == (200, 100) and caption["kind"] == "image" and caption["width"] == 2000
    assert thumb.getpixel((10, 50)) == (255, 0, 0) and thumb.getpixel((190, 50)) == (0, 0, 255)
    assert ws.summarize("photo.png").summary.kind == "image"
