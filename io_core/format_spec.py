"""What a format is, as data: ``FormatSpec`` rows (declared capabilities, magic bytes, extensions), user
loaders/savers, and file-name helpers. Import-free, so listing formats imports no format module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from io_core.options import ReadOptions, WriteOptions

Loader = Callable[[Path], Any]
Saver = Callable[[Any, Path], None]


class FormatHandler(Protocol):
    """What a built-in format module exposes (any subset, as its spec declares)."""

    def load(self, path: Path, opts: ReadOptions) -> Any: ...
    def save(self, data: Any, path: Path, opts: WriteOptions) -> None: ...
    def summarize(self, path: Path, opts: ReadOptions) -> Any: ...


@dataclass(frozen=True)
class FormatSpec:
    """One built-in format, described without importing anything."""

    name: str
    extensions: tuple[str, ...]
    handler: str  # "package.module:attribute" (a plugin may give the handler object itself)
    kind: str  # what load returns / save takes: array, arrays, frame, document, text
    requires: tuple[str, ...] = ()
    install: str = ""
    can_load: bool = True
    can_save: bool = True
    can_summarize: bool = True
    # bytes a file starts with, or (offset, bytes) for magic further in (NIfTI's at 344); checked on the
    # first KiB, gunzipped when the file is gzip
    magic: tuple[bytes | tuple[int, bytes], ...] = field(default=())
    directory: bool = False  # a store that is a folder (Zarr), not a file
    # follows references to other files (companions, split parts): its handler lists them with
    # references(path) and pins each through the sandbox before its library opens them
    multi_file: bool = False
    # the file is an HDF5 container whatever its conventions (NetCDF-4, MAT v7.3): opened only through
    # io_core.formats.hdf5.guard, which confines external links, external storage and virtual sources first
    container: str | None = None
    # what the handler implements (io_core.formats.base.CAPABILITIES), declared as data so listing needs no
    # import; "load save summarize" style text is accepted. Empty (plugins of old): load/save/summarize as
    # the can_* flags say. tests/core/test_format_interface.py holds it equal to what the handler overrides.
    capabilities: tuple[str, ...] | str = ()

    def __post_init__(self) -> None:
        caps = self.capabilities
        caps = tuple(caps.split()) if isinstance(caps, str) else tuple(caps)
        if not caps:
            caps = tuple(op for op in ("load", "save", "summarize") if getattr(self, "can_" + op))
        object.__setattr__(self, "capabilities", caps)
        object.__setattr__(self, "can_load", "load" in caps)
        object.__setattr__(self, "can_save", "save" in caps or "save_stream" in caps)
        object.__setattr__(self, "can_summarize", "summarize" in caps)
        if "references" in caps:
            object.__setattr__(self, "multi_file", True)

    def can(self, capability: str) -> bool:
        return capability in self.capabilities


@dataclass(frozen=True)
class UserFormat:
    extension: str
    loader: Loader | None
    saver: Saver | None


ZARR_METADATA_FILES = ("zarr.json", ".zarray", ".zgroup", ".zmetadata")


def is_zarr_dir(path: Path) -> bool:
    """A folder holding Zarr (v2 or v3) metadata: recognised without importing zarr."""
    return path.is_dir() and any((path / name).is_file() for name in ZARR_METADATA_FILES)


def normalize_extension(ext: str) -> str:
    ext = ext.strip().lower()
    if not ext:
        raise ValueError("empty extension")
    return ext if ext.startswith(".") else "." + ext


def candidate_extensions(path: str | Path) -> list[str]:
    """Suffixes of a file name, longest compound first: ``a.nii.gz`` -> [.nii.gz, .gz]."""
    name = Path(path).name.lower()
    parts = name.split(".")
    if len(parts) < 2 or (len(parts) == 2 and parts[0] == ""):
        return []  # no suffix, or a dotfile such as ".bashrc"
    start = 2 if parts[0] == "" else 1
    return ["." + ".".join(parts[i:]) for i in range(start, len(parts)) if parts[i]]
