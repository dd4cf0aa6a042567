"""Which code handles which file: built-in formats kept as data, user plugins on top.

Built-ins are ``FormatSpec`` rows naming a handler by dotted path; the handler module
(and the heavy library it wraps) is imported the first time the format is used, then
memoised. User functions registered with ``register_loader`` / ``register_saver`` win
over built-ins for their extension. Extensions match case-insensitively, longest
compound suffix first (``.nii.gz`` before ``.gz``).
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from io_core.errors import MissingDependencyError
from io_core.options import ReadOptions, WriteOptions
from schemas import FormatInfo

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
    handler: str  # "package.module:attribute"
    kind: str  # what load returns / save takes: array, arrays, frame, document, text
    requires: tuple[str, ...] = ()
    install: str = ""
    can_load: bool = True
    can_save: bool = True
    can_summarize: bool = True
    magic: tuple[bytes, ...] = field(default=())
    directory: bool = False  # a store that is a folder (Zarr), not a file


_F = "io_core.formats."
BUILTIN_FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("npy", (".npy",), _F + "numpy_files:NPY", "array", ("numpy",), "pip install numpy",
               magic=(b"\x93NUMPY",)),
    FormatSpec("npz", (".npz",), _F + "numpy_files:NPZ", "arrays", ("numpy",), "pip install numpy"),
    FormatSpec("csv", (".csv", ".csv.gz"), _F + "tables:CSV", "frame", ("pandas",), "pip install pandas"),
    FormatSpec("tsv", (".tsv", ".tab", ".tsv.gz"), _F + "tables:TSV", "frame", ("pandas",), "pip install pandas"),
    FormatSpec("parquet", (".parquet", ".pq"), _F + "tables:PARQUET", "frame", ("pandas", "pyarrow"),
               "pip install pandas pyarrow", magic=(b"PAR1",)),
    FormatSpec("json", (".json",), _F + "documents:JSON", "document"),
    FormatSpec("yaml", (".yaml", ".yml"), _F + "documents:YAML", "document", ("yaml",), "pip install pyyaml"),
    FormatSpec("text", (".txt", ".md", ".log"), _F + "text:TEXT", "text"),
    FormatSpec("hdf5", (".h5", ".hdf5", ".he5"), _F + "hdf5:HDF5", "arrays", ("h5py", "numpy"),
               "pip install h5py", magic=(b"\x89HDF\r\n\x1a\n",)),
    FormatSpec("png", (".png",), _F + "images:PNG", "image", ("PIL",), "pip install pillow",
               magic=(b"\x89PNG\r\n\x1a\n",)),
    FormatSpec("jpeg", (".jpg", ".jpeg"), _F + "images:JPEG", "image", ("PIL",), "pip install pillow",
               magic=(b"\xff\xd8\xff",)),
    FormatSpec("tiff", (".tif", ".tiff"), _F + "images:TIFF", "image", ("PIL",), "pip install pillow",
               magic=(b"II*\x00", b"MM\x00*")),
    FormatSpec("bmp", (".bmp",), _F + "images:BMP", "image", ("PIL",), "pip install pillow", magic=(b"BM",)),
    FormatSpec("gif", (".gif",), _F + "images:GIF", "image", ("PIL",), "pip install pillow",
               magic=(b"GIF87a", b"GIF89a")),
    FormatSpec("zarr", (".zarr",), _F + "zarr_store:ZARR", "arrays", ("zarr",), "pip install zarr",
               can_save=False, directory=True),
    FormatSpec("zarr_zip", (".zarr.zip",), _F + "zarr_store:ZARR", "arrays", ("zarr",), "pip install zarr",
               can_save=False),
)


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


class Registry:
    """Thread-safe registry of built-in specs, their memoised handlers and user plugins."""

    def __init__(self, specs: tuple[FormatSpec, ...] = BUILTIN_FORMATS) -> None:
        self._specs: dict[str, FormatSpec] = {s.name: s for s in specs}
        self._by_ext: dict[str, list[str]] = {}
        for spec in specs:
            for ext in spec.extensions:
                self._by_ext.setdefault(ext, []).append(spec.name)
        self._handlers: dict[str, Any] = {}
        self._available: dict[str, bool] = {}
        self._user: dict[str, UserFormat] = {}
        self._lock = threading.RLock()

    # -- read-only views -------------------------------------------------------------
    @property
    def specs(self) -> Mapping[str, FormatSpec]:
        return MappingProxyType(self._specs)

    @property
    def user_formats(self) -> Mapping[str, UserFormat]:
        return MappingProxyType(dict(self._user))

    # -- user plugins ----------------------------------------------------------------
    def _register(self, ext: str, func: Callable | None, role: str) -> Callable:
        key = normalize_extension(ext)

        def install(f: Callable) -> Callable:
            if not callable(f):
                raise TypeError(f"{role} for {key} must be callable")
            with self._lock:
                old = self._user.get(key, UserFormat(key, None, None))
                self._user[key] = UserFormat(key, f if role == "loader" else old.loader,
                                             f if role == "saver" else old.saver)
            return f

        return install(func) if func is not None else install

    def register_loader(self, ext: str, func: Loader | None = None) -> Callable:
        """``register_loader(".foo", f)`` or ``@register_loader(".foo")``; ``f(path) -> data``."""
        return self._register(ext, func, "loader")

    def register_saver(self, ext: str, func: Saver | None = None) -> Callable:
        """``register_saver(".foo", f)`` or ``@register_saver(".foo")``; ``f(data, path)``."""
        return self._register(ext, func, "saver")

    def _unregister(self, ext: str, role: str) -> bool:
        key = normalize_extension(ext)
        with self._lock:
            old = self._user.get(key)
            if old is None or getattr(old, role) is None:
                return False
            new = UserFormat(key, None if role == "loader" else old.loader, None if role == "saver" else old.saver)
            if new.loader is None and new.saver is None:
                del self._user[key]
            else:
                self._user[key] = new
            return True

    def unregister_loader(self, ext: str) -> bool:
        return self._unregister(ext, "loader")

    def unregister_saver(self, ext: str) -> bool:
        return self._unregister(ext, "saver")

    def user_loader(self, ext: str) -> Loader | None:
        entry = self._user.get(normalize_extension(ext))
        return entry.loader if entry else None

    def user_saver(self, ext: str) -> Saver | None:
        entry = self._user.get(normalize_extension(ext))
        return entry.saver if entry else None

    # -- built-ins -------------------------------------------------------------------
    def spec(self, name: str) -> FormatSpec | None:
        return self._specs.get(name.lower().lstrip("."))

    def specs_for_extension(self, ext: str) -> list[FormatSpec]:
        return [self._specs[n] for n in self._by_ext.get(normalize_extension(ext), [])]

    def spec_for_magic(self, head: bytes) -> FormatSpec | None:
        for spec in self._specs.values():
            if any(head.startswith(m) for m in spec.magic):
                return spec
        return None

    def is_available(self, spec: FormatSpec) -> bool:
        """Whether every required library is importable, found without importing it.

        Memoised per process: a library installed while the process runs is seen after a restart.
        """
        known = self._available.get(spec.name)
        if known is None:
            known = all(importlib.util.find_spec(mod) is not None for mod in spec.requires)
            self._available[spec.name] = known
        return known

    def handler(self, spec: FormatSpec) -> Any:
        """Import the spec's handler on first use; a missing library becomes MISSING_DEPENDENCY."""
        with self._lock:
            cached = self._handlers.get(spec.name)
            if cached is not None:
                return cached
            module_name, _, attr = spec.handler.partition(":")
            try:
                handler = getattr(importlib.import_module(module_name), attr)
            except ImportError as exc:
                raise MissingDependencyError(
                    f"format {spec.name!r} needs a library that is not installed ({exc.name or exc})",
                    hint=spec.install or f"install the dependencies of {spec.name}",
                ) from exc
            self._handlers[spec.name] = handler
            return handler

    # -- listing ---------------------------------------------------------------------
    def list_formats(self) -> list[FormatInfo]:
        infos: list[FormatInfo] = []
        for ext, user in sorted(self.user_formats.items()):
            ops = ["load", "summarize"] if user.loader is not None else []
            infos.append(FormatInfo(
                name=f"user{ext}", extensions=[ext], kind="user",
                operations=ops + (["save"] if user.saver is not None else []), available=True,
            ))
        for spec in self._specs.values():
            available = self.is_available(spec)
            ops = [op for op in ("load", "save", "summarize") if getattr(spec, "can_" + op)]
            infos.append(FormatInfo(
                name=spec.name, extensions=list(spec.extensions), kind=spec.kind, operations=ops,
                available=available, install_hint="" if available else spec.install,
            ))
        return infos


REGISTRY = Registry()
register_loader = REGISTRY.register_loader
register_saver = REGISTRY.register_saver
unregister_loader = REGISTRY.unregister_loader
unregister_saver = REGISTRY.unregister_saver
list_formats = REGISTRY.list_formats


def get_loader(ext: str) -> Loader | None:
    """The loader used for ``ext``: the user's if registered, else the first built-in."""
    user = REGISTRY.user_loader(ext)
    if user is not None:
        return user
    for spec in REGISTRY.specs_for_extension(ext):
        if spec.can_load:
            return lambda path, _spec=spec: REGISTRY.handler(_spec).load(Path(path), ReadOptions())
    return None


def get_saver(ext: str) -> Saver | None:
    """The saver used for ``ext``: the user's if registered, else the first built-in."""
    user = REGISTRY.user_saver(ext)
    if user is not None:
        return user
    for spec in REGISTRY.specs_for_extension(ext):
        if spec.can_save:
            return lambda data, path, _spec=spec: REGISTRY.handler(_spec).save(data, Path(path), WriteOptions())
    return None
