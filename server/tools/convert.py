"""The writing tool that turns one file into another format: convert."""

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from io_core.workspace import Workspace
from schemas import SaveResult
from server.settings import Settings
from server.tools.files import WRITE, FormatArg, KeyArg, PathArg


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    if settings.read_only:
        return  # writing tools are not offered at all

    @mcp.tool(annotations=WRITE)
    def convert(
        src: PathArg,
        dst: Annotated[str, Field(description="Its extension (or dst_format) picks the format.")],
        key: KeyArg = None,
        overwrite: bool = False,
        src_format: FormatArg = None,
        dst_format: str | None = None,
    ) -> SaveResult:
        """Convert a file to another format (csv to parquet, HDF5 dataset to npy or zarr, ...), streamed; src
        may be a glob (many files to one .zarr or .parquet). Atomic; recorded in the ledger."""
        return ws.convert(src, dst, key=key, overwrite=overwrite, src_format=src_format, dst_format=dst_format)
