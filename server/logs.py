"""Logging to stderr only: plain text, or one JSON object per line.

A JSON line holds ``ts``, ``level``, ``logger``, ``msg`` and the record's extra fields
(the access log adds ``event``, ``tool``, ``duration_ms``, ``outcome``, ``code``,
``client``). Nothing is ever written to stdout, which belongs to the stdio protocol.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class FastMCPDuplicates(logging.Filter):
    """FastMCP's own line about a refused call goes to DEBUG: ours already says it at INFO, with the code.

    FastMCP logs "Invalid arguments for tool" at WARNING (server.validation logs INVALID_ARGUMENT)
    and "Error calling tool" at the ToolError's level (server.errors logs the refusal, or the
    unexpected exception with its traceback at ERROR). Anything at ERROR and above passes unchanged.
    """

    PREFIXES = ("Invalid arguments for tool", "Error calling tool", "Error reading resource")

    def filter(self, record: logging.LogRecord) -> bool:
        # server.errors.ErrorTranslation logs every failure once (a refusal at INFO, a bug at ERROR with its
        # traceback), so FastMCP's own line about it is a duplicate at any level
        if (record.name.startswith("fastmcp.")
                and isinstance(record.msg, str) and record.msg.startswith(self.PREFIXES)):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure(level: str, fmt: str, *, access: bool) -> None:
    """Root handler on stderr; the access and lifecycle logs at INFO when ``access`` (HTTP serving)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(FastMCPDuplicates())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    fastmcp_logger = logging.getLogger("fastmcp")  # FastMCP installs its own rich handler: use ours
    for old in list(fastmcp_logger.handlers):
        fastmcp_logger.removeHandler(old)
    fastmcp_logger.propagate = True
    fastmcp_logger.setLevel(logging.NOTSET)
    if access:
        logging.getLogger("sciio_mcp.access").setLevel(logging.INFO)
        logging.getLogger("sciio_mcp.lifecycle").setLevel(logging.INFO)
