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
        limit: Annotated[int, Field(ge=1, le=100, description="Most records to list, newest first.")] = 20,
    ) -> FileProvenance:
        """Which calls wrote this file (newest first), with their arguments and SHA-256, and its lineage:
        the input files it was made from and, recursively, what made those."""
        return ws.file_provenance(path, limit=limit)

    @mcp.tool(annotations=READ)
    def verify_file(path: PathArg) -> VerifyResult:
        """Re-hash the file and compare with the ledger: OK (unchanged since its last recorded write),
        MODIFIED (changed since), UNKNOWN (never recorded)."""
        return ws.verify_file(path)

    @mcp.tool(annotations=READ)
    def cache_info() -> CacheInfo:
        """Load-cache statistics: hits, misses, entries, bytes held and the byte bound."""
        return ws.cache_info()

    @mcp.tool(annotations=HOUSEKEEPING)
    def clear_cache() -> CacheCleared:
        """Drop every decoded object the load cache holds (files are untouched)."""
        return ws.clear_cache()
