"""Auth parsing, per-call guards and logging, in memory (the HTTP end to end is test_http.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.middleware.dereference import DereferenceRefsMiddleware

from server import guards, schema_size
from server.app import create_app
from server.auth import (
    LOCAL,
    READ_SCOPE,
    WRITE_SCOPE,
    AuthConfigError,
    Identity,
    build_auth,
    is_loopback,
    parse_token_lines,
)
from server.logs import JsonFormatter
from server.settings import Settings

RO = {"readOnlyHint": True}


# -- tokens and JWT settings -------------------------------------------------------------------

def test_token_lines_with_read_only_suffix_names_and_comments():
    tokens = parse_token_lines(
        "# comment\n\nabcdefghijklmnop0001 alice\nabcdefghijklmnop0002:ro viewer  # trailing\nabcdefghijklmnop0003:rw\n",
        "file")
    infos = [(t.name, t.read_only) for t in tokens.values()]  # in file order
    assert infos[:2] == [("alice", False), ("viewer", True)]
    assert infos[2][0].startswith("tok-") and infos[2][1] is False  # unnamed: a digest prefix, never the token
    assert "abcdefghijklmnop0003" not in infos[2][0]
    assert len(parse_token_lines("abcdefghijklmnop0001 a, abcdefghijklmnop0002:ro b", "env")) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("short", "shorter than 16"),
    ("abcdefghijklmnop:x:ro", "may not contain ':'"),
    ("abcdefghijklmnop0001 a b", "3 fields"),
    ("abcdefghijklmnop0001\nabcdefghijklmnop0001:ro", "repeats"),
])
def test_bad_token_lines_are_refused_without_echoing_them(text, message):
    with pytest.raises(AuthConfigError, match=message) as err:
        parse_token_lines(text, "file")
    assert "abcdefghijklmnop0001" not in str(err.value)


def test_build_auth_sources(tmp_path):
    assert build_auth(Settings(roots=[tmp_path])) is None
    (tmp_path / "tokens").write_text("# nothing yet\n")
    with pytest.raises(AuthConfigError, match="lists no tokens"):
        build_auth(Settings(roots=[tmp_path], token_file=tmp_path / "tokens"))
    with pytest.raises(AuthConfigError, match="cannot read"):
        build_auth(Settings(roots=[tmp_path], token_file=tmp_path / "missing"))
    with pytest.raises(AuthConfigError, match="--jwt-audience"):
        build_auth(Settings(roots=[tmp_path], jwt_secret="s" * 40))
    with pytest.raises(AuthConfigError, match="shorter than 32"):
        build_auth(Settings(roots=[tmp_path], jwt_secret="s" * 10, jwt_audience="a"))
    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(AuthConfigError, match="not both"):
        build_auth(Settings(roots=[tmp_path], jwt_secret="s" * 40, jwt_public_key_file=tmp_path / "key.pem", jwt_audience="a"))
    with pytest.raises(AuthConfigError, match="without"):
        build_auth(Settings(roots=[tmp_path], jwt_audience="a"))


async def test_static_tokens_carry_scopes_and_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("SCIIO_TOKENS", "abcdefghijklmnop0001 alice,abcdefghijklmnop0002:ro viewer")
    verifier = build_auth(Settings(roots=[tmp_path]))
    alice = await verifier.verify_token("abcdefghijklmnop0001")
    viewer = await verifier.verify_token("abcdefghijklmnop0002")
    assert (alice.client_id, alice.scopes) == ("token:alice", [READ_SCOPE, WRITE_SCOPE])
    assert (viewer.client_id, viewer.scopes) == ("token:viewer", [READ_SCOPE])
    assert await verifier.verify_token("abcdefghijklmnop0003") is None


async def test_rs256_jwt_through_fastmcp_jwt_verifier(tmp_path):
    from fastmcp.server.auth.providers.jwt import RSAKeyPair

    pair = RSAKeyPair.generate()
    (tmp_path / "pub.pem").write_text(pair.public_key)
    verifier = build_auth(Settings(roots=[tmp_path], jwt_public_key_file=tmp_path / "pub.pem",
                                   jwt_issuer="https://idp", jwt_audience="sciio"))
    good = await verifier.verify_token(pair.create_token(subject="dana", issuer="https://idp", audience="sciio",
                                                         scopes=["sciio:write"]))
    assert good.client_id == "jwt:dana" and good.scopes == [READ_SCOPE, WRITE_SCOPE]
    reader = await verifier.verify_token(pair.create_token(subject="erin", issuer="https://idp", audience="sciio"))
    assert reader.client_id == "jwt:erin" and reader.scopes == [READ_SCOPE]
    assert await verifier.verify_token(pair.create_token(subject="x", issuer="https://idp", audience="other")) is None
    assert await verifier.verify_token(pair.create_token(subject="x", issuer="https://evil", audience="sciio")) is None


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("lab.example.org", False), ("", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


# -- writing tools, derived from annotations -------------------------------------------------------

def toy_app(settings: Settings | None = None) -> FastMCP:
    mcp = FastMCP("toy")
    guards.install(mcp, settings or Settings(rate_limit=0))

    @mcp.tool(annotations=RO)
    def read_it() -> str:
        return "read"

    @mcp.tool(annotations={"readOnlyHint": False, "destructiveHint": False})
    def embed_metadata() -> str:
        return "embedded"

    @mcp.tool  # no annotations: treated as writing
    def convert() -> str:
        return "converted"

    @mcp.tool(annotations=RO, tags={"write"})  # a tag marks writing too
    def tagged() -> str:
        return "tagged"

    return mcp


@pytest.fixture
def read_only_caller(monkeypatch):
    monkeypatch.setattr(guards, "current_identity", lambda: Identity(key="token:viewer", can_write=False))


async def test_read_only_caller_neither_sees_nor_calls_writing_tools(read_only_caller):
    async with Client(toy_app()) as c:
        assert {t.name for t in await c.list_tools()} == {"read_it"}
        for name in ("embed_metadata", "convert", "tagged"):
            res = await c.call_tool(name, {}, raise_on_error=False)
            assert res.is_error and res.content[0].text.startswith("READ_ONLY:"), name
        assert (await c.call_tool("read_it", {})).content[0].text == "read"


async def test_writer_sees_everything():
    async with Client(toy_app()) as c:  # in memory: the local client, which may write
        assert {t.name for t in await c.list_tools()} == {"read_it", "embed_metadata", "convert", "tagged"}
        assert (await c.call_tool("convert", {})).content[0].text == "converted"


async def test_writing_tools_of_the_real_app_are_the_non_read_only_ones(tmp_path, monkeypatch):
    app = create_app(Settings(roots=[tmp_path]))
    all_tools = await app.list_tools()
    writing = {t.name for t in all_tools if guards.writes(t)}
    assert "save" in writing and not writing & {"list_roots", "list_formats", "load_summary", "find_files"}
    monkeypatch.setattr(guards, "current_identity", lambda: Identity(key="token:viewer", can_write=False))
    async with Client(app) as c:
        assert {t.name for t in await c.list_tools()} == {t.name for t in all_tools} - writing


# -- time limit and cancellation ------------------------------------------------------------------

def slow_app(timeout: float, progress: dict) -> FastMCP:
    mcp = FastMCP("slow")
    guards.install(mcp, Settings(rate_limit=0, call_timeout=timeout))

    @mcp.tool(annotations=RO)
    def crunch(blocks: int = 100) -> int:
        report = guards.cancel_aware_progress()
        for i in range(blocks):
            report(i, blocks)  # what a streaming io_core loop would call
            time.sleep(0.02)
            progress["done"] = i + 1
        return blocks

    @mcp.tool(annotations=RO)
    async def sleepy() -> str:
        await asyncio.sleep(5)
        return "late"

    return mcp


async def test_timeout_answers_at_the_limit_and_stops_the_worker():
    progress = {"done": 0}
    async with Client(slow_app(0.2, progress)) as c:
        started = time.perf_counter()
        res = await c.call_tool("crunch", {}, raise_on_error=False)
        assert time.perf_counter() - started < 1.0
        assert res.is_error and res.content[0].text.startswith("TIMEOUT:") and "0.2 s" in res.content[0].text
        await asyncio.sleep(0.2)
        stopped_at = progress["done"]
        await asyncio.sleep(0.2)
        assert progress["done"] == stopped_at < 100  # the worker stopped at its next block
        res = await c.call_tool("sleepy", {}, raise_on_error=False)  # async tools are cut off too
        assert res.content[0].text.startswith("TIMEOUT:")
        assert (await c.call_tool("crunch", {"blocks": 2})).content[0].text == "2"


async def test_client_cancellation_stops_the_worker():
    progress = {"done": 0}
    async with Client(slow_app(30, progress)) as c:
        task = asyncio.create_task(c.call_tool("crunch", {}))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)
        stopped_at = progress["done"]
        await asyncio.sleep(0.2)
        assert progress["done"] == stopped_at < 100


def test_raise_if_cancelled_outside_a_call_is_a_no_op():
    guards.raise_if_cancelled()
    assert guards.current_call() is None


# -- rate limit ---------------------------------------------------------------------------------------

def test_rate_limit_buckets_are_per_identity(monkeypatch):
    limit = guards.RateLimit(rate=10, burst=3)
    now = [1000.0]
    monkeypatch.setattr(guards.time, "monotonic", lambda: now[0])
    assert [limit._take("a") for _ in range(4)][:3] == [0, 0, 0]
    assert limit._take("a") == pytest.approx(0.1)  # one call refills in 1/rate seconds
    assert limit._take("b") == 0  # another identity has its own bucket
    now[0] += 0.1
    assert limit._take("a") == 0
    limit.MAX_IDLE_BUCKETS = 2
    now[0] += 10
    limit._take("c")  # a full table drops buckets that have refilled
    assert set(limit.buckets) == {"c"}


async def test_local_client_is_not_rate_limited(tmp_path):
    async with Client(create_app(Settings(roots=[tmp_path], rate_limit=1, rate_burst=1))) as c:
        for _ in range(5):
            assert not (await c.call_tool("list_roots", {})).is_error
    assert LOCAL.local


async def test_remote_clients_are_rate_limited(monkeypatch):
    monkeypatch.setattr(guards, "current_identity", lambda: Identity(key="anon:10.0.0.9", can_write=True))
    async with Client(toy_app(Settings(rate_limit=1, rate_burst=2))) as c:
        results = [await c.call_tool("read_it", {}, raise_on_error=False) for _ in range(3)]
        assert [r.is_error for r in results] == [False, False, True]
        assert results[2].content[0].text.startswith("RATE_LIMITED:")


# -- logs and schemas -----------------------------------------------------------------------------------

async def test_access_log_records_each_call(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="sciio_mcp.access")
    async with Client(create_app(Settings(roots=[tmp_path]))) as c:
        await c.call_tool("save", {"path": "a.json", "data": {"secret": "DATA-MARKER-42"}})
        await c.call_tool("load_summary", {"path": "missing.json"}, raise_on_error=False)
    records = [r for r in caplog.records if getattr(r, "event", None) == "tool_call"]
    assert [(r.tool, r.outcome, r.code, r.client) for r in records] == [
        ("save", "ok", None, "local"), ("load_summary", "error", "FILE_NOT_FOUND", "local")]
    assert all(r.duration_ms >= 0 for r in records)
    assert "DATA-MARKER-42" not in caplog.text and "a.json" not in caplog.text


def test_json_formatter_writes_one_object_per_line_with_extras():
    record = logging.makeLogRecord({"name": "sciio_mcp.access", "levelname": "INFO", "levelno": 20,
                                    "msg": "tool_call %s", "args": ("x",), "tool": "x", "duration_ms": 1.5})
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["msg"] == "tool_call x" and data["tool"] == "x" and data["duration_ms"] == 1.5 and data["ts"]


def _types(prop: dict) -> set:
    """The JSON types a property schema admits (``anyOf`` options or ``type``)."""
    options = prop.get("anyOf", [prop])
    return {t for o in options for t in ([o["type"]] if isinstance(o.get("type"), str) else o.get("type", []))}


def _same_arguments(ours: dict, stock: dict) -> bool:
    """Compacted arguments (server.schema_size.compact_input) accept what FastMCP's accept: same names, required
    arguments, descriptions, defaults other than null/false/0/"" and types; an optional argument defaulting to null loses
    only null."""
    assert set(ours["properties"]) == set(stock["properties"]) and ours.get("required") == stock.get("required")
    for name, mine in ours["properties"].items():
        theirs = stock["properties"][name]
        assert mine.get("description") == theirs.get("description"), name
        assert mine.get("default") == theirs.get("default") or (  # null/false/0/"": what leaving it out means
            "default" not in mine and schema_size._empty(theirs.get("default"))), name
        expected = _types(theirs) - ({"null"} if theirs.get("default", 0) is None else set())
        assert _types(mine) == expected, name
    return True


async def test_cached_dereference_matches_fastmcp(tmp_path):
    ours = create_app(Settings(roots=[tmp_path]))
    stock = create_app(Settings(roots=[tmp_path]))
    stock.middleware[:] = [DereferenceRefsMiddleware() if isinstance(m, guards.CachedDereference) else m
                           for m in stock.middleware]
    mine, theirs = await ours.list_tools(), await stock.list_tools()
    again = await ours.list_tools()
    for a, b, c in zip(mine, theirs, again, strict=True):
        assert a.name == b.name and _same_arguments(a.parameters, b.parameters), a.name
        assert c.parameters is a.parameters and c.output_schema is a.output_schema  # derived once
        assert (a.output_schema is None) == (b.output_schema is None)
        if a.output_schema is not None:  # compacted (server.schema_size): smaller, same top-level fields
            assert len(json.dumps(a.output_schema)) <= len(json.dumps(b.output_schema))
            assert set(a.output_schema.get("properties", {})) == set(b.output_schema.get("properties", {}))
            assert a.output_schema.get("required") == b.output_schema.get("required")
    assert not any("$ref" in json.dumps(t.parameters) for t in mine)  # arguments stay inlined for every client


async def test_output_schemas_are_compact_and_validate_real_results(tmp_path):
    """No titles/defaults, inner models as plain objects; a real result of a recursive model still validates."""
    import h5py
    import jsonschema
    import numpy as np

    with h5py.File(tmp_path / "t.h5", "w") as f:
        f.create_dataset("g/a", data=np.arange(4))
        f.create_group("g/h").create_dataset("b", data=[1.5])
    app = create_app(Settings(roots=[tmp_path]))
    tools = {t.name: t for t in await app.list_tools()}
    total = sum(len(json.dumps(t.output_schema, separators=(",", ":"))) for t in tools.values() if t.output_schema)
    assert total < 16_000
    explore = tools["explore_h5"].output_schema
    assert explore["properties"]["node"] == {"type": "object"} and '"title"' not in json.dumps(explore)

    async with Client(app) as client:
        result = await client.call_tool("explore_h5", {"path": "t.h5", "depth": 3})
    jsonschema.validate(result.structured_content, explore)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**result.structured_content, "depth": "deep"}, explore)


def test_call_state_is_thread_safe_flag():
    state = guards.CallState(tool="t")
    seen = []
    worker = threading.Thread(target=lambda: seen.append(state.cancelled.wait(2)))
    worker.start()
    state.cancel("because")
    worker.join()
    assert seen == [True] and state.reason == "because"
