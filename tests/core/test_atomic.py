"""Atomic writes: a save either fully replaces the target or leaves it byte-identical."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import io_core
from io_core import IOCoreError, Workspace
from io_core.atomic import TEMP_MARKER, atomic_target
from io_core.paths import real_path

REPO = Path(__file__).resolve().parents[2]


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if TEMP_MARKER in p.name]


@pytest.fixture()
def user_exts():
    """Extensions registered by a test; unregistered afterwards whatever happens."""
    registered: list[str] = []
    yield registered
    for ext in registered:
        io_core.unregister_saver(ext)
        io_core.unregister_loader(ext)


@pytest.fixture()
def old_file(tmp_path: Path) -> tuple[Path, bytes]:
    target = tmp_path / "keep.npy"
    np.save(target, np.arange(1000, dtype=np.int64))
    return target, target.read_bytes()


# -- atomic_target directly -------------------------------------------------------------------

def test_atomic_target_refuses_existing_without_overwrite(old_file):
    target, before = old_file
    with pytest.raises(IOCoreError) as info, atomic_target(target) as tmp:
        tmp.write_bytes(b"new")
    assert info.value.code == "EXISTS"
    assert target.read_bytes() == before
    assert _temp_files(target.parent) == []


def test_atomic_target_replaces_with_overwrite(old_file):
    target, _ = old_file
    with atomic_target(target, overwrite=True) as tmp:
        # the writer's path goes through the open folder (a swapped folder cannot redirect it)
        assert real_path(tmp).parent == target.parent and TEMP_MARKER in tmp.name
        assert tmp.name.endswith(target.name)  # keeps the suffixes libraries look at
        tmp.write_bytes(b"new")
        assert target.read_bytes() != b"new"  # not visible until the block ends
    assert target.read_bytes() == b"new"
    assert _temp_files(target.parent) == []


def test_atomic_target_creates_parents(tmp_path):
    target = tmp_path / "a" / "b" / "c" / "x.bin"
    with atomic_target(target) as tmp:
        tmp.write_bytes(b"hello")
    assert target.read_bytes() == b"hello"


def test_atomic_target_refuses_a_folder(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(IOCoreError) as info, atomic_target(tmp_path / "d", overwrite=True) as tmp:
        tmp.write_bytes(b"x")
    assert info.value.code == "EXISTS"
    assert (tmp_path / "d").is_dir()


def test_atomic_target_exception_leaves_old_file_and_no_temp(old_file):
    target, before = old_file
    with pytest.raises(ZeroDivisionError), atomic_target(target, overwrite=True) as tmp:
        tmp.write_bytes(before[: len(before) // 2])
        1 / 0  # noqa: B018
    assert target.read_bytes() == before
    assert _temp_files(target.parent) == []


def test_atomic_target_no_overwrite_loses_the_race_cleanly(tmp_path):
    """overwrite=False: a target that appears during the write is never clobbered."""
    target = tmp_path / "race.txt"
    with pytest.raises(IOCoreError) as info, atomic_target(target) as tmp:
        tmp.write_text("mine", encoding="utf-8")
        target.write_text("theirs", encoding="utf-8")  # another writer got there first
    assert info.value.code == "EXISTS"
    assert target.read_text(encoding="utf-8") == "theirs"
    assert _temp_files(tmp_path) == []


def test_writer_that_writes_nothing_is_an_error(tmp_path):
    target = tmp_path / "x.bin"
    with pytest.raises(IOCoreError), atomic_target(target):
        pass
    assert not target.exists()


# -- Workspace.save ----------------------------------------------------------------------------

def test_save_without_overwrite_gives_exists_and_keeps_file(old_file):
    target, before = old_file
    ws = Workspace([target.parent])
    with pytest.raises(IOCoreError) as info:
        ws.save(np.zeros(3), target.name)
    assert info.value.code == "EXISTS"
    assert info.value.hint  # tells the caller about overwrite=True
    assert target.read_bytes() == before
    assert _temp_files(target.parent) == []


def test_save_with_overwrite_replaces(old_file):
    target, _ = old_file
    ws = Workspace([target.parent])
    result = ws.save(np.zeros(3), target.name, overwrite=True)
    assert result.overwritten is True
    assert result.size_bytes == target.stat().st_size
    np.testing.assert_array_equal(np.load(target), np.zeros(3))
    assert _temp_files(target.parent) == []


def test_save_creates_parent_folders(tmp_path):
    ws = Workspace([tmp_path])
    result = ws.save({"a": [1, 2]}, "x/y/z/out.json")
    assert result.overwritten is False
    assert (tmp_path / "x" / "y" / "z" / "out.json").is_file()
    assert ws.load("x/y/z/out.json") == {"a": [1, 2]}


def _half_saver(data, path):
    payload = bytes(range(256)) * 64
    with open(path, "wb") as fh:
        fh.write(payload[: len(payload) // 2])
        fh.flush()
    raise RuntimeError("disk on fire halfway through")


def _interrupted_saver(data, path):
    with open(path, "wb") as fh:
        fh.write(b"partial" * 100)
    raise KeyboardInterrupt


def test_user_saver_failing_halfway_leaves_old_file(tmp_path, user_exts):
    io_core.register_saver(".half", _half_saver)
    user_exts.append(".half")
    target = tmp_path / "data.half"
    target.write_bytes(b"original content")
    ws = Workspace([tmp_path])
    with pytest.raises(IOCoreError) as info:
        ws.save("anything", "data.half", overwrite=True)
    assert "disk on fire" in info.value.message
    assert target.read_bytes() == b"original content"
    assert _temp_files(tmp_path) == []
    # and a brand-new target is not created at all
    with pytest.raises(IOCoreError):
        ws.save("anything", "fresh.half")
    assert not (tmp_path / "fresh.half").exists()
    assert _temp_files(tmp_path) == []


def test_keyboard_interrupt_during_save_leaves_old_file(tmp_path, user_exts):
    io_core.register_saver(".intr", _interrupted_saver)
    user_exts.append(".intr")
    target = tmp_path / "data.intr"
    target.write_bytes(b"original content")
    ws = Workspace([tmp_path])
    with pytest.raises(KeyboardInterrupt):
        ws.save("anything", "data.intr", overwrite=True)
    assert target.read_bytes() == b"original content"
    assert _temp_files(tmp_path) == []


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("keep.npy", [[1, 2], [3]], "INVALID_DATA"),  # ragged, refused before writing
        ("keep.h5", {"a": [1, 2], ".": [3]}, "INVALID_DATA"),  # h5py fails after the file was created
        ("keep.npz", {"a": [1, 2], "g": {"b": [1]}}, "INVALID_DATA"),  # npz has no groups
        ("keep.txt", 12345, "INVALID_DATA"),
        ("keep.json", {"x": float("nan")}, "INVALID_DATA"),
        ("keep.parquet", {"c": [1 + 2j, 3j]}, "INVALID_DATA"),  # pyarrow cannot store complex
        ("keep.csv", {"a": [1, 2], "b": [1]}, "INVALID_DATA"),
        ("keep.npy", [{"a": 1}], "UNSAFE_FORMAT"),  # would need pickle
    ],
)
def test_builtin_saver_given_bad_data_leaves_old_file(tmp_path, name, data, code):
    target = tmp_path / name
    target.write_bytes(b"old bytes that must survive \x00\x01\x02")
    before = target.read_bytes()
    ws = Workspace([tmp_path])
    with pytest.raises(IOCoreError) as info:
        ws.save(data, name, overwrite=True)
    assert info.value.code == code
    assert target.read_bytes() == before
    assert _temp_files(tmp_path) == []


def test_h5_partial_write_leaves_no_new_file(tmp_path):
    ws = Workspace([tmp_path])
    with pytest.raises(IOCoreError) as info:
        ws.save({"a": [1, 2], ".": [3]}, "new.h5")
    assert info.value.code == "INVALID_DATA"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_new_file_mode_follows_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        ws = Workspace([tmp_path])
        for name, data in (("a.npy", np.arange(3)), ("b.txt", "hi"), ("c.h5", {"x": [1]}), ("d.csv", {"a": [1]})):
            ws.save(data, name)
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o666 & ~mask, (name, oct(mode))
    finally:
        os.umask(old)


def test_overwrite_keeps_the_old_mode(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("old", encoding="utf-8")
    os.chmod(target, 0o640)
    Workspace([tmp_path]).save("new", "x.txt", overwrite=True)
    assert target.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


# -- a process killed mid-write ----------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    import io_core

    def slow_saver(data, path):
        with open(path, "wb") as fh:
            for i in range(100000):
                fh.write(b"y" * 65536)
                fh.flush()
                if i == 2:
                    open(sys.argv[2], "w").close()  # tell the parent we are mid-write
                time.sleep(0.01)

    io_core.register_saver(".slow", slow_saver)
    io_core.Workspace([os.path.dirname(sys.argv[1])]).save("x", sys.argv[1], overwrite=True)
    """
)


