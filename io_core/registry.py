"""Which code handles which file: built-in formats kept as data, user plugins on top.

Built-ins are ``FormatSpec`` rows naming a handler by dotted path; the handler module
(and the heavy library it wraps) is imported the first time the format is used, then
memoised. User functions registered with ``register_loader`` / ``register_saver`` win
over built-ins for their extension. Extensions match case-insensitively, longest
compound suffix first (``.nii.gz`` before ``.gz``).

Third-party packages plug in through the entry-point group ``sciio.formats``, read
the first time the registry is asked about formats (never at import). An entry point
names either a ``FormatSpec`` (or any object with the same attributes; its ``handler``
may be a dotted path or the handler object itself), a list of them, or a callable
taking the registry, which may call ``register_loader`` / ``register_saver`` on it and
may return specs. A plugin that fails to load is logged to stderr and skipped; a plugin
spec never replaces a built-in of the same name.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from io_core.errors import MissingDependencyError
from io_core.format_spec import (
    ZARR_METADATA_FILES,
    FormatHandler,
    FormatSpec,
    Loader,
    Saver,
    UserFormat,
    candidate_extensions,
    is_zarr_dir,
    normalize_extension,
)
from io_core.options import ReadOptions, WriteOptions
from schemas import FormatInfo

__all__ = ["BUILTIN_FORMATS", "ENTRY_POINT_GROUP", "FEATURES", "REGISTRY", "ZARR_METADATA_FILES", "FormatHandler",
           "FormatSpec", "Loader", "Registry", "Saver", "UserFormat", "candidate_extensions", "get_loader",
           "get_saver", "is_zarr_dir", "list_formats", "normalize_extension", "register_loader", "register_saver",
           "unregister_loader", "unregister_saver"]

log = logging.getLogger("io_core.registry")

ENTRY_POINT_GROUP = "sciio.formats"
#: what list_formats advertises per format, in this order (io_core.formats.base.ADVERTISED maps capabilities here)
FEATURES = ("load", "save", "summarize", "slice", "pages", "preview", "stream", "explore", "metadata", "multi_file")

_F = "io_core.formats."
BUILTIN_FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("npy", (".npy",), _F + "numpy_files:NPY", "array", ("numpy",), "pip install numpy",
               magic=(b"\x93NUMPY",),
               capabilities="load save save_stream summarize open_array write_array"),
    FormatSpec("npz", (".npz",), _F + "numpy_files:NPZ", "arrays", ("numpy",), "pip install numpy",
               capabilities="load save summarize open_array"),
    FormatSpec("csv", (".csv", ".csv.gz"), _F + "tables:CSV", "frame", ("pandas",), "pip install pandas",
               capabilities="load save summarize read_rows iter_frames write_frames"),
    FormatSpec("tsv", (".tsv", ".tab", ".tsv.gz"), _F + "tables:TSV", "frame", ("pandas",), "pip install pandas",
               capabilities="load save summarize read_rows iter_frames write_frames"),
    FormatSpec("parquet", (".parquet", ".pq"), _F + "tables:PARQUET", "frame", ("pandas", "pyarrow"),
               "pip install pandas pyarrow", magic=(b"PAR1",),
               capabilities="load save summarize read_rows iter_frames write_frames"),
    FormatSpec("json", (".json",), _F + "documents:JSON", "document",
               capabilities="load save save_stream summarize"),
    FormatSpec("yaml", (".yaml", ".yml"), _F + "documents:YAML", "document", ("yaml",), "pip install pyyaml",
               capabilities="load save save_stream summarize"),
    FormatSpec("text", (".txt", ".md", ".log", ".rst"), _F + "text:TEXT", "text",
               capabilities="load save save_stream summarize read_lines"),
    FormatSpec("hdf5", (".h5", ".hdf5", ".he5"), _F + "hdf5.handler:HDF5", "arrays", ("h5py", "numpy"),
               "pip install h5py", magic=(b"\x89HDF\r\n\x1a\n",), container="hdf5",
               capabilities="load save summarize open_array write_array explore key_exists"),
    # issue 15: a result store file (corelay's HashedHDF5 layout) browsed entry by entry; any .h5 with format=
    FormatSpec("result_store", (".results.h5",), "io_core.stores.results_format:RESULT_STORE", "arrays",
               ("h5py", "numpy"), "pip install h5py", container="hdf5",
               capabilities="load summarize open_array read_rows explore key_exists"),
    # -- issue 5 part A: more tables, arrays, markup, bibliography, databases, pickles --------
    FormatSpec("feather", (".feather", ".arrow"), _F + "tabular_extra:FEATHER", "frame", ("pandas", "pyarrow"),
               "pip install pandas pyarrow", magic=(b"ARROW1", b"FEA1"),
               capabilities="load save summarize read_rows iter_frames write_frames"),
    FormatSpec("xlsx", (".xlsx",), _F + "tabular_extra:XLSX", "frame", ("pandas", "openpyxl"),
               "pip install openpyxl",
               capabilities="load save summarize read_rows"),
    # issue 16: macro-enabled and Excel 97-2003 workbooks, read like .xlsx (macros never run)
    FormatSpec("xlsm", (".xlsm",), _F + "tabular_extra:XLSM", "frame", ("pandas", "openpyxl"),
               "pip install openpyxl",
               capabilities="load summarize read_rows"),
    FormatSpec("xls", (".xls",), _F + "tabular_extra:XLS", "frame", ("pandas", "xlrd"),
               "pip install xlrd",
               capabilities="load summarize read_rows"),
    FormatSpec("jsonl", (".jsonl", ".ndjson"), _F + "jsonl:JSONL", "frame", ("pandas",),
               "pip install pandas",
               capabilities="load save save_stream summarize read_rows iter_frames write_frames"),
    FormatSpec("mat", (".mat",), _F + "matlab:MAT", "arrays", ("scipy", "h5py"), "pip install scipy h5py",
               magic=(b"MATLAB 5.0 MAT", b"MATLAB 7.3 MAT"), container="hdf5",
               capabilities="load save summarize open_array"),
    FormatSpec("netcdf", (".nc", ".nc4"), _F + "netcdf:NETCDF", "arrays", ("h5netcdf",), "pip install h5netcdf",
               magic=(b"CDF\x01", b"CDF\x02"), container="hdf5",
               capabilities="load save summarize open_array"),
    FormatSpec("toml", (".toml",), _F + "markup:TOML", "document", ("tomli_w",), "pip install tomli-w",
               capabilities="load save save_stream summarize"),
    FormatSpec("xml", (".xml",), _F + "markup:XML", "text",
               capabilities="load save save_stream summarize read_lines"),
    FormatSpec("html", (".html", ".htm"), _F + "markup:HTML", "text",
               capabilities="load save save_stream summarize read_lines"),
    FormatSpec("svg", (".svg",), _F + "markup:SVG", "text",
               capabilities="load save save_stream summarize read_lines read_metadata embed_metadata"),
    FormatSpec("bibtex", (".bib",), _F + "bibliography:BIB", "records", ("bibtexparser",),
               "pip install 'bibtexparser>=2'",
               capabilities="load save save_stream summarize"),
    FormatSpec("sqlite", (".db", ".sqlite", ".sqlite3"), _F + "sqlite:SQLITE", "tables", ("pandas",),
               "pip install pandas", magic=(b"SQLite format 3\x00",),
               capabilities="load save summarize read_rows iter_frames"),
    FormatSpec("pickle", (".pkl", ".pickle"), _F + "serialized:PICKLE", "object",
               capabilities="load save save_stream summarize"),
    FormatSpec("pickle_gz", (".pkl.gz", ".pickle.gz"), _F + "serialized:PICKLE_GZ", "object",
               capabilities="load save save_stream summarize"),
    FormatSpec("joblib", (".joblib",), _F + "serialized:JOBLIB", "object", ("joblib",), "pip install joblib",
               capabilities="load save summarize"),
    FormatSpec("torch", (".pt", ".pth"), _F + "serialized:TORCH", "object", ("torch",),
               "pip install torch (CPU wheels: see pytorch.org)",
               capabilities="load save summarize"),
    FormatSpec("png", (".png",), _F + "images:PNG", "image", ("PIL",), "pip install pillow",
               magic=(b"\x89PNG\r\n\x1a\n",),
               capabilities="load save summarize open_picture read_metadata embed_metadata"),
    FormatSpec("jpeg", (".jpg", ".jpeg"), _F + "images:JPEG", "image", ("PIL",), "pip install pillow",
               magic=(b"\xff\xd8\xff",),
               capabilities="load save summarize open_picture read_metadata embed_metadata"),
    FormatSpec("tiff", (".tif", ".tiff"), _F + "images:TIFF", "image", ("PIL",), "pip install pillow",
               magic=(b"II*\x00", b"MM\x00*"),
               capabilities="load save summarize open_picture read_metadata embed_metadata"),
    FormatSpec("bmp", (".bmp",), _F + "images:BMP", "image", ("PIL",), "pip install pillow", magic=(b"BM",),
               capabilities="load save summarize open_picture"),
    FormatSpec("gif", (".gif",), _F + "images:GIF", "image", ("PIL",), "pip install pillow",
               magic=(b"GIF87a", b"GIF89a"),
               capabilities="load save summarize open_picture"),
    FormatSpec("fits", (".fits", ".fit", ".fts", ".fits.gz"), _F + "fits:FITS", "arrays", ("astropy",),
               "pip install astropy", magic=(b"SIMPLE  =",),
               capabilities="load save summarize open_array read_rows iter_frames explore"),
    FormatSpec("nifti", (".nii", ".nii.gz"), _F + "nifti:NIFTI", "array", ("nibabel",), "pip install nibabel",
               magic=((344, b"n+1\x00"), (4, b"n+2\x00")), capabilities="load save summarize open_array sniff"),
    FormatSpec("nifti_pair", (".hdr",), _F + "nifti:NIFTI_PAIR", "array", ("nibabel",), "pip install nibabel",
               multi_file=True, magic=((344, b"ni1\x00"),), capabilities="load summarize open_array references sniff"),
    FormatSpec("pdf", (".pdf",), _F + "pdf:PDF", "document", ("pypdf", "pypdfium2"), "pip install pypdf pypdfium2",
               magic=(b"%PDF",), capabilities="load summarize read_rows open_picture read_metadata embed_metadata"),
    FormatSpec("docx", (".docx",), _F + "docx:DOCX", "tables", ("pandas", "docx"), "pip install python-docx",
               capabilities="load summarize read_rows"),
    # audio (soundfile / libsndfile) and EEG/MEG recordings (MNE; export helpers edfio, pybv, eeglabio)
    FormatSpec("wav", (".wav",), _F + "audio:WAV", "audio", ("soundfile", "numpy"), "pip install soundfile",
               capabilities="load save summarize open_array"),
    FormatSpec("flac", (".flac",), _F + "audio:FLAC", "audio", ("soundfile", "numpy"), "pip install soundfile",
               magic=(b"fLaC",),
               capabilities="load save summarize open_array"),
    FormatSpec("ogg", (".ogg", ".oga"), _F + "audio:OGG", "audio", ("soundfile", "numpy"), "pip install soundfile",
               magic=(b"OggS",),
               capabilities="load save summarize open_array"),
    # video through PyAV (FFmpeg): one row per container family FFmpeg demuxes (MP4 and QuickTime are one)
    FormatSpec("mp4", (".mp4", ".m4v", ".mov"), _F + "video:MP4", "video", ("av", "numpy"), "pip install av",
               magic=((4, b"ftyp"), (4, b"moov")), capabilities="load summarize open_array open_picture"),
    FormatSpec("avi", (".avi",), _F + "video:AVI", "video", ("av", "numpy"), "pip install av",
               magic=((8, b"AVI "),), capabilities="load summarize open_array open_picture"),
    FormatSpec("matroska", (".mkv", ".webm"), _F + "video:MATROSKA", "video", ("av", "numpy"), "pip install av",
               magic=(b"\x1a\x45\xdf\xa3",), capabilities="load summarize open_array open_picture"),
    FormatSpec("fif", (".fif", ".fif.gz"), _F + "eeg:FIF", "recording", ("mne",), "pip install mne",
               multi_file=True, magic=(b"\x00\x00\x00\x64\x00\x00\x00\x1f\x00\x00\x00\x14",),
               capabilities="load save summarize open_array references summarize_object claims"),
    FormatSpec("edf", (".edf",), _F + "eeg:EDF", "recording", ("mne",), "pip install mne edfio",
               magic=(b"0       ",),
               capabilities="load save summarize open_array summarize_object claims"),
    FormatSpec("bdf", (".bdf",), _F + "eeg:BDF", "recording", ("mne",), "pip install mne edfio",
               magic=(b"\xffBIOSEMI",),
               capabilities="load save summarize open_array summarize_object claims"),
    FormatSpec("gdf", (".gdf",), _F + "eeg:GDF", "recording", ("mne",), "pip install mne",
               magic=(b"GDF",),
               capabilities="load summarize open_array summarize_object claims"),
    FormatSpec("brainvision", (".vhdr",), _F + "eeg:BRAINVISION", "recording", ("mne",), "pip install mne pybv",
               multi_file=True, magic=(b"Brain Vision Dat", b"BrainVision Data"),
               capabilities="load save summarize open_array references summarize_object claims"),
    FormatSpec("eeglab", (".set",), _F + "eeg:EEGLAB", "recording", ("mne",), "pip install mne eeglabio",
               multi_file=True,
               capabilities="load save summarize open_array references summarize_object claims"),
    FormatSpec("cnt", (".cnt",), _F + "eeg:CNT", "recording", ("mne",), "pip install mne",
               capabilities="load summarize open_array summarize_object claims"),
    FormatSpec("zarr", (".zarr",), _F + "zarr.handler:ZARR", "arrays", ("zarr",), "pip install zarr",
               directory=True,
               capabilities="load summarize open_array explore key_exists sniff_folder"),
    FormatSpec("zarr_zip", (".zarr.zip",), _F + "zarr.handler:ZARR", "arrays", ("zarr",), "pip install zarr",
               capabilities="load summarize open_array explore key_exists sniff_folder"),
    # scikit-neuromsi result bundles: a zip of JSON metadata and NetCDF members (xarray / scikit-neuromsi optional)
    FormatSpec("ndr", (".ndr",), _F + "bundles:NDR", "results", ("h5netcdf", "scipy"), "pip install h5netcdf scipy",
               capabilities="load save summarize open_array explore"),
    FormatSpec("ndc", (".ndc",), _F + "bundles:NDC", "results", ("h5netcdf", "scipy"), "pip install h5netcdf scipy",
               capabilities="load save summarize open_array explore sniff"),
    # experiment stores in axopy's layout (io_core.stores.experiment): a folder found by its layout, its .zip export
    FormatSpec("experiment", (), "io_core.stores.experiment_format:STORE", "store", ("h5py", "pandas"),
               "pip install h5py pandas", directory=True,
               capabilities="load summarize open_array read_rows explore sniff_folder"),
    FormatSpec("experiment_zip", (".zip",), "io_core.stores.experiment_format:ZIP", "store", ("h5py", "pandas"),
               "pip install h5py pandas",
               capabilities="load summarize open_array read_rows explore sniff_folder"),
)


class Registry:
    """Thread-safe registry of built-in specs, their memoised handlers and user plugins."""

    def __init__(self, specs: tuple[FormatSpec, ...] = BUILTIN_FORMATS, *, entry_points: str | None = None) -> None:
        """``entry_points``: the entry-point group read (lazily) for plugins; None reads none."""
        self._specs: dict[str, FormatSpec] = {}
        self._by_ext: dict[str, list[str]] = {}
        for spec in specs:
            self._add_spec(spec)
        self._builtin_names = frozenset(self._specs)
        self._handlers: dict[str, Any] = {}
        self._available: dict[str, bool] = {}
        self._builtin_infos: list[FormatInfo] | None = None
        self._user: dict[str, UserFormat] = {}
        self._lock = threading.RLock()
        self._entry_point_group = entry_points
        self._plugins_loaded = entry_points is None
        self._plugins_loading = False
        self.plugin_errors: dict[str, str] = {}

    def _add_spec(self, spec: FormatSpec) -> None:
        self._builtin_infos = None
        self._specs[spec.name] = spec
        for ext in spec.extensions:
            self._by_ext.setdefault(ext, []).append(spec.name)

    # -- entry-point plugins -----------------------------------------------------------
    def _ensure_plugins(self) -> None:
        """Read the entry-point group once, on the first question about formats."""
        if self._plugins_loaded:
            return
        with self._lock:  # other threads wait here until the plugins are in
            if self._plugins_loaded or self._plugins_loading:
                return  # done, or this very thread is loading them (a plugin asking the registry)
            self._plugins_loading = True
            try:
                self._load_plugins()
            finally:
                self._plugins_loaded = True
                self._plugins_loading = False

    def _load_plugins(self) -> None:
        from importlib.metadata import entry_points

        try:
            found = list(entry_points(group=self._entry_point_group))
        except Exception as exc:  # noqa: BLE001 - broken metadata on sys.path must not break io_core
            log.warning("could not list %s entry points: %s", self._entry_point_group, exc)
            return
        for ep in sorted(found, key=lambda e: e.name):
            try:
                self._install_plugin(ep.load())
            except Exception as exc:  # noqa: BLE001 - a broken plugin is skipped, never fatal
                self.plugin_errors[ep.name] = f"{type(exc).__name__}: {exc}"
                log.warning("format plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)

    def _install_plugin(self, obj: Any) -> None:
        if _is_spec_like(obj):
            self._add_plugin_spec(obj)
        elif isinstance(obj, (list, tuple)):
            for item in obj:
                self._install_plugin(item)
        elif callable(obj):
            result = obj(self)
            if result is not None:
                self._install_plugin(result)
        else:
            raise TypeError(f"a sciio.formats entry point gives a FormatSpec, a list or a callable, not {type(obj).__name__}")

    def _add_plugin_spec(self, obj: Any) -> None:
        spec = obj if isinstance(obj, FormatSpec) else FormatSpec(
            name=str(obj.name), extensions=tuple(obj.extensions), handler=obj.handler,
            kind=str(getattr(obj, "kind", "user")), requires=tuple(getattr(obj, "requires", ())),
            install=str(getattr(obj, "install", "")), can_load=bool(getattr(obj, "can_load", True)),
            can_save=bool(getattr(obj, "can_save", True)), can_summarize=bool(getattr(obj, "can_summarize", True)),
            magic=tuple(getattr(obj, "magic", ())), directory=bool(getattr(obj, "directory", False)),
            multi_file=bool(getattr(obj, "multi_file", False)), container=getattr(obj, "container", None),
            capabilities=tuple(getattr(obj, "capabilities", ()) or ()),
        )
        spec = dataclasses.replace(spec, extensions=tuple(normalize_extension(e) for e in spec.extensions))
        if spec.name in self._builtin_names:
            raise ValueError(f"a plugin cannot replace the built-in format {spec.name!r}")
        if spec.name in self._specs:
            raise ValueError(f"format {spec.name!r} is already registered")
        self._add_spec(spec)

    # -- read-only views -------------------------------------------------------------
    @property
    def specs(self) -> Mapping[str, FormatSpec]:
        self._ensure_plugins()
        return MappingProxyType(self._specs)

    @property
    def user_formats(self) -> Mapping[str, UserFormat]:
        self._ensure_plugins()
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
        self._ensure_plugins()
        entry = self._user.get(normalize_extension(ext))
        return entry.loader if entry else None

    def user_saver(self, ext: str) -> Saver | None:
        self._ensure_plugins()
        entry = self._user.get(normalize_extension(ext))
        return entry.saver if entry else None

    # -- built-ins -------------------------------------------------------------------
    def spec(self, name: str) -> FormatSpec | None:
        self._ensure_plugins()
        return self._specs.get(name.lower().lstrip("."))

    def specs_for_extension(self, ext: str) -> list[FormatSpec]:
        self._ensure_plugins()
        return [self._specs[n] for n in self._by_ext.get(normalize_extension(ext), [])]

    def spec_for_magic(self, head: bytes) -> FormatSpec | None:
        """The format whose declared magic ``head`` shows (``head``: the first KiB, gunzipped if gzip)."""
        self._ensure_plugins()
        for spec in self._specs.values():
            for magic in spec.magic:
                at, value = magic if isinstance(magic, tuple) else (0, magic)
                if head[at : at + len(value)] == value:
                    return spec
        return None

    def claimant(self, obj: Any) -> Any:
        """The handler of a format that ``claims`` this in-memory object, or None.

        Only formats whose required library the object comes from are asked (an ``mne`` object
        asks the MNE formats), so nothing is imported that the object did not already need.
        """
        origin = type(obj).__module__.split(".")[0]
        for spec in self.specs.values():
            if spec.can("claims") and origin in spec.requires and self.is_available(spec):
                handler = self.handler(spec)
                if handler.claims(obj):
                    return handler
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
            if not isinstance(spec.handler, str):  # a plugin handing over its handler object
                self._handlers[spec.name] = spec.handler
                return spec.handler
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
        self._ensure_plugins()
        infos: list[FormatInfo] = []
        for ext, user in sorted(self.user_formats.items()):
            ops = ["load", "summarize"] if user.loader is not None else []
            infos.append(FormatInfo(
                name=f"user{ext}", extensions=[ext], kind="user",
                operations=ops + (["save"] if user.saver is not None else []), available=True,
            ))
        if self._builtin_infos is None:  # specs and their availability do not change once known
            self._builtin_infos = [self._info(spec) for spec in self._specs.values()]
        return infos + self._builtin_infos

    def _info(self, spec: FormatSpec) -> FormatInfo:
        from io_core.formats.base import ADVERTISED  # import-free: the base names capabilities only

        available = self.is_available(spec)
        features = {ADVERTISED[c] for c in spec.capabilities if c in ADVERTISED}
        if {"open_array", "read_rows", "open_picture"} & set(spec.capabilities):
            features.add("preview")
        return FormatInfo(
            name=spec.name, extensions=list(spec.extensions), kind=spec.kind,
            operations=[f for f in FEATURES if f in features],
            available=available, install_hint="" if available else spec.install,
        )


def _is_spec_like(obj: Any) -> bool:
    return isinstance(obj, FormatSpec) or (
        not isinstance(obj, type) and all(hasattr(obj, a) for a in ("name", "extensions", "handler")))


REGISTRY = Registry(entry_points=ENTRY_POINT_GROUP)
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
