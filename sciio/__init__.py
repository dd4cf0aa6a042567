"""The `sciio` command line: what the MCP tools answer, for people in a terminal (same Workspace, same sandbox)."""
