"""A matplotlib Figure saved with its data (issue 16 point 2): the picture, a CSV of what was plotted, a YAML recipe."""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.figure import Figure  # the extra "figures" (in the test extra too)

from io_core import Workspace
from io_core.errors import ExistsError

X = np.linspace(0.0, 2.0, 21)
Y = np.sin(X) * 3.7
SX = np.array([0.5, 1.25, 1.75, 0.1])
SY = np.array([2.0, -1.5, 0.25, 3.0])
C = np.array([0.1, 0.4, 0.9, 0.2])
BARS = np.array([3.0, 1.5, 4.25])
POS = np.array([1.0, 2.0, 3.0])
IMAGE = np.arange(20, dtype=np.float64).reshape(4, 5) / 7.0
RGB = (np.arange(2 * 3 * 3).reshape(2, 3, 3) * 9).astype(np.uint8)


def make_figure() -> Figure:
    fig = Figure(figsize=(7, 3), dpi=80)
    ax, ax_img = fig.subplots(1, 2)
    ax.plot(X, Y, label="signal")
    ax.scatter(SX, SY, c=C, label="events")
    ax.bar(POS, BARS, label="counts")
    ax.plot([0, 1], [5, 6])  # unlabelled: named by its number among the axes' lines
    ax.set_title("Recording")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("voltage (mV)")
    ax.set_xlim(-0.5, 3.5)
    ax.set_ylim(-4.0, 7.0)
    ax.set_yscale("symlog")
    ax.legend()
    ax_img.imshow(IMAGE, label="map")
    ax_img.set_title("Map")
    fig.suptitle("Run 1")
    return fig


