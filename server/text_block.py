"""The text block of a tool result: the structured content's facts as compact lines, not a second JSON copy.

A tool with an ``outputSchema`` must send ``structuredContent``; the MCP spec adds that it SHOULD also
send the serialized JSON as a ``TextContent`` block for clients that predate structured content
(several still hand only ``content`` to the model). FastMCP sends that JSON verbatim, so every fact
crossed the wire twice, the text copy with every quote escaped. Here the text block carries the same
facts rendered for a reader: ``key: value`` lines, nested objects indented, lists of objects as a
table (one header line of field names, one line per item, ``-`` for a missing field; nested objects
of scalars flattened as ``a.b``; what cannot sit in a cell follows the table under ``<row>.<field>:``).
Strings are bare unless quoting keeps them unambiguous (JSON string syntax then). Nothing is left
out: a client that reads only the text gets every value of the structured content. Results without
structured content (images, errors) are left as they are.
"""

from __future__ import annotations

import json
import re
from typing import Any

INDENT = "  "
_BARE = re.compile(r"[^\s\"'\[\]{},:#|=]+")  # a string that needs no quotes (no spaces, brackets, separators)
_LOOKS_SCALAR = re.compile(r"-|null|true|false|-?\d[\d.eE+-]*|-?(nan|inf|infinity)", re.IGNORECASE)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        if _BARE.fullmatch(value) and not _LOOKS_SCALAR.fullmatch(value):
            return value
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)  # 1.0 stays 1.0: a float column is still visibly float
    return json.dumps(value, ensure_ascii=False)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _inline(value: Any) -> str | None:
    """A scalar or a flat list of scalars on one line; None for anything deeper."""
    if _is_scalar(value):
        return _scalar(value)
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return "[" + ",".join(_scalar(v) for v in value) + "]"
    return None


def _cells(item: dict[str, Any], prefix: str = "") -> tuple[dict[str, str], dict[str, Any]]:
    """A row's one-line cells (nested objects of scalars flattened as a.b) and the rest."""
    cells: dict[str, str] = {}
    rest: dict[str, Any] = {}
    for key, value in item.items():
        text = _inline(value)
        if text is not None:
            cells[prefix + key] = text
        elif isinstance(value, dict) and value:
            sub_cells, sub_rest = _cells(value, f"{prefix}{key}.")
            if sub_rest:
                rest[prefix + key] = value
            else:
                cells.update(sub_cells)
        else:
            rest[prefix + key] = value
    return cells, rest


def _table(lines: list[str], items: list[dict[str, Any]], depth: int) -> None:
    pad = INDENT * depth
    rows = [_cells(item) for item in items]
    columns: list[str] = []
    for cells, _ in rows:
        columns.extend(k for k in cells if k not in columns)
    if columns:
        lines.append(pad + " ".join(columns))
        lines.extend(pad + " ".join(cells.get(c, "-") for c in columns) for cells, _ in rows)
    for index, ((cells, rest), item) in enumerate(zip(rows, items, strict=True)):
        label = cells.get("name") or cells.get("key") or f"[{index}]"
        for key, value in rest.items():
            _field(lines, f"{label}.{key}", value, depth)


def _field(lines: list[str], key: str, value: Any, depth: int) -> None:
    pad = INDENT * depth
    text = _inline(value)
    if text is not None:
        lines.append(f"{pad}{key}: {text}")
    elif isinstance(value, dict):
        if not value:
            lines.append(f"{pad}{key}: {{}}")
            return
        lines.append(f"{pad}{key}:")
        for k, v in value.items():
            _field(lines, _scalar(k) if isinstance(k, str) else str(k), v, depth + 1)
    elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
        lines.append(f"{pad}{key}: {len(value)} items" if value else f"{pad}{key}: []")
        _table(lines, value, depth + 1)
    else:  # a mixed list, or lists of lists: one item per line
        lines.append(f"{pad}{key}:")
        for v in value:
            _item(lines, v, depth + 1)


def _item(lines: list[str], value: Any, depth: int) -> None:
    text = _inline(value)
    if text is not None:
        lines.append(INDENT * depth + text)
    elif isinstance(value, list):
        lines.append(INDENT * depth + "-")
        for v in value:
            _item(lines, v, depth + 1)
    else:
        _field(lines, "-", value, depth)


def render(data: Any) -> str:
    """The facts of ``data`` (a JSON value: a tool's structured content) as compact text lines."""
    lines: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            _field(lines, key, value, 0)
    else:
        _item(lines, data, 0)
    return "\n".join(lines)


def compact(result: Any) -> Any:
    """``result`` (a FastMCP ``ToolResult``) with its JSON text block replaced by ``render`` of its structured
    content; anything else (no structured content, images, a text that is not that JSON object) unchanged.
    A result object a tool reuses (list_formats' cached answer) is rendered once."""
    structured = getattr(result, "structured_content", None)
    content = getattr(result, "content", None)
    if not isinstance(structured, dict) or not content or len(content) != 1:
        return result
    block = content[0]
    text = getattr(block, "text", None)
    if getattr(block, "type", None) != "text" or not isinstance(text, str) or not text.startswith("{"):
        return result
    rendered = render(structured)
    if len(json.dumps(rendered)) <= len(json.dumps(text)):  # on the wire (escaped) never longer than the JSON
        result.content = [block.model_copy(update={"text": rendered})]
    return result


def carries(text: str, data: Any) -> bool:
    """Whether a text block carries ``data``'s facts: its rendering, or its JSON (kept where that is shorter)."""
    if text == render(data):
        return True
    try:
        return json.loads(text) == data
    except ValueError:
        return False
