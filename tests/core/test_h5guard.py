"""The one HDF5 opener (io_core.formats.hdf5.guard) and the chunk bounds (...hdf5.bounds), through io_core.Workspace.

Every format the registry declares an HDF5 container gets files whose only way to their
values leads out of the roots: external raw storage, a virtual dataset and an external
link, each to an outside file holding a marker. Load, summarize, read_slice and convert
must refuse with PATH_OUTSIDE_ROOT, and the marker must appear in no answer and no file
written inside the root. A source scan fails when a module opens HDF5 any other way.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from io_core import Workspace
from io_core.errors import IOCoreError
from io_core.registry import BUILTIN_FORMATS

REPO = Path(__file__).resolve().parents[2]
MARKER = b"OUTSIDE-MARKER-7f3a"
SUFFIX = {"hdf5": ".h5", "netcdf": ".nc", "mat": ".mat", "result_store": ".results.h5"}
CONTAINERS = [spec for spec in BUILTIN_FORMATS if spec.container == "hdf5"]
KINDS = ("external_storage", "virtual", "virtual_relative", "external_link", "external_link_relative")
MAT_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


# -- building ---------------------------------------------------------------------------------

def hdf5_file(path: Path, fmt: str, **kwargs) -> h5py.File:
    """An HDF5 file in the conventions of ``fmt`` (MAT v7.3: a 512-byte MATLAB header before the HDF5 data)."""
    if fmt == "mat":
        return h5py.File(path, "w", userblock_size=512, **kwargs)
    return h5py.File(path, "w", **kwargs)


def finish(path: Path, fmt: str, header: bytes = MAT_HEADER) -> None:
    if fmt == "mat":
        with open(path, "r+b") as fh:
            fh.write(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")


def outside_files(outside: Path) -> dict[str, Path]:
    """An outside raw file and an outside HDF5 file, both holding the marker."""
    outside.mkdir(exist_ok=True)
    raw = outside / "secret.bin"
    raw.write_bytes(MARKER * 4)
    h5 = outside / "secret.h5"
    with h5py.File(h5, "w") as f:
        f["data"] = np.array([MARKER] * 4, dtype="S19")
    return {"raw": raw, "h5": h5}


def build_escapes(root: Path, outside: Path, fmt: str) -> dict[str, Path]:
    """One file per kind of reference, each leading only out of the roots: {kind: path}."""
    out = outside_files(outside)
    files = {}
    relative = os.path.relpath(out["h5"], root)  # climbs out from the file's real folder
    for kind in KINDS:
        path = root / f"{kind}{SUFFIX[fmt]}"
        target = relative if kind.endswith("relative") else str(out["h5"])
        with hdf5_file(path, fmt) as f:
            if kind == "external_storage":
                f.create_dataset("v", shape=(4,), dtype="S19", external=[(str(out["raw"]), 0, 76)])
            elif kind.startswith("virtual"):
                layout = h5py.VirtualLayout(shape=(4,), dtype="S19")
                layout[:] = h5py.VirtualSource(target, "data", shape=(4,))
                f.create_virtual_dataset("v", layout)
            else:
                f["v"] = h5py.ExternalLink(target, "/data")
        finish(path, fmt)
        files[kind] = path
    return files


def code(call: Callable, *args, **kwargs) -> str:
    try:
        result = call(*args, **kwargs)
    except IOCoreError as exc:
        assert MARKER.decode() not in f"{exc.message} {exc.hint}"
        return exc.code
    text = result if isinstance(result, (bytes, str)) else repr(result)
    assert (MARKER if isinstance(text, bytes) else MARKER.decode()) not in text
    return "OK"


def no_marker_in(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert MARKER not in path.read_bytes(), path


# -- confinement, every HDF5 container of the registry ------------------------------------------

def test_the_registry_declares_the_hdf5_containers():
    assert {spec.name for spec in CONTAINERS} >= {"hdf5", "netcdf", "mat"}
    assert all(spec.name in SUFFIX for spec in CONTAINERS), "a new HDF5 container needs a case here"


@pytest.mark.parametrize("spec", CONTAINERS, ids=lambda s: s.name)
@pytest.mark.parametrize("kind", KINDS)
def test_references_out_of_the_roots_are_refused_everywhere(tmp_path, spec, kind):
    root = tmp_path / "root"
    root.mkdir()
    path = build_escapes(root, tmp_path / "outside", spec.name)[kind]
    ws = Workspace([root], provenance=False)
    name = path.name
    assert code(ws.load, name, key="v") == "PATH_OUTSIDE_ROOT"
    assert code(ws.summarize, name, key="v") == "PATH_OUTSIDE_ROOT"
    assert code(ws.read_slice, name, key="v", selection="0:2") == "PATH_OUTSIDE_ROOT"
    assert code(ws.preview_image, name, key="v") == "PATH_OUTSIDE_ROOT"
    for dst in ("copy.npy", "copy.h5", "copy.json"):
        assert code(ws.convert, name, dst, key="v") == "PATH_OUTSIDE_ROOT", dst
    # the whole file: refused, or (the hdf5 format lists a link without following it) answered without the data
    assert code(ws.load, name) == "PATH_OUTSIDE_ROOT"
    assert code(ws.summarize, name) in ("PATH_OUTSIDE_ROOT", "OK")
    assert code(ws.convert, name, "whole.json") in ("PATH_OUTSIDE_ROOT",)
    no_marker_in(root)
    assert not any(p.name.startswith(("copy", "whole")) for p in root.iterdir())


@pytest.mark.parametrize("spec", CONTAINERS, ids=lambda s: s.name)
def test_references_inside_the_roots_are_followed_where_the_format_reads_them(tmp_path, spec):
    """HDF5, NetCDF-4 and MAT v7.3 read values behind links inside the roots (relative names next to a pinned view)."""
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    with h5py.File(root / "sub" / "src.h5", "w") as f:
        f["data"] = np.arange(4.0)
    path = root / f"inside{SUFFIX[spec.name]}"
    with hdf5_file(path, spec.name) as f:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource("sub/src.h5", "data", shape=(4,))
        f.create_virtual_dataset("v", layout, fillvalue=-1)
        f["plain"] = np.arange(3)
    finish(path, spec.name)
    ws = Workspace([root], provenance=False)
    values = ws.read_slice(path.name, key="v").slice.values
    assert np.ravel(values).tolist() == [0.0, 1.0, 2.0, 3.0]  # not the fill value: the pinned source was found


def test_relative_external_storage_is_where_libhdf5_reads_it_from_the_current_directory(tmp_path):
    """libhdf5 opens a relative external raw file name from the current directory, not the file's folder."""
    root, cwd = tmp_path / "root", tmp_path / "cwd"
    root.mkdir()
    cwd.mkdir()
    (cwd / "data.bin").write_bytes(MARKER * 4)
    (root / "data.bin").write_bytes(b"x" * 76)  # what a reader trusting the file's folder would check
    with h5py.File(root / "rel.nc", "w") as f:
        f.create_dataset("v", shape=(4,), dtype="S19", external=[("data.bin", 0, 76)])
    script = f"""
import json
from io_core import Workspace
from io_core.errors import IOCoreError
ws = Workspace([{str(root)!r}], provenance=False)
out = {{}}
for name, call in (("load", lambda: ws.load("rel.nc", key="v")), ("slice", lambda: ws.read_slice("rel.nc", key="v")),
                   ("explore", lambda: ws.explore_h5("rel.nc", group="/v"))):
    try:
        out[name] = repr(call())
    except IOCoreError as exc:
        out[name] = exc.code
print(json.dumps(out))
"""
    proc = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["load"] == "PATH_OUTSIDE_ROOT" and out["slice"] == "PATH_OUTSIDE_ROOT"
    assert "inside_roots=False" in out["explore"] and MARKER.decode() not in proc.stdout


