"""Reading an experiment store's layout: subjects, tasks, trials and arrays, from a folder or a zip.

The layout (axopy 0.2.3): ``<root>/<subject>/<task>/trials.csv``, one ``<array>.hdf5`` per array
type holding one dataset per trial named by the trial's row in trials.csv, ``<name>.pkl``
pickles. A ``View`` answers the few questions reading needs (entries of a folder, a file's
bytes, an HDF5 file opened through ``io_core.h5guard``) for a folder inside the sandbox
(``FolderView``) or for a ``.zip`` export read in place (``ZipView``); ``TaskView`` builds the
rest on it. Hidden names (``.sciio``, the journal, an overwrite in progress) are never part of
the layout. Nothing here writes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from io_core.errors import (
    FileNotFoundIOError,
    InvalidArgumentError,
    InvalidDataError,
    IOCoreError,
    KeyNotFoundError,
)
from io_core.limits import Limits, check_member, check_text_size
from io_core.paths import Sandbox
from io_core.stores import experiment_journal as journal
from io_core.stores.experiment_rows import TRIALS, TrialsText, read_frame, scan

ARRAY_SUFFIX = ".hdf5"
PICKLE_SUFFIX = ".pkl"
LISTED = 10_000  # entries of one folder looked at


class RaggedArraysError(InvalidDataError):
    code = "RAGGED_ARRAYS"
    default_hint = "Read the trials one by one (iterarray, or read_slice key='<array>/<row>')."


class UndeclaredAttributeError(InvalidDataError):
    code = "UNDECLARED_ATTRIBUTE"
    default_hint = ("trials.csv is never rewritten while recording: declare every attribute up front "
                    "(create_task(..., columns=[...])), or record it in a new task.")


class InterruptedWriteError(IOCoreError):
    code = "INTERRUPTED_WRITE"
    default_hint = ("A trial write was interrupted in the middle; open the task for writing once "
                    "(record_trial, or Storage.open_task) to finish it. No committed trial is lost.")


class TaskBusyError(IOCoreError):
    code = "TASK_BUSY"
    default_hint = "Another writer is recording this task; retry when it has finished."


def check_name(name: Any, what: str) -> str:
    """A subject, task, array or pickle name: one plain folder or file name, not hidden."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\x00" in name \
            or name.startswith(".") or len(name.encode("utf-8", "surrogateescape")) > 200 or name != name.strip():
        raise InvalidArgumentError(
            f"{what} name {str(name)[:60]!r} is not usable",
            hint="Use a plain name: no '/', not starting with '.', no surrounding spaces, at most 200 bytes.",
        )
    return name


# -- views -------------------------------------------------------------------------------------------

class FolderView:
    """A store inside the sandbox; ``rel`` paths are '/'-joined names below ``real``."""

    zipped = False

    def __init__(self, real: Path, sandbox: Sandbox, limits: Limits) -> None:
        self.real, self.sandbox, self.limits = Path(real), sandbox, limits

    def _path(self, rel: str) -> Path:
        return self.real / rel if rel else self.real

    def entries(self, rel: str = "") -> list[tuple[str, bool]]:
        """(name, is_folder) of the folder ``rel``, sorted, hidden names and links out of the roots left out."""
        fd, real = self.sandbox.open_folder(self._path(rel), create=False)
        out = []
        try:
            with os.scandir(fd) as it:
                for i, entry in enumerate(it):
                    if i >= LISTED:
                        break
                    if entry.name.startswith("."):
                        continue
                    if entry.is_symlink():
                        try:  # followed only when it leads to something inside the roots
                            target = self.sandbox.resolve(real / entry.name)
                            out.append((entry.name, target.is_dir()))
                        except IOCoreError:
                            continue
                    else:
                        out.append((entry.name, entry.is_dir(follow_symlinks=False)))
        finally:
            os.close(fd)
        return sorted(out)

    def is_file(self, rel: str) -> bool:
        try:
            with self.sandbox.pin(self._path(rel)):
                return True
        except IOCoreError:
            return False

    def read_bytes(self, rel: str) -> bytes:
        with self.sandbox.pin(self._path(rel)) as pinned:
            check_text_size(pinned.stat.st_size, self.limits, rel)
            chunks, pos = [], 0
            while chunk := os.pread(pinned.fd, 1 << 20, pos):
                chunks.append(chunk)
                pos += len(chunk)
            return b"".join(chunks)

    @contextlib.contextmanager
    def h5(self, rel: str) -> Iterator[Any]:
        from io_core import h5guard
        from io_core.links import links_confined_to

        with self.sandbox.pin(self._path(rel)) as pinned, links_confined_to(self.sandbox), \
                h5guard.reading(pinned.path) as f:
            yield f

    def journal_state(self, rel: str) -> tuple[str, journal.Entry | None]:
        try:
            fd, _ = self.sandbox.open_folder(self._path(rel), create=False)
        except IOCoreError:
            return "none", None
        try:
            return journal.state(fd)
        finally:
            os.close(fd)


