"""The world the hostile corpus runs in, and the servers it runs against.

One temporary base folder per session::

    base/data/        first root of the read-write server (each case gets data/<case id>/)
    base/data2/       its second root
    base/ro/          the only root of the --read-only server
    base/outside/     files holding the marker, which must never come back
    base/data-evil/, base/data_backup/, base/data2_old/   outside too: names that share a root's prefix

Both servers are the installed ``sciio-mcp`` script over stdio (session-scoped; restarted
when a case leaves one dead or hung). Set ``SCIIO_SECURITY_REPORT=<file>`` to write the
failing cases with their responses to that file at the end of the run.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.security import builders as b
from tests.security.harness import Marker, StdioServer

CALL_TIMEOUT = 10.0


@dataclass
class World:
    base: Path
    root: Path
    root2: Path
    ro: Path
    outside: Path
    marker: Marker

    @property
    def ro_warm(self) -> Path:
        return self.base / "ro_warm"

    @property
    def outside_dirs(self) -> list[Path]:
        return [self.outside, *(self.base / n for n in ("data-evil", "data_backup", "data2_old"))]


def build_outside(w: World) -> None:
    m = w.marker.text
    raw = m.encode()
    out = w.outside
    (out / "dir").mkdir(parents=True)
    (out / "racedir").mkdir()
    (out / "secret.txt").write_text(f"top secret: {m}\n" * 3)
    (out / "dir" / "secret.txt").write_text(f"top secret: {m}\n")
    (out / "secret.csv").write_text(f"name,value\n{m},1\n")
    (out / "dir" / "secret.csv").write_text(f"name,value\n{m},2\n")
    (out / "secret.json").write_text(f'{{"secret": "{m}"}}')
    (out / "secret.yaml").write_text(f"secret: {m}\n")
    np.save(out / "secret.npy", np.array([raw] * 4))
    (out / "raw.bin").write_bytes(raw * 64)
    (out / "secret.img").write_bytes(raw)  # 4 x 7 uint8 voxels of a NIfTI pair
    (out / "victim.txt").write_text("original outside content\n")
    (out / f"{m}.txt").write_text("a file whose name is the secret\n")
    (out / "dir" / f"{m}-2.txt").write_text("another\n")

    def secret_h5(f):
        f["num"] = np.frombuffer(raw, "u1")
        f["x"] = np.array([raw] * 4)
        f.attrs["secret"] = m  # explored with attrs=True, a followed link shows it
        f["num"].attrs["secret"] = m

    b.h5file(out / "secret.h5", secret_h5)
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("secret", m)
    Image.fromarray(np.frombuffer(raw, "u1").reshape(4, 7)).save(out / "secret.png", pnginfo=info)
    import zarr

    z = zarr.create_array(str(out / "zs.zarr"), shape=(len(raw),), chunks=(len(raw),), dtype="u1", compressors=None)
    z[:] = np.frombuffer(raw, "u1")
    (out / "secret.vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile=secret.eeg\n\n[Marker Infos]\nMk1=Stimulus,{m},10,1,0\nMk2=Comment,{m},20,1,0\n"
    )
    (out / "secret.eeg").write_bytes((raw * 100)[: 2 * 100 * 4])
    (out / "secret.fdt").write_bytes((raw * 100)[: 2 * 50 * 4])
    for name in ("data-evil", "data_backup", "data2_old"):
        (w.base / name).mkdir()
        (w.base / name / "secret.txt").write_text(f"sibling secret: {m}\n")
        (w.base / name / "secret.csv").write_text(f"name,value\n{m},3\n")
    os.symlink(out / "secret.txt", w.base / "link1")
    os.symlink(w.base / "link1", w.base / "link2")


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    base = tmp_path_factory.mktemp("security")
    w = World(base, base / "data", base / "data2", base / "ro", base / "outside",
              Marker(f"SCIIOSECRET-{secrets.token_hex(8)}"))
    for p in (w.root, w.root2, w.ro, w.outside):
        p.mkdir()
    build_outside(w)
    build_read_only_root(w)
    return w


def build_read_only_root(w: World) -> None:
    """Ordinary files of several families in the read-only root (a WAL-mode SQLite among them)."""
    ro = w.ro
    db = sqlite3.connect(ro / "wal.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"r{i}") for i in range(20)])
    db.commit()
    db.close()
    assert not (ro / "wal.sqlite-wal").exists()
    b.csv_rows(ro / "t.csv", 50, 3)
    np.save(ro / "a.npy", np.arange(12.0).reshape(3, 4))
    b.write_json(ro / "v.json", {"a": [1, 2, 3]})
    (ro / "c.yaml").write_text("a: 1\nb: [1, 2]\n")
    (ro / "config").mkdir()
    (ro / "config" / "model.yaml").write_text("lr: 0.1\n")
    b.h5file(ro / "t.h5", lambda f: f.create_dataset("x", data=np.arange(100.0).reshape(10, 10)))
    _small_png(ro / "p.png")
    (ro / "notes.txt").write_text("hello\n")
    import zarr

    z = zarr.create_array(str(ro / "z.zarr"), shape=(8,), chunks=(4,), dtype="i4")
    z[:] = np.arange(8)


def _small_png(path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.arange(64, dtype="u1").reshape(8, 8)).save(path)


def build_warm(warm: Path) -> None:
    """One small file per family the cases touch (built once)."""
    if (warm / "done").exists():
        return
    warm.mkdir(exist_ok=True)
    b.h5file(warm / "w.h5", lambda f: f.create_dataset("x", data=np.arange(10.0)))
    b.h5file(warm / "w.nc", lambda f: f.create_dataset("x", data=np.arange(10.0)))
    b.mat73(warm / "w.mat", lambda f: f.create_dataset("x", data=np.arange(10, dtype="u1")))
    b.csv_rows(warm / "w.csv", 10, 2)
    np.savez(warm / "w.npz", x=np.arange(3))
    b.write_json(warm / "w.json", {"a": [1, 2]})
    (warm / "w.yaml").write_text("a: 1\n")
    (warm / "w.txt").write_text("hello\n")
    (warm / "w.jsonl").write_text('{"a": 1}\n')
    _small_png(warm / "w.png")
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append([1, 2])
    wb.save(warm / "w.xlsx")
    b.brainvision(warm, "w")
    b.eeglab_set(warm / "w.set", "w.fdt")
    (warm / "w.fdt").write_bytes(bytes(2 * 50 * 4))
    db = sqlite3.connect(warm / "w.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (a INTEGER)")
    db.commit()
    db.close()
    import zarr

    zarr.create_array(str(warm / "w.zarr"), shape=(4,), chunks=(4,), dtype="u1")[:] = 1
    (warm / "config").mkdir()
    (warm / "config" / "a.yaml").write_text("a: 1\n")
    (warm / "done").write_text("")


def warm_up(server: StdioServer, warm: Path, writable: bool) -> None:
    """Touch every library a case will use, so memory growth measured later is the case's own."""
    build_warm(warm)
    w = str(warm)
    calls = [("list_roots", {}), ("list_formats", {}), ("cache_info", {}), ("find_files", {"pattern": f"{w}/*"}),
             ("load_configs", {"config_dir": f"{w}/config"})]
    for name in ("w.h5", "w.nc", "w.mat", "w.csv", "w.npz", "w.json", "w.yaml", "w.txt", "w.jsonl", "w.png",
                 "w.xlsx", "w.vhdr", "w.set", "w.sqlite", "w.zarr"):
        calls += [("load_summary", {"path": f"{w}/{name}"}), ("read_slice", {"path": f"{w}/{name}", "limit": 2}),
                  ("load_summary", {"path": f"{w}/{name}", "exact_stats": True}),
                  ("preview_image", {"path": f"{w}/{name}"})]
    calls += [("preview_image", {"path": f"{w}/w.h5", "key": "x"}), ("explore_h5", {"path": f"{w}/w.h5"}),
              ("explore_zarr", {"path": f"{w}/w.zarr"}), ("key_exists", {"path": f"{w}/w.h5", "key": "x"}),
              ("read_metadata", {"path": f"{w}/w.png"}), ("file_provenance", {"path": f"{w}/w.csv"}),
              ("verify_file", {"path": f"{w}/w.csv"})]
    if writable:
        for dst in ("w.parquet", "w2.yaml", "w2.json", "w2.npy", "w2.h5", "w2.npz", "w2.csv", "w2.fif", "w2.toml"):
            src = "w.json" if dst.endswith((".yaml", ".toml")) else "w.csv" if dst.endswith((".parquet", ".json", ".csv")) \
                else "w.vhdr" if dst.endswith(".fif") else "w.h5"
            calls.append(("convert", {"src": f"{w}/{src}", "dst": f"{w}/{dst}", "overwrite": True,
                                      **({"key": "x"} if src == "w.h5" and not dst.endswith((".h5", ".npz")) else {})}))
        calls += [("save", {"path": f"{w}/s.npy", "data": [1, 2], "overwrite": True}),
                  ("save", {"path": f"{w}/s.yaml", "data": {"a": [1]}, "overwrite": True}),
                  ("embed_metadata", {"path": f"{w}/w.png", "metadata": {"a": 1}, "overwrite": True})]
    for tool, args in calls:
        server.call(tool, args)


