"""One error tree for everything io_core refuses or cannot do.

Every subclass carries a stable string ``code`` (clients and tests match on it, so
codes never change once released) and a ``hint`` telling the caller what to do next.

Messages echo the caller's arguments (paths, keys, formats, selections), which may be
huge. They are bounded here, once, when an error is built (and when its hint is
replaced): every quoted text or unbroken run longer than ``ECHO_CHARS`` is cut to that
prefix plus ``…``, and message, hint and path are capped as a whole, so no error can
outgrow a response. ``coded`` turns the few non-io_core failures that still carry a
meaning (``OSError`` errnos such as ``ENOSPC``, ``RecursionError``, ``MemoryError``) into
coded errors; the server applies it as its last resort.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
from collections.abc import Callable, Iterable
from typing import ClassVar

#: Longest echo of one argument (a quoted text or an unbroken run) inside a message.
ECHO_CHARS = 120
#: Longest message and hint, in characters, after the echoes are cut.
MAX_MESSAGE_CHARS = 800
MAX_HINT_CHARS = 600

# A Python repr of a string (not an apostrophe inside a word), or a run without spaces and quotes.
_TOKEN = re.compile(r"""(?<!\w)'(?:[^'\\\n]|\\.)*'|(?<!\w)"(?:[^"\\\n]|\\.)*"|[^\s'"]+""")


