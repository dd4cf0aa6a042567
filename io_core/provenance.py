"""Provenance: which call produced a file, from which inputs, and is it still that file.

Every save (later convert and embed) records the SHA-256 of the bytes it wrote
(computed while writing, see ``atomic.atomic_write``), their size, the time, the
operation and its bounded arguments, and the SHA-256 of each input file (lineage).
Records live in the workspace's SQLite ledger (``ledger.py``), by resolved path.

``verify`` re-reads the file and compares with the last recorded write, so it
catches changes made behind the workspace's back whatever happened to the time
stamps. Hashes of inputs come from ``hashing.HASHES``, so an unchanged 10 GB input
is hashed once, not at every convert that reads it.

Recording never breaks the I/O it describes: a ledger that cannot be written is
logged to stderr and the save reports ``recorded: false``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from io_core.errors import LedgerError
from io_core.fileid import stamp
from io_core.hashing import HASHES, HashCache, sha256_path
from io_core.hooks import IOEvent, has_hooks, run_hooks
from io_core.ledger import Ledger, Row
from schemas import FileProvenance, FileRef, LineageEntry, ProvenanceRecord, VerifyResult

log = logging.getLogger("io_core.provenance")

LEDGER_DIR = ".sciio"
LEDGER_NAME = "ledger.sqlite"
MAX_ARGUMENT_CHARS = 4096
HISTORY_LIMIT = 20
LINEAGE_DEPTH = 5
LINEAGE_ENTRIES = 50

Display = Callable[[Path], str]


def default_ledger_path(first_root: Path) -> Path:
    return first_root / LEDGER_DIR / LEDGER_NAME


def _bound(value: Any, depth: int = 0) -> Any:
    """A JSON-safe, size-bounded rendering of one argument value."""
    if depth > 4:
        return "…"
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "…"
    if isinstance(value, os.PathLike):
        return _bound(os.fspath(value), depth)
    if isinstance(value, Mapping):
        items = list(value.items())
        out = {str(k)[:100]: _bound(v, depth + 1) for k, v in items[:50]}
        if len(items) > 50:
            out["…"] = f"{len(items) - 50} more keys"
        return out
    if isinstance(value, (list, tuple)):
        out_list = [_bound(v, depth + 1) for v in value[:20]]
        if len(value) > 20:
            out_list.append(f"… {len(value) - 20} more")
        return out_list
    return _bound(repr(value), depth)


def arguments_json(arguments: Mapping[str, Any]) -> str:
    """Arguments as JSON of at most MAX_ARGUMENT_CHARS; callers never pass file contents."""
    text = json.dumps(_bound(dict(arguments)), ensure_ascii=False, allow_nan=False)
    if len(text) > MAX_ARGUMENT_CHARS:
        text = json.dumps({"_truncated": True, "keys": [str(k)[:100] for k in list(arguments)[:50]]})
    return text


@contextmanager
def _readable_ledger() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise LedgerError(f"the provenance ledger cannot be read: {exc}") from None


def _iso(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, tz=UTC).isoformat(timespec="microseconds")


class Provenance:
    """A workspace's view of its ledger; ``ledger_path=None`` keeps no records at all."""

    def __init__(self, ledger_path: Path | None, *, writable: bool, hashes: HashCache = HASHES) -> None:
        self.ledger = Ledger(ledger_path, create=writable) if ledger_path is not None else None
        self.writable = writable
        self.hashes = hashes

    @property
    def ledger_path(self) -> Path | None:
        return self.ledger.path if self.ledger is not None else None

    def reserved(self, real: Path) -> bool:
        """Whether ``real`` is the ledger or one of SQLite's companion files."""
        if self.ledger is None:
            return False
        name = self.ledger.path.name
        return real.parent == self.ledger.path.parent and real.name in (
            name, name + "-wal", name + "-shm", name + "-journal")

    # -- recording -------------------------------------------------------------------
    def input_refs(self, paths: Sequence[Path]) -> list[tuple[str, str]]:
        """(resolved path, sha256) of each input, from the hash cache when unchanged."""
        return [(str(p), self.hashes.sha256(p)[0]) for p in paths]

    def record(
        self,
        *,
        kind: str,
        path: Path,
        sha256: str,
        size: int,
        operation: str,
        format: str | None,
        arguments: Mapping[str, Any],
        inputs: Sequence[tuple[str, str]] = (),
    ) -> int | None:
        """Append one record; None (and a logged warning) when there is no ledger or it fails."""
        if self.ledger is None or not self.writable:
            return None
        try:
            return self.ledger.append(
                path=str(path), sha256=sha256, size=size, kind=kind, operation=operation, format=format,
                arguments_json=arguments_json(arguments), inputs=inputs,
            )
        except (sqlite3.Error, OSError) as exc:
            log.warning("provenance not recorded for %s (%s): %s", path, operation, exc)
            return None

    # -- questions -------------------------------------------------------------------
    def file_provenance(self, real: Path, display: Display, limit: int = HISTORY_LIMIT) -> FileProvenance:
        with _readable_ledger():
            return self._file_provenance(real, display, limit)

    def _file_provenance(self, real: Path, display: Display, limit: int) -> FileProvenance:
        if self.ledger is None:
            return FileProvenance(path=display(real), exists=real.is_file(), ledger=None, n_records=0, records=[])
        rows, total = self.ledger.history(str(real), max(1, limit))
        lineage, cut = self._lineage(real, display)
        return FileProvenance(
            path=display(real), exists=real.is_file(), ledger=display(self.ledger.path), n_records=total,
            records=[self._record(r, display) for r in rows], truncated=total > len(rows),
            lineage=lineage, lineage_truncated=cut,
        )

    def verify(self, real: Path, display: Display, *, source: Path | None = None) -> VerifyResult:
        """Hash the file afresh and compare with its last recorded write (or, failing that, read).

        ``source``: where to read it (a pinned view, see io_core.paths); ``real`` names it.
        """
        source = real if source is None else source
        if type(source).__name__ == "RemotePath":  # an object: streamed through the store, hashed afresh
            digest, size = source.sha256()  # type: ignore[attr-defined]
        else:
            before = stamp(source)
            digest, size = sha256_path(source)
            if stamp(source) == before and not source.is_dir():
                self.hashes.put(real, before, digest)
        row = None
        if self.ledger is not None:
            with _readable_ledger():
                row = self.ledger.latest(str(real), "write") or self.ledger.latest(str(real), "read")
        if row is None:
            return VerifyResult(path=display(real), status="UNKNOWN", sha256=digest, size_bytes=size)
        return VerifyResult(
            path=display(real), status="OK" if row.sha256 == digest else "MODIFIED", sha256=digest,
            size_bytes=size, recorded_sha256=row.sha256, recorded_size_bytes=row.size,
            recorded_at=_iso(row.time_ns), record_id=row.id, operation=row.operation,
        )

    def _record(self, row: Row, display: Display) -> ProvenanceRecord:
        return ProvenanceRecord(
            id=row.id, path=display(Path(row.path)), sha256=row.sha256, size_bytes=row.size,
            recorded_at=_iso(row.time_ns), kind=row.kind, operation=row.operation, format=row.format,
            arguments=row.arguments, inputs=[FileRef(path=display(Path(p)), sha256=h) for p, h in row.inputs],
        )

    def _lineage(self, real: Path, display: Display) -> tuple[list[LineageEntry], bool]:
        """Ancestors of the newest write, breadth first, bounded in depth and count."""
        assert self.ledger is not None
        newest = self.ledger.latest(str(real), "write")
        if newest is None:
            return [], False
        seen = {(newest.path, newest.sha256)}
        todo = deque((1, p, h) for p, h in newest.inputs)
        out: list[LineageEntry] = []
        deeper = False
        while todo and len(out) < LINEAGE_ENTRIES:
            depth, path, digest = todo.popleft()
            if (path, digest) in seen:
                continue
            seen.add((path, digest))
            made = self.ledger.producer(path, digest)
            out.append(LineageEntry(
                depth=depth, path=display(Path(path)), sha256=digest,
                produced_by=made.id if made else None, operation=made.operation if made else None,
                recorded_at=_iso(made.time_ns) if made else None,
                inputs=[FileRef(path=display(Path(p)), sha256=h) for p, h in made.inputs] if made else [],
            ))
            if made is not None and made.inputs:
                if depth < LINEAGE_DEPTH:
                    todo.extend((depth + 1, p, h) for p, h in made.inputs)
                else:
                    deeper = True
        return out, deeper or any((p, h) not in seen for _, p, h in todo)

    # -- what the workspace calls after each I/O --------------------------------------
    def saved(
        self,
        *,
        path: Path,
        format: str,
        sha256: str,
        size: int,
        operation: str,
        arguments: Mapping[str, Any],
        inputs: Sequence[tuple[str, str]] = (),
    ) -> bool:
        """Record a finished write, then run the post-save hooks; True when a ledger row was written."""
        if type(path).__name__ == "RemotePath":  # the object written: URL, ETag, version id (io_core.remote)
            arguments = {**arguments, "remote": path.facts()}  # type: ignore[attr-defined]
        row_id = self.record(kind="write", path=path, sha256=sha256, size=size, operation=operation,
                             format=format, arguments=arguments, inputs=inputs)
        run_hooks("save", IOEvent(operation=operation, path=path, format=format, size_bytes=size, sha256=sha256,
                                  arguments=dict(arguments), inputs=tuple(inputs)))
        return row_id is not None

    def loaded(self, *, path: Path, format: str, arguments: Mapping[str, Any], cached: bool, record: bool) -> None:
        """Optionally record a finished read (hash from the cache when unchanged), then run the post-load hooks."""
        record = record and self.writable and self.ledger is not None
        if not record and not has_hooks("load"):
            return
        try:
            if record:  # the hash cache's stamp holds the size: no second stat
                digest, st = self.hashes.sha256(path)
                size = st.size
            else:
                digest, size = None, os.stat(path).st_size
        except OSError as exc:  # gone or unreadable since it was loaded: the load itself succeeded
            log.warning("could not describe the load of %s: %s", path, exc)
            return
        if record:
            self.record(kind="read", path=path, sha256=digest, size=size, operation="load", format=format,
                        arguments=arguments)
        run_hooks("load", IOEvent(operation="load", path=path, format=format, size_bytes=size, sha256=digest,
                                  arguments=dict(arguments), cached=cached))
