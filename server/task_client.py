"""The client half of the tasks extension, for FastMCP clients (tests, scripts, bench).

``TasksClient()`` passed as ``Client(..., extensions=[TasksClient()])`` declares the
``io.modelcontextprotocol/tasks`` extension, so the server may run long calls as tasks; a
plain ``call_tool`` then polls ``tasks/get`` to the result transparently. ``start`` returns
the task at once instead (``get`` / ``cancel`` / ``tasks`` drive it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

import mcp_types
from fastmcp.utilities.tasks import TASKS_EXTENSION_ID
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp_types import CallToolResult, RequestParams, Result
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict, Field

TERMINAL = frozenset({"completed", "failed", "cancelled"})


class TaskInfo(Result):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(alias="taskId")
    status: str
    created_at: str = Field(alias="createdAt")
    last_updated_at: str = Field(alias="lastUpdatedAt")
    ttl_ms: int | None = Field(default=None, alias="ttlMs")
    status_message: str | None = Field(default=None, alias="statusMessage")
    poll_interval_ms: int | None = Field(default=None, alias="pollIntervalMs")


class CreatedTask(TaskInfo):
    result_type: Literal["task"] = Field(alias="resultType")


class TaskState(TaskInfo):
    result_type: Literal["complete"] = Field(default="complete", alias="resultType")
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class TaskList(Result):
    tasks: list[dict[str, Any]]


class _IdParams(RequestParams):
    model_config = ConfigDict(populate_by_name=True)

    task_id: str = Field(serialization_alias="taskId")


class _Get(mcp_types.Request[_IdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    params: _IdParams


class _Cancel(mcp_types.Request[_IdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    params: _IdParams


class _List(mcp_types.Request[RequestParams, Literal["tasks/list"]]):
    method: Literal["tasks/list"] = "tasks/list"
    params: RequestParams | None = None


class TasksClient(ClientExtension):
    identifier = TASKS_EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {}

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return (ResultClaim(result_type="task", model=CreatedTask, resolve=self._resolve,
                            protocol_versions=frozenset(MODERN_PROTOCOL_VERSIONS)),)

    async def _resolve(self, created: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        final = await wait(ctx.session, created.task_id)
        if final.status == "completed":
            return CallToolResult.model_validate(final.result or {})
        text = (final.error or {}).get("message") or final.status_message or f"task {final.status}"
        return CallToolResult(content=[mcp_types.TextContent(type="text", text=text)], is_error=True)


async def start(client: Any, name: str, arguments: dict[str, Any]) -> CreatedTask | CallToolResult:
    """Call ``name`` and return its task at once (or the result, when the server ran it inline)."""
    return await client.session.call_tool(name=name, arguments=arguments, allow_claimed=True)


async def get(session: Any, task_id: str) -> TaskState:
    return await session.send_request(_Get(params=_IdParams(task_id=task_id)), TaskState)


async def cancel(session: Any, task_id: str) -> None:
    await session.send_request(_Cancel(params=_IdParams(task_id=task_id)), Result)


async def tasks(session: Any) -> list[dict[str, Any]]:
    return (await session.send_request(_List(params=RequestParams()), TaskList)).tasks


async def wait(session: Any, task_id: str, *, poll: float = 0.05, timeout: float | None = None) -> TaskState:
    """Poll ``tasks/get`` until the task is completed, failed or cancelled."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        state = await get(session, task_id)
        if state.status in TERMINAL:
            return state
        if deadline is not None and loop.time() > deadline:
            raise TimeoutError(f"task {task_id} still {state.status} after {timeout} s")
        await asyncio.sleep(poll)
