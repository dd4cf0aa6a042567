"""HDF5, whole: the format (``handler``), the one opener that confines links (``guard``), chunk-bounded
reads (``bounds``) and the bounded tree browser (``tree``).

Nothing heavy is imported here: ``HDF5`` (the registry's handler) is resolved on first use, so
importing ``guard`` for NetCDF-4 or MAT v7.3 does not load the format.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("HDF5", "Hdf5Format"):
        from io_core.formats.hdf5 import handler

        return getattr(handler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
