"""``find_files``: a natural-sorted glob inside one root, with brace expansion and
``{placeholder}`` parsing.

Pattern language (POSIX ``/`` separators, always relative to ``root``)
----------------------------------------------------------------------
- ``*`` any run of characters inside one path segment (possibly empty); ``?`` exactly
  one character; ``**`` as a whole segment: zero or more folders (as the last segment:
  every file at any depth below). ``**`` inside a longer segment (``a**b``) is ``*``.
- ``{a,b}`` alternation, nestable (``{a,b{1,2}}`` -> ``a``, ``b1``, ``b2``), may contain
  ``/`` and wildcards; at most ``MAX_EXPANSIONS`` alternatives in total.
- ``{name}`` (a brace group without a comma holding an ASCII identifier) is a
  placeholder: like ``*`` but non-empty, captured (``parse=True``). A placeholder used
  twice must capture the same text both times (a segment repeating a placeholder may
  hold at most ``MAX_BACKTRACK_WILDCARDS`` wildcards and placeholders). Within a segment, captures are lazy:
  ``{a}_{b}`` on ``x_y_z`` gives ``a="x"``, ``b="y_z"``. Any other comma-less brace group
  (``{}``, ``{1}``) is literal text.
- Everything else is literal, notably ``[`` and ``]`` (``data[1].csv`` matches only
  that name; there are no character classes). ``\\`` escapes the next character
  (``\\{``, ``\\*``, ``\\,``), except that an escaped ``\\/`` still separates (no name
  holds a ``/``); an unmatched ``{`` or ``}`` is an error.
- Like the shell, wildcards and placeholders do not match a leading ``.`` (hidden
  names) unless the pattern segment itself starts with a literal ``.``; ``**`` never
  enters hidden folders. A ``.sciio`` entry (the workspace's ledger folder) is never
  listed nor entered, even when named literally.
- Absolute patterns (``/x``, also when produced by an expansion or escaped slashes),
  ``..`` segments (however spelled: ``\\.\\.``, ``{..,x}``, ``.\\/..``), ``~`` and null
  bytes are refused with ``PATH_OUTSIDE_ROOT``: the check runs on every expansion. ``.`` segments and repeated
  ``/`` are ignored; a trailing ``/`` is an error (only files are matched).

Walk
----
One ``os.scandir`` walk shared by every expansion (segments that are plain names are
looked up directly, without listing the folder), so each file is seen once. Each
folder is opened first and listed through its descriptor, and only if where that
descriptor really is (``/proc/self/fd``) lies inside the real root and is not one of
the folders already on the way down (no symlink loops): a folder swapped for a symlink
mid-walk cannot make it list another place. A symlinked file is returned only if its
target is inside the root, and every produced path is resolved once more at the end
and dropped unless it is inside the root. Unreadable folders are skipped. Only regular
files (after following symlinks) are returned, as ``root / relative path`` with
``root`` resolved.

Results are sorted by ``natural_key`` per path segment (``file2`` before ``file10``,
case-insensitive, ties broken by the exact text), cut to ``limit``; ``total`` counts
all matches up to ``MAX_COUNT`` (then the walk stops, ``total_exact`` is False and
``truncated`` True).
"""

from __future__ import annotations

import heapq
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from io_core.errors import FileNotFoundIOError, InvalidSelectionError
from io_core.glob_pattern import MAX_EXPANSIONS, Segment, compile_pattern

__all__ = ["MAX_COUNT", "MAX_EXPANSIONS", "FoundFiles", "find_files", "natural_key"]

#: Matches counted before the walk gives up (``total_exact`` becomes False).
MAX_COUNT = 1_000_000
#: Never listed, never entered (the workspace's provenance/ledger folder).
PRIVATE_DIR = ".sciio"


@dataclass(slots=True)
class FoundFiles:
    """What ``find_files`` returns.

    ``files`` are naturally sorted and at most ``limit`` long; ``total`` is the number
    of matches (a lower bound when ``total_exact`` is False); ``captures`` is one dict
    per file (placeholder -> text) when ``parse=True``, else None.
    """

    files: list[Path]
    total: int
    truncated: bool
    captures: list[dict[str, str]] | None = None
    total_exact: bool = True


# --------------------------------------------------------------------------- natural sort

_DIGITS = re.compile(r"([0-9]+)")


