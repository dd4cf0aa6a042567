"""The ``sciio`` metadata envelope: one key, compact ASCII JSON of bounded size, and bounded views of a
format's own metadata. Shared by the raster and document writers (``io_core.metadata``)."""

from __future__ import annotations

import json
from typing import Any

from io_core.errors import InvalidDataError
from io_core.summary import encode_value

KEY = "sciio"
MAX_METADATA_BYTES = 32 * 1024
INFO_ITEMS = 40
INFO_CHARS = 200


def encode_metadata(metadata: Any) -> str:
    """Compact, ASCII-only JSON (safe in EXIF, TIFF ASCII tags and XML), or INVALID_DATA."""
    try:
        text = json.dumps(metadata, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(
            f"metadata must be JSON (objects, lists, strings, finite numbers, booleans, null): {exc}"
        ) from None
    if len(text) > MAX_METADATA_BYTES:
        raise InvalidDataError(
            f"metadata is {len(text)} bytes as JSON; at most {MAX_METADATA_BYTES} can be embedded",
            hint="Embed a smaller record (e.g. a reference to a sidecar file and its SHA-256).",
        )
    return text


INVALID = object()  # a sciio entry whose text is not JSON: treated as absent (and replaced by the next embed)


def decode(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return INVALID


def _plain(value: Any) -> Any:
    """EXIF rationals as floats (encode_value handles the rest)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value[:20]]
    if hasattr(value, "numerator") and hasattr(value, "denominator") and not isinstance(value, int):
        try:
            return float(value)
        except (ZeroDivisionError, ValueError, TypeError):
            return None
    return value


def bounded(info: dict[str, Any]) -> dict[str, Any]:
    return {str(k): encode_value(_plain(v), INFO_CHARS) for k, v in list(info.items())[:INFO_ITEMS]}
