"""Tools that browse containers and embedded metadata: explore_h5, explore_zarr, key_exists,
read_metadata, embed_metadata (writing; not offered read-only). Also registers the h5:// and
zarr:// resource templates (server.resources)."""

from typing import Annotated, Any

from fastmcp import FastMCP
from pydantic import Field

from io_core.workspace import Workspace
from schemas import EmbedResult, ExploreResult, KeyExistsResult, MetadataResult
from server import resources
from server.settings import Settings
from server.tools.files import READ, WRITE, FormatArg, PathArg

DepthArg = Annotated[int, Field(ge=0, le=64, description="Levels below group (0: group alone, in detail).")]
OffsetArg = Annotated[int, Field(ge=0)]
LimitArg = Annotated[int, Field(ge=0, le=1000, description="Children per group.")]
AttrsArg = Annotated[bool, Field(description="Attribute values of detailed nodes.")]
DetailArg = bool  # the tool's description says what detail=true adds


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    budget = settings.max_response_bytes

    @mcp.tool(annotations=READ)
    def explore_h5(
        path: PathArg,
        group: Annotated[str, Field(description="e.g. '/entry/data'")] = "/",
        depth: DepthArg = 1,
        offset: OffsetArg = 0,
        limit: LimitArg = 100,
        attrs: AttrsArg = True,
        detail: DetailArg = False,
    ) -> ExploreResult:
        """An HDF5 file as a tree: a page of children per group as rows (name, kind, shape, dtype, chunks,
        compression, link); detail=true adds attrs, fill values, filters, sizes, sources. Links out of the
        roots are shown, not followed."""
        return ws.explore_h5(path, group, depth=depth, offset=offset, limit=limit, attrs=attrs, max_bytes=budget,
                             detail=detail)

    @mcp.tool(annotations=READ)
    def explore_zarr(
        path: PathArg,
        group: Annotated[str, Field(description="e.g. 'a/b' ('': root)")] = "",
        depth: Annotated[int, Field(ge=0, le=64)] = 1,
        offset: OffsetArg = 0,
        limit: Annotated[int, Field(ge=0, le=1000)] = 100,
        attrs: bool = True,
        detail: bool = False,
    ) -> ExploreResult:
        """A Zarr v2/v3 store (folder or .zip) as a tree, as explore_h5 (rows with shards, detail with
        codecs)."""
        return ws.explore_zarr(path, group, depth=depth, offset=offset, limit=limit, attrs=attrs, max_bytes=budget,
                               detail=detail)

    @mcp.tool(annotations=READ)
    def key_exists(
        path: PathArg,
        key: str,
        format: FormatArg = None,
    ) -> KeyExistsResult:
        """Whether an HDF5 file or Zarr store holds key (exists false: no; null: behind a link out of the
        roots)."""
        return ws.key_exists(path, key, format)

    @mcp.tool(annotations=READ)
    def read_metadata(path: PathArg) -> MetadataResult:
        """sciio metadata embedded in a PNG, JPEG, TIFF, SVG or PDF, and the file's own (size, mode, EXIF,
        TIFF tags, pages, document info)."""
        return ws.read_metadata(path, max_bytes=budget)

    resources.register(mcp, ws, settings)

    if settings.read_only:
        return  # writing tools are not offered at all

    @mcp.tool(annotations=WRITE)
    def embed_metadata(
        path: PathArg,
        metadata: Annotated[Any, Field(description="Any JSON, at most 32 KiB.")],
        overwrite: bool = False,
    ) -> EmbedResult:
        """Embed JSON metadata in a PNG, JPEG, TIFF, SVG or PDF, atomically (overwrite=true replaces earlier
        sciio metadata); pixels and pages unchanged."""
        return ws.embed_metadata(path, metadata, overwrite=overwrite)
