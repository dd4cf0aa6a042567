"""Every failure reaches the client coded and bounded (issue #10, point 6).

Huge echoed arguments (keys, paths, formats, patterns) are cut to a short prefix, errors
never exceed the smallest response budget, recursion limits and OS errors that libraries
raise get codes, and the server keeps serving. Through FastMCP's in-memory client.
"""

from __future__ import annotations

import errno
import logging

import h5py
import numpy as np
import pytest
from fastmcp import Client

from schemas import KeyExistsResult
from server.app import create_app
from server.errors import MAX_ERROR_BYTES
from server.settings import Settings
from tests.server.conftest import json_size

BUDGET = 1024  # the smallest budget the settings allow
HUGE = "K" * 200_000
MARK = "K" * 200  # what must never appear: any echo longer than a short prefix


@pytest.fixture
def root(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    np.savez(folder / "two.npz", a=np.arange(3), b=np.arange(4))
    with h5py.File(folder / "f.h5", "w") as f:
        f["x"] = np.arange(5)
    (folder / "t.csv").write_text("a,b\n1,2\n")
    (folder / "deep.json").write_text("[" * 600 + "]" * 600)
    return folder


@pytest.fixture
async def client(root):
    async with Client(create_app(Settings(roots=[root], max_response_bytes=BUDGET))) as c:
        yield c


async def refused(client, tool, **args) -> str:
    res = await client.call_tool(tool, args, raise_on_error=False)
    assert res.is_error, res
    text = res.content[0].text
    assert len(text.encode()) <= MAX_ERROR_BYTES < BUDGET
    assert MARK not in text and "Traceback" not in text
    return text


@pytest.mark.parametrize("tool, args, code", [
    ("load_summary", {"path": "two.npz", "key": HUGE}, "KEY_NOT_FOUND"),
    ("load_summary", {"path": "f.h5", "key": HUGE}, "KEY_NOT_FOUND"),
    ("read_slice", {"path": "t.csv", "columns": [HUGE]}, "KEY_NOT_FOUND"),
    ("load_summary", {"path": HUGE + ".csv"}, None),
    ("load_summary", {"path": "/".join(["d" * 250] * 30)}, None),
    ("load_summary", {"path": "t.csv", "format": HUGE}, "FORMAT_UNKNOWN"),
    ("read_slice", {"path": "two.npz", "key": "a", "selection": "[" + "1," * 50_000 + "]"}, None),
    ("find_files", {"pattern": HUGE + "/{"}, "INVALID_SELECTION"),
    ("find_files", {"pattern": "../" + HUGE}, "PATH_OUTSIDE_ROOT"),
    ("explore_h5", {"path": "f.h5", "group": HUGE}, "KEY_NOT_FOUND"),
])
async def test_huge_arguments_are_cut_in_the_error(client, tool, args, code):
    text = await refused(client, tool, **args)
    assert not text.startswith("INTERNAL_ERROR"), text
    if code:
        assert text.startswith(code + ":"), text
    assert "…" in text or len(text) < 400
    assert not (await client.call_tool("list_roots", {})).is_error  # still serving


async def test_key_exists_does_not_echo_a_huge_key(client):
    res = await client.call_tool("key_exists", {"path": "f.h5", "key": HUGE}, raise_on_error=False)
    text = res.content[0].text
    assert len(text.encode()) <= BUDGET and MARK not in text
    if not res.is_error:
        out = KeyExistsResult.model_validate(res.structured_content)
        assert out.exists is False and len(out.key) <= 130 and out.key.startswith("KKK")
        assert json_size(res.structured_content) <= BUDGET


async def test_deeply_nested_json_converted_to_yaml_is_invalid_data(client, root):
    text = await refused(client, "convert", src="deep.json", dst="deep.yaml")
    assert text.startswith(("INVALID_DATA:", "TOO_LARGE:")) and "nested" in text
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "deep.json", "f.h5", "t.csv", "two.npz"]
    assert not (await client.call_tool("load_summary", {"path": "t.csv"})).is_error


@pytest.mark.parametrize("err, code", [
    (errno.ENOSPC, "WRITE_FAILED"), (errno.EDQUOT, "WRITE_FAILED"), (errno.EACCES, "PERMISSION_DENIED"),
    (errno.ENAMETOOLONG, "NAME_TOO_LONG"), (errno.EROFS, "PERMISSION_DENIED"), (errno.ENOENT, "FILE_NOT_FOUND"),
])
async def test_os_errors_escaping_a_tool_are_coded(root, caplog, monkeypatch, err, code):
    """The server's last resort: an OSError a library raised past io_core is coded, INFO-logged, no traceback."""
    from io_core.workspace import Workspace

    def failing(self):
        raise OSError(err, "raised by a library", "/srv/secret/place/" + "n" * 400)

    monkeypatch.setattr(Workspace, "roots_info", failing)
    async with Client(create_app(Settings(roots=[root], max_response_bytes=BUDGET))) as c:
        with caplog.at_level(logging.INFO, logger="sciio_mcp"):
            text = await refused(c, "list_roots")
    assert text.startswith(code + ":") and "raised by a library" in text, text
    assert "/srv/secret" not in text and "nnn…" in text  # only the last part of the path, cut
    records = [r for r in caplog.records if r.name == "sciio_mcp" and "list_roots" in r.getMessage()]
    assert records and all(r.levelno == logging.INFO and r.exc_info is None for r in records)


async def test_recursion_error_escaping_a_tool_is_invalid_data(root, monkeypatch):
    from io_core.workspace import Workspace

    def deep(self, depth=0):
        return deep(self, depth + 1)

    monkeypatch.setattr(Workspace, "roots_info", deep)
    async with Client(create_app(Settings(roots=[root], max_response_bytes=BUDGET))) as c:
        assert (await refused(c, "list_roots")).startswith("INVALID_DATA:")
        assert not (await c.call_tool("list_formats", {})).is_error


async def test_unexpected_failures_log_at_error_and_stay_masked(root, caplog, monkeypatch):
    from io_core.workspace import Workspace

    def broken(self):
        raise RuntimeError("secret internal detail " + HUGE)

    monkeypatch.setattr(Workspace, "roots_info", broken)
    # as sciio-mcp's own logging set-up does (server.logs.configure): FastMCP's rich handler would spend minutes
    # highlighting the 200 kB message of the traceback it logs
    fastmcp_logger = logging.getLogger("fastmcp")
    monkeypatch.setattr(fastmcp_logger, "handlers", [])
    monkeypatch.setattr(fastmcp_logger, "propagate", True)
    async with Client(create_app(Settings(roots=[root], max_response_bytes=BUDGET))) as c:
        with caplog.at_level(logging.INFO, logger="sciio_mcp"):
            text = await refused(c, "list_roots")
    assert text.startswith("INTERNAL_ERROR:") and "secret" not in text
    assert [r.levelno for r in caplog.records if r.name == "sciio_mcp" and "list_roots" in r.getMessage()] == [
        logging.ERROR]
