"""The result store through the server (in-memory FastMCP client): lookup_result, browsing, failures."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import h5py
import numpy as np
import pytest
from corelay.io.hashing import ext_hash
from corelay.io.storage import HashedHDF5
from fastmcp import Client

from io_core import Workspace
from io_core.stores.results import ResultStore
from io_core.stores.results_lookup import ResultLookup
from schemas import SliceResult, SummaryResult
from server.app import create_app
from server.settings import Settings

X = np.linspace(0.0, 1.0, 11)
META = OrderedDict([("name", "Affinity"), ("n_neighbors", 10), ("symmetric", True), ("sigma", 1.5)])
OUT = (np.arange(6.0).reshape(2, 3), (np.ones(3, "f4"), np.array([2, 1, 0])))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    np.save(folder / "x.npy", X)
    with h5py.File(folder / "inputs.h5", "w") as f:
        f["run/x"] = X
    with h5py.File(folder / "corelay.h5", "w") as f:  # written by corelay 1.0.0 itself
        storage = HashedHDF5(f.require_group("affinity"))
        storage.write(OUT, X, META)
        for i in range(30):
            storage.write(np.full(2, i), X + i, OrderedDict(name="Flatten", i=i))
    return folder


@pytest.fixture
async def client(root: Path):
    async with Client(create_app(Settings(roots=[root]))) as c:
        yield c


async def call(client, tool: str, **args):
    return await client.call_tool(tool, args, raise_on_error=False)


def error_code(result) -> str:
    assert result.is_error
    text = result.content[0].text
    assert " Hint: " in text  # every refusal says what to do next
    return text.split(":", 1)[0]


async def test_lookup_finds_a_corelay_entry_with_meta_in_the_processors_order(client):
    result = await call(client, "lookup_result", store="corelay.h5", input="x.npy", group="affinity",
                        meta={"name": "Affinity", "n_neighbors": 10, "symmetric": True, "sigma": 1.5})
    found = ResultLookup.model_validate(result.structured_content)
    assert found.exists and found.scheme == "corelay" and found.pickle_protocol == 4
    assert found.key == ext_hash((X, META))
    assert found.info["meta"] == dict(META) and found.info["input"] == ext_hash(X)
    assert [(d.key, d.shape, d.dtype) for d in found.data] == [
        (f"affinity/{found.key}/data/000", [2, 3], "<f8"), (f"affinity/{found.key}/data/001/000", [3], "<f4"),
        (f"affinity/{found.key}/data/001/001", [3], "<i8")]
    values = await call(client, "read_slice", path="corelay.h5", key=found.data[2].key)
    assert SliceResult.model_validate(values.structured_content).slice.values == [2, 1, 0]
    # the same items in another order are another OrderedDict, hence another corelay key
    other = await call(client, "lookup_result", store="corelay.h5", input="x.npy", group="affinity",
                       meta={"n_neighbors": 10, "name": "Affinity", "symmetric": True, "sigma": 1.5})
    assert not ResultLookup.model_validate(other.structured_content).exists
    # an input given as a member of an HDF5 file; meta as JSON text
    by_key = await call(client, "lookup_result", store="corelay.h5", input="inputs.h5", input_key="run/x",
                        group="affinity", meta=json.dumps(dict(META)))
    assert ResultLookup.model_validate(by_key.structured_content).key == found.key


async def test_lookup_in_a_sha256_store_and_a_stored_result_as_input(client, root):
    ws = Workspace([root])
    with ResultStore("ours.h5", "step1", workspace=ws) as store:
        store.write(OUT, X, {"b": 2, "a": 1})
        first = store.key(X, {"a": 1, "b": 2})
        store.write(np.ones(4), OUT, {"next": True})  # a result whose input is the first result (a tuple)
    found = await call(client, "lookup_result", store="ours.h5", input="x.npy", group="step1", meta={"a": 1, "b": 2})
    assert ResultLookup.model_validate(found.structured_content).model_dump(include={"exists", "scheme", "key"}) == {
        "exists": True, "scheme": "sha256", "key": first}
    chained = await call(client, "lookup_result", store="ours.h5", input="ours.h5", input_key=f"step1/{first}/data",
                         group="step1", meta={"next": True})
    assert ResultLookup.model_validate(chained.structured_content).exists
    wrong = await call(client, "lookup_result", store="ours.h5", input="x.npy", group="step1", scheme="corelay",
                       meta={"a": 1, "b": 2})
    assert error_code(wrong) == "SCHEME_MISMATCH"


async def test_store_files_are_browsed_entry_by_entry(client):
    summary = await call(client, "load_summary", path="corelay.h5", format="result_store")
    stores = SummaryResult.model_validate(summary.structured_content).summary.preview["stores"]
    assert stores == [{"group": "/affinity", "scheme": "corelay (written by corelay: no scheme recorded)",
                       "entries": 31}]
    listed = await call(client, "load_summary", path="corelay.h5", key="affinity", format="result_store")
    preview = SummaryResult.model_validate(listed.structured_content).summary
    assert preview.type == "result_store" and preview.length == 31
    first = preview.preview["entries"][0]
    assert set(first) >= {"key", "meta", "input", "output", "data"} and first["data"][0]["path"] == "data"
    keys, offset = [], 0
    while offset is not None:  # every entry, page by page
        page = await call(client, "read_slice", path="corelay.h5", key="affinity", format="result_store",
                          offset=offset, limit=7)
        rows = SliceResult.model_validate(page.structured_content).slice
        assert rows.total_rows == 31 and len(rows.rows) <= 7
        keys += [row["key"] for row in rows.rows]
        offset = rows.next_offset
    assert len(keys) == len(set(keys)) == 31 and ext_hash((X, META)) in keys
    entry = await call(client, "load_summary", path="corelay.h5", key=f"affinity/{ext_hash((X, META))}",
                       format="result_store")
    described = SummaryResult.model_validate(entry.structured_content).summary.preview
    assert described["meta"] == dict(META) and len(described["data"]) == 3
    tree = await call(client, "explore_h5", path="corelay.h5", group="affinity", limit=5)
    assert tree.structured_content["node"]["n_children"] == 31


async def test_failures_are_coded_through_the_server(client, root):
    missing = await call(client, "lookup_result", store="nope.h5", input="x.npy")
    assert error_code(missing) == "FILE_NOT_FOUND"
    key = ext_hash((X, META))
    with h5py.File(root / "corelay.h5", "a") as f:
        del f["affinity"][key]["input"]
        f["affinity"][key]["input"] = json.dumps("0" * 32)
    collision = await call(client, "lookup_result", store="corelay.h5", input="x.npy", group="affinity",
                           meta=dict(META))
    assert error_code(collision) == "HASH_COLLISION"
    not_store = await call(client, "read_slice", path="inputs.h5", key="run", format="result_store")
    assert error_code(not_store) == "NOT_A_STORE"


async def test_lookup_result_is_a_read_only_tool_offered_read_only(root):
    async with Client(create_app(Settings(roots=[root], read_only=True))) as c:
        tools = {t.name: t for t in await c.list_tools()}
        assert tools["lookup_result"].annotations.read_only_hint is True
        result = await c.call_tool("lookup_result", {"store": "corelay.h5", "input": "x.npy", "group": "affinity",
                                                     "meta": dict(META)})
        assert result.structured_content["exists"] is True
