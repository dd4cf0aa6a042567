"""Compact answers (issue 11 point 3), through the in-memory client: what an agent receives is small and still true.

Sizes are of the structured content (the text block carries the same facts as lines: server.text_block). Every result
here is also checked against the output schema tools/list advertises, as clients do.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from fastmcp import Client

from schemas import ArraySummary, ExploreResult, FrameSummary, SliceResult, Stats, SummaryResult
from schemas.compact import round_sig
from schemas.models import ColumnInfo
from server import text_block
from server.app import create_app
from server.settings import Settings
from tests.server.conftest import json_size

ROWS, COLUMNS = 100_000, 10  # ~9 MB of CSV: above the size read whole, so stats come from a spread sample


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    import h5py
    import pandas as pd

    root = tmp_path_factory.mktemp("compact")
    rng = np.random.default_rng(0)
    with h5py.File(root / "nested.h5", "w") as f:  # like bench/agent.py: 3 groups x 17 datasets
        f.attrs["instrument"] = "bench"
        for g in range(3):
            group = f.create_group(f"run{g}")
            group.attrs["started"] = f"2026-01-0{g + 1}T10:00:00"
            for d in range(17):
                shape = [(100,), (64, 64), (10, 3, 5)][d % 3]
                values = rng.standard_normal(shape).astype(["float64", "float32", "int16"][d % 3])
                ds = group.create_dataset(f"signal_{d:02d}", data=values, **({"chunks": True, "compression": "gzip"}
                                                                                if d % 2 else {}))
                ds.attrs["units"] = "mV"
                ds.attrs["rate_hz"] = 1000.0
    frame = pd.DataFrame({"id": np.arange(ROWS)})
    for c in range(1, COLUMNS):
        frame[f"x{c}"] = rng.standard_normal(ROWS).round(6)
    frame.to_csv(root / "rows.csv", index=False)
    np.save(root / "values.npy", rng.standard_normal(1000))
    with_nan = rng.standard_normal(50)
    with_nan[[3, 7]] = np.nan
    np.save(root / "nan.npy", with_nan)
    return root


@pytest.fixture
async def client(data: Path):
    async with Client(create_app(Settings(roots=[data]))) as c:
        yield c


async def schemas_of(client) -> dict[str, dict]:
    return {t.name: t.output_schema for t in await client.list_tools()}


async def call(client, tool: str, **args) -> dict:
    """A result's structured content, validated against the output schema tools/list advertises."""
    result = await client.call_tool(tool, args)
    schema = (await schemas_of(client))[tool]
    jsonschema.validate(result.structured_content, schema)
    assert text_block.carries(result.content[0].text, result.structured_content)  # the same facts, as lines
    return result.structured_content


def floats(value) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in floats(v)]
    return []


# -- sizes --------------------------------------------------------------------------------------

async def test_explore_of_51_datasets_is_a_few_kilobytes(client):
    res = await call(client, "explore_h5", path="nested.h5", depth=2)
    assert json_size(res) <= 5_000  # was ~15 KB; issue 11: <= 10 KB (both copies: ~2x)
    groups = res["node"]["children"]
    assert [g["name"] for g in groups] == ["run0", "run1", "run2"] and all(len(g["children"]) == 17 for g in groups)
    row = groups[0]["children"][1]
    assert row == {"name": "signal_01", "kind": "dataset", "shape": [64, 64], "dtype": "<f4", "chunks": [32, 64],
                   "compression": "gzip"}


async def test_summary_of_a_10_column_table_is_small_and_says_sampled_once(client):
    res = await call(client, "load_summary", path="rows.csv")
    assert json_size(res) <= 2_500  # issue 11: <= 3 KB
    summary = res["summary"]
    shared = summary["shared_stats"]
    assert shared["exact"] is False and 0 < shared["sampled_fraction"] < 1 and shared["count"] > 0
    for column in summary["columns"]:
        assert set(column["stats"]) == {"min", "max", "mean", "std"}  # nothing repeated, nothing zero
        assert "null_count" not in column  # 0 nulls
    ids = summary["columns"][0]["stats"]
    assert isinstance(ids["max"], int) and ids["max"] >= 0.99 * (ROWS - 1)  # integer column: integer min/max
    assert 3 <= len(summary["head"]) <= 5 and summary["head"][0]["id"] == 0
    back = SummaryResult.model_validate(res).summary  # shared_stats go back into each column's Stats
    assert isinstance(back, FrameSummary) and all(not c.stats.exact for c in back.columns)
    assert back.columns[3].stats.count == shared["count"]


