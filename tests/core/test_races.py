"""Races against the sandbox, with real threads swapping names while the workspace works.

Each race runs for ``RACE_SECONDS`` with a thread that atomically exchanges a name
inside the root with a link leading outside (``renameat2(RENAME_EXCHANGE)``, so the
name never goes missing; a rename pair where that call is unavailable). The checks
and opens are one step (``io_core.paths``), so nothing from outside may ever come
back, and no write may ever land outside.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import stat
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import io_core
from io_core import IOCoreError, Workspace
from io_core.paths import Sandbox, pin_companion, real_path

RACE_SECONDS = 2.0
MARKER = "OUTSIDE-MARKER-5be1d0"

_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two names atomically (both always exist)."""
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(a))
    spare = a.with_name(a.name + ".swap")
    os.rename(a, spare)
    os.rename(b, a)
    os.rename(spare, b)


class Swapper(threading.Thread):
    """Exchange ``a`` and ``b`` as fast as possible until stopped."""

    def __init__(self, a: Path, b: Path) -> None:
        super().__init__(daemon=True)
        self.a, self.b = a, b
        self.stop = threading.Event()
        self.swaps = 0

    def run(self) -> None:
        while not self.stop.is_set():
            _exchange(self.a, self.b)
            self.swaps += 1

    def __enter__(self) -> Swapper:  # noqa: PYI034
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()


