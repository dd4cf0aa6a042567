"""Arguments that fail validation come back as ``INVALID_ARGUMENT: ... Hint: e.g. <a call that passes>``.

Driven by each tool's advertised input schema, so a new tool is covered without editing
this file. Also: JSON text sent as ``save``'s ``data`` is parsed for non-text formats.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from schemas import SummaryResult
from tests.server.conftest import child_env, installed_command

PYDANTIC_NOISE = ("errors.pydantic.dev", "validation error for", "[type=")


def text_of(result) -> str:
    assert result.is_error, result
    return result.content[0].text


def hint_call(text: str, tool: str) -> dict:
    """The example call in the hint, as arguments."""
    marker = f"Hint: e.g. {tool} "
    assert marker in text, text
    return json.loads(text.split(marker, 1)[1])


def assert_coded(text: str, *named: str) -> None:
    assert text.startswith("INVALID_ARGUMENT: "), text
    assert not any(noise in text for noise in PYDANTIC_NOISE), text
    for name in named:
        assert repr(name) in text.split(" Hint: ")[0], (name, text)


async def tools(client) -> dict:
    return {t.name: t for t in await client.list_tools()}


async def test_unknown_argument_on_every_tool_names_it_and_hints_a_call_that_validates(client):
    for name, tool in (await tools(client)).items():
        res = await client.call_tool(name, {"no_such_argument": 1}, raise_on_error=False)
        text = text_of(res)
        assert_coded(text, "no_such_argument")
        for prop in tool.input_schema.get("properties", {}):
            assert prop in text  # the message lists what the tool takes
        example = hint_call(text, name)
        assert set(tool.input_schema.get("required", [])) <= set(example)
        again = await client.call_tool(name, example, raise_on_error=False)
        # the example passes validation: whatever happens next is not an argument error
        assert not (again.is_error and again.content[0].text.startswith("INVALID_ARGUMENT")), (name, example, again)


def wrong_value(schema: dict):
    """A value of the wrong JSON type for ``schema`` (or None when anything goes)."""
    kinds = {b.get("type") for b in schema.get("anyOf", [schema])}
    if kinds & {"integer", "number", "boolean"}:
        return {"nested": "object"}
    if "string" in kinds or "array" in kinds:
        return {"nested": "object"} if "object" not in kinds else None
    return None


async def test_wrongly_typed_argument_on_every_tool_says_what_was_expected(client):
    checked = 0
    for name, tool in (await tools(client)).items():
        props = tool.input_schema.get("properties", {})
        for prop, schema in props.items():
            bad = wrong_value(schema)
            if bad is None:
                continue
            args = {**hint_call(text_of(await client.call_tool(name, {"x_": 0}, raise_on_error=False)), name), prop: bad}
            text = text_of(await client.call_tool(name, args, raise_on_error=False))
            assert_coded(text, prop)
            assert "expects" in text and '{"nested": "object"}' in text, text
            example = hint_call(text, name)
            assert prop in example and example[prop] != bad
            checked += 1
    assert checked >= 20


async def test_out_of_range_and_missing_arguments(client):
    text = text_of(await client.call_tool("find_files", {"pattern": "*", "limit": -5}, raise_on_error=False))
    assert_coded(text, "limit")
    assert "an integer >= 0" in text and "got -5" in text
    assert hint_call(text, "find_files")["limit"] >= 0

    text = text_of(await client.call_tool("load_summary", {}, raise_on_error=False))
    assert_coded(text, "path")
    assert "missing required argument" in text and "a string" in text
    assert isinstance(hint_call(text, "load_summary")["path"], str)


async def test_refusal_is_logged_at_info_with_its_code(client, caplog):
    caplog.set_level(logging.INFO)
    await client.call_tool("load_summary", {"path": 3}, raise_on_error=False)
    access = [r for r in caplog.records if r.name == "sciio_mcp.access"]
    assert access and access[-1].code == "INVALID_ARGUMENT" and access[-1].outcome == "error"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- save: JSON text as data ------------------------------------------------------------------

async def test_json_text_as_array_data_is_parsed(client, root):
    res = await client.call_tool("save", {"path": "a.npy", "data": "[[1, 2], [3, 4]]", "dtype": "int16"})
    assert not res.is_error
    arr = np.load(root / "a.npy")
    assert arr.shape == (2, 2) and arr.dtype == np.int16 and arr[1, 1] == 4


async def test_json_text_as_table_and_document_data_is_parsed(client, root):
    await client.call_tool("save", {"path": "t.csv", "data": '{"a": [1, 2, 3], "b": ["x", "y", "z"]}'})
    assert (root / "t.csv").read_text().splitlines()[0] == "a,b"
    await client.call_tool("save", {"path": "d.json", "data": '{"lr": 0.1}'})
    assert json.loads((root / "d.json").read_text()) == {"lr": 0.1}


async def test_text_that_is_not_json_is_refused_for_arrays_but_kept_for_text_and_documents(client, root):
    text = text_of(await client.call_tool("save", {"path": "b.npy", "data": "hello"}, raise_on_error=False))
    assert text.startswith("INVALID_DATA: ") and "not JSON" in text and "Hint: " in text
    assert not (root / "b.npy").exists()
    await client.call_tool("save", {"path": "n.txt", "data": "[1, 2]"})
    assert (root / "n.txt").read_text() == "[1, 2]"  # text formats keep the string as written
    await client.call_tool("save", {"path": "s.json", "data": "just words"})
    assert json.loads((root / "s.json").read_text()) == "just words"
    res = await client.call_tool("load_summary", {"path": "n.txt"})
    assert SummaryResult.model_validate(res.structured_content).summary.kind == "text"


# -- through the official SDK over stdio -----------------------------------------------------

async def test_official_sdk_client_gets_the_coded_error(root):
    cmd = installed_command()
    params = StdioServerParameters(command=cmd[0], args=[*cmd[1:], "--root", str(root)], env=child_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        res = await session.call_tool("read_slice", {"path": "x.npy", "limit": "many"})
        assert res.is_error
        text = res.content[0].text
        assert_coded(text, "limit")
        assert hint_call(text, "read_slice")["path"]


@pytest.mark.parametrize("schema, expected", [
    ({"type": "integer", "minimum": 0, "maximum": 10}, "an integer >= 0 and <= 10"),
    ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "a string or null"),
    ({"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}, "a list of strings or null"),
    ({"enum": ["a", "b"]}, 'one of "a", "b"'),
])
def test_expected_phrases(schema, expected):
    from server.validation import expected as phrase

    assert phrase(schema) == expected
