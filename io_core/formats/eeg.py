"""EEG / MEG recordings through MNE: FIF (raw), EDF, BDF, GDF, BrainVision, EEGLAB, CNT.

``load`` returns an ``mne.io.Raw`` opened with ``preload=False``: the header is read,
samples are not (``raw.get_data(picks, start, stop)`` reads a window). ``load`` with a
``key`` returns the samples of those channels as an ndarray ``(channels, times)``.

``key`` names channels: one name (``"Fz"``), several separated by commas
(``"Fz,Cz"``), or a channel type (``"eeg"``, ``"eog"``, ``"stim"``: every channel of
that type). Names match exactly, else case-insensitively when that is unambiguous.

Summaries come from the header only (channels and their types, sampling rate,
duration, measurement date, filters, bad channels, annotations, bounded): nothing is
loaded. With a ``key`` the summary is an array summary of those channels (shape,
stats sampled or exact on request, first values). ``read_slice`` / ``preview_image``
go through ``open_array``: a ``(channels, times)`` array-like (restricted to ``key``'s
channels when given) whose indexing calls ``raw.get_data(picks=..., start=...,
stop=...)``, so ``selection="0:2, 256:512"`` reads one second of two channels at
256 Hz without loading the recording. Times are in samples (seconds x sfreq; see
``io_core.formats.windowed.time_window``); values in SI units (V, T, T/m), as MNE has them.

Saving takes an MNE ``Raw`` (any reader's, or ``RawArray``) or agent JSON
``{"sfreq": 256, "data": [[...], ...] (channels x times, in volts), "ch_names": [...],
"ch_types": "eeg" | [...], "annotations": [{"onset", "duration", "description"}],
"meas_date": ISO 8601}`` (only ``sfreq`` and ``data`` are required; channel types
default to ``misc``). FIF is written by ``raw.save`` (double precision when the data
were double, else single, MNE's default); EDF (16-bit) and BDF (24-bit) through edfio,
BrainVision through pybv, EEGLAB through eeglabio, all via ``mne.export.export_raw``.
Exports quantize (EDF/BDF: per-channel physical range over 2^16 / 2^24 steps) and keep
channel names, sampling rate, annotations and (except EEGLAB) the measurement date, not
channel types (they read back as EEG). BrainVision writes three files: ``x.vhdr`` (the
path saved, atomically, hashed in the provenance ledger) and its companions ``x.eeg`` /
``x.vmrk``, placed beside it first. GDF and CNT are read-only (MNE cannot write them).

Files that point at other files (a BrainVision header's DataFile and MarkerFile, the
``.fdt`` an EEGLAB ``.set`` names, the next part of a split FIF) are multi-file formats
(``multi_file=True`` in the registry): their handler's ``references(path)`` lists those
names parsed by MNE's own code (the whole header, its codepage, ``key: value``, the
reader's fallback names), and each is pinned through the sandbox
(``io_core.paths.pin_companion``) before MNE runs; MNE is then made to open the pinned
files (BrainVision: ``overrides``; EEGLAB and FIF: the pinned link where MNE joins the
name). A reference leaving the roots is PATH_OUTSIDE_ROOT, nothing of it read. Headers
that promise more data than the file holds (EDF/BDF record counts, a last sample that
cannot be read) are refused as CORRUPT_FILE. MNE's logging is kept at "error" on every
call: nothing is printed.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import mne
import numpy as np

from io_core.atomic import TEMP_MARKER, fsync_path
from io_core.coerce import as_array
from io_core.errors import (
    CorruptFileError,
    ExistsError,
    FileNotFoundIOError,
    InvalidDataError,
    KeyNotFoundError,
    PathOutsideRootError,
    UnsupportedOperationError,
)
from io_core.formats.windowed import WindowedSignal
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary, clip_text
from schemas import AnnotationDesc, ChannelDesc, RecordingSummary

LOG = "error"  # MNE logs to stdout by default: keep it silent
MAX_CHANNELS = 128  # channels described one by one in a summary
MAX_DESCRIPTIONS = 50  # distinct annotation descriptions counted
NAME_CHARS = 64
TEXT_CHARS = 120
_UNITS = {"V": "V", "T": "T", "T_M": "T/m", "AM": "Am", "MOL": "mol", "CEL": "°C", "M": "m", "S": "s"}
_BYTES = {"short": 2, "int": 4, "single": 4, "double": 8}
_TEMP_NAME = re.compile(re.escape(TEMP_MARKER) + r"[0-9a-f]+-(.+)$")


class RecordingView(WindowedSignal):
    """``(channels, times)`` of a Raw opened without preload: indexing reads that window only."""

    time_axis = 1

    def __init__(self, raw: Any, picks: list[int]) -> None:
        self._raw = raw
        self._picks = picks
        self.shape = (len(picks), int(raw.n_times))
        self.dtype = np.dtype(np.float64)

    def _read(self, start: int, stop: int, others: list[int]) -> np.ndarray:
        picks = [self._picks[i] for i in others]
        return self._raw.get_data(picks=picks, start=start, stop=stop, verbose=LOG)


class RecordingFormat:
    """One MNE reader (and, when MNE can write the format, its writer)."""

    def __init__(self, name: str, reader: str, export: str | None = None, *, signature: tuple[bytes, ...] = (),
                 **reader_kwargs: Any) -> None:
        self.name = name
        self.reader = reader  # "module:attribute" of the MNE reader
        self.export = export  # "fif" (raw.save) or an mne.export format; None: read-only
        self.signature = signature  # what the file must start with (checked here: the reader class does not)
        self.reader_kwargs = reader_kwargs

    def _reader(self) -> Any:
        import importlib

        module, _, attr = self.reader.partition(":")
        return getattr(importlib.import_module(module), attr)

    def _check_signature(self, path: Path) -> None:
        if not self.signature:
            return
        with open(path, "rb") as fh:
            head = fh.read(max(len(s) for s in self.signature))
        if not any(head.startswith(s) for s in self.signature):
            raise CorruptFileError(
                f"{path.name!r} is not a {self.name.upper()} file: it does not start with {self.signature[0]!r}",
                hint="The file is empty." if not head else CorruptFileError.default_hint,
            )

    # -- reading -----------------------------------------------------------------------
    def read_raw(self, path: Path) -> Any:
        """The recording, header only; its companion files checked; refused if cut short."""
        self._check_signature(path)
        with mne.utils.use_log_level(LOG):
            raw, pinned = self._open(path)
            _opened_only_pinned(path, raw, pinned)
            self._check_complete(path, raw)
        return raw

    def _open(self, path: Path) -> tuple[Any, list[Path]]:
        """MNE's Raw, and the other files it was allowed to open (multi-file formats pin them first)."""
        return self._reader()(path, preload=False, verbose=LOG, **self.reader_kwargs), []

    def _check_complete(self, path: Path, raw: Any) -> None:
        extras = raw._raw_extras[0] if getattr(raw, "_raw_extras", None) else {}
        if self.name in ("edf", "bdf"):
            with open(path, "rb") as fh:
                head = fh.read(256)
            try:
                declared = int(head[236:244].decode("ascii").strip())
            except ValueError:
                declared = -1
            record = int(np.sum(extras.get("n_samps", 0))) * int(extras.get("dtype_byte", 0))
            expected = int(extras.get("data_offset", 0)) + declared * record
            if declared > 0 and record > 0 and path.stat().st_size < expected:
                raise CorruptFileError(
                    f"{path.name!r} is truncated: its header promises {declared} records "
                    f"({expected} bytes), the file has {path.stat().st_size}"
                )
        if self.name == "gdf" and "bytes_tot" in extras:  # GDF's record count is binary; MNE keeps it as is
            expected = int(extras.get("data_offset", 0)) + int(extras.get("n_records", 0)) * int(extras["bytes_tot"])
            if path.stat().st_size < expected:
                raise CorruptFileError(f"{path.name!r} is truncated: its header promises {expected} bytes, "
                                       f"the file has {path.stat().st_size}")
        if self.name == "brainvision" and extras.get("fmt") in _BYTES and raw.filenames and raw.filenames[0]:
            frame = _BYTES[extras["fmt"]] * int(extras.get("orig_nchan", raw.info["nchan"]))
            size = os.path.getsize(raw.filenames[0])
            if frame and size % frame:
                raise CorruptFileError(
                    f"the data file of {path.name!r} is truncated: {size} bytes is not a whole number of "
                    f"{frame}-byte samples"
                )
        if raw.n_times and raw.info["nchan"]:  # the last sample must be readable (readers that trust a header)
            try:
                last = raw.get_data(picks=[0], start=raw.n_times - 1, stop=raw.n_times, verbose=LOG)
            except Exception as exc:  # noqa: BLE001 - whatever the reader raises means "cut short"
                raise CorruptFileError(
                    f"{path.name!r} is truncated or damaged: its last sample cannot be read "
                    f"({type(exc).__name__}: {str(exc)[:200]})"
                ) from None
            if last.shape[-1] != 1:
                raise CorruptFileError(f"{path.name!r} is truncated: it ends before its last sample")

    def load(self, path: Path, opts: ReadOptions) -> Any:
        raw = self.read_raw(path)
        if opts.key in (None, ""):
            return raw
        return raw.get_data(picks=resolve_picks(raw, opts.key), verbose=LOG)

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[RecordingView]:
        raw = self.read_raw(path)
        yield RecordingView(raw, resolve_picks(raw, opts.key))

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        return summarize_raw(self.read_raw(path), opts)

    # -- writing -----------------------------------------------------------------------
    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        raw = as_raw(data, opts)
        with mne.utils.use_log_level(LOG):
            if self.export == "fif":
                fmt = "double" if getattr(raw, "orig_format", "single") == "double" else "single"
                if path.name.lower().endswith((".fif", ".fif.gz")):
                    raw.save(path, fmt=fmt, overwrite=True, verbose=LOG)
                else:  # MNE insists on the suffix (format="fif" to a name without it)
                    named = path.with_name(path.name + ".fif")
                    try:
                        raw.save(named, fmt=fmt, overwrite=True, verbose=LOG)
                        os.replace(named, path)
                    finally:
                        named.unlink(missing_ok=True)
            elif self.export == "brainvision":
                _save_brainvision(raw, path)
            else:
                _require_export_helper(self.export)
                # exporters may load the data into the object they get: give them a copy
                mne.export.export_raw(os.fspath(path), raw.copy(), fmt=self.export, overwrite=True, verbose=LOG)


