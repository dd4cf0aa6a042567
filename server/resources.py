"""Resource templates for browsing without tool calls (IDE tree views).

``h5://{path}?object=/entry/data&depth=1&offset=0&limit=100`` and the same for ``zarr://``
return the JSON of an ``ExploreResult`` (``explore_h5`` / ``explore_zarr``). ``path`` is
relative to the first root: FastMCP's template screening (no ``..`` segments, no absolute
paths, no null bytes) stays on for it, and the workspace sandbox checks it again. The
object path is exempt from that screening because it names an object inside the file, not
a file (``/entry`` is not an absolute file path); it never reaches the file system.
"""

from __future__ import annotations

import logging

from fastmcp import FastMCP
from fastmcp.resources import ResourceSecurity

from io_core.workspace import Workspace
from server.settings import Settings

log = logging.getLogger("sciio_mcp")
QUERY = "{?object,depth,offset,limit,attrs}"
SECURITY = ResourceSecurity(exempt_params={"object"})
ANNOTATIONS = {"readOnlyHint": True, "idempotentHint": True}


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    budget = settings.max_response_bytes

    @mcp.resource("h5://{path*}" + QUERY, name="hdf5_node", mime_type="application/json",
                  security=SECURITY, annotations=ANNOTATIONS)
    def hdf5_node(path: str, object: str = "/", depth: int = 1, offset: int = 0, limit: int = 100,
                  attrs: bool = True) -> str:
        """An HDF5 file's object (query: object=/group/path) as explore_h5 JSON: children, attributes, links."""
        return ws.explore_h5(path, object or "/", depth=depth, offset=offset, limit=min(limit, 1000), attrs=attrs,
                             max_bytes=budget).model_dump_json()

    @mcp.resource("zarr://{path*}" + QUERY, name="zarr_node", mime_type="application/json",
                  security=SECURITY, annotations=ANNOTATIONS)
    def zarr_node(path: str, object: str = "", depth: int = 1, offset: int = 0, limit: int = 100,
                  attrs: bool = True) -> str:
        """A Zarr store's group or array (query: object=a/b) as explore_zarr JSON."""
        return ws.explore_zarr(path, object or "", depth=depth, offset=offset, limit=min(limit, 1000), attrs=attrs,
                               max_bytes=budget).model_dump_json()
