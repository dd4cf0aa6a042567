"""Output schemas that stay truthful but small: shared ``$defs``, nothing that carries no fact.

Every tools/list carries every tool's output schema into the model's context. FastMCP
derives it from the tool's return model and inlines each ``$ref``, so a union used in
three places is written three times (``load_summary`` alone was 9 KB). Here the schema is
derived again from the return model with its ``$defs`` kept (clients validate structured
results with a JSON Schema library, which follows references), then stripped of what
validation and the model do not need: titles, defaults, descriptions (the tool's own
description says what it returns), ``additionalProperties: false``; ``X | None`` is
written ``type: [X, "null"]``. Input schemas are left as FastMCP makes them (some clients
cannot follow ``$ref`` in arguments).
"""

from __future__ import annotations

import typing
from typing import Any

_DROP = frozenset({"title", "default", "description", "discriminator"})


def compact(schema: Any) -> Any:
    """A smaller copy of a JSON schema: the same results validate (see module docstring)."""
    out = _compact(schema)
    if isinstance(out, dict) and "$defs" in out:
        _prune_defs(out)
    return out


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


def _compact(schema: Any) -> Any:
    if isinstance(schema, dict) and (folded := _tagged_union(schema)) is not None:
        return folded
    if isinstance(schema, list):
        return [_compact(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "patternProperties"):  # names here are data, not keywords
            out[key] = {name: _compact(sub) for name, sub in value.items()}
        elif key in _DROP or (key == "additionalProperties" and isinstance(value, bool)):
            continue  # true is the default; false only forbids what the server never sends
        else:
            out[key] = _compact(value)
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

    fn = getattr(tool, "fn", None)
    try:
        returned = typing.get_type_hints(fn).get("return") if fn is not None else None
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: keep FastMCP's schema
        returned = None
    if isinstance(returned, type) and issubclass(returned, BaseModel):
        derived = returned.model_json_schema(mode="serialization")
        if derived.get("type") == tool.output_schema.get("type") == "object":
            return compact(derived)
    return compact(tool.output_schema)