async def test_tools_list_is_small(client):
    """Issue 11: tools/list <= 20 KB whole, <= 10 KB for names, descriptions and input schemas."""
    tools = await client.list_tools()
    core = sum(json_size({"name": t.name, "description": t.description, "inputSchema": t.input_schema})
               for t in tools)
    whole = sum(json_size(t.model_dump(mode="json", by_alias=True, exclude_none=True)) for t in tools)
    assert core <= 10_000 and whole <= 20_000, (core, whole, len(tools))
    for tool in tools:
        params = json.dumps(tool.input_schema)
        assert '"default": null' not in params and '"title"' not in params and "$ref" not in params, tool.name
        assert '"default": false' not in params and '"default": 0,' not in params, tool.name  # what absent means
        assert tool.title != tool.name.replace("_", " ").title() and tool.meta != {"fastmcp": {"tags": []}}, tool.name


# -- floats ---------------------------------------------------------------------------------------

async def test_summary_floats_have_7_significant_digits_slices_keep_all(client, data):
    summary = (await call(client, "load_summary", path="values.npy"))["summary"]
    values = floats(summary)
    assert values and all(v == round_sig(v, 7) for v in values)
    assert any(v != round_sig(v, 6) for v in values)  # 7 digits, not fewer
    exact = np.load(data / "values.npy")
    assert summary["stats"]["mean"] == pytest.approx(exact.mean(), rel=1e-6)

    full = (await call(client, "read_slice", path="values.npy", selection="0:20"))["slice"]["values"]
    assert full == exact[:20].tolist()  # slices keep full precision
    short = (await call(client, "read_slice", path="values.npy", selection="0:20", digits=3))["slice"]["values"]
    assert short == [float(f"{v:.3g}") for v in exact[:20]]
    rows = (await call(client, "read_slice", path="rows.csv", limit=3, digits=2))["slice"]["rows"]
    assert rows[1]["x1"] == float(f"{rows[1]['x1']:.2g}") and rows[2]["id"] == 2


def test_round_sig_keeps_ints_strings_and_non_finite():
    value = {"a": [1, 2.123456789, "x", True], "b": {"c": math.inf}, "d": 123456789.0}
    assert round_sig(value, 3) == {"a": [1, 2.12, "x", True], "b": {"c": math.inf}, "d": 123000000.0}


# -- omitted fields -----------------------------------------------------------------------------

async def test_zero_and_default_fields_are_left_out(client):
    stats = (await call(client, "load_summary", path="values.npy"))["summary"]["stats"]
    assert set(stats) == {"min", "max", "mean", "std", "count"}  # exact: true, nan/inf 0, fraction 1 left out
    nan = (await call(client, "load_summary", path="nan.npy"))["summary"]
    assert nan["stats"]["nan_count"] == 2 and "inf_count" not in nan["stats"] and nan["stats"]["count"] == 48
    assert ArraySummary.model_validate(nan).stats.inf_count == 0  # an omitted count means 0
    res = await call(client, "load_summary", path="nested.h5", key="/run0/signal_00")
    assert "key" in res and "fortran_order" not in res["summary"] and "note" not in res["summary"]
    assert "null" not in json.dumps(res)  # null fields are left out


def test_stats_differing_from_the_shared_ones_say_so():
    sampled = Stats(min=0, max=1, mean=0.5, std=0.1, count=10, exact=False, sampled_fraction=0.25)
    exact = sampled.model_copy(update={"exact": True, "sampled_fraction": 1.0, "count": 40})
    frame = FrameSummary(n_rows=40, n_columns=3, columns=[
        ColumnInfo(name="a", dtype="f8", stats=sampled), ColumnInfo(name="b", dtype="f8", stats=exact),
        ColumnInfo(name="c", dtype="f8", stats=sampled, null_count=None)])
    data = frame.model_dump(mode="json")
    assert data["shared_stats"] == {"exact": False, "sampled_fraction": 0.25, "count": 10}
    assert "exact" not in data["columns"][0]["stats"] and data["columns"][1]["stats"]["exact"] is True
    assert data["columns"][1]["stats"]["count"] == 40 and data["columns"][2]["null_count"] is None  # null: unknown
    assert FrameSummary.model_validate(data) == frame
    assert frame.model_dump(context={"full": True})["columns"][0]["stats"]["nan_count"] == 0  # the plain dump


