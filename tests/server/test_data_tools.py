"""read_slice, preview_image and exact-stats progress through the in-memory MCP client."""

import base64
import io
import json

import numpy as np
from fastmcp import Client
from PIL import Image

from schemas import SliceResult, SummaryResult
from server.app import create_app
from server.settings import Settings
from tests.server.conftest import json_size


async def test_read_slice_tool(client, root):
    np.save(root / "a.npy", np.arange(24).reshape(4, 6))
    res = SliceResult.model_validate(
        (await client.call_tool("read_slice", {"path": "a.npy", "selection": "1:3, -1"})).structured_content
    )
    assert res.slice.values == [11, 17] and res.slice.selection == "1:3, 5"
    await client.call_tool("save", {"path": "t.csv", "data": {"a": list(range(10)), "b": list(range(10, 20))}})
    page = SliceResult.model_validate(
        (await client.call_tool("read_slice", {"path": "t.csv", "offset": 8, "columns": ["b"]})).structured_content
    )
    assert page.slice.rows == [{"b": 18}, {"b": 19}] and page.slice.next_offset is None
    bad = await client.call_tool("read_slice", {"path": "a.npy", "selection": "9"}, raise_on_error=False)
    assert bad.is_error and bad.content[0].text.startswith("INVALID_SELECTION:") and "-4..3" in bad.content[0].text


async def test_read_slice_refuses_over_budget_with_a_suggestion(root):
    np.save(root / "big.npy", np.zeros((1000, 1000)))
    async with Client(create_app(Settings(roots=[root], max_response_bytes=4096))) as c:
        err = await c.call_tool("read_slice", {"path": "big.npy"}, raise_on_error=False)
        assert err.is_error and err.content[0].text.startswith("TOO_LARGE:")
        suggestion = err.content[0].text.split("selection='")[1].split("'")[0]
        ok = await c.call_tool("read_slice", {"path": "big.npy", "selection": suggestion})
        assert json_size(ok.structured_content) <= 4096


async def test_preview_image_returns_image_content_and_caption(client, root):
    np.save(root / "img.npy", np.random.default_rng(0).random((300, 200)))
    res = await client.call_tool("preview_image", {"path": "img.npy", "max_side": 128})
    image_block, caption_block = res.content
    assert image_block.type == "image" and image_block.mime_type == "image/png"
    image = Image.open(io.BytesIO(base64.b64decode(image_block.data)))
    assert max(image.size) <= 128
    caption = json.loads(caption_block.text)
    assert caption["kind"] == "heatmap" and caption["source_shape"] == [300, 200] and 0 <= caption["value_min"] < 0.01
    tools = {t.name: t for t in await client.list_tools()}
    assert tools["preview_image"].output_schema is None  # image content, not structured


async def test_exact_stats_report_progress_to_the_client(client, root):
    data = np.random.default_rng(1).normal(size=(2500, 4000))  # 80 MB: more than one 64 MiB block
    np.save(root / "n.npy", data)
    seen = []

    async def on_progress(progress, total, message):
        seen.append((progress, total))

    res = await client.call_tool("load_summary", {"path": "n.npy", "exact_stats": True}, progress_handler=on_progress)
    stats = SummaryResult.model_validate(res.structured_content).summary.stats
    assert stats.exact and stats.count == data.size and abs(stats.mean - data.mean()) < 1e-9
    assert len(seen) >= 2 and seen[-1][0] == seen[-1][1] == data.nbytes
