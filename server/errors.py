"""The one mapping from failures to what an MCP client sees: a coded, bounded ``ToolError``.

An ``IOCoreError`` becomes a ``ToolError`` whose text starts with its stable code, then
the message and the hint. Failures that still mean something (``ENOSPC``, ``EACCES``,
``ENAMETOOLONG``, recursion and memory limits, see ``io_core.errors.coded``) get their
code too. Anything else is a bug: logged to stderr with its traceback (ERROR) and sent
as ``INTERNAL_ERROR`` without internals. Refusals are logged at INFO with their code.
Every text is cut to ``MAX_ERROR_BYTES``, below the smallest response budget.
"""

import logging
from typing import Any

from fastmcp.exceptions import ToolError

from io_core.errors import IOCoreError, bound_text, coded
from server import schema_size, text_block, warmup

log = logging.getLogger("sciio_mcp")

#: Largest error text in UTF-8 bytes: under the smallest ``max_response_bytes`` (1024).
MAX_ERROR_BYTES = 1000
_HINT = " Hint: "
INTERNAL = (
    "INTERNAL_ERROR: the server hit an unexpected error; details are in its log. "
    "Hint: retry with different arguments or report the log."
)


def _cut_bytes(text: str, limit: int) -> str:
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: max(0, limit - 3)].decode(errors="ignore") + "…"


def error_text(code: str, message: str, hint: str = "") -> str:
    """``CODE: message Hint: hint`` within ``MAX_ERROR_BYTES``; the message keeps at least half."""
    head = f"{code}: {bound_text(message)}"
    tail = _HINT + bound_text(hint) if hint else ""
    if len(head.encode()) + len(tail.encode()) <= MAX_ERROR_BYTES:
        return head + tail
    head = _cut_bytes(head, max(MAX_ERROR_BYTES // 2, MAX_ERROR_BYTES - len(tail.encode())))
    return head + _cut_bytes(tail, MAX_ERROR_BYTES - len(head.encode()))


def coded_tool_error(code: str, text: str, *, level: int = logging.INFO) -> ToolError:
    """A ToolError carrying its ``code`` (read by the access log) that FastMCP logs at ``level``.

    FastMCP logs every ToolError a tool raises at the error's ``log_level`` (ERROR by default):
    a refusal is an answer, not a failure, so it is logged at INFO.
    """
    err = ToolError(text, log_level=level)
    err.code = code  # type: ignore[attr-defined]
    return err


def to_tool_error(exc: IOCoreError) -> ToolError:
    return coded_tool_error(exc.code, error_text(exc.code, exc.message, exc.hint))


def _bounded(exc: ToolError) -> ToolError:
    text = str(exc)
    if len(text.encode()) <= MAX_ERROR_BYTES:
        return exc
    return ToolError(_cut_bytes(bound_text(text, MAX_ERROR_BYTES), MAX_ERROR_BYTES))


def translate(name: str, exc: BaseException) -> ToolError:
    """What the client sees for ``exc`` raised by tool ``name`` (also logs it)."""
    if isinstance(exc, ToolError):
        return _bounded(exc)
    known = coded(exc)
    if known is not None:
        log.info("tool %s refused: %s", name, known.code)
        return to_tool_error(known)
    log.error("tool %s failed unexpectedly", name, exc_info=exc)
    return coded_tool_error("INTERNAL_ERROR", INTERNAL, level=logging.ERROR)


class ErrorTranslation:
    """Middleware: every tool's and resource's failure becomes the coded, bounded error above, in one place.

    FastMCP wraps what a tool or resource function raises into ``ToolError("Error calling
    tool ...")`` / ``ResourceError`` with the original as ``__cause__`` (and masks its text);
    here the original is translated, whatever the tool author remembered. A ``ToolError`` a
    tool raised itself (already coded) passes through, cut to ``MAX_ERROR_BYTES``.
    """

    def __new__(cls) -> Any:
        from fastmcp.exceptions import ResourceError
        from fastmcp.server.middleware import Middleware

        class _ErrorTranslation(Middleware):
            async def on_call_tool(self, context: Any, call_next: Any) -> Any:
                try:
                    return text_block.compact(await call_next(context))  # the text block: facts as lines, not JSON again
                except ToolError as exc:
                    cause = exc.__cause__
                    if cause is None or isinstance(cause, ToolError):
                        raise _bounded(exc) from None
                    raise translate(context.message.name, cause) from None

            async def on_list_tools(self, context: Any, call_next: Any) -> Any:
                warmup.client_ready()  # a client lists the tools once its handshake is over: background warm-up may begin
                return [schema_size.lean(tool) for tool in await call_next(context)]  # no generated title, empty _meta

            async def on_read_resource(self, context: Any, call_next: Any) -> Any:
                try:
                    return await call_next(context)
                except ResourceError as exc:
                    cause = exc.__cause__
                    if cause is None or isinstance(cause, ResourceError):
                        raise
                    translated = translate(str(context.message.uri)[:120], cause)
                    raise ResourceError(str(translated)) from None

        return _ErrorTranslation()
