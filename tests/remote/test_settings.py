"""Remote roots on the command line and in SCIIO_ROOTS; one real stdio server on an S3 root."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from server.cli import parse_args
from server.settings import Settings
from tests.server.conftest import child_env, installed_command


def test_flags_and_environment(tmp_path, monkeypatch):
    args = parse_args(["--root", "s3://bucket/pre", "--root", str(tmp_path), "--s3-endpoint-url", "http://h:1",
                       "--allow-remote-writes", "--remote-timeout", "3"])
    assert args.root == ["s3://bucket/pre", Path(tmp_path)]
    settings = Settings(roots=args.root, s3_endpoint_url=args.s3_endpoint_url, allow_remote_writes=True,
                        remote_timeout=3.0)
    assert settings.local_roots() == [tmp_path]
    config = settings.remote_config()
    assert (config.endpoint_url, config.allow_writes, config.timeout) == ("http://h:1", True, 3.0)
    monkeypatch.setenv("SCIIO_ROOTS", json.dumps(["https://example.org/data/", str(tmp_path)]))
    monkeypatch.setenv("SCIIO_REMOTE_CACHE_BYTES", "64MiB")
    env = Settings()
    assert env.roots == ["https://example.org/data/", tmp_path] and env.remote_config().cache_bytes == 64 << 20
    assert Settings(roots=[tmp_path]).remote_config() is None  # local only: nothing remote is configured
    with pytest.raises(ValueError):
        Settings(roots=["s3://bucket/../x"])
    ws = settings.workspace_factory()()
    assert [r.path for r in ws.roots_info().roots] == [str(tmp_path), "s3://bucket/pre"]


async def test_a_stdio_server_on_an_s3_root(weed, prefix, tmp_path):
    import numpy as np

    np.save(tmp_path / "a.npy", np.arange(6).reshape(2, 3))
    weed.upload_tree(str(tmp_path), "test", prefix)
    env = {**child_env(), **weed.env()}
    transport = StdioTransport(command=installed_command()[0], env=env, cwd=str(tmp_path),
                               args=[*installed_command()[1:], "--root", f"s3://test/{prefix}",
                                     "--s3-endpoint-url", weed.endpoint, "--remote-timeout", "5"])
    async with Client(transport) as client:
        got = (await client.call_tool("read_slice", {"path": "a.npy", "selection": "1"})).structured_content
        assert got["slice"]["values"] == [3, 4, 5]
        bad = await client.call_tool("load_summary", {"path": "s3://other/a.npy"}, raise_on_error=False)
        assert bad.is_error and bad.content[0].text.startswith("PATH_OUTSIDE_ROOT:")
    assert os.listdir(tmp_path) == ["a.npy"]  # nothing written next to the server
