"""compute_stats, and the engine behind convert: exact work over every block, in-process or on Dask.

Both report progress (blocks done / total, bytes read) as MCP progress notifications, or into
the task's status when the client runs them as tasks (server.tasks); both stop when the call
is cancelled (tasks/cancel, a client's cancel, the call time limit): the Dask graph is
cancelled and a conversion's temp output removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult

from server import guards
from server.settings import Settings
from server.tools.files import READ, KeyArg, PathArg

GLOB = frozenset("*?{")


def _cancelled() -> Callable[[], bool]:
    state = guards.current_call()
    return (lambda: state.cancelled.is_set()) if state is not None else (lambda: False)


def _progress(ctx: Context | None) -> Callable[[int, int, int, str], None]:
    def report(done: int, total: int, nbytes: int, label: str) -> None:
        if ctx is not None:
            anyio.from_thread.run(ctx.report_progress, done, total, f"blocks; {nbytes / 1e6:.1f} MB read; {label}")

    return report


class EngineWorkspace:
    """The workspace, with ``convert`` sent to the compute engine where it applies.

    Many sources (a glob in ``src``) become one Zarr array (concatenated along axis 0) or one
    parquet file (rows in file order); one array source into a ``.zarr`` destination is
    rechunked into a Zarr array. Everything else is the workspace's own ``convert``.
    """

    def __init__(self, ws: Any, engine: Any) -> None:
        self._ws = ws
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def convert(self, src: Any, dst: Any, *, key: str | None = None, overwrite: bool = False,
                src_format: str | None = None, dst_format: str | None = None,
                progress: Callable[[int, int, int, str], None] | None = None) -> Any:
        """``progress``: the engine's reports (blocks done, total, bytes read, label); default: the MCP task's."""
        from io_core.compute import conversion
        from io_core.errors import KeyNotFoundError, UnsupportedOperationError

        target = (dst_format or os.fspath(dst).lower().rsplit(".", 1)[-1]).lstrip(".")
        options = {"key": key, "overwrite": overwrite, "src_format": src_format,
                   "progress": progress or _task_progress(), "cancelled": _cancelled()}
        if GLOB & set(os.fspath(src)):
            files = self._expand(os.fspath(src))
            if target == "zarr":
                return conversion.convert_arrays(self.engine, self._inner(), files, dst, **options)[0]
            if target == "parquet":
                return conversion.convert_tables(self.engine, self._inner(), files, dst, **options)[0]
            raise UnsupportedOperationError("many files convert into one .zarr (arrays) or one .parquet (tables)")
        if target == "zarr":
            try:
                return conversion.convert_arrays(self.engine, self._inner(), [src], dst, **options)[0]
            except (KeyNotFoundError, UnsupportedOperationError):
                pass  # a group, a tree, a table: the workspace converts it whole
        return self._ws.convert(src, dst, key=key, overwrite=overwrite, src_format=src_format,
                                dst_format=dst_format)

    def _inner(self) -> Any:
        return getattr(self._ws, "workspace", self._ws)  # an IsolatedWorkspace's own workspace

    def _expand(self, pattern: str) -> list[str]:
        from io_core.errors import FileNotFoundIOError
        from io_core.globbing import find_files

        roots = self._inner().sandbox.roots
        found = find_files(pattern, root=roots[0] if roots else os.getcwd(), limit=100_000)
        if not found.files:
            raise FileNotFoundIOError(f"no file matches {pattern!r}", path=pattern)
        return [str(p) for p in found.files]


def _task_progress() -> Callable[[int, int, int, str], None] | None:
    from server.tasks import current_task

    task = current_task.get()
    if task is None:
        return None
    return lambda done, total, nbytes, label: task.progress(done, total, f"blocks; {nbytes / 1e6:.1f} MB read; {label}")


def register(mcp: FastMCP, ws: Any, settings: Settings, engine: Any) -> None:
    @mcp.tool(annotations=READ, output_schema={"type": "object"})
    async def compute_stats(
        path: PathArg,
        key: KeyArg = None,
        quantiles: list[float] | None = None,
        bins: int | None = None,
        ctx: Context | None = None,
    ) -> ToolResult:
        """Exact stats of all values; quantiles, histogram bins."""
        inner = getattr(ws, "workspace", ws)
        cancelled = _cancelled()
        report = _progress(ctx)

        def run() -> dict[str, Any]:
            values, rep, src = engine.stats(inner, path, key, quantiles=quantiles or (), bins=bins,
                                            progress=report, cancelled=cancelled)
            return {"path": inner.sandbox.display(Path(src.real)),
                    "key": key, "shape": list(src.shape), "dtype": src.dtype, **values,
                    "run": {"engine": rep.engine, "workers": rep.workers, "threads": rep.threads,
                            "passes": rep.passes, "tasks": rep.blocks, "bytes_read": rep.bytes_read,
                            "seconds": rep.seconds}}

        out = await anyio.to_thread.run_sync(run)
        out = {k: v for k, v in out.items() if v is not None}
        return ToolResult(content=json.dumps(out, separators=(",", ":")), structured_content=out)
