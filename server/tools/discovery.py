"""Tools that find files and read config folders: find_files, load_configs."""

from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from io_core.discovery import configs_in_roots, find_in_roots
from io_core.workspace import Workspace
from schemas import ConfigResult, FoundFilesResult
from server.settings import Settings
from server.tools.files import READ


def register(mcp: FastMCP, ws: Workspace, settings: Settings) -> None:
    @mcp.tool(annotations=READ)
    def find_files(
        pattern: Annotated[
            str,
            Field(
                description=(
                    "Glob (*, ?, **, {a,b}; brackets literal); {name} captures a path part, e.g. "
                    "'subj_{id}/run_{run}.csv'."
                )
            ),
        ],
        parse: Annotated[bool, Field(description="Return each file's {name} captures.")] = False,
        limit: Annotated[int, Field(ge=0, le=100_000)] = 1000,
        ensure_one: Annotated[bool, Field(description="Fail unless exactly one file matches.")] = False,
    ) -> FoundFilesResult:
        """Files matching a pattern (at most limit), naturally sorted, with the total."""
        return find_in_roots(
            ws.sandbox, pattern, parse=parse, limit=limit, ensure_one=ensure_one, max_bytes=settings.max_response_bytes
        )

    @mcp.tool(annotations=READ)
    def load_configs(
        config_dir: Annotated[str, Field(description="Folder of .yaml/.yml files.")] = "config",
        debug: Annotated[
            bool | None,
            Field(description="DEBUG_<KEY> overrides <KEY>; default: on if IS_DEBUG.yaml says so or CI=true."),
        ] = None,
    ) -> ConfigResult:
        """Every YAML file of a folder merged into one tree: file stems on top, keys in upper case."""
        return configs_in_roots(ws.sandbox, config_dir, debug, max_bytes=settings.max_response_bytes)
