"""The README's first command as written, the example files it opens (what examples/make_examples.py makes, small),
``sciio serve`` speaking MCP over stdio like ``sciio-mcp``, and ``python -m sciio``."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import zarr
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from tests.cli.conftest import REPO, cli_env, make_examples

EXAMPLES = REPO / "examples"
#: The README's first command is `pip install . && <this>`; the part after && runs from the repository root.
README_COMMAND = ["sciio", "summary", "examples/recording.h5"]


def installed_sciio() -> str:
    script = Path(sys.executable).with_name("sciio")
    found = str(script) if script.exists() else shutil.which("sciio")
    assert found, "the sciio console script is not installed: pip install -e ."
    return found


def test_readme_first_command_from_the_repository_root():
    proc = subprocess.run([installed_sciio(), *README_COMMAND[1:]], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    out = proc.stdout
    assert out.startswith("examples/recording.h5  hdf5")
    assert "session1" in out and "session2" in out and "Example EEG-like recording" in out


def readme_first_command() -> str:
    """The first line of the README's first ```bash block."""
    text = (REPO / "README.md").read_text()
    block = text.split("```bash\n", 1)[1]
    return block.splitlines()[0].strip()


def test_readme_first_command_is_the_one_tested_here():
    """The README opens with `pip install . && sciio ...`: a command that shows the main job without an MCP client."""
    install, _, command = readme_first_command().partition(" && ")
    assert install == "pip install ."
    assert shlex.split(command) == README_COMMAND


def test_example_files_are_small_and_tracked():
    files = [p for p in EXAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 1_000_000
    names = {p.relative_to(EXAMPLES).as_posix() for p in files}
    assert {"make_examples.py", "recording.h5", "reaction_times.csv", "images.zarr/zarr.json"} <= names
    if (REPO / ".git").exists():  # a fresh clone has exactly the tracked files: the README's command needs them
        tracked = subprocess.run(["git", "ls-files", "examples"], cwd=REPO, capture_output=True, text=True).stdout
        assert {"examples/recording.h5", "examples/reaction_times.csv", "examples/images.zarr/images/zarr.json"} <= set(
            tracked.split())


def _h5_contents(path: Path) -> dict:
    found: dict = {}
    with h5py.File(path, "r") as f:
        found["/"] = dict(f.attrs)

        def visit(name: str, obj) -> None:
            found[name] = (obj[()] if isinstance(obj, h5py.Dataset) else None, {k: v for k, v in obj.attrs.items()})

        f.visititems(visit)
    return found


def test_committed_examples_are_what_the_script_makes(tmp_path):
    made = make_examples.main(tmp_path)
    assert [p.name for p in made] == ["recording.h5", "reaction_times.csv", "images.zarr"]
    assert (tmp_path / "reaction_times.csv").read_bytes() == (EXAMPLES / "reaction_times.csv").read_bytes()
    ours, theirs = _h5_contents(tmp_path / "recording.h5"), _h5_contents(EXAMPLES / "recording.h5")
    assert ours.keys() == theirs.keys() == {"/", "session1", "session1/eeg", "session1/events", "session2",
                                             "session2/eeg", "session2/events"}
    for name in ours.keys() - {"/"}:
        (data, attrs), (their_data, their_attrs) = ours[name], theirs[name]
        assert (data is None and their_data is None) or np.array_equal(data, their_data)
        assert attrs.keys() == their_attrs.keys()
    for name in ("images", "mean_intensity"):
        a = zarr.open_array(str(tmp_path / "images.zarr" / name), mode="r")[:]
        b = zarr.open_array(str(EXAMPLES / "images.zarr" / name), mode="r")[:]
        assert np.array_equal(a, b)


def test_python_dash_m_sciio_is_the_script():
    proc = subprocess.run([sys.executable, "-m", "sciio", "--version"], capture_output=True, text=True, timeout=60,
                          env=cli_env())
    assert proc.returncode == 0 and proc.stdout.startswith("sciio ")


async def test_sciio_serve_is_the_mcp_server_over_stdio(root):
    transport = StdioTransport(command=installed_sciio(), args=["serve", "--root", str(root), "--hdf5-workers", "0"],
                               env=cli_env())
    async with Client(transport) as client:
        tools = {t.name for t in await client.list_tools()}
        assert {"load_summary", "explore_h5", "read_slice", "convert"} <= tools
        result = await client.call_tool("load_summary", {"path": "recording.h5"})
        assert result.structured_content["summary"]["n_children"] == 2
    # global options before `serve` carry over (here: read-only, so no writing tools)
    transport = StdioTransport(command=installed_sciio(), args=["--root", str(root), "--read-only", "serve"],
                               env=cli_env())
    async with Client(transport) as client:
        tools = {t.name for t in await client.list_tools()}
        assert "load_summary" in tools and "convert" not in tools
