"""Races between the server's check of a path and its use, over stdio, each run for 2 s or more.

A swapping thread exchanges two names atomically (``renameat2(RENAME_EXCHANGE)``), so the
raced name always exists and flips between an inside file (or folder) and a symlink to the
outside, as fast as the kernel allows. Meanwhile the client keeps several calls in flight.
Whatever each call answers, no answer may carry the outside marker, nothing may appear or
change outside, and no temp file may be left behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Self

import numpy as np
import pytest

from tests.security import builders as b
from tests.security.harness import diff, scan_file, snapshot

RACE_SECONDS = 2.0
IN_FLIGHT = 4
AT_FDCWD = -100
RENAME_EXCHANGE = 2
BAD = {"INTERNAL_ERROR", "UNCODED_ERROR", "CLIENT_TIMEOUT", "SERVER_DIED", "PROTOCOL_ERROR"}

_libc = ctypes.CDLL(None, use_errno=True)


def exchange(a: Path, b: Path) -> None:
    if _libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(a))


class Swapper(threading.Thread):
    """Exchanges ``a`` and ``b`` until stopped; counts the swaps."""

    def __init__(self, a: Path, b: Path) -> None:
        super().__init__(daemon=True)
        self.a, self.b = a, b
        self.swaps = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                exchange(self.a, self.b)
                self.swaps += 1
        except OSError as exc:
            self.error = exc

    def __enter__(self) -> Self:
        exchange(self.a, self.b)  # fails here, not silently in the thread, if the file system cannot
        exchange(self.a, self.b)
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.join()
        assert self.error is None, f"the swapping thread failed: {self.error}"


def hammer(server, requests, seconds: float = RACE_SECONDS) -> list:
    """Keep ``IN_FLIGHT`` calls going (cycling through ``requests``) for ``seconds``; all responses."""
    responses, pending, i = [], [], 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or pending:
        while time.monotonic() < deadline and len(pending) < IN_FLIGHT:
            tool, args = requests(i)
            pending.append(server.submit(tool, args))
            i += 1
        done = pending.pop(0).result()
        responses.append(done)
    return responses


def check_answers(responses, world, allowed: set[str]) -> Counter:
    codes = Counter(r.code for r in responses)
    leaks = [r.short() for r in responses if world.marker.found_in(r.dump())]
    assert not leaks, f"{len(leaks)} of {len(responses)} answers carry the outside marker, e.g. {leaks[:2]}"
    bad = [r.short() for r in responses if r.code in BAD or r.code not in allowed]
    assert not bad, f"unexpected answers {dict(codes)}, e.g. {bad[:2]}"
    return codes


def outside_unchanged(world, before: dict) -> None:
    for p in world.outside_dirs:
        changed = {k: v for k, v in diff(before[p], snapshot(p)).items() if v}
        assert not changed, f"outside folder {p.name}/ changed during the race: {changed}"


@pytest.fixture
def race_dir(world, request):
    d = world.root / f"race_{request.node.name}"
    d.mkdir()
    return d


READS = [("load_summary", {}), ("read_slice", {}), ("load_summary", {"exact_stats": True}), ("verify_file", None)]


@pytest.mark.parametrize("via", ["file", "parent"])
def test_read_of_a_name_swapped_with_a_symlink_out(server, world, race_dir, via):
    """The check and the open must be one step: no read ever returns the outside file."""
    rel = race_dir.name
    if via == "file":  # name.txt flips between an inside file and a symlink to the outside secret
        (race_dir / "name.txt").write_text("inside content\n" * 3)
        os.symlink(world.outside / "secret.txt", race_dir / "alt")
        a, b, target = race_dir / "name.txt", race_dir / "alt", f"{rel}/name.txt"
    else:  # the parent folder flips between an inside folder and a symlink to an outside folder
        (race_dir / "dir").mkdir()
        (race_dir / "dir" / "secret.txt").write_text("inside content\n" * 3)
        os.symlink(world.outside / "dir", race_dir / "alt")
        a, b, target = race_dir / "dir", race_dir / "alt", f"{rel}/dir/secret.txt"
    before = {p: snapshot(p) for p in world.outside_dirs}

    def request(i):
        tool, extra = READS[i % len(READS)]
        return tool, {"path": target, **(extra or {})}

    with Swapper(a, b) as swapper:
        responses = hammer(server, request)
    allowed = {"OK", "PATH_OUTSIDE_ROOT", "FILE_NOT_FOUND", "NOT_A_FILE", "KEY_NOT_FOUND"}
    codes = check_answers(responses, world, allowed)
    outside_unchanged(world, before)
    assert swapper.swaps > 1000 and len(responses) >= 50, (swapper.swaps, len(responses))
    assert codes["OK"] > 0 and codes["PATH_OUTSIDE_ROOT"] > 0, f"both states should have been seen: {dict(codes)}"


COMPANION_CODES = {"OK", "PATH_OUTSIDE_ROOT", "FILE_NOT_FOUND", "NOT_A_FILE", "UNSUPPORTED_OPERATION", "CORRUPT_FILE"}


def _companion(kind: str, d: Path, world) -> tuple[Path, Path, tuple[str, dict]]:
    """A container in ``d`` whose companion file ``d/t.*`` is the raced name; returns (a, b, request)."""
    rel = d.name
    raw = world.marker.text.encode()
    if kind == "h5_extlink_target":
        b.h5file(d / "t.h5", lambda f: f.create_dataset("num", data=np.zeros(len(raw), dtype="u1")))
        b.h5file(d / "x.h5", b.ext_link("t.h5", "/num"))
        os.symlink(world.outside / "secret.h5", d / "alt")
        return d / "t.h5", d / "alt", ("read_slice", {"path": f"{rel}/x.h5", "key": "ext"})
    if kind == "h5_extstore_file":
        (d / "t.bin").write_bytes(bytes(64))
        b.h5file(d / "x.h5", b.ext_storage(str(d / "t.bin")))
        os.symlink(world.outside / "raw.bin", d / "alt")
        return d / "t.bin", d / "alt", ("read_slice", {"path": f"{rel}/x.h5", "key": "x"})
    if kind == "vhdr_marker_file":
        header = b.brainvision(d, "rec")
        b.set_vhdr_ref(header, "MarkerFile", "t.vmrk")
        (d / "rec.vmrk").rename(d / "t.vmrk")
        os.symlink(world.outside / "secret.vmrk", d / "alt")
        return d / "t.vmrk", d / "alt", ("load_summary", {"path": f"{rel}/rec.vhdr"})
    if kind == "convert_source":
        (d / "t.csv").write_text("name,value\ninside,1\n")
        os.symlink(world.outside / "secret.csv", d / "alt")
        return d / "t.csv", d / "alt", ("convert", {"src": f"{rel}/t.csv", "dst": f"{rel}/out/o.json", "overwrite": True})
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["h5_extlink_target", "h5_extstore_file", "vhdr_marker_file", "convert_source"])
def test_companion_swapped_with_a_symlink_out(server, world, race_dir, kind):
    """A file a container refers to (or a convert source) is checked and read as one pinned file."""
    a, b_, (tool, args) = _companion(kind, race_dir, world)
    (race_dir / "out").mkdir()
    before = {p: snapshot(p) for p in world.outside_dirs}
    with Swapper(a, b_) as swapper:
        responses = hammer(server, lambda i: (tool, args))
    codes = check_answers(responses, world, COMPANION_CODES | {"EXISTS"})
    outside_unchanged(world, before)
    written = {str(p): hits for p in race_dir.rglob("*") if (hits := scan_file(p, world.marker))}
    assert not written, f"files written inside the root hold the outside marker: {written}"
    assert swapper.swaps > 1000 and len(responses) >= 30, (swapper.swaps, len(responses))
    assert codes["PATH_OUTSIDE_ROOT"] > 0 and codes["OK"] + codes["UNSUPPORTED_OPERATION"] > 0, (
        f"both states should have been seen: {dict(codes)}")


WRITE_CODES = {"OK", "PATH_OUTSIDE_ROOT", "FILE_NOT_FOUND", "WRITE_FAILED", "EXISTS", "NOT_A_FILE"}


@pytest.mark.parametrize("tool", ["save", "convert"])
def test_write_into_a_parent_swapped_with_a_symlink_out(server, world, race_dir, tool):
    """Writes go through the parent's directory fd: a parent swapped for a symlink cannot redirect them."""
    rel = race_dir.name
    real = race_dir / "dir"
    real.mkdir()
    os.symlink(world.outside / "racedir", race_dir / "alt")
    src = race_dir / "src.csv"
    src.write_text("a,b\n1,2\n3,4\n")
    before = {p: snapshot(p) for p in world.outside_dirs}
    earlier = set(os.listdir(world.outside / "racedir"))

    def request(i):
        if tool == "save":
            return "save", {"path": f"{rel}/dir/f{i}.json", "data": {"i": i, "text": "client chosen"}}
        return "convert", {"src": f"{rel}/src.csv", "dst": f"{rel}/dir/f{i}.json"}

    with Swapper(real, race_dir / "alt") as swapper:
        responses = hammer(server, request)
    written_outside = sorted(set(os.listdir(world.outside / "racedir")) - earlier)
    assert written_outside == [], f"{len(written_outside)} files were written outside the root: {written_outside[:5]}"
    outside_unchanged(world, before)
    codes = check_answers(responses, world, WRITE_CODES)
    assert swapper.swaps > 1000 and len(responses) >= 50, (swapper.swaps, len(responses))
    # whichever name the real folder has now, it holds only finished files, no temp files
    folder = race_dir / "dir" if (race_dir / "dir").is_dir() and not (race_dir / "dir").is_symlink() \
        else race_dir / "alt"
    names = os.listdir(folder)
    stray = [n for n in names if not re.fullmatch(r"f\d+\.json", n)]
    assert not stray, f"temp files left behind: {stray}"
    assert codes["OK"] == len(names), f"{codes['OK']} saves answered OK but {len(names)} files exist: {dict(codes)}"
    for n in names:
        json.loads((folder / n).read_text())