# -- explore: rows by default, detail on request ---------------------------------------------------

async def test_explore_rows_and_detail(client):
    rows = ExploreResult.model_validate(await call(client, "explore_h5", path="nested.h5", depth=2))
    top = rows.node
    assert top.attrs == {"instrument": "bench"}  # the node asked for keeps its detail
    child = top.children[0].children[0]
    assert child.path is None and child.attrs == {} and child.fill_value is None and child.nbytes is None
    detail = ExploreResult.model_validate(await call(client, "explore_h5", path="nested.h5", depth=2, detail=True))
    full = detail.node.children[0].children[1]
    assert full.path == "/run0/signal_01" and full.attrs == {"rate_hz": 1000.0, "units": "mV"}
    assert full.fill_value == 0.0 and full.filters[0].name == "gzip" and full.nbytes == 64 * 64 * 4
    one = ExploreResult.model_validate(await call(client, "explore_h5", path="nested.h5", group="/run0/signal_01",
                                                  depth=0))
    assert one.node.attrs == full.attrs and one.node.filters == full.filters  # one node asked for: in detail


async def test_explore_zarr_rows(client, data):
    import zarr

    root = zarr.open_group(str(data / "s.zarr"), mode="w")
    root.attrs["about"] = "x"
    arr = root.create_array("a", shape=(100,), chunks=(10,), dtype="f8", fill_value=1.5)
    arr.attrs["unit"] = "m"
    res = await call(client, "explore_zarr", path="s.zarr")
    assert res["node"]["attrs"] == {"about": "x"}
    row = res["node"]["children"][0]
    assert row["name"] == "a" and row["chunks"] == [10] and "attrs" not in row and "fill_value" not in row
    detail = await call(client, "explore_zarr", path="s.zarr", detail=True)
    assert detail["node"]["children"][0]["attrs"] == {"unit": "m"} and detail["node"]["children"][0]["fill_value"] == 1.5


# -- every tool's result still validates against its advertised schema ------------------------------

async def test_results_validate_against_the_advertised_schemas(client, data):
    await call(client, "list_roots")
    await call(client, "list_formats")
    await call(client, "cache_info")
    await call(client, "find_files", pattern="*.npy")
    await call(client, "key_exists", path="nested.h5", key="/run0/nope")
    await call(client, "load_summary", path="nested.h5")
    await call(client, "read_slice", path="rows.csv", offset=10, limit=5)
    saved = await call(client, "save", path="out/t.csv", data={"a": [1.5, 2.5], "b": ["x", "y"]})
    assert "overwritten" in saved and "recorded" not in saved or saved["recorded"] is True
    await call(client, "file_provenance", path="out/t.csv")
    await call(client, "verify_file", path="out/t.csv")
    SliceResult.model_validate(await call(client, "read_slice", path="out/t.csv"))


def test_sampled_stats_carry_only_the_digits_their_sample_supports():
    """Mean to the order of its standard error, std to that of its own; exact stats keep 7 significant digits."""
    sampled = Stats(min=-4.106408, max=3.976318, mean=0.01007739, std=1.006332, count=11419, exact=False,
                    sampled_fraction=0.0114).model_dump(mode="json")
    assert (sampled["mean"], sampled["std"], sampled["min"]) == (0.01, 1.006, -4.106408)  # SE 0.0094, 0.0067
    big = Stats(mean=499557.5, std=293295.9, count=11419, exact=False, sampled_fraction=0.01).model_dump(mode="json")
    assert (big["mean"], big["std"]) == (500000.0, 293000.0)
    exact = Stats(mean=0.01007739123, std=1.00633212, count=11419).model_dump(mode="json")
    assert (exact["mean"], exact["std"]) == (0.01007739, 1.006332)
