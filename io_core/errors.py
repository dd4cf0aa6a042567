"""One error tree for everything io_core refuses or cannot do.

Every subclass carries a stable string ``code`` (clients and tests match on it, so
codes never change once released) and a ``hint`` telling the caller what to do next.
"""

from __future__ import annotations

from typing import ClassVar


class IOCoreError(Exception):
    """Root of all io_core errors: ``code`` is stable, ``hint`` is actionable."""

    code: ClassVar[str] = "IO_ERROR"
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.path = path

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" + (f" Hint: {self.hint}" if self.hint else "")


class FormatUnknownError(IOCoreError):
    code = "FORMAT_UNKNOWN"
    default_hint = "Pass format=... explicitly, or call list_formats to see what is supported."


class MissingDependencyError(IOCoreError):
    code = "MISSING_DEPENDENCY"


class PathOutsideRootError(IOCoreError):
    code = "PATH_OUTSIDE_ROOT"
    default_hint = "Use a path inside one of the configured roots (see list_roots)."


class FileNotFoundIOError(IOCoreError):
    code = "FILE_NOT_FOUND"
    default_hint = "Check the path; relative paths resolve under the first root (see list_roots)."


class CorruptFileError(IOCoreError):
    code = "CORRUPT_FILE"
    default_hint = "The file is empty, truncated or not in the format its name says."


class InvalidSelectionError(IOCoreError):
    code = "INVALID_SELECTION"


class KeyNotFoundError(IOCoreError):
    code = "KEY_NOT_FOUND"
    default_hint = "Call load_summary without a key to list the keys the file holds."


class TooLargeError(IOCoreError):
    code = "TOO_LARGE"


class UnsafeFormatError(IOCoreError):
    code = "UNSAFE_FORMAT"
    default_hint = (
        "Loading it would run code stored in the file (pickle). "
        "Start the server with --allow-pickle only if you trust the file."
    )


class ExistsError(IOCoreError):
    code = "EXISTS"
    default_hint = "Pass overwrite=True to replace it, or choose another path."


class ReadOnlyError(IOCoreError):
    code = "READ_ONLY"
    default_hint = "The server runs with --read-only; writing is disabled."


class InvalidDataError(IOCoreError):
    code = "INVALID_DATA"


class UnsupportedOperationError(IOCoreError):
    code = "UNSUPPORTED_OPERATION"
    default_hint = "Call list_formats to see which operations each format supports."


class NotAFileError(IOCoreError):
    code = "NOT_A_FILE"
    default_hint = "Name a file, not a folder."


class WriteFailedError(IOCoreError):
    code = "WRITE_FAILED"
    default_hint = "Check free space and permissions of the target folder; the old file is unchanged."


class ConfigConflictError(InvalidDataError):
    code = "CONFIG_CONFLICT"
    default_hint = (
        "Config keys are case-insensitive: rename or remove one of the two keys (or files) "
        "named in the message."
    )


class LedgerError(IOCoreError):
    code = "LEDGER_ERROR"
    default_hint = (
        "The provenance ledger (.sciio/ledger.sqlite in the first root) cannot be read; saving still works. "
        "Move that file aside to start a new ledger."
    )
