"""The workspace with ``convert`` routed to the compute engine where it applies (globs, ``.zarr`` targets).

Shared by the convert tool (server/tools/compute.py wires in MCP progress and cancellation) and the
``sciio convert`` command, so both convert the same way without the command line importing FastMCP.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

GLOB = frozenset("*?{")


class EngineWorkspace:
    """The workspace, with ``convert`` sent to the compute engine where it applies.

    Many sources (a glob in ``src``) become one Zarr array (concatenated along axis 0) or one
    parquet file (rows in file order); one array source into a ``.zarr`` destination is
    rechunked into a Zarr array. Everything else is the workspace's own ``convert``.
    """

    def __init__(self, ws: Any, engine: Any, *,
                 default_progress: Callable[[], Callable[[int, int, int, str], None] | None] = lambda: None,
                 cancelled: Callable[[], Callable[[], bool]] = lambda: (lambda: False)) -> None:
        """``default_progress()`` / ``cancelled()`` give, at each call, where reports go and how to tell a
        cancelled call (the server: the MCP task and the call's state; the command line: nothing)."""
        self._ws = ws
        self.engine = engine
        self._default_progress = default_progress
        self._cancelled = cancelled

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)

    def convert(self, src: Any, dst: Any, *, key: str | None = None, overwrite: bool = False,
                src_format: str | None = None, dst_format: str | None = None,
                progress: Callable[[int, int, int, str], None] | None = None) -> Any:
        """``progress``: the engine's reports (blocks done, total, bytes read, label); default: ``default_progress()``."""
        from io_core.compute import conversion
        from io_core.errors import KeyNotFoundError, UnsupportedOperationError

        target = (dst_format or os.fspath(dst).lower().rsplit(".", 1)[-1]).lstrip(".")
        options = {"key": key, "overwrite": overwrite, "src_format": src_format,
                   "progress": progress or self._default_progress(), "cancelled": self._cancelled()}
        if GLOB & set(os.fspath(src)):
            files = self._expand(os.fspath(src))
            if target == "zarr":
                return conversion.convert_arrays(self.engine, self._inner(), files, dst, **options)[0]
            if target == "parquet":
                return conversion.convert_tables(self.engine, self._inner(), files, dst, **options)[0]
            raise UnsupportedOperationError("many files convert into one .zarr (arrays) or one .parquet (tables)")
        if target == "zarr":
            try:
                return conversion.convert_arrays(self.engine, self._inner(), [src], dst, **options)[0]
            except (KeyNotFoundError, UnsupportedOperationError):
                pass  # a group, a tree, a table: the workspace converts it whole
        return self._ws.convert(src, dst, key=key, overwrite=overwrite, src_format=src_format,
                                dst_format=dst_format)

    def _inner(self) -> Any:
        return getattr(self._ws, "workspace", self._ws)  # an IsolatedWorkspace's own workspace

    def _expand(self, pattern: str) -> list[str]:
        from io_core.errors import FileNotFoundIOError
        from io_core.globbing import find_files

        roots = self._inner().sandbox.roots
        found = find_files(pattern, root=roots[0] if roots else os.getcwd(), limit=100_000)
        if not found.files:
            raise FileNotFoundIOError(f"no file matches {pattern!r}", path=pattern)
        return [str(p) for p in found.files]
