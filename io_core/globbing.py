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

import functools
import heapq
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from io_core.errors import FileNotFoundIOError, InvalidSelectionError, PathOutsideRootError

__all__ = ["MAX_COUNT", "MAX_EXPANSIONS", "FoundFiles", "find_files", "natural_key"]

#: Matches counted before the walk gives up (``total_exact`` becomes False).
MAX_COUNT = 1_000_000
#: Alternatives one pattern may expand to.
MAX_EXPANSIONS = 4096
#: Wildcards allowed in a segment that repeats a placeholder (matched with backtracking).
MAX_BACKTRACK_WILDCARDS = 3
#: Never listed, never entered (the workspace's provenance/ledger folder).
PRIVATE_DIR = ".sciio"

_PATTERN_HINT = (
    "Use *, ?, ** (whole segment), {a,b} alternatives and {name} placeholders; "
    "escape a literal {, }, *, ? or , with a backslash."
)


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


# --------------------------------------------------------------------------- pattern parsing

# Tokens: ("lit", text) ("star",) ("q",) ("ph", name) ("sep",); groups: ("alt", [seq, ...]).
_STAR = ("star",)
_Q = ("q",)
_SEP = ("sep",)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _bad_pattern(pattern: str, why: str) -> InvalidSelectionError:
    return InvalidSelectionError(f"bad pattern {pattern!r}: {why}", hint=_PATTERN_HINT)


def _parse(pattern: str) -> list:
    n = len(pattern)
    pos = 0

    def seq(depth: int) -> list:
        nonlocal pos
        items: list = []
        buf: list[str] = []

        def flush() -> None:
            if buf:
                items.append(("lit", "".join(buf)))
                buf.clear()

        while pos < n:
            c = pattern[pos]
            if c == "\\":
                if pos + 1 >= n:
                    raise _bad_pattern(pattern, "it ends with a lone backslash")
                if pattern[pos + 1] == "/":  # no name holds a "/": an escaped one still separates
                    flush()
                    items.append(_SEP)
                else:
                    buf.append(pattern[pos + 1])
                pos += 2
            elif c == "{":
                flush()
                items.append(group(depth))
            elif c in ",}" and depth > 0:
                break
            elif c == "}":
                raise _bad_pattern(pattern, f"unmatched '}}' at position {pos}")
            elif c == "*":
                flush()
                items.append(_STAR)
                pos += 1
            elif c == "?":
                flush()
                items.append(_Q)
                pos += 1
            elif c == "/":
                flush()
                items.append(_SEP)
                pos += 1
            else:
                buf.append(c)
                pos += 1
        flush()
        return items

    def group(depth: int) -> tuple:
        nonlocal pos
        start = pos
        pos += 1  # the "{"
        alternatives = []
        while True:
            alternatives.append(seq(depth + 1))
            if pos >= n:
                raise _bad_pattern(pattern, f"unmatched '{{' at position {start}")
            closing = pattern[pos]
            pos += 1
            if closing == "}":
                break
        if len(alternatives) > 1:
            return ("alt", alternatives)
        inner = pattern[start + 1 : pos - 1]
        if _IDENT.match(inner):
            return ("ph", inner)
        # a comma-less group that is not a name: literal braces around its content
        return ("alt", [[("lit", "{"), *alternatives[0], ("lit", "}")]])

    return seq(0)


def _expand(items: list, pattern: str) -> list[tuple]:
    results: list[list] = [[]]
    for item in items:
        if item[0] == "alt":
            options: list[tuple] = []
            for alternative in item[1]:
                options.extend(_expand(alternative, pattern))
            results = [r + list(o) for r in results for o in options]
        else:
            results = [r + [item] for r in results]
        if len(results) > MAX_EXPANSIONS:
            raise _bad_pattern(pattern, f"it expands to more than {MAX_EXPANSIONS} alternatives")
    return [tuple(r) for r in results]


def _merge_literals(tokens: tuple) -> tuple:
    out: list = []
    for tok in tokens:
        if tok[0] == "lit" and out and out[-1][0] == "lit":
            out[-1] = ("lit", out[-1][1] + tok[1])
        else:
            out.append(tok)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class _Segment:
    kind: str  # "globstar" | "literal" | "wild"
    tokens: tuple
    text: str = ""  # literal text
    names: frozenset = frozenset()  # placeholder names
    dot_ok: bool = False  # the segment starts with a literal "."

    def match(self, name: str, caps: tuple) -> tuple | None:
        """New capture tuple if ``name`` matches this (non-globstar) segment, else None."""
        if self.kind == "literal":
            return caps if name == self.text else None
        if name.startswith(".") and not self.dot_ok:
            return None
        bound = tuple((k, v) for k, v in caps if k in self.names) if self.names else ()
        m = _compile(self.tokens, bound).fullmatch(name)
        if m is None:
            return None
        new = m.groupdict()
        if not new:
            return caps
        merged = dict(caps)
        merged.update(new)
        return tuple(sorted(merged.items()))


