"""Tools that describe, read and write files: list_roots, list_formats, load_summary, save."""

import json
from typing import Annotated, Any

import anyio
from fastmcp import Context, FastMCP
from fastmcp.tools import ToolResult
from pydantic import Field

from io_core.errors import InvalidDataError
from io_core.registry import candidate_extensions
from io_core.workspace import Workspace
from schemas import FormatList, RootsInfo, SaveResult, SummaryResult
from server import guards
from server.settings import Settings

READ = {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False}
WRITE = {"readOnlyHint": False, "destructiveHint": True, "idempotentHint": False, "openWorldHint": False}

# Descriptions are short on purpose: every client sends all of them to the model on every turn. The arguments
# every tool shares are described once: a path in list_roots, a format in list_formats, a key in load_summary.
PathArg = str
KeyArg = str | None
FormatArg = str | None


def _save_kind(ws: Workspace, path: str, fmt: str | None) -> str | None:
    """The ``kind`` of data the format chosen for saving takes; None when a user saver or nothing claims it."""
    if fmt:
        spec = ws.registry.spec(fmt) or next(iter(ws.registry.specs_for_extension(fmt)), None)
        return spec.kind if spec is not None else None
    for ext in candidate_extensions(path):
        if ws.registry.user_saver(ext) is not None:
            return None
        for spec in ws.registry.specs_for_extension(ext):
            if spec.can_save:
                return spec.kind
    return None


def data_from_text(ws: Workspace, path: str, fmt: str | None, data: Any) -> Any:
    """Some clients send every argument as a string: JSON text given as ``data`` for a non-text format is parsed.

    Text formats keep the string; documents and pickles keep a string that is not JSON (a string is a value
    there too); every other format refuses it with INVALID_DATA instead of writing a 0-d string array.
    """
    if not isinstance(data, str):
        return data
    kind = _save_kind(ws, path, fmt)
    if kind is None or kind == "text":
        return data
    try:
        return json.loads(data)
    except ValueError:
        if kind in ("document", "object"):
            return data
        raise InvalidDataError(
            f"data is text that is not JSON ({data[:40]!r}{'…' if len(data) > 40 else ''}), "
            f"and this format takes {kind} data, not text",
            hint='Send the data itself, e.g. [[1, 2], [3, 4]] or {"col": [1, 2]}, or JSON text of it.',
        ) from None


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    @mcp.tool(annotations=READ)
    def list_roots() -> RootsInfo:
        """Allowed folders (a path is relative to the first, or absolute inside one); whether writing and
        pickle are allowed."""
        return ws.roots_info()

    listed: dict[tuple, ToolResult] = {}  # the answer only changes when the formats do (plugins, new availability)

    @mcp.tool(annotations=READ, output_schema=FormatList.model_json_schema(mode="serialization"))
    def list_formats() -> ToolResult:
        """Formats: extensions, operations, install hints. format= (any tool) overrides the extension."""
        formats = ws.registry.list_formats()
        key = tuple((f.name, f.available, tuple(f.extensions), tuple(f.operations)) for f in formats)
        cached = listed.get(key)
        if cached is None:  # serialized once, not per call: the list is the largest fixed answer a client asks for
            result = FormatList.of(formats).model_dump(mode="json")
            cached = ToolResult(content=json.dumps(result, separators=(",", ":")), structured_content=result)
            listed.clear()
            listed[key] = cached
        return cached

    @mcp.tool(annotations=READ)
    async def load_summary(
        path: PathArg,
        key: KeyArg = None,
        format: FormatArg = None,
        exact_stats: Annotated[
            bool, Field(description="Exact, over every value (slower).")
        ] = False,
        ctx: Context | None = None,
    ) -> SummaryResult:
        """What a file holds (shape, dtype, columns, stats, head) without loading it; 7-digit floats, default
        fields omitted. key (any tool): an object in the file (HDF5/Zarr path, npz member, column, channel)."""
        progress = None
        if exact_stats:

            def report(done: int, total: int) -> None:
                if ctx is not None:
                    anyio.from_thread.run(ctx.report_progress, done, total)

            progress = guards.cancel_aware_progress(report)  # a cancelled or timed-out call stops streaming

        return await anyio.to_thread.run_sync(
            lambda: ws.summarize(
                path, format, key=key, max_bytes=settings.max_response_bytes, exact_stats=exact_stats, progress=progress
            )
        )

    if settings.read_only:
        return  # writing tools are not offered at all

    @mcp.tool(annotations=WRITE)
    async def save(
        path: PathArg,
        data: Annotated[
            Any,
            Field(
                description=(
                    "Table: records or {col: [..]}; npy: nested numbers; npz/h5: {name: nested list} (dicts nest); "
                    "json/yaml: JSON; text: a string."
                )
            ),
        ],
        format: FormatArg = None,
        overwrite: bool | None = None,
        dtype: str | None = None,
        dry_run: bool | None = None,
        symlink_to: str | None = None,
        ctx: Context | None = None,
    ) -> SaveResult:
        """Atomic write; keeps an existing file unless overwrite. dry_run: say what would be written. symlink_to:
        link this path to it."""

        def report(done: int, total: int) -> None:  # savers writing in parts (bundles) report as they go
            if ctx is not None:
                anyio.from_thread.run(ctx.report_progress, done, total or None)

        progress = guards.cancel_aware_progress(report)
        return await anyio.to_thread.run_sync(lambda: ws.save(
            data_from_text(ws, path, format, data), path, format, overwrite=bool(overwrite), dtype=dtype,
            progress=progress, dry_run=bool(dry_run), symlink_to=symlink_to))