def natural_key(text: str) -> tuple:
    """Sort key: digit runs compare by value, the rest case-insensitively.

    ``file2 < file10``, ``a < B``, ``a.csv < a1.csv < a_x``; equal keys (``File2``/``file2``, ``a1``/``a01``) are
    ordered by the exact text, so the order is total and stable. Digit runs of any
    length are compared without converting them to ``int``.
    """
    parts = _DIGITS.split(text)
    key: list[object] = []
    last = len(parts) - 1
    for i, part in enumerate(parts):
        if i % 2:  # digit run: compare by value = (significant length, digits)
            digits = part.lstrip("0")
            key.append((len(digits), digits))
        elif i < last:
            # a text run followed by a number: the "0" stands for that number, so the
            # run compares against longer text as the digit would ("a.csv" < "a1.csv"
            # because "." < "0", while "a1" < "a_x").
            key.append(part.casefold() + "0")
        else:
            key.append(part.casefold())
    return (tuple(key), text)


def _path_key(parts: tuple[str, ...]) -> tuple:
    return tuple(natural_key(p) for p in parts)


# --------------------------------------------------------------------------- the walk

def _walk(root: str, expansions: list[tuple[Segment, ...]]) -> Iterator[tuple[tuple[str, ...], int, tuple]]:
    """Yield (relative parts, expansion index, captures) for every matching file, once.

    A state is (expansion index, segment index, captures as sorted (name, value) pairs);
    the set of states reaching a folder is advanced over its entries (an NFA walk).
    Each folder is opened, then confined by where the opened descriptor really is
    (``_opened_dir``), and listed through that descriptor: swapping a folder for a
    symlink between the check and the listing cannot make the walk list another place.
    """
    prefix = root if root.endswith(os.sep) else root + os.sep

    def inside(real: str) -> bool:
        return real == root or real.startswith(prefix)

    def closure(states: set) -> set:
        out: set = set()
        stack = list(states)
        while stack:
            state = stack.pop()
            e, i, caps = state
            if i >= len(expansions[e]) or state in out:
                continue
            out.add(state)
            if expansions[e][i].kind == "globstar":
                stack.append((e, i + 1, caps))
        return out

    start = {(e, 0, ()) for e in range(len(expansions))}
    stack: list[tuple[str, tuple[str, ...], set, frozenset]] = [(root, (), start, frozenset())]
    while stack:
        dir_path, rel, states, ancestors = stack.pop()
        states = closure(states)
        if not states:
            continue
        opened = _opened_dir(dir_path)
        if opened is None:
            continue
        fd, dir_real = opened
        try:
            if not inside(dir_real) or dir_real in ancestors:  # led out of the root, or a loop
                continue
            ancestors = ancestors | {dir_real}
            for name, is_dir, is_file, is_link in _entries(fd, states, expansions):
                if name == PRIVATE_DIR:
                    continue
                child: set = set()
                hit: tuple[int, tuple] | None = None
                for e, i, caps in states:
                    segs = expansions[e]
                    seg = segs[i]
                    last = i == len(segs) - 1
                    if seg.kind == "globstar":
                        if name.startswith("."):
                            continue
                        if is_dir:
                            child.add((e, i, caps))
                        if last and is_file and (hit is None or e < hit[0]):
                            hit = (e, caps)
                        continue
                    new = seg.match(name, caps)
                    if new is None:
                        continue
                    if last:
                        if is_file and (hit is None or e < hit[0]):
                            hit = (e, new)
                    elif is_dir:
                        child.add((e, i + 1, new))
                path = os.path.join(dir_real, name)
                if hit is not None and (not is_link or inside(_real(path))):
                    yield rel + (name,), hit[0], hit[1]
                if child and is_dir:
                    stack.append((path, rel + (name,), child, ancestors))
        finally:
            os.close(fd)


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _opened_dir(path: str) -> tuple[int, str] | None:
    """(descriptor, where it really is) for a folder, or None when it cannot be opened.

    The location is read back from the open descriptor (``/proc/self/fd``), so it names
    the folder that will be listed, whatever happened to ``path`` meanwhile. Without
    ``/proc``, the resolved path must be the same inode as the descriptor.
    """
    try:
        fd = os.open(path, _DIR_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        real = os.path.realpath(path)
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(real))
        except OSError:
            same = False
        if not same:
            os.close(fd)
            return None
    return fd, real


