"""Finding files and reading config folders inside the sandbox, as bounded results."""

from __future__ import annotations

import os
from pathlib import Path

from io_core.budget import fit
from io_core.errors import PathOutsideRootError
from io_core.paths import Sandbox
from schemas import ConfigResult, FoundFile, FoundFilesResult


def _split_root(sandbox: Sandbox, pattern: str) -> tuple[Path, str]:
    """Which root a pattern searches: an absolute pattern names its root, else the first.

    The rest is relative to that root and goes through ``find_files``' own checks
    (``..``, escaped separators, absolute expansions), which run on every expansion.
    """
    roots = list(sandbox.roots or [Path.cwd()])
    if not os.path.isabs(pattern):
        return roots[0], pattern
    for root in sorted(roots, key=lambda r: len(str(r)), reverse=True):  # the most specific root
        prefix = str(root).rstrip("/") + "/"
        if pattern.startswith(prefix):
            return root, pattern[len(prefix) :].lstrip("/")
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
    from io_core.remote.path import split_pattern

    remote = split_pattern(sandbox.remote, pattern) if sandbox.remote is not None else None
    if remote is not None:  # a remote root: one bounded prefix listing (io_core.remote.listing)
        from io_core.remote.listing import find_remote

        found = find_remote(remote[0], remote[1], parse=parse, limit=limit, ensure_one=ensure_one)
    else:
        root, relative = _split_root(sandbox, pattern)
        found = find_files(relative, root=root, parse=parse, limit=limit, ensure_one=ensure_one)
    entries = [
        FoundFile(path=sandbox.display(path), captures=found.captures[i] if found.captures is not None else None)
        for i, path in enumerate(found.files)
    ]

    result = FoundFilesResult(
        pattern=pattern, files=entries, total=found.total, total_exact=found.total_exact, truncated=found.truncated
    )
    return fit(result, max_bytes)


def configs_in_roots(
    sandbox: Sandbox, config_dir: str = "config", debug: bool | None = None, *, max_bytes: int | None = None
) -> ConfigResult:
    from io_core.configs import load_configs

    tree = load_configs(config_dir, debug, sandbox=sandbox).to_dict()
    return fit(ConfigResult(config_dir=config_dir, keys=[str(k) for k in tree], tree=tree), max_bytes)
