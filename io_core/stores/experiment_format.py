"""Browsing an experiment store (a folder, or its ``.zip`` export) through the Workspace.

A folder is a store by its layout (``sniff_folder``: a ``trials.csv`` in the folder, one or two
levels down; names only, nothing read). The folder may be the store root, a subject or a
task; ``key`` walks the rest, '/'-separated:

=============================  =====================================================================
``s1`` / ``s1/reach``          a subject / a task (below a root); summaries and ``explore``
``s1/reach/trials``            the trials table: ``load_summary`` (FrameSummary), ``read_slice`` pages
``s1/reach/emg``               an array type: per-trial shapes; ``load`` stacks it (RAGGED_ARRAYS)
``s1/reach/emg/12``            one trial's array: ``read_slice`` with ``selection``, ``preview_image``
=============================  =====================================================================

Summaries read trials.csv and HDF5 headers only, and inspect at most ``SHAPE_BUDGET`` trial
datasets in one call (the rest are counted, not inspected, and say so).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from io_core.errors import IOCoreError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.base import Explored, Format
from io_core.links import active_sandbox
from io_core.paths import Sandbox, real_path
from io_core.stores.experiment_layout import FolderView, TaskView, ZipView, level_of
from io_core.stores.experiment_rows import TRIALS
from schemas import ChildInfo, NodeInfo, TreeSummary

SHAPE_BUDGET = 20_000  # trial datasets whose header one summary reads
SNIFF_ENTRIES = 64  # folders looked at on each level by sniff_folder
LAYOUT = "experiment store (axopy layout: subject/task/trials.csv + <array>.hdf5, one dataset per trial)"


@dataclass
class Loc:
    """Where a key leads: kind in root, subject, task, trials, array, trial; ``task`` set from "task" down."""

    kind: str
    rel: str
    task: TaskView | None = None
    array: str | None = None
    row: int | None = None

    @property
    def path(self) -> str:
        parts = [self.rel] if self.rel else []
        if self.kind == "trials":
            parts.append("trials")
        if self.array is not None:
            parts.append(self.array)
        if self.row is not None:
            parts.append(str(self.row))
        return "/" + "/".join(parts)


def _looks_like_store(path: Path, depth: int = 0) -> bool:
    if os.path.isfile(path / TRIALS):
        return True
    if depth == 2:
        return False
    try:
        with os.scandir(path) as it:
            for i, entry in enumerate(it):
                if i >= SNIFF_ENTRIES:
                    break
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False) \
                        and _looks_like_store(path / entry.name, depth + 1):
                    return True
    except OSError:
        return False
    return False


class ExperimentStoreFormat(Format):
    """The store as a folder (``zipped=False``) or as a ``.zip`` export read in place."""

    def __init__(self, name: str, zipped: bool) -> None:
        self.name, self.zipped = name, zipped

    # -- where things are ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _view(self, path: Path, opts: Any) -> Iterator[Any]:
        if self.zipped:
            import zipfile

            try:
                zf = zipfile.ZipFile(path)
            except zipfile.BadZipFile as exc:
                from io_core.errors import CorruptFileError

                raise CorruptFileError(f"{real_path(path).name!r} is not a readable zip: {exc}") from None
            with zf:
                yield ZipView(zf, opts.limits)
        else:
            yield FolderView(real_path(path), active_sandbox() or Sandbox(None), opts.limits)

    def _locate(self, view: Any, key: str | None) -> Loc:
        level = level_of(view)
        if not level:
            raise UnsupportedOperationError(
                "not an experiment store: no <subject>/<task>/trials.csv in it",
                hint="An experiment store holds subject folders of task folders, each with a trials.csv.")
        parts = [p for p in (key or "").split("/") if p]
        need = {"root": 2, "subject": 1, "task": 0}[level]
        if len(parts) < need:
            rel = "/".join(parts)
            if parts and parts[0] not in {n for n, d in view.entries() if d}:
                raise KeyNotFoundError(f"no subject {parts[0]!r} in the store")
            return Loc("subject" if len(parts) + (level == "subject") == 1 else "root", rel)
        rel = "/".join(parts[:need])
        if need and not view.is_file(f"{rel}/{TRIALS}"):
            raise KeyNotFoundError(f"no task {rel!r} in the store (subject/task with a trials.csv)")
        task = TaskView(view, rel)
        rest = parts[need:]
        if not rest:
            return Loc("task", rel, task)
        if rest == ["trials"]:
            return Loc("trials", rel, task)
        if rest[0] not in task.arrays() or len(rest) > 2:
            raise KeyNotFoundError(f"no array {rest[0]!r} in task {rel or '.'!r}",
                                   hint=f"Keys: 'trials', or one of the arrays {task.arrays()[:30]} "
                                        "(add '/<row>' for one trial).")
        if len(rest) == 1:
            return Loc("array", rel, task, rest[0])
        if not rest[1].isdigit():
            raise KeyNotFoundError(f"trials are numbered by their row: {rest[1][:40]!r} is not a row")
        return Loc("trial", rel, task, rest[0], int(rest[1]))

    def sniff_folder(self, path: Path) -> bool:
        return not self.zipped and _looks_like_store(Path(path))

    # -- summaries -------------------------------------------------------------------------------
    def _task_brief(self, task: TaskView, budget: list[int], rows_shown: int = 5) -> dict[str, Any]:
        out: dict[str, Any] = {"trials": task.text.n_rows, "columns": task.text.columns}
        arrays = {}
        for name in task.arrays():
            if budget[0] <= 0:
                arrays[name] = {"inspected": False}
                continue
            try:
                shapes = task.shapes(name, budget[0])
            except IOCoreError as exc:
                arrays[name] = {"error": f"{exc.code}: {exc.message[:200]}"}
                continue
            budget[0] -= shapes.inspected
            arrays[name] = shapes.brief(rows_shown)
            if shapes.inspected < task.text.n_rows:
                arrays[name]["inspected_trials"] = shapes.inspected
        out["arrays"] = arrays
        if task.pickles():
            out["pickles"] = task.pickles()
        problems = task.problems()
        if problems:
            out["problems"] = problems
        return out

    def summarize(self, path: Path, opts: Any) -> Any:
        from io_core.summary import array_summary, frame_summary

        with self._view(path, opts) as view:
            loc = self._locate(view, opts.key)
            budget = [SHAPE_BUDGET]
            if loc.kind == "subject":
                tasks = self._tasks(view, loc.rel, budget)
                return self._tree(loc.path, dict.fromkeys(tasks), {"layout": LAYOUT, "tasks": tasks})
            if loc.kind == "root":
                detail = {s: self._tasks(view, s, budget) for s, d in view.entries() if d}
                return self._tree("/", {s: len(t) for s, t in detail.items()}, {"layout": LAYOUT, "subjects": detail})
            task = loc.task
            assert task is not None
            if loc.kind == "task":
                brief = self._task_brief(task, budget, rows_shown=20)
                table = frame_summary(task.frame(limit=opts.preview_items), opts, n_rows=task.text.n_rows)
                children = [ChildInfo(name="trials", kind="value", shape=[task.text.n_rows, len(task.text.columns)])]
                children += [ChildInfo(name=a, kind="group", n_children=task.text.n_rows) for a in task.arrays()]
                return TreeSummary(path=loc.path, n_children=len(children), children=children,
                                   attrs={"layout": LAYOUT, "trials": table.model_dump(mode="json"),
                                          **{k: v for k, v in brief.items() if k not in ("trials", "columns")}})
            if loc.kind == "trials":
                return frame_summary(task.frame(limit=max(opts.preview_items, 1000)), opts, n_rows=task.text.n_rows)
            if loc.kind == "array":
                shapes = task.shapes(loc.array, SHAPE_BUDGET)
                rows = sorted(shapes.shapes)[: opts.preview_items]
                children = [ChildInfo(name=str(r), kind="array", shape=list(shapes.shapes[r][0]),
                                      dtype=shapes.shapes[r][1]) for r in rows]
                return TreeSummary(path=loc.path, n_children=len(shapes.shapes), children=children,
                                   truncated=len(rows) < len(shapes.shapes), attrs=shapes.brief())
            with task.h5(loc.array) as f:
                ds = self._dataset(task, f, loc)
                return array_summary(ds, opts, note=f"trial {loc.row} of {loc.array!r} ({task.text.n_rows} trials)")

    def _tasks(self, view: Any, rel: str, budget: list[int]) -> dict[str, Any]:
        """Brief of every task of the subject folder ``rel``."""
        out = {}
        for name, is_dir in view.entries(rel):
            task = f"{rel}/{name}" if rel else name
            if is_dir and view.is_file(f"{task}/{TRIALS}"):
                out[name] = self._task_brief(TaskView(view, task), budget)
        return out

    @staticmethod
    def _tree(path: str, members: dict[str, Any], attrs: dict[str, Any]) -> TreeSummary:
        children = [ChildInfo(name=n, kind="group", n_children=v if isinstance(v, int) else None)
                    for n, v in members.items()]
        return TreeSummary(path=path, n_children=len(children), children=children, attrs=attrs)

    @staticmethod
    def _dataset(task: TaskView, f: Any, loc: Loc) -> Any:
        ds = task.dataset(f, loc.row)
        if ds is None:
            raise KeyNotFoundError(f"trial {loc.row} was recorded without an array {loc.array!r}")
        return ds

    # -- reading ---------------------------------------------------------------------------------
    def read_rows(self, path: Path, opts: Any, columns: list[str] | None, offset: int, limit: int) -> Any:
        with self._view(path, opts) as view:
            loc = self._locate(view, opts.key)
            if loc.kind not in ("task", "trials") or loc.task is None:
                raise UnsupportedOperationError(
                    f"{loc.path!r} is a {loc.kind}, not a table",
                    hint="Page a task's trials with key='<subject>/<task>/trials', or read one trial's array "
                         "with key='<subject>/<task>/<array>/<row>'.")
            return loc.task.frame(offset=offset, limit=limit, columns=columns), loc.task.text.n_rows, True

    @contextlib.contextmanager
    def open_array(self, path: Path, opts: Any) -> Iterator[Any]:
        with self._view(path, opts) as view:
            loc = self._locate(view, opts.key)
            if loc.kind == "array":
                raise KeyNotFoundError(f"{loc.path!r} holds one array per trial; name one",
                                       hint=f"key='{loc.path.lstrip('/')}/0' reads trial 0.")
            if loc.kind != "trial" or loc.task is None:
                raise UnsupportedOperationError(f"{loc.path!r} is a {loc.kind}, not an array")
            with loc.task.h5(loc.array) as f:
                yield self._dataset(loc.task, f, loc)

    def load(self, path: Path, opts: Any) -> Any:
        from io_core.stores.experiment import TaskReader

        with self._view(path, opts) as view:
            loc = self._locate(view, opts.key)
            if loc.task is None or loc.kind == "task":
                raise UnsupportedOperationError(
                    f"{loc.path!r} is a {loc.kind}; load takes one part of a task",
                    hint="key='<subject>/<task>/trials' (a DataFrame), '<subject>/<task>/<array>' (all trials "
                         "stacked) or '<subject>/<task>/<array>/<row>' (one trial).")
            if loc.kind == "trials":
                return loc.task.frame()
            if loc.kind == "array":
                return TaskReader(loc.task).array(loc.array)
            with loc.task.h5(loc.array) as f:
                return self._dataset(loc.task, f, loc)[()]

    # -- browsing --------------------------------------------------------------------------------
    def explore(self, path: Path, opts: Any, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        with self._view(path, opts) as view:
            loc = self._locate(view, group)
            return Explored(self._node(view, loc, depth, offset, limit))

    def _node(self, view: Any, loc: Loc, depth: int, offset: int, limit: int) -> NodeInfo:
        path = loc.path
        name = path.rsplit("/", 1)[-1] or "/"
        if loc.kind == "trial":
            assert loc.task is not None
            with loc.task.h5(loc.array) as f:
                ds = self._dataset(loc.task, f, loc)
                return NodeInfo(name=name, path=path, kind="dataset", shape=list(ds.shape), dtype=ds.dtype.str,
                                layout="contiguous", nbytes=int(ds.nbytes))
        if loc.kind == "trials":
            assert loc.task is not None
            text = loc.task.text
            return NodeInfo(name="trials", path=path, kind="dataset", shape=[text.n_rows, len(text.columns)],
                            dtype="table", note=f"trials.csv: columns {text.columns[:50]}")
        children: list[Loc] = []
        if loc.kind == "root":
            children = [Loc("subject", n) for n, d in view.entries() if d]
        elif loc.kind == "subject":
            for n, d in view.entries(loc.rel):
                rel = f"{loc.rel}/{n}" if loc.rel else n
                if d and view.is_file(f"{rel}/{TRIALS}"):
                    children.append(Loc("task", rel, TaskView(view, rel)))
        elif loc.kind == "task":
            assert loc.task is not None
            children = [Loc("trials", loc.rel, loc.task)] + [Loc("array", loc.rel, loc.task, a)
                                                            for a in loc.task.arrays()]
        elif loc.kind == "array":
            assert loc.task is not None
            n = loc.task.text.n_rows
            children = [Loc("trial", loc.rel, loc.task, loc.array, r) for r in range(offset, min(n, offset + limit))]
            total = n
        if loc.kind != "array":
            total = len(children)
            children = children[offset : offset + limit]
        nodes = []
        if depth > 0:
            for child in children:
                try:
                    nodes.append(self._node(view, child, depth - 1, 0, limit))
                except KeyNotFoundError:  # a trial recorded without this array
                    continue
        end = offset + len(children)
        return NodeInfo(name=name, path=path, kind="group", n_children=total, offset=offset, children=nodes,
                        next_offset=end if end < total else None, truncated=end < total)


STORE = ExperimentStoreFormat("experiment", zipped=False)
ZIP = ExperimentStoreFormat("experiment_zip", zipped=True)