def shorten(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` cut to ``limit`` characters plus ``…`` when longer (for echoing one argument)."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def echo(value: object, limit: int = ECHO_CHARS) -> str:
    """``repr(value)`` bounded to about ``limit`` characters: the way to quote an argument."""
    if not isinstance(value, str):
        return shorten(repr(value), limit)
    if len(value) <= limit:
        return repr(value)
    quoted = repr(value[:limit])
    return quoted[:-1] + "…" + quoted[-1]


def _cut_token(match: re.Match[str]) -> str:
    token = match.group()
    if len(token) <= ECHO_CHARS + 2:
        return token
    if token[0] in "'\"" and token[-1] == token[0]:
        return token[: ECHO_CHARS + 1] + "…" + token[0]
    return token[:ECHO_CHARS] + "…"


def bound_text(text: object, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Every echoed argument in ``text`` cut to ``ECHO_CHARS``, then the whole to ``limit`` characters.

    Tokens are cut as they are found and the scan stops once ``limit`` is reached, so a
    megabyte-long message costs no more than a short one.
    """
    text = str(text)
    if len(text) <= ECHO_CHARS:
        return text
    out: list[str] = []
    size = pos = 0
    for match in _TOKEN.finditer(text):
        piece = shorten(text[pos : match.start()], ECHO_CHARS) + _cut_token(match)  # the gap: spaces, lone quotes
        out.append(piece)
        size += len(piece)
        pos = match.end()
        if size > limit:
            break
    else:
        out.append(shorten(text[pos:], ECHO_CHARS))
    return shorten("".join(out), limit)


class IOCoreError(Exception):
    """Root of all io_core errors: ``code`` is stable, ``hint`` is actionable, both bounded."""

    code: ClassVar[str] = "IO_ERROR"
    default_hint: ClassVar[str] = ""

    def __init__(self, message: str, *, hint: str | None = None, path: str | None = None) -> None:
        self.message = message
        super().__init__(self.message)
        self.hint = hint if hint is not None else self.default_hint
        self.path = None if path is None else shorten(str(path), 4 * ECHO_CHARS)

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        self._message = bound_text(value, MAX_MESSAGE_CHARS)

    @property
    def hint(self) -> str:
        return self._hint

    @hint.setter
    def hint(self, value: str | None) -> None:
        self._hint = bound_text(value, MAX_HINT_CHARS) if value else ""

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


class InvalidArgumentError(IOCoreError):
    code = "INVALID_ARGUMENT"
    default_hint = "Check the tool's input schema (tools/list) for each argument's type and range."


class KeyNotFoundError(IOCoreError):
    """A key (HDF5/Zarr path, column, channel, member, document path) that the file does not hold.

    ``with_candidates`` / ``with_paths`` name up to 3 existing keys nearest to it in the hint
    (``raise KeyNotFoundError(...).with_candidates(key, names)``); ``candidates`` keeps them.
    """

    code = "KEY_NOT_FOUND"
    default_hint = "Call load_summary without a key to list the keys the file holds."
    candidates: tuple[str, ...] = ()

    def with_candidates(self, key: object, names: Iterable[object], *, prefix: str | None = None) -> KeyNotFoundError:
        """Name the existing ``names`` nearest to ``key`` (each as ``prefix/name`` when a prefix is given)."""
        near = nearest_keys(key, names)
        if prefix is not None:
            near = [f"{prefix.rstrip('/')}/{name}" for name in near]
        return self.suggest(near)

    def with_paths(self, key: str, members: Callable[[str], Iterable[str] | None]) -> KeyNotFoundError:
        """Name the existing paths nearest to the ``/``-separated ``key`` (see ``nearest_paths``)."""
        return self.suggest(nearest_paths(key, members))

    def suggest(self, near: Iterable[str]) -> KeyNotFoundError:
        """Put ``near`` (existing keys, closest first) at the front of the hint."""
        self.candidates = tuple(near)[:NEAR_KEYS]
        if self.candidates:
            names = ", ".join(echo(name, NEAR_KEY_CHARS) for name in self.candidates)
            self.hint = f"Did you mean {names}? {self.hint}".strip()
        return self


#: Keys named by a KEY_NOT_FOUND, the characters each may echo, and how many existing keys are compared.
NEAR_KEYS = 3
NEAR_KEY_CHARS = 60
MAX_CANDIDATES = 20_000


def nearest_keys(key: object, names: Iterable[object], n: int = NEAR_KEYS) -> list[str]:
    """Up to ``n`` of ``names`` closest to ``key`` (difflib ratio >= 0.6, case-insensitive), closest first.

    At most ``MAX_CANDIDATES`` names are compared, so a group of a million members costs a bounded time.
    """
    import difflib

    wanted = str(key).lower()[: 4 * ECHO_CHARS]
    by_lower: dict[str, str] = {}
    for name in itertools.islice(names, MAX_CANDIDATES):
        text = str(name)
        by_lower.setdefault(text.lower(), text)
    if not wanted or not by_lower:
        return []
    return [by_lower[m] for m in difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=0.6)]


def nearest_paths(key: str, members: Callable[[str], Iterable[str] | None], n: int = NEAR_KEYS) -> list[str]:
    """Existing paths nearest to the ``/``-separated ``key``: its leading parts are followed while they
    exist, and the members nearest to the first part that does not are named (as full paths).

    ``members(path)`` lists the names inside the group at ``path`` ('' is the root), or None when
    there is none (not a group, or not to be entered: a link).
    """
    parts = [p for p in str(key).split("/") if p not in ("", ".")]
    absolute = str(key).startswith("/")
    prefix = ""
    for i, part in enumerate(parts):
        names = members(prefix)
        if names is None:
            return []
        names = [str(name) for name in itertools.islice(names, MAX_CANDIDATES)]
        if part in names and i < len(parts) - 1:
            prefix = f"{prefix}/{part}" if prefix else part
            continue
        near = nearest_keys(part, names, n)
        here = f"{prefix}/" if prefix else ""
        return [("/" if absolute else "") + here + name for name in near]
    return []


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


class PermissionDeniedError(IOCoreError):
    code = "PERMISSION_DENIED"
    default_hint = "The server's user may not read (or write) this; check the file's permissions."


class NameTooLongError(IOCoreError):
    code = "NAME_TOO_LONG"
    default_hint = "Each name in a path may be at most 255 bytes, and a whole path about 4096 bytes; use a shorter one."


class RemoteError(IOCoreError):
    code = "REMOTE_ERROR"
    default_hint = "The object store failed or refused the request (its message is above); retry later, or check the root's URL and credentials."


class RemoteTimeoutError(IOCoreError):
    code = "TIMEOUT"
    default_hint = "The object store did not answer within the configured time (--remote-timeout); retry, or ask for less."


# -- the last resort: failures from libraries that still carry a meaning ------------------------

_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}


def _named(exc: OSError) -> str:
    name = exc.filename if isinstance(exc.filename, str) else None
    return f" ({echo(os.path.basename(name.rstrip('/')) or name)})" if name else ""


def coded(exc: BaseException) -> IOCoreError | None:
    """The coded error ``exc`` stands for, or None when it is an unexpected failure (a bug).

    Never echoes a full server path: an ``OSError``'s file is named by its last part only.
    """
    if isinstance(exc, IOCoreError):
        return exc
    if isinstance(exc, RecursionError):
        return InvalidDataError(
            "the data is nested too deeply to process (over Python's recursion limit)",
            hint="Flatten the nesting (a few hundred levels at most), or read a part of it with key=...",
        )
    if isinstance(exc, MemoryError):
        return TooLargeError(
            "the request needs more memory than the server has",
            hint="Ask for less: a smaller selection, key=..., or load_summary instead of a whole load.",
        )
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    what = (exc.strerror or os.strerror(exc.errno)) + _named(exc)
    if exc.errno in _NO_SPACE:
        return WriteFailedError(f"the disk or quota is full: {what}",
                                hint="Free space (or ask for a smaller output); nothing was replaced.")
    if exc.errno in _DENIED:
        return PermissionDeniedError(f"permission denied: {what}")
    if exc.errno == errno.ENAMETOOLONG:
        return NameTooLongError(f"a name or path is too long: {what}")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return FileNotFoundIOError(f"no such file or folder: {what}")
    if exc.errno == errno.EISDIR:
        return NotAFileError(f"a folder where a file was expected: {what}")
    if exc.errno == errno.EEXIST:
        return ExistsError(f"it already exists: {what}")
    if exc.errno == errno.ELOOP:
        return PathOutsideRootError(f"a symbolic link was refused on the way: {what}")
    return IOCoreError(f"the operating system refused: {what}", hint="Retry; if it persists, check the server's storage.")
