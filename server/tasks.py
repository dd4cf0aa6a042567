"""MCP tasks (the ``io.modelcontextprotocol/tasks`` extension, SEP-2663), served by this server itself.

Why not ``fastmcp-tasks``: its releases pin ``fastmcp-slim`` exactly (4.1.4 while FastMCP
resolves to 4.2.x) and need Redis/Docket; long calls here already run in threads or on a
Dask cluster, so the extension is a small in-memory task table on FastMCP's extension API
(``fastmcp.server.extensions.ServerExtension``), with no new dependency.

- A ``tools/call`` of a tool in ``TASK_TOOLS`` (``load_summary`` only with ``exact_stats``)
  from a client that opts in to the extension for that request (modern protocol) returns a
  ``CreateTaskResult`` at once; the call runs in the background.
- ``tasks/get``: status (working, completed, failed, cancelled), ``statusMessage`` with the
  progress (blocks done/total, bytes read), and the finished ``CallToolResult`` (``result``)
  or the coded error (``error``). ``tasks/cancel`` stops the work (the Dask graph is
  cancelled; an atomic write leaves nothing) and the task ends ``cancelled`` once stopped.
  ``tasks/list`` (an addition) lists the caller's tasks.
- Tasks are not tied to the connection: a client may disconnect and poll again later.
  Finished tasks are kept ``TTL_S`` seconds, at most ``MAX_TASKS`` (oldest finished first).
- Ownership: a task belongs to the identity that started it (the bearer token's client id
  over HTTP with auth; one owner without auth). Another identity gets "task not found"
  from every method and never sees it in a list.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from fastmcp.server.extensions import MethodBinding, ServerExtension
from fastmcp.utilities.tasks import TASKS_EXTENSION_ID
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, RequestParams, Result
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("sciio_mcp.tasks")

TASK_TOOLS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "compute_stats": lambda args: True,
    "convert": lambda args: True,
    "load_summary": lambda args: bool(args.get("exact_stats")),
}
TTL_S = 3600.0  # a finished task's result is kept this long
MAX_TASKS = 256
POLL_MS = 1000
_VERSIONS = frozenset(MODERN_PROTOCOL_VERSIONS)
Status = Literal["working", "input_required", "completed", "failed", "cancelled"]


# -- wire models (SEP-2663 shapes: flat task fields, camelCase) ----------------------------------

class _TaskFields(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(serialization_alias="taskId")
    status: Status
    created_at: str = Field(serialization_alias="createdAt")
    last_updated_at: str = Field(serialization_alias="lastUpdatedAt")
    ttl_ms: int | None = Field(serialization_alias="ttlMs")
    status_message: str | None = Field(default=None, serialization_alias="statusMessage")
    poll_interval_ms: int | None = Field(default=None, serialization_alias="pollIntervalMs")


class CreateTaskResult(_TaskFields):
    result_type: Literal["task"] = Field(default="task", serialization_alias="resultType")


class GetTaskResult(_TaskFields):
    result_type: Literal["complete"] = Field(default="complete", serialization_alias="resultType")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class ListTasksResult(BaseModel):
    result_type: Literal["complete"] = Field(default="complete", serialization_alias="resultType")
    tasks: list[dict[str, Any]]


class CompleteResult(Result):
    result_type: Literal["complete"] = Field(default="complete", serialization_alias="resultType")


class TaskParams(RequestParams):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(alias="taskId")


class ListParams(RequestParams):
    pass


# -- the task table ------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Task:
    id: str
    owner: str
    tool: str
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    status: Status = "working"
    message: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    finished_at: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    runner: asyncio.Task | None = None

    def wire(self, cls: type[_TaskFields] = GetTaskResult) -> _TaskFields:
        extra = {"result": self.result, "error": self.error} if cls is GetTaskResult else {}
        return cls(task_id=self.id, status=self.status, created_at=self.created, last_updated_at=self.updated,
                   ttl_ms=int(TTL_S * 1000), status_message=self.message, poll_interval_ms=POLL_MS, **extra)

    def progress(self, done: int, total: int | None, message: str | None = None) -> None:
        """Called from the work (any thread): the status message clients see in tasks/get."""
        text = f"{done}/{total}" if total else f"{done}"
        self.message = f"{text} {message}" if message else text
        self.updated = _now()


#: The task the current (background) call runs as; None for a blocking call.
current_task: ContextVar[Task | None] = ContextVar("sciio_task", default=None)


class TaskTable:
    def __init__(self) -> None:
        self._tasks: OrderedDict[str, Task] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, task: Task) -> None:
        with self._lock:
            self._purge()
            if len(self._tasks) >= MAX_TASKS:
                raise MCPError(code=INVALID_PARAMS, message=f"{MAX_TASKS} tasks are kept; wait for some to finish")
            self._tasks[task.id] = task

    def get(self, task_id: str, owner: str) -> Task:
        with self._lock:
            self._purge()
            task = self._tasks.get(task_id)
        if task is None or not secrets.compare_digest(task.owner, owner):
            raise MCPError(code=INVALID_PARAMS, message="task not found (unknown, expired, or not yours)")
        return task

    def of(self, owner: str) -> list[Task]:
        with self._lock:
            self._purge()
            return [t for t in self._tasks.values() if t.owner == owner]

    def running(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks.values() if t.finished_at is None]

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, t in self._tasks.items() if t.finished_at is not None and now - t.finished_at > TTL_S]:
            del self._tasks[key]
        finished = [k for k, t in self._tasks.items() if t.finished_at is not None]
        while len(self._tasks) >= MAX_TASKS and finished:
            del self._tasks[finished.pop(0)]


def owner_of_request() -> str:
    """The caller's identity: the bearer token's client id (HTTP with auth), else one shared owner."""
    from fastmcp.server.dependencies import get_access_token

    token = get_access_token()
    if token is None:
        return "-"
    return f"{token.client_id}"


# -- the extension ---------------------------------------------------------------------------------

class Tasks(ServerExtension):
    """The tasks extension: a tools/call interceptor, tasks/get, tasks/cancel, tasks/list."""

    identifier = TASKS_EXTENSION_ID

    def __init__(self) -> None:
        self.table = TaskTable()

    def methods(self) -> Sequence[MethodBinding]:
        return [MethodBinding("tasks/get", TaskParams, self._get, _VERSIONS),
                MethodBinding("tasks/cancel", TaskParams, self._cancel, _VERSIONS),
                MethodBinding("tasks/list", ListParams, self._list, _VERSIONS)]

    def _check(self, ctx: Any) -> None:
        if self.client_settings(ctx) is None:
            raise MCPError(code=-32021, message=f"the client did not declare {TASKS_EXTENSION_ID} for this request",
                           data={"requiredCapabilities": {"extensions": {TASKS_EXTENSION_ID: {}}}})

    async def _get(self, ctx: Any, params: TaskParams) -> GetTaskResult:
        self._check(ctx)
        return self.table.get(params.task_id, owner_of_request()).wire()

    async def _cancel(self, ctx: Any, params: TaskParams) -> CompleteResult:
        self._check(ctx)
        task = self.table.get(params.task_id, owner_of_request())
        if task.finished_at is None:
            task.cancel.set()
            task.message = "cancelling"
        return CompleteResult()

    async def _list(self, ctx: Any, params: ListParams) -> ListTasksResult:
        self._check(ctx)
        return ListTasksResult(tasks=[t.wire().model_dump(by_alias=True, mode="json", exclude_none=True,
                                                          exclude={"result", "error", "result_type"})
                                      for t in self.table.of(owner_of_request())])

    async def intercept_tool_call(self, params: Any, context: Any, call_next: Any) -> Any:
        wants = TASK_TOOLS.get(params.name)
        rc = context.request_context
        opted_in = (rc is not None and rc.protocol_version in _VERSIONS
                    and context.client_extension_settings(TASKS_EXTENSION_ID) is not None)
        if wants is None or not opted_in or not wants(params.arguments or {}):
            return await call_next()
        task = Task(id=secrets.token_urlsafe(24), owner=owner_of_request(), tool=params.name)
        self.table.add(task)
        task.runner = asyncio.get_running_loop().create_task(self._run(task, call_next))
        return task.wire(CreateTaskResult)

    async def _run(self, task: Task, call_next: Any) -> None:
        from server import guards

        state = guards.CallState(tool=task.tool)  # what streaming work polls (raise_if_cancelled)
        watcher = asyncio.get_running_loop().create_task(_forward_cancel(task, state))
        token_task, token_call = current_task.set(task), guards._current_call.set(state)
        try:
            outcome = await call_next()
            mcp_result = outcome.to_mcp_result() if hasattr(outcome, "to_mcp_result") else outcome
            if isinstance(mcp_result, tuple):
                from mcp_types import CallToolResult

                mcp_result = CallToolResult(content=mcp_result[0], structured_content=mcp_result[1])
            elif isinstance(mcp_result, list):
                from mcp_types import CallToolResult

                mcp_result = CallToolResult(content=mcp_result)
            task.result = mcp_result.model_dump(by_alias=True, mode="json", exclude_none=True)
            task.status = "failed" if task.result.get("isError") else "completed"
            if task.status == "failed":
                task.error = {"code": -32603, "message": _text(task.result)}
        except BaseException as exc:
            if task.cancel.is_set():
                task.status, task.message = "cancelled", "cancelled; nothing was written"
            else:
                task.status = "failed"
                task.error = {"code": -32603, "message": _error_text(task.tool, exc)}
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        finally:
            if task.cancel.is_set() and task.status != "completed":
                task.status = "cancelled"
            current_task.reset(token_task)
            guards._current_call.reset(token_call)
            watcher.cancel()
            task.updated = _now()
            task.finished_at = time.monotonic()

    @asynccontextmanager
    async def lifespan(self) -> Any:
        _wire_production(install=True)
        _progress_to_tasks(install=True)
        try:
            yield
        finally:  # running tasks go on: an in-memory client's session is a lifespan of its own
            _wire_production(install=False)
            if _holds == 0:
                _progress_to_tasks(install=False)


async def _forward_cancel(task: Task, state: Any) -> None:
    """tasks/cancel -> the call state the work polls (and the pooled HDF5 call, which kills its worker)."""
    while not task.cancel.is_set():
        await asyncio.sleep(0.05)
    state.cancel("cancelled by tasks/cancel")


def _progress_to_tasks(*, install: bool) -> None:
    """While a task runs, ``Context.report_progress`` of its call updates the task's status instead of
    notifying a request that already returned (the tool code stays the same for both ways)."""
    from fastmcp.server.context import Context

    original = getattr(Context.report_progress, "__wrapped_for_tasks__", None)
    if install and original is None:
        plain = Context.report_progress

        async def report_progress(self: Any, progress: float, total: float | None = None,
                                  message: str | None = None) -> None:
            task = current_task.get()
            if task is None:
                return await plain(self, progress, total, message)
            task.progress(int(progress), int(total) if total else None, message)
            return None

        report_progress.__wrapped_for_tasks__ = plain  # type: ignore[attr-defined]
        Context.report_progress = report_progress  # type: ignore[method-assign]
    elif not install and original is not None:
        Context.report_progress = original  # type: ignore[method-assign]


def _text(result: dict[str, Any]) -> str:
    return " ".join(c.get("text", "") for c in result.get("content", []) if isinstance(c, dict))[:1000]


def _error_text(tool: str, exc: BaseException) -> str:
    from fastmcp.exceptions import ToolError

    from server.errors import translate

    cause = exc.__cause__ if isinstance(exc, ToolError) and exc.__cause__ is not None else exc
    return str(translate(tool, cause))


# -- producing a task result on tools/call (the SDK only consumes claimed results) -----------------

_original: Any = None
_holds = 0


def _wire_production(*, install: bool) -> None:
    """Let a ``tools/call`` result tagged ``resultType: "task"`` through the SDK's result serializer.

    The SDK validates every modern ``tools/call`` result against ``CallToolResult |
    InputRequiredResult`` and would strip a task to nothing; the same wrap ``fastmcp-tasks``
    installs, reference-counted, inert for every other result.
    """
    from mcp_types import methods

    global _original, _holds
    if install:
        _holds += 1
        if _original is None:
            _original = methods.serialize_server_result

            def serialize(method: str, version: str, data: Any, **kwargs: Any) -> Any:
                if (not kwargs and method == "tools/call" and version in _VERSIONS and isinstance(data, dict)
                        and data.get("resultType") == "task"):
                    return dict(data)
                return _original(method, version, data, **kwargs)

            methods.serialize_server_result = serialize
        return
    _holds = max(0, _holds - 1)
    if _holds == 0 and _original is not None:
        methods.serialize_server_result = _original
        _original = None
