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

DepthArg = Annotated[int, Field(ge=0, le=64, description="Levels of children to list below the group (0: the node only).")]
OffsetArg = Annotated[int, Field(ge=0, description="First child to list (pagination; see next_offset).")]
LimitArg = Annotated[int, Field(ge=0, le=1000, description="Children listed per group.")]
AttrsArg = Annotated[bool, Field(description="Include attribute values (bounded); counts are always given.")]


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    budget = settings.max_response_bytes

    @mcp.tool(annotations=READ)
    def explore_h5(
        path: PathArg,
        group: Annotated[str, Field(description="Object path inside the file, e.g. '/' or '/entry/data'.")] = "/",
        depth: DepthArg = 1,
        offset: OffsetArg = 0,
        limit: LimitArg = 100,
        attrs: AttrsArg = True,
    ) -> ExploreResult:
        """Browse an HDF5 file like a folder: groups, datasets (shape, dtype, chunks, filters, fill value),
        attributes, soft/external links and virtual-dataset sources, one page of children per group.

        Opened read-only without locking (SWMR mode while a SWMR writer has the file). Links and data
        files outside the allowed roots are shown, never followed.
        """
        return ws.explore_h5(path, group, depth=depth, offset=offset, limit=limit, attrs=attrs, max_bytes=budget)

    @mcp.tool(annotations=READ)
    def explore_zarr(
        path: PathArg,
        group: Annotated[str, Field(description="Group or array inside the store, e.g. '' (root) or 'a/b'.")] = "",
        depth: DepthArg = 1,
        offset: OffsetArg = 0,
        limit: LimitArg = 100,
        attrs: AttrsArg = True,
    ) -> ExploreResult:
        """Browse a Zarr v2/v3 store (folder or .zip) in the same shape as explore_h5: arrays with chunk and
        shard shapes, codecs/compressors, fill value and attributes; consolidated metadata when present."""
        return ws.explore_zarr(path, group, depth=depth, offset=offset, limit=limit, attrs=attrs, max_bytes=budget)

    @mcp.tool(annotations=READ)
    def key_exists(
        path: PathArg,
        key: Annotated[str, Field(description="Object path inside an HDF5 file or Zarr store.")],
        format: FormatArg = None,
    ) -> KeyExistsResult:
        """Whether an HDF5 file or Zarr store holds `key`. A missing key is exists=false, not an error;
        exists=null when the answer lies behind a link out of the allowed roots."""
        return ws.key_exists(path, key, format)

    @mcp.tool(annotations=READ)
    def read_metadata(path: PathArg) -> MetadataResult:
        """The sciio metadata embedded in a PNG, JPEG, TIFF, SVG or PDF (has_metadata says whether there is
        any), and the file's own metadata: size, mode, EXIF fields, TIFF tags, page count, document info."""
        return ws.read_metadata(path, max_bytes=budget)

    resources.register(mcp, ws, settings)

    if settings.read_only:
        return  # writing tools are not offered at all

    @mcp.tool(annotations=WRITE)
    def embed_metadata(
        path: PathArg,
        metadata: Annotated[Any, Field(description="Any JSON value (at most 32 KiB as JSON), stored under the key 'sciio'.")],
        overwrite: Annotated[bool, Field(description="Replace sciio metadata the file already holds.")] = False,
    ) -> EmbedResult:
        """Embed JSON metadata in a PNG (iTXt), JPEG (EXIF UserComment), TIFF (private tag), SVG (<metadata>)
        or PDF (document info). The file is rewritten atomically; pixels and page contents stay identical."""
        return ws.embed_metadata(path, metadata, overwrite=overwrite)
