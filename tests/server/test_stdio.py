"""End to end: the installed ``sciio-mcp`` script as a subprocess over stdio.

One client is FastMCP's; the other is the official ``mcp`` SDK's ClientSession, to
show the server speaks plain MCP rather than only to its own library.
"""

import os
import pty
import select
import subprocess
import time

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from schemas import FormatList, SummaryResult
from server import text_block
from tests.server.conftest import CORE_CASES, child_env, installed_command


async def test_fastmcp_client_over_stdio(root):
    cmd = installed_command()
    transport = StdioTransport(command=cmd[0], args=[*cmd[1:], "--root", str(root)], env=child_env())
    async with Client(transport) as c:
        formats = FormatList.model_validate((await c.call_tool("list_formats", {})).structured_content)
        assert formats.n_available >= 9
        await c.call_tool("save", {"path": "sub/x.npy", "data": [[1.5, 2.5]], "dtype": "float32"})
        res = SummaryResult.model_validate((await c.call_tool("load_summary", {"path": "sub/x.npy"})).structured_content)
        assert res.summary.dtype == "<f4" and res.summary.shape == [1, 2]
        err = await c.call_tool("load_summary", {"path": "../../etc/passwd"}, raise_on_error=False)
        assert err.is_error and err.content[0].text.startswith("PATH_OUTSIDE_ROOT:")
    assert (root / "sub" / "x.npy").exists()


async def test_official_mcp_sdk_client_round_trips_every_core_format(root):
    cmd = installed_command()
    params = StdioServerParameters(command=cmd[0], args=[*cmd[1:], "--root", str(root)], env=child_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        tools = {t.name: t for t in listed.tools}
        assert {"list_roots", "list_formats", "load_summary", "save"} <= set(tools)
        assert all(t.output_schema for name, t in tools.items() if name != "preview_image")
        for name, data, extra, kind in CORE_CASES:
            saved = await session.call_tool("save", {"path": name, "data": data, **extra})
            assert not saved.is_error, saved.content
            got = await session.call_tool("load_summary", {"path": name})
            assert not got.is_error, got.content
            summary = SummaryResult.model_validate(got.structured_content)
            assert summary.summary.kind == kind and summary.path == name
            # the text content carries the same facts for clients that ignore structured content
            assert text_block.carries(got.content[0].text, got.structured_content)
        refused = await session.call_tool("load_summary", {"path": "/etc/passwd"})
        assert refused.is_error and refused.content[0].text.startswith("PATH_OUTSIDE_ROOT:")


async def test_read_only_flag_over_stdio(root):
    cmd = installed_command()
    params = StdioServerParameters(command=cmd[0], args=[*cmd[1:], "--root", str(root), "--read-only"], env=child_env())
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        assert "save" not in names and "load_summary" in names


def test_started_from_a_terminal_it_explains_itself_on_stderr_only(root):
    cmd = installed_command()
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*cmd, "--root", str(root)], stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env()
    )
    os.close(follower)
    try:
        err = b""
        deadline = time.monotonic() + 30
        while b"stdio" not in err and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                err += os.read(proc.stderr.fileno(), 4096)
        assert b"serves MCP over stdio" in err and b"--root" in err
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        os.close(leader)
    assert out == b""


def test_missing_root_is_refused_before_serving(tmp_path):
    cmd = installed_command()
    proc = subprocess.run([*cmd, "--root", str(tmp_path / "nope")], capture_output=True, timeout=60, env=child_env(), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and b"do not exist" in proc.stderr and proc.stdout == b""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_cli_help_and_version(flag):
    proc = subprocess.run([*installed_command(), flag], capture_output=True, timeout=60, env=child_env())
    assert proc.returncode == 0 and b"sciio-mcp" in proc.stdout
