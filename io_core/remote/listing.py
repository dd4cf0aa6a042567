"""``find_files`` on a remote root: one recursive prefix listing (bounded), matched like a local walk.

The pattern is compiled by ``io_core.glob_pattern`` as for a local root; its leading literal
segments narrow the listed prefix. At most ``MAX_KEYS`` keys are listed (S3 pages of 1,000);
past that ``total_exact`` is False and the result says it is truncated. Matching and natural
order are the local ones (``io_core.globbing``).
"""

from __future__ import annotations

import heapq
from typing import Any

from io_core.errors import FileNotFoundIOError, InvalidSelectionError
from io_core.glob_pattern import Segment, compile_pattern
from io_core.globbing import PRIVATE_DIR, FoundFiles, _path_key
from io_core.remote import stats

MAX_KEYS = 100_000


def _match(segs: tuple[Segment, ...], parts: tuple[str, ...], caps: tuple) -> tuple | None:
    if not segs:
        return caps if not parts else None
    head = segs[0]
    if head.kind == "globstar":
        for skip in range(len(parts)):  # zero or more folders, never the file name itself
            if any(p.startswith(".") for p in parts[:skip]):
                break
            found = _match(segs[1:], parts[skip:], caps)
            if found is not None:
                return found
        return None
    if not parts:
        return None
    got = head.match(parts[0], caps)
    return None if got is None else _match(segs[1:], parts[1:], got)


def find_remote(root: Any, pattern: str, *, parse: bool, limit: int, ensure_one: bool) -> FoundFiles:
    """Objects below the RemotePath ``root`` whose keys match ``pattern`` (see the module docstring)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidSelectionError(f"limit must be a non-negative integer, not {limit!r}")
    expansions = compile_pattern(pattern)
    common: list[str] = []
    for i, seg in enumerate(expansions[0]):
        if seg.kind != "literal" or i == len(expansions[0]) - 1 or any(
                len(e) <= i or e[i].kind != "literal" or e[i].text != seg.text for e in expansions):
            break
        common.append(seg.text)
    base = root.joinpath(*common) if common else root
    entries = base.store.listing(base.root, base.key, recursive=True, limit=MAX_KEYS)
    stats.count(root.counter, max(1, -(-len(entries) // 1000)), 0)
    exact = len(entries) < MAX_KEYS
    cut = len(root.key) + 1 if root.key else 0
    found = []
    for e in entries:
        rel = tuple(p for p in e["key"][cut:].split("/") if p)
        if not rel or e["type"] != "file" or rel[0].lower() == PRIVATE_DIR:
            continue
        for segs in expansions:
            caps = _match(segs, rel, ())
            if caps is not None:
                found.append((_path_key(rel), rel, caps))
                break
    total = len(found)
    if ensure_one and total != 1:
        if total == 0:
            raise FileNotFoundIOError(f"0 objects match {pattern!r} (exactly one expected)", path=pattern)
        raise InvalidSelectionError(f"{total} objects match {pattern!r}, exactly one expected",
                                    hint="Make the pattern more specific, or drop ensure_one.", path=pattern)
    best = heapq.nsmallest(limit, found, key=lambda item: item[0]) if limit else []
    files = [root.joinpath(*rel) for _, rel, _ in best]
    return FoundFiles(files=files, total=total, truncated=len(files) < total or not exact,
                      captures=[dict(c) for _, _, c in best] if parse else None, total_exact=exact)
