"""The text block of tool results: the structured content's facts as lines (server.text_block)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastmcp import Client

from server.app import create_app
from server.settings import Settings
from server.text_block import carries, render


def leaves(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def test_render_keeps_every_value_and_quotes_what_would_be_ambiguous():
    data = {
        "path": "a b.csv", "n": 3, "ok": False, "none": None, "empty": "", "num_text": "12", "dash": "-",
        "shape": [2, 3], "nested": {"deep": {"x": 1.5}},
        "columns": [{"name": "t", "dtype": "float64", "stats": {"min": -1.0, "max": 2.5}},
                    {"name": "label", "dtype": "object"}],
        "children": [{"name": "g", "kind": "group", "children": [{"name": "d", "kind": "dataset", "shape": [4]}]}],
        "matrix": [[1, 2], [3, 4]],
    }
    text = render(data)
    for leaf in leaves(data):
        shown = json.dumps(leaf) if leaf is None or isinstance(leaf, bool) or leaf in ("", "12", "-", "a b.csv") \
            else str(leaf)
        assert shown in text, (leaf, text)
    assert '"a b.csv"' in text and '""' in text and '"12"' in text and '"-"' in text  # strings stay strings
    assert "name dtype stats.min stats.max" in text  # a list of objects is a table
    assert "label object - -" in text  # a missing field is '-'
    assert "g.children: 1 items" in text  # what does not fit a cell follows the table
    assert carries(text, data)
    assert len(json.dumps(text)) < len(json.dumps(json.dumps(data, separators=(",", ":"))))  # on the wire


@pytest.fixture
def data_dir(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(1000, dtype="float64"))
    (tmp_path / "t.csv").write_text("x,y\n" + "".join(f"{i},{i * 0.5}\n" for i in range(50)))
    return tmp_path


async def test_tool_results_carry_the_facts_once_as_lines(data_dir):
    async with Client(create_app(Settings(roots=[data_dir], hdf5_workers=0))) as c:
        for tool, args in [("load_summary", {"path": "t.csv"}), ("load_summary", {"path": "a.npy"}),
                           ("list_formats", {}), ("list_formats", {})]:  # the cached list_formats answer twice
            result = await c.call_tool(tool, args)
            text = result.content[0].text
            assert not text.startswith("{")  # not a second JSON copy
            assert text == render(result.structured_content)
            for leaf in leaves(result.structured_content):
                assert str(leaf).lower() in text.lower() or leaf is None
            assert len(json.dumps(text)) < len(json.dumps(json.dumps(result.structured_content, separators=(",", ":"))))
        refused = await c.call_tool("load_summary", {"path": "missing.csv"}, raise_on_error=False)
        assert refused.is_error and refused.content[0].text.startswith("FILE_NOT_FOUND")
