"""sciio-mcp server: io_core exposed as typed MCP tools over stdio (and HTTP later).

Importing this package builds nothing and loads no heavy library; ``server.app``
creates the FastMCP instance for a given ``Settings``.
"""

__version__ = "0.1.0"
