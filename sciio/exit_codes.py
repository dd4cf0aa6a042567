"""The exit status of every outcome of a ``sciio`` command: one number per family of error codes.

Scripts branch on the number; the code and hint printed on stderr say the rest. A code missing from
the table (a plugin's own) takes its parent class's family, and ``IO_ERROR`` (10) when it has none.
"""

from __future__ import annotations

OK = 0
UNEXPECTED = 1
USAGE = 2
OTHER = 10
INTERRUPTED = 130

#: (exit status, what it means, the error codes that end with it)
FAMILIES: list[tuple[int, str, tuple[str, ...]]] = [
    (OK, "success", ()),
    (UNEXPECTED, "unexpected failure (a bug: rerun with --debug for the traceback)", ("INTERNAL_ERROR",)),
    (USAGE, "bad command line or argument", ("INVALID_ARGUMENT",)),
    (3, "not found", ("FILE_NOT_FOUND", "KEY_NOT_FOUND", "RESULT_NOT_FOUND")),
    (4, "refused by the sandbox or permissions",
     ("PATH_OUTSIDE_ROOT", "PERMISSION_DENIED", "READ_ONLY", "UNSAFE_FORMAT")),
    (5, "format cannot do it", ("FORMAT_UNKNOWN", "UNSUPPORTED_OPERATION", "MISSING_DEPENDENCY", "NOT_A_FILE",
                                "CANNOT_STREAM")),
    (6, "bad or damaged data", ("CORRUPT_FILE", "CORRUPT_ENTRY", "INVALID_DATA", "CONFIG_CONFLICT", "RAGGED_ARRAYS",
                                "UNDECLARED_ATTRIBUTE", "NOT_A_STORE", "SCHEME_MISMATCH", "HASH_COLLISION",
                                "INTERRUPTED_WRITE")),
    (7, "request too large or malformed", ("INVALID_SELECTION", "TOO_LARGE", "NAME_TOO_LONG")),
    (8, "write refused or failed", ("EXISTS", "ENTRY_EXISTS", "WRITE_FAILED", "LEDGER_ERROR")),
    (9, "busy, timed out, cancelled, changed while read, or a remote store or cluster failed (retry later)",
     ("TASK_BUSY", "STORE_BUSY", "TIMEOUT", "WORKER_LOST", "CANCELLED", "REMOTE_ERROR", "FILE_CHANGED",
      "CLUSTER_UNAVAILABLE", "COMPUTE_FAILED")),
    (OTHER, "any other coded error (operating system refusals)", ("IO_ERROR",)),
    (11, "sciio verify: the file changed since its last recorded write (MODIFIED)", ()),
    (12, "sciio verify: no write of the file was ever recorded (UNKNOWN)", ()),
    (INTERRUPTED, "interrupted (Ctrl-C)", ()),
]

BY_CODE: dict[str, int] = {code: status for status, _, codes in FAMILIES for code in codes}
VERIFY_STATUS = {"OK": OK, "MODIFIED": 11, "UNKNOWN": 12}


def status_of(exc: BaseException) -> int:
    """The exit status for a coded error: its code's family, else its nearest parent's (``IO_ERROR`` at last)."""
    own = getattr(exc, "code", None)
    if isinstance(own, str) and own in BY_CODE:
        return BY_CODE[own]
    for cls in type(exc).__mro__:
        code = cls.__dict__.get("code")
        if isinstance(code, str) and code in BY_CODE:
            return BY_CODE[code]
    return OTHER


def table() -> str:
    """The table as plain text (``sciio codes`` and the end of ``sciio --help``)."""
    lines = ["exit status:"]
    for status, meaning, codes in FAMILIES:
        lines.append(f"  {status:>3}  {meaning}" + (f": {', '.join(codes)}" if codes else ""))
    return "\n".join(lines)