class ZipView:
    """A ``.zip`` export read in place: its folder tree from the central directory, members opened lazily."""

    zipped = True

    def __init__(self, zf: Any, limits: Limits) -> None:
        self.zf, self.limits = zf, limits
        self.tree: dict[str, dict[str, bool]] = {"": {}}
        for name in zf.namelist():
            parts = [p for p in name.split("/") if p]
            if not parts or any(p in (".", "..") or p.startswith(".") for p in parts):
                continue
            for i, part in enumerate(parts):
                folder = "/".join(parts[:i])
                is_dir = i < len(parts) - 1 or name.endswith("/")
                self.tree.setdefault(folder, {})[part] = self.tree.get(folder, {}).get(part, False) or is_dir
                if is_dir:
                    self.tree.setdefault("/".join(parts[: i + 1]), {})
        self.base = ""
        top = self.tree[""]
        if len(top) == 1 and next(iter(top.values())):  # storage_to_zip's "<root name>/" folder
            self.base = next(iter(top))

    def _name(self, rel: str) -> str:
        return "/".join(p for p in (self.base, rel) if p)

    def entries(self, rel: str = "") -> list[tuple[str, bool]]:
        folder = self.tree.get(self._name(rel))
        if folder is None:
            raise FileNotFoundIOError(f"no folder {rel!r} in the archive")
        return sorted(folder.items())

    def is_file(self, rel: str) -> bool:
        name = self._name(rel)
        folder, _, leaf = name.rpartition("/")
        return self.tree.get(folder, {}).get(leaf) is False

    def _info(self, rel: str) -> Any:
        try:
            return self.zf.getinfo(self._name(rel))
        except KeyError:
            raise FileNotFoundIOError(f"no member {rel!r} in the archive") from None

    def read_bytes(self, rel: str) -> bytes:
        info = self._info(rel)
        check_text_size(info.file_size, self.limits, rel)
        check_member(info.filename, info.file_size, info.compress_size, self.limits)
        return self.zf.read(info)

    @contextlib.contextmanager
    def h5(self, rel: str) -> Iterator[Any]:
        from io_core import h5guard

        info = self._info(rel)
        if info.compress_type != 0:  # inflated from the start at every backward seek
            check_member(info.filename, info.file_size, info.compress_size, self.limits)
        with self.zf.open(info) as member:
            f = h5guard.open_stream(member)
            try:
                yield f
            finally:
                f.close()

    def journal_state(self, rel: str) -> tuple[str, journal.Entry | None]:
        return "none", None


# -- one task ------------------------------------------------------------------------------------------

@dataclass
class ArrayShapes:
    """Per-trial shapes and dtypes of one array type (metadata only)."""

    name: str
    shapes: dict[int, tuple[tuple[int, ...], str]]  # row -> (shape, dtype str)
    missing: list[int]  # rows without a dataset
    orphans: list[str]  # datasets with no committed row (a crash between arrays and row)
    inspected: int  # rows looked at (all, unless a budget stopped it)

    def brief(self, rows_shown: int = 20) -> dict[str, Any]:
        groups: dict[tuple[tuple[int, ...], str], list[int]] = {}
        for row, key in self.shapes.items():
            groups.setdefault(key, []).append(row)
        out: dict[str, Any] = {"trials": len(self.shapes)}
        if len(groups) == 1:
            (shape, dtype), = groups
            out.update(shape=list(shape), dtype=dtype)
        else:
            out["shapes"] = [{"shape": list(s), "dtype": d, "trials": len(r), "rows": r[:rows_shown]}
                             for (s, d), r in sorted(groups.items(), key=lambda kv: -len(kv[1]))[:rows_shown]]
        if self.missing:
            out.update(missing=len(self.missing), missing_rows=self.missing[:rows_shown])
        if self.orphans:
            out.update(orphans=len(self.orphans), orphan_datasets=self.orphans[:rows_shown])
        return out