class Servers:
    """The two servers of the session, started on first use and restarted when dead or hung."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.rw: StdioServer | None = None
        self.ro: StdioServer | None = None

    def get(self, read_only: bool = False) -> StdioServer:
        if read_only:
            if self.ro is None:
                # a second root for warming up, so the warm-up's reads leave the checked root alone
                self.ro = StdioServer([self.world.ro, self.world.ro_warm], "--read-only", call_timeout=CALL_TIMEOUT,
                                      log=self.world.base / "server-ro.log")
                self._start(self.ro, True)
            elif not self.ro.alive():
                self.restart(True)
            return self.ro
        if self.rw is None:
            self.rw = StdioServer([self.world.root, self.world.root2], call_timeout=CALL_TIMEOUT,
                                  log=self.world.base / "server-rw.log")
            self._start(self.rw, False)
        elif not self.rw.alive():
            self.restart(False)
        return self.rw

    def _start(self, server: StdioServer, read_only: bool) -> None:
        warm = self.world.ro_warm if read_only else self.world.root / "_warm"
        build_warm(warm)
        server.start()
        warm_up(server, warm, not read_only)

    def restart(self, read_only: bool) -> None:
        server = self.ro if read_only else self.rw
        server.stop()
        self._start(server, read_only)

    def stop(self) -> None:
        for s in (self.rw, self.ro):
            if s is not None:
                s.stop()


@pytest.fixture(scope="module")  # stopped after each module: later test folders run with no leftover servers
def servers(world):
    s = Servers(world)
    yield s
    s.stop()


@pytest.fixture
def server(servers):
    return servers.get()


# -- the failure report -----------------------------------------------------------------------------

REPORT: dict[str, tuple[bool, str]] = {}
#: one line per corpus case (id, code, seconds, MiB of growth, start of the answer), written to
#: ``SCIIO_SECURITY_TABLE=<file>`` when set
TABLE: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        detail = ""
        if report.outcome == "failed":
            detail = str(report.longrepr.reprcrash.message if hasattr(report.longrepr, "reprcrash")
                         else report.longrepr)[:1500]
        REPORT[report.nodeid] = (report.outcome, detail)


OWNERS = [  # which helper's mechanism a failing case exercises (a routing guess for the coordinator)
    (r"deep200_save", "errors (a request the stdio transport cannot parse is never answered)"),
    (r"^\w+_(extlink|extstore|vds)", "hdf5 (one guarded HDF5 opener)"),
    (r"^(vhdr|set|fif)_", "multifile (BrainVision/EEGLAB/FIF references)"),
    (r"(huge|bomb|offset|save_.*dtype|save_subarray|sparse|pickle|joblib|deep|yaml_bomb)", "limits (sizes checked first)"),
    (r"(ff_|ledger_find|ro_|long_|huge_key|huge_path|huge_pattern|disk_full|jwt)", "errors (find_files, codes, sqlite, JWT)"),
    (r"(test_read_of|test_write_into|race)", "paths (race-free open and writes)"),
    (r"quick_calls", "isolation (HDF5 worker processes)"),
    (r".", "paths (sandbox)"),
]


def case_note(nodeid: str) -> str:
    from tests.security.cases import CASES

    name = nodeid.rsplit("[", 1)[-1].rstrip("]")
    return next((c.note for c in CASES if c.id == name), "")


def owner(nodeid: str) -> str:
    import re

    name = nodeid.split("::", 1)[-1]
    name = name.split("[", 1)[1] if "test_hostile_request[" in name else name
    return next(who for pattern, who in OWNERS if re.search(pattern, name))


def pytest_sessionfinish(session, exitstatus):
    table = os.environ.get("SCIIO_SECURITY_TABLE")
    if table and TABLE:
        Path(table).write_text("\n".join(TABLE) + "\n")
    target = os.environ.get("SCIIO_SECURITY_REPORT")
    if not target or not REPORT:
        return
    failed = {k: v for k, v in REPORT.items() if v[0] == "failed"}
    how = "`SCIIO_SECURITY_REPORT=/work/notes/security-failures.md python -m pytest -q tests/security`"
    lines = ["# tests/security: failing cases", "", f"{len(failed)} failing of {len(REPORT)} run (regenerated by {how}).", ""]
    for nodeid, (_, detail) in sorted(failed.items(), key=lambda kv: (owner(kv[0]), kv[0])):
        note = case_note(nodeid)
        lines += [f"## {nodeid.split('::', 1)[-1]}", "", f"likely owner: {owner(nodeid)}", ""]
        lines += [f"why it matters: {note}", ""] if note else []
        lines += ["```", detail.strip(), "```", ""]
    Path(target).write_text("\n".join(lines))