def _entries(fd: int, states: set, expansions) -> Iterator[tuple[str, bool, bool, bool]]:
    """(name, is_dir, is_file, is_symlink) of the entries of the open folder ``fd`` worth testing."""
    segments = [expansions[e][i] for e, i, _ in states]
    if all(seg.kind == "literal" for seg in segments):
        for name in sorted({seg.text for seg in segments}):
            if name in (".", "..") or "/" in name or os.sep in name:
                continue  # never a single name (the parser does not produce these)
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
                is_link = stat.S_ISLNK(mode)
                if is_link:
                    mode = os.stat(name, dir_fd=fd).st_mode
            except (OSError, ValueError):
                continue
            yield name, stat.S_ISDIR(mode), stat.S_ISREG(mode), is_link
        return
    try:
        with os.scandir(fd) as it:
            listed = list(it)
    except OSError:
        return
    for entry in listed:
        try:
            is_dir = entry.is_dir()
            is_file = entry.is_file()
            is_link = entry.is_symlink()
        except OSError:
            continue
        yield entry.name, is_dir, is_file, is_link


def _confined(root: str, files: list[Path]) -> list[Path]:
    """The produced paths that still resolve inside ``root`` (the last check, after expansion and walk)."""
    prefix = root if root.endswith(os.sep) else root + os.sep
    return [f for f in files if _real(f).startswith(prefix)]


def _real(path: str | Path) -> str:
    """``os.path.realpath``, or "" when a link vanishes while it is being resolved (a race)."""
    try:
        return os.path.realpath(path)
    except OSError:
        return ""


# --------------------------------------------------------------------------- public API


def find_files(
    pattern: str,
    *,
    root: str | os.PathLike[str],
    parse: bool = False,
    limit: int = 1000,
    ensure_one: bool = False,
) -> FoundFiles:
    """Files under ``root`` matching ``pattern``, naturally sorted, at most ``limit``.

    ``parse=True`` adds each file's placeholder captures. ``ensure_one=True`` raises
    ``FILE_NOT_FOUND`` when nothing matches and ``INVALID_SELECTION`` when more than
    one file does (the count is in the message). See the module docstring for the
    pattern language and the walk's safety rules.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidSelectionError(f"limit must be a non-negative integer, not {limit!r}")
    expansions = compile_pattern(pattern)
    root_real = os.path.realpath(os.fspath(root))
    if not os.path.isdir(root_real):
        raise FileNotFoundIOError(f"root {os.fspath(root)!r} is not an existing folder", path=os.fspath(root))

    total = 0
    exact = True

    def counted() -> Iterator[tuple[tuple, tuple[str, ...], tuple]]:
        nonlocal total, exact
        for rel, _e, caps in _walk(root_real, expansions):
            if total >= MAX_COUNT:
                exact = False
                return
            total += 1
            yield _path_key(rel), rel, caps

    keep = max(limit, 1) if ensure_one else limit
    if keep == 0:
        best = []
        for _ in counted():  # count only
            pass
    else:
        best = heapq.nsmallest(keep, counted(), key=lambda item: item[0])

    if ensure_one and total != 1:
        if total == 0:
            raise FileNotFoundIOError(
                f"0 files match {pattern!r} (exactly one expected)",
                hint="Check the pattern with find_files without ensure_one.",
                path=pattern,
            )
        shown = ", ".join("/".join(rel) for _, rel, _ in best[:5])
        count = f"{total}" if exact else f"at least {total}"
        raise InvalidSelectionError(
            f"{count} files match {pattern!r}, exactly one expected (first: {shown})",
            hint="Make the pattern more specific, or drop ensure_one.",
            path=pattern,
        )

    root_path = Path(root_real)
    produced = [root_path.joinpath(*rel) for _, rel, _ in best]
    files = _confined(root_real, produced)
    if len(files) < len(produced):  # a folder or link changed during the walk: drop what left the root
        kept = set(files)
        best = [item for item, path in zip(best, produced, strict=True) if path in kept]
        total -= len(produced) - len(files)
    captures = [dict(caps) for _, _, caps in best] if parse else None
    return FoundFiles(
        files=files,
        total=total,
        truncated=(len(files) < total) or not exact,
        captures=captures,
        total_exact=exact,
    )
