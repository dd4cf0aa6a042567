"""Which format handles one operation on one file, and what its library's failures mean.

Order: an explicit ``format`` -> the file's extensions (user plugins first, then built-ins
in priority order) -> a folder store recognised by its layout -> magic bytes: the declared
magic of every format (at any offset in the first KiB, gunzipped when the file is gzip),
then the ``sniff`` of formats that declare one. A format qualifies for an operation only
when its registry row declares the capability (``FormatSpec.can``); no format is named here.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from io_core.errors import (
    CorruptFileError,
    FormatUnknownError,
    IOCoreError,
    MissingDependencyError,
    PermissionDeniedError,
    TooLargeError,
    UnsupportedOperationError,
    coded,
)
from io_core.links import links_confined_to
from io_core.registry import FormatSpec, Registry, candidate_extensions
from io_core.remote import is_remote

SNIFF_BYTES = 1024

#: operations a caller may ask for, and the capabilities that provide each
PROVIDED_BY: dict[str, tuple[str, ...]] = {
    "save": ("save", "save_stream"),
    "key_exists": ("key_exists", "explore"),
}


@dataclass(frozen=True)
class Choice:
    """The code chosen for one operation on one file: a built-in format or a user plugin function."""

    name: str
    spec: FormatSpec | None = None
    func: Callable | None = None


def can(spec: FormatSpec, op: str) -> bool:
    return any(spec.can(c) for c in PROVIDED_BY.get(op, (op,)))


def head_of(path: Path) -> bytes:
    """The first KiB of a file, gunzipped when it is gzip (so magic inside ``.nii.gz`` is seen)."""
    try:
        if is_remote(path):  # a remote object: its first block, through the range cache
            head = path.head(SNIFF_BYTES)  # type: ignore[attr-defined]
        else:
            with open(path, "rb") as fh:
                head = fh.read(SNIFF_BYTES)
    except (OSError, IOCoreError):
        return b""
    if head[:2] == b"\x1f\x8b":
        try:
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, SNIFF_BYTES)
        except zlib.error:
            return head
    return head


class Chooser:
    """Format choice over one registry."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def directory_store(self, path: Path) -> FormatSpec | None:
        """The folder format a directory is, by extension or by its layout (Zarr metadata files)."""
        for ext in candidate_extensions(path):
            for spec in self.registry.specs_for_extension(ext):
                if spec.directory:
                    return spec
        for spec in self.registry.specs.values():
            if spec.directory and spec.can("sniff_folder") and self.registry.is_available(spec):
                try:
                    if self.registry.handler(spec).sniff_folder(path):
                        return spec
                except IOCoreError:
                    continue
        return None

    def choose(self, path: Path, fmt: str | None, op: str) -> Choice:
        choice = self._choose(path, fmt, op)
        if is_remote(path):  # formats that read remote objects through file objects (io_core.remote.formats)
            from io_core.remote.formats import check_remote

            check_remote(choice, op, path)
        return choice

    def _choose(self, path: Path, fmt: str | None, op: str) -> Choice:
        if fmt:
            return self.named(fmt, op)
        unavailable: list[FormatSpec] = []
        incapable: list[FormatSpec] = []
        for ext in candidate_extensions(path):
            user = self.registry.user_saver(ext) if op == "save" else self.registry.user_loader(ext)
            if user is not None and op in ("load", "save", "summarize"):
                return Choice(name=f"user{ext}", func=user)
            for spec in self.registry.specs_for_extension(ext):
                if not can(spec, op):
                    incapable.append(spec)
                    continue
                if self.registry.is_available(spec):
                    return Choice(name=spec.name, spec=spec)
                unavailable.append(spec)
        if unavailable:
            hints = "; ".join(f"{s.name}: {s.install}" for s in unavailable)
            raise MissingDependencyError(f"formats for {path.name!r} need libraries that are not installed", hint=hints)
        if op != "save":
            found = self.directory_store(path) if path.is_dir() else self.sniff(path) if path.is_file() else None
            if found is not None and can(found, op):
                return Choice(name=found.name, spec=found)
        if incapable and op in ("explore", "key_exists"):  # a container op on a known non-container
            raise UnsupportedOperationError(
                f"{incapable[0].name} files cannot {op.replace('_', ' ')}",
                hint=f"list_formats shows what each format can do; for {op}: "
                     f"{sorted(s.name for s in self.registry.specs.values() if can(s, op))[:20]}.")
        known = sorted({e for s in self.registry.specs.values() for e in s.extensions} | set(self.registry.user_formats))
        able = sorted(s.name for s in self.registry.specs.values() if can(s, op))
        raise FormatUnknownError(
            f"no format can {op.replace('_', ' ')} {path.name!r}",
            hint=f"Pass format=... (for {op}: one of {able[:40]}) or use an extension among {known[:60]}.",
        )

    def named(self, fmt: str, op: str) -> Choice:
        spec = self.registry.spec(fmt)
        if spec is None:
            user = (self.registry.user_saver if op == "save" else self.registry.user_loader)(fmt)
            if user is not None:
                return Choice(name=f"user.{fmt.lstrip('.').lower()}", func=user)
            matches = self.registry.specs_for_extension(fmt)
            spec = matches[0] if matches else None
        if spec is None:
            raise FormatUnknownError(f"unknown format {fmt!r}", hint=f"Known formats: {sorted(self.registry.specs)}.")
        if not can(spec, op):
            raise UnsupportedOperationError(f"format {spec.name!r} cannot {op.replace('_', ' ')}",
                                            hint="list_formats shows what each format can do.")
        return Choice(name=spec.name, spec=spec)

    def sniff(self, path: Path) -> FormatSpec | None:
        """The format the first KiB shows: declared magic first, then formats that declare a ``sniff``."""
        head = head_of(path)
        if not head:
            return None
        found = self.registry.spec_for_magic(head)
        if found is not None:
            return found
        for spec in self.registry.specs.values():
            if spec.can("sniff") and self.registry.is_available(spec):
                try:
                    if self.registry.handler(spec).sniff(head):
                        return spec
                except IOCoreError:
                    continue
        return None

    @contextmanager
    def reading(self, path: Path, choice_name: str, sandbox: Any) -> Iterator[None]:
        """Handlers run with links in files confined to ``sandbox``; a library's failure becomes a coded error.

        What a library raises on a file it cannot read is CORRUPT_FILE, with a hint naming the
        format the bytes really look like when that differs.
        """
        try:
            with links_confined_to(sandbox):
                yield
        except CorruptFileError as exc:
            sniffed = self.sniff(path)
            if sniffed is not None and sniffed.name != choice_name:
                exc.hint = f"Its content looks like {sniffed.name!r}; pass format={sniffed.name!r}."
            raise
        except IOCoreError:
            raise
        except MemoryError:
            raise TooLargeError(f"{path.name!r} is too large to load whole", hint="Use load_summary instead.") from None
        except PermissionError as exc:
            raise PermissionDeniedError(f"permission denied reading {path.name!r}: {exc.strerror}") from None
        except RecursionError as exc:
            raise coded(exc) or self.unreadable(path, choice_name, exc) from None
        except Exception as exc:  # noqa: BLE001 - library errors vary by format; all mean "unreadable"
            raise self.unreadable(path, choice_name, exc) from None

    def unreadable(self, path: Path, choice_name: str, exc: BaseException) -> CorruptFileError:
        hint = CorruptFileError.default_hint
        sniffed = self.sniff(path)
        if sniffed is not None and sniffed.name != choice_name:
            hint = f"Its content looks like {sniffed.name!r}; pass format={sniffed.name!r}."
        else:
            try:
                if os.stat(path).st_size == 0:
                    hint = "The file is empty."
            except OSError:
                pass
        return CorruptFileError(f"cannot read {path.name!r} as {choice_name}: {type(exc).__name__}: {str(exc)[:300]}",
                                hint=hint)
