"""The experiment store: subjects -> tasks -> trials with per-trial arrays, in axopy's on-disk layout.

``Storage(root)`` reads and writes what axopy 0.2.3 does (see ``experiment_layout``), so data
recorded by either is read by both, without axopy's faults:

* a trial costs O(1): its arrays go in through a redo journal (``experiment_journal``), then
  one CSV line is appended and fsynced (``experiment_rows``); nothing is rewritten, and a
  crash at any point loses no committed trial and leaves no corrupt row;
* a trial with an attribute the file has no column for is refused (UNDECLARED_ATTRIBUTE)
  unless declared up front (``create_task(..., columns=[...])``);
* ``array`` stacks as axopy meant to (``numpy.vstack`` of the trials) and names the trials
  that cannot be stacked (RAGGED_ARRAYS) or have no such array (KEY_NOT_FOUND);
* ``create_task`` over an existing task (``allow_overwrite``) records beside it and swaps the
  new task in atomically at its first trial; the old one is never deleted before;
* ``to_zip`` keeps ``<root name>/<subject>/<task>/…`` and writes atomically; the zip can be
  browsed in place (the ``experiment_zip`` format);
* pickles load only with ``allow_pickle``; every path goes through the sandbox.

One writer per task at a time (a lock on the task folder: TASK_BUSY otherwise).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Self

from io_core.atomic import atomic_target
from io_core.errors import (
    ExistsError,
    FileNotFoundIOError,
    InvalidArgumentError,
    InvalidDataError,
    IOCoreError,
    KeyNotFoundError,
    UnsafeFormatError,
)
from io_core.limits import Limits, check_write, current
from io_core.paths import Sandbox
from io_core.stores import experiment_journal as journal
from io_core.stores.experiment_layout import (
    ARRAY_SUFFIX,
    PICKLE_SUFFIX,
    FolderView,
    RaggedArraysError,
    TaskBusyError,
    TaskView,
    UndeclaredAttributeError,
    check_name,
)
from io_core.stores.experiment_rows import TrialsFile, format_value

__all__ = ["Storage", "TaskReader", "TaskWriter", "TrialArray", "read_hdf5", "storage_to_zip", "write_hdf5"]

RESERVED = ("block", "trial")  # always columns (axopy's Block.add_trial sets them)
NEW_MARK = ".sciio-new-"


class TrialArray:
    """axopy's ``design.Array``: pieces of a trial's array stacked as they come, along ``stack_axis``."""

    def __init__(self, data: Any = None, stack_axis: int = 1) -> None:
        if stack_axis not in (0, 1, 2):
            raise InvalidArgumentError("stack_axis is 0, 1 or 2 (numpy vstack, hstack, dstack)")
        self.data, self.stack_axis = data, stack_axis

    def stack(self, data: Any) -> None:
        import numpy as np

        if self.data is None:
            self.data = data
        else:
            self.data = (np.vstack, np.hstack, np.dstack)[self.stack_axis]([self.data, data])

    def clear(self) -> None:
        self.data = None


def _sandbox(sandbox: Sandbox | None) -> Sandbox:
    return sandbox if sandbox is not None else Sandbox(None)


class Storage:
    """The store at ``root`` (made if missing). ``sandbox``: the roots every path must stay in (default: none)."""

    def __init__(self, root: str | os.PathLike[str] = "data", allow_overwrite: bool = False, *,
                 sandbox: Sandbox | None = None, allow_pickle: bool = False, limits: Limits | None = None) -> None:
        self.sandbox = _sandbox(sandbox)
        self.allow_overwrite = allow_overwrite
        self.allow_pickle = allow_pickle
        self.limits = limits or current()
        fd, self.real = self.sandbox.open_folder(root, create=True)
        os.close(fd)
        self.root = root
        self._subject_id: str | None = None

    @property
    def view(self) -> FolderView:
        return FolderView(self.real, self.sandbox, self.limits)

    @property
    def subject_ids(self) -> Iterator[str]:
        """Subjects (folders of the root), sorted; hidden folders (``.sciio``) are not subjects."""
        yield from (name for name, is_dir in self.view.entries() if is_dir)

    @property
    def subject_id(self) -> str | None:
        return self._subject_id

    @subject_id.setter
    def subject_id(self, value: str) -> None:
        check_name(value, "subject")
        fd, _ = self.sandbox.open_folder(self.real / value, create=True)
        os.close(fd)
        self._subject_id = value

    @property
    def task_ids(self) -> Iterator[str]:
        """Tasks of the current subject, sorted (nothing before ``subject_id`` is set)."""
        if self._subject_id is None:
            return
        yield from (name for name, is_dir in self.view.entries(self._subject_id) if is_dir)

    def _subject(self) -> Path:
        if self._subject_id is None:
            raise InvalidArgumentError("no subject: set storage.subject_id first")
        return self.real / self._subject_id

    def create_task(self, task_id: str, *, columns: list[str] | None = None) -> TaskWriter:
        """A writer for a new task. An existing task is EXISTS, or with ``allow_overwrite`` replaced atomically
        when the new one has its first trial (recorded meanwhile in a hidden folder beside it)."""
        check_name(task_id, "task")
        subject = self._subject()
        if task_id not in set(self.task_ids):
            return TaskWriter(subject / task_id, sandbox=self.sandbox, columns=columns, limits=self.limits,
                              create=True)
        if not self.allow_overwrite:
            raise ExistsError(f"subject {self._subject_id!r} already has task {task_id!r}",
                              hint="Use another task name, open_task() to add trials, or Storage(allow_overwrite=True).")
        hidden = f".{task_id}{NEW_MARK}{secrets.token_hex(4)}"
        return TaskWriter(subject / hidden, sandbox=self.sandbox, columns=columns, limits=self.limits,
                          create=True, replaces=subject / task_id)

    def open_task(self, task_id: str, *, columns: list[str] | None = None, create: bool = True,
                  wait: float = 0.0) -> TaskWriter:
        """A writer appending to a task (made when missing and ``create``); an interrupted write is finished first.

        ``wait``: seconds to wait for another writer of the task to finish (then TASK_BUSY).
        """
        check_name(task_id, "task")
        if not create and task_id not in set(self.task_ids):
            raise FileNotFoundIOError(f"subject {self._subject_id!r} has no task {task_id!r}")
        return TaskWriter(self._subject() / task_id, sandbox=self.sandbox, columns=columns, limits=self.limits,
                          create=True, wait=wait)

    def require_task(self, task_id: str) -> TaskReader:
        check_name(task_id, "task")
        if task_id not in set(self.task_ids):
            raise FileNotFoundIOError(f"subject {self._subject_id!r} has not started task {task_id!r}",
                                      hint="Use create_task to create it first.")
        return TaskReader(TaskView(self.view, f"{self._subject_id}/{task_id}"), allow_pickle=self.allow_pickle)

    def to_zip(self, outfile: str | os.PathLike[str] | None = None) -> Path:
        return storage_to_zip(self.real, outfile, sandbox=self.sandbox, limits=self.limits)


def _lock(fd: int, wait: float, what: str) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TaskBusyError(f"task {what!r} is being recorded by another writer") from None
            time.sleep(0.01)


def _exchange(dirfd: int, a: str, b: str) -> bool:
    """renameat2(RENAME_EXCHANGE): two names swapped in one step (False where the kernel or libc lacks it)."""
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    if fn(dirfd, a.encode(), dirfd, b.encode(), 2) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err))


class TaskWriter:
    """Records trials into one task folder (see the module docstring); use as a context manager or ``close``.

    ``recovered``: what opening found and finished (an interrupted trial write, a torn CSV record).
    """

    def __init__(self, folder: Path, *, sandbox: Sandbox, columns: list[str] | None = None,
                 limits: Limits | None = None, create: bool = True, replaces: Path | None = None,
                 wait: float = 0.0) -> None:
        self.sandbox, self.limits = sandbox, limits or current()
        self.real = Path(folder)
        self._old_fd: int | None = None
        self._replaces = replaces
        self._committed = False
        self.dirfd, self.real = sandbox.open_folder(folder, create=create)
        try:
            _lock(self.dirfd, wait, self.real.name)
            if replaces is not None:
                self._old_fd, _ = sandbox.open_folder(replaces, create=False)
                _lock(self._old_fd, wait, replaces.name)
            self.recovered: dict[str, Any] = {}
            entry = journal.recover(self.dirfd)
            if entry is not None:
                self.recovered["finished_write"] = entry.info
            self.files = journal.ArrayFiles(self.dirfd)
            self.trials = TrialsFile(self.dirfd)
            cut = self.trials.repair()
            if cut:
                self.recovered["torn_record_bytes"] = cut
            self.declared = [str(c) for c in columns or ()]
            header = self.trials.columns
            if header and self.declared and not set(self.declared) <= set(header):
                missing = [c for c in self.declared if c not in header]
                raise UndeclaredAttributeError(
                    f"trials.csv already has columns {header[:20]}; declared {missing[:10]} are not among them")
        except BaseException:
            self._close_fds()
            if replaces is not None:  # the hidden folder made for the new task goes again
                self._remove_hidden()
            raise

    # -- recording -------------------------------------------------------------------------------
    @property
    def n_trials(self) -> int:
        return self.trials.text.n_rows

    def _columns(self, attrs: Mapping[str, Any]) -> list[str]:
        header = self.trials.columns
        if header:
            return header
        cols = list(self.declared) or [str(k) for k in attrs]
        return cols + [c for c in RESERVED if c not in cols]

    def _defaults(self, attrs: dict[str, Any]) -> None:
        """``block``/``trial`` when not given: the last block, and the next trial in it (axopy numbers both)."""
        last = self.trials.text.last or {}
        if attrs.get("block") is None:
            attrs["block"] = int(last["block"]) if str(last.get("block", "")).lstrip("-").isdigit() else 0
        if attrs.get("trial") is None:
            same = str(last.get("block")) == str(attrs["block"]) and str(last.get("trial", "")).isdigit()
            attrs["trial"] = int(last["trial"]) + 1 if same else 0

    def _prepare(self, arrays: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        out, total = {}, 0
        for name, value in arrays.items():
            check_name(name, "array")
            data = value.data if isinstance(value, TrialArray) or hasattr(value, "stack_axis") else value
            if data is None:
                continue
            arr = np.asarray(data)
            if arr.dtype.kind in "OV" or arr.dtype.hasobject:
                raise InvalidDataError(f"array {name!r} has dtype {arr.dtype}; trial arrays hold numbers, "
                                       "booleans or fixed-size strings")
            total += arr.nbytes
            out[name] = arr
        check_write(total, self.limits, "the trial's arrays")
        return out

    def write(self, trial_attrs: Any, arrays: Mapping[str, Any] | None = None) -> int:
        """Record one trial: its attributes (a mapping, or an axopy ``Trial``) and arrays {name: array}.

        Returns the trial's row (its datasets' name). Committed when this returns.
        """
        if hasattr(trial_attrs, "attrs") and arrays is None:  # an axopy design.Trial
            arrays = dict(getattr(trial_attrs, "arrays", {}))
            trial_attrs = trial_attrs.attrs
        if not isinstance(trial_attrs, Mapping):
            raise InvalidDataError("trial attributes are a mapping of column name to value")
        attrs = {str(k): v for k, v in trial_attrs.items()}
        self._defaults(attrs)
        columns = self._columns(attrs)
        unknown = [k for k in attrs if k not in columns]
        if unknown:
            raise UndeclaredAttributeError(
                f"attribute {unknown[0]!r} is not a column of trials.csv (columns: {columns[:30]})")
        values = [format_value(attrs.get(c), c) for c in columns]
        data = self._prepare(arrays or {})
        row = self.n_trials
        try:
            for name, arr in data.items():
                f = self.files.file(name + ARRAY_SUFFIX)
                if str(row) in f:  # left by a crash between arrays and row: never committed
                    del f[str(row)]
                f.create_dataset(str(row), data=arr)
        except BaseException:
            self.files.reset()
            raise
        self.files.commit({"row": row}, then=lambda: self.trials.append(columns, values))
        self._committed = True
        if self._replaces is not None:
            self._swap()
        return row

    def pickle(self, obj: Any, name: str) -> Path:
        """``obj`` pickled to ``<name>.pkl`` in the task, atomically (loading it needs ``allow_pickle``)."""
        import pickle

        check_name(name, "pickle")
        target = self.real / (name + PICKLE_SUFFIX)
        with atomic_target(target, overwrite=True, sandbox=self.sandbox) as tmp, open(tmp, "wb") as fh:
            pickle.dump(obj, fh)
        self._committed = True
        return target

    # -- overwrite: the new task swapped in -------------------------------------------------------
    def _swap(self) -> None:
        assert self._replaces is not None
        old = self._replaces
        subject_fd, _ = self.sandbox.open_folder(old.parent, create=False)
        try:
            hidden = self.real.name
            if not _exchange(subject_fd, hidden, old.name):
                aside = f".{old.name}.sciio-old-{secrets.token_hex(4)}"
                os.rename(old.name, aside, src_dir_fd=subject_fd, dst_dir_fd=subject_fd)
                os.rename(hidden, old.name, src_dir_fd=subject_fd, dst_dir_fd=subject_fd)
                hidden = aside
            os.fsync(subject_fd)
            self.real = old
            self._replaces = None
            if self._old_fd is not None:
                os.close(self._old_fd)
                self._old_fd = None
            shutil.rmtree(hidden, dir_fd=subject_fd, ignore_errors=True)
        finally:
            os.close(subject_fd)

    # -- closing ----------------------------------------------------------------------------------
    def _close_fds(self) -> None:
        if getattr(self, "trials", None) is not None:
            self.trials.close()
        for fd in (self._old_fd, self.dirfd):
            if fd is not None and fd >= 0:
                os.close(fd)
        self._old_fd, self.dirfd = None, -1

    def close(self) -> None:
        if self.dirfd < 0:
            return
        self.files.close()
        try:
            if self._replaces is not None:
                if self._committed:
                    self._swap()
                else:  # nothing recorded: the old task stays, the hidden new one goes
                    self._remove_hidden()
        finally:
            self._close_fds()

    def _remove_hidden(self) -> None:
        fd, _ = self.sandbox.open_folder(self.real.parent, create=False)
        try:
            shutil.rmtree(self.real.name, dir_fd=fd, ignore_errors=True)
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if getattr(self, "dirfd", -1) >= 0:
                self.close()


class TaskReader:
    """Reads one task: ``trials`` (DataFrame of the whole records), arrays by trial, pickles (if allowed)."""

    def __init__(self, task: TaskView, *, allow_pickle: bool = False) -> None:
        self.task, self.allow_pickle = task, allow_pickle
        self._trials = None

    @property
    def trials(self) -> Any:
        if self._trials is None:
            self._trials = self.task.frame()
        return self._trials

    @property
    def problems(self) -> list[str]:
        """What a crash left (a torn record, an interrupted write), and datasets without a committed row."""
        out = self.task.problems()
        for name in self.task.arrays():
            with contextlib.suppress(IOCoreError):
                orphans = self.task.shapes(name).orphans
                if orphans:
                    out.append(f"{name}{ARRAY_SUFFIX}: datasets {orphans[:10]} have no committed trial row (ignored)")
        return out

    def iterarray(self, name: str) -> Iterator[Any]:
        """Each trial's array in row order; None for a trial recorded without it."""
        with self.task.h5(name) as f:
            for row in range(self.task.text.n_rows):
                ds = self.task.dataset(f, row)
                yield None if ds is None else ds[()]

    def array(self, name: str) -> Any:
        """Every trial's array, ``numpy.vstack``-ed as axopy stacks them; RAGGED_ARRAYS names trials that cannot be."""
        import numpy as np

        parts = list(self.iterarray(name))
        missing = [i for i, a in enumerate(parts) if a is None]
        if missing:
            raise KeyNotFoundError(f"{len(missing)} trials have no array {name!r}: rows {missing[:20]}",
                                   hint="Use iterarray (None for those trials), or read the trials one by one.")
        if not parts:
            return np.empty((0,))
        groups: dict[tuple, list[int]] = {}
        for i, a in enumerate(parts):
            groups.setdefault(a.shape if a.ndim <= 1 else (None, *a.shape[1:]), []).append(i)
        if len(groups) > 1:
            ranked = sorted(groups.items(), key=lambda kv: -len(kv[1]))
            odd = [(list(k), rows[:10]) for k, rows in ranked[1:6]]
            raise RaggedArraysError(f"the trials of {name!r} cannot be stacked: most have shape {list(ranked[0][0])}, "
                                    f"these differ (shape, rows): {odd} (None: any length)")
        return np.vstack(parts)

    def pickle(self, name: str) -> Any:
        import pickle

        check_name(name, "pickle")
        if not self.allow_pickle:
            raise UnsafeFormatError(f"{name}{PICKLE_SUFFIX} is a pickle; loading it would run code stored in the file")
        return pickle.loads(self.task.view.read_bytes(self.task.path(name + PICKLE_SUFFIX)))


