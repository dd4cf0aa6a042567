"""Finding files and reading config folders inside the sandbox, as bounded results."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from io_core.errors import PathOutsideRootError
from io_core.paths import Sandbox
from schemas import ConfigResult, FoundFile, FoundFilesResult


def _fits(model: Any, max_bytes: int | None) -> bool:
    return max_bytes is None or len(model.model_dump_json().encode()) <= max_bytes


def _largest_fitting(n: int, build, max_bytes: int | None):
    """The result built from the most leading items (binary search) that fits the budget."""
    full = build(n)
    if _fits(full, max_bytes):
        return full
    lo, hi = 0, n  # build(lo) fits (or is the floor), build(hi) does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _fits(build(mid), max_bytes) else (lo, mid)
    return build(lo)


def _split_root(sandbox: Sandbox, pattern: str) -> tuple[Path, str]:
    """Which root a pattern searches: an absolute pattern names its root, else the first."""
    roots = list(sandbox.roots or [Path.cwd()])
    if not os.path.isabs(pattern):
        return roots[0], pattern
    for root in roots:
        prefix = str(root).rstrip("/") + "/"
        if pattern.startswith(prefix):
            return root, pattern[len(prefix) :]
    raise PathOutsideRootError(f"pattern {pattern!r} is not inside a root", path=pattern)


def find_in_roots(
    sandbox: Sandbox,
    pattern: str,
    *,
    parse: bool = False,
    limit: int = 1000,
    ensure_one: bool = False,
    max_bytes: int | None = None,
) -> FoundFilesResult:
    from io_core.globbing import find_files

    root, relative = _split_root(sandbox, pattern)
    found = find_files(relative, root=root, parse=parse, limit=limit, ensure_one=ensure_one)
    entries = [
        FoundFile(path=sandbox.display(path), captures=found.captures[i] if found.captures is not None else None)
        for i, path in enumerate(found.files)
    ]

    def build(n: int) -> FoundFilesResult:
        return FoundFilesResult(
            pattern=pattern, files=entries[:n], total=found.total, total_exact=found.total_exact,
            truncated=found.truncated or n < len(entries),
        )

    return _largest_fitting(len(entries), build, max_bytes)


def configs_in_roots(
    sandbox: Sandbox, config_dir: str = "config", debug: bool | None = None, *, max_bytes: int | None = None
) -> ConfigResult:
    from io_core.configs import load_configs
    from io_core.options import ReadOptions
    from io_core.summary import bounded_preview

    tree = load_configs(config_dir, debug, sandbox=sandbox).to_dict()
    keys = [str(k) for k in tree]
    result = ConfigResult(config_dir=config_dir, keys=keys, tree=tree)
    items = 64
    while not _fits(result, max_bytes) and items >= 1:
        preview, _ = bounded_preview(tree, ReadOptions(preview_items=items, preview_chars=max(64, items * 32)))
        result = ConfigResult(config_dir=config_dir, keys=keys[:items], tree=preview, truncated=True)
        items //= 2
    return result
