"""Moved to ``io_core.formats.hdf5.guard``; this name is that very module (importers and patches alike)."""

import sys

from io_core.formats.hdf5 import guard

sys.modules[__name__] = guard