def test_sigkill_mid_save_leaves_old_file(tmp_path):
    target = tmp_path / "big.slow"
    before = os.urandom(256 * 1024)
    target.write_bytes(before)
    ready = tmp_path / "ready.flag"
    script = tmp_path / "child.py"
    script.write_text(_CHILD, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script), str(target), str(ready)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "child never started writing"
            time.sleep(0.01)
        temps = _temp_files(tmp_path)
        assert len(temps) == 1 and temps[0].endswith("big.slow")  # the write goes to a temp file
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert target.read_bytes() == before


# -- coded failures: a full disk, a denied folder, a parent that is not a folder ------------------

def _full_disk_saver(data, path):
    with open(path, "wb") as fh:
        fh.write(b"x" * 100_000)
    raise OSError(28, "No space left on device", str(path))


def test_disk_full_is_write_failed_with_a_hint_and_leaves_nothing(tmp_path, user_exts):
    io_core.register_saver(".full", _full_disk_saver)
    user_exts.append(".full")
    (tmp_path / "data.full").write_bytes(b"original content")
    ws = Workspace([tmp_path])
    for name, overwrite in (("data.full", True), ("new.full", False)):
        with pytest.raises(IOCoreError) as info:
            ws.save("anything", name, overwrite=overwrite)
        assert info.value.code == "WRITE_FAILED" and "space" in info.value.hint.lower()
    assert (tmp_path / "data.full").read_bytes() == b"original content"
    assert not (tmp_path / "new.full").exists()
    assert _temp_files(tmp_path) == []