# -- channels -------------------------------------------------------------------------------

def resolve_picks(raw: Any, key: str | None) -> list[int]:
    """Channel indices for ``key``: names (comma-separated) or channel types; None: all."""
    if key in (None, ""):
        return list(range(raw.info["nchan"]))
    names = raw.ch_names
    types = raw.get_channel_types()
    lower: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        lower.setdefault(n.lower(), []).append(i)
    exact = {n: i for i, n in enumerate(names)}
    picks: list[int] = []
    for part in (p.strip() for p in str(key).split(",")):
        if not part:
            continue
        if part in exact:
            picks.append(exact[part])
        elif len(lower.get(part.lower(), [])) == 1:
            picks.append(lower[part.lower()][0])
        elif part.lower() in types:
            picks.extend(i for i, t in enumerate(types) if t == part.lower())
        else:
            raise KeyNotFoundError(
                f"no channel or channel type {part!r}",
                hint=f"Channels: {names[:40]}{' ...' if len(names) > 40 else ''}; types: {sorted(set(types))}. "
                     "Separate several with commas.",
            )
    if not picks:
        raise KeyNotFoundError(f"key {key!r} names no channel")
    return list(dict.fromkeys(picks))


def _unit(ch: Mapping[str, Any]) -> str | None:
    name = getattr(ch.get("unit"), "_name", "")
    short = name.removeprefix("FIFF_UNIT_")
    if not short or short == "NONE":
        return None
    return _UNITS.get(short, short)


