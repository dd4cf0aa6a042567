"""Formats that follow references to other files stay inside the roots, whatever the file says.

A multi-file format (its registry row says ``multi_file=True``) names other files: a
BrainVision header its DataFile and MarkerFile, an EEGLAB ``.set`` its ``.fdt``, a FIF
file the next part of a split recording. Every hostile case here points one of them
outside the root (absolute, ``..``, MNE's ``key: value`` syntax, after 1 MiB of padding,
through a symlink, through the reader's own fallback name) and checks, through
``Workspace(roots=[root])``, that load, summaries (header and exact stats), read_slice,
preview_image and convert all answer PATH_OUTSIDE_ROOT, and that a marker written into
the outside file never shows in an answer or in a file inside the root.

The registry is enumerated: each declared multi-file format must have hostile cases
here, and each handler able to list references must be declared. Legit layouts
(companions in other folders of the root, split FIF, stale names the reader recovers
from) must keep reading exactly as MNE reads them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import mne
import numpy as np
import pytest

from io_core import IOCoreError, Workspace
from io_core.errors import MissingDependencyError
from io_core.formats.base import supports
from io_core.registry import REGISTRY

MARKER = "SCIIO-OUTSIDE-MARKER-5d1e"
LOG = "error"


def _raw(n_channels: int = 2, n_times: int = 512, sfreq: float = 128.0, desc: str = "inside") -> mne.io.BaseRaw:
    data = np.random.default_rng(7).normal(scale=1e-5, size=(n_channels, n_times))
    raw = mne.io.RawArray(data, mne.create_info([f"C{i}" for i in range(n_channels)], sfreq, "eeg"), verbose=LOG)
    raw.set_annotations(mne.Annotations([0.5, 1.5], [0.0, 0.25], [desc, desc]), verbose=LOG)
    return raw


def _marker_bytes(n: int) -> bytes:
    return (MARKER.encode() * (n // len(MARKER) + 1))[:n]


# -- BrainVision ------------------------------------------------------------------------------------

def _bv(root: Path, outside: Path, name: str = "rec") -> tuple[Path, Path]:
    """A valid rec.vhdr/.eeg/.vmrk written by MNE (pybv) in ``root``, and marked copies of its companions
    outside: the .vmrk with a MARKER annotation, the .eeg made of MARKER bytes (a whole number of samples)."""
    Workspace([root]).save(_raw(), f"{name}.vhdr")
    eeg = (root / f"{name}.eeg").read_bytes()
    (outside / f"{name}.eeg").write_bytes(_marker_bytes(len(eeg)))
    vmrk = (root / f"{name}.vmrk").read_text(encoding="utf-8")
    (outside / f"{name}.vmrk").write_text(vmrk + f"Mk9=Comment,{MARKER},3,1,0\n", encoding="utf-8")
    return root / f"{name}.vhdr", root / f"{name}.vmrk"


def _edit_header(header: Path, field: str, line: str, *, pad: int = 0, codepage: str | None = None) -> None:
    """Replace the ``field=...`` line with ``line`` (after ``pad`` bytes of comments; in another codepage)."""
    text = header.read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, t in enumerate(lines) if t.startswith(field + "="))
    new = ([";" + "x" * (pad - 2)] if pad else []) + [line]
    lines[at:at + 1] = new
    text = "\n".join(lines) + "\n"
    if codepage:
        text = text.replace("Codepage=UTF-8", f"Codepage={codepage}")
    header.write_bytes(text.encode(codepage or "utf-8"))


def _bv_line(field: str, line: Callable[[Path], str], **edit) -> Callable[[Path, Path], str]:
    def build(root: Path, outside: Path) -> str:
        header, _ = _bv(root, outside)
        _edit_header(header, field, line(outside), **edit)
        return "rec.vhdr"
    return build


def _bv_symlink(companion: str) -> Callable[[Path, Path], str]:
    def build(root: Path, outside: Path) -> str:
        _bv(root, outside)
        (root / companion).unlink()
        os.symlink(outside / companion, root / companion)
        return "rec.vhdr"
    return build


def _bv_stale_marker_falls_back_outside(root: Path, outside: Path) -> str:
    """MarkerFile names a missing file: MNE then reads <stem>.vmrk, here a symlink leaving the root."""
    header, _ = _bv(root, outside)
    _edit_header(header, "MarkerFile", "MarkerFile=renamed.vmrk")
    (root / "rec.vmrk").unlink()
    os.symlink(outside / "rec.vmrk", root / "rec.vmrk")
    return "rec.vhdr"


def _bv_in_subfolder_up_and_out(root: Path, outside: Path) -> str:
    sub = root / "a" / "b"
    sub.mkdir(parents=True)
    header, _ = _bv(sub, outside)
    _edit_header(header, "MarkerFile", "MarkerFile=../../../outside/rec.vmrk")
    return "a/b/rec.vhdr"


def _bv_long_reference(root: Path, outside: Path) -> str:
    header, _ = _bv(root, outside)
    # ~3 KB: longer than any echo, shorter than PATH_MAX (past it the name is NAME_TOO_LONG to every reader)
    _edit_header(header, "MarkerFile", "MarkerFile=" + "/".join([os.fspath(outside)] + ["."] * 1400) + "/rec.vmrk")
    return "rec.vhdr"


# -- EEGLAB -----------------------------------------------------------------------------------------

def _set_with_fdt(root: Path, outside: Path, data_name: str, name: str = "rec") -> Path:
    """An EEGLAB .set written by MNE (eeglabio), its samples moved to ``<name>.fdt`` (float32, multiplexed)
    and ``EEG.data`` set to ``data_name``; a MARKER-filled .fdt of the same size outside."""
    import scipy.io

    target = root / f"{name}.set"
    Workspace([root]).save(_raw(), target.relative_to(root).as_posix())
    fields = {k: v for k, v in scipy.io.loadmat(target).items() if not k.startswith("__")}
    samples = np.asarray(fields["data"]).T.astype("<f4").tobytes()
    (root / f"{name}.fdt").write_bytes(samples)
    (outside / f"{name}.fdt").write_bytes(_marker_bytes(len(samples)))
    fields["data"] = data_name
    scipy.io.savemat(target, fields, appendmat=False)
    return target


def _set_data(data_name: Callable[[Path], str]) -> Callable[[Path, Path], str]:
    def build(root: Path, outside: Path) -> str:
        _set_with_fdt(root, outside, data_name(outside))
        return "rec.set"
    return build


def _set_symlinked_fdt(root: Path, outside: Path) -> str:
    _set_with_fdt(root, outside, "rec.fdt")
    (root / "rec.fdt").unlink()
    os.symlink(outside / "rec.fdt", root / "rec.fdt")
    return "rec.set"


def _set_stale_name_falls_back_outside(root: Path, outside: Path) -> str:
    """EEG.data names a missing file: MNE then reads <stem>.fdt, here a symlink leaving the root."""
    _set_with_fdt(root, outside, "renamed.fdt")
    (root / "rec.fdt").unlink()
    os.symlink(outside / "rec.fdt", root / "rec.fdt")
    return "rec.set"


# -- FIF split files ----------------------------------------------------------------------------------

FIF_STEM = "r" * 200  # long names: the next-part name in the file is replaced in place by one as long
FIF_NAME = FIF_STEM + "_raw.fif"


def _fif_part(stem: str, i: int) -> str:
    return f"{stem}_raw-{i}.fif" if i else f"{stem}_raw.fif"


def _split_fif(folder: Path, values: np.ndarray | None = None) -> list[Path]:
    """A recording saved by MNE in 2 MB parts (three of them): ``FIF_NAME``, ``..-1.fif``, ``..-2.fif``."""
    n_channels, n_times = 4, 150_000
    if values is None:
        values = np.random.default_rng(5).normal(scale=1e-5, size=(n_channels, n_times))
    raw = mne.io.RawArray(values, mne.create_info(n_channels, 1000.0, "eeg"), verbose=LOG)
    raw.save(folder / FIF_NAME, split_size="2MB", verbose=LOG)
    parts = [folder / _fif_part(FIF_STEM, i) for i in range(3)]
    assert all(p.is_file() for p in parts) and not (folder / _fif_part(FIF_STEM, 3)).exists()
    return parts


def _marker_values(n_channels: int = 4, n_times: int = 150_000) -> np.ndarray:
    """Samples whose big-endian float32 bytes (FIF's single precision) spell MARKER."""
    return np.frombuffer(_marker_bytes(n_channels * n_times * 4), ">f4").reshape(n_times, n_channels).T.astype(float)


def _outside_fif_part(outside: Path) -> Path:
    """Part 1 of a MARKER recording, outside, under a name of the same length as the inside part 1."""
    parts = _split_fif(outside, _marker_values())
    return parts[1]


def _replace_next(part: Path, old: str, new: str) -> None:
    assert len(old) == len(new), (old, new)
    data = part.read_bytes()
    assert data.count(old.encode()) == 1
    part.write_bytes(data.replace(old.encode(), new.encode()))


def _padded(prefix: str, tail: str, length: int) -> str:
    """``prefix`` + ``./`` repeated + ``tail``, exactly ``length`` characters (the same path)."""
    room = length - len(prefix) - len(tail)
    assert room >= 0 and (prefix or room != 1), (prefix, tail, length)
    return prefix + "./" * (room // 2) + "/" * (room % 2) + tail  # "a//b" is "a/b"


def _fif_next(kind: str) -> Callable[[Path, Path], str]:
    def build(root: Path, outside: Path) -> str:
        _split_fif(root)
        target = _outside_fif_part(outside)
        old = _fif_part(FIF_STEM, 1)
        prefix = os.fspath(outside) + "/" if kind == "absolute" else "../outside/"
        new = _padded(prefix, target.name[-20:], len(old))
        os.replace(target, outside / target.name[-20:])
        _replace_next(root / FIF_NAME, old, new)
        return FIF_NAME
    return build


def _fif_symlinked_part(root: Path, outside: Path) -> str:
    parts = _split_fif(root)
    target = _outside_fif_part(outside)
    parts[1].unlink()
    os.symlink(target, parts[1])
    return FIF_NAME


def _fif_deep_in_chain(root: Path, outside: Path) -> str:
    """The first part is sound; the second names an outside third."""
    _split_fif(root)
    _split_fif(outside, _marker_values())
    old = _fif_part(FIF_STEM, 2)
    new = _padded("../outside/", _fif_part(FIF_STEM, 2)[-30:], len(old))
    os.replace(outside / _fif_part(FIF_STEM, 2), outside / _fif_part(FIF_STEM, 2)[-30:])
    _replace_next(root / _fif_part(FIF_STEM, 1), old, new)
    return FIF_NAME


# -- NIfTI / Analyze pairs (x.hdr names x.img by its stem, as nibabel finds it) ------------------------------

def _nifti_pair_symlinked_img(root: Path, outside: Path) -> str:
    import nibabel as nib

    voxels = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    nib.save(nib.Nifti1Pair(voxels, np.eye(4)), root / "vol.hdr")
    size = (root / "vol.img").stat().st_size
    (outside / "vol.img").write_bytes(_marker_bytes(size))
    (root / "vol.img").unlink()
    os.symlink(outside / "vol.img", root / "vol.img")
    return "vol.hdr"


# -- the hostile corpus, by registry format name ------------------------------------------------------

HOSTILE: dict[str, dict[str, Callable[[Path, Path], str]]] = {
    "brainvision": {
        "DataFile absolute": _bv_line("DataFile", lambda out: f"DataFile={out}/rec.eeg"),
        "MarkerFile absolute": _bv_line("MarkerFile", lambda out: f"MarkerFile={out}/rec.vmrk"),
        "DataFile ../": _bv_line("DataFile", lambda out: "DataFile=../outside/rec.eeg"),
        "MarkerFile ../": _bv_line("MarkerFile", lambda out: "MarkerFile=../outside/rec.vmrk"),
        "MarkerFile ../ from a subfolder": _bv_in_subfolder_up_and_out,
        "MarkerFile colon syntax absolute": _bv_line("MarkerFile", lambda out: f"MarkerFile: {out}/rec.vmrk"),
        "MarkerFile colon syntax ../": _bv_line("MarkerFile", lambda out: "MarkerFile : ../outside/rec.vmrk"),
        "DataFile colon syntax": _bv_line("DataFile", lambda out: f"DataFile:{out}/rec.eeg"),
        "markerfile lower case": _bv_line("MarkerFile", lambda out: f"markerfile = {out}/rec.vmrk"),
        "MarkerFile after 1 MiB": _bv_line("MarkerFile", lambda out: f"MarkerFile={out}/rec.vmrk", pad=1 << 20),
        "DataFile after 1 MiB": _bv_line("DataFile", lambda out: "DataFile=../outside/rec.eeg", pad=(1 << 20) + 3),
        "MarkerFile in a latin-1 header": _bv_line(
            "MarkerFile", lambda out: "MarkerFile=../outside/r\u00e9c.vmrk", codepage="latin-1"),
        "MarkerFile very long": _bv_long_reference,
        "symlinked .vmrk": _bv_symlink("rec.vmrk"),
        "symlinked .eeg": _bv_symlink("rec.eeg"),
        "stale MarkerFile, fallback outside": _bv_stale_marker_falls_back_outside,
    },
    "eeglab": {
        "data absolute": _set_data(lambda out: f"{out}/rec.fdt"),
        "data ../": _set_data(lambda out: "../outside/rec.fdt"),
        "symlinked .fdt": _set_symlinked_fdt,
        "stale data name, fallback outside": _set_stale_name_falls_back_outside,
    },
    "fif": {
        "next part absolute": _fif_next("absolute"),
        "next part ../": _fif_next("relative"),
        "symlinked part": _fif_symlinked_part,
        "third part outside": _fif_deep_in_chain,
    },
    "nifti_pair": {
        "symlinked .img": _nifti_pair_symlinked_img,
    },
}
# a case runs once its format is registered (a format added later meets its cases here)
CASES = [(fmt, name) for fmt, cases in HOSTILE.items() if REGISTRY.spec(fmt) is not None for name in cases]


def _operations(ws: Workspace, name: str, fmt: str) -> dict[str, Callable[[], object]]:
    """Every way a file is read: load, summaries (header, exact stats), read_slice, preview_image, convert."""
    recording = REGISTRY.spec(fmt).kind == "recording"
    key = "eeg" if recording else None  # recordings: every EEG channel
    ops = {
        "load": lambda: ws.load(name),
        "load key": lambda: ws.load(name, key=key),
        "summarize": lambda: ws.summarize(name),
        "exact stats": lambda: ws.summarize(name, key=key, exact_stats=True),
        "read_slice": lambda: ws.read_slice(name, selection="0, 0:10"),
        "preview_image": lambda: ws.preview_image(name),
        "convert to npy": lambda: ws.convert(name, "copy.npy", key=key),
    }
    if recording:
        ops["convert to fif"] = lambda: ws.convert(name, "copy_raw.fif")
        ops["convert to vhdr"] = lambda: ws.convert(name, "copy.vhdr")
    return ops


def _marker_in_root(root: Path) -> list[str]:
    """Files inside the root (links not followed) that hold MARKER."""
    found = []
    for p in root.rglob("*"):
        if p.is_symlink() or not p.is_file():
            continue
        if MARKER.encode() in p.read_bytes():
            found.append(p.name)
    return found


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    return root, outside


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=[f"{f}: {c}" for f, c in CASES])
def test_references_leaving_the_root_are_refused(tree, fmt, case):
    root, outside = tree
    name = HOSTILE[fmt][case](root, outside)
    assert REGISTRY.spec(fmt).multi_file
    assert not _marker_in_root(root)
    ws = Workspace([root])
    for op, call in _operations(ws, name, fmt).items():
        with pytest.raises(IOCoreError) as info:
            call()
        err = info.value
        assert err.code == "PATH_OUTSIDE_ROOT", (op, err)
        text = f"{err.message} {err.hint} {err.path}"
        assert MARKER not in text, op
        assert len(err.message) < 400, (op, len(err.message))  # the reference is echoed cut short
    assert not _marker_in_root(root)
    assert not any(p.name.startswith("copy") for p in root.rglob("*"))


# -- the registry decides what must be covered ----------------------------------------------------------

def _handlers() -> dict[str, object]:
    out = {}
    for spec in REGISTRY.specs.values():
        if not REGISTRY.is_available(spec):
            continue
        try:
            out[spec.name] = REGISTRY.handler(spec)
        except MissingDependencyError:
            continue
    return out


def test_every_declared_multi_file_format_has_hostile_cases():
    declared = {s.name for s in REGISTRY.specs.values() if s.multi_file}
    assert {"brainvision", "eeglab", "fif"} <= declared
    missing = sorted(declared - {fmt for fmt, cases in HOSTILE.items() if cases})
    assert not missing, f"multi-file formats without a hostile case in {__file__}: {missing}"


def test_every_handler_that_lists_references_is_declared_multi_file():
    handlers = _handlers()
    assert {"brainvision", "eeglab", "fif", "edf", "npy"} <= set(handlers)
    undeclared = sorted(n for n, h in handlers.items()
                        if supports(h, "references") and not REGISTRY.spec(n).multi_file)
    assert not undeclared, f"handlers list references but their FormatSpec lacks multi_file=True: {undeclared}"
    unlisted = sorted(n for n, h in handlers.items()
                      if REGISTRY.spec(n).multi_file and not supports(h, "references"))
    assert not unlisted, f"declared multi_file without a references(path) method: {unlisted}"


def _same_recording(ours, theirs) -> None:
    assert ours.ch_names == theirs.ch_names and ours.n_times == theirs.n_times
    np.testing.assert_array_equal(ours.get_data(), theirs.get_data())
    assert list(ours.annotations.description) == list(theirs.annotations.description)


# -- references parsed as MNE parses them ---------------------------------------------------------------

def test_brainvision_references_are_the_files_mne_opens(tree):
    """Same parser as MNE's reader: colon syntax, keys in any case, past 1 MiB, the header's codepage, and an
    indented line continuing the previous value (configparser), which MNE then fails to open as we name it."""
    root, outside = tree
    handler = REGISTRY.handler(REGISTRY.spec("brainvision"))
    variants = [
        ("MarkerFile", "MarkerFile: rec.vmrk", {}),
        ("MarkerFile", "markerfile = rec.vmrk", {"pad": 1 << 20}),
        ("DataFile", "DataFile : ./rec.eeg", {"codepage": "latin-1"}),
        ("MarkerFile", "  MarkerFile=rec.vmrk", {}),  # continues DataFile's value
    ]
    for i, (field, line, edit) in enumerate(variants):
        (root / str(i)).mkdir()
        header, _ = _bv(root / str(i), outside)
        _edit_header(header, field, line, **edit)
        refs = {r.field: r.name for r in handler.references(header)}
        data = os.path.realpath(header.parent / refs["DataFile"])
        if "\n" in refs["DataFile"]:
            assert "MarkerFile" not in refs
            with pytest.raises(FileNotFoundError) as info:
                mne.io.read_raw_brainvision(header, verbose=LOG)
            assert os.path.realpath(info.value.filename) == data
            err = pytest.raises(IOCoreError, Workspace([root]).load, f"{i}/rec.vhdr").value
            assert err.code == "FILE_NOT_FOUND" and "DataFile='rec.eeg\\nMarkerFile=rec.vmrk'" in err.message
            continue
        raw = mne.io.read_raw_brainvision(header, verbose=LOG)
        assert data == os.path.realpath(raw.filenames[0]), line
        assert refs["MarkerFile"] == "rec.vmrk"
        _same_recording(Workspace([root]).load(f"{i}/rec.vhdr"), raw)


# -- legit layouts keep working -------------------------------------------------------------------------

def test_brainvision_companions_elsewhere_in_the_root_are_read(tree):
    root, outside = tree
    (root / "hdr").mkdir()
    (root / "data").mkdir()
    header, _ = _bv(root / "hdr", outside)
    for ext in (".eeg", ".vmrk"):
        os.replace(root / "hdr" / ("rec" + ext), root / "data" / ("rec" + ext))
    os.symlink(root / "data" / "rec.vmrk", root / "data" / "link.vmrk")  # a link that stays inside
    _edit_header(header, "DataFile", "DataFile: ../data/rec.eeg")
    _edit_header(header, "MarkerFile", f"markerfile = {root}/data/link.vmrk", pad=1 << 20)
    ws = Workspace([root])
    raw = ws.load("hdr/rec.vhdr")
    _same_recording(raw, mne.io.read_raw_brainvision(header, verbose=LOG))
    assert list(raw.annotations.description) == ["Comment/inside"] * 2
    assert ws.summarize("hdr/rec.vhdr").summary.n_annotations == 2
    assert ws.read_slice("hdr/rec.vhdr", selection="0, 0:4").slice.shape == [4]
    ws.convert("hdr/rec.vhdr", "copy.vhdr")
    assert ws.load("copy.vhdr").n_times == raw.n_times


def test_brainvision_stale_marker_name_falls_back_like_mne(tree):
    root, outside = tree
    header, _ = _bv(root, outside)
    _edit_header(header, "MarkerFile", "MarkerFile=renamed-since.vmrk")
    ws = Workspace([root])
    theirs = mne.io.read_raw_brainvision(header, verbose=LOG)
    _same_recording(ws.load("rec.vhdr"), theirs)
    assert ws.summarize("rec.vhdr").summary.n_annotations == 2
    (root / "rec.vmrk").unlink()  # neither: no annotations, as MNE
    assert ws.summarize("rec.vhdr").summary.n_annotations == 0


def test_eeglab_fdt_inside_the_root_is_read(tree):
    root, outside = tree
    (root / "sets" / "blobs").mkdir(parents=True)
    target = _set_with_fdt(root / "sets", outside, "blobs/rec.fdt")
    os.replace(root / "sets" / "rec.fdt", root / "sets" / "blobs" / "rec.fdt")
    ws = Workspace([root])
    raw = ws.load("sets/rec.set")
    theirs = mne.io.read_raw_eeglab(target, verbose=LOG)
    _same_recording(raw, theirs)
    assert os.path.realpath(raw.filenames[0]) == os.path.realpath(root / "sets" / "blobs" / "rec.fdt")
    np.testing.assert_allclose(raw.get_data(), _raw().get_data(), atol=1e-9)
    # embedded samples (what MNE's exporter writes) name no other file
    ws.save(_raw(), "embedded.set")
    assert REGISTRY.handler(REGISTRY.spec("eeglab")).references(root / "embedded.set") == []
    assert ws.load("embedded.set").n_times == raw.n_times


def test_eeglab_stale_data_name_falls_back_like_mne(tree):
    root, outside = tree
    target = _set_with_fdt(root, outside, "renamed-since.fdt")
    theirs = mne.io.read_raw_eeglab(target, verbose=LOG)
    _same_recording(Workspace([root]).load("rec.set"), theirs)


def test_split_fif_inside_the_root_is_read(tree):
    root, _ = tree
    parts = _split_fif(root)
    ws = Workspace([root])
    raw = ws.load(FIF_NAME)
    assert [Path(f).name for f in raw.filenames] == [p.name for p in parts]
    _same_recording(raw, mne.io.read_raw_fif(parts[0], verbose=LOG))
    assert ws.summarize(FIF_NAME).summary.n_times == 150_000
    tail = ws.read_slice(FIF_NAME, selection="0, 149990:150000").slice
    assert tail.shape == [10]
    # parts moved to a subfolder of the root and named there: still inside, still read
    (root / "more").mkdir()
    for p in parts[1:]:
        os.replace(p, root / "more" / p.name)
    old = _fif_part(FIF_STEM, 1)
    _replace_next(parts[0], old, _padded("more/", old[-40:], len(old)))
    os.replace(root / "more" / old, root / "more" / old[-40:])
    moved = ws.load(FIF_NAME)
    assert moved.n_times == 150_000 and os.path.dirname(moved.filenames[1]).endswith("more")


def test_convert_carries_an_inside_marker_so_the_outside_checks_can_fail(tree):
    """The marker checks are not vacuous: followed inside the root, the same files do carry MARKER."""
    root, outside = tree
    inside = root / "in"
    inside.mkdir()
    _split_fif(inside, _marker_values())
    ws = Workspace([root])
    ws.convert(f"in/{FIF_NAME}", "copy_raw.fif")
    assert "copy_raw.fif" in _marker_in_root(root)
    _bv(root, outside, name="bv")
    shutil.copy(outside / "bv.vmrk", root / "bv.vmrk")
    assert MARKER in repr(ws.summarize("bv.vhdr"))


def test_split_chain_that_loops_is_refused_not_followed_forever(tree):
    root, _ = tree
    _split_fif(root)
    old = _fif_part(FIF_STEM, 2)
    _replace_next(root / _fif_part(FIF_STEM, 1), old, _padded("", FIF_NAME, len(old)))
    err = pytest.raises(IOCoreError, Workspace([root]).load, FIF_NAME).value
    assert err.code == "CORRUPT_FILE" and "loop" in err.message


def test_climbing_references_inside_the_root_read_the_named_file_or_are_unsupported(tree):
    """A .set or a FIF part naming ``../x`` inside the root: MNE joins the name to the folder it was given, which
    is a private view; it is either reached there (no /proc: checked real paths) or refused as unsupported,
    never answered from another file (such as the reader's fallback ``<stem>.fdt``)."""
    root, outside = tree
    (root / "sets").mkdir()
    (root / "blobs").mkdir()
    _set_with_fdt(root / "sets", outside, "../blobs/rec.fdt")
    os.replace(root / "sets" / "rec.fdt", root / "blobs" / "rec.fdt")
    (root / "sets" / "rec.fdt").write_bytes(_marker_bytes((root / "blobs" / "rec.fdt").stat().st_size))  # decoy
    ws = Workspace([root])
    try:
        raw = ws.load("sets/rec.set")
    except IOCoreError as err:
        assert err.code == "UNSUPPORTED_OPERATION" and "../blobs/rec.fdt" in err.message
    else:
        np.testing.assert_allclose(raw.get_data(), _raw().get_data(), atol=1e-9)

    parts = _split_fif(root)
    (root / "parts").mkdir()
    old = _fif_part(FIF_STEM, 1)
    os.replace(parts[1], root / "parts" / old[-20:])
    os.replace(parts[2], root / "parts" / parts[2].name)
    _replace_next(parts[0], old, _padded("../root/parts/", old[-20:], len(old)))
    try:
        raw = ws.load(FIF_NAME)
    except IOCoreError as err:
        assert err.code == "UNSUPPORTED_OPERATION" and "../root/parts/" in err.message
    else:
        assert raw.n_times == 150_000


def test_a_handler_used_without_a_sandbox_keeps_references_in_their_folder(tree):
    root, outside = tree
    _bv_line("MarkerFile", lambda out: "MarkerFile=../outside/rec.vmrk")(root, outside)
    handler = REGISTRY.handler(REGISTRY.spec("brainvision"))
    from io_core.options import ReadOptions

    err = pytest.raises(IOCoreError, handler.load, root / "rec.vhdr", ReadOptions()).value
    assert err.code == "PATH_OUTSIDE_ROOT" and "its own folder" in err.message


@pytest.mark.parametrize("fmt", ["brainvision", "eeglab", "fif"])
def test_a_missing_reference_is_named_not_searched_for(tree, fmt):
    root, outside = tree
    if fmt == "brainvision":
        _bv(root, outside)
        (root / "rec.eeg").unlink()
        name, gone = "rec.vhdr", "DataFile='rec.eeg'"
    elif fmt == "eeglab":
        _set_with_fdt(root, outside, "rec.fdt")
        (root / "rec.fdt").unlink()
        name, gone = "rec.set", "data='rec.fdt'"
    else:
        parts = _split_fif(root)
        parts[2].unlink()
        name, gone = FIF_NAME, "next split part="
    for call in (Workspace([root]).load, Workspace([root]).summarize):
        err = pytest.raises(IOCoreError, call, name).value
        assert err.code == "FILE_NOT_FOUND" and gone in err.message and "does not exist" in err.message
