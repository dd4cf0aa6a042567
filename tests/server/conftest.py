import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from fastmcp import Client

from server.app import create_app
from server.settings import Settings

# One case per core format: file name, data an agent would send, what the summary must show.
CORE_CASES = [
    ("a.npy", [[1, 2, 3], [4, 5, 6]], {"dtype": "int16"}, "array"),
    ("b.npz", {"x": [1.5, 2.5], "y": [[1, 2], [3, 4]]}, {}, "tree"),
    ("c.csv", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], {}, "frame"),
    ("d.tsv", {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, {}, "frame"),
    ("e.parquet", {"a": [1, 2], "s": ["p", "q"]}, {}, "frame"),
    ("f.json", {"name": "run", "values": [1, 2, 3]}, {}, "value"),
    ("g.yaml", {"model": {"lr": 0.01}}, {}, "value"),
    ("g2.yml", ["a", "b"], {}, "value"),
    ("h.txt", "hello\nworld\n", {}, "text"),
    ("h.md", "# Title\n", {}, "text"),
    ("h.log", "line 1\nline 2", {}, "text"),
    ("i.h5", {"x": [1, 2, 3], "grp": {"y": [[1.0, 2.0]]}}, {}, "tree"),
    ("j.hdf5", {"z": [0, 1]}, {}, "tree"),
]


def json_size(value) -> int:
    """Bytes of a result as the server sends it: compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def installed_command() -> list[str]:
    """The installed console script next to this interpreter (as a user would run it)."""
    script = Path(sys.executable).with_name("sciio-mcp")
    if script.exists():
        return [str(script)]
    found = shutil.which("sciio-mcp")
    assert found, "sciio-mcp is not installed: run pip install -e '.[test]'"
    return [found]


def child_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")
    return {k: os.environ[k] for k in keep if k in os.environ}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
async def client(root: Path):
    async with Client(create_app(Settings(roots=[root]))) as c:
        yield c
