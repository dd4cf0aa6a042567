"""The convert tool through the in-memory MCP client: a writing tool, absent on a read-only server."""

import numpy as np
from fastmcp import Client

from schemas import FileProvenance, SaveResult, SummaryResult
from server.app import create_app
from server.settings import Settings


async def test_convert_tool_writes_and_records_lineage(client, root):
    await client.call_tool("save", {"path": "t.csv", "data": {"a": [1, 2, 3], "s": ["x", "y", "z"]}})
    res = SaveResult.model_validate(
        (await client.call_tool("convert", {"src": "t.csv", "dst": "out/t.parquet"})).structured_content)
    assert res.format == "parquet" and res.path == "out/t.parquet" and res.recorded
    summary = SummaryResult.model_validate(
        (await client.call_tool("load_summary", {"path": "out/t.parquet"})).structured_content)
    assert summary.summary.n_rows == 3
    prov = FileProvenance.model_validate(
        (await client.call_tool("file_provenance", {"path": "out/t.parquet"})).structured_content)
    assert prov.records[0].operation == "convert" and prov.records[0].inputs[0].path == "t.csv"
    np.save(root / "a.npy", np.arange(6).reshape(2, 3))
    await client.call_tool("convert", {"src": "a.npy", "dst": "a.h5"})
    again = await client.call_tool("convert", {"src": "a.npy", "dst": "a.h5"}, raise_on_error=False)
    assert again.is_error and again.content[0].text.startswith("EXISTS:")
    await client.call_tool("convert", {"src": "a.npy", "dst": "a.h5", "overwrite": True})
    bad = await client.call_tool("convert", {"src": "a.npy", "dst": "a.weird"}, raise_on_error=False)
    assert bad.is_error and bad.content[0].text.startswith("FORMAT_UNKNOWN:")
    tool = {t.name: t for t in await client.list_tools()}["convert"]
    assert tool.annotations.read_only_hint is False and tool.annotations.destructive_hint is True
    assert tool.output_schema is not None


async def test_read_only_server_has_no_convert_tool(root):
    async with Client(create_app(Settings(roots=[root], read_only=True))) as c:
        names = {t.name for t in await c.list_tools()}
    assert "convert" not in names and "save" not in names and "load_summary" in names
