"""A read-only server changes nothing in its root (issue #10, point 7).

The root holds one file of every registry format that can be saved (written on a
staging root, then copied in; the registry is enumerated, so a new format cannot be
left out), plus a Zarr folder, a WAL-mode SQLite database and one whose writer left a
``-wal``/``-shm`` pair behind. Every read tool of the ``--read-only`` server runs over
every file through FastMCP's in-memory client; names, sizes, modes and mtimes of every
entry (folders too, so a file made and removed again shows) must be unchanged, and no
``.sciio`` ledger may appear.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fastmcp import Client

from io_core.registry import REGISTRY
from io_core.workspace import Workspace
from server.app import create_app
from server.settings import Settings
from tests.formats.test_conformance import CASES

READ_TOOLS = {"list_roots", "list_formats", "load_summary", "read_slice", "preview_image", "explore_h5",
              "explore_zarr", "key_exists", "read_metadata", "find_files", "load_configs", "file_provenance",
              "verify_file", "cache_info", "clear_cache"}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below ``root`` (and root itself): kind, size, mode, mtime, without following links."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files]:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_mode, st.st_size if not os.path.isdir(path) else 0,
                                                st.st_mtime_ns)
    return out


def _fallback_samples():
    yield np.arange(12, dtype=np.float32).reshape(3, 4)
    yield {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}
    yield {"name": "x", "n": 1}
    yield "text\n"
    yield {"results": [{"values": np.zeros((2, 1, 3, 1)), "modes": ["a", "b"]}]}  # a result bundle (.ndr/.ndc)


def _stage_every_savable_format(stage: Path) -> list[str]:
    """One file per savable, available format (conformance samples, else generic ones); their names."""
    ws = Workspace([stage], allow_pickle=True)
    samples = {}
    for case in CASES:
        samples.setdefault(case.fmt, (case.ext, case.sample))
    names, missing = [], []
    for spec in REGISTRY.specs.values():
        if not spec.can_save or not REGISTRY.is_available(spec):
            continue
        ext, sample = samples.get(spec.name, (spec.extensions[0], None))
        name = f"f_{spec.name}{ext}"
        tries = [sample()] if sample is not None else list(_fallback_samples())
        for data in tries:
            try:
                ws.save(data, name, format=spec.name)
                break
            except Exception:  # noqa: BLE001, S112 - try the next generic sample
                continue
        else:
            missing.append(spec.name)
            continue
        names.append(name)
    assert not missing, f"formats that can save but got no file here (add a sample): {missing}"
    return names


def _sqlite_wal(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"r{i}") for i in range(50)])
    con.commit()
    con.close()


def _sqlite_stale_wal(stage: Path, root: Path) -> None:
    """A WAL database copied with its -wal and -shm while the writer is still open (a crash, as found on disk)."""
    src = stage / "live.sqlite"
    con = sqlite3.connect(src)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("CREATE TABLE t (a INTEGER)")
    con.commit()
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    try:
        for suffix in ("", "-wal", "-shm"):
            shutil.copy2(f"{src}{suffix}", root / f"stale.sqlite{suffix}")
    finally:
        con.close()
    assert (root / "stale.sqlite-wal").stat().st_size > 0


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> tuple[Path, list[str]]:
    base = tmp_path_factory.mktemp("readonly")
    stage, root = base / "stage", base / "root"
    stage.mkdir()
    root.mkdir()
    names = _stage_every_savable_format(stage)
    for name in names:
        src = stage / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, root / name)
        for companion in stage.glob(Path(name).stem.split(".")[0] + ".*"):  # .vhdr/.eeg/.vmrk, .set/.fdt
            if companion.name not in names and not (root / companion.name).exists():
                shutil.copy2(companion, root / companion.name)
    import zarr

    z = zarr.open_group(str(root / "store.zarr"), mode="w")
    z.create_array("a", shape=(6, 4), chunks=(3, 2), dtype="int16")[:] = np.arange(24, dtype=np.int16).reshape(6, 4)
    z.create_group("g").attrs["unit"] = "mV"
    _sqlite_wal(root / "wal.sqlite")
    _sqlite_stale_wal(stage, root)
    (root / "config").mkdir()
    (root / "config" / "model.yaml").write_text("lr: 0.01\nlayers: [1, 2]\n")
    (root / "config" / "IS_DEBUG.yaml").write_text("IS_DEBUG: false\n")
    assert not (root / ".sciio").exists()
    return root, sorted(p.name for p in root.iterdir())


async def _every_read_call(c: Client, names: list[str]) -> tuple[int, set[str]]:
    calls, used = 0, set()

    async def call(tool: str, **args) -> None:
        nonlocal calls
        used.add(tool)
        await c.call_tool(tool, args, raise_on_error=False)  # refusals are fine; changes are not
        calls += 1

    for tool in ("list_roots", "list_formats", "cache_info"):
        await call(tool)
    await call("find_files", pattern="**")
    await call("find_files", pattern="**/*.{h5,nc,sqlite}", parse=True)
    await call("load_configs", config_dir="config")
    for name in names:
        await call("load_summary", path=name)
        await call("load_summary", path=name, exact_stats=True)
        await call("read_slice", path=name)
        await call("read_slice", path=name, offset=1, limit=2)
        await call("preview_image", path=name)
        await call("read_metadata", path=name)
        await call("file_provenance", path=name)
        await call("verify_file", path=name)
    for name in [n for n in names if n.endswith((".h5", ".hdf5", ".he5", ".nc", ".nc4", ".mat"))]:
        await call("explore_h5", path=name, depth=3)
        await call("key_exists", path=name, key="ints")
        await call("load_summary", path=name, key="ints", exact_stats=True)
        await call("read_slice", path=name, key="ints", selection="[0:2]")
    for group in ("", "a", "g"):
        await call("explore_zarr", path="store.zarr", group=group)
        await call("key_exists", path="store.zarr", key=group or "a")
    await call("read_slice", path="store.zarr", key="a", selection="[1:4, :]")
    await call("load_summary", path="store.zarr", key="a", exact_stats=True)
    for db in ("wal.sqlite", "stale.sqlite", "f_sqlite.db"):
        await call("load_summary", path=db, key="t")
        await call("read_slice", path=db, key="t", offset=0, limit=5)
    await call("cache_info")
    await call("clear_cache")
    return calls, used


async def test_no_read_tool_changes_a_read_only_root(root):
    folder, names = root
    before = snapshot(folder)
    async with Client(create_app(Settings(roots=[folder], read_only=True))) as c:
        listed = {t.name for t in await c.list_tools()}
        assert READ_TOOLS <= listed and "save" not in listed
        calls, used = await _every_read_call(c, names)
    assert used == READ_TOOLS and calls > 8 * len(names)
    after = snapshot(folder)
    assert not (folder / ".sciio").exists()
    assert after == before, {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
                             if before.get(k) != after.get(k)}


async def test_the_wal_databases_read_without_files_beside_them(root):
    folder, _ = root
    before = snapshot(folder)
    async with Client(create_app(Settings(roots=[folder], read_only=True))) as c:
        wal = (await c.call_tool("load_summary", {"path": "wal.sqlite", "key": "t"})).structured_content
        assert wal["summary"]["n_rows"] == 50
        stale = (await c.call_tool("load_summary", {"path": "stale.sqlite"})).structured_content
        assert "not yet checkpointed" in stale["summary"]["attrs"]["note"]  # honest about the unread -wal
        page = (await c.call_tool("read_slice", {"path": "wal.sqlite", "key": "t", "offset": 48})).structured_content
        assert [r["b"] for r in page["slice"]["rows"]] == ["r48", "r49"]
    assert snapshot(folder) == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("wal.")) == ["wal.sqlite"]


def test_workspace_reads_of_a_wal_database_create_no_companions(tmp_path):
    """The io_core path, without the server: load, summarize, slice, stream a WAL-mode database."""
    _sqlite_wal(tmp_path / "w.db")
    before = snapshot(tmp_path)
    ws = Workspace([tmp_path], read_only=True)
    assert ws.summarize("w.db").summary.n_children == 1
    assert len(ws.load("w.db", key="t")) == 50
    assert ws.read_slice("w.db", key="t", limit=3).slice.total_rows == 50
    assert ws.summarize("w.db", key="t", exact_stats=True).summary.n_rows == 50
    assert snapshot(tmp_path) == before