@functools.lru_cache(maxsize=4096)
def _compile(tokens: tuple, bound: tuple) -> re.Pattern:
    """Regex for one segment.

    Wildcards are matched lazily inside atomic groups ``(?>.*?CHUNK)``: taking the
    leftmost occurrence of each fixed-length chunk is always a valid choice, so no
    backtracking is needed and no pattern can make matching blow up. Only a segment
    that repeats an unbound placeholder (a backreference) falls back to ordinary
    backtracking.
    """
    values = dict(bound)
    counts: dict[str, int] = {}
    for tok in tokens:
        if tok[0] == "ph" and tok[1] not in values:
            counts[tok[1]] = counts.get(tok[1], 0) + 1
    backtrack = any(c > 1 for c in counts.values())

    chunks: list[list[str]] = [[]]
    wilds: list[str] = []
    seen: set[str] = set()
    previous = None
    for tok in tokens:
        kind = tok[0]
        if kind == "star":
            if previous != _STAR:  # "**" inside a segment is "*"
                wilds.append(".*?")
                chunks.append([])
        elif kind == "q":
            chunks[-1].append(".")
        elif kind == "lit":
            chunks[-1].append(re.escape(tok[1]))
        elif kind == "ph":
            name = tok[1]
            if name in values:
                chunks[-1].append(re.escape(values[name]))
            elif name in seen:
                chunks[-1].append(f"(?P={name})")
            else:
                seen.add(name)
                wilds.append(f"(?P<{name}>.+?)")
                chunks.append([])
        previous = tok
    rx = "".join(chunks[0])
    for i, wild in enumerate(wilds):
        chunk = "".join(chunks[i + 1])
        if i == len(wilds) - 1 or backtrack:
            rx += wild + chunk  # the last wildcard's extent is fixed by fullmatch
        else:
            rx += f"(?>{wild}{chunk})"
    return re.compile(rx, re.DOTALL)


def _segments(tokens: tuple, pattern: str) -> tuple[_Segment, ...]:
    if tokens and tokens[0] == _SEP:
        raise PathOutsideRootError(
            f"absolute pattern {pattern!r} refused", hint="Patterns are relative to the root.", path=pattern
        )
    if tokens and tokens[-1] == _SEP:
        raise _bad_pattern(pattern, "it ends with '/' (only files are matched; add '/*' or '/**')")
    raw: list[list] = [[]]
    for tok in tokens:
        if tok == _SEP:
            raw.append([])
        else:
            raw[-1].append(tok)
    segments: list[_Segment] = []
    for seg_tokens in raw:
        seg = _merge_literals(tuple(seg_tokens))
        if not seg:
            continue  # "a//b"
        if all(t[0] == "lit" for t in seg):
            text = "".join(t[1] for t in seg)
            if text == ".":
                continue
            if text == "..":
                raise PathOutsideRootError(
                    f"pattern {pattern!r} climbs out of the root with '..'",
                    hint="Patterns are relative to the root and cannot contain '..'.",
                    path=pattern,
                )
            segments.append(_Segment("literal", seg, text=text))
        elif seg == (_STAR, _STAR):
            if not (segments and segments[-1].kind == "globstar"):  # "**/**" is "**"
                segments.append(_Segment("globstar", seg))
        else:
            names = frozenset(t[1] for t in seg if t[0] == "ph")
            placeholders = [t[1] for t in seg if t[0] == "ph"]
            if len(placeholders) > len(names):
                # A placeholder repeated inside one segment needs a backtracking regex;
                # keep its wildcards few so no name can make matching explode.
                stars = sum(1 for k, t in enumerate(seg) if t == _STAR and (k == 0 or seg[k - 1] != _STAR))
                if stars + len(names) > MAX_BACKTRACK_WILDCARDS:
                    raise _bad_pattern(
                        pattern,
                        f"a segment that repeats a placeholder may hold at most "
                        f"{MAX_BACKTRACK_WILDCARDS} wildcards/placeholders",
                    )
            dot_ok = seg[0][0] == "lit" and seg[0][1].startswith(".")
            segments.append(_Segment("wild", seg, names=names, dot_ok=dot_ok))
    return tuple(segments)


def _compile_pattern(pattern: str) -> list[tuple[_Segment, ...]]:
    if not isinstance(pattern, str):
        raise InvalidSelectionError(f"pattern must be text, not {type(pattern).__name__}")
    if "\x00" in pattern:
        raise PathOutsideRootError("pattern contains a null byte", path=repr(pattern))
    if pattern.strip() == "":
        raise _bad_pattern(pattern, "it is empty")
    if pattern.startswith("/") or (os.name == "nt" and re.match(r"[A-Za-z]:|\\\\", pattern)):
        raise PathOutsideRootError(
            f"absolute pattern {pattern!r} refused", hint="Patterns are relative to the root.", path=pattern
        )
    if pattern.startswith("~"):
        raise PathOutsideRootError(
            f"home-directory patterns are not expanded: {pattern!r}",
            hint="Patterns are relative to the root.",
            path=pattern,
        )
    expansions: list[tuple[_Segment, ...]] = []
    seen: set = set()
    for tokens in _expand(_parse(pattern), pattern):
        segs = _segments(tokens, pattern)
        if not segs:
            raise _bad_pattern(pattern, "it names no file")
        if segs not in seen:
            seen.add(segs)
            expansions.append(segs)
    return expansions


# --------------------------------------------------------------------------- the walk

def _walk(root: str, expansions: list[tuple[_Segment, ...]]) -> Iterator[tuple[tuple[str, ...], int, tuple]]:
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
    expansions = _compile_pattern(pattern)
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
