"""The FastMCP instance: one workspace, the tools registered on it."""

from fastmcp import FastMCP

from io_core.compute.engine import Engine
from server import __version__, errors, guards, isolation, tasks, validation, web
from server.auth import build_auth
from server.settings import Settings
from server.tools import browse, compute, convert, data, discovery, files, provenance, results, stores

INSTRUCTIONS = (
    "Scientific file I/O. Start with list_roots and list_formats; use load_summary to see what a "
    "file holds before reading it; save writes atomically. Errors start with a stable CODE and a hint."
)


def create_app(settings: Settings | None = None) -> FastMCP:
    settings = settings or Settings()
    make_ws = settings.workspace_factory()  # the sciio command builds its Workspace the same way
    ws = isolation.workspace(make_ws, settings)  # HDF5-family reads in --hdf5-workers processes (same make_ws)
    mcp = FastMCP("sciio-mcp", instructions=INSTRUCTIONS, version=__version__, mask_error_details=True,
                  auth=build_auth(settings),  # bearer tokens on /mcp (HTTP only); None: no auth configured
                  lifespan=isolation.lifespan(ws))  # HDF5 workers start after the handshake, end with the server
    guards.install(mcp, settings)  # access log, per-client rate limit, read-only tokens, call time limit
    mcp.add_middleware(errors.ErrorTranslation())  # every failure of every tool/resource -> CODE: message Hint:
    mcp.add_middleware(validation.ArgumentErrors())  # innermost: bad arguments -> INVALID_ARGUMENT
    web.register_routes(mcp, settings)  # GET /health, GET /ready (HTTP only, no auth)
    files.register(mcp, ws, settings)
    discovery.register(mcp, ws, settings)
    data.register(mcp, ws, settings)
    provenance.register(mcp, ws, settings)  # file_provenance, verify_file, cache_info, clear_cache
    engine = Engine(settings.cluster_config())  # exact stats and conversions: in-process or Dask (io_core.compute)
    mcp.add_extension(tasks.Tasks())  # long calls as MCP tasks for clients that declare the extension
    convert.register(mcp, compute.engine_workspace(ws, engine), settings)  # convert (absent when read-only)
    compute.register(mcp, ws, settings, engine)  # compute_stats
    browse.register(mcp, ws, settings)  # explore_h5/zarr, key_exists, read/embed_metadata, h5:// zarr:// resources
    stores.register(mcp, ws, settings)  # record_trial (a writing tool: absent when read-only)
    results.register(mcp, ws, settings)  # lookup_result (read-only)
    return mcp
