"""The one JSON encoding of values in previews, slices and stats (rules in schemas.models)."""

from __future__ import annotations

import base64
import datetime as _dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def clip_text(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit] + "…", True)


def encode_value(value: Any, max_chars: int = 200) -> Any:
    """One JSON-safe encoding for any scalar or small container (rules in schemas.models)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return None if np.isnat(value) else str(value)
        if isinstance(value, np.timedelta64):
            return None if np.isnat(value) else str(value)
        if isinstance(value, np.void) and value.dtype.names:
            return {n: encode_value(value[n], max_chars) for n in value.dtype.names}
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, complex):
        return {"real": encode_value(value.real), "imag": encode_value(value.imag)}
    if isinstance(value, str):
        return clip_text(value, max_chars)[0]
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return clip_text(raw.decode("utf-8"), max_chars)[0]
        except UnicodeDecodeError:
            return {"base64": clip_text(base64.b64encode(raw[: max_chars]).decode("ascii"), max_chars)[0]}
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return f"{value.total_seconds()} s"
    if hasattr(value, "isoformat") and callable(value.isoformat):  # pandas Timestamp
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    if isinstance(value, np.ndarray):
        return [encode_value(v, max_chars) for v in value.ravel()[:20].tolist()]
    if isinstance(value, Mapping):
        return {str(k): encode_value(v, max_chars) for k, v in list(value.items())[:20]}
    if isinstance(value, (list, tuple)):
        return [encode_value(v, max_chars) for v in value[:20]]
    return clip_text(repr(value), max_chars)[0]
