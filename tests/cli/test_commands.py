"""Every ``sciio`` subcommand through a real subprocess: exit status, ``--json`` equal to the MCP tool's structured
result for the same call on the same root, and the key facts in the human output (no colour codes when piped)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.cli.conftest import json_of, sciio

ANSI = "\x1b["


def human(*args: str, cwd: Path) -> str:
    proc = sciio(*args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert ANSI not in proc.stdout  # piped: no colour codes
    return proc.stdout


async def test_summary_json_is_load_summary(root, tool):
    assert json_of(sciio("summary", "recording.h5", "--json", cwd=root)) == await tool("load_summary",
                                                                                      path="recording.h5")
    cli = json_of(sciio("--json", "summary", "recording.h5", "--key", "session1/eeg", "--exact", cwd=root))
    assert cli == await tool("load_summary", path="recording.h5", key="session1/eeg", exact_stats=True)
    assert cli["summary"]["shape"] == [4, 2000] and cli["summary"]["stats"]["count"] == 8000
    assert json_of(sciio("summary", "reaction_times.csv", "--json", cwd=root)) == await tool("load_summary",
                                                                                    path="reaction_times.csv")


def test_summary_human(root):
    out = human("summary", "recording.h5", cwd=root)
    assert "session1" in out and "session2" in out and "Example EEG-like recording" in out and "hdf5" in out
    out = human("summary", "reaction_times.csv", cwd=root)
    assert "60 rows x 5 columns" in out
    assert "reaction_time_s" in out and "incongruent" in out
    out = human("summary", "recording.h5", "--key", "session1/eeg", cwd=root)
    assert "(4, 2000)" in out and "<f4" in out and "(4, 250)" in out


async def test_tree_json_is_explore_h5_and_explore_zarr(root, tool):
    cli = json_of(sciio("tree", "recording.h5", "--depth", "3", "--json", cwd=root))
    assert cli == await tool("explore_h5", path="recording.h5", depth=3)
    cli = json_of(sciio("tree", "recording.h5", "--group", "/session1", "--detail", "--json", cwd=root))
    assert cli == await tool("explore_h5", path="recording.h5", group="/session1", detail=True)
    cli = json_of(sciio("tree", "images.zarr", "--json", cwd=root))
    assert cli == await tool("explore_zarr", path="images.zarr")


def test_tree_human(root):
    out = human("tree", "recording.h5", "--depth", "3", cwd=root)
    lines = out.splitlines()
    assert any("session1" in line and "2 member(s)" in line for line in lines)
    eeg = [line for line in lines if "eeg" in line]
    assert len(eeg) == 2 and "(4, 2000)" in eeg[0] and "(4, 1500)" in eeg[1] and "chunks (4, 250)" in eeg[0]
    assert "└──" in out or "`--" in out  # drawn as a tree
    out = human("tree", "images.zarr", cwd=root)
    assert "images" in out and "(8, 32, 32)" in out and "mean_intensity" in out and "zarr v3" in out
    out = human("tree", "recording.h5", "--depth", "2", "--detail", cwd=root)
    assert out.count("@sfreq = 250") == 2 and '@channels = ["Fz", "Cz", "Pz", "Oz"]' in out


async def test_slice_json_is_read_slice(root, tool):
    cli = json_of(sciio("slice", "recording.h5", "0:2, 0:6", "--key", "session1/eeg", "--json", cwd=root))
    assert cli == await tool("read_slice", path="recording.h5", key="session1/eeg", selection="0:2, 0:6")
    cli = json_of(sciio("slice", "reaction_times.csv", "--offset", "10", "--limit", "5", "--columns", "trial,condition",
                        "--json", cwd=root))
    assert cli == await tool("read_slice", path="reaction_times.csv", offset=10, limit=5, columns=["trial", "condition"])
    cli = json_of(sciio("slice", "recording.h5", "0, 0:3", "--key", "session2/eeg", "--digits", "3", "--json",
                        cwd=root))
    assert cli == await tool("read_slice", path="recording.h5", key="session2/eeg", selection="0, 0:3", digits=3)


def test_slice_human(root, tool):
    values = json_of(sciio("slice", "recording.h5", "0:2, 0:6", "--key", "session1/eeg", "--json", cwd=root))
    out = human("slice", "recording.h5", "0:2, 0:6", "--key", "session1/eeg", cwd=root)
    first = values["slice"]["values"][0][0]
    assert f"{first:.7g}" in out and "(2, 6)" in out
    out = human("slice", "reaction_times.csv", "0:3", cwd=root)
    assert "rows 0-2 of 60" in out and "congruent" in out and "reaction_time_s" in out


async def test_preview_writes_the_tools_png_and_prints_its_caption(root, tool):
    proc = sciio("preview", "recording.h5", "--key", "session1/eeg", "-o", "eeg.png", "--json", cwd=root)
    cli = json_of(proc)
    result = await tool.client.call_tool("preview_image", {"path": "recording.h5", "key": "session1/eeg"})
    image, caption = result.content
    assert cli == json.loads(caption.text)
    assert (root / "eeg.png").read_bytes() == base64.b64decode(image.data)
    out = human("preview", "reaction_times.csv", "-o", "rt.png", cwd=root)
    assert "wrote rt.png" in out and "line" in out
    assert (root / "rt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_convert_history_verify(root, tool):
    cli = json_of(sciio("convert", "reaction_times.csv", "rt.parquet", "--json", cwd=root))
    assert cli["format"] == "parquet" and cli["recorded"] is True
    again = await tool("convert", src="reaction_times.csv", dst="rt.parquet", overwrite=True)  # same bytes, replaced
    assert again == {**cli, "overwritten": True}

    assert json_of(sciio("history", "rt.parquet", "--json", cwd=root)) == await tool("file_provenance",
                                                                                        path="rt.parquet")
    out = human("history", "rt.parquet", cwd=root)
    assert "2 record(s)" in out and "convert" in out and "reaction_times.csv" in out and cli["sha256"][:16] in out

    proc = sciio("verify", "rt.parquet", "--json", cwd=root)
    assert json_of(proc) == await tool("verify_file", path="rt.parquet")
    assert json.loads(proc.stdout)["status"] == "OK"
    out = human("verify", "rt.parquet", cwd=root)
    assert out.startswith("OK") and cli["sha256"] in out

    out = human("convert", "recording.h5", "eeg.npy", "--key", "session1/eeg", cwd=root)
    assert "wrote eeg.npy" in out and "npy" in out
    assert json_of(sciio("summary", "eeg.npy", "--json", cwd=root))["summary"]["shape"] == [4, 2000]


async def test_find_json_is_find_files(root, tool):
    cli = json_of(sciio("find", "runs/**/*.csv", "--json", cwd=root))
    assert cli == await tool("find_files", pattern="runs/**/*.csv")
    cli = json_of(sciio("find", "runs/sub_{id}/run_{run}.csv", "--parse", "--json", cwd=root))
    assert cli == await tool("find_files", pattern="runs/sub_{id}/run_{run}.csv", parse=True)


def test_find_human_prints_one_path_a_line_naturally_sorted(root):
    out = human("find", "runs/**/*.csv", cwd=root)
    assert out.splitlines() == ["runs/sub_01/run_1.csv", "runs/sub_02/run_2.csv", "runs/sub_10/run_10.csv"]
    out = human("find", "runs/sub_{id}/run_{run}.csv", "--parse", cwd=root)
    assert "id" in out and "run" in out and any("sub_10" in line and " 10 " in f" {line} " for line in out.splitlines())


async def test_configs_json_is_load_configs(root, tool):
    cli = json_of(sciio("configs", "config", "--json", cwd=root))
    assert cli == await tool("load_configs", config_dir="config")
    assert cli["keys"] == ["MODEL", "PATHS"]
    out = human("configs", cwd=root)
    assert "MODEL" in out and "LR: 0.01" in out and "LAYERS: [64, 32]" in out


async def test_formats_json_is_list_formats(root, tool):
    cli = json_of(sciio("formats", "--json", cwd=root))
    assert cli == await tool("list_formats")
    out = human("formats", cwd=root)
    assert any(line.split()[:2] == ["hdf5", ".h5"] for line in out.splitlines())
    assert f"{cli['n_available']} of {len(cli['formats'])} formats available" in out


def test_codes_lists_every_exit_status(root):
    table = json_of(sciio("codes", "--json", cwd=root))["exit_statuses"]
    assert {e["status"] for e in table} >= {0, 1, 2, 3, 4, 130}
    out = human("codes", cwd=root)
    assert "PATH_OUTSIDE_ROOT" in out and "FILE_NOT_FOUND" in out
    helptext = human("--help", cwd=root)
    assert "exit status:" in helptext and "PATH_OUTSIDE_ROOT" in helptext and "summary" in helptext


async def test_tree_of_an_experiment_store(root, tool):
    for target in (1, 2, 3):
        await tool("record_trial", store="store", subject="p1", task="reach", attrs={"target": target},
                   arrays={"emg": [[0.1, 0.2], [0.3, 0.4]]})
    cli = json_of(sciio("tree", "store", "--depth", "3", "--json", cwd=root))
    assert cli["format"] == "experiment" and cli["node"]["children"][0]["name"] == "p1"
    out = human("tree", "store", "--depth", "3", cwd=root)
    assert "store  experiment" in out and "p1" in out and "reach" in out and "(3, 3)" in out
    out = human("summary", "store", "--key", "p1/reach/trials", cwd=root)
    assert "3 rows x 3 columns" in out and "target" in out


def test_tree_pages_children(root):
    out = human("tree", "recording.h5", "--limit", "1", cwd=root)
    assert "session1" in out and "session2" not in out and "1 more (--offset 1)" in out
    out = human("tree", "recording.h5", "--limit", "1", "--offset", "1", cwd=root)
    assert "session2" in out and "session1" not in out


async def test_convert_goes_where_the_tool_goes_many_files_and_zarr(root, tool):
    """The tool converts on the compute engine's workspace (a glob into one parquet or Zarr; an array into Zarr):
    the command gives the same file for the same call."""
    for src, dst, key in (("runs/**/*.csv", "all.parquet", None), ("recording.h5", "eeg.zarr", "session1/eeg")):
        args = ["convert", src, f"cli-{dst}", "--json"] + (["--key", key] if key else [])
        cli = json_of(sciio(*args, cwd=root))
        theirs = await tool("convert", src=src, dst=f"mcp-{dst}", **({"key": key} if key else {}))
        assert cli == {**theirs, "path": f"cli-{dst}"}
    assert json_of(sciio("summary", "cli-all.parquet", "--json", cwd=root))["summary"]["n_rows"] == 3
