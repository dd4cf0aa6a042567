"""Text shown in document summaries (PDF pages, Word paragraphs): as much as half the response budget holds.

The summary is cut to the budget afterwards anyway (io_core.budget); choosing here what
fits keeps whole pages/paragraphs and says where the shown text stops, instead of a
blind cut in the middle of everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from io_core.budget import json_size
from io_core.encoding import clip_text
from io_core.options import ReadOptions

DEFAULT_BUDGET = 16_384  # bytes, when the caller gave no response budget
MIN_ROOM = 256


def text_room(opts: ReadOptions) -> int:
    """JSON bytes of text a summary may show: half the response budget, at least ``preview_chars``."""
    return max(MIN_ROOM, opts.preview_chars, (opts.max_bytes or DEFAULT_BUDGET) // 2)


def fill(items: Iterable[tuple[dict[str, Any], str]], room: int, field: str = "text") -> tuple[list[dict[str, Any]], bool]:
    """``(record, text)`` pairs as records with ``field`` = text, until ``room`` JSON bytes are used.

    The last record that does not fit whole is clipped (ending in "…"); returns the
    records and whether anything was left out or clipped. ``items`` is consumed lazily:
    text after the room is full is never produced (a PDF page is never extracted).
    """
    out: list[dict[str, Any]] = []
    used = 0
    it: Iterator[tuple[dict[str, Any], str]] = iter(items)
    for record, text in it:
        entry = {**record, field: text}
        size = json_size(entry) + 1
        if used + size <= room:
            out.append(entry)
            used += size
            continue
        left = room - used - json_size(record) - 8
        if left > 32:
            # JSON escapes and multi-byte characters: cut by characters until the bytes fit
            chars = left
            while chars > 32 and json_size(clip_text(text, chars)[0]) > left:
                chars = chars * 3 // 4
            out.append({**record, field: clip_text(text, chars)[0]})
        return out, True
    return out, False
