"""Per-call guards, outermost first: access log, rate limit, write permission, time limit.

(Also ``CachedDereference``, which replaces FastMCP's per-list schema dereferencing.)

* ``AccessLog``: one JSON-ready log record per tool call (tool, duration_ms, outcome,
  code, client identity) on the ``sciio_mcp.access`` logger; never arguments or results.
* ``RateLimit``: a token bucket per client identity (``server.auth.current_identity``),
  counting only calls that do work (tools/call, resources/read, prompts/get), not
  initialize or the list requests; the local stdio client is not limited.
* ``WriteGuard``: a read-only caller cannot call a writing tool, and does not see one in
  tools/list. A tool writes unless its annotations say ``readOnlyHint: true`` (or it is
  tagged ``"write"``), so new writing tools are covered without a list to keep.
* ``CallTimeout``: every call gets ``call_timeout`` seconds. FastMCP waits for a sync
  tool's worker thread even when cancelled, so the call runs in its own task and the
  client gets ``TIMEOUT`` (or its cancellation) at once; the worker is told to stop
  through ``current_call()``, which streaming code polls via ``raise_if_cancelled`` or
  ``cancel_aware_progress``.

All errors are ``ToolError``s whose text starts with a stable code, like io_core's.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastmcp.exceptions import ToolError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext
from fastmcp.tools import Tool

from io_core.errors import IOCoreError
from io_core.remote import stats as remote_stats
from server import lifecycle
from server.auth import current_identity

access_log = logging.getLogger("sciio_mcp.access")
log = logging.getLogger("sciio_mcp")
_CODE = re.compile(r"^([A-Z][A-Z0-9_]+):")


# -- cancellation that reaches the worker thread ---------------------------------------------

class CallCancelled(IOCoreError):
    code = "CANCELLED"
    default_hint = "The call was cancelled or ran out of time; nothing was returned."


@dataclass
class CallState:
    """Shared by the event loop and the tool's worker thread (contextvars follow the call)."""

    tool: str
    cancelled: threading.Event = field(default_factory=threading.Event)
    reason: str = ""

    def cancel(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.cancelled.set()


_current_call: contextvars.ContextVar[CallState | None] = contextvars.ContextVar("sciio_call", default=None)


def current_call() -> CallState | None:
    return _current_call.get()


def raise_if_cancelled() -> None:
    """Call between blocks of streaming work: stops it once the client cancelled or timed out."""
    state = _current_call.get()
    if state is not None and state.cancelled.is_set():
        raise CallCancelled(f"{state.tool} stopped: {state.reason}")


def cancel_aware_progress(progress: Callable[[int, int], None] | None = None) -> Callable[[int, int], None]:
    """A progress callback for io_core's streamed work (e.g. ``exact_stats``) that stops it on cancel."""

    def report(done: int, total: int) -> None:
        raise_if_cancelled()
        if progress is not None:
            progress(done, total)

    return report


# -- helpers ------------------------------------------------------------------------------------

def writes(tool: Tool) -> bool:
    """A tool writes unless it says otherwise: readOnlyHint must be exactly True."""
    if "write" in (tool.tags or set()):
        return True
    annotations = tool.annotations
    return not (annotations is not None and annotations.read_only_hint is True)


async def _lookup_tool(context: MiddlewareContext, name: str) -> Tool | None:
    ctx = context.fastmcp_context
    if ctx is None:
        return None
    try:
        return await ctx.fastmcp.get_tool(name)
    except Exception:  # noqa: BLE001 - unknown tool: FastMCP reports it itself
        return None


def error_code(exc: BaseException) -> str:
    code = getattr(exc, "code", None)  # set by server.errors / server.validation on the ToolErrors they make
    if isinstance(code, str):
        return code
    if isinstance(exc, ToolError):  # a ToolError made elsewhere: its text starts with the code
        match = _CODE.match(str(exc))
        return match.group(1) if match else "TOOL_ERROR"
    if isinstance(exc, IOCoreError):
        return exc.code
    return type(exc).__name__


# -- the middleware -----------------------------------------------------------------------------

class AccessLog(Middleware):
    async def on_call_tool(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        started = time.perf_counter()
        outcome, code = "ok", None
        remote = remote_stats.Counter()
        token = remote_stats.bind(remote)  # requests and bytes this call fetched from object stores
        try:
            return await call_next(context)
        except asyncio.CancelledError:
            outcome, code = "cancelled", "CANCELLED"
            raise
        except BaseException as exc:
            outcome, code = "error", error_code(exc)
            raise
        finally:
            record = {
                "event": "tool_call",
                "tool": context.message.name,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "outcome": outcome,
                "code": code,
                "client": current_identity().key,
            }
            remote_stats.unbind(token)
            if remote.requests:
                record.update(remote_requests=remote.requests, remote_bytes=remote.bytes)
            access_log.info("tool_call %s %s", record["tool"], outcome, extra=record)


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, capacity: float, now: float) -> None:
        self.tokens = capacity
        self.stamp = now


class RateLimit(Middleware):
    """Token bucket per identity: ``rate`` calls per second, bursts of up to ``burst``."""

    MAX_IDLE_BUCKETS = 4096

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self.rate = rate
        self.burst = float(burst if burst else max(1, int(rate * 2)))
        self.buckets: dict[str, _Bucket] = {}

    def _take(self, key: str) -> float:
        """0 when admitted, else the seconds until one call would be."""
        now = time.monotonic()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.MAX_IDLE_BUCKETS:
                self._prune(now)
            bucket = self.buckets[key] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key in [k for k, b in self.buckets.items() if now - b.stamp >= full_after]:
            del self.buckets[key]  # a bucket that has refilled is the same as a new one

    async def _guard(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        who = current_identity()
        if not who.local:
            wait = self._take(who.key)
            if wait:
                raise ToolError(
                    f"RATE_LIMITED: more than {self.rate:g} calls per second (bursts of {self.burst:g}) "
                    f"from this client. Hint: retry after {wait:.2f} s."
                )
        return await call_next(context)

    on_call_tool = _guard
    on_read_resource = _guard
    on_get_prompt = _guard


class WriteGuard(Middleware):
    async def on_call_tool(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        who = current_identity()
        if not who.can_write:
            tool = await _lookup_tool(context, context.message.name)
            if tool is not None and writes(tool):
                raise ToolError(
                    f"READ_ONLY: {tool.name!r} writes files and this client's token is read-only. "
                    "Hint: use the read tools, or a token that may write (sciio:write)."
                )
        return await call_next(context)

    async def on_list_tools(self, context: MiddlewareContext, call_next: CallNext) -> Sequence[Tool]:
        tools = await call_next(context)
        if current_identity().can_write:
            return tools
        return [t for t in tools if not writes(t)]


def _drain(task: asyncio.Future) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" noise


class CallTimeout(Middleware):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def on_call_tool(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        state = CallState(tool=context.message.name)
        reset = _current_call.set(state)
        try:
            task = asyncio.ensure_future(call_next(context))  # copies the context, with the state
        finally:
            _current_call.reset(reset)
        lifecycle.call_started(state)  # stopped on SIGINT/SIGTERM; background work waits while calls run
        task.add_done_callback(lambda _: lifecycle.call_ended(state))
        try:
            done, _ = await asyncio.wait({task}, timeout=self.seconds)
        except BaseException:  # the client cancelled (or the server is stopping)
            state.cancel("cancelled by the client")
            task.cancel()
            task.add_done_callback(_drain)
            raise
        if not done:
            state.cancel(f"time limit of {self.seconds:g} s")
            task.cancel()
            task.add_done_callback(_drain)
            log.warning("tool %s passed the time limit of %g s; its worker was told to stop", state.tool, self.seconds)
            raise ToolError(
                f"TIMEOUT: {state.tool!r} did not finish within {self.seconds:g} s (the server's --call-timeout). "
                "Hint: ask for less (a key, a smaller selection, a narrower pattern), or ask the operator to raise the limit."
            )
        return task.result()


class CachedDereference(Middleware):
    """FastMCP's schema dereferencing (inline ``$ref`` for clients that cannot follow it), memoised, and
    compacted (server.schema_size: arguments lose ``default: null``; output schemas keep shared ``$defs``).

    The stock middleware re-derives every tool's schemas on every tools/list (~13 ms for
    our tools), and over modern streamable HTTP the MCP SDK runs a whole tools/list for
    every tools/call with arguments (to check ``Mcp-Param-*`` headers against the input
    schema), so it was most of the server's CPU per call. Schemas are fixed once a tool
    is registered: derive them once.
    """

    MAX_ENTRIES = 1024

    def __init__(self) -> None:
        self._memo: dict[int, tuple[dict, dict]] = {}

    def _deref(self, schema: dict | None) -> dict | None:
        if schema is None:
            return None
        hit = self._memo.get(id(schema))
        if hit is not None and hit[0] is schema:  # the source is kept alive, so its id is not reused
            return hit[1]
        from fastmcp.utilities.json_schema import dereference_refs

        from server.schema_size import compact_input

        out = compact_input(dereference_refs(schema) if "$defs" in schema or "$ref" in json.dumps(schema) else schema)
        if len(self._memo) >= self.MAX_ENTRIES:
            self._memo.clear()
        self._memo[id(schema)] = (schema, out)
        return out

    def _output(self, tool: Tool) -> dict | None:
        """Output schemas keep their ``$defs`` and lose what carries no fact (server.schema_size)."""
        if tool.output_schema is None:
            return None
        hit = self._memo.get(id(tool.output_schema))
        if hit is not None and hit[0] is tool.output_schema:
            return hit[1]
        from server.schema_size import output_schema

        out = output_schema(tool)
        self._memo[id(tool.output_schema)] = (tool.output_schema, out)
        return out

    async def on_list_tools(self, context: MiddlewareContext, call_next: CallNext) -> Sequence[Tool]:
        listed = []
        for tool in await call_next(context):
            params, output = self._deref(tool.parameters), self._output(tool)
            if params is not tool.parameters or output is not tool.output_schema:
                tool = tool.model_copy(update={"parameters": params, "output_schema": output})
            listed.append(tool)
        return listed

    async def on_list_resource_templates(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        listed = []
        for template in await call_next(context):
            params = self._deref(template.parameters)
            listed.append(template if params is template.parameters else template.model_copy(update={"parameters": params}))
        return listed


def install(mcp: Any, settings: Any) -> None:
    """Add the guards in order (the first added is the outermost)."""
    from fastmcp.server.middleware.dereference import DereferenceRefsMiddleware

    mcp.middleware[:] = [CachedDereference() if isinstance(m, DereferenceRefsMiddleware) else m for m in mcp.middleware]
    mcp.add_middleware(AccessLog())
    if settings.rate_limit > 0:
        mcp.add_middleware(RateLimit(settings.rate_limit, settings.rate_burst))
    mcp.add_middleware(WriteGuard())
    mcp.add_middleware(CallTimeout(settings.call_timeout))
