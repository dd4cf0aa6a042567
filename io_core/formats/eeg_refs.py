"""Files that point at other files (BrainVision, EEGLAB, split FIF): their references, pinned first.

A multi-file format (its registry row says ``multi_file=True``) has a handler with
``references(path)``: the other files it names, parsed with the reader's own code. Each is
pinned through the sandbox (``_pin``) before MNE runs, and MNE is told to open the pinned
path; what MNE opened is checked against the pinned set afterwards. Split FIF parts (raw
recordings and epochs alike) are followed by ``pin_split_parts``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Self

import mne

from io_core.errors import CorruptFileError, FileNotFoundIOError, PathOutsideRootError, UnsupportedOperationError
from io_core.summary import clip_text

LOG = "error"  # MNE logs to stdout by default: keep it silent
NAME_CHARS = 64

MAX_SPLIT_PARTS = 1000  # a FIF split chain longer than this is refused (a loop costs nothing to write)
REF_CHARS = 80  # a reference is echoed in errors cut to this many characters


class Reference(str):
    """One file named by another, as its reader takes it (relative to the naming file's folder, or absolute).

    A ``str`` (the name), so ``references(path)`` reads like any handler's list of names.
    """

    field: str  # where the file names it: "DataFile", "MarkerFile", "data", "next split part"
    fallback: str | None  # what the reader tries instead when the name is not a file

    def __new__(cls, field: str, name: str, fallback: str | None = None) -> Self:
        self = super().__new__(cls, name)
        self.field, self.fallback = field, fallback
        return self

    @property
    def name(self) -> str:
        return str(self)

    def __repr__(self) -> str:
        return f"Reference({self.field}={str(self)!r}" + (f", fallback={self.fallback!r})" if self.fallback else ")")


def _own_folder_only(path: Path, ref: str) -> None:
    """Without an active sandbox (a handler used directly) a reference stays in its file's real folder."""
    from io_core.paths import real_path

    folder = os.path.realpath(real_path(path).parent)
    target = os.path.realpath(os.path.join(folder, ref))
    if target != folder and not target.startswith(folder.rstrip(os.sep) + os.sep):
        raise PathOutsideRootError("outside the file's folder", path=path.name)


def _pin(path: Path, ref: Reference, name: str | None = None) -> Path | None:
    """The path MNE should open for ``ref`` (``name`` when given), or None when it is not a file.

    ``io_core.paths.pin_companion`` resolves it against ``path``'s real folder through the
    active sandbox, pins it and links it beside ``path``'s view. Refused (PATH_OUTSIDE_ROOT)
    when it leaves the roots, whether or not it exists.
    """
    from io_core.links import active_sandbox
    from io_core.paths import pin_companion

    raw_name = ref.name if name is None else name
    confined = active_sandbox() is not None
    try:
        if not confined:
            _own_folder_only(path, raw_name)
        pinned = Path(pin_companion(path, raw_name))
    except PathOutsideRootError:
        shown = clip_text(raw_name, REF_CHARS)[0]
        where = "the allowed roots" if confined else "its own folder (read without a sandbox)"
        raise PathOutsideRootError(
            f"{clip_text(path.name, NAME_CHARS)[0]!r} names {ref.field}={shown!r}, outside {where}; it was not read",
            hint="Keep the files of a recording (header, data, markers, split parts) inside the roots.",
            path=clip_text(raw_name, REF_CHARS)[0],
        ) from None
    except FileNotFoundIOError:
        return None
    return pinned if pinned.is_file() else None


def _reachable(path: Path, name: str, pinned: Path, field: str) -> None:
    """MNE joins ``name`` to the folder of the path it opened: that must land on the pinned file.

    A view holds links for names beside or below ``path``; a name climbing out of its folder
    (or absolute) is pinned elsewhere, where a reader without an override cannot be sent.
    """
    if os.path.realpath(os.path.join(os.path.dirname(path), name)) != os.path.realpath(pinned):
        raise UnsupportedOperationError(
            f"{clip_text(path.name, NAME_CHARS)[0]!r} names {field}={clip_text(name, REF_CHARS)[0]!r} in another "
            "folder; MNE can only be given files beside it or below it",
            hint="Move the file beside the one that names it (as MNE and EEGLAB write them).",
        )


def _pin_reference(path: Path, ref: Reference) -> tuple[Path | None, str]:
    """``ref`` pinned, or its fallback pinned when ``ref`` is not a file (as the reader falls back); the name used."""
    pinned = _pin(path, ref)
    if pinned is None and ref.fallback is not None:
        return _pin(path, ref, ref.fallback), ref.fallback
    return pinned, ref.name


def _missing(path: Path, ref: Reference) -> FileNotFoundIOError:
    """A named file that is not there: said here, so the reader never goes looking for it by name."""
    also = f" (nor {clip_text(ref.fallback, REF_CHARS)[0]!r})" if ref.fallback else ""
    return FileNotFoundIOError(
        f"{clip_text(path.name, NAME_CHARS)[0]!r} names {ref.field}={clip_text(ref.name, REF_CHARS)[0]!r}{also}, "
        "which does not exist",
        hint="Copy the missing file beside the one that names it, under that name.",
        path=path.name,
    )


def brainvision_references(path: Path) -> list[Reference]:
    """DataFile and MarkerFile of a ``.vhdr``, parsed by MNE's own header parser (whole file, its codepage,
    ``key=value`` or ``key: value``, keys in any case); a stale MarkerFile falls back to ``<stem>.vmrk``."""
    from mne.io.brainvision import brainvision as bv

    with mne.utils.use_log_level(LOG):
        parsed = bv._aux_hdr_info(os.fspath(path))
    cfg, section = parsed[1], parsed[2]
    refs = [Reference("DataFile", cfg.get(section, "DataFile"))]
    marker = cfg.get(section, "MarkerFile", fallback="")
    if marker:
        refs.append(Reference("MarkerFile", marker, fallback=os.path.splitext(path.name)[0] + ".vmrk"))
    return refs


def eeglab_references(path: Path) -> list[Reference]:
    """The data file a ``.set`` names in ``EEG.data`` (read by MNE's own loader); falls back to ``<stem>.fdt``."""
    from mne.io.eeglab import eeglab as el

    with mne.utils.use_log_level(LOG):
        eeg = el._check_load_mat(os.fspath(path), None)
    data = eeg.get("data")
    if not isinstance(data, str) or os.path.abspath(data) == os.path.abspath(path):
        return []  # samples stored in the .set itself
    return [Reference("data", data, fallback=os.path.splitext(path.name)[0] + ".fdt")]


def fif_references(path: Path, name: str | None = None) -> list[Reference]:
    """The next part of a split FIF, from its FIFF_REF block (FILE_NAME, else FILE_NUM built from ``name``,
    the name the reader opened this part under), read by MNE's own code."""
    from mne._fiff.open import _get_next_fname, fiff_open

    with mne.utils.use_log_level(LOG):
        fid, tree, _ = fiff_open(path, verbose=LOG)
        with fid:
            following = _get_next_fname(fid, Path(name or path.name), tree)
    return [] if following is None else [Reference("next split part", os.fspath(following))]


def _opened_only_pinned(path: Path, raw: Any, pinned: list[Path]) -> None:
    """Every file MNE keeps samples from is one that was pinned (or the header itself)."""
    allowed = {os.path.realpath(p) for p in [path, *pinned]}
    for name in getattr(raw, "filenames", ()) or ():
        if name is not None and os.path.realpath(name) not in allowed:
            raise PathOutsideRootError(
                f"{clip_text(path.name, NAME_CHARS)[0]!r}: the reader opened "
                f"{clip_text(os.path.basename(name), REF_CHARS)[0]!r}, which was not checked; it was not read",
                hint="Keep the files of a recording (header, data, markers, split parts) inside the roots.",
                path=path.name,
            )


def _takes_overrides(reader: Any) -> bool:
    import inspect

    try:
        return "overrides" in inspect.signature(reader).parameters
    except (TypeError, ValueError):
        return False


def pin_split_parts(path: Path) -> list[Path]:
    """Every further part of a split FIF (raw or epochs), each pinned before MNE opens it.

    MNE joins each part's FIFF_REF name to the folder of the part naming it: that must land
    on the pinned file. A loop or an endless chain is CORRUPT_FILE; a missing part, FILE_NOT_FOUND.
    """
    pinned: list[Path] = []
    seen = {os.path.realpath(path)}
    part, name = path, path.name
    for _ in range(MAX_SPLIT_PARTS):
        refs = fif_references(part, name)
        if not refs:
            return pinned
        following = _pin(part, refs[0])
        if following is None:
            raise _missing(part, refs[0])
        _reachable(part, refs[0].name, following, refs[0].field)
        if os.path.realpath(following) in seen:
            raise CorruptFileError(f"the split parts of {path.name!r} name each other in a loop")
        seen.add(os.path.realpath(following))
        pinned.append(following)
        part, name = following, Path(refs[0].name).name
    raise CorruptFileError(f"{path.name!r} continues in more than {MAX_SPLIT_PARTS} split parts")
