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
        dst: Annotated[str, Field(description="Destination path; its extension (or dst_format) picks the format.")],
        key: KeyArg = None,
        overwrite: Annotated[bool, Field(description="Replace an existing destination (atomically).")] = False,
        src_format: FormatArg = None,
        dst_format: Annotated[
            str | None, Field(description="Destination format name (see list_formats) when its extension is not enough.")
        ] = None,
    ) -> SaveResult:
        """Convert a file to another format (csv→parquet, an HDF5 dataset→npy, mat→h5, xlsx sheet→csv, ...).

        Tables and single arrays are streamed in chunks where both formats allow it. The
        write is atomic and recorded in the provenance ledger with the source as its input.
        """
        return ws.convert(src, dst, key=key, overwrite=overwrite, src_format=src_format, dst_format=dst_format)
