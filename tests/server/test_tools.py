"""The server through FastMCP's in-memory client: contract, round trips, error mapping."""

import numpy as np
import pytest
from fastmcp import Client

import io_core
from schemas import FormatList, RootsInfo, SaveResult, SummaryResult
from server.app import create_app
from server.settings import Settings
from tests.server.conftest import CORE_CASES, json_size

# the tool contract of DESIGN.md: names are stable, clients depend on them
CONTRACT = {
    "list_roots", "list_formats", "load_summary", "read_slice", "preview_image", "save", "convert",
    "explore_h5", "explore_zarr", "read_metadata", "embed_metadata", "load_configs", "find_files",
    "file_provenance", "verify_file", "cache_info", "clear_cache",
}
WRITING = {"save", "convert", "embed_metadata", "record_trial"}  # write files: not offered by a read-only server
HOUSEKEEPING = {"clear_cache"}  # changes server state, writes no file
IMAGE_ONLY = {"preview_image"}  # returns MCP image content, no structured result


async def test_tools_advertise_output_schemas_and_annotations(client):
    tools = {t.name: t for t in await client.list_tools()}
    assert CONTRACT <= set(tools)
    for name, tool in tools.items():
        if name not in IMAGE_ONLY:
            assert tool.output_schema and tool.output_schema.get("type") == "object", name
        hints = tool.annotations
        if name in WRITING:
            assert hints.read_only_hint is False and hints.destructive_hint is True, name
        elif name in HOUSEKEEPING:
            assert hints.read_only_hint is False and not hints.destructive_hint, name
        else:
            assert hints.read_only_hint is True and hints.idempotent_hint is True, name


@pytest.mark.parametrize(("name", "data", "extra", "kind"), CORE_CASES, ids=[c[0] for c in CORE_CASES])
async def test_save_then_summary_round_trip(client, root, name, data, extra, kind):
    saved = SaveResult.model_validate((await client.call_tool("save", {"path": name, "data": data, **extra})).structured_content)
    assert saved.path == name and saved.size_bytes == (root / name).stat().st_size > 0
    result = await client.call_tool("load_summary", {"path": name})
    summary = SummaryResult.model_validate(result.structured_content)
    assert summary.summary.kind == kind
    assert summary.size_bytes == saved.size_bytes
    # what the tool wrote is what the library reads back
    loaded = io_core.load(root / name)
    if name.endswith(".npy"):
        assert loaded.dtype == np.int16 and loaded.tolist() == data
        assert summary.summary.shape == [2, 3] and summary.summary.stats.max == 6
    elif kind == "frame":
        assert summary.summary.n_rows == len(loaded) and [c.name for c in summary.summary.columns] == list(loaded.columns)
    elif kind == "text":
        assert loaded == data and summary.summary.head == data
    elif kind == "value":
        assert loaded == data


async def test_load_summary_key_addresses_members(client, root):
    await client.call_tool("save", {"path": "c.h5", "data": {"g": {"y": [[1, 2], [3, 4]]}}})
    res = SummaryResult.model_validate((await client.call_tool("load_summary", {"path": "c.h5", "key": "/g/y"})).structured_content)
    assert res.summary.kind == "array" and res.summary.shape == [2, 2] and res.summary.head == [1, 2, 3, 4]
    err = await client.call_tool("load_summary", {"path": "c.h5", "key": "/nope"}, raise_on_error=False)
    assert err.is_error and err.content[0].text.startswith("KEY_NOT_FOUND:")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ({"path": "../outside.npy"}, "PATH_OUTSIDE_ROOT"),
        ({"path": "/etc/passwd"}, "PATH_OUTSIDE_ROOT"),
        ({"path": "~/x.npy"}, "PATH_OUTSIDE_ROOT"),
        ({"path": "missing.npy"}, "FILE_NOT_FOUND"),
        ({"path": "garbage.npy"}, "CORRUPT_FILE"),
        ({"path": "thing.unknownext"}, "FORMAT_UNKNOWN"),
        ({"path": "garbage.npy", "format": "nosuchformat"}, "FORMAT_UNKNOWN"),
    ],
)
async def test_errors_reach_the_client_as_coded_tool_errors(client, root, args, code):
    (root / "garbage.npy").write_bytes(b"\x00garbage" * 10)
    (root / "thing.unknownext").write_text("?")
    res = await client.call_tool("load_summary", args, raise_on_error=False)
    assert res.is_error
    text = res.content[0].text
    assert text.startswith(code + ":") and "Hint:" in text and "Traceback" not in text
    # the server keeps serving
    ok = await client.call_tool("list_roots", {})
    assert not ok.is_error


