"""Tools about where files came from and what the server keeps in memory:
file_provenance, verify_file, cache_info, clear_cache. Thin wrappers over the Workspace."""

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from io_core.workspace import Workspace
from schemas import CacheCleared, CacheInfo, FileProvenance, VerifyResult
from server.settings import Settings
from server.tools.files import READ, PathArg

HOUSEKEEPING = {"readOnlyHint": False, "destructiveHint": False, "idempotentHint": True, "openWorldHint": False}


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    @mcp.tool(annotations=READ)
    def file_provenance(
        path: PathArg,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ) -> FileProvenance:
        """Writes of this file (newest first: arguments, SHA-256; at most limit) and its lineage (source
        files, recursively)."""
        return ws.file_provenance(path, limit=limit)

    @mcp.tool(annotations=READ)
    def verify_file(path: PathArg) -> VerifyResult:
        """Re-hash against the ledger: OK (as last recorded), MODIFIED, or UNKNOWN (never recorded)."""
        return ws.verify_file(path)

    @mcp.tool(annotations=READ)
    def cache_info() -> CacheInfo:
        """Load-cache hits, misses, entries, bytes held and byte bound."""
        return ws.cache_info()

    @mcp.tool(annotations=HOUSEKEEPING)
    def clear_cache() -> CacheCleared:
        """Empty the load cache (files are untouched)."""
        return ws.clear_cache()