class TaskView:
    """One task of a view (``rel`` = "subject/task", or "" for a task folder itself)."""

    def __init__(self, view: Any, rel: str) -> None:
        self.view, self.rel = view, rel
        self._data: bytes | None = None
        self._text: TrialsText | None = None
        self._entries: list[tuple[str, bool]] | None = None

    def path(self, name: str) -> str:
        return f"{self.rel}/{name}" if self.rel else name

    @property
    def entries(self) -> list[tuple[str, bool]]:
        if self._entries is None:
            self._entries = self.view.entries(self.rel)
        return self._entries

    def _load(self) -> None:
        if self._text is None:
            try:
                self._data = self.view.read_bytes(self.path(TRIALS))
            except FileNotFoundIOError:
                self._data = b""
            self._text = scan(self._data)

    @property
    def text(self) -> TrialsText:
        self._load()
        return self._text  # type: ignore[return-value]

    def frame(self, offset: int = 0, limit: int | None = None, columns: list[str] | None = None) -> Any:
        self._load()
        return read_frame(self._data or b"", self.text, offset=offset, limit=limit, columns=columns)

    def arrays(self) -> list[str]:
        return [n[: -len(ARRAY_SUFFIX)] for n, d in self.entries if not d and n.endswith(ARRAY_SUFFIX)]

    def pickles(self) -> list[str]:
        return [n[: -len(PICKLE_SUFFIX)] for n, d in self.entries if not d and n.endswith(PICKLE_SUFFIX)]

    def problems(self) -> list[str]:
        out = []
        text = self.text
        if text.torn:
            out.append(f"{TRIALS}: a torn last record ({text.size - text.end} bytes, a crash while it was written) "
                       "is not read")
        pending, _ = self.view.journal_state(self.rel)
        if pending == "partial":
            out.append("an interrupted trial write is pending: arrays are readable once the task is opened for writing")
        elif pending != "none":
            out.append("a finished trial write left its journal (cleared when the task is next opened for writing)")
        return out

    @contextlib.contextmanager
    def h5(self, array: str) -> Iterator[Any]:
        if array not in self.arrays():
            raise KeyNotFoundError(f"no array {array!r} in task {self.rel or '.'!r}",
                                   hint=f"Arrays: {self.arrays()[:50]}.")
        pending, entry = self.view.journal_state(self.rel)
        if pending == "partial" and entry is not None and any(
                f["name"] == array + ARRAY_SUFFIX for f in entry.files):
            raise InterruptedWriteError(f"{array}{ARRAY_SUFFIX} of task {self.rel or '.'!r} is half-way through "
                                        "an interrupted trial write")
        with self.view.h5(self.path(array + ARRAY_SUFFIX)) as f:
            yield f

    def dataset(self, f: Any, row: int) -> Any:
        """The dataset of trial ``row`` (None when the trial has no such array)."""
        import h5py

        if row < 0 or row >= self.text.n_rows:
            raise KeyNotFoundError(f"no trial {row} (the task has {self.text.n_rows} trials)",
                                   hint=f"Rows are 0 to {self.text.n_rows - 1}.")
        obj = f.get(str(row))
        return obj if isinstance(obj, h5py.Dataset) else None

    def shapes(self, array: str, budget: int | None = None) -> ArrayShapes:
        """Shapes and dtypes of every trial's dataset (headers only), at most ``budget`` rows looked at."""
        n = self.text.n_rows
        todo = n if budget is None else min(n, budget)
        shapes: dict[int, tuple[tuple[int, ...], str]] = {}
        missing: list[int] = []
        with self.h5(array) as f:
            for row in range(todo):
                ds = self.dataset(f, row)
                if ds is None:
                    missing.append(row)
                else:
                    shapes[row] = (tuple(int(x) for x in ds.shape), ds.dtype.str)
            orphans = [k for k in list(f.keys())[: LISTED] if not (k.isdigit() and int(k) < n)] \
                if len(f) != n - len(missing) or todo < n else []
        return ArrayShapes(array, shapes, missing, orphans, todo)


def level_of(view: Any, rel: str = "") -> str:
    """"task", "subject" or "root" by the layout below ``rel`` (cheap: names only); "" when none fits."""
    if view.is_file(f"{rel}/{TRIALS}" if rel else TRIALS):
        return "task"
    for name, is_dir in view.entries(rel)[:64]:
        if not is_dir:
            continue
        sub = f"{rel}/{name}" if rel else name
        if view.is_file(f"{sub}/{TRIALS}"):
            return "subject"
        with contextlib.suppress(IOCoreError):
            for task, task_is_dir in view.entries(sub)[:64]:
                if task_is_dir and view.is_file(f"{sub}/{task}/{TRIALS}"):
                    return "root"
    return ""

