"""The one mapping from io_core errors to what an MCP client sees.

An ``IOCoreError`` becomes a ``ToolError`` whose text starts with its stable code,
then the message and the hint. Anything else is logged to stderr with its traceback
and reaches the client as ``INTERNAL_ERROR`` without internals.
"""

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastmcp.exceptions import ToolError

from io_core.errors import IOCoreError

log = logging.getLogger("sciio_mcp")
F = TypeVar("F", bound=Callable[..., Any])


def to_tool_error(exc: IOCoreError) -> ToolError:
    text = f"{exc.code}: {exc.message}"
    if exc.hint:
        text += f" Hint: {exc.hint}"
    return ToolError(text)


def _translate(name: str, exc: BaseException) -> ToolError:
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, IOCoreError):
        log.info("tool %s refused: %s", name, exc.code)
        return to_tool_error(exc)
    log.error("tool %s failed unexpectedly", name, exc_info=exc)
    return ToolError(
        "INTERNAL_ERROR: the server hit an unexpected error; details are in its log. "
        "Hint: retry with different arguments or report the log."
    )


def tool_errors(func: F) -> F:
    """Decorate a tool (plain or async) so every failure reaches the client as a coded ToolError."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except Exception as exc:
                raise _translate(func.__name__, exc) from None

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            raise _translate(func.__name__, exc) from None

    return wrapper  # type: ignore[return-value]
