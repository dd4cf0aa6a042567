"""The front door: load, save, summarize, slice and browse files inside a sandbox, by format.

Every call goes the same way: pin the path race-free inside the roots (``io_core.paths``),
choose the format that declares the capability asked for (``io_core.dispatch``), call that
capability on the handler (``io_core.formats.base``), translate what its library raises
into a coded ``IOCoreError`` once, record writes in the ledger, and cut the result to the
response budget. No format is named here: what a format can do is in its registry row.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from io_core.atomic import atomic_write
from io_core.browse import Browsing
from io_core.budget import fit
from io_core.cache import DEFAULT_CACHE_BYTES, LoadCache
from io_core.dispatch import Choice, Chooser
from io_core.errors import (
    ExistsError,
    FileNotFoundIOError,
    InvalidDataError,
    InvalidSelectionError,
    IOCoreError,
    NotAFileError,
    PathOutsideRootError,
    ReadOnlyError,
    UnsupportedOperationError,
)
from io_core.formats.base import supports
from io_core.limits import Limits, current
from io_core.links import links_confined_to
from io_core.options import ReadOptions, WriteOptions
from io_core.parts import open_part
from io_core.paths import Pinned, Sandbox, short
from io_core.provenance import HISTORY_LIMIT, LEDGER_DIR, Provenance, default_ledger_path
from io_core.registry import REGISTRY, Registry
from io_core.save_options import save_with_options
from io_core.writing import save_hint, write_error
from schemas import (
    CacheCleared,
    CacheInfo,
    EmbedResult,
    FileProvenance,
    MetadataResult,
    RootInfo,
    RootsInfo,
    SaveResult,
    SliceResult,
    SummaryResult,
    VerifyResult,
)


class Workspace(Browsing):
    """Roots, permissions and the registry that one server (or script) works with.

    ``provenance``: record every save in the ledger at ``<first root>/.sciio/ledger.sqlite``
    (or ``ledger_path``); a workspace without roots keeps no ledger unless given one.
    ``record_loads`` also records what loads read. ``cache_bytes`` bounds the load cache
    (0 turns it off; with it on, loaded arrays are read-only). ``limits`` bounds the work one
    call may do (io_core.limits; default: the process-wide limits).
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
        limits: Limits | None = None,
        remote: Any = None,  # io_core.remote.RemoteConfig: how s3:// and https:// roots are reached
    ) -> None:
        self.sandbox = Sandbox(roots, remote=remote)
        self._limits = limits
        self.read_only = read_only
        self.allow_pickle = allow_pickle
        self.registry = registry
        self.chooser = Chooser(registry)
        self.record_loads = record_loads
        if ledger_path is not None:
            ledger = Path(os.path.realpath(os.fspath(ledger_path)))
        else:
            ledger = default_ledger_path(self.sandbox.roots[0]) if self.sandbox.roots else None
        self.provenance = Provenance(ledger if provenance else None, writable=not read_only)
        self.cache = LoadCache(cache_bytes)

    @property
    def limits(self) -> Limits:
        """This workspace's limits, or the process-wide ones as they are at the time of the call."""
        return self._limits or current()

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
            if pinned.is_dir and self.chooser.directory_store(pinned.path) is None:
                raise NotAFileError(f"{short(os.fspath(path))} is a folder", path=os.fspath(path))
        except BaseException:
            pinned.close()
            raise
        return pinned

    # -- format choice and reading (io_core.dispatch) -----------------------------------
    def _choose(self, path: Path, fmt: str | None, op: str) -> Choice:
        return self.chooser.choose(path, fmt, op)

    def _handler(self, choice: Choice) -> Any:
        return self.registry.handler(choice.spec)

    def _reading(self, view: Path, choice: Choice) -> Any:
        """Library failures coded (CORRUPT_FILE, ...); links and references inside files confined to the roots
        (handlers pin what their file names with ``io_core.paths.pin_companion`` before their library runs)."""
        return self.chooser.reading(view, choice.name, self.sandbox)

    def _read_options(self, key: str | None, **overrides: Any) -> ReadOptions:
        return ReadOptions(key=key, allow_pickle=self.allow_pickle, limits=self.limits, **overrides)

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
            opts = self._read_options(key, exact_stats=exact_stats, progress=progress, max_bytes=max_bytes)
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
        progress: Callable[[int, int], None] | None = None,
        no_csv: bool = False, dry_run: bool = False, symlink_to: str | os.PathLike[str] | None = None,
    ) -> SaveResult:
        """Write atomically: the old file stays byte-identical if anything fails (``progress(done, total)``:
        savers that write in parts, e.g. result bundles member by member, report through it).

        The SHA-256 of the bytes written is computed while writing (stream-capable
        formats) or from the finished temp file, and recorded with ``operation``, the
        bounded ``arguments`` and the hashes of ``inputs`` (lineage) in the ledger.
        """
        if self.read_only:
            raise ReadOnlyError(f"cannot write {os.fspath(path)!r}")
        real = self._resolve(path, existing=False)
        write = {"overwrite": overwrite, "dtype": dtype, "inputs": inputs, "operation": operation,
                 "arguments": arguments, "progress": progress}
        return save_with_options(self, data, real, format, write, no_csv=no_csv, dry_run=dry_run, symlink_to=symlink_to)

    def _write(
        self,
        data: Any,
        real: Path,
        choice: Choice,
        *,
        overwrite: bool,
        dtype: str | None,
        inputs: list[str | os.PathLike[str]] | None,
        operation: str,
        arguments: dict[str, Any] | None,
        progress: Callable[[int, int], None] | None = None,
    ) -> SaveResult:
        """``save`` after the path and the format are chosen (``convert`` comes in here too)."""
        sources = [self._resolve(p, existing=True) for p in inputs or ()]
        lineage = self.provenance.input_refs(sources)
        existed = real.exists()
        opts = WriteOptions(allow_pickle=self.allow_pickle, dtype=dtype, limits=self.limits, progress=progress)
        try:
            with atomic_write(real, overwrite=overwrite, sandbox=self.sandbox) as job:
                if choice.func is not None:
                    choice.func(data, job.tmp)
                else:
                    handler = self._handler(choice)
                    if supports(handler, "save_stream"):
                        with job.open_stream() as stream:
                            handler.save_stream(data, stream, opts)
                    else:
                        handler.save(data, job.tmp, opts)
        except IOCoreError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise InvalidDataError(
                f"cannot save this data as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=save_hint(choice.spec.kind if choice.spec else "user"),
            ) from None
        except OSError as exc:
            raise write_error(exc, real.name) from None
        except Exception as exc:  # noqa: BLE001 - e.g. pyarrow's ArrowNotImplementedError, a plugin's own error
            raise InvalidDataError(
                f"cannot save this data as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=save_hint(choice.spec.kind if choice.spec else "user"),
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
            with self._reading(view, choice), self._part(view, choice, opts) as (kind, source):
                if kind == "array":
                    part = slicing.array_slice(source, selection, max_bytes)
                elif kind == "rows":  # what key means (a column, a sheet, a table, an HDU) is the format's
                    part = slicing.table_page(source, columns, selection, offset, limit, max_bytes)
                else:
                    if selection:
                        raise InvalidSelectionError("text is paged by offset and limit, not by a selection",
                                                    hint="Pass offset= (first line) and limit= (lines).")
                    count = limit if limit is not None else slicing.DEFAULT_LINES
                    lines, more = source(offset, count)
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
            opts = self._read_options(key, selection=selection)
            with self._reading(view, choice):
                if choice.spec is not None and supports(self._handler(choice), "open_picture"):
                    with self._handler(choice).open_picture(view, opts) as picture:
                        png, caption = previews.picture_preview(picture, max_side, max_bytes)
                else:
                    with self._part(view, choice, opts) as (kind, source):
                        if kind == "array":
                            png, caption = previews.array_preview(source, selection, max_side, max_bytes)
                        elif kind == "rows":
                            page, _, _ = source(None, 0, previews.MAX_SIGNAL_POINTS)
                            png, caption = previews.frame_preview(page, max_side, max_bytes)
                        else:
                            raise UnsupportedOperationError(f"{choice.name} files have nothing to draw")
        caption.update(path=self.sandbox.display(pinned.real), format=choice.name, key=key)
        return png, caption

    def _part(self, view: Path, choice: Choice, opts: ReadOptions) -> Any:
        """What part of this file can be read, by its format's capabilities (io_core.parts)."""
        return open_part(self._handler(choice) if choice.spec is not None else None, choice, view, opts)

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
                        with links_confined_to(self.sandbox):  # the source is read while the sink writes
                            return self._write(None, real_dst, Choice(dst_choice.name, dst_choice.spec, plan.write),
                                               arguments={**arguments, "streamed": True}, **write)
                    except conv.CannotStream:
                        pass  # e.g. a later chunk's types differ: convert the whole way
            data = self._load(pinned, src_choice.name if src_choice.spec is not None else src_format, key)
            kind = dst_choice.spec.kind if dst_choice.spec is not None else "user"
            table = key or real_src.name.split(".")[0] or "data"
            data = conv.adapt(data, kind, table_name=table)
            return self._write(data, real_dst, dst_choice, arguments={**arguments, "streamed": False}, **write)

    # -- browsing containers, and metadata embedded in figures ----------------------------
    def read_metadata(self, path: str | os.PathLike[str], *, max_bytes: int | None = None) -> MetadataResult:
        """sciio metadata embedded in a figure (PNG, JPEG, TIFF, SVG, PDF), and the file's own metadata."""
        with self._pin(path) as pinned:
            choice = self._choose(pinned.path, None, "read_metadata")
            with self._reading(pinned.path, choice):
                value, present, info = self._handler(choice).read_metadata(pinned.path, self._read_options(None))
        result = MetadataResult(path=self.sandbox.display(pinned.real), format=choice.name, has_metadata=present,
                                metadata=value, info=info)
        return fit(result, max_bytes)

    def has_metadata(self, path: str | os.PathLike[str]) -> bool:
        """Whether the file holds embedded sciio metadata."""
        return self.read_metadata(path).has_metadata

    def embed_metadata(
        self, path: str | os.PathLike[str], metadata: Any, *, overwrite: bool = False
    ) -> EmbedResult:
        """Embed JSON ``metadata`` (key ``sciio``) in a figure, atomically (``embed_metadata`` capability).

        Pixels, page contents and everything else in the file stay as they were; existing
        sciio metadata is replaced only with ``overwrite``. The write is recorded like a save
        (operation ``embed_metadata``), with the file's previous content as its input.
        """
        from io_core.metadata import encode_metadata

        if self.read_only:
            raise ReadOnlyError(f"cannot write {os.fspath(path)!r}")
        pinned = self._pin(path)
        real = pinned.real
        try:
            choice = self._choose(pinned.path, None, "embed_metadata")
            encode_metadata(metadata)  # INVALID_DATA before anything is hashed or written
            lineage = self.provenance.input_refs([real])
            try:
                with atomic_write(real, overwrite=True, sandbox=self.sandbox) as job, job.open_stream() as stream:
                    replaced = self._handler(choice).embed_metadata(pinned.path, metadata, stream, overwrite)
            except IOCoreError:
                raise
            except OSError as exc:  # the write failed (a full disk): the old file is untouched
                raise write_error(exc, real.name) from None
            except Exception as exc:  # noqa: BLE001 - Pillow/pypdf/expat on a damaged file
                raise self.chooser.unreadable(pinned.path, choice.name, exc) from None
        finally:
            pinned.close()
        keys = sorted(metadata)[:20] if isinstance(metadata, dict) else None
        recorded = self.provenance.saved(
            path=real, format=choice.name, sha256=job.sha256, size=job.size, operation="embed_metadata",
            arguments={"overwrite": overwrite, "replaced": replaced, "metadata_keys": keys}, inputs=lineage,
        )
        return EmbedResult(path=self.sandbox.display(real), format=choice.name, size_bytes=job.size,
                           sha256=job.sha256, replaced=replaced, recorded=recorded)

    def roots_info(self) -> RootsInfo:
        roots = self.sandbox.roots or ([] if self.sandbox.remote else [Path.cwd()])
        return RootsInfo(
            roots=[RootInfo(path=str(r), exists=r.is_dir(), writable=os.access(r, os.W_OK)) for r in roots]
            + [RootInfo(path=r.url, exists=True, writable=w) for r, w in self.sandbox.remote_roots()],
            read_only=self.read_only,
            allow_pickle=self.allow_pickle,
        )

