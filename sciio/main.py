"""Entry point of the `sciio` console script (filled in by the CLI work of issue 16)."""

import sys


def main(argv: list[str] | None = None) -> int:
    from server.cli import main as serve

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["serve"]:
        return serve(args[1:]) or 0
    print("usage: sciio serve [...]", file=sys.stderr)
    return 2