@pytest.fixture()
def layout(tmp_path: Path) -> dict[str, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return {"root": root, "outside": outside, "tmp": tmp_path}


def _outputs(value: object) -> str:
    return value.model_dump_json() if hasattr(value, "model_dump_json") else str(value)


# -- (a) reads: a name swapped between an inside file and a link to an outside file -------------

CONTENT = {
    ".txt": ("inside line\n", MARKER + "\n"),
    ".csv": ("value\ninside\n", f"value\n{MARKER}\n"),
}


@pytest.mark.parametrize("op", ["load", "summarize", "read_slice"])
@pytest.mark.parametrize("ext", [".txt", ".csv"])
def test_file_swapped_with_link_to_outside_never_returns_outside_content(layout, op, ext):
    root, outside = layout["root"], layout["outside"]
    inside_text, outside_text = CONTENT[ext]
    (outside / f"secret{ext}").write_text(outside_text, encoding="utf-8")
    name = root / f"data{ext}"
    name.write_text(inside_text, encoding="utf-8")
    (root / f"other{ext}").symlink_to(outside / f"secret{ext}")
    ws = Workspace([root], cache_bytes=0)  # every call reads the file
    call = getattr(ws, op)
    seen: Counter[str] = Counter()
    with Swapper(name, root / f"other{ext}") as swapper:
        deadline = time.monotonic() + RACE_SECONDS
        while time.monotonic() < deadline:
            try:
                out = _outputs(call(f"data{ext}"))
            except IOCoreError as exc:
                assert MARKER not in str(exc)
                seen[exc.code] += 1
                continue
            assert MARKER not in out, f"{op} returned the outside file's content"
            seen["ok"] += 1
    assert swapper.swaps > 100
    assert seen["ok"] > 0 and seen["PATH_OUTSIDE_ROOT"] > 0, seen  # both states were really met
    assert set(seen) <= {"ok", "PATH_OUTSIDE_ROOT"}, seen


def test_parent_folder_swapped_with_link_to_outside_never_returns_outside_content(layout):
    root, outside = layout["root"], layout["outside"]
    (outside / "d").mkdir()
    (outside / "d" / "x.txt").write_text(MARKER, encoding="utf-8")
    (root / "d").mkdir()
    (root / "d" / "x.txt").write_text("inside", encoding="utf-8")
    (root / "door").symlink_to(outside / "d", target_is_directory=True)
    ws = Workspace([root], cache_bytes=0)
    seen: Counter[str] = Counter()
    with Swapper(root / "d", root / "door"):
        deadline = time.monotonic() + RACE_SECONDS
        while time.monotonic() < deadline:
            for call in (ws.load, ws.read_slice):
                try:
                    out = _outputs(call("d/x.txt"))
                except IOCoreError as exc:
                    seen[exc.code] += 1
                    continue
                assert MARKER not in out
                seen["ok"] += 1
    assert seen["ok"] > 0 and seen["PATH_OUTSIDE_ROOT"] > 0, seen
    assert set(seen) <= {"ok", "PATH_OUTSIDE_ROOT"}, seen


# -- (b) writes: a parent folder swapped for a link to an outside folder -----------------------------

@pytest.mark.parametrize("deeper", [False, True])
def test_save_racing_a_parent_swapped_for_an_outside_link_writes_nothing_outside(layout, deeper):
    root, outside = layout["root"], layout["outside"]
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    (root / "d").mkdir()
    (root / "door").symlink_to(outside, target_is_directory=True)
    ws = Workspace([root], cache_bytes=0, provenance=False)
    seen: Counter[str] = Counter()
    with Swapper(root / "d", root / "door"):
        deadline, i = time.monotonic() + RACE_SECONDS, 0
        while time.monotonic() < deadline:
            i += 1
            target = f"d/sub{i % 7}/f{i % 13}.txt" if deeper else f"d/f{i % 13}.txt"
            try:
                ws.save(f"client content {i}", target, overwrite=True)
            except IOCoreError as exc:
                seen[exc.code] += 1
                continue
            seen["ok"] += 1
    after = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    assert after == before, "a save created something outside the root"
    assert (outside / "secret.txt").read_text(encoding="utf-8") == "secret"
    assert seen["ok"] > 0 and seen["PATH_OUTSIDE_ROOT"] > 0, seen
    assert set(seen) <= {"ok", "PATH_OUTSIDE_ROOT", "WRITE_FAILED"}, seen
    assert not [p for p in root.rglob("*") if io_core.atomic.TEMP_MARKER in p.name]


# -- (c) only regular files: FIFOs, devices, sockets are refused without blocking ----------------------

def _within_a_second(fn, *args):
    """Run ``fn``; it must return or raise within a second (a FIFO opened for reading would block)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(5.0)
    assert not worker.is_alive(), f"{fn.__name__} blocked"
    assert time.monotonic() - started < 1.0
    return box


@pytest.mark.parametrize("op", ["load", "summarize", "read_slice", "preview_image", "read_metadata"])
def test_fifo_inside_the_root_is_not_a_file(layout, op):
    root = layout["root"]
    os.mkfifo(root / "pipe.txt")
    os.mkfifo(root / "pipe.png")
    ws = Workspace([root])
    name = "pipe.png" if op in ("preview_image", "read_metadata") else "pipe.txt"
    box = _within_a_second(getattr(ws, op), name)
    assert isinstance(box.get("error"), IOCoreError) and box["error"].code == "NOT_A_FILE", box


def test_devices_and_sockets_are_not_files(layout):
    root = layout["root"]
    (root / "zero.npy").symlink_to("/dev/zero")
    # /dev/zero is outside the root: refused as such, at once
    box = _within_a_second(Workspace([root]).load, "zero.npy")
    assert box["error"].code == "PATH_OUTSIDE_ROOT"
    # with /dev as a root it is inside: still never opened, it is not a regular file
    ws = Workspace([root, "/dev"])
    for op in (ws.load, ws.summarize, ws.read_slice):
        box = _within_a_second(op, "zero.npy")
        assert isinstance(box.get("error"), IOCoreError) and box["error"].code == "NOT_A_FILE", box
    box = _within_a_second(ws.load, "/dev/zero")
    assert box["error"].code == "NOT_A_FILE"
    sock_path = root / "s.csv"
    if len(os.fsencode(sock_path)) < 100:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(os.fspath(sock_path))
            box = _within_a_second(ws.load, "s.csv")
            assert box["error"].code == "NOT_A_FILE"
    try:
        os.mknod(root / "null.txt", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        return  # not allowed to make device nodes here; the symlinked /dev/zero above covers devices
    box = _within_a_second(Workspace([root]).summarize, "null.txt")
    assert box["error"].code == "NOT_A_FILE"


# -- (d) long names and paths: coded, and the message stays short ------------------------------------

@pytest.mark.parametrize("path", ["n" * 300 + ".txt", "a/" * 3000 + "x.txt", "sub/" + "é" * 200 + ".npy"])
def test_overlong_names_and_paths_are_coded_and_short(layout, path):
    ws = Workspace([layout["root"]])
    for op, args in ((ws.load, ()), (ws.summarize, ()), (ws.read_slice, ()), (ws.save, ("text",)),
                     (ws.sandbox.resolve, ())):
        with pytest.raises(IOCoreError) as info:
            if op == ws.save:
                op(*args, path)
            else:
                op(path)
        err = info.value
        assert err.code == "NAME_TOO_LONG", err
        assert len(err.message) < 400 and len(str(err)) < 800
        assert "…" in err.message
    assert list(layout["root"].iterdir()) == []


def test_too_many_symlinks_is_coded(layout):
    root = layout["root"]
    (root / "a").symlink_to("b")
    (root / "b").symlink_to("a")
    ws = Workspace([root])
    with pytest.raises(IOCoreError) as info:
        ws.load("a")
    assert info.value.code == "FILE_NOT_FOUND" and "symbolic links" in info.value.message


_DENIED_SCRIPT = """
import os, sys
from io_core import IOCoreError, Workspace
root = sys.argv[1]
for name in ("locked.txt", "closed/f.txt"):
    try:
        Workspace([root]).load(name)
        print("read")
    except IOCoreError as exc:
        print(exc.code)
"""


def test_unreadable_file_and_closed_folder_are_permission_denied(layout):
    import shutil
    import subprocess
    import sys

    root = layout["root"]
    (root / "locked.txt").write_text("x", encoding="utf-8")
    (root / "closed").mkdir()
    (root / "closed" / "f.txt").write_text("y", encoding="utf-8")
    os.chmod(root / "locked.txt", 0)
    os.chmod(root / "closed", 0)
    command = [sys.executable, "-c", _DENIED_SCRIPT, str(root)]
    if os.geteuid() == 0:  # root reads everything: drop the capabilities that let it
        assert shutil.which("setpriv"), "running as root needs setpriv to drop CAP_DAC_OVERRIDE"
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                   "--inh-caps=-dac_override,-dac_read_search", *command]
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=60,
                             cwd=Path(io_core.__file__).parent.parent)
    finally:
        os.chmod(root / "closed", 0o755)
    assert out.stdout.split() == ["PERMISSION_DENIED", "PERMISSION_DENIED"], out.stderr[-2000:]


# -- pins: what libraries are given, and how long it lives ---------------------------------------------

def test_handlers_get_a_view_of_the_pinned_file_not_the_name(layout):
    root, outside = layout["root"], layout["outside"]
    (outside / "secret.txt").write_text(MARKER, encoding="utf-8")
    (root / "x.lazy").write_text("inside", encoding="utf-8")
    given: list[str] = []

    class Lazy:
        """Reopens its file on every read, like an mne Raw opened without preload."""

        def __init__(self, path: str) -> None:
            self.path = path

        def read(self) -> str:
            return Path(self.path).read_text(encoding="utf-8")

    def loader(path):
        given.append(os.fspath(path))
        return Lazy(os.fspath(path))

    io_core.register_loader(".lazy", loader)
    try:
        ws = Workspace([root])
        lazy = ws.load("x.lazy")
        view = given[0]
        assert Path(view).name == "x.lazy" and view != str(root / "x.lazy")
        assert real_path(view) == root / "x.lazy"
        # the name now leads outside: the lazy object still reads the file it was given
        os.replace(root / "x.lazy", root / "moved.lazy")
        (root / "x.lazy").symlink_to(outside / "secret.txt")
        assert lazy.read() == "inside"
        assert ws.sandbox.display(Path(view)) == "x.lazy"
        del lazy  # the pin goes with the object
        assert not os.path.lexists(view)
    finally:
        io_core.unregister_loader(".lazy")


def test_in_memory_results_release_their_pin_at_once(layout):
    root = layout["root"]
    np.save(root / "a.npy", np.arange(4))
    ws = Workspace([root], cache_bytes=0)
    before = set(os.listdir("/proc/self/fd"))
    for _ in range(50):
        ws.load("a.npy")
        ws.summarize("a.npy")
        ws.read_slice("a.npy")
    assert len(set(os.listdir("/proc/self/fd")) - before) <= 1  # no fd kept per call


def test_pin_companion_links_a_checked_companion_beside_the_view(layout):
    from io_core.links import links_confined_to

    root, outside = layout["root"], layout["outside"]
    (root / "rec").mkdir()
    (root / "rec" / "a.vhdr").write_text("header", encoding="utf-8")
    (root / "rec" / "data").mkdir()
    (root / "rec" / "data" / "a.eeg").write_text("samples", encoding="utf-8")
    (outside / "a.vmrk").write_text(MARKER, encoding="utf-8")
    (root / "rec" / "linked.vmrk").symlink_to(outside / "a.vmrk")
    sandbox = Sandbox([root])
    with sandbox.pin("rec/a.vhdr") as pinned, links_confined_to(sandbox):
        # relative: the same relative name beside the view, as a reader joining the folder looks for it
        companion = pin_companion(pinned.path, "data/a.eeg")
        assert companion == pinned.path.parent / "data" / "a.eeg"
        assert companion.read_text(encoding="utf-8") == "samples"
        assert real_path(companion) == root / "rec" / "data" / "a.eeg"
        # absolute or climbing: a view of its own
        other = pin_companion(pinned.path, str(root / "rec" / "data" / "a.eeg"))
        assert other.read_text(encoding="utf-8") == "samples" and real_path(other) == root / "rec" / "data" / "a.eeg"
        up = pin_companion(pinned.path, "../rec/data/a.eeg")
        assert up.read_text(encoding="utf-8") == "samples"
        for ref in ("linked.vmrk", str(outside / "a.vmrk"), "../../outside/a.vmrk", "x/" * 200 + "../" * 201
                    + "../outside/a.vmrk"):
            with pytest.raises(IOCoreError) as info:
                pin_companion(pinned.path, ref)
            assert info.value.code == "PATH_OUTSIDE_ROOT" and len(info.value.message) < 400
            assert MARKER not in str(info.value)
        with pytest.raises(IOCoreError) as info:
            pin_companion(pinned.path, "missing.eeg")
        assert info.value.code == "FILE_NOT_FOUND"
    assert not companion.parent.exists()  # the view goes with the pin
    # unpinned (a handler used directly): the checked real path
    assert pin_companion(root / "rec" / "a.vhdr", "data/a.eeg") == root / "rec" / "data" / "a.eeg"