def summarize_raw(raw: Any, opts: ReadOptions) -> Any:
    """A recording summary from the header; with ``opts.key``, an array summary of those channels."""
    if opts.key not in (None, ""):
        picks = resolve_picks(raw, opts.key)
        view = RecordingView(raw, picks)
        shown = [raw.ch_names[i] for i in picks[:20]]
        return array_summary(
            view, opts,
            note=f"channels {shown}{' ...' if len(picks) > 20 else ''} x samples at {raw.info['sfreq']:g} Hz, "
                 "values in SI units (V, T, T/m)",
        )
    info = raw.info
    types = raw.get_channel_types()
    sfreq = float(info["sfreq"])
    channels = [
        ChannelDesc(name=clip_text(name, NAME_CHARS)[0], type=kind, unit=_unit(ch))
        for name, kind, ch in zip(raw.ch_names[:MAX_CHANNELS], types, info["chs"], strict=False)
    ]
    annotations = raw.annotations
    onsets = np.asarray(annotations.onset, dtype=float)
    if annotations.orig_time is not None:  # onsets count from meas_date; report them from the first sample
        onsets = onsets - float(raw.first_time)
    descriptions = [str(d) for d in annotations.description]
    shown = [
        AnnotationDesc(onset=float(o), duration=float(d), description=clip_text(desc, TEXT_CHARS)[0])
        for o, d, desc in zip(onsets[: opts.preview_items], annotations.duration[: opts.preview_items],
                              descriptions[: opts.preview_items], strict=False)
    ]
    counts = Counter(descriptions).most_common(MAX_DESCRIPTIONS)
    meas_date = info["meas_date"]
    highpass, lowpass = info.get("highpass"), info.get("lowpass")
    n_times = int(raw.n_times)
    return RecordingSummary(
        reader=type(raw).__name__,
        sfreq=sfreq,
        n_channels=int(info["nchan"]),
        n_times=n_times,
        duration_s=n_times / sfreq if sfreq else 0.0,
        first_time_s=float(raw.first_time),
        meas_date=meas_date.isoformat() if meas_date is not None else None,
        highpass=float(highpass) if highpass is not None and np.isfinite(highpass) else None,
        lowpass=float(lowpass) if lowpass is not None and np.isfinite(lowpass) else None,
        channel_types=dict(Counter(types)),
        channels=channels,
        channels_truncated=len(raw.ch_names) > len(channels),
        bads=[clip_text(b, NAME_CHARS)[0] for b in info["bads"][:MAX_CHANNELS]],
        n_annotations=len(annotations),
        annotation_counts={clip_text(d, TEXT_CHARS)[0]: n for d, n in counts},
        annotations=shown,
        annotations_truncated=len(annotations) > len(shown),
        note=f"key= picks channels (names, comma-separated, or a type); read_slice selection is "
             f"'channels, samples' with sample = seconds x {sfreq:g}",
    )


