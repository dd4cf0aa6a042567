"""The real ``sciio-mcp --http`` as a subprocess on a free loopback port: auth, limits, concurrency.

Three servers per module run: ``lab`` (static tokens from a file and the environment, and
HS256 JWT; no rate limit), ``strict`` (a low rate limit and a 1 s call timeout), and the
ones the binding tests start themselves.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import pytest
from fastmcp import Client
from joserfc import jwt
from joserfc.jwk import OctKey

from schemas import SaveResult, SummaryResult
from tests.server.conftest import child_env, installed_command
from tests.server.http_helpers import Server, free_port, http_get, http_post, slow_summary_args, write_slow_csv_gz

ALICE = "alice-token-0123456789abcdef"  # read-write
VIEWER = "viewer-token-0123456789abcdef"  # read-only (":ro")
ENV_VIEWER = "env-viewer-token-0123456789"  # read-only, from SCIIO_TOKENS
LOAD = [f"load-{i:02d}-token-0123456789abcdef" for i in range(16)]
JWT_SECRET = "a-shared-secret-of-at-least-32-bytes!!"
AUDIENCE, ISSUER = "sciio-lab", "https://auth.lab.example"
INIT = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}}).encode()


def make_jwt(secret: str = JWT_SECRET, **claims) -> str:
    body = {"sub": "carol", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 300,
            "scope": "sciio:read sciio:write", **claims}
    return jwt.encode({"alg": "HS256"}, {k: v for k, v in body.items() if v is not None}, OctKey.import_key(secret))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("http") / "data"
    root.mkdir()
    (root / "small.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
    (root / "notes.txt").write_text("hello\n")
    write_slow_csv_gz(root / "slow.csv.gz", blocks=40)  # 2-3 s of load_summary here
    return root


@pytest.fixture(scope="module")
def lab(data, tmp_path_factory):
    secrets = tmp_path_factory.mktemp("secrets")
    token_file = secrets / "tokens"
    token_file.write_text("\n".join([
        "# token[:ro] [name]",
        f"{ALICE} alice",
        f"{VIEWER}:ro viewer",
        *(f"{t} load{i}" for i, t in enumerate(LOAD)),
    ]) + "\n")
    (secrets / "jwt").write_text(JWT_SECRET + "\n")
    env = {**child_env(), "SCIIO_TOKENS": f"{ENV_VIEWER}:ro envviewer"}
    server = Server(installed_command(), [
        "--root", str(data), "--token-file", str(token_file), "--jwt-secret-file", str(secrets / "jwt"),
        "--jwt-audience", AUDIENCE, "--jwt-issuer", ISSUER, "--rate-limit", "0", "--max-request-bytes", "65536",
    ], env, secrets / "stderr.log")
    yield server
    assert server.stop() == b"", "the server wrote to stdout"


@pytest.fixture(scope="module")
def strict(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("strict")
    env = {**child_env(), "SCIIO_TOKENS": f"{ALICE} alice, {VIEWER} viewer, {LOAD[0]} timer"}
    server = Server(installed_command(), [
        "--root", str(data), "--rate-limit", "2", "--rate-burst", "3", "--call-timeout", "1",
    ], env, folder / "stderr.log")
    yield server
    assert server.stop() == b""


# -- liveness, readiness, authentication ---------------------------------------------------------

def test_health_and_ready_need_no_token(lab):
    assert http_get(lab.url + "/health") == (200, {"status": "ok"})
    status, body = http_get(lab.url + "/ready")
    assert status == 200 and body["status"] == "ready" and body["roots"] == 1
    assert "data" not in json.dumps(body)  # no paths on an unauthenticated route


@pytest.mark.parametrize("header", [None, "Bearer not-a-known-token-at-all", "Basic YWxpY2U6eA=="])
def test_mcp_without_a_valid_token_is_401(lab, header):
    status, headers, _ = http_post(lab.mcp, INIT, {"authorization": header} if header else {})
    assert status == 401
    assert {k.lower(): v for k, v in headers.items()}["www-authenticate"].startswith("Bearer")


async def test_fastmcp_client_without_token_is_refused(lab):
    with pytest.raises(Exception):
        async with Client(lab.mcp) as c:
            await c.list_tools()


async def test_valid_token_can_read_and_write(lab, data):
    async with Client(lab.mcp, auth=ALICE) as c:
        assert "save" in {t.name for t in await c.list_tools()}
        saved = SaveResult.model_validate((await c.call_tool("save", {"path": "alice/x.npy", "data": [[1, 2]]})).structured_content)
        assert saved.path == "alice/x.npy" and (data / "alice" / "x.npy").exists()
        summary = SummaryResult.model_validate((await c.call_tool("load_summary", {"path": "alice/x.npy"})).structured_content)
        assert summary.summary.shape == [1, 2]
        outside = await c.call_tool("load_summary", {"path": "../../etc/passwd"}, raise_on_error=False)
        assert outside.is_error and outside.content[0].text.startswith("PATH_OUTSIDE_ROOT:")


@pytest.mark.parametrize("token", [VIEWER, ENV_VIEWER], ids=["token-file", "SCIIO_TOKENS"])
async def test_read_only_token_cannot_write(lab, data, token):
    async with Client(lab.mcp, auth=token) as c:
        names = {t.name for t in await c.list_tools()}
        assert "save" not in names and {"load_summary", "find_files"} <= names
        refused = await c.call_tool("save", {"path": "viewer.json", "data": {"a": 1}}, raise_on_error=False)
        assert refused.is_error and refused.content[0].text.startswith("READ_ONLY:")
        ok = await c.call_tool("load_summary", {"path": "small.csv"})
        assert SummaryResult.model_validate(ok.structured_content).summary.n_rows == 3
    assert not (data / "viewer.json").exists()


async def test_jwt_hs256_token_works_and_its_scope_decides_writing(lab, data):
    async with Client(lab.mcp, auth=make_jwt()) as c:
        await c.call_tool("save", {"path": "carol.json", "data": {"by": "jwt"}})
    assert (data / "carol.json").exists()
    async with Client(lab.mcp, auth=make_jwt(scope="sciio:read")) as c:
        assert "save" not in {t.name for t in await c.list_tools()}
        refused = await c.call_tool("save", {"path": "carol2.json", "data": {}}, raise_on_error=False)
        assert refused.is_error and refused.content[0].text.startswith("READ_ONLY:")


@pytest.mark.parametrize("claims", [
    {"aud": "some-other-service"}, {"iss": "https://evil.example"}, {"exp": int(time.time()) - 60},
    {"secret": "a-different-secret-of-at-least-32-bytes"},
], ids=["wrong-audience", "wrong-issuer", "expired", "wrong-secret"])
def test_jwt_that_does_not_verify_is_401(lab, claims):
    token = make_jwt(**claims)
    assert http_post(lab.mcp, INIT, {"authorization": f"Bearer {token}"})[0] == 401
    assert http_post(lab.mcp, INIT, {"authorization": f"Bearer {make_jwt()}"})[0] == 200


# -- limits -------------------------------------------------------------------------------------------

def test_request_over_the_size_limit_is_413(lab):
    auth = {"authorization": f"Bearer {ALICE}"}
    big = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"pad": "x" * 70_000}}).encode()
    status, _, body = http_post(lab.mcp, big, auth)
    assert status == 413 and json.loads(body)["error"] == "REQUEST_TOO_LARGE"
    # without Content-Length (chunked), the limit holds too
    chunks = (big[i:i + 8192] for i in range(0, len(big), 8192))
    assert http_post(lab.mcp, chunks, auth)[0] == 413
    # checked before auth: a stranger cannot make the server read a huge body either
    assert http_post(lab.mcp, big, {})[0] == 413
    assert http_post(lab.mcp, INIT, auth)[0] == 200


async def test_save_just_under_the_limit_works_and_over_it_fails(lab, data):
    async with Client(lab.mcp, auth=ALICE) as c:
        await c.call_tool("save", {"path": "under.txt", "data": "y" * 50_000})
        with pytest.raises(Exception):
            await c.call_tool("save", {"path": "over.txt", "data": "y" * 70_000})
    assert (data / "under.txt").stat().st_size == 50_000 and not (data / "over.txt").exists()


async def test_rate_limit_is_per_client_identity(strict):
    async with Client(strict.mcp, auth=ALICE) as a, Client(strict.mcp, auth=VIEWER) as b:
        results = [await a.call_tool("list_roots", {}, raise_on_error=False) for _ in range(8)]
        limited = [r for r in results if r.is_error]
        assert len(limited) >= 3 and all(r.content[0].text.startswith("RATE_LIMITED:") for r in limited)
        assert "retry after" in limited[0].content[0].text
        # alice being throttled does not throttle the viewer
        others = [await b.call_tool("list_roots", {}, raise_on_error=False) for _ in range(3)]
        assert not any(r.is_error for r in others)
        # list requests are not counted
        for _ in range(5):
            await a.list_tools()


# -- concurrency --------------------------------------------------------------------------------------

async def test_slow_call_does_not_hold_back_a_quick_one(lab):
    async with Client(lab.mcp, auth=LOAD[1]) as slow_client, Client(lab.mcp, auth=LOAD[2]) as quick_client:
        await quick_client.call_tool("list_roots", {})
        args = await slow_summary_args(slow_client, "slow.csv.gz")
        slow = asyncio.create_task(slow_client.call_tool("load_summary", args))
        await asyncio.sleep(0.3)
        latencies = []
        for _ in range(10):
            started = time.perf_counter()
            await quick_client.call_tool("list_roots", {})
            latencies.append(time.perf_counter() - started)
        assert not slow.done(), "the slow call should still be running"
        assert max(latencies) < 1.0, latencies
        summary = SummaryResult.model_validate((await slow).structured_content)
        assert summary.summary.kind == "frame"


async def test_16_clients_x_100_calls_without_errors(lab):
    calls = [("list_formats", {}), ("load_summary", {"path": "small.csv"}), ("find_files", {"pattern": "*.csv"}),
             ("list_roots", {})]

    async def one_client(token: str, n: int) -> list[str]:
        errors = []
        async with Client(lab.mcp, auth=token) as c:
            for i in range(n):
                name, args = calls[i % len(calls)]
                res = await c.call_tool(name, args, raise_on_error=False)
                if res.is_error:
                    errors.append(res.content[0].text[:120])
        return errors

    started = time.perf_counter()
    results = await asyncio.gather(*(one_client(t, 100) for t in LOAD))
    elapsed = time.perf_counter() - started
    assert [e for errs in results for e in errs] == []
    assert elapsed < 60


# -- logs ---------------------------------------------------------------------------------------------

async def test_logs_are_json_lines_with_identity_but_no_tokens_or_data(lab):
    marker = "TOP-SECRET-PAYLOAD-7f3a"
    async with Client(lab.mcp, auth=ALICE) as c:
        await c.call_tool("save", {"path": "secret.txt", "data": marker, "overwrite": True})
        await c.call_tool("load_summary", {"path": "secret.txt"})
        await c.call_tool("load_summary", {"path": "nope.txt"}, raise_on_error=False)
    time.sleep(0.2)
    text = lab.stderr()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    calls = [r for r in lines if r.get("event") == "tool_call"]
    assert {"tool", "duration_ms", "outcome", "code", "client", "ts", "level"} <= set(calls[-1])
    mine = [r for r in calls if r["client"] == "token:alice"]
    assert {(r["tool"], r["outcome"], r["code"]) for r in mine[-3:]} == {
        ("save", "ok", None), ("load_summary", "ok", None), ("load_summary", "error", "FILE_NOT_FOUND")}
    assert {r["client"] for r in calls} >= {"token:alice", "token:viewer", "token:envviewer", "jwt:carol"}
    for secret in [ALICE, VIEWER, ENV_VIEWER, JWT_SECRET, *LOAD, marker]:
        assert secret not in text


# -- binding and server modes ------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_non_loopback_without_auth_refuses_to_start(tmp_path, host):
    proc = subprocess.run([*installed_command(), "--http", "--host", host, "--port", str(free_port()), "--root", str(tmp_path)],
                          capture_output=True, timeout=60, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and proc.stdout == b""
    assert b"refusing to serve" in proc.stderr and b"--insecure-no-auth" in proc.stderr and b"--token-file" in proc.stderr


def test_bad_token_file_refuses_to_start(tmp_path):
    (tmp_path / "tokens").write_text("short\n")
    proc = subprocess.run([*installed_command(), "--http", "--root", str(tmp_path), "--token-file", str(tmp_path / "tokens")],
                          capture_output=True, timeout=60, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and b"shorter than 16" in proc.stderr and b"short\n" not in proc.stderr


async def test_insecure_no_auth_on_all_interfaces_with_read_only_mode(data, tmp_path):
    server = Server(installed_command(), ["--host", "0.0.0.0", "--insecure-no-auth", "--read-only", "--root", str(data)],
                    child_env(), tmp_path / "stderr.log")
    try:
        async with Client(server.mcp) as c:  # no token needed: the operator said so
            names = {t.name for t in await c.list_tools()}
            assert "save" not in names and "load_summary" in names
            refused = await c.call_tool("save", {"path": "x.json", "data": {}}, raise_on_error=False)
            assert refused.is_error
            await c.call_tool("list_roots", {})
        assert http_get(server.url + "/ready")[1]["read_only"] is True
    finally:
        assert server.stop() == b""
    clients = {r["client"] for r in server.log_lines() if r.get("event") == "tool_call"}
    assert clients == {"anon:127.0.0.1"}
    assert not (data / "x.json").exists()


# runs last: the worker it abandons keeps a CPU busy for a few seconds
async def test_call_timeout_gives_a_coded_error_promptly(strict):
    async with Client(strict.mcp, auth=LOAD[0]) as c:
        args = await slow_summary_args(c, "slow.csv.gz")
        started = time.perf_counter()
        res = await c.call_tool("load_summary", args, raise_on_error=False)
        elapsed = time.perf_counter() - started
        assert res.is_error and res.content[0].text.startswith("TIMEOUT:") and "Hint:" in res.content[0].text
        assert elapsed < 1.6  # the client is answered at the limit, not when the worker finishes (2-3 s)
        assert not (await c.call_tool("list_roots", {})).is_error
    codes = [r.get("code") for r in strict.log_lines() if r.get("event") == "tool_call" and r["tool"] == "load_summary"]
    assert "TIMEOUT" in codes
