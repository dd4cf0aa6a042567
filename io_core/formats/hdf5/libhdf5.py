"""The libhdf5 that h5py loaded, for the few calls h5py does not wrap (ctypes; a leaf module: no io_core imports)."""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Any


@functools.cache
def _libhdf5() -> Any:
    """The libhdf5 h5py loaded (from this process's memory map), for the few calls h5py does not wrap; None if
    not found."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            paths = {line.split(maxsplit=5)[5].strip() for line in fh if line.count(" ") >= 5 and "libhdf5" in line}
        return ctypes.CDLL(next(p for p in sorted(paths) if os.path.basename(p).startswith("libhdf5")
                                and not os.path.basename(p).startswith("libhdf5_hl")))
    except (OSError, StopIteration, IndexError):
        return None


def libhdf5_function(name: str, argtypes: list, restype: Any) -> Any:
    """``name`` from the libhdf5 h5py uses, typed; None where it cannot be found."""
    lib = _libhdf5()
    func = getattr(lib, name, None) if lib is not None else None
    if func is not None:
        func.argtypes, func.restype = argtypes, restype
    return func