# -- what save accepts ------------------------------------------------------------------------

def is_raw(value: Any) -> bool:
    return isinstance(value, mne.io.BaseRaw)


def as_raw(data: Any, opts: WriteOptions) -> Any:
    """An MNE Raw from a Raw or from agent JSON (sfreq, data, and optional names/types/annotations)."""
    if is_raw(data):
        return data
    if not isinstance(data, Mapping) or "sfreq" not in data or "data" not in data:
        raise InvalidDataError(
            "a recording is saved from an MNE Raw or {'sfreq': Hz, 'data': channels x times, ...}",
            hint='For example {"sfreq": 256, "data": [[0.0, 1e-6, ...], ...], "ch_names": ["Fz", ...], '
                 '"ch_types": "eeg"} (values in volts).',
        )
    allowed = {"sfreq", "data", "ch_names", "ch_types", "annotations", "meas_date"}
    extra = sorted(set(data) - allowed)
    if extra:
        raise InvalidDataError(f"unexpected recording fields {extra}", hint=f"Known fields: {sorted(allowed)}.")
    arr = as_array(data["data"], opts.dtype or "float64", name="data")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.dtype.kind not in "biuf":
        raise InvalidDataError(f"recording data is numbers shaped (channels, times), not {arr.dtype} {arr.shape}")
    try:
        sfreq = float(data["sfreq"])
    except (TypeError, ValueError):
        sfreq = float("nan")
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise InvalidDataError(f"sfreq must be a positive number of Hz, not {data['sfreq']!r}")
    n = arr.shape[0]
    names = data.get("ch_names") or [f"ch{i}" for i in range(n)]
    kinds = data.get("ch_types") or "misc"
    if not isinstance(names, (list, tuple)) or len(names) != n or not all(isinstance(c, str) and c for c in names):
        raise InvalidDataError(f"ch_names must be {n} non-empty strings, one per row of data")
    if len(set(names)) != n:
        repeated = sorted({c for c in names if names.count(c) > 1})[:10]
        raise InvalidDataError("ch_names must be unique", hint=f"Repeated: {repeated}.")
    if isinstance(kinds, (list, tuple)) and len(kinds) != n:
        raise InvalidDataError(f"ch_types must be one type or {n} types, one per row of data")
    try:
        info = mne.create_info(list(names), sfreq, kinds if isinstance(kinds, str) else list(kinds), verbose=LOG)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidDataError(f"invalid channels: {exc}",
                               hint="Channel types are eeg, meg, eog, ecg, emg, stim, misc, ...") from None
    raw = mne.io.RawArray(arr.astype(np.float64, copy=False), info, verbose=LOG)
    if data.get("meas_date") is not None:
        try:
            when = _dt.datetime.fromisoformat(str(data["meas_date"]))
        except ValueError:
            raise InvalidDataError(f"meas_date must be ISO 8601, not {data['meas_date']!r}") from None
        raw.set_meas_date(when if when.tzinfo else when.replace(tzinfo=_dt.UTC))
    notes = data.get("annotations") or []
    if notes:
        try:
            onset = [float(a["onset"]) for a in notes]
            duration = [float(a.get("duration", 0.0)) for a in notes]
            description = [str(a["description"]) for a in notes]
        except (TypeError, KeyError, ValueError, AttributeError):
            raise InvalidDataError("annotations are [{'onset': s, 'duration': s, 'description': str}, ...]") from None
        raw.set_annotations(mne.Annotations(onset, duration, description), verbose=LOG)
    return raw


