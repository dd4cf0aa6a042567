"""lookup_result: whether a content-addressed result store already holds the result for an input and meta."""

from typing import Annotated, Any, Literal

from fastmcp import FastMCP
from pydantic import Field

from io_core.stores.results_lookup import ResultLookup, lookup_result
from io_core.workspace import Workspace
from server.settings import Settings
from server.tools.files import READ, PathArg


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    @mcp.tool(annotations=READ)
    def lookup_result(
        store: PathArg,
        input: str,
        input_key: Annotated[str | None, Field(
            description="Object in the input; a group of '000', '001', ... is a tuple.")] = None,
        meta: Annotated[Any, Field(
            description="Parameters as JSON, e.g. {\"n_neighbors\": 10}; corelay: the processor's key order, "
                        "floats as 1.0.")] = None,
        scheme: Annotated[Literal["sha256", "corelay"] | None, Field(
            description="Default: the store's.")] = None,
        group: Annotated[str, Field(description="Store group in the file.")] = "/",
    ) -> ResultLookup:
        """Whether a result store (corelay HashedHDF5) holds the result for this input and meta: its key,
        meta/hashes, array keys; another input's entry there is HASH_COLLISION."""
        return _lookup(ws, store, input, input_key=input_key, meta=meta, scheme=scheme, group=group,
                       max_bytes=settings.max_response_bytes)


_lookup = lookup_result
