"""``python -m server`` is the same as ``sciio-mcp``."""

from server.cli import main

main()
