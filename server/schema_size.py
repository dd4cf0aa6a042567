"""Output schemas that stay truthful but small: shared ``$defs``, nothing that carries no fact.

Every tools/list carries every tool's output schema into the model's context. FastMCP
derives it from the tool's return model and inlines each ``$ref``, so a union used in
three places is written three times (``load_summary`` alone was 9 KB). Here the schema is
derived again from the return model with its ``$defs`` kept (clients validate structured
results with a JSON Schema library, which follows references), then stripped of what
validation and the model do not need: titles, descriptions (the tool's own description
says what it returns), ``additionalProperties: false``, defaults that an absent field
means anyway (null, false, 0, empty); ``X | None`` is written ``type: [X, "null"]``.
Results of ``schemas`` models leave out fields equal to their default (schemas.compact),
so a field whose default is null is never null there (its type loses ``null``) and the
defaults that remain (``exact: true``, ...) are what an absent field means. The schema
types a result's own fields; the models inside it (a tree's node, provenance records,
list entries) are advertised as plain objects, as list_formats' entries and a node's
children always were: they are documented in schemas.models and the README, and typing
them cost every listing 4 KB. Input schemas stay inlined (some clients cannot follow
``$ref`` in arguments); ``compact_input`` writes ``X | None = None`` as plain ``X``.
"""

from __future__ import annotations

import typing
from typing import Any

_DROP = frozenset({"title", "description", "discriminator"})


def _empty(value: Any) -> bool:
    """A default that an absent field means without being told: null, false, 0, "", [], {}."""
    return value is None or value is False or (type(value) in (int, float) and value == 0) or value in ("", [], {})


