"""file_provenance, verify_file, cache_info, clear_cache through FastMCP's in-memory client."""

import os
import subprocess
import time

import numpy as np
import pytest
from fastmcp import Client

import io_core.workspace
from io_core import Workspace
from io_core.fileid import settled, stamp
from schemas import CacheCleared, CacheInfo, FileProvenance, SaveResult, VerifyResult
from server.app import create_app
from server.settings import Settings
from tests.server.conftest import CORE_CASES


def sha256sum(path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


async def call(client, tool, args, model):
    return model.model_validate((await client.call_tool(tool, args)).structured_content)


async def test_annotations_and_output_schemas(client):
    tools = {t.name: t for t in await client.list_tools()}
    for name in ("file_provenance", "verify_file", "cache_info"):
        assert tools[name].annotations.read_only_hint is True and tools[name].annotations.idempotent_hint is True
        assert tools[name].output_schema.get("type") == "object"
    clear = tools["clear_cache"].annotations
    assert (clear.read_only_hint, clear.destructive_hint, clear.idempotent_hint) == (False, False, True)


@pytest.mark.parametrize(("name", "data", "extra", "kind"), CORE_CASES, ids=[c[0] for c in CORE_CASES])
async def test_saved_hash_is_sha256sum_and_verifies_ok(client, root, name, data, extra, kind):
    saved = await call(client, "save", {"path": name, "data": data, **extra}, SaveResult)
    assert saved.sha256 == sha256sum(root / name) and saved.recorded
    verified = await call(client, "verify_file", {"path": name}, VerifyResult)
    assert verified.status == "OK" and verified.sha256 == verified.recorded_sha256 == saved.sha256


async def test_a_change_behind_the_servers_back_reads_modified(client, root):
    await client.call_tool("save", {"path": "m.npy", "data": [[1, 2], [3, 4]]})
    path = root / "m.npy"
    st = path.stat()
    np.save(path, np.array([[1, 2], [3, 5]]))  # same size; then the old mtime is put back
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    res = await call(client, "verify_file", {"path": "m.npy"}, VerifyResult)
    assert res.status == "MODIFIED" and res.sha256 == sha256sum(path) and res.recorded_sha256 != res.sha256

    (root / "stranger.csv").write_text("a\n1\n")
    res = await call(client, "verify_file", {"path": "stranger.csv"}, VerifyResult)
    assert res.status == "UNKNOWN" and res.recorded_sha256 is None and res.sha256 == sha256sum(root / "stranger.csv")

    err = await client.call_tool("verify_file", {"path": "nope.npy"}, raise_on_error=False)
    assert err.is_error and err.content[0].text.startswith("FILE_NOT_FOUND:")


async def test_file_provenance_lists_history_newest_first_without_contents(client, root):
    first = await call(client, "save", {"path": "r.json", "data": {"secret": "s1"}}, SaveResult)
    second = await call(client, "save", {"path": "r.json", "data": {"secret": "s2"}, "overwrite": True}, SaveResult)
    prov = await call(client, "file_provenance", {"path": "r.json"}, FileProvenance)
    assert prov.exists and prov.n_records == 2 and prov.ledger == ".sciio/ledger.sqlite"
    assert [r.sha256 for r in prov.records] == [second.sha256, first.sha256]
    assert prov.records[0].arguments == {"format": "json", "overwrite": True, "dtype": None}
    assert "s1" not in str(prov.model_dump()) and "s2" not in str(prov.model_dump())
    one = await call(client, "file_provenance", {"path": "r.json", "limit": 1}, FileProvenance)
    assert len(one.records) == 1 and one.truncated
    unknown = await call(client, "file_provenance", {"path": "never/saved.npy"}, FileProvenance)
    assert not unknown.exists and unknown.records == []


@pytest.mark.parametrize("tool", ["verify_file", "file_provenance", "save"])
async def test_the_ledger_folder_is_out_of_reach(client, root, tool):
    await client.call_tool("save", {"path": "seed.npy", "data": [1]})
    args = {"path": ".sciio/ledger.sqlite"} | ({"data": "x", "overwrite": True, "format": "text"} if tool == "save" else {})
    res = await client.call_tool(tool, args, raise_on_error=False)
    assert res.is_error and res.content[0].text.startswith("PATH_OUTSIDE_ROOT:")
    assert (await call(client, "verify_file", {"path": "seed.npy"}, VerifyResult)).status == "OK"


async def test_cache_tools_report_and_clear_the_servers_cache(root, monkeypatch):
    made: list[Workspace] = []

    class Capturing(Workspace):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(io_core.workspace, "Workspace", Capturing)  # what Settings.workspace_factory builds
    np.save(root / "c.npy", np.arange(1000))
    while not settled(stamp(root / "c.npy")):
        time.sleep(0.005)
    async with Client(create_app(Settings(roots=[root], cache_bytes=4 * 1024 * 1024))) as c:
        (ws,) = made
        empty = await call(c, "cache_info", {}, CacheInfo)
        assert (empty.enabled, empty.entries, empty.bytes, empty.max_bytes) == (True, 0, 0, 4 * 1024 * 1024)
        ws.load("c.npy")
        ws.load("c.npy")
        info = await call(c, "cache_info", {}, CacheInfo)
        assert (info.hits, info.misses, info.entries, info.bytes) == (1, 1, 1, 8000)
        cleared = await call(c, "clear_cache", {}, CacheCleared)
        assert (cleared.entries_removed, cleared.bytes_freed) == (1, 8000)
        again = await call(c, "clear_cache", {}, CacheCleared)  # idempotent
        assert (again.entries_removed, again.bytes_freed) == (0, 0)
        assert (await call(c, "cache_info", {}, CacheInfo)).entries == 0


async def test_read_only_server_answers_provenance_without_creating_a_ledger(root):
    (root / "a.txt").write_text("hello")
    async with Client(create_app(Settings(roots=[root], read_only=True))) as c:
        res = await call(c, "verify_file", {"path": "a.txt"}, VerifyResult)
        assert res.status == "UNKNOWN"
        prov = await call(c, "file_provenance", {"path": "a.txt"}, FileProvenance)
        assert prov.n_records == 0
        assert not (await c.call_tool("clear_cache", {})).is_error
    assert not (root / ".sciio").exists()


def test_cache_bytes_flag_reaches_the_settings():
    from server.cli import parse_args

    assert parse_args(["--cache-bytes", "64MiB"]).cache_bytes == 64 * 1024 * 1024
    assert parse_args(["--cache-bytes", "0"]).cache_bytes == 0
    assert Settings(cache_bytes=123).cache_bytes == 123
    assert Settings().cache_bytes == 512 * 1024 * 1024
    with pytest.raises(SystemExit):
        parse_args(["--cache-bytes", "lots"])
