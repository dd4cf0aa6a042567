"""The provenance ledger: one embedded SQLite file, safe for many threads and processes.

Why it is built this way:

- SQLite needs nothing installed or started, and one file under ``<root>/.sciio/``
  travels with the data it describes.
- WAL mode lets readers run while one process writes; ``BEGIN IMMEDIATE`` takes the
  write lock up front, so a writer waits in SQLite's busy handler (``busy_timeout``)
  instead of failing half-way with ``database is locked``. The few errors that can
  still escape the busy handler (schema set-up racing in a fresh file) are retried.
- ``synchronous=FULL``: a save that returned has its ledger row on disk too.
- One connection per process, guarded by a lock (SQLite serialises writers anyway);
  a forked child opens its own instead of sharing its parent's.
"""

from __future__ import annotations

import json
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    time_ns INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('write', 'read')),
    operation TEXT NOT NULL,
    format TEXT,
    arguments TEXT NOT NULL DEFAULT '{}',
    inputs TEXT NOT NULL DEFAULT '[]',
    pid INTEGER,
    host TEXT
);
CREATE INDEX IF NOT EXISTS records_by_path ON records (path, id);
CREATE INDEX IF NOT EXISTS records_by_sha256 ON records (sha256);
"""
_COLUMNS = "id, path, sha256, size, time_ns, kind, operation, format, arguments, inputs"


@dataclass(frozen=True)
class Row:
    id: int
    path: str
    sha256: str
    size: int
    time_ns: int
    kind: str
    operation: str
    format: str | None
    arguments: dict[str, Any]
    inputs: list[tuple[str, str]]  # (resolved path, sha256)


def _row(raw: tuple) -> Row:
    try:
        arguments = json.loads(raw[8])
        inputs = [(str(i["path"]), str(i["sha256"])) for i in json.loads(raw[9])]
    except (ValueError, TypeError, KeyError):
        arguments, inputs = {"_unreadable": True}, []
    return Row(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6], raw[7],
               arguments if isinstance(arguments, dict) else {"value": arguments}, inputs)


def _retryable(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


class Ledger:
    """Append-only records of what was written (and optionally read), by resolved path."""

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = Path(path)
        self.create = create
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0

    # -- connection ------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection | None:
        """The process's connection, opened (and the schema made) on first use.

        None when the ledger does not exist and may not be created (read-only workspace).
        """
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if not self.create and not self.path.exists():
            return None
        if self.create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = FULL")
            if self.create:
                self._retry(lambda: self._make_schema(conn))
        except BaseException:
            conn.close()
            raise
        self._conn, self._pid = conn, os.getpid()
        return conn

    @staticmethod
    def _make_schema(conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")  # another process may be doing the same: IF NOT EXISTS below
        try:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _retry(action, attempts: int = 50):
        """Run ``action`` again when SQLite reports a lock its busy handler did not wait out."""
        for attempt in range(attempts):
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if not _retryable(exc) or attempt == attempts - 1:
                    raise
                time.sleep(min(0.5, 0.005 * 2 ** min(attempt, 7)) * (0.5 + random.random()))
        return None  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    # -- writing ---------------------------------------------------------------------
    def append(
        self,
        *,
        path: str,
        sha256: str,
        size: int,
        kind: str,
        operation: str,
        format: str | None,
        arguments_json: str,
        inputs: Sequence[tuple[str, str]] = (),
    ) -> int:
        """Write one record and commit it durably; returns its id."""
        inputs_json = json.dumps([{"path": p, "sha256": h} for p, h in inputs])
        values = (path, sha256, int(size), time.time_ns(), kind, operation, format, arguments_json, inputs_json,
                  os.getpid(), socket.gethostname())
        with self._lock:
            conn = self._connection()
            if conn is None:
                raise sqlite3.OperationalError("the ledger does not exist and may not be created")

            def insert() -> int:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = conn.execute(
                        "INSERT INTO records (path, sha256, size, time_ns, kind, operation, format, arguments, "
                        "inputs, pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        values,
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                return int(cur.lastrowid)

            return self._retry(insert)

    # -- reading ---------------------------------------------------------------------
    def _query(self, sql: str, params: tuple) -> list[tuple]:
        with self._lock:
            conn = self._connection()
            if conn is None:
                return []
            try:
                return self._retry(lambda: conn.execute(sql, params).fetchall())
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # created by another process, schema not made yet
                    return []
                raise

    def history(self, path: str, limit: int) -> tuple[list[Row], int]:
        """Newest first, at most ``limit`` rows, and how many there are in all."""
        rows = self._query(f"SELECT {_COLUMNS} FROM records WHERE path = ? ORDER BY id DESC LIMIT ?", (path, limit))
        total = self._query("SELECT COUNT(*) FROM records WHERE path = ?", (path,))
        return [_row(r) for r in rows], (total[0][0] if total else 0)

    def latest(self, path: str, kind: str | None = None) -> Row | None:
        if kind is None:
            rows = self._query(f"SELECT {_COLUMNS} FROM records WHERE path = ? ORDER BY id DESC LIMIT 1", (path,))
        else:
            rows = self._query(
                f"SELECT {_COLUMNS} FROM records WHERE path = ? AND kind = ? ORDER BY id DESC LIMIT 1", (path, kind)
            )
        return _row(rows[0]) if rows else None

    def producer(self, path: str, sha256: str) -> Row | None:
        """The newest write that left ``path`` holding exactly ``sha256``."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM records WHERE path = ? AND sha256 = ? AND kind = 'write' ORDER BY id DESC LIMIT 1",
            (path, sha256),
        )
        return _row(rows[0]) if rows else None

    def count(self) -> int:
        rows = self._query("SELECT COUNT(*) FROM records", ())
        return rows[0][0] if rows else 0
