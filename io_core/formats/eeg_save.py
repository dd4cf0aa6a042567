"""What a recording ``save`` accepts and how MNE writes it: Raw or agent JSON; BrainVision's three files.

See ``io_core.formats.eeg`` for the formats; this module holds the writing side.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mne
import numpy as np

from io_core.atomic import TEMP_MARKER, fsync_path
from io_core.coerce import as_array
from io_core.errors import ExistsError, InvalidDataError
from io_core.options import WriteOptions

LOG = "error"  # MNE logs to stdout by default: keep it silent
_TEMP_NAME = re.compile(re.escape(TEMP_MARKER) + r"[0-9a-f]+-(.+)$")


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