_TMPFS_SCRIPT = """
import os, sys
import numpy as np
from io_core import IOCoreError, Workspace
root = sys.argv[1]
np.save(os.path.join(root, "old.npy"), np.arange(10))
ws = Workspace([root], provenance=False)
for name, overwrite in (("old.npy", True), ("big.npy", False), ("big.csv", False)):
    data = np.zeros(200_000) if name.endswith(".npy") else {"a": list(range(200_000))}
    try:
        ws.save(data, name, overwrite=overwrite)
        print("saved")
    except IOCoreError as exc:
        print(exc.code)
np.testing.assert_array_equal(np.load(os.path.join(root, "old.npy")), np.arange(10))
print(sorted(os.listdir(root)))
"""


def test_a_really_full_tmpfs_is_write_failed_and_cleaned(tmp_path):
    """On a 256 KiB tmpfs (root in a private mount namespace; the fake above runs everywhere)."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("unshare"):
        return  # only root may mount; test_disk_full_is_write_failed... covers the mapping
    mount = tmp_path / "small"
    mount.mkdir()
    script = f"mount -t tmpfs -o size=256k tmpfs {mount} && exec {sys.executable} -c \"$0\" {mount}"
    out = subprocess.run(["unshare", "-m", "sh", "-c", script, _TMPFS_SCRIPT], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.split("\n")
    assert lines[:3] == ["WRITE_FAILED", "WRITE_FAILED", "WRITE_FAILED"], out.stdout + out.stderr[-2000:]
    assert lines[3] == "['old.npy']"  # the old file intact, no temp file left


def test_parent_that_is_a_file_is_coded(tmp_path):
    (tmp_path / "plain.txt").write_text("x", encoding="utf-8")
    ws = Workspace([tmp_path])
    with pytest.raises(IOCoreError) as info:
        ws.save("y", "plain.txt/inner.txt")
    assert info.value.code in ("NOT_A_FILE", "FILE_NOT_FOUND", "WRITE_FAILED")
    assert (tmp_path / "plain.txt").read_text(encoding="utf-8") == "x"
