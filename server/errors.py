"""The one mapping from io_core errors to what an MCP client sees.

An ``IOCoreError`` becomes a ``ToolError`` whose text starts with its stable code,
then the message and the hint. Anything else is logged to stderr with its traceback
and reaches the client as ``INTERNAL_ERROR`` without internals.
"""

import functools
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


def tool_errors(func: F) -> F:
    """Decorate a tool so every failure reaches the client as a coded ToolError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except IOCoreError as exc:
            log.info("tool %s refused: %s", func.__name__, exc.code)
            raise to_tool_error(exc) from None
        except ToolError:
            raise
        except Exception:
            log.exception("tool %s failed unexpectedly", func.__name__)
            raise ToolError(
                "INTERNAL_ERROR: the server hit an unexpected error; details are in its log. "
                "Hint: retry with different arguments or report the log."
            ) from None

    return wrapper  # type: ignore[return-value]
