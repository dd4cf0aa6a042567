"""compute_stats, and the engine behind convert: exact work over every block, in-process or on Dask.

Both report progress (blocks done / total, bytes read) as MCP progress notifications, or into
the task's status when the client runs them as tasks (server.tasks); both stop when the call
is cancelled (tasks/cancel, a client's cancel, the call time limit): the Dask graph is
cancelled and a conversion's temp output removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult

from io_core.compute.routing import EngineWorkspace
from server import guards
from server.settings import Settings
from server.tools.files import READ, KeyArg, PathArg


def _cancelled() -> Callable[[], bool]:
    state = guards.current_call()
    return (lambda: state.cancelled.is_set()) if state is not None else (lambda: False)


def _progress(ctx: Context | None) -> Callable[[int, int, int, str], None]:
    def report(done: int, total: int, nbytes: int, label: str) -> None:
        if ctx is not None:
            anyio.from_thread.run(ctx.report_progress, done, total, f"blocks; {nbytes / 1e6:.1f} MB read; {label}")

    return report


def _task_progress() -> Callable[[int, int, int, str], None] | None:
    from server.tasks import current_task

    task = current_task.get()
    if task is None:
        return None
    return lambda done, total, nbytes, label: task.progress(done, total, f"blocks; {nbytes / 1e6:.1f} MB read; {label}")


def engine_workspace(ws: Any, engine: Any) -> EngineWorkspace:
    """The workspace the convert tool uses: progress into the MCP task, cancellation by the call's state."""
    return EngineWorkspace(ws, engine, default_progress=_task_progress, cancelled=_cancelled)


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
