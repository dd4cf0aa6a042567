"""How to read part of a file: a lazy array, a page of rows or text lines, by what its format can do.

``open_part`` yields ``("array", lazy array)`` from ``open_array``; ``("rows", read_rows)`` from
``read_rows`` (also when ``open_array`` refuses this key: a FITS table HDU); ``("lines",
read_lines)``; else the loaded value when it is an array, a table or text (user plugins,
whole-file formats). ``read_slice`` and ``preview_image`` share it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from io_core.errors import UnsupportedOperationError
from io_core.formats.base import supports
from io_core.options import ReadOptions


@contextmanager
def open_part(handler: Any, choice: Any, view: Path, opts: ReadOptions) -> Iterator[tuple[str, Any]]:
    """The part of ``view`` to read (see module docstring); ``handler`` None for a user plugin ``choice.func``."""
    if handler is not None and supports(handler, "open_array"):
        with ExitStack() as stack:
            try:
                array = stack.enter_context(handler.open_array(view, opts))
            except UnsupportedOperationError:
                if not supports(handler, "read_rows"):
                    raise
            else:
                yield "array", array
                return
    if handler is not None and supports(handler, "read_rows"):
        yield "rows", lambda cols, offset, limit: handler.read_rows(view, opts, cols, offset, limit)
        return
    if handler is not None and supports(handler, "read_lines"):
        yield "lines", lambda offset, limit: handler.read_lines(view, opts, offset, limit)
        return
    if choice.spec is not None and choice.spec.kind == "text":  # a plugin's text format: the file's own lines
        from io_core.formats.text import read_lines

        yield "lines", lambda offset, limit: read_lines(view, offset, limit, opts.limits)
        return
    value = handler.load(view, opts) if handler is not None else choice.func(view)
    yield in_memory_part(value, choice.name, opts.key)


def in_memory_part(value: Any, name: str, key: str | None = None) -> tuple[str, Any]:
    """A loaded value as a part to read: a table's rows (``key``: one column), an array, or a string's lines."""
    if hasattr(value, "iloc") and hasattr(value, "columns"):
        def rows(cols: list[str] | None, offset: int, limit: int) -> tuple[Any, int, bool]:
            cols = cols or ([key] if key else None)
            picked = value[cols] if cols else value
            return picked.iloc[offset : offset + limit], len(value), True

        return "rows", rows
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return "array", value
    if isinstance(value, str):
        lines = value.splitlines()
        return "lines", lambda offset, limit: (lines[offset : offset + limit], offset + limit < len(lines))
    raise UnsupportedOperationError(
        f"{name} data ({type(value).__name__}) has no shape, rows or lines to slice",
        hint="Use load_summary (with key=) to look inside it.",
    )
