"""Lazy 2-D array-likes over signals: indexing reads only the samples asked for.

Used by audio (frames x channels, read through ``soundfile`` seeks) and EEG/MEG
recordings (channels x times, read through MNE's ``get_data(start, stop)``). They
behave like a read-only NumPy array for what io_core asks of them (``shape``,
``dtype``, ``ndim``, ``len`` and basic indexing with ints, slices, ``...`` and, on the
channel axis, lists of ints), so ``read_slice``, ``preview_image`` and the summary
statistics work on them unchanged. Strided time selections (previews) are read
sample by sample when the stride is long, else streamed in bounded blocks, so
memory stays bounded whatever the length of the signal.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

POINT_STEP = 4096  # strides at least this long read one sample per point (seek + read)
BLOCK_VALUES = 4_000_000  # values per streamed block for shorter strides


def normalize_key(key: Any, shape: tuple[int, ...]) -> list[int | range | list[int]]:
    """One item per axis: an in-range int (axis dropped), a range, or a list of ints."""
    if not isinstance(key, tuple):
        key = (key,)
    if any(k is Ellipsis for k in key):
        at = next(i for i, k in enumerate(key) if k is Ellipsis)
        rest = [k for k in key if k is not Ellipsis]
        if len(rest) != len(key) - 1:
            raise IndexError("an index can only have a single ellipsis ('...')")
        key = key[:at] + (slice(None),) * (len(shape) - len(rest)) + key[at + 1 :]
    if len(key) > len(shape):
        raise IndexError(f"too many indices: {len(key)} for {len(shape)} dimensions")
    key = key + (slice(None),) * (len(shape) - len(key))
    items: list[int | range | list[int]] = []
    for axis, (item, n) in enumerate(zip(key, shape, strict=True)):
        if isinstance(item, slice):
            items.append(range(*item.indices(n)))
        elif isinstance(item, (list, np.ndarray)):
            picks = [_index(i, n, axis) for i in np.asarray(item).reshape(-1).tolist()]
            items.append(picks)
        else:
            items.append(_index(item, n, axis))
    return items


def _index(item: Any, n: int, axis: int) -> int:
    try:
        i = operator.index(item)
    except TypeError:
        raise TypeError(f"unsupported index {item!r} on axis {axis}") from None
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
    return i % n


class LazyArray:
    """What io_core asks of a read-only array beyond ``shape``, ``dtype`` and ``__getitem__`` (which subclasses
    give): ``ndim``, ``size``, ``len`` and ``np.asarray`` (reads everything through ``self[()]``)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(int(n) for n in self.shape)

    def __len__(self) -> int:
        return int(self.shape[0])

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[()]
        return values if dtype is None else values.astype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class WindowedSignal(LazyArray):
    """Base class: a 2-D signal with one time axis; subclasses implement ``_read``.

    ``_read(start, stop, others)`` returns the samples ``start:stop`` of the channels
    ``others`` (a list of indices), laid out with time on ``time_axis``.
    """

    time_axis: int = 0
    shape: tuple[int, int]

    def _read(self, start: int, stop: int, others: list[int]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, key: Any) -> np.ndarray:
        items = normalize_key(key, self.shape)
        t_item, o_item = items[self.time_axis], items[1 - self.time_axis]
        times = range(t_item, t_item + 1) if isinstance(t_item, int) else t_item
        others = [o_item] if isinstance(o_item, int) else list(o_item)
        values = self._gather(times, others)
        drop = tuple(0 if isinstance(item, int) else slice(None) for item in items)
        return values[drop]

    def _empty(self, n_times: int, n_others: int) -> np.ndarray:
        shape = (n_times, n_others) if self.time_axis == 0 else (n_others, n_times)
        return np.empty(shape, dtype=self.dtype)

    def _gather(self, times: range, others: list[int]) -> np.ndarray:
        if len(times) == 0 or not others:
            return self._empty(len(times), len(others))
        if times.step < 0:
            return np.flip(self._gather(times[::-1], others), axis=self.time_axis)
        start, end, step = times.start, times[-1] + 1, times.step
        if step == 1:
            return self._read(start, end, others)
        if step >= POINT_STEP:
            parts = [self._read(i, i + 1, others) for i in times]
        else:
            width = max(len(others), int(self.shape[1 - self.time_axis]))  # readers may decode every channel
            block = max(1, BLOCK_VALUES // width // step) * step
            take = [slice(None), slice(None)]
            take[self.time_axis] = slice(None, None, step)
            parts = [self._read(pos, min(pos + block, end), others)[tuple(take)] for pos in range(start, end, block)]
        return np.concatenate(parts, axis=self.time_axis)


def seconds_to_samples(seconds: float, rate: float) -> int:
    """The sample index at ``seconds`` (rounded to the nearest sample)."""
    return round(float(seconds) * float(rate))


def time_window(rate: float, start_s: float, stop_s: float | None = None) -> str:
    """A ``start:stop`` selection in samples for the window ``[start_s, stop_s)`` in seconds."""
    start = seconds_to_samples(start_s, rate)
    stop = "" if stop_s is None else str(seconds_to_samples(stop_s, rate))
    return f"{start}:{stop}"
