"""SQLite databases (.db, .sqlite, .sqlite3) through the standard library, read-only.

A database is opened read-only and immutable (``file:…?mode=ro&immutable=1``), with
``query_only`` on and ``trusted_schema`` off: nothing is ever written beside it (no
``-wal``, ``-shm`` or ``-journal``, even for a WAL-mode database in a writable folder),
no lock is taken, and nothing from the schema runs. The price: changes still sitting in
a ``-wal`` file (a writer that is running, or crashed before a checkpoint) are not seen;
the summary says so when such a file is there. Loading gives ``{table: DataFrame}`` in creation order; ``key`` names a table.
Summaries list tables with their columns, declared types, row counts and CREATE
statements; a table's summary reads its first rows only, plus ``COUNT(*)``.
``read_slice`` pages through a table with LIMIT/OFFSET.

Saving creates a new database from ``{table: frame | records | columns}`` (or one
frame/records as the table "data"): columns get the declared types INTEGER, REAL, TEXT,
BLOB, BOOLEAN or TIMESTAMP. BOOLEAN columns of 0/1 load back as booleans; TIMESTAMP
columns are ISO 8601 text and load back as datetimes. A non-default index is written as
a leading column, as for CSV.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from io_core.coerce import as_frame
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import frame_summary
from schemas import ChildInfo, FrameSummary, TreeSummary

MAGIC = b"SQLite format 3\x00"
SMALL_TABLE_ROWS = 100_000  # at or below: read whole for exact stats


def _check_header(path: Path) -> None:
    """The 100-byte header: magic, page size, and a page count the file really holds."""
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(MAGIC):
        raise CorruptFileError(f"{path.name!r} is not an SQLite database (no 'SQLite format 3' header)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise CorruptFileError(f"{path.name!r} has an invalid page size {page_size}")
    pages = int.from_bytes(head[28:32], "big")
    valid_for = int.from_bytes(head[92:96], "big")
    change_counter = int.from_bytes(head[24:28], "big")
    size = path.stat().st_size
    if size % page_size:
        raise CorruptFileError(f"{path.name!r} is truncated ({size} bytes is not a whole number of pages)")
    if pages and valid_for == change_counter and size < pages * page_size:
        raise CorruptFileError(f"{path.name!r} is truncated: {size} bytes, its header promises {pages * page_size}")


def pending_wal(path: Path) -> bool:
    """A non-empty ``-wal`` beside the database: changes an immutable open does not see.

    Looked up beside the real file (``path`` may be a pinned view of it); only informs a note.
    """
    from io_core.paths import real_path

    try:
        return os.stat(f"{real_path(path)}-wal").st_size > 0
    except OSError:
        return False


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    _check_header(path)
    # immutable: SQLite treats the file as read-only media, so it never creates -wal/-shm/-journal
    # files nor takes locks (a plain mode=ro open of a WAL database creates -wal and -shm).
    uri = f"file:{quote(str(path))}?mode=ro&immutable=1"
    with closing(sqlite3.connect(uri, uri=True, check_same_thread=False)) as con:
        con.execute("PRAGMA query_only = ON")
        con.execute("PRAGMA trusted_schema = OFF")
        yield con


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables(con: sqlite3.Connection) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the user tables, in creation order."""
    rows = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    return [(name, sql or "") for name, sql in rows]


def _columns(con: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(row[1], (row[2] or "").upper()) for row in con.execute(f"PRAGMA table_info({_q(table)})")]


def _table(con: sqlite3.Connection, key: str | None) -> str:
    names = [n for n, _ in tables(con)]
    if key is None:
        if len(names) == 1:
            return names[0]
        raise KeyNotFoundError(f"the database has {len(names)} tables; pass key= with one of {names[:50]}")
    if key not in names:
        raise KeyNotFoundError(f"no table {key!r}; tables: {names[:50]}").with_candidates(key, names)
    return key


def _typed(df: pd.DataFrame, declared: dict[str, str]) -> pd.DataFrame:
    """BOOLEAN columns of 0/1 as bool, TIMESTAMP text as datetimes."""
    for name, decl in declared.items():
        if name not in df.columns:
            continue
        col = df[name]
        if decl in ("BOOLEAN", "BOOL") and col.notna().all() and col.isin([0, 1]).all():
            df[name] = col.astype(bool)
        elif decl in ("TIMESTAMP", "DATETIME") and col.notna().all():
            try:
                df[name] = pd.to_datetime(col, format="ISO8601")
            except (ValueError, TypeError):
                pass
    return df


def read_table(con: sqlite3.Connection, table: str, columns: list[str] | None = None,
               offset: int = 0, limit: int | None = None) -> pd.DataFrame:
    declared = dict(_columns(con, table))
    cols = ", ".join(_q(c) for c in columns) if columns else "*"
    sql = f"SELECT {cols} FROM {_q(table)}"
    params: tuple[int, ...] = ()
    if limit is not None or offset:
        sql += " LIMIT ? OFFSET ?"
        params = (-1 if limit is None else limit, offset)
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return _typed(pd.DataFrame.from_records(cur.fetchall(), columns=names), declared)


def count_rows(con: sqlite3.Connection, table: str) -> int:
    return int(con.execute(f"SELECT COUNT(*) FROM {_q(table)}").fetchone()[0])


class SqliteFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> dict[str, pd.DataFrame] | pd.DataFrame:
        with connect(path) as con:
            if opts.key is not None:
                return read_table(con, _table(con, opts.key))
            return {name: read_table(con, name) for name, _ in tables(con)}

    def summarize(self, path: Path, opts: ReadOptions) -> TreeSummary | FrameSummary:
        with connect(path) as con:
            if opts.key is not None:
                return self._table_summary(con, _table(con, opts.key), opts)
            found = tables(con)
            shown = found[: opts.preview_items]
            children, schemas = [], {}
            for name, sql in shown:
                cols = _columns(con, name)
                children.append(ChildInfo(name=name, kind="group", shape=[count_rows(con, name), len(cols)],
                                          n_children=len(cols), dtype="table"))
                schemas[name] = sql[: opts.preview_chars // 4]
            views = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY rowid")]
        attrs: dict[str, Any] = {"schema": schemas, "views": views[: opts.preview_items]}
        if pending_wal(path):
            attrs["note"] = ("its -wal file holds changes not yet checkpointed into the database; they are not "
                             "shown (the file is read as immutable, so nothing is written beside it)")
        return TreeSummary(path="/", n_children=len(found), children=children, truncated=len(found) > len(shown),
                           attrs=attrs)

    def _table_summary(self, con: sqlite3.Connection, table: str, opts: ReadOptions) -> FrameSummary:
        total = count_rows(con, table)
        if total <= SMALL_TABLE_ROWS:
            return frame_summary(read_table(con, table), opts)
        head = read_table(con, table, limit=max(1000, opts.preview_items))
        summary = frame_summary(head, opts, n_rows=total, n_rows_exact=False)  # stats from the first rows
        return summary.model_copy(update={"n_rows_exact": True})  # COUNT(*) is exact

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        """A page of the table named by ``key`` (LIMIT/OFFSET) and its exact row count."""
        with connect(path) as con:
            table = _table(con, opts.key)
            names = [c for c, _ in _columns(con, table)]
            if columns is not None:
                missing = [c for c in columns if c not in names]
                if missing:
                    raise KeyNotFoundError(f"no column(s) {missing} in {table!r}; columns: {names[:50]}").with_candidates(
                        missing[0], names)
            page = read_table(con, table, columns, offset, limit)
            page.index = pd.RangeIndex(offset, offset + len(page))
            return page, count_rows(con, table), True

    def iter_frames(self, path: Path, opts: ReadOptions, rows: int = 200_000) -> Iterator[pd.DataFrame]:
        with connect(path) as con:
            table = _table(con, opts.key)
            declared = dict(_columns(con, table))
            cur = con.execute(f"SELECT * FROM {_q(table)}")
            names = [d[0] for d in cur.description]
            while batch := cur.fetchmany(rows):
                yield _typed(pd.DataFrame.from_records(batch, columns=names), declared)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        frames = _tables(data)
        with closing(sqlite3.connect(str(path))) as con:
            con.execute("PRAGMA journal_mode = OFF")  # a fresh temp file: the atomic rename is the transaction
            for name, df in frames.items():
                _write_table(con, name, df)
            con.commit()


def _tables(data: Any) -> dict[str, pd.DataFrame]:
    def is_table(v: Any) -> bool:
        return isinstance(v, (pd.DataFrame, Mapping)) or (
            isinstance(v, list) and bool(v) and all(isinstance(r, Mapping) for r in v))

    if isinstance(data, Mapping) and data and all(is_table(v) for v in data.values()):
        frames = {str(k): as_frame(v) for k, v in data.items()}
    else:
        frames = {"data": as_frame(data)}
    for name in frames:
        if not name or name.lower().startswith("sqlite_"):
            raise InvalidDataError(f"invalid table name {name!r}", hint="Names starting with 'sqlite_' are reserved.")
    return frames


def _declared(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "BOOLEAN"
    if pd.api.types.is_integer_dtype(dtype):
        return "INTEGER"
    if pd.api.types.is_float_dtype(dtype):
        return "REAL"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "TIMESTAMP"
    if pd.api.types.is_complex_dtype(dtype):
        raise InvalidDataError(f"column {series.name!r}: SQLite has no complex type")
    values = series.dropna()
    if len(values) and all(isinstance(v, (bytes, bytearray, memoryview)) for v in values):
        return "BLOB"
    return "TEXT"


def _cell(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (str, int, float, bytes)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    raise InvalidDataError(f"cannot store {type(value).__name__} in SQLite", hint="Give numbers, text or bytes.")


def _write_table(con: sqlite3.Connection, name: str, df: pd.DataFrame) -> None:
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1
            and df.index.name is None):
        df = df.reset_index()
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names) or not all(names):
        raise InvalidDataError(f"table {name!r}: column names must be unique and non-empty")
    decl = ", ".join(f"{_q(n)} {_declared(df[c])}" for n, c in zip(names, df.columns, strict=True))
    con.execute(f"CREATE TABLE {_q(name)} ({decl})")
    marks = ", ".join("?" for _ in names)
    rows = ([_cell(v) for v in row] for row in df.itertuples(index=False, name=None))
    con.executemany(f"INSERT INTO {_q(name)} VALUES ({marks})", rows)


SQLITE = SqliteFormat()
