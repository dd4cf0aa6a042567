"""Zarr v2 and v3, whole: the format (``handler``) and the store guard and bounded tree browser (``tree``).

Nothing heavy is imported here: ``ZARR`` (the registry's handler) is resolved on first use.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("ZARR", "ZarrFormat"):
        from io_core.formats.zarr import handler

        return getattr(handler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