def _require_export_helper(fmt: str) -> None:
    import importlib.util

    from io_core.errors import MissingDependencyError

    helper = {"edf": "edfio", "bdf": "edfio", "eeglab": "eeglabio", "brainvision": "pybv"}[fmt]
    if importlib.util.find_spec(helper) is None:
        raise MissingDependencyError(f"MNE exports {fmt} through {helper}, which is not installed",
                                     hint=f"pip install {helper}")


def _save_brainvision(raw: Any, tmp: Path) -> None:
    """x.vhdr plus its companions x.eeg / x.vmrk, named after the final path (not the temp file).

    pybv writes all three from one base name. They are written in a hidden folder, the
    companions are moved beside the target first, the header last into ``tmp`` (which
    the workspace then renames into place): a header never points at missing data.
    """
    _require_export_helper("brainvision")
    match = _TEMP_NAME.match(tmp.name)
    final = tmp.parent / (match.group(1) if match else tmp.name)
    stem = final.name[: -len(".vhdr")] if final.name.lower().endswith(".vhdr") else final.name
    companions = [final.parent / (stem + ext) for ext in (".eeg", ".vmrk")]
    if not final.exists():  # a new header must not take over someone else's .eeg / .vmrk
        taken = [c.name for c in companions if c.exists()]
        if taken:
            raise ExistsError(f"{taken} already exist and do not belong to {final.name!r}",
                              hint="Remove them, or choose another name.")
    work = Path(tempfile.mkdtemp(prefix=TEMP_MARKER, dir=tmp.parent))
    try:
        mne.export.export_raw(os.fspath(work / (stem + ".vhdr")), raw, fmt="brainvision", overwrite=True,
                              verbose=LOG)
        for companion in companions:
            written = work / companion.name
            fsync_path(written)
            os.replace(written, companion)
        os.replace(work / (stem + ".vhdr"), tmp)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- files that point at other files -------------------------------------------------------------
#
# A multi-file format (its registry row says ``multi_file=True``) has a handler with
# ``references(path)``: the other files it names, parsed with the reader's own code. Each is
# pinned through the sandbox (``_pin``) before MNE runs, and MNE is told to open the pinned
# path; what MNE opened is checked against the pinned set afterwards.

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


