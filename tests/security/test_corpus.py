"""Every case of the hostile corpus (tests/security/cases.py) through the real stdio server.

One request per case. Whatever the request, the answer must
- carry an accepted code (never INTERNAL_ERROR, never success where a refusal is due),
- hold no trace of the marker stored outside the roots (text or structured content),
- come within the call timeout, with the server's memory growing less than 256 MiB for a
  request under 1 KB, and error texts short (echoed arguments cut) and within the budget;
and afterwards
- nothing outside the roots changed, no file written inside holds the marker, no file was
  left behind (temp files) unless the case allows it, a read-only root is unchanged,
- the server is still up and answers a quick call.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
from pathlib import Path

import pytest

from tests.security.cases import CASES, Case, Ctx
from tests.security.conftest import CALL_TIMEOUT, TABLE
from tests.security.harness import MemoryWatch, diff, scan_file, snapshot

MAX_GROWTH_MIB = 256
SMALL_REQUEST = 1024
MAX_ERROR_TEXT = 4096
BUDGET = 32768
RESTART_AFTER = {"CLIENT_TIMEOUT", "SERVER_DIED", "TIMEOUT", "CANCELLED", "PROTOCOL_ERROR"}


def context(world, case: Case) -> Ctx:
    base_root = world.ro if case.read_only else world.root
    d = base_root / case.id
    if d.exists() or d.is_symlink():
        shutil.rmtree(d)
    d.mkdir()
    return Ctx(case.id, d, world.root, world.root2, world.base, world.outside, world.marker.text,
               world.root / "shared")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_request(case: Case, world, servers):
    srv = servers.get(read_only=case.read_only)
    ctx = context(world, case)
    try:
        for build in case.build:
            build(ctx)
        args = ctx.sub(case.args)
        request_bytes = len(json.dumps({"name": case.tool, "arguments": args}).encode())
        assert world.marker.text not in json.dumps(args), "the request itself must not carry the marker"
        roots = [world.ro] if case.read_only else [world.root, world.root2]
        before_out = {p: snapshot(p) for p in world.outside_dirs}
        before_in = {p: snapshot(p) for p in roots}

        with MemoryWatch(srv.pid) as mem:
            resp = srv.call(case.tool, args)

        TABLE.append(f"{case.id:32} {resp.code:20} {resp.elapsed:6.2f}s {mem.growth_mib:6.0f}MiB  {resp.text[:110]!r}")
        problems: list[str] = []
        if resp.code not in case.expect:
            problems.append(f"code {resp.code}, expected one of {case.expect}")
        if resp.code == "INTERNAL_ERROR":
            tail = srv.log_tail().rstrip().splitlines()
            problems.append("server log ends: " + " | ".join(tail[-4:])[-600:])
        leaked = world.marker.found_in(resp.dump())
        if leaked:
            problems.append(f"the response carries the outside marker ({', '.join(leaked)})")
        for text in case.forbid:
            if text in resp.dump():
                problems.append(f"the response names {text!r}")
        if resp.elapsed > CALL_TIMEOUT:
            problems.append(f"answered after {resp.elapsed:.1f} s (call timeout {CALL_TIMEOUT} s)")
        if request_bytes < SMALL_REQUEST and mem.growth_mib >= MAX_GROWTH_MIB:
            problems.append(f"server memory grew {mem.growth_mib:.0f} MiB for a {request_bytes}-byte request")
        size = len(resp.text.encode())
        if resp.code != "OK" and size > MAX_ERROR_TEXT:
            problems.append(f"error text of {size} bytes (echoed arguments must be cut)")
        if size > BUDGET or len(json.dumps(resp.structured, separators=(",", ":")).encode()) > BUDGET:
            problems.append("response larger than the 32 KiB budget")

        for p in world.outside_dirs:
            changed = {k: v for k, v in diff(before_out[p], snapshot(p)).items() if v}
            if changed:
                problems.append(f"outside folder {p.name}/ changed: {changed}")
        allowed = {Path(ctx.sub(n)) if Path(ctx.sub(n)).is_absolute() else world.root / ctx.sub(n) for n in case.new_ok}
        for root in roots:
            delta = diff(before_in[root], snapshot(root))
            touched = [root / n for n in delta["added"] + delta["changed"]]
            if case.read_only and any(delta.values()):
                problems.append(f"the read-only root changed: {delta}")
            hits = scan_tree_subset(touched, world.marker)
            if hits:
                problems.append(f"files written inside hold the marker: {hits}")
            left = [p for p in (root / n for n in delta["added"])
                    if ".sciio" not in p.relative_to(root).parts[:1] and p not in allowed
                    and not any(fnmatch.fnmatch(str(p), str(a)) for a in allowed)
                    and not (resp.code == "OK" and any(a.is_relative_to(p) for a in allowed))]
            if left:
                problems.append(f"left behind: {[str(p.relative_to(root)) for p in left]}")

        alive = srv.call("list_roots", {}, timeout=5) if srv.alive() else None
        if alive is None or alive.code != "OK":
            problems.append(f"the server did not stay up ({alive.short() if alive else 'process gone'})")
        if alive is None or alive.code != "OK" or resp.code in RESTART_AFTER or resp.elapsed > CALL_TIMEOUT:
            servers.restart(case.read_only)  # a hung worker or a dead server must not spoil the next case

        assert not problems, (
            f"{case.id}: {case.tool}({_short_args(args)}) -> {resp.short()}; growth {mem.growth_mib:.0f} MiB\n  - "
            + "\n  - ".join(problems)
        )
    finally:
        for cleanup in reversed(ctx.cleanups):
            cleanup()


def scan_tree_subset(paths: list[Path], marker) -> dict[str, list[str]]:
    """The marker in the files a case added or changed (the only places it could have been written)."""
    found: dict[str, list[str]] = {}
    for p in paths:
        hits = scan_file(p, marker)
        if hits:
            found[str(p)] = hits
    return found


def _short_args(args: dict) -> str:
    text = json.dumps(args, ensure_ascii=True)
    return text if len(text) <= 160 else text[:160] + "..."


def test_the_corpus_covers_every_linking_format_the_registry_declares():
    """A format that follows references to other files, or is an HDF5 container, cannot join the
    registry without hostile cases here (the HDF5 ones are generated from the registry itself)."""
    from io_core.registry import REGISTRY

    refused_paths = [str(c.args.get("path") or c.args.get("src") or "") for c in CASES if c.expect == ("PATH_OUTSIDE_ROOT",)]
    missing = []
    for spec in REGISTRY.specs.values():
        if spec.multi_file and not any(p.endswith(spec.extensions) for p in refused_paths):
            missing.append(f"{spec.name}: no case with a reference leading outside")
        if spec.container == "hdf5":
            for ext in spec.extensions:
                cases = {f"{ext.lstrip('.')}_{kind}_slice" for kind in ("extlink", "extstore", "vds")}
                missing += [f"{spec.name}: no case {c}" for c in cases - {c.id for c in CASES}]
    assert not missing, missing


def test_every_tool_of_the_read_only_server_has_a_read_only_case(servers):
    """A read tool added later gets a case here, or this fails: nothing may write in a read-only root."""
    offered = set(servers.get(read_only=True).list_tools())
    covered = {c.tool for c in CASES if c.read_only}
    assert offered - covered == set()
