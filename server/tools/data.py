"""Tools that read part of a file: read_slice, preview_image."""

import json
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.tools import ToolResult
from fastmcp.utilities.types import Image
from pydantic import Field

from io_core.workspace import Workspace
from schemas import SliceResult
from schemas.compact import round_sig
from server.settings import Settings
from server.tools.files import READ, FormatArg, KeyArg, PathArg

SelectionArg = Annotated[
    str | None,
    Field(description="NumPy-style, e.g. '0:10, :, 3', '-1', '..., 0'; tables: rows '100:200'."),
]


def with_digits(result: SliceResult, digits: int) -> SliceResult:
    """``result`` with its floats (array values, table cells) written to ``digits`` significant digits."""
    part = result.slice
    field = {"array": "values", "frame": "rows"}.get(part.kind)
    if field is None:
        return result
    rounded = part.model_copy(update={field: round_sig(getattr(part, field), digits)})
    return result.model_copy(update={"slice": rounded})


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    @mcp.tool(annotations=READ)
    def read_slice(
        path: PathArg,
        key: KeyArg = None,
        selection: SelectionArg = None,
        columns: list[str] | None = None,
        offset: Annotated[int, Field(ge=0)] = 0,
        limit: Annotated[int | None, Field(ge=0, description="Rows or lines (default 100 / 200).")] = None,
        format: FormatArg = None,
        digits: Annotated[int | None, Field(ge=1, le=17, description="Significant digits of floats.")] = None,
    ) -> SliceResult:
        """Array values, a page of table rows (next_offset) or text lines; too large: TOO_LARGE with a
        request that fits."""
        result = ws.read_slice(
            path, key=key, selection=selection, columns=columns, offset=offset, limit=limit, format=format,
            max_bytes=settings.max_response_bytes,
        )
        return result if digits is None else with_digits(result, digits)

    @mcp.tool(annotations=READ)
    def preview_image(
        path: PathArg,
        key: KeyArg = None,
        selection: SelectionArg = None,
        max_side: Annotated[int, Field(ge=32, le=2048, description="Longest side in pixels.")] = 512,
        format: FormatArg = None,
    ) -> ToolResult:
        """A PNG: pictures downsampled, 2-D slabs as heatmaps, 1-D data and columns as lines, with a caption
        of what was drawn."""
        png, caption = ws.preview_image(
            path, key=key, selection=selection, max_side=max_side, format=format,
            max_bytes=settings.max_response_bytes,
        )
        return ToolResult(content=[Image(data=png, format="png").to_image_content(), json.dumps(caption)])
