"""Entry point of the ``sciio`` console script (and ``python -m sciio``).

``sciio serve ...`` is ``sciio-mcp ...``. Every other subcommand builds the server's Settings (flags over
``SCIIO_*`` variables over defaults), the Workspace those settings describe (``Settings.workspace_factory``, the
server's own), runs one call (sciio.commands) and prints it for people (sciio.render) or, with ``--json``, as the
MCP tool's structured result. A failure prints ``CODE: message`` and ``Hint: ...`` on stderr and exits with its
family's status (sciio.exit_codes); only ``--debug`` shows a traceback. FastMCP is imported by ``serve`` alone.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from sciio import exit_codes

_GLOBAL_WITH_VALUE = {"--root", "--max-response-bytes", "--s3-endpoint-url", "--remote-timeout"}
_GLOBAL_FLAGS = {"--json", "--read-only", "--allow-pickle", "--allow-remote-writes", "--debug"}


def _serve_args(args: list[str]) -> list[str] | None:
    """The arguments for ``sciio-mcp`` when the subcommand is ``serve`` (global options before it carried over)."""
    carried: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        name = token.split("=", 1)[0]
        if token == "serve":
            return [a for a in carried if a not in ("--json", "--debug")] + args[i + 1:]
        if name in _GLOBAL_WITH_VALUE:
            step = 1 if "=" in token else 2
            carried += args[i:i + step]
            i += step
        elif token in _GLOBAL_FLAGS:
            carried.append(token)
            i += 1
        else:
            return None
    return None


# Hints name the MCP tools (the same errors reach agents); on the command line they name the subcommands.
_TOOL_WORDS = {"load_summary": "sciio summary", "list_formats": "sciio formats", "read_slice": "sciio slice",
               "explore_h5": "sciio tree", "explore_zarr": "sciio tree", "find_files": "sciio find",
               "load_configs": "sciio configs", "file_provenance": "sciio history", "verify_file": "sciio verify",
               "preview_image": "sciio preview", "list_roots": "--root", "overwrite=true": "--overwrite",
               "exact_stats=true": "--exact", "detail=true": "--detail",
               **{f"{name}=": f"--{name.replace('_', '-')} " for name in (
                   "key", "format", "offset", "limit", "columns", "depth", "group", "digits", "max_side")}}
_TOOL_PATTERN = re.compile("|".join(rf"\b{re.escape(w)}" for w in sorted(_TOOL_WORDS, key=len, reverse=True)))


def for_shell(hint: str) -> str:
    """A hint with the MCP tools it names replaced by their subcommands and options."""
    return re.sub(r"(--[\w-]+) {2,}", r"\1 ", _TOOL_PATTERN.sub(lambda m: _TOOL_WORDS[m.group()], hint))


def fail(code: str, message: str, hint: str = "") -> None:
    sys.stderr.write(f"{code}: {message}\n" + (f"Hint: {for_shell(hint)}\n" if hint else ""))


def _settings(args: Any) -> Any:
    from pydantic import ValidationError

    from server.settings import Settings

    given = {"roots": args.root, "read_only": args.read_only, "allow_pickle": args.allow_pickle,
             "max_response_bytes": args.max_response_bytes, "s3_endpoint_url": args.s3_endpoint_url,
             "allow_remote_writes": args.allow_remote_writes, "remote_timeout": args.remote_timeout}
    try:
        settings = Settings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        from io_core.errors import InvalidArgumentError

        raise InvalidArgumentError(f"invalid settings: {problems}",
                                   hint="Check the options and SCIIO_* variables.") from None
    missing = [str(r) for r in settings.local_roots() if not r.is_dir()]
    if missing:
        from io_core.errors import InvalidArgumentError

        raise InvalidArgumentError(f"root folder(s) do not exist: {', '.join(missing)}",
                                   hint="Pass --root with an existing folder (default: the current folder).")
    return settings


def run(args: Any) -> int:
    from io_core.limits import set_current
    from sciio import commands, render

    settings = _settings(args)
    set_current(settings.limits())  # the limits every call is checked against, as in the server
    ws = settings.workspace_factory()()
    result, status = commands.COMMANDS[args.command](ws, settings, args)
    if args.json:
        sys.stdout.write(json.dumps(commands.as_json(result), indent=2, ensure_ascii=False) + "\n")
    else:
        render.RENDERERS[args.command](render.console(), result, args)
    sys.stdout.flush()  # a reader that closed early shows here, inside main's handler
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    serve = _serve_args(argv)
    if serve is not None:
        from server.cli import main as serve_main

        return serve_main(serve) or 0
    from sciio.parser import build

    parser = build()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return exit_codes.USAGE
    try:
        return run(args)
    except KeyboardInterrupt:
        fail("CANCELLED", "interrupted")
        return exit_codes.INTERRUPTED
    except BrokenPipeError:  # e.g. `sciio find ... | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return exit_codes.OK
    except Exception as exc:  # noqa: BLE001 - every failure ends as a coded message and an exit status
        from io_core.errors import coded

        known = coded(exc)
        if known is None:
            if args.debug:
                import traceback

                traceback.print_exc()
            fail("INTERNAL_ERROR", f"{type(exc).__name__}: {str(exc)[:300]}",
                 "This is a bug: rerun with --debug for the traceback and report it.")
            return exit_codes.UNEXPECTED
        fail(known.code, known.message, known.hint)
        return exit_codes.status_of(known)


if __name__ == "__main__":
    raise SystemExit(main())