def compact(schema: Any, never_null: bool = False) -> Any:
    """A smaller copy of an output schema: the same results validate (see module docstring).

    ``never_null``: the results leave out every field whose value is its default null (schemas.compact).
    """
    out = _compact(schema, never_null)
    if isinstance(out, dict) and "$defs" in out:
        _fold_deep_refs(out)
        _prune_defs(out)
    return out


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref[len("#/$defs/"):])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _plain_objects(node: Any, keep: set[str]) -> Any:
    """``node`` with every reference to a model outside ``keep`` written as a plain object."""
    if isinstance(node, list):
        return [_plain_objects(value, keep) for value in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/") and ref[len("#/$defs/"):] not in keep:
        return {**{k: v for k, v in node.items() if k != "$ref"}, "type": "object"}
    return {key: _plain_objects(value, keep) for key, value in node.items()}


def _fold_deep_refs(schema: dict[str, Any]) -> None:
    """The result's own fields stay typed; the models inside it (nodes, records, entries) become plain objects."""
    for key, value in list(schema.items()):
        if key != "$defs":
            schema[key] = _plain_objects(value, set())


def _tagged_union(schema: dict[str, Any]) -> dict[str, Any] | None:
    """A discriminated union (one model per ``kind``) as an object with that tag: its members are documented
    in the README and described by ``load_summary`` itself; spelling out eight models costs 5 KB a listing."""
    tag = schema.get("discriminator")
    if not isinstance(tag, dict) or not isinstance(tag.get("mapping"), dict) or "oneOf" not in schema:
        return None
    name = tag["propertyName"]
    return {"type": "object", "required": [name], "properties": {name: {"enum": sorted(tag["mapping"])}}}


def _prune_defs(schema: dict[str, Any]) -> None:
    """Drop ``$defs`` no longer referenced (after unions were folded)."""
    import json

    defs = schema["$defs"]
    while True:
        text = json.dumps({k: v for k, v in schema.items() if k != "$defs"}) + json.dumps(defs)
        unused = [name for name in defs if f'"#/$defs/{name}"' not in text]
        if not unused:
            break
        for name in unused:
            del defs[name]
    if not defs:
        del schema["$defs"]


def _never_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A field whose default is null, in a result that leaves such fields out: its non-null type alone."""
    options = schema.get("anyOf")
    if "default" not in schema or schema["default"] is not None or not isinstance(options, list):
        return schema
    kept = [o for o in options if o != {"type": "null"}]
    if len(kept) != 1 or len(options) != 2:
        return schema
    return {**{k: v for k, v in schema.items() if k != "anyOf"}, **kept[0]}


def _compact(schema: Any, never_null: bool = False) -> Any:
    if isinstance(schema, dict) and (folded := _tagged_union(schema)) is not None:
        return folded
    if isinstance(schema, list):
        return [_compact(item, never_null) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if never_null:
        schema = _never_null(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "patternProperties"):  # names here are data, not keywords
            out[key] = {name: _compact(sub, never_null) for name, sub in value.items()}
        elif key in _DROP or (key == "additionalProperties" and isinstance(value, bool)):
            continue  # true is the default; false only forbids what the server never sends
        elif key == "default" and _empty(value):
            continue
        else:
            out[key] = _compact(value, never_null)
    if "const" in out:
        out.pop("type", None)  # the constant says it
    options = out.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        other = options[0] if options[1] == {"type": "null"} else options[1]
        if isinstance(other.get("type"), str) and "$ref" not in other:
            out.pop("anyOf")
            out.update(other, type=[other["type"], "null"])
            if "enum" in other:
                out["enum"] = [*other["enum"], None]
    return out


def output_schema(tool: Any) -> dict[str, Any] | None:
    """The compact output schema of a FastMCP tool: from its return model when it has one."""
    if tool.output_schema is None:
        return None
    from pydantic import BaseModel

    from schemas.compact import CompactModel

    fn = getattr(tool, "fn", None)
    try:
        returned = typing.get_type_hints(fn).get("return") if fn is not None else None
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: keep FastMCP's schema
        returned = None
    if isinstance(returned, type) and issubclass(returned, BaseModel):
        derived = returned.model_json_schema(mode="serialization")
        same_fields = set(derived.get("properties", {})) == set(tool.output_schema.get("properties", {}))
        if same_fields and derived.get("type") == tool.output_schema.get("type") == "object":  # not a ToolResult
            return compact(derived, never_null=issubclass(returned, CompactModel))
    return compact(tool.output_schema)


def _plain_types(schema: Any) -> Any:
    """``anyOf`` of bare types as one ``type`` list, ``additionalProperties: true`` left out (the default)."""
    if isinstance(schema, list):
        return [_plain_types(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _plain_types(v) for k, v in schema.items() if not (k == "additionalProperties" and v is True)}
    options = out.get("anyOf")
    if isinstance(options, list) and options and all(
            isinstance(o, dict) and set(o) == {"type"} and isinstance(o["type"], str) for o in options):
        del out["anyOf"]
        out["type"] = [o["type"] for o in options]
    return out


def compact_input(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    """Tool arguments without what carries no fact: titles, ``additionalProperties: false``, defaults that
    leaving the argument out means anyway (null, false, 0, ""), and ``X | None = None`` written as plain ``X``.

    An optional argument whose default is null is simply left out by a client that has no value,
    so its schema need not offer null (nor say ``default: null``): one plain type, which every
    client's schema subset understands. The server still accepts an explicit null.
    """
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return schema
    required = set(schema.get("required", ()))
    properties = {}
    for name, sub in schema["properties"].items():
        sub = {k: v for k, v in sub.items() if k != "title"}
        options = sub.get("anyOf")
        if name not in required and "default" in sub and sub["default"] is None and isinstance(options, list):
            kept = [o for o in options if o != {"type": "null"}]
            if len(kept) == 1 and len(options) == 2:
                sub.pop("anyOf")
                sub = {**kept[0], **sub}
        if "default" in sub and _empty(sub["default"]) and name not in required:
            del sub["default"]  # an optional flag off, an offset 0, no value: what leaving it out means anyway
        properties[name] = _plain_types(sub)
    out = {**schema, "properties": properties}
    if out.get("additionalProperties") is False:  # unknown arguments are refused (INVALID_ARGUMENT) anyway
        del out["additionalProperties"]
    return out


# -- the tool entries of tools/list ---------------------------------------------------------------

_LEAN_CLASSES: dict[type, type] = {}
_LEAN: set[type] = set()


def _lean_entry(mcp_tool: Any, name: str) -> Any:
    """Leave out of an MCP tool entry what FastMCP adds without a fact: a title made from the name
    ("list_roots" -> "List Roots") and ``_meta: {"fastmcp": {"tags": []}}`` (no tags, no version)."""
    from fastmcp.tools.base import _default_title

    if mcp_tool.title == _default_title(name):
        mcp_tool.title = None
    if mcp_tool.meta == {"fastmcp": {"tags": []}}:
        mcp_tool.meta = None
    return mcp_tool


def lean(tool: Any) -> Any:
    """``tool`` (FastMCP lists fresh copies) made to leave out of its tools/list entry FastMCP's generated
    title and empty ``_meta`` (``_lean_entry``): about 55 bytes per tool; names, descriptions, schemas and
    annotations are untouched. Its class becomes a subclass whose ``to_mcp_tool`` does that (cached)."""
    cls = type(tool)
    if cls in _LEAN:
        return tool
    lean_cls = _LEAN_CLASSES.get(cls)
    if lean_cls is None:
        def to_mcp_tool(self: Any, **overrides: Any) -> Any:
            return _lean_entry(cls.to_mcp_tool(self, **overrides), overrides.get("name", self.name))

        lean_cls = _LEAN_CLASSES[cls] = type(cls.__name__, (cls,), {"to_mcp_tool": to_mcp_tool,
                                                                    "__module__": cls.__module__})
        _LEAN.add(lean_cls)
    tool.__class__ = lean_cls
    return tool
