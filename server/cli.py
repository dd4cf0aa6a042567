"""``sciio-mcp``: parse flags, configure stderr logging, serve MCP over stdio."""

import argparse
import logging
import sys
from pathlib import Path

from server import __version__


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sciio-mcp", description="Scientific file I/O as MCP tools (stdio).")
    p.add_argument("--root", action="append", type=Path, metavar="DIR",
                   help="allowed folder (repeatable); the first is the base of relative paths [default: .]")
    p.add_argument("--read-only", action="store_true", default=None, help="offer no writing tools")
    p.add_argument("--allow-pickle", action="store_true", default=None,
                   help="allow loading pickled objects (runs code from the file: trusted files only)")
    p.add_argument("--max-response-bytes", type=int, metavar="N", help="largest tool result [default: 32768]")
    p.add_argument("--log-level", default=None, help="stderr log level [default: WARNING]")
    p.add_argument("--version", action="version", version=f"sciio-mcp {__version__}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    from server.settings import Settings

    overrides = {
        "roots": args.root,
        "read_only": args.read_only,
        "allow_pickle": args.allow_pickle,
        "max_response_bytes": args.max_response_bytes,
        "log_level": args.log_level,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    missing = [str(r) for r in settings.roots if not r.is_dir()]
    if missing:
        sys.stderr.write(f"sciio-mcp: root folder(s) do not exist: {', '.join(missing)}\n")
        raise SystemExit(2)
    logging.basicConfig(stream=sys.stderr, level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if sys.stdin.isatty():
        sys.stderr.write(
            "sciio-mcp serves MCP over stdio and waits for a client on stdin.\n"
            "Connect from an MCP client configured with: "
            f'{{"command": "sciio-mcp", "args": ["--root", "{settings.roots[0]}"]}}\n'
            "Press Ctrl-C to stop.\n"
        )
    from server.app import create_app

    create_app(settings).run(transport="stdio", show_banner=False)


if __name__ == "__main__":
    main()
