"""Evoked responses and epochs as recordings: their summaries, and epochs as a lazy 3-D array.

``EpochsView`` is ``(epochs, channels, times)`` over ``EpochsFIF`` opened without preload:
indexing reads only the epochs asked for (``epochs.get_data(item=..., picks=...)``), a block
of epochs at a time, so ``read_slice``, ``preview_image`` and sampled statistics stay
bounded. One epoch is its read unit (``chunks``), which ``read_slice`` counts before reading.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import mne
import numpy as np

from io_core.formats.eeg_channels import MAX_CHANNELS, NAME_CHARS, TEXT_CHARS, channel_descs
from io_core.formats.windowed import LazyArray, normalize_key
from io_core.options import ReadOptions
from io_core.summary import clip_text
from schemas import AnnotationDesc, RecordingSummary

LOG = "critical"
BLOCK_VALUES = 4_000_000  # values read from disk per block of epochs (every channel of each epoch)
MAX_CONDITIONS = 20  # evoked conditions named in a summary's note


class EpochsView(LazyArray):
    """``(epochs, channels, times)`` of epochs without preload; indexing reads those epochs only."""

    def __init__(self, epochs: Any) -> None:
        self._epochs = epochs
        self.shape = (len(epochs.events), int(epochs.info["nchan"]), len(epochs.times))
        self.dtype = np.dtype(np.float64)
        self.chunks = (1, self.shape[1], self.shape[2])

    def __getitem__(self, key: Any) -> np.ndarray:
        items = normalize_key(key, self.shape)
        ep, ch, t = ([i] if isinstance(i, int) else list(i) for i in items)
        out = np.empty((len(ep), len(ch), len(t)), dtype=self.dtype)
        if out.size:
            chans = sorted(set(ch))
            reorder = [chans.index(c) for c in ch]
            per_epoch = max(1, self.shape[1] * self.shape[2])
            step = max(1, BLOCK_VALUES // per_epoch)
            with mne.utils.use_log_level(LOG):
                for start in range(0, len(ep), step):
                    wanted = ep[start:start + step]
                    unique = sorted(set(wanted))
                    data = self._epochs.get_data(picks=chans, item=unique, verbose=LOG)
                    rows = [unique.index(e) for e in wanted]
                    out[start:start + len(wanted)] = data[rows][:, reorder][:, :, t]
        drop = tuple(0 if isinstance(i, int) else slice(None) for i in items)
        return out[drop]


def _recording(inst: Any, reader: str, n_times: int, opts: ReadOptions, note: str,
               events: tuple[list, Counter] | None = None) -> RecordingSummary:
    """A RecordingSummary of anything with an ``info`` (Evoked, Epochs, Info)."""
    info = inst if isinstance(inst, mne.Info) else inst.info
    types = info.get_channel_types()
    sfreq = float(info["sfreq"])
    channels = channel_descs(info["ch_names"], types, info["chs"])
    shown, counts = events if events is not None else ([], Counter())
    highpass, lowpass, meas_date = info.get("highpass"), info.get("lowpass"), info["meas_date"]
    tmin = float(getattr(inst, "tmin", 0.0))
    return RecordingSummary(
        reader=reader, sfreq=sfreq, n_channels=int(info["nchan"]), n_times=n_times,
        duration_s=n_times / sfreq if sfreq else 0.0, first_time_s=tmin,
        meas_date=meas_date.isoformat() if meas_date is not None else None,
        highpass=float(highpass) if highpass is not None and np.isfinite(highpass) else None,
        lowpass=float(lowpass) if lowpass is not None and np.isfinite(lowpass) else None,
        channel_types=dict(Counter(types)), channels=channels, channels_truncated=info["nchan"] > len(channels),
        bads=[clip_text(b, NAME_CHARS)[0] for b in info["bads"][:MAX_CHANNELS]],
        n_annotations=sum(counts.values()), annotation_counts=dict(counts.most_common(50)),
        annotations=shown, annotations_truncated=sum(counts.values()) > len(shown), note=note,
    )


def evoked_summary(evokeds: list, opts: ReadOptions) -> RecordingSummary:
    """The first condition's channels and times; every condition (index, comment, nave) in the note."""
    first = evokeds[0]
    listed = "; ".join(f"{i} {clip_text(str(e.comment), NAME_CHARS)[0]!r}: {e.kind} of {e.nave} epochs, "
                       f"{e.tmin:g} to {e.tmax:g} s" for i, e in enumerate(evokeds[:MAX_CONDITIONS]))
    more = f" (+{len(evokeds) - MAX_CONDITIONS} more)" if len(evokeds) > MAX_CONDITIONS else ""
    note = (f"evoked: {len(evokeds)} condition(s): {listed}{more}. first_time_s is the first condition's tmin. "
            "key= a condition's index or comment; read_slice selection 'conditions, channels, times' without key, "
            "'channels, times' with one")
    return _recording(first, "Evoked", len(first.times), opts, note)


def epochs_summary(epochs: Any, opts: ReadOptions) -> RecordingSummary:
    """Channels and times of one epoch; the events as annotations (onset = event sample / sfreq)."""
    sfreq = float(epochs.info["sfreq"])
    names = {code: name for name, code in epochs.event_id.items()}
    events = np.asarray(epochs.events)
    labels = [clip_text(names.get(int(code), str(int(code))), TEXT_CHARS)[0] for code in events[:, 2]]
    shown = [AnnotationDesc(onset=float(sample) / sfreq, duration=0.0, description=label)
             for sample, label in zip(events[: opts.preview_items, 0], labels, strict=False)]
    dropped = sum(1 for reasons in epochs.drop_log if reasons)
    baseline = None if epochs.baseline is None else [float(b) for b in epochs.baseline]
    note = (f"epochs: {len(events)} of {len(epochs.times)} samples ({epochs.tmin:g} to {epochs.tmax:g} s around "
            f"each event), baseline {baseline}, {dropped} dropped before saving; event_id "
            f"{dict(list(epochs.event_id.items())[:MAX_CONDITIONS])}. Annotations are the events (onset = event "
            "sample / sfreq). key= an event name picks those epochs; read_slice selection 'epochs, channels, times'")
    return _recording(epochs, type(epochs).__name__, len(epochs.times), opts, note, (shown, Counter(labels)))


def info_summary(info: Any, opts: ReadOptions) -> RecordingSummary:
    return _recording(info, "Info", 0, opts, "a measurement info without data (channels, sampling rate, digitization)")
