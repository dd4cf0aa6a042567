"""The front door: load, save and summarize files inside a sandbox, by format.

Dispatch order: explicit ``format`` -> extension (user plugin first, then built-ins
in priority order) -> magic bytes (loading only). Library exceptions from a format
become ``IOCoreError`` here, once, so callers and the server only ever see codes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from io_core.atomic import atomic_target
from io_core.errors import (
    CorruptFileError,
    FormatUnknownError,
    InvalidDataError,
    IOCoreError,
    MissingDependencyError,
    ReadOnlyError,
    TooLargeError,
    UnsupportedOperationError,
    WriteFailedError,
)
from io_core.options import ReadOptions, WriteOptions
from io_core.paths import Sandbox
from io_core.registry import REGISTRY, FormatSpec, Registry, candidate_extensions
from schemas import RootInfo, RootsInfo, SaveResult, SummaryResult

SNIFF_BYTES = 16


@dataclass(frozen=True)
class _Choice:
    """The code chosen for one operation on one file."""

    name: str
    spec: FormatSpec | None = None  # built-in
    func: Callable | None = None  # user plugin


class Workspace:
    """Roots, permissions and the registry that one server (or script) works with."""

    def __init__(
        self,
        roots: list[str | os.PathLike[str]] | None = None,
        *,
        read_only: bool = False,
        allow_pickle: bool = False,
        registry: Registry = REGISTRY,
    ) -> None:
        self.sandbox = Sandbox(roots)
        self.read_only = read_only
        self.allow_pickle = allow_pickle
        self.registry = registry

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
        """Turn whatever a reader library raises into CORRUPT_FILE with a useful hint."""
        try:
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
            raise IOCoreError(f"permission denied reading {path.name!r}: {exc.strerror}") from None
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
        real = self.sandbox.existing_file(path)
        choice = self._choose(real, format, "load")
        with self._reading(real, choice):
            if choice.func is not None:
                return choice.func(real)
            return self.registry.handler(choice.spec).load(real, self._read_options(key))

    def summarize(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        key: str | None = None,
        max_bytes: int | None = None,
    ) -> SummaryResult:
        """Header-only summary; with ``max_bytes`` previews shrink until the JSON fits."""
        real = self.sandbox.existing_file(path)
        choice = self._choose(real, format, "summarize")
        opts = self._read_options(key)
        while True:
            with self._reading(real, choice):
                if choice.func is not None:
                    from io_core.summary import summarize_object

                    summary = summarize_object(choice.func(real), opts)
                else:
                    summary = self.registry.handler(choice.spec).summarize(real, opts)
            result = SummaryResult(
                path=self.sandbox.display(real), format=choice.name, size_bytes=real.stat().st_size,
                key=key, summary=summary,
            )
            if max_bytes is None or len(result.model_dump_json().encode()) <= max_bytes:
                return result
            if opts.preview_items <= 1 and opts.preview_chars <= 64 and opts.preview_columns <= 1:
                raise TooLargeError(
                    f"even the smallest summary of {path!s} exceeds {max_bytes} bytes",
                    hint="Raise max_response_bytes, or ask for one key at a time.",
                )
            opts = replace(
                opts,
                preview_items=max(1, opts.preview_items // 2),
                preview_chars=max(64, opts.preview_chars // 2),
                preview_columns=max(1, opts.preview_columns // 2),
            )

    def save(
        self,
        data: Any,
        path: str | os.PathLike[str],
        format: str | None = None,
        *,
        overwrite: bool = False,
        dtype: str | None = None,
    ) -> SaveResult:
        """Write atomically: the old file stays byte-identical if anything fails."""
        if self.read_only:
            raise ReadOnlyError(f"cannot write {os.fspath(path)!r}")
        real = self.sandbox.resolve(path)
        choice = self._choose(real, format, "save")
        existed = real.exists()
        opts = WriteOptions(allow_pickle=self.allow_pickle, dtype=dtype)
        try:
            with atomic_target(real, overwrite=overwrite) as tmp:
                if choice.func is not None:
                    choice.func(data, tmp)
                else:
                    self.registry.handler(choice.spec).save(data, tmp, opts)
        except IOCoreError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise InvalidDataError(
                f"cannot save this data as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=_save_hint(choice),
            ) from None
        except OSError as exc:
            raise WriteFailedError(f"writing {real.name!r} failed: {exc.strerror or exc}") from None
        except Exception as exc:  # noqa: BLE001 - e.g. pyarrow's ArrowNotImplementedError, a plugin's own error
            raise InvalidDataError(
                f"cannot save this data as {choice.name}: {type(exc).__name__}: {str(exc)[:300]}",
                hint=_save_hint(choice),
            ) from None
        return SaveResult(
            path=self.sandbox.display(real), format=choice.name, size_bytes=real.stat().st_size, overwritten=existed
        )

    def roots_info(self) -> RootsInfo:
        roots = self.sandbox.roots or [Path.cwd()]
        return RootsInfo(
            roots=[RootInfo(path=str(r), exists=r.is_dir(), writable=os.access(r, os.W_OK)) for r in roots],
            read_only=self.read_only,
            allow_pickle=self.allow_pickle,
        )


def _save_hint(choice: _Choice) -> str:
    kind = choice.spec.kind if choice.spec else "user"
    return {
        "array": "Give a rectangular nested list of numbers (optionally with dtype).",
        "arrays": "Give an object mapping names to rectangular nested lists (objects nest as groups).",
        "frame": "Give records (a list of objects) or columns (an object of equal-length lists).",
        "document": "Give JSON-compatible objects, lists, strings and numbers.",
        "text": "Give a string.",
    }.get(kind, "Check the data against what the saver expects.")
