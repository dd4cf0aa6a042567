"""EEG / MEG recordings through MNE: FIF (raw), EDF, BDF, GDF, BrainVision, EEGLAB, CNT.

A ``.fif`` that is not a raw recording (evoked, epochs, transform, BEM, covariance, forward,
inverse, source spaces, ...) is recognised from its block tree and read by MNE's reader for
its kind: see ``io_core.formats.fif_kinds``. References to other files: ``eeg_refs``;
writing: ``eeg_save``.

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

import os
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mne
import numpy as np

from io_core.errors import (
    CorruptFileError,
    KeyNotFoundError,
)
from io_core.formats.base import Format
from io_core.formats.eeg_channels import MAX_CHANNELS, NAME_CHARS, TEXT_CHARS, channel_descs
from io_core.formats.eeg_refs import (
    Reference,
    _missing,
    _opened_only_pinned,
    _pin_reference,
    _reachable,
    _takes_overrides,
    brainvision_references,
    eeglab_references,
    fif_references,
    pin_split_parts,
)
from io_core.formats.eeg_save import _require_export_helper, _save_brainvision, as_raw, is_raw
from io_core.formats.windowed import WindowedSignal
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary, clip_text
from schemas import AnnotationDesc, RecordingSummary

LOG = "error"  # MNE logs to stdout by default: keep it silent
MAX_DESCRIPTIONS = 50  # distinct annotation descriptions counted
_BYTES = {"short": 2, "int": 4, "single": 4, "double": 8}


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


class RecordingFormat(Format):
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

    def claims(self, obj: Any) -> bool:
        """An ``mne.io.Raw`` in memory (a plugin's loader may return one) is summarized from its header."""
        return is_raw(obj)

    def summarize_object(self, obj: Any, opts: ReadOptions) -> Any:
        return summarize_raw(obj, opts)

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
            ).with_candidates(part, [*names, *sorted(set(types))])
    if not picks:
        raise KeyNotFoundError(f"key {key!r} names no channel")
    return list(dict.fromkeys(picks))


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
    channels = channel_descs(raw.ch_names, types, info["chs"])
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
    """``.fif``: a raw recording (split in parts past 2 GB, each naming the next) or any other
    kind MNE writes (evoked, epochs, transform, BEM, covariance, forward, inverse, ...).

    The kind is read from the file's block tree first (``io_core.formats.fif_kinds``); raw
    recordings go through ``RecordingFormat``, the other kinds through MNE's reader for them.
    """

    def references(self, path: Path, name: str | None = None) -> list[Reference]:
        from io_core.formats.fif_tags import walk

        walk(path)  # a tag chain that loops is CORRUPT_FILE here: MNE's fiff_open would never return
        return fif_references(path, name)

    def _open(self, path: Path) -> tuple[Any, list[Path]]:
        pinned = pin_split_parts(path)
        return self._reader()(path, preload=False, verbose=LOG, **self.reader_kwargs), pinned

    def _kind(self, path: Path) -> Any:
        from io_core.formats import fif_kinds

        return fif_kinds.detect(path)

    def load(self, path: Path, opts: ReadOptions) -> Any:
        kind = self._kind(path)
        return super().load(path, opts) if kind.name == "raw" else kind.load(path, opts)

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        kind = self._kind(path)
        if kind.name == "raw":
            with super().open_array(path, opts) as view:
                yield view
        else:
            yield kind.open_array(path, opts)

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        kind = self._kind(path)
        return super().summarize(path, opts) if kind.name == "raw" else kind.summarize(path, opts)


# EDF/BDF/GDF through the reader classes: read_raw_edf & co refuse a file whose extension
# differs (format= overrides, sniffed files without extension); the signature check replaces it
FIF = FIFFormat("fif", "mne.io:read_raw_fif", "fif", allow_maxshield="yes")
EDF = RecordingFormat("edf", "mne.io.edf.edf:RawEDF", "edf", signature=(b"0       ",))
BDF = RecordingFormat("bdf", "mne.io.edf.edf:RawBDF", "bdf", signature=(b"\xffBIOSEMI",))
class ReadOnlyRecording(RecordingFormat):
    """A recording MNE reads but cannot write (GDF, Neuroscan CNT)."""

    save = Format.save


GDF = ReadOnlyRecording("gdf", "mne.io.edf.edf:RawGDF", signature=(b"GDF",))
# MNE reads BrainVision and EEGLAB only from files named .vhdr / .set
BRAINVISION = BrainVisionFormat("brainvision", "mne.io:read_raw_brainvision", "brainvision")
EEGLAB = EEGLABFormat("eeglab", "mne.io:read_raw_eeglab", "eeglab")
CNT = ReadOnlyRecording("cnt", "mne.io:read_raw_cnt")
