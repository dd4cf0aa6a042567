"""The ``sciio`` command line's arguments: global options (accepted before or after the subcommand) and one
subparser per subcommand, with the MCP tool's defaults. A usage error prints ``INVALID_ARGUMENT`` and exits 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from sciio import exit_codes

DESCRIPTION = ("Scientific files from the shell: what is in them, parts of them, conversions.\n"
               "The same sandbox and answers as the sciio-mcp server (--json prints a tool's structured result).")


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"INVALID_ARGUMENT: {message}\nHint: see `{self.prog} --help`.\n")
        raise SystemExit(exit_codes.USAGE)


def _global(p: argparse.ArgumentParser, *, top: bool) -> None:
    """Global options. On a subcommand they default to SUPPRESS, so a value given before the subcommand stays, and
    only --root and --json are listed in its help (sciio --help lists them all)."""

    def opt(*names: str, default: object = None, **kwargs: object) -> None:
        if not top:
            default = argparse.SUPPRESS
            if names[0] not in ("--root", "--json"):
                kwargs["help"] = argparse.SUPPRESS
        p.add_argument(*names, default=default, **kwargs)

    opt("--root", action="append", metavar="DIR",
        help="allowed folder, s3://bucket/prefix or https://host/prefix (repeatable); relative paths start at the "
             "first [default: .]")
    opt("--s3-endpoint-url", metavar="URL", help="S3-compatible endpoint (MinIO, SeaweedFS) [default: AWS]")
    opt("--allow-remote-writes", action="store_true", help="allow writing to s3:// roots (read-only otherwise)")
    opt("--remote-timeout", type=float, metavar="SECONDS", help="time limit of one object-store request [default: 20]")
    opt("--json", action="store_true", default=False, help="print the MCP tool's structured result as JSON")
    opt("--read-only", action="store_true", help="refuse every write (as sciio-mcp --read-only)")
    opt("--allow-pickle", action="store_true",
        help="allow loading pickled objects (runs code from the file: trusted files only)")
    opt("--max-response-bytes", type=int, metavar="N", help="budget of one answer, as the server's [default: 32768]")
    opt("--debug", action="store_true", default=False, help="print the traceback of an unexpected failure")


def build() -> argparse.ArgumentParser:
    top = Parser(prog="sciio", description=DESCRIPTION, epilog=exit_codes.table(),
                 formatter_class=argparse.RawDescriptionHelpFormatter)
    _global(top, top=True)
    from server import __version__

    top.add_argument("--version", action="version", version=f"sciio {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        _global(p, top=False)
        return p

    def fmt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--format", help="format name, when the extension misleads (see sciio formats)")

    p = command("summary", "what a file holds: shape, dtype, columns, stats, head (load_summary)")
    p.add_argument("path")
    p.add_argument("--key", help="an object in the file: HDF5/Zarr path, npz member, column, channel, ...")
    p.add_argument("--exact", action="store_true", help="exact stats over every value (reads it all)")
    fmt(p)

    p = command("tree", "an HDF5 file, Zarr store, experiment store, bundle or result store as a tree (explore_h5)")
    p.add_argument("path")
    p.add_argument("--group", help="where to start, e.g. /session1 [default: the root]")
    p.add_argument("--depth", type=int, default=1, help="levels below the group [default: 1]")
    p.add_argument("--offset", type=int, default=0, help="first child listed per group [default: 0]")
    p.add_argument("--limit", type=int, default=100, help="children per group [default: 100]")
    p.add_argument("--detail", action="store_true", help="children in full detail (attributes, filters, sizes)")
    p.add_argument("--no-attrs", action="store_true", help="leave attribute values out")
    fmt(p)

    p = command("slice", "array values, a page of table rows or text lines (read_slice)")
    p.add_argument("path")
    p.add_argument("selection", nargs="?", help="NumPy-style, e.g. '0:10, :, 3'; tables: rows '100:200'")
    p.add_argument("--key", help="the array, column, sheet or table in the file")
    p.add_argument("--columns", help="table columns, comma-separated")
    p.add_argument("--offset", type=int, default=0, help="first row or line [default: 0]")
    p.add_argument("--limit", type=int, help="rows or lines [default: 100 / 200]")
    p.add_argument("--digits", type=int, help="significant digits of floats")
    fmt(p)

    p = command("preview", "a PNG of a picture, a 2-D slab, a signal or table columns (preview_image)")
    p.add_argument("path")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png", help="where to write the PNG (a path of yours, relative to the current folder)")
    p.add_argument("--key")
    p.add_argument("--selection", help="NumPy-style part to draw, e.g. '0, :, :'")
    p.add_argument("--max-side", type=int, default=512, help="longest side in pixels [default: 512]")
    fmt(p)

    p = command("convert", "convert a file to another format, streamed where possible (convert)")
    p.add_argument("src")
    p.add_argument("dst", help="its extension (or --dst-format) picks the format")
    p.add_argument("--key", help="one member, column or table of src")
    p.add_argument("--overwrite", action="store_true", help="replace dst if it exists")
    p.add_argument("--src-format")
    p.add_argument("--dst-format")

    p = command("find", "files matching a glob, naturally sorted (find_files)")
    p.add_argument("pattern", help="*, ?, **, {a,b}; {name} captures a path part, e.g. 'data/sub_{id}/*.csv'")
    p.add_argument("--parse", action="store_true", help="show each file's {name} captures")
    p.add_argument("--limit", type=int, default=1000, help="most files listed [default: 1000]")
    p.add_argument("--ensure-one", action="store_true", help="fail unless exactly one file matches")

    p = command("configs", "every YAML file of a folder merged into one tree (load_configs)")
    p.add_argument("dir", nargs="?", default="config", help="[default: config]")
    p.add_argument("--debug-values", dest="debug", action=argparse.BooleanOptionalAction, default=None,
                   help="DEBUG_<KEY> overrides <KEY> [default: IS_DEBUG.yaml or CI=true]")

    p = command("history", "the recorded writes of a file and what it was made from (file_provenance)")
    p.add_argument("path")
    p.add_argument("--limit", type=int, default=20, help="records [default: 20]")

    p = command("verify", "re-hash a file against its last recorded write: OK, MODIFIED, UNKNOWN (verify_file)")
    p.add_argument("path")

    command("formats", "every format: extensions, operations, what to install (list_formats)")
    command("codes", "the exit statuses and the error codes of each")
    sub.add_parser("serve", help="run the MCP server (what sciio-mcp does; sciio serve --help)", add_help=False)
    return top
