"""What depends on a terminal: a progress bar on stderr only when stderr is one, colours only when stdout is one;
and startup: a command imports neither FastMCP nor libraries its file does not need."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import numpy as np

from tests.cli.conftest import cli_env, sciio


def _run_with_tty(args: list[str], cwd, *, tty_stream: str) -> tuple[int, str, str]:
    """Run ``python -m sciio ARGS`` with stdout or stderr on a pseudo-terminal (the other one piped)."""
    master, slave = pty.openpty()
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, tty_stream: slave}
    proc = subprocess.Popen([sys.executable, "-m", "sciio", *args], cwd=cwd, env=cli_env(TERM="xterm-256color"),
                            **streams)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    other = (proc.stderr if tty_stream == "stdout" else proc.stdout).read().decode()
    status = proc.wait(timeout=60)
    os.close(master)
    return status, seen.decode(errors="replace"), other


def test_progress_bar_on_a_terminal_stderr_only(root):
    np.save(root / "big.npy", np.arange(4_000_000, dtype="float64"))
    status, stderr, stdout = _run_with_tty(["summary", "big.npy", "--exact", "--json"], root, tty_stream="stderr")
    assert status == 0, stderr
    assert "exact stats of big.npy" in stderr  # the bar, drawn on the terminal
    assert re.search(r"\d+%", stderr)  # with the fraction done: the Workspace's progress callback reached it
    assert json.loads(stdout)["summary"]["stats"]["count"] == 4_000_000  # stdout: only the result
    piped = sciio("summary", "big.npy", "--exact", "--json", cwd=root)
    assert piped.returncode == 0 and piped.stderr == ""  # no bar in a pipe


def test_colours_only_on_a_terminal(root):
    status, stdout, _ = _run_with_tty(["tree", "recording.h5"], root, tty_stream="stdout")
    assert status == 0 and "\x1b[" in stdout and "session1" in stdout
    piped = sciio("tree", "recording.h5", cwd=root)
    assert piped.returncode == 0 and "\x1b[" not in piped.stdout and "session1" in piped.stdout


_PROBE = """
import json, sys
from sciio.main import main
status = main({args!r})
heavy = ("fastmcp", "mcp", "h5py", "pandas", "zarr", "mne", "scipy", "pyarrow", "matplotlib")
sys.stderr.write(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))) + "\\n")
raise SystemExit(status)
"""


def _heavy_after(args: list[str], cwd) -> list[str]:
    proc = subprocess.run([sys.executable, "-c", _PROBE.format(args=args)], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_commands_import_only_what_their_file_needs(root):
    assert _heavy_after(["formats"], root) == []
    assert _heavy_after(["codes"], root) == []
    loaded = _heavy_after(["summary", "reaction_times.csv"], root)
    assert "pandas" in loaded and not {"fastmcp", "mcp", "h5py", "zarr", "mne"} & set(loaded)
    loaded = _heavy_after(["tree", "recording.h5"], root)
    assert "h5py" in loaded and "fastmcp" not in loaded and "mcp" not in loaded and "pandas" not in loaded
    loaded = _heavy_after(["convert", "reaction_times.csv", "rt.parquet"], root)  # through the compute engine's router
    assert "pyarrow" in loaded and not {"fastmcp", "mcp"} & set(loaded)


def test_a_reader_closing_early_is_not_a_failure(root):
    for args in (["formats"], ["formats", "--json"]):
        proc = subprocess.Popen([sys.executable, "-m", "sciio", *args], cwd=root, env=cli_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdout.close()  # like `| head -0`: every write finds the pipe closed
        assert proc.wait(timeout=60) == 0
        assert proc.stderr.read() == b""