async def test_save_refuses_overwrite_and_bad_data_keeping_the_old_file(client, root):
    await client.call_tool("save", {"path": "k.npy", "data": [1, 2, 3]})
    before = (root / "k.npy").read_bytes()
    exists = await client.call_tool("save", {"path": "k.npy", "data": [9]}, raise_on_error=False)
    assert exists.is_error and exists.content[0].text.startswith("EXISTS:")
    ragged = await client.call_tool("save", {"path": "k.npy", "data": [[1, 2], [3]], "overwrite": True}, raise_on_error=False)
    assert ragged.is_error and ragged.content[0].text.startswith("INVALID_DATA:")
    assert (root / "k.npy").read_bytes() == before
    assert sorted(p.name for p in root.iterdir()) == [".sciio", "k.npy"]  # .sciio: the provenance ledger
    replaced = SaveResult.model_validate(
        (await client.call_tool("save", {"path": "k.npy", "data": [7], "overwrite": True})).structured_content
    )
    assert replaced.overwritten and io_core.load(root / "k.npy").tolist() == [7]


async def test_unexpected_failures_are_masked(root, monkeypatch):
    from io_core.workspace import Workspace

    def broken(self):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Workspace, "roots_info", broken)
    async with Client(create_app(Settings(roots=[root]))) as c:
        res = await c.call_tool("list_roots", {}, raise_on_error=False)
        assert res.is_error
        text = res.content[0].text
        assert text.startswith("INTERNAL_ERROR:") and "secret" not in text and "Traceback" not in text
        assert not (await c.call_tool("list_formats", {})).is_error


async def test_a_plugin_failing_to_save_is_invalid_data_and_writes_nothing(client, root):
    def exploding_saver(data, path):
        path.write_bytes(b"partial")
        raise RuntimeError("plugin cannot store this")

    io_core.register_saver(".boom", exploding_saver)
    try:
        res = await client.call_tool("save", {"path": "x.boom", "data": 1}, raise_on_error=False)
        assert res.is_error and res.content[0].text.startswith("INVALID_DATA:")
        assert list(root.iterdir()) == []
    finally:
        assert io_core.unregister_saver(".boom")


async def test_read_only_server_offers_no_writing_tool(root):
    async with Client(create_app(Settings(roots=[root], read_only=True))) as c:
        names = {t.name for t in await c.list_tools()}
        assert CONTRACT - WRITING <= names and not names & WRITING
        info = RootsInfo.model_validate((await c.call_tool("list_roots", {})).structured_content)
        assert info.read_only and info.roots[0].path == str(root.resolve())


async def test_list_formats_is_complete_and_honest(client):
    formats = FormatList.model_validate((await client.call_tool("list_formats", {})).structured_content)
    exts = {e for f in formats.formats if f.available and {"load", "save", "summarize"} <= set(f.operations) for e in f.extensions}
    for ext in (".npy", ".npz", ".csv", ".tsv", ".json", ".yaml", ".yml", ".txt", ".md", ".log", ".parquet", ".h5", ".hdf5"):
        assert ext in exts
    assert formats.n_available == sum(f.available for f in formats.formats)


async def test_summaries_stay_within_the_response_budget(root):
    import pandas as pd

    pd.DataFrame(np.zeros((3, 3000)), columns=[f"column_{i:05d}" for i in range(3000)]).to_csv(root / "wide.csv", index=False)
    (root / "long.txt").write_text("x" * 1_000_000)
    budget = 8192
    async with Client(create_app(Settings(roots=[root], max_response_bytes=budget))) as c:
        for name in ("wide.csv", "long.txt"):
            res = await c.call_tool("load_summary", {"path": name})
            assert json_size(res.structured_content) <= budget
            summary = SummaryResult.model_validate(res.structured_content).summary
            assert summary.columns_truncated if name == "wide.csv" else summary.truncated