def read_columns(path: Path) -> dict[str, list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return {name: [r[i] for r in rows[1:] if r[i] != ""] for i, name in enumerate(rows[0])}


def floats(cells: list[str]) -> np.ndarray:
    return np.array([float(c) for c in cells])


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace([tmp_path])


def test_png_with_csv_holding_exactly_the_plotted_data_and_a_recipe(ws, tmp_path):
    result = ws.save(make_figure(), "plots/fig.png")
    folder = tmp_path / "plots"
    assert result.format == "png" and result.recorded
    assert sorted(p.name for p in folder.iterdir()) == ["fig.csv", "fig.png", "fig.yaml", "fig_ax1_image_map.csv"]
    assert result.sidecars == ["plots/fig.csv", "plots/fig_ax1_image_map.csv", "plots/fig.yaml"]
    assert (folder / "fig.png").read_bytes().startswith(b"\x89PNG")

    cols = read_columns(folder / "fig.csv")
    assert list(cols) == ["ax0_line_signal_x", "ax0_line_signal_y", "ax0_line_1_x", "ax0_line_1_y",
                          "ax0_scatter_events_x", "ax0_scatter_events_y", "ax0_scatter_events_c",
                          "ax0_bar_counts_x", "ax0_bar_counts_y"]
    assert np.array_equal(floats(cols["ax0_line_signal_x"]), X)  # exact: numbers are written round-trip
    assert np.array_equal(floats(cols["ax0_line_signal_y"]), Y)
    assert np.array_equal(floats(cols["ax0_scatter_events_x"]), SX)
    assert np.array_equal(floats(cols["ax0_scatter_events_y"]), SY)
    assert np.array_equal(floats(cols["ax0_scatter_events_c"]), C)
    assert np.allclose(floats(cols["ax0_bar_counts_x"]), POS, rtol=0, atol=1e-12)  # centre = left + width / 2
    assert np.array_equal(floats(cols["ax0_bar_counts_y"]), BARS)
    assert cols["ax0_line_1_x"] == ["0", "1"] and cols["ax0_line_1_y"] == ["5", "6"]
    with open(folder / "fig.csv", encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == 1 + len(X)  # shorter columns padded to the longest, not dropped

    grid = np.loadtxt(folder / "fig_ax1_image_map.csv", delimiter=",", skiprows=1)
    assert np.array_equal(grid, IMAGE)

    recipe = yaml.safe_load((folder / "fig.yaml").read_text())
    assert recipe["data"] == "fig.csv"
    assert recipe["figure"]["size_inches"] == [7.0, 3.0] and recipe["figure"]["dpi"] == 80.0
    assert recipe["figure"]["suptitle"] == "Run 1"
    ax0, ax1 = recipe["axes"]
    assert ax0["title"] == "Recording" and ax0["xlabel"] == "time (s)" and ax0["ylabel"] == "voltage (mV)"
    assert ax0["xlim"] == [-0.5, 3.5] and ax0["ylim"] == [-4.0, 7.0]
    assert ax0["xscale"] == "linear" and ax0["yscale"] == "symlog"
    assert ax0["legend"] == ["signal", "events", "counts"]
    kinds = [(a["kind"], a["label"]) for a in ax0["artists"]]
    assert kinds == [("line", "signal"), ("line", None), ("scatter", "events"), ("bar", "counts")]
    assert ax0["artists"][0]["columns"] == ["ax0_line_signal_x", "ax0_line_signal_y"]
    image = ax1["artists"][0]
    assert image["kind"] == "image" and image["file"] == "fig_ax1_image_map.csv" and image["shape"] == [4, 5]
    assert ax1["title"] == "Map"


def test_metadata_of_the_picture_names_the_sidecars_with_their_hashes(ws, tmp_path):
    ws.save(make_figure(), "fig.png")
    meta = ws.read_metadata("fig.png")
    assert meta.has_metadata and meta.metadata["kind"] == "figure"
    listed = {e["file"]: e for e in meta.metadata["sidecars"]}
    assert set(listed) == {"fig.csv", "fig.yaml", "fig_ax1_image_map.csv"}
    assert listed["fig.csv"]["role"] == "data" and listed["fig.yaml"]["role"] == "recipe"
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()


@pytest.mark.parametrize("name, fmt, head", [("fig.pdf", "pdf", b"%PDF"), ("fig.svg", "svg", b"<?xml"),
                                             ("fig.jpg", "jpeg", b"\xff\xd8"), ("fig.tif", "tiff", b"II*\x00")])
def test_other_picture_formats(ws, tmp_path, name, fmt, head):
    result = ws.save(make_figure(), name)
    assert result.format == fmt and (tmp_path / name).read_bytes().startswith(head)
    assert np.array_equal(floats(read_columns(tmp_path / "fig.csv")["ax0_line_signal_y"]), Y)
    meta = ws.read_metadata(name)
    assert meta.has_metadata and {e["file"] for e in meta.metadata["sidecars"]} >= {"fig.csv", "fig.yaml"}
    assert yaml.safe_load((tmp_path / "fig.yaml").read_text())["axes"][0]["xlabel"] == "time (s)"


def test_the_same_figure_in_two_formats_shares_its_sidecars_other_data_is_refused(ws, tmp_path):
    fig = make_figure()
    ws.save(fig, "fig.png")
    csv_before = (tmp_path / "fig.csv").read_bytes()
    ws.save(fig, "fig.pdf")  # same data: the sidecars are kept and named by the PDF too
    assert (tmp_path / "fig.csv").read_bytes() == csv_before
    assert ws.read_metadata("fig.pdf").metadata["sidecars"] == ws.read_metadata("fig.png").metadata["sidecars"]
    other = Figure()
    other.add_subplot().plot([1, 2], [3, 4])
    with pytest.raises(ExistsError):
        ws.save(other, "fig.svg")
    assert not (tmp_path / "fig.svg").exists() and (tmp_path / "fig.csv").read_bytes() == csv_before
    ws.save(other, "fig.svg", overwrite=True)
    assert read_columns(tmp_path / "fig.csv") == {"ax0_line_0_x": ["1", "2"], "ax0_line_0_y": ["3", "4"]}


def test_no_csv_writes_the_picture_only(ws, tmp_path):
    result = ws.save(make_figure(), "fig.png", no_csv=True)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == ["fig.png"]
    assert result.sidecars == []
    assert ws.read_metadata("fig.png").metadata == {"kind": "figure", "sidecars": []}


def test_every_file_is_recorded_in_the_ledger(ws, tmp_path):
    ws.save(make_figure(), "fig.png")
    for name, fmt in [("fig.png", "png"), ("fig.csv", "csv"), ("fig.yaml", "yaml"), ("fig_ax1_image_map.csv", "csv")]:
        history = ws.file_provenance(name)
        assert history.n_records == 1, name
        record = history.records[0]
        assert record.format == fmt
        assert record.sha256 == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
    assert ws.file_provenance("fig.csv").records[0].arguments["sidecar_of"] == "fig.png"
    assert ws.file_provenance("fig.png").records[0].arguments["figure"] is True
    assert ws.verify_file("fig.png").status == "OK"


def test_colour_images_and_horizontal_categorical_bars(ws, tmp_path):
    fig = Figure()
    ax = fig.add_subplot()
    ax.imshow(RGB)
    ax.barh(["low", "mid", "high"], [1.0, 2.5, 0.5], label="levels")
    ws.save(fig, "c.png")
    with open(tmp_path / "c_ax0_image_0.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:4] == ["0_r", "0_g", "0_b", "1_r"]
    assert np.array_equal(np.array(rows[1:], dtype=np.uint8).reshape(RGB.shape), RGB)
    cols = read_columns(tmp_path / "c.csv")
    assert cols["ax0_bar_levels_x"] == ["1.0", "2.5", "0.5"]
    assert cols["ax0_bar_levels_y"] == ["low", "mid", "high"]


def test_existing_picture_is_kept_without_overwrite(ws, tmp_path):
    (tmp_path / "fig.png").write_bytes(b"old")
    with pytest.raises(ExistsError):
        ws.save(make_figure(), "fig.png")
    assert (tmp_path / "fig.png").read_bytes() == b"old" and not (tmp_path / "fig.csv").exists()


def test_a_figure_to_a_non_picture_format_is_not_a_figure_save(ws, tmp_path):
    result = ws.save(make_figure(), "fig.pkl")  # pickled as any object; no sidecars
    assert result.format == "pickle" and result.sidecars == [] and not (tmp_path / "fig.csv").exists()


def test_import_io_core_does_not_import_matplotlib():
    code = ("import sys, io_core, io_core.figures, io_core.save_options\n"
            "assert io_core.figures.is_figure(object()) is False\n"
            "bad = [m for m in ('matplotlib', 'numpy', 'yaml') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


def test_sidecars_are_bounded_by_max_write_bytes_and_the_picture_is_not_written(tmp_path):
    from io_core.errors import TooLargeError
    from io_core.limits import Limits

    fig = Figure(figsize=(2, 2), dpi=50)
    fig.add_subplot().imshow(np.random.default_rng(0).random((150, 150)))  # ~430 KB as CSV text
    ws = Workspace([tmp_path], limits=Limits(max_write_bytes=100_000))
    with pytest.raises(TooLargeError):
        ws.save(fig, "big.png", dry_run=True)
    with pytest.raises(TooLargeError):
        ws.save(fig, "big.png")
    assert not (tmp_path / "big.png").exists() and not (tmp_path / "big_ax0_image_0.csv").exists()
    assert not [p for p in tmp_path.iterdir() if ".sciio-tmp-" in p.name]  # the temp file went too
    ws.save(fig, "big.png", no_csv=True)  # the picture alone fits
    assert (tmp_path / "big.png").exists()