def test_a_file_behind_a_link_is_checked_too(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    out = outside_files(tmp_path / "outside")
    with h5py.File(root / "middle.h5", "w") as f:  # inside the roots, but its data is outside
        f.create_dataset("data", shape=(4,), dtype="S19", external=[(str(out["raw"]), 0, 76)])
    with h5py.File(root / "chain.nc", "w") as f:
        f["v"] = h5py.ExternalLink("middle.h5", "/data")
    ws = Workspace([root], provenance=False)
    assert code(ws.load, "chain.nc") == "PATH_OUTSIDE_ROOT"
    assert code(ws.read_slice, "chain.nc", key="v") == "PATH_OUTSIDE_ROOT"


def test_a_fifo_named_as_storage_is_never_opened(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "pipe")
    with h5py.File(root / "fifo.nc", "w") as f:
        f.create_dataset("v", shape=(4,), dtype="u1", external=[(str(root / "pipe"), 0, 4)])
    ws = Workspace([root], provenance=False)
    t0 = time.perf_counter()
    assert code(ws.load, "fifo.nc", key="v") == "NOT_A_FILE"
    assert time.perf_counter() - t0 < 5


def test_an_environment_prefix_makes_references_unfollowed(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    with h5py.File(root / "sub" / "src.h5", "w") as f:
        f["data"] = np.arange(4.0)
    with h5py.File(root / "vds.nc", "w") as f:
        layout = h5py.VirtualLayout(shape=(4,), dtype="f8")
        layout[:] = h5py.VirtualSource("sub/src.h5", "data", shape=(4,))
        f.create_virtual_dataset("v", layout)
    script = f"""
from io_core import Workspace
from io_core.errors import IOCoreError
try:
    Workspace([{str(root)!r}], provenance=False).load("vds.nc", key="v")
    print("OK")
except IOCoreError as exc:
    print(exc.code)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HDF5_VDS_PREFIX": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.strip().splitlines()[-1] == "UNSUPPORTED_OPERATION", proc.stderr[-2000:]


def test_an_unlimited_virtual_dataset_is_not_asked_its_extent(tmp_path):
    """HDF5 opens an unlimited virtual dataset's sources to work out its extent: never for outside sources."""
    from h5py import h5d, h5p, h5s, h5t
    from test_h5tree import FifoWatch

    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    watch = FifoWatch(tmp_path / "outside" / "src.h5")
    try:
        unlimited = h5s.UNLIMITED
        for name in ("grow.h5", "grow.nc"):
            with h5py.File(root / name, "w") as f:
                vspace = h5s.create_simple((10,), (unlimited,))
                vspace.select_hyperslab((0,), (1,), stride=(1,), block=(unlimited,))
                sspace = h5s.create_simple((10,), (unlimited,))
                sspace.select_hyperslab((0,), (1,), stride=(1,), block=(unlimited,))
                dcpl = h5p.create(h5p.DATASET_CREATE)
                dcpl.set_virtual(vspace, os.fsencode(watch.path), b"data", sspace)
                h5d.create(f.id, b"v", h5t.NATIVE_INT64, h5s.create_simple((10,), (unlimited,)), dcpl=dcpl)
        ws = Workspace([root], provenance=False)
        node = ws.explore_h5("grow.h5", group="/v").node
        assert node.sources[0].inside_roots is False and node.shape is None
        assert code(ws.summarize, "grow.h5") == "OK"
        assert code(ws.summarize, "grow.h5", key="v") == "PATH_OUTSIDE_ROOT"
        assert code(ws.summarize, "grow.nc") == "PATH_OUTSIDE_ROOT"
        time.sleep(0.05)
        assert not watch.opened, "the outside source was opened"
    finally:
        watch.stop()


def test_mat_v73_follows_the_hdf5_signature_not_the_header_text(tmp_path):
    path = tmp_path / "old_header.mat"
    with hdf5_file(path, "mat") as f:
        f["x"] = np.arange(6.0).reshape(2, 3)
        f["x"].attrs["MATLAB_class"] = np.bytes_("double")
    finish(path, "mat", b"MATLAB 7.0 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 .")
    ws = Workspace([tmp_path], provenance=False)
    np.testing.assert_array_equal(ws.load("old_header.mat", key="x"), np.arange(6.0).reshape(2, 3).T)
    assert ws.summarize("old_header.mat").summary.attrs["mat_version"] == "7.3"


# -- one opener: no module may open HDF5 another way ---------------------------------------------

def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """(dotted name, call) for every call of ``x.y(...)`` / ``y(...)`` in a module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func, parts = node.func, []
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.append(func.id)
            out.append((".".join(reversed(parts)), node))
    return out


def test_only_the_guard_opens_hdf5_files():
    """A format (built-in or new) that opens HDF5 itself, by h5py.File or by handing h5netcdf a path, fails here."""
    offenders = []
    for path in sorted((REPO / "io_core").rglob("*.py")):
        if path == REPO / "io_core" / "formats" / "hdf5" / "guard.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("h5py", "h5netcdf") \
                    and any(alias.name == "File" for alias in node.names):
                offenders.append(f"{path.name}: from {node.module} import File")
        for name, call in _calls(tree):
            if name.endswith("h5py.File") or name == "File":
                offenders.append(f"{path.name}:{call.lineno}: {name}(...)")
            if name.endswith("h5netcdf.File") and call.args and not isinstance(call.args[0], ast.Name):
                offenders.append(f"{path.name}:{call.lineno}: h5netcdf.File given a path, not a guarded file")
    assert not offenders, "open HDF5 through io_core.formats.hdf5.guard:\n" + "\n".join(offenders)


@pytest.mark.parametrize("spec", CONTAINERS, ids=lambda s: s.name)
def test_every_hdf5_container_format_uses_the_guard(spec):
    module = spec.handler.split(":")[0]
    source = (REPO / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
    assert "h5guard" in source, f"{module} reads HDF5 containers without io_core.h5guard"


# -- chunk bounds ------------------------------------------------------------------------------

def build_hostile_chunks(root: Path, fmt: str) -> Path:
    """A small file declaring 2**40 one-byte values in one-value chunks (none written)."""
    path = root / f"chunks{SUFFIX[fmt]}"
    with hdf5_file(path, fmt) as f:
        f.create_dataset("v", shape=(2**40,), chunks=(1,), dtype="u1")
        f.create_dataset("many", shape=(100_000,), chunks=(1,), dtype="f4", fillvalue=1.5)
    finish(path, fmt)
    return path


@pytest.mark.parametrize("spec", CONTAINERS, ids=lambda s: s.name)
def test_reads_touching_too_many_chunks_are_refused_before_reading(tmp_path, spec):
    path = build_hostile_chunks(tmp_path, spec.name)
    assert path.stat().st_size < 64 * 1024
    ws = Workspace([tmp_path], provenance=False)
    name = path.name
    t0 = time.perf_counter()
    assert code(ws.preview_image, name, key="v") == "TOO_LARGE"
    assert code(ws.read_slice, name, key="v", selection="0:1099511627776:1073741824") == "TOO_LARGE"  # few values, far apart
    assert code(ws.read_slice, name, key="many", selection="0:20000") == "TOO_LARGE"
    assert code(ws.summarize, name, key="v", exact_stats=True) == "TOO_LARGE"
    assert code(ws.load, name, key="v") == "TOO_LARGE"
    assert code(ws.convert, name, "out.npy", key="v") == "TOO_LARGE"
    assert time.perf_counter() - t0 < 20
    # what stays answerable: a slice of few chunks, and summaries (sampled whole chunks, labelled)
    assert ws.read_slice(name, key="v", selection="0:10").slice.shape == [10]
    summary = ws.summarize(name, key="v").summary
    assert summary.shape[-1 if spec.name != "mat" else 0] == 2**40 and summary.stats.exact is False
    many = ws.summarize(name, key="many").summary
    assert many.stats.exact is False and many.stats.mean == pytest.approx(1.5) and "sample" in many.note
    assert not (tmp_path / "out.npy").exists()


@pytest.mark.parametrize("spec", CONTAINERS, ids=lambda s: s.name)
def test_a_chunk_inflating_past_the_member_limit_is_never_read(tmp_path, spec):
    """A gzip chunk of zeros is tiny on disk and inflated whole on any read of it."""
    from io_core.limits import current, set_current

    path = tmp_path / f"bomb{SUFFIX[spec.name]}"
    with hdf5_file(path, spec.name) as f:
        f.create_dataset("v", data=np.zeros(2**22, "u1"), chunks=(2**22,), compression="gzip")
    finish(path, spec.name)
    assert path.stat().st_size < 64 * 1024
    old = set_current(current().with_overrides(max_member_bytes=2**20))
    try:
        ws = Workspace([tmp_path], provenance=False)
        assert code(ws.read_slice, path.name, key="v", selection="0:5") == "TOO_LARGE"
        assert code(ws.summarize, path.name, key="v") == "TOO_LARGE"
        assert code(ws.load, path.name, key="v") == "TOO_LARGE"
    finally:
        set_current(old)


def test_check_file_confines_a_library_that_opens_the_file_itself(tmp_path):
    """For readers that open HDF5 by name (MNE reading an EEGLAB v7.3 .set): the same scan, nothing returned."""
    from io_core import h5guard
    from io_core.links import links_confined_to
    from io_core.paths import Sandbox

    root = tmp_path / "root"
    root.mkdir()
    files = build_escapes(root, tmp_path / "outside", "mat")
    with h5py.File(root / "clean.mat", "w", userblock_size=512) as f:
        f["x"] = np.arange(3.0)
    with links_confined_to(Sandbox([root])):
        h5guard.check_file(root / "clean.mat")
        for path in files.values():
            assert h5guard.is_hdf5(path)
            assert code(h5guard.check_file, path) == "PATH_OUTSIDE_ROOT"
