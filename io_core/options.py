"""Options handed from the workspace to a format handler for one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from io_core.limits import Limits, current


@dataclass(frozen=True)
class ReadOptions:
    key: str | None = None  # object inside a container (HDF5 path, npz member)
    allow_pickle: bool = False
    preview_items: int = 20  # array values / frame rows / container children shown
    preview_chars: int = 2000  # text shown from a text file or a long string
    preview_columns: int = 200  # frame columns described
    exact_stats_bytes: int = 8 * 1024 * 1024  # at or below this, stats read everything
    exact_stats: bool = False  # stream everything for exact stats (constant memory)
    progress: Callable[[int, int], None] | None = None  # (done, total) while streaming
    max_bytes: int | None = None  # the response budget the result will be cut to (trees stop early)
    selection: str | None = None  # what preview_image asked to draw (a video's frame: '120' or 't=12.5s')
    limits: Limits = field(default_factory=current)  # sizes checked before work (io_core.limits)


@dataclass(frozen=True)
class WriteOptions:
    allow_pickle: bool = False
    dtype: str | None = None
    limits: Limits = field(default_factory=current)
    progress: Callable[[int, int], None] | None = None  # (done, total) while a save streams (total 0: unknown)
