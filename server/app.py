"""The FastMCP instance: one workspace, the tools registered on it."""

from fastmcp import FastMCP

from io_core.workspace import Workspace
from server import __version__
from server.settings import Settings
from server.tools import discovery, files

INSTRUCTIONS = (
    "Scientific file I/O. Start with list_roots and list_formats; use load_summary to see what a "
    "file holds before reading it; save writes atomically. Errors start with a stable CODE and a hint."
)


def create_app(settings: Settings | None = None) -> FastMCP:
    settings = settings or Settings()
    ws = Workspace(settings.roots, read_only=settings.read_only, allow_pickle=settings.allow_pickle)
    mcp = FastMCP("sciio-mcp", instructions=INSTRUCTIONS, version=__version__, mask_error_details=True)
    files.register(mcp, ws, settings)
    discovery.register(mcp, ws, settings)
    return mcp
