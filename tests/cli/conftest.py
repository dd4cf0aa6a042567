"""Helpers for the ``sciio`` command tests: a root of example files, the command run as a real subprocess, and the
MCP tool of the same job called through the in-memory FastMCP client on the same root (its structured result is
what ``--json`` must print)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastmcp import Client

from server.app import create_app
from server.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _load_examples_script():
    """examples/make_examples.py as a module (examples/ is a folder of files, not a package)."""
    spec = importlib.util.spec_from_file_location("make_examples", REPO / "examples" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_examples = _load_examples_script()


def cli_env(**extra: str) -> dict[str, str]:
    """The user's environment without SCIIO_* settings; wide piped output so lines are not folded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIIO_") and k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(COLUMNS="200", **extra)
    return env


def sciio(*args: str, cwd: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m sciio ARGS`` in ``cwd`` (its default root), output captured (so: not a terminal)."""
    return subprocess.run([sys.executable, "-m", "sciio", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=cli_env(**env))


def json_of(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # nothing but the JSON, and no progress bar when not on a terminal
    return json.loads(proc.stdout)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root holding the example files (made by examples/make_examples.py) and a config folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    make_examples.main(folder)
    (folder / "config").mkdir()
    (folder / "config" / "model.yaml").write_text("lr: 0.01\nlayers: [64, 32]\n")
    (folder / "config" / "paths.yaml").write_text("data: /tmp/data\n")
    for run in (1, 2, 10):
        sub = folder / "runs" / f"sub_{run:02d}"
        sub.mkdir(parents=True)
        (sub / f"run_{run}.csv").write_text("a,b\n1,2\n")
    return folder


@pytest.fixture
async def tool(root: Path):
    """``await tool(name, **arguments)``: the tool's structured result on the same root (failures raise)."""
    async with Client(create_app(Settings(roots=[root]))) as client:

        async def call(name: str, **arguments: object) -> object:
            result = await client.call_tool(name, arguments)
            return result.structured_content

        call.client = client  # type: ignore[attr-defined]
        yield call
