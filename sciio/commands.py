"""What each ``sciio`` subcommand asks of the Workspace: the same call, with the same arguments and budget, that
the MCP tool of the same job makes (named beside each), so ``--json`` prints exactly the tool's structured result.

Every function takes the Workspace, the settings and the parsed arguments and returns the result (the tool's
return model, or plain JSON data) and the exit status; ``as_json`` dumps a model as FastMCP sends it. Nothing here
formats for people (sciio.render).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from sciio import exit_codes
from sciio.progress import activity

Outcome = tuple[Any, int]


def as_json(result: Any) -> Any:
    """The result as the MCP tool's structured content: the model's compact JSON (a NaN or inf a model might hold
    comes out as null, as pydantic writes it on the wire); plain data as it is."""
    return json.loads(result.model_dump_json()) if hasattr(result, "model_dump_json") else result


def summary(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """load_summary."""
    text = f"exact stats of {args.path}" if args.exact else f"reading {args.path}"
    with activity(text) as progress:
        result = ws.summarize(args.path, args.format, key=args.key, max_bytes=settings.max_response_bytes,
                              exact_stats=args.exact, progress=progress if args.exact else None)
    return result, exit_codes.OK


def tree(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """explore_h5 / explore_zarr (the format's own explore for stores, bundles, FITS, result stores)."""
    with activity(f"exploring {args.path}"):
        result = ws.explore(args.path, args.group or "", format=args.format, depth=args.depth, offset=args.offset,
                            limit=args.limit, attrs=not args.no_attrs, max_bytes=settings.max_response_bytes,
                            detail=args.detail)
    return result, exit_codes.OK


def slice_(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """read_slice."""
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    with activity(f"reading {args.path}"):
        result = ws.read_slice(args.path, key=args.key, selection=args.selection, columns=columns, offset=args.offset,
                               limit=args.limit, format=args.format, max_bytes=settings.max_response_bytes)
    if args.digits is not None:
        from server.tools.data import with_digits  # the tool's own rounding (imports FastMCP: only when asked)

        result = with_digits(result, args.digits)
    return result, exit_codes.OK


def preview(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """preview_image: the PNG goes to -o, the caption (the tool's text part) is the result."""
    with activity(f"drawing {args.path}"):
        png, caption = ws.preview_image(args.path, key=args.key, selection=args.selection, max_side=args.max_side,
                                        format=args.format, max_bytes=settings.max_response_bytes)
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.sciio-tmp")
    try:
        tmp.write_bytes(png)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return json.loads(json.dumps(caption)), exit_codes.OK  # as the tool's JSON text


def convert(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """convert, on the workspace the tool has: the compute engine's (many files, or a .zarr destination, go to the
    engine; the rest to the Workspace's own convert), without FastMCP."""
    from io_core.compute.engine import Engine
    from io_core.compute.routing import EngineWorkspace

    engine_ws = EngineWorkspace(ws, Engine(settings.cluster_config()))  # no MCP task, no call to cancel
    with activity(f"converting {args.src} to {args.dst}") as report:
        progress = None if report is None else (lambda done, total, nbytes, label: report(done, total))
        result = engine_ws.convert(args.src, args.dst, key=args.key, overwrite=args.overwrite,
                                   src_format=args.src_format, dst_format=args.dst_format, progress=progress)
    return result, exit_codes.OK


def find(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """find_files."""
    from io_core.discovery import find_in_roots

    result = find_in_roots(ws.sandbox, args.pattern, parse=args.parse, limit=args.limit, ensure_one=args.ensure_one,
                           max_bytes=settings.max_response_bytes)
    return result, exit_codes.OK


def configs(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """load_configs."""
    from io_core.discovery import configs_in_roots

    result = configs_in_roots(ws.sandbox, args.dir, args.debug, max_bytes=settings.max_response_bytes)
    return result, exit_codes.OK


def history(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """file_provenance."""
    return ws.file_provenance(args.path, limit=args.limit), exit_codes.OK


def verify(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """verify_file; the exit status tells OK (0), MODIFIED (11) and UNKNOWN (12) apart."""
    with activity(f"hashing {args.path}"):
        result = ws.verify_file(args.path)
    return result, exit_codes.VERIFY_STATUS[result.status]


def formats(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """list_formats."""
    from schemas import FormatList

    return FormatList.of(ws.registry.list_formats()), exit_codes.OK


def codes(ws: Any, settings: Any, args: argparse.Namespace) -> Outcome:
    """The exit-status table (no tool: it belongs to the command line)."""
    table = [{"status": status, "meaning": meaning, "codes": list(names)}
             for status, meaning, names in exit_codes.FAMILIES]
    return {"exit_statuses": table}, exit_codes.OK


COMMANDS = {"summary": summary, "tree": tree, "slice": slice_, "preview": preview, "convert": convert, "find": find,
            "configs": configs, "history": history, "verify": verify, "formats": formats, "codes": codes}
