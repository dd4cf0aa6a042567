"""save's options from stx.io (issue 16 point 5): dry_run writes and records nothing; symlink_to plants a relative link
inside the roots, confined like every path. Through the library and through the MCP save tool."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fastmcp import Client
from matplotlib.figure import Figure

from io_core import Workspace
from io_core.errors import ExistsError, PathOutsideRootError, ReadOnlyError
from server.app import create_app
from server.settings import Settings

RECORDS = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` (the ledger's folder too) with its size and mtime: a write shows here."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), folder)] = (st.st_size, st.st_mtime_ns)
    return out


def ledger_rows(root: Path) -> int:
    with sqlite3.connect(root / ".sciio" / "ledger.sqlite") as conn:
        return conn.execute("SELECT count(*) FROM records").fetchone()[0]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def ws(root: Path) -> Workspace:
    ws = Workspace([root])
    ws.save({"seed": 1}, "first.json")  # the ledger exists: a dry run must leave it as it is
    return ws


# -- dry_run ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, fmt", [("t.csv", RECORDS, "csv"), ("d.json", {"k": [1, 2, 3]}, "json"),
                                             ("r.jsonl", RECORDS, "jsonl"),
                                             ("a.npy", np.arange(100, dtype=np.float32), "npy"),
                                             ("h.h5", {"x": np.zeros((10, 10))}, "hdf5")])
def test_dry_run_writes_nothing_and_records_nothing(ws, root, name, data, fmt):
    before, rows = listing(root), ledger_rows(root)
    result = ws.save(data, f"sub/{name}", dry_run=True, symlink_to="links/latest")
    assert result.dry_run and result.format == fmt and result.path == f"sub/{name}"
    assert result.sha256 == "" and not result.recorded and not result.overwritten
    assert result.symlink == "links/latest"
    assert listing(root) == before and ledger_rows(root) == rows  # no file, no folder, no ledger row
    real = ws.save(data, f"sub/{name}")
    if fmt in ("json", "jsonl"):  # formats that save to a stream are counted exactly, without writing
        assert result.size_bytes == real.size_bytes
    else:
        assert result.size_bytes > 0


def test_dry_run_makes_the_checks_a_save_makes(ws, root):
    with pytest.raises(ExistsError):
        ws.save({"x": 1}, "first.json", dry_run=True)
    plan = ws.save({"x": 1}, "first.json", dry_run=True, overwrite=True)
    assert plan.overwritten and json.loads((root / "first.json").read_text()) == {"seed": 1}
    with pytest.raises(PathOutsideRootError):
        ws.save({"x": 1}, "../outside.json", dry_run=True)
    with pytest.raises(ReadOnlyError):
        Workspace([root], read_only=True).save({"x": 1}, "new.json", dry_run=True)
    assert not (root / "new.json").exists()


def test_dry_run_of_a_figure_lists_its_sidecars(ws, root):
    fig = Figure()
    fig.add_subplot().plot([1, 2, 3], [4, 5, 6], label="l")
    before = listing(root)
    plan = ws.save(fig, "fig.svg", dry_run=True)
    assert plan.dry_run and plan.format == "svg" and plan.sidecars == ["fig.csv", "fig.yaml"]
    assert plan.size_bytes > 0 and listing(root) == before


# -- symlink_to ------------------------------------------------------------------------------------

def test_symlink_to_plants_a_relative_link_inside_the_roots(ws, root):
    result = ws.save(RECORDS, "runs/3/table.csv", symlink_to="latest/table.csv")
    link = root / "latest" / "table.csv"
    assert result.symlink == "latest/table.csv"
    assert link.is_symlink() and os.readlink(link) == "../runs/3/table.csv"  # relative: the tree can move
    assert link.read_bytes() == (root / "runs/3/table.csv").read_bytes()
    assert ws.file_provenance("runs/3/table.csv").records[0].arguments["symlink_to"] == "latest/table.csv"
    ws.save(RECORDS[:1], "runs/4/table.csv", symlink_to="latest/table.csv")  # an existing link is replaced
    assert os.readlink(link) == "../runs/4/table.csv"
    assert [p.name for p in link.parent.iterdir()] == ["table.csv"]  # no temp link left behind


def test_symlink_to_outside_the_roots_is_refused_before_anything_is_written(ws, root, tmp_path):
    for outside in ("../escape.csv", str(tmp_path / "escape.csv"), "/etc/sciio-link"):
        with pytest.raises(PathOutsideRootError):
            ws.save(RECORDS, "kept.csv", symlink_to=outside)
    assert not (root / "kept.csv").exists() and not (tmp_path / "escape.csv").exists()
    os.symlink(tmp_path, root / "door")  # a folder link leading out of the roots: resolved, so refused too
    with pytest.raises(PathOutsideRootError):
        ws.save(RECORDS, "kept.csv", symlink_to="door/escape.csv")
    with pytest.raises(PathOutsideRootError):  # the ledger's folder is reserved
        ws.save(RECORDS, "kept.csv", symlink_to=".sciio/ledger.sqlite")
    assert not (root / "kept.csv").exists()


def test_symlink_to_an_existing_file_needs_overwrite(ws, root):
    (root / "taken.csv").write_text("mine")
    with pytest.raises(ExistsError):
        ws.save(RECORDS, "t.csv", symlink_to="taken.csv")
    assert (root / "taken.csv").read_text() == "mine" and not (root / "t.csv").exists()
    ws.save(RECORDS, "t.csv", symlink_to="taken.csv", overwrite=True)
    assert os.readlink(root / "taken.csv") == "t.csv"


def test_symlink_to_a_figure(ws, root):
    fig = Figure()
    fig.add_subplot().scatter([1, 2], [3, 4])
    result = ws.save(fig, "figs/f.png", symlink_to="f_latest.png")
    assert result.symlink == "f_latest.png" and os.readlink(root / "f_latest.png") == "figs/f.png"
    assert ws.read_metadata("f_latest.png").metadata["sidecars"][0]["file"] == "f.csv"


# -- through the MCP save tool ---------------------------------------------------------------------

@pytest.fixture
async def client(root: Path):
    async with Client(create_app(Settings(roots=[root]))) as c:
        yield c


async def test_save_tool_dry_run_and_symlink_to(client, root):
    await client.call_tool("save", {"path": "first.json", "data": {"seed": 1}})  # the server's ledger exists
    before, rows = listing(root), ledger_rows(root)
    res = await client.call_tool("save", {"path": "out/t.jsonl", "data": RECORDS, "dry_run": True,
                                          "symlink_to": "t_latest.jsonl"})
    plan = res.structured_content
    assert plan["dry_run"] is True and plan["path"] == "out/t.jsonl" and plan["format"] == "jsonl"
    assert plan["symlink"] == "t_latest.jsonl" and plan["size_bytes"] > 0
    assert listing(root) == before and ledger_rows(root) == rows

    res = await client.call_tool("save", {"path": "out/t.jsonl", "data": RECORDS, "symlink_to": "t_latest.jsonl"})
    done = res.structured_content
    assert "dry_run" not in done and done["size_bytes"] == plan["size_bytes"] and done["symlink"] == "t_latest.jsonl"
    assert os.readlink(root / "t_latest.jsonl") == "out/t.jsonl" and ledger_rows(root) == rows + 1

    res = await client.call_tool("save", {"path": "u.csv", "data": RECORDS, "symlink_to": "../escape.csv"},
                                 raise_on_error=False)
    assert res.is_error and "PATH_OUTSIDE_ROOT" in res.content[0].text
    assert not (root / "u.csv").exists() and not (root.parent / "escape.csv").exists()
