"""The real ``sciio-mcp --http`` as a subprocess on a free loopback port: auth, limits, concurrency.

Three servers per module run: ``lab`` (static tokens from a file and the environment, and
HS256 JWT; no rate limit), ``strict`` (a low rate limit and a 1 s call timeout), and the
ones the binding tests start themselves.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import subprocess
import time
import urllib.parse

import pytest
from fastmcp import Client
from joserfc import jwt
from joserfc.jwk import OctKey
from mcp.shared.exceptions import MCPError

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
    with pytest.raises(MCPError):
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
    {"secret": "a-different-secret-of-at-least-32-bytes"}, {"exp": None}, {"nbf": int(time.time()) + 600},
    {"iat": int(time.time()) + 600}, {"exp": str(int(time.time()) + 300)}, {"exp": True},
    {"nbf": "yesterday"},
], ids=["wrong-audience", "wrong-issuer", "expired", "wrong-secret", "no-exp", "nbf-in-the-future",
        "iat-in-the-future", "exp-as-text", "exp-as-bool", "nbf-as-text"])
def test_jwt_that_does_not_verify_is_401(lab, claims):
    token = make_jwt(**claims)
    assert http_post(lab.mcp, INIT, {"authorization": f"Bearer {token}"})[0] == 401
    assert http_post(lab.mcp, INIT, {"authorization": f"Bearer {make_jwt()}"})[0] == 200


def test_jwt_time_claims_that_hold_are_accepted(lab):
    now = int(time.time())
    for claims in ({"nbf": now - 5}, {"iat": now, "nbf": now + 10}, {"exp": now + 20, "iat": now - 3600}):
        token = make_jwt(**claims)  # nbf a few seconds ahead: within the allowed clock skew
        assert http_post(lab.mcp, INIT, {"authorization": f"Bearer {token}"})[0] == 200, claims


# -- JWT without exp, allowed by flag ----------------------------------------------------------------

@pytest.fixture(scope="module")
def lenient(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lenient")
    (folder / "jwt").write_text(JWT_SECRET)
    env = {**child_env(), "SCIIO_ALLOW_JWT_WITHOUT_EXP": "true"}  # the environment variable form of the flag
    server = Server(installed_command(), [
        "--root", str(data), "--jwt-secret-file", str(folder / "jwt"), "--jwt-audience", AUDIENCE,
        "--jwt-issuer", ISSUER, "--rate-limit", "0",
    ], env, folder / "stderr.log")
    yield server
    assert server.stop() == b""


async def test_allow_jwt_without_exp_accepts_only_that(lenient):
    forever = make_jwt(exp=None)
    assert http_post(lenient.mcp, INIT, {"authorization": f"Bearer {forever}"})[0] == 200
    async with Client(lenient.mcp, auth=forever) as c:
        assert not (await c.call_tool("list_roots", {})).is_error
    now = int(time.time())
    for claims in ({"exp": now - 60}, {"exp": None, "nbf": now + 600}, {"exp": "never"}, {"aud": "other"}):
        token = make_jwt(**claims)
        assert http_post(lenient.mcp, INIT, {"authorization": f"Bearer {token}"})[0] == 401, claims


def test_the_flag_is_on_the_command_line_too(data, tmp_path):
    (tmp_path / "jwt").write_text(JWT_SECRET)
    server = Server(installed_command(), [
        "--root", str(data), "--jwt-secret-file", str(tmp_path / "jwt"), "--jwt-audience", AUDIENCE,
        "--allow-jwt-without-exp"], child_env(), tmp_path / "stderr.log")
    try:
        assert http_post(server.mcp, INIT, {"authorization": f"Bearer {make_jwt(exp=None, iss=None)}"})[0] == 200
    finally:
        assert server.stop() == b""


# -- failed bearer attempts, limited per remote address ----------------------------------------------

WINDOW = 4


def post_from(source: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST ``INIT`` from the loopback address ``source`` (127.0.0.x all reach 127.0.0.1 on Linux)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", parts.path, body=INIT, headers={
            "content-type": "application/json", "accept": "application/json, text/event-stream", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def guarded(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("guarded")
    (folder / "jwt").write_text(JWT_SECRET)
    env = {**child_env(), "SCIIO_TOKENS": f"{ALICE} alice, {VIEWER}:ro viewer, {LOAD[3]} carl"}
    server = Server(installed_command(), [
        "--root", str(data), "--jwt-secret-file", str(folder / "jwt"), "--jwt-audience", AUDIENCE,
        "--rate-limit", "0", "--auth-fail-limit", "3", "--auth-fail-window", str(WINDOW),
    ], env, folder / "stderr.log")
    yield server
    assert server.stop() == b""


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_failed_bearer_attempts_are_limited_per_address(guarded):
    me, other = "127.0.0.2", "127.0.0.4"
    assert post_from(me, guarded.mcp, bearer(ALICE))[0] == 200  # worked from here before the attack
    guesses = [f"guess-{i:02d}-0123456789abcdef" for i in range(3)]
    assert [post_from(me, guarded.mcp, bearer(g))[0] for g in guesses] == [401, 401, 401]
    started = time.monotonic()
    status, headers, body = post_from(me, guarded.mcp, bearer("guess-03-0123456789abcdef"))
    assert status == 429 and json.loads(body)["error"] == "TOO_MANY_AUTH_FAILURES"
    assert 1 <= int(headers["retry-after"]) <= WINDOW
    # while limited: a valid token never seen from here is not even tried (guessing right does not help)...
    assert post_from(me, guarded.mcp, bearer(VIEWER))[0] == 429
    assert post_from(me, guarded.mcp, bearer(make_jwt(iss=None)))[0] == 429
    assert post_from(me, guarded.mcp, {"authorization": "Basic YWxpY2U6eA=="})[0] == 429
    # ...a token that already worked from here still does, requests without a token get the usual 401
    assert post_from(me, guarded.mcp, bearer(ALICE))[0] == 200
    assert post_from(me, guarded.mcp)[0] == 401
    # other addresses are not affected, nor are the routes without auth
    assert post_from(other, guarded.mcp, bearer("guess-99-0123456789abcdef"))[0] == 401
    assert post_from(other, guarded.mcp, bearer(VIEWER))[0] == 200
    assert http_get(guarded.url + "/health")[0] == 200
    # the limit lifts when the failures leave the window
    time.sleep(max(0.0, int(headers["retry-after"]) - (time.monotonic() - started)) + 0.2)
    assert post_from(me, guarded.mcp, bearer(VIEWER))[0] == 200
    assert post_from(me, guarded.mcp, bearer("guess-04-0123456789abcdef"))[0] == 401
    warnings = [r for r in guarded.log_lines() if "bearer attempts" in r.get("msg", "")]
    assert warnings and me in warnings[0]["msg"] and warnings[0]["level"] == "WARNING"
    assert not any(g in guarded.stderr() for g in guesses)  # tokens are never logged


async def test_successful_requests_never_count_as_failures(guarded):
    me = "127.0.0.3"
    for _ in range(30):
        assert post_from(me, guarded.mcp, {"authorization": f"Bearer {LOAD[3]}"})[0] == 200
    assert [post_from(me, guarded.mcp, {"authorization": f"Bearer bad-{i}-0123456789abcdef"})[0]
            for i in range(2)] == [401, 401]
    assert post_from(me, guarded.mcp, {"authorization": f"Bearer {VIEWER}"})[0] == 200  # 2 failures < 3: not limited
    async with Client(guarded.mcp, auth=ALICE) as c:  # a real client's many requests (127.0.0.1) are unaffected
        for _ in range(10):
            assert not (await c.call_tool("list_roots", {})).is_error


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
        with pytest.raises(MCPError):  # HTTP 413 from the transport, not a tool result
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
    await asyncio.sleep(0.2)
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