class BrainVisionFormat(RecordingFormat):
    """``.vhdr`` header; samples in its DataFile, annotations in its MarkerFile."""

    def references(self, path: Path) -> list[Reference]:
        return brainvision_references(path)

    def _open(self, path: Path) -> tuple[Any, list[Path]]:
        refs = self.references(path)
        pinned = {ref.field: _pin_reference(path, ref) for ref in refs}
        data, marker = pinned.get("DataFile", (None, ""))[0], pinned.get("MarkerFile", (None, ""))[0]
        if data is None:
            raise _missing(path, next(r for r in refs if r.field == "DataFile"))
        reader = self._reader()
        kwargs = dict(self.reader_kwargs)
        if _takes_overrides(reader):  # MNE with overrides= opens exactly the pinned files
            kwargs["overrides"] = {"data_fname": os.fspath(data),
                                   "marker_fname": os.fspath(marker) if marker is not None else False}
        else:
            for field, (where, name) in pinned.items():
                if where is not None:
                    _reachable(path, name, where, field)
        raw = reader(path, preload=False, verbose=LOG, **kwargs)
        return raw, [p for p in (data, marker) if p is not None]


class EEGLABFormat(RecordingFormat):
    """``.set``; samples in it or in the ``.fdt`` its ``EEG.data`` names."""

    def references(self, path: Path) -> list[Reference]:
        return eeglab_references(path)

    def _open(self, path: Path) -> tuple[Any, list[Path]]:
        pinned = []
        for ref in self.references(path):
            where, name = _pin_reference(path, ref)
            if where is None:
                raise _missing(path, ref)
            _reachable(path, name, where, ref.field)
            pinned.append(where)
        return self._reader()(path, preload=False, verbose=LOG, **self.reader_kwargs), pinned


class FIFFormat(RecordingFormat):
    """``.fif``; a recording larger than 2 GB continues in split parts, each naming the next."""

    def references(self, path: Path, name: str | None = None) -> list[Reference]:
        return fif_references(path, name)

    def _open(self, path: Path) -> tuple[Any, list[Path]]:
        pinned: list[Path] = []
        seen = {os.path.realpath(path)}
        part, name = path, path.name
        for _ in range(MAX_SPLIT_PARTS):
            refs = self.references(part, name)
            if not refs:
                break
            following = _pin(part, refs[0])
            if following is None:
                raise _missing(part, refs[0])
            _reachable(part, refs[0].name, following, refs[0].field)
            if os.path.realpath(following) in seen:
                raise CorruptFileError(f"the split parts of {path.name!r} name each other in a loop")
            seen.add(os.path.realpath(following))
            pinned.append(following)
            part, name = following, Path(refs[0].name).name
        else:
            raise CorruptFileError(f"{path.name!r} continues in more than {MAX_SPLIT_PARTS} split parts")
        return self._reader()(path, preload=False, verbose=LOG, **self.reader_kwargs), pinned


# EDF/BDF/GDF through the reader classes: read_raw_edf & co refuse a file whose extension
# differs (format= overrides, sniffed files without extension); the signature check replaces it
FIF = FIFFormat("fif", "mne.io:read_raw_fif", "fif", allow_maxshield="yes")
EDF = RecordingFormat("edf", "mne.io.edf.edf:RawEDF", "edf", signature=(b"0       ",))
BDF = RecordingFormat("bdf", "mne.io.edf.edf:RawBDF", "bdf", signature=(b"\xffBIOSEMI",))
GDF = RecordingFormat("gdf", "mne.io.edf.edf:RawGDF", signature=(b"GDF",))
# MNE reads BrainVision and EEGLAB only from files named .vhdr / .set
BRAINVISION = BrainVisionFormat("brainvision", "mne.io:read_raw_brainvision", "brainvision")
EEGLAB = EEGLABFormat("eeglab", "mne.io:read_raw_eeglab", "eeglab")
CNT = RecordingFormat("cnt", "mne.io:read_raw_cnt")
