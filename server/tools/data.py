"""Tools that read part of a file: read_slice, preview_image."""

import json
from typing import Annotated

from fastmcp import FastMCP
from fastmcp.tools import ToolResult
from fastmcp.utilities.types import Image
from pydantic import Field

from io_core.workspace import Workspace
from schemas import SliceResult
from server.settings import Settings
from server.tools.files import READ, FormatArg, KeyArg, PathArg

SelectionArg = Annotated[
    str | None,
    Field(description="NumPy-style selection for arrays, e.g. '0:10, :, 3', '-1', '..., 0', '::-2'. Default: all."),
]


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    @mcp.tool(annotations=READ)
    def read_slice(
        path: PathArg,
        key: KeyArg = None,
        selection: SelectionArg = None,
        columns: Annotated[list[str] | None, Field(description="Table columns to return (default: all).")] = None,
        offset: Annotated[int, Field(ge=0, description="First table row or text line (0-based).")] = 0,
        limit: Annotated[int | None, Field(ge=0, description="Rows or lines to return (default 100 / 200).")] = None,
        format: FormatArg = None,
    ) -> SliceResult:
        """Values of an array selection, a page of table rows, or text lines — never more than the response budget.

        An array request that would not fit is refused with TOO_LARGE and a selection that fits.
        """
        return ws.read_slice(
            path, key=key, selection=selection, columns=columns, offset=offset, limit=limit, format=format,
            max_bytes=settings.max_response_bytes,
        )

    @mcp.tool(annotations=READ)
    def preview_image(
        path: PathArg,
        key: KeyArg = None,
        selection: SelectionArg = None,
        max_side: Annotated[int, Field(ge=32, le=2048, description="Longest side of the PNG in pixels.")] = 512,
        format: FormatArg = None,
    ) -> ToolResult:
        """A PNG to look at: pictures downsampled, a 2-D slab as a heatmap, 1-D data and table columns as lines.

        The image comes with a JSON caption: what was drawn, strides, and the value range.
        """
        png, caption = ws.preview_image(
            path, key=key, selection=selection, max_side=max_side, format=format,
            max_bytes=settings.max_response_bytes,
        )
        return ToolResult(content=[Image(data=png, format="png").to_image_content(), json.dumps(caption)])
