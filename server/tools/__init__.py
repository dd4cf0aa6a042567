"""Thin MCP tool wrappers over io_core, grouped by what they do."""
