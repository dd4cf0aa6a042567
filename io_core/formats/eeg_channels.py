"""Channels as summaries describe them, shared by raw recordings and the other FIF kinds (evoked, epochs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from io_core.summary import clip_text
from schemas import ChannelDesc

MAX_CHANNELS = 128  # channels described one by one in a summary
NAME_CHARS = 64
TEXT_CHARS = 120
_UNITS = {"V": "V", "T": "T", "T_M": "T/m", "AM": "Am", "MOL": "mol", "CEL": "°C", "M": "m", "S": "s"}


def unit(ch: Mapping[str, Any]) -> str | None:
    """The SI unit of one channel (``info["chs"][i]``), as a short symbol; None for unitless channels."""
    name = getattr(ch.get("unit"), "_name", "")
    short = name.removeprefix("FIFF_UNIT_")
    if not short or short == "NONE":
        return None
    return _UNITS.get(short, short)


def channel_descs(names: list[str], types: list[str], chs: list[Mapping[str, Any]]) -> list[ChannelDesc]:
    """The first MAX_CHANNELS channels: name (bounded), MNE type, unit."""
    return [ChannelDesc(name=clip_text(name, NAME_CHARS)[0], type=kind, unit=unit(ch))
            for name, kind, ch in zip(names[:MAX_CHANNELS], types, chs, strict=False)]
