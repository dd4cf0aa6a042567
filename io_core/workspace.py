"""The front door: load, save and summarize files inside a sandbox, by format.

Dispatch order: explicit ``format`` -> extension (user plugin first, then built-ins
in priority order) -> magic bytes (loading only). Library exceptions from a format
become ``IOCoreError`` here, once, so callers and the server only ever see codes.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from io_core.atomic import atomic_write
from io_core.budget import fit
from io_core.cache import DEFAULT_CACHE_BYTES, LoadCache
from io_core.errors import (
    CorruptFileError,
    ExistsError,
    FileNotFoundIOError,
    FormatUnknownError,
    InvalidDataError,
    InvalidSelectionError,
    IOCoreError,
    MissingDependencyError,
    NameTooLongError,
    NotAFileError,
    PathOutsideRootError,
    PermissionDeniedError,
    ReadOnlyError,
    TooLargeError,
    UnsupportedOperationError,
    WriteFailedError,
)
from io_core.links import links_confined_to
from io_core.options import ReadOptions, WriteOptions
from io_core.paths import Pinned, Sandbox, short
from io_core.provenance import HISTORY_LIMIT, LEDGER_DIR, Provenance, default_ledger_path
from io_core.registry import REGISTRY, FormatSpec, Registry, candidate_extensions, is_zarr_dir
from schemas import (
    CacheCleared,
    CacheInfo,
    EmbedResult,
    ExploreResult,
    FileProvenance,
    KeyExistsResult,
    MetadataResult,
    RootInfo,
    RootsInfo,
    SaveResult,
    SliceResult,
    SummaryResult,
    VerifyResult,
)

SNIFF_BYTES = 16


@dataclass(frozen=True)
class _Choice:
    """The code chosen for one operation on one file."""

    name: str
    spec: FormatSpec | None = None  # built-in
    func: Callable | None = None  # user plugin


class Workspace:
    """Roots, permissions and the registry that one server (or script) works with.

    ``provenance``: record every save in the ledger at ``<first root>/.sciio/ledger.sqlite``
    (or ``ledger_path``); a workspace without roots keeps no ledger unless given one.
    ``record_loads`` also records what loads read. ``cache_bytes`` bounds the load cache
    (0 turns it off; with it on, loaded arrays are read-only).
    """

    def __init__(
        self,
        roots: list[str | os.PathLike[str]] | None = None,
        *,
        read_only: bool = False,
        allow_pickle: bool = False,
        registry: Registry = REGISTRY,
        provenance: bool = True,
        ledger_path: str | os.PathLike[str] | None = None,
        record_loads: bool = False,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self.sandbox = Sandbox(roots)
        self.read_only = read_only
        self.allow_pickle = allow_pickle
        self.registry = registry
        self.record_loads = record_loads
        if ledger_path is not None:
            ledger = Path(os.path.realpath(os.fspath(ledger_path)))
        else:
            ledger = default_ledger_path(self.sandbox.roots[0]) if self.sandbox.roots else None
        self.provenance = Provenance(ledger if provenance else None, writable=not read_only)
        self.cache = LoadCache(cache_bytes)

    def _resolve(self, path: str | os.PathLike[str], *, existing: bool) -> Path:
        """Sandbox resolution that also refuses the ledger: provenance changes only by being recorded.

        A *name*, checked: read through ``_pin`` instead, which keeps the checked file open.
        """
        if existing:
            with self._pin(path) as pinned:
                return pinned.real
        real = self.sandbox.resolve(path)
        self._refuse_reserved(real, path)
        return real

    def _refuse_reserved(self, real: Path, path: str | os.PathLike[str]) -> None:
        in_ledger_dir = any(
            real.is_relative_to(root) and real != root and real.relative_to(root).parts[0].lower() == LEDGER_DIR
            for root in self.sandbox.roots or ()
        )
        if in_ledger_dir or self.provenance.reserved(real):
            raise PathOutsideRootError(
                f"{short(os.fspath(path))} is inside the provenance ledger's folder ({LEDGER_DIR}/), which is reserved",
                hint="Choose another folder; ask about a file's history with file_provenance / verify_file.",
                path=os.fspath(path),
            )

    def _pin(self, path: str | os.PathLike[str]) -> Pinned:
        """The existing file (or folder store) at ``path``, found race-free and held open.

        Handlers get ``pinned.path``, which leads to the pinned inode whatever happens to
        the name meanwhile; ``pinned.real`` is for display, the cache and messages.
        """
        try:
            pinned = self.sandbox.pin(path, folders=True)
        except FileNotFoundIOError:
            self._resolve(path, existing=False)  # a missing name in the ledger's folder is still reserved
            raise
        try:
            self._refuse_reserved(pinned.real, path)
            if pinned.is_dir and self._directory_store(pinned.path) is None:
                raise NotAFileError(f"{short(os.fspath(path))} is a folder", path=os.fspath(path))
        except BaseException:
            pinned.close()
            raise
        return pinned

    def _directory_store(self, real: Path) -> FormatSpec | None:
        """The folder format (Zarr) a directory is, by extension or by its metadata files."""
        for ext in candidate_extensions(real):
            for spec in self.registry.specs_for_extension(ext):
                if spec.directory:
                    return spec
        return self.registry.spec("zarr") if is_zarr_dir(real) else None

    # -- format choice ---------------------------------------------------------------
    def _choose(self, path: Path, fmt: str | None, op: str) -> _Choice:
        if fmt:
            return self._choose_named(fmt, op)
        exts = candidate_extensions(path)
        unavailable: list[FormatSpec] = []
        for ext in exts:
            user = self.registry.user_loader(ext) if op != "save" else self.registry.user_saver(ext)
            if user is not None:
                return _Choice(name=f"user{ext}", func=user)
            for spec in self.registry.specs_for_extension(ext):
                if not getattr(spec, "can_" + op):
                    continue
                if self.registry.is_available(spec):
                    return _Choice(name=spec.name, spec=spec)
                unavailable.append(spec)
        if unavailable:
            hints = "; ".join(f"{s.name}: {s.install}" for s in unavailable)
            raise MissingDependencyError(f"formats for {path.name!r} need libraries that are not installed", hint=hints)
        if op != "save" and path.is_dir() and (store := self._directory_store(path)) is not None:
            return _Choice(name=store.name, spec=store)
        if op != "save" and path.is_file():
            sniffed = self._sniff(path)
            if sniffed is not None:
                return _Choice(name=sniffed.name, spec=sniffed)
        known = sorted({e for s in self.registry.specs.values() for e in s.extensions} | set(self.registry.user_formats))
        raise FormatUnknownError(
            f"no format can {op} {path.name!r}",
            hint=f"Pass format=... (one of {sorted(self.registry.specs)}) or use an extension among {known}.",
        )

    def _choose_named(self, fmt: str, op: str) -> _Choice:
        spec = self.registry.spec(fmt)
        if spec is None:
            matches = self.registry.specs_for_extension(fmt)
            user = (self.registry.user_saver if op == "save" else self.registry.user_loader)(fmt)
            if user is not None:
                return _Choice(name=f"user.{fmt.lstrip('.').lower()}", func=user)
            spec = matches[0] if matches else None
        if spec is None:
            raise FormatUnknownError(f"unknown format {fmt!r}", hint=f"Known formats: {sorted(self.registry.specs)}.")
        if not getattr(spec, "can_" + op):
            raise UnsupportedOperationError(f"format {spec.name!r} cannot {op}")
        return _Choice(name=spec.name, spec=spec)

    def _sniff(self, path: Path) -> FormatSpec | None:
        try:
            with open(path, "rb") as fh:
                return self.registry.spec_for_magic(fh.read(SNIFF_BYTES))
        except OSError:
            return None

    @contextmanager
    def _reading(self, path: Path, choice: _Choice) -> Iterator[None]:
        """Turn whatever a reader library raises into CORRUPT_FILE with a useful hint.

        Handlers called inside check links in files (HDF5 external links, Zarr symlinks) against this sandbox.
        """
        try:
            with links_confined_to(self.sandbox):
                yield
        except CorruptFileError as exc:
            # a handler's own "not a valid header" check: still say what the bytes really are
            sniffed = self._sniff(path)
            if sniffed is not None and sniffed.name != choice.name:
                exc.hint = f"Its content looks like {sniffed.name!r}; pass format={sniffed.name!r}."
            raise
        except IOCoreError:
            raise
        except MemoryError:
            raise CorruptFileError(f"{path.name!r} is too large to load whole", hint="Use load_summary instead.") from None
        except PermissionError as exc:
            raise PermissionDeniedError(f"permission denied reading {path.name!r}: {exc.strerror}") from None
        except Exception as exc:  # noqa: BLE001 - library errors vary by format; all mean "unreadable"
            hint = CorruptFileError.default_hint
            sniffed = self._sniff(path)
            if sniffed is not None and sniffed.name != choice.name:
                hint = f"Its content looks like {sniffed.name!r}; pass format={sniffed.name!r}."
            elif path.stat().st_size == 0:
                hint = "The file is empty."
            raise CorruptFileError(
                f"cannot read {path.name!r} as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=hint,
            ) from None

    def _read_options(self, key: str | None, **overrides: Any) -> ReadOptions:
        return ReadOptions(key=key, allow_pickle=self.allow_pickle, **overrides)

    # -- public API ------------------------------------------------------------------
    def load(self, path: str | os.PathLike[str], format: str | None = None, *, key: str | None = None) -> Any:
        """Decoded contents, from the load cache while the file is unchanged (see io_core.cache).

        A lazy object that may reopen its file later (an mne Raw without preload) keeps
        the file pinned open while it lives.
        """
        pinned = self._pin(path)
        try:
            value = self._load(pinned, format, key)
        except BaseException:
            pinned.close()
            raise
        pinned.keep_for(value)
        return value

    def _load(self, pinned: Pinned, format: str | None, key: str | None) -> Any:
        view = pinned.path
        choice = self._choose(view, format, "load")

        def read() -> Any:
            with self._reading(view, choice):
                if choice.func is not None:
                    return choice.func(view)
                return self.registry.handler(choice.spec).load(view, self._read_options(key))

        value, cached = self.cache.load(pinned.real, (choice.name, choice.func, key, self.allow_pickle), read,
                                        fd=pinned.fd)
        self.provenance.loaded(path=pinned.real, format=choice.name, arguments={"key": key}, cached=cached,
                               record=self.record_loads)
        return value

    def summarize(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        key: str | None = None,
        max_bytes: int | None = None,
        exact_stats: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> SummaryResult:
        """Header-only summary, built once, then cut to ``max_bytes`` (see io_core.budget).

        ``exact_stats`` streams the whole object in constant memory, calling ``progress``.
        """
        with self._pin(path) as pinned:
            view = pinned.path
            choice = self._choose(view, format, "summarize")
            opts = self._read_options(key, exact_stats=exact_stats, progress=progress)
            with self._reading(view, choice):
                if choice.func is not None:
                    from io_core.summary import summarize_object

                    summary = summarize_object(choice.func(view), opts)
                else:
                    summary = self.registry.handler(choice.spec).summarize(view, opts)
        result = SummaryResult(
            path=self.sandbox.display(pinned.real), format=choice.name,
            size_bytes=None if pinned.is_dir else pinned.stat.st_size, key=key, summary=summary,
        )
        return fit(result, max_bytes)

    def save(
        self,
        data: Any,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        overwrite: bool = False,
        dtype: str | None = None,
        inputs: list[str | os.PathLike[str]] | None = None,
        operation: str = "save",
        arguments: dict[str, Any] | None = None,
    ) -> SaveResult:
        """Write atomically: the old file stays byte-identical if anything fails.

        The SHA-256 of the bytes written is computed while writing (stream-capable
        formats) or from the finished temp file, and recorded with ``operation``, the
        bounded ``arguments`` and the hashes of ``inputs`` (lineage) in the ledger.
        """
        if self.read_only:
            raise ReadOnlyError(f"cannot write {os.fspath(path)!r}")
        real = self._resolve(path, existing=False)
        choice = self._choose(real, format, "save")
        return self._write(data, real, choice, overwrite=overwrite, dtype=dtype, inputs=inputs,
                           operation=operation, arguments=arguments)

    def _write(
        self,
        data: Any,
        real: Path,
        choice: _Choice,
        *,
        overwrite: bool,
        dtype: str | None,
        inputs: list[str | os.PathLike[str]] | None,
        operation: str,
        arguments: dict[str, Any] | None,
    ) -> SaveResult:
        """``save`` after the path and the format are chosen (``convert`` comes in here too)."""
        sources = [self._resolve(p, existing=True) for p in inputs or ()]
        lineage = self.provenance.input_refs(sources)
        existed = real.exists()
        opts = WriteOptions(allow_pickle=self.allow_pickle, dtype=dtype)
        try:
            with atomic_write(real, overwrite=overwrite, sandbox=self.sandbox) as job:
                if choice.func is not None:
                    choice.func(data, job.tmp)
                else:
                    handler = self.registry.handler(choice.spec)
                    if hasattr(handler, "save_stream"):
                        with job.open_stream() as stream:
                            handler.save_stream(data, stream, opts)
                    else:
                        handler.save(data, job.tmp, opts)
        except IOCoreError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise InvalidDataError(
                f"cannot save this data as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=_save_hint(choice),
            ) from None
        except OSError as exc:
            raise _write_error(exc, real.name) from None
        except Exception as exc:  # noqa: BLE001 - e.g. pyarrow's ArrowNotImplementedError, a plugin's own error
            raise InvalidDataError(
                f"cannot save this data as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=_save_hint(choice),
            ) from None
        recorded = self.provenance.saved(
            path=real, format=choice.name, sha256=job.sha256, size=job.size, operation=operation,
            arguments={"format": choice.name, "overwrite": overwrite, "dtype": dtype, **(arguments or {})},
            inputs=lineage,
        )
        return SaveResult(path=self.sandbox.display(real), format=choice.name, size_bytes=job.size,
                          overwritten=existed, sha256=job.sha256, recorded=recorded)

    def file_provenance(self, path: str | os.PathLike[str], *, limit: int = HISTORY_LIMIT) -> FileProvenance:
        """The ledger's records for ``path`` (newest first, at most ``limit``) and its lineage."""
        return self.provenance.file_provenance(self._resolve(path, existing=False), self.sandbox.display, limit)

    def verify_file(self, path: str | os.PathLike[str]) -> VerifyResult:
        """Re-hash the file: OK / MODIFIED against its last recorded write, UNKNOWN if never recorded."""
        with self._pin(path) as pinned:
            return self.provenance.verify(pinned.real, self.sandbox.display, source=pinned.path)

    def cache_info(self) -> CacheInfo:
        return self.cache.info()

    def clear_cache(self) -> CacheCleared:
        return self.cache.clear()

    def read_slice(
        self,
        path: str | os.PathLike[str],
        *,
        key: str | None = None,
        selection: str | None = None,
        columns: list[str] | None = None,
        offset: int = 0,
        limit: int | None = None,
        format: str | None = None,
        max_bytes: int | None = None,
    ) -> SliceResult:
        """Part of an array (NumPy-style ``selection``), a page of table rows, or text lines."""
        from io_core import slicing

        if offset < 0 or (limit is not None and limit < 0):
            raise InvalidSelectionError("offset and limit must not be negative")
        with self._pin(path) as pinned:
            view = pinned.path
            choice = self._choose(view, format, "load")
            opts = self._read_options(key)
            with self._reading(view, choice):
                source = self._sliceable(view, choice, opts)
                if source[0] == "array":
                    with source[1]() as array:
                        part = slicing.array_slice(array, selection, max_bytes)
                elif source[0] == "rows":
                    part = slicing.table_page(source[1], columns or ([key] if key else None), selection, offset,
                                              limit, max_bytes)
                else:
                    count = limit if limit is not None else slicing.DEFAULT_LINES
                    lines, more = source[1](offset, count)
                    part = slicing.text_page(lines, offset, more, max_bytes)
        return SliceResult(path=self.sandbox.display(pinned.real), format=choice.name, key=key, slice=part)

    def preview_image(
        self,
        path: str | os.PathLike[str],
        *,
        key: str | None = None,
        selection: str | None = None,
        max_side: int = 512,
        format: str | None = None,
        max_bytes: int | None = None,
    ) -> tuple[bytes, dict[str, Any]]:
        """A PNG of a picture, a 2-D slab (heatmap), a 1-D signal or table columns (line plots)."""
        from io_core import previews

        with self._pin(path) as pinned:
            view = pinned.path
            choice = self._choose(view, format, "load")
            opts = self._read_options(key)
            with self._reading(view, choice):
                handler = self.registry.handler(choice.spec) if choice.spec else None
                if handler is not None and hasattr(handler, "open_picture"):
                    with handler.open_picture(view, opts) as picture:
                        png, caption = previews.picture_preview(picture, max_side, max_bytes)
                else:
                    source = self._sliceable(view, choice, opts)
                    if source[0] == "array":
                        with source[1]() as array:
                            png, caption = previews.array_preview(array, selection, max_side, max_bytes)
                    elif source[0] == "rows":
                        page, _, _ = source[1]([key] if key else None, 0, previews.MAX_SIGNAL_POINTS)
                        png, caption = previews.frame_preview(page, max_side, max_bytes)
                    else:
                        raise UnsupportedOperationError(f"{choice.name} files have nothing to draw")
        caption.update(path=self.sandbox.display(pinned.real), format=choice.name, key=key)
        return png, caption

    def _sliceable(self, real: Path, choice: _Choice, opts: ReadOptions) -> tuple[str, Callable]:
        """How to read part of this file: ("array", open) | ("rows", read_rows) | ("lines", read_lines)."""
        import contextlib

        if choice.func is None:
            handler = self.registry.handler(choice.spec)
            if hasattr(handler, "open_array"):
                return "array", lambda: handler.open_array(real, opts)
            if hasattr(handler, "read_rows"):
                return "rows", lambda cols, offset, limit: handler.read_rows(real, opts, cols, offset, limit)
            if choice.spec.kind == "text":
                from io_core.formats.text import read_lines

                return "lines", lambda offset, limit: read_lines(real, offset, limit)
            value = handler.load(real, opts)
        else:
            value = choice.func(real)
        # in memory (user plugins, whole-file formats): arrays, frames and strings can be sliced
        if hasattr(value, "iloc") and hasattr(value, "columns"):
            def rows(cols, offset, limit):
                picked = value[cols] if cols else value
                return picked.iloc[offset : offset + limit], len(value), True

            return "rows", rows
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            return "array", lambda: contextlib.nullcontext(value)
        if isinstance(value, str):
            lines = value.splitlines()
            return "lines", lambda offset, limit: (lines[offset : offset + limit], offset + limit < len(lines))
        raise UnsupportedOperationError(
            f"{choice.name} data ({type(value).__name__}) has no shape, rows or lines to slice",
            hint="Use load_summary (with key=) to look inside it.",
        )

    def convert(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        *,
        key: str | None = None,
        overwrite: bool = False,
        src_format: str | None = None,
        dst_format: str | None = None,
    ) -> SaveResult:
        """Read ``src`` (``key``: one member, column or table) and write it to ``dst`` in its format.

        Streamed chunk by chunk where both formats allow it, else loaded whole and adapted
        (see io_core.convert). The write is ``save``'s: atomic, hashed, and recorded in the
        ledger as operation "convert" with ``src`` as its input.
        """
        from io_core import convert as conv

        if self.read_only:
            raise ReadOnlyError(f"cannot write {os.fspath(dst)!r}")
        with self._pin(src) as pinned:
            real_src, view = pinned.real, pinned.path
            real_dst = self._resolve(dst, existing=False)
            if real_src == real_dst:
                raise InvalidDataError("source and destination are the same file",
                                       hint="Choose another destination path.")
            src_choice = self._choose(view, src_format, "load")
            dst_choice = self._choose(real_dst, dst_format, "save")
            if real_dst.exists() and not overwrite:
                raise ExistsError(f"{real_dst.name!r} already exists")
            arguments: dict[str, Any] = {"source_format": src_choice.name, "key": key}
            write = {"overwrite": overwrite, "dtype": None, "inputs": [real_src], "operation": "convert"}
            if src_choice.spec is not None and dst_choice.func is None:
                with self._reading(view, src_choice):
                    plan = conv.stream_plan(self.registry, view, src_choice.spec, dst_choice.spec,
                                            self._read_options(key))
                if plan is not None:
                    try:
                        return self._write(None, real_dst, _Choice(dst_choice.name, dst_choice.spec, plan.write),
                                           arguments={**arguments, "streamed": True}, **write)
                    except conv.CannotStream:
                        pass  # e.g. a later chunk's types differ: convert the whole way
            data = self._load(pinned, src_choice.name if src_choice.spec is not None else src_format, key)
            kind = dst_choice.spec.kind if dst_choice.spec is not None else "user"
            table = key or real_src.name.split(".")[0] or "data"
            data = conv.adapt(data, kind, table_name=table)
            return self._write(data, real_dst, dst_choice, arguments={**arguments, "streamed": False}, **write)

    # -- browsing HDF5 / Zarr, and metadata embedded in figures (issue 4) ---------------
    def explore_h5(
        self,
        path: str | os.PathLike[str],
        group: str = "/",
        *,
        depth: int = 1,
        offset: int = 0,
        limit: int = 100,
        attrs: bool = True,
        max_bytes: int | None = None,
    ) -> ExploreResult:
        """A bounded tree of an HDF5 file (see io_core.h5tree): ``depth`` levels below ``group``, one page each.

        External links, external storage and virtual sources are shown; a link is followed
        only into a file inside the roots, and one leading out is PATH_OUTSIDE_ROOT when a
        path goes through it. Cut to ``max_bytes``; ``truncated`` says so.
        """
        from io_core import h5tree

        _check_page(depth, offset, limit)
        with self._pin(path) as pinned, self._reading(pinned.path, _Choice(name="hdf5")):
            node, swmr, cut = h5tree.explore(pinned.path, group or "/", sandbox=self.sandbox, depth=depth,
                                             offset=offset, limit=limit, attrs=attrs, max_bytes=max_bytes)
        result = ExploreResult(path=self.sandbox.display(pinned.real), format="hdf5", group=node.path, depth=depth,
                               node=node, swmr=swmr, truncated=cut)
        return _fit_tree(result, max_bytes)

    def explore_zarr(
        self,
        path: str | os.PathLike[str],
        group: str = "",
        *,
        depth: int = 1,
        offset: int = 0,
        limit: int = 100,
        attrs: bool = True,
        max_bytes: int | None = None,
    ) -> ExploreResult:
        """The same tree for a Zarr v2/v3 store (folder or .zip); consolidated metadata is used when present."""
        from io_core import zarrtree

        _check_page(depth, offset, limit)
        with self._pin(path) as pinned, self._reading(pinned.path, _Choice(name="zarr")):
            node, zarr_format, consolidated = zarrtree.explore(
                pinned.path, group or "", sandbox=self.sandbox, depth=depth, offset=offset, limit=limit, attrs=attrs
            )
        result = ExploreResult(path=self.sandbox.display(pinned.real), format="zarr", group=node.path, depth=depth,
                               node=node, zarr_format=zarr_format, consolidated=consolidated)
        return _fit_tree(result, max_bytes)

    def key_exists(self, path: str | os.PathLike[str], key: str, format: str | None = None) -> KeyExistsResult:
        """Whether an HDF5 file or Zarr store has ``key``; a missing key is ``exists: false``, never an error."""
        with self._pin(path) as pinned:
            view = pinned.path
            choice = self._choose(view, format, "load")
            if choice.name not in ("hdf5", "zarr", "zarr_zip"):
                raise UnsupportedOperationError(
                    f"key_exists looks inside HDF5 files and Zarr stores, not {choice.name}",
                    hint="Use load_summary to list what other containers hold.",
                )
            with self._reading(view, choice):
                if choice.name == "hdf5":
                    from io_core import h5tree

                    exists, kind, note = h5tree.key_exists(view, key or "/", sandbox=self.sandbox)
                else:
                    from io_core import zarrtree

                    (exists, kind), note = zarrtree.key_exists(view, key or "", sandbox=self.sandbox), None
        return KeyExistsResult(path=self.sandbox.display(pinned.real), format=choice.name, key=key, exists=exists,
                               kind=kind, note=note)

    def read_metadata(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> MetadataResult:
        """sciio metadata embedded in a PNG, JPEG, TIFF, SVG or PDF, and the format's own metadata."""
        from io_core import metadata as md

        with self._pin(path) as pinned, self._reading(pinned.path, _Choice(name=md.format_of(pinned.path))):
            fmt = md.format_of(pinned.path)
            value, present, info = md.read(pinned.path, fmt)
        result = MetadataResult(path=self.sandbox.display(pinned.real), format=fmt, has_metadata=present,
                                metadata=value, info=info)
        return fit(result, max_bytes)

    def has_metadata(self, path: str | os.PathLike[str]) -> bool:
        """Whether the file holds embedded sciio metadata."""
        return self.read_metadata(path).has_metadata

    def embed_metadata(
        self, path: str | os.PathLike[str], metadata: Any, *, overwrite: bool = False
    ) -> EmbedResult:
        """Embed JSON ``metadata`` (key ``sciio``) in a PNG, JPEG, TIFF, SVG or PDF, atomically.

        Pixels, page contents and everything else in the file stay as they were (see
        io_core.metadata); existing sciio metadata is replaced only with ``overwrite``.
        The write is recorded like a save (operation ``embed_metadata``), with the file's
        previous content as its input.
        """
        from io_core import metadata as md

        if self.read_only:
            raise ReadOnlyError(f"cannot write {os.fspath(path)!r}")
        pinned = self._pin(path)
        real = pinned.real
        try:
            fmt = md.format_of(real)
            md.encode_metadata(metadata)  # INVALID_DATA before anything is hashed or written
            lineage = self.provenance.input_refs([real])
            try:
                with atomic_write(real, overwrite=True, sandbox=self.sandbox) as job, job.open_stream() as stream:
                    replaced = md.embed(pinned.path, fmt, metadata, stream, overwrite=overwrite)
            except IOCoreError:
                raise
            except OSError as exc:
                raise _write_error(exc, real.name) from None
            except Exception as exc:  # noqa: BLE001 - Pillow/pypdf/expat errors on a damaged file
                raise CorruptFileError(
                    f"cannot read {real.name!r} as {fmt}: {type(exc).__name__}: {str(exc)[:300]}") from None
        finally:
            pinned.close()
        keys = sorted(metadata)[:20] if isinstance(metadata, dict) else None
        recorded = self.provenance.saved(
            path=real, format=fmt, sha256=job.sha256, size=job.size, operation="embed_metadata",
            arguments={"overwrite": overwrite, "replaced": replaced, "metadata_keys": keys}, inputs=lineage,
        )
        return EmbedResult(path=self.sandbox.display(real), format=fmt, size_bytes=job.size, sha256=job.sha256,
                           replaced=replaced, recorded=recorded)

    def roots_info(self) -> RootsInfo:
        roots = self.sandbox.roots or [Path.cwd()]
        return RootsInfo(
            roots=[RootInfo(path=str(r), exists=r.is_dir(), writable=os.access(r, os.W_OK)) for r in roots],
            read_only=self.read_only,
            allow_pickle=self.allow_pickle,
        )


def _write_error(exc: OSError, name: str) -> IOCoreError:
    """A writer's OSError, coded: a full disk or quota, a denied permission, a name too long, else WRITE_FAILED."""
    if exc.errno == errno.EFBIG:
        return TooLargeError(f"writing {name!r} would pass the largest file size allowed here",
                             hint="Write less (one key, a selection); the old file is unchanged.")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return WriteFailedError(f"writing {name!r} failed: {exc.strerror or 'no space left'}",
                                hint="Free space on the server's storage (or write less); the old file is unchanged "
                                     "and no temp file is left.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return PermissionDeniedError(f"writing {name!r} is not permitted: {exc.strerror or exc}",
                                     hint="The server's user may not write this folder; choose another one.")
    if exc.errno == errno.ENAMETOOLONG:
        return NameTooLongError(f"a name is too long for the file system while writing {name!r}")
    return WriteFailedError(f"writing {name!r} failed: {exc.strerror or exc}")


def _save_hint(choice: _Choice) -> str:
    kind = choice.spec.kind if choice.spec else "user"
    return {
        "array": "Give a rectangular nested list of numbers (optionally with dtype).",
        "arrays": "Give an object mapping names to rectangular nested lists (objects nest as groups).",
        "frame": "Give records (a list of objects) or columns (an object of equal-length lists).",
        "document": "Give JSON-compatible objects, lists, strings and numbers.",
        "text": "Give a string.",
        "image": "Give an (H, W), (H, W, 3) or (H, W, 4) nested list of 0..255 values (dtype uint8).",
        "records": 'Give records: [{"ENTRYTYPE": "article", "ID": "key", "title": "..."}, ...].',
        "tables": "Give {table: records or columns}, or one table's records or columns.",
    }.get(kind, "Check the data against what the saver expects.")


def _check_page(depth: int, offset: int, limit: int) -> None:
    if depth < 0 or offset < 0 or limit < 0:
        raise InvalidSelectionError("depth, offset and limit must not be negative")
    if depth > 64 or limit > 10_000:
        raise InvalidSelectionError("depth is at most 64 and limit at most 10000",
                                    hint="Explore deeper groups by passing group=.")


def _fit_tree(result: Any, max_bytes: int | None) -> Any:
    """``fit`` a browse result, deeper pages first; every page cut gets a true ``next_offset``.

    The generic cutter halves the largest list, which in a tree is the top page (losing whole
    subtrees); lists below the top node are halved first, then ``fit`` does the rest.
    """
    from io_core.budget import fit_json, json_size

    if max_bytes is None:
        return result
    data = result.model_dump(mode="json")
    if json_size(data) <= max_bytes:
        return result

    def nested(node: dict, out: list) -> list:  # the nodes below the top one that list children
        for child in node["children"]:
            if child["children"]:
                out.append(child)
            nested(child, out)
        return out

    while json_size(data) > max_bytes:
        lists = nested(data["node"], [])
        if not lists:
            break
        biggest = max(lists, key=lambda n: json_size(n["children"]))
        del biggest["children"][len(biggest["children"]) // 2 :]
        biggest["next_offset"] = biggest["offset"] + len(biggest["children"])
        biggest["truncated"] = True
    top = data["node"]["children"]
    if json_size(data) > max_bytes and len(top) > 1:  # the top page: keep as many children as fit, not half
        full, low, high = list(top), 1, len(top)
        while low < high:
            mid = (low + high + 1) // 2
            top[:] = full[:mid]
            if json_size(data) <= max_bytes:
                low = mid
            else:
                high = mid - 1
        top[:] = full[:low]
    fitted = type(result).model_validate(fit_json(data, max_bytes))

    def fix(node: Any) -> None:
        listed = len(node.children)
        if node.n_children is not None and listed and node.offset + listed < node.n_children:
            node.next_offset = node.offset + listed
            node.truncated = True
        for child in node.children:
            fix(child)

    fix(fitted.node)
    fitted.truncated = True
    return fitted