def read_hdf5(filepath: str | os.PathLike[str], dataset: str = "data", *, sandbox: Sandbox | None = None) -> Any:
    """The dataset at the root of an HDF5 file, read whole (axopy's helper, through the sandbox and h5guard)."""
    sandbox = _sandbox(sandbox)
    real = sandbox.resolve(filepath)
    view = FolderView(real.parent, sandbox, current())
    with view.h5(real.name) as f:
        obj = f.get(str(dataset))
        if obj is None or not hasattr(obj, "shape"):
            raise KeyNotFoundError(f"no dataset {str(dataset)[:80]!r} in {real.name!r}")
        return obj[()]


def write_hdf5(filepath: str | os.PathLike[str], data: Any, dataset: str = "data", *,
               sandbox: Sandbox | None = None) -> None:
    """Add one dataset to an HDF5 file (made if missing), crash-safe as a trial's arrays are (axopy's helper)."""
    import numpy as np

    sandbox = _sandbox(sandbox)
    real = sandbox.resolve(filepath)
    if not real.name.endswith(ARRAY_SUFFIX):
        raise InvalidArgumentError("write_hdf5 writes '<name>.hdf5' files (the store's array files)")
    dirfd, _ = sandbox.open_folder(real.parent, create=True)
    files = journal.ArrayFiles(dirfd)
    try:
        _lock(dirfd, 5.0, real.parent.name)
        journal.recover(dirfd)
        f = files.file(real.name)
        if str(dataset) in f:
            raise ExistsError(f"{real.name!r} already has a dataset {str(dataset)[:80]!r}")
        f.create_dataset(str(dataset), data=np.asarray(data))
        files.commit({"dataset": str(dataset)})
    finally:
        files.close()
        os.close(dirfd)


def storage_to_zip(path: str | os.PathLike[str], outfile: str | os.PathLike[str] | None = None, *,
                   sandbox: Sandbox | None = None, limits: Limits | None = None) -> Path:
    """The store at ``path`` as a zip of ``<root name>/<subject>/<task>/…`` (see ``experiment_zip``)."""
    from io_core.stores.experiment_zip import write_zip

    return write_zip(path, outfile, sandbox=_sandbox(sandbox), limits=limits or current())
