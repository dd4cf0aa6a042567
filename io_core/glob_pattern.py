"""``find_files`` patterns: parsed, brace-expanded and compiled per path segment (the language is described
in ``io_core.globbing``). Every expansion is checked: absolute, ``..``, ``~`` and null bytes are refused."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

from io_core.errors import InvalidSelectionError, PathOutsideRootError

#: Alternatives one pattern may expand to.
MAX_EXPANSIONS = 4096
#: Wildcards allowed in a segment that repeats a placeholder (matched with backtracking).
MAX_BACKTRACK_WILDCARDS = 3

_PATTERN_HINT = (
    "Use *, ?, ** (whole segment), {a,b} alternatives and {name} placeholders; "
    "escape a literal {, }, *, ? or , with a backslash."
)

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
class Segment:
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


def _segments(tokens: tuple, pattern: str) -> tuple[Segment, ...]:
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
    segments: list[Segment] = []
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
            segments.append(Segment("literal", seg, text=text))
        elif seg == (_STAR, _STAR):
            if not (segments and segments[-1].kind == "globstar"):  # "**/**" is "**"
                segments.append(Segment("globstar", seg))
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
            segments.append(Segment("wild", seg, names=names, dot_ok=dot_ok))
    return tuple(segments)


def compile_pattern(pattern: str) -> list[tuple[Segment, ...]]:
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
    expansions: list[tuple[Segment, ...]] = []
    seen: set = set()
    for tokens in _expand(_parse(pattern), pattern):
        segs = _segments(tokens, pattern)
        if not segs:
            raise _bad_pattern(pattern, "it names no file")
        if segs not in seen:
            seen.add(segs)
            expansions.append(segs)
    return expansions
