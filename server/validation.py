"""Argument errors as ``INVALID_ARGUMENT: <which argument, what was expected> Hint: <an example>``.

FastMCP validates a tool's arguments with pydantic and raises its own ``ValidationError``
(the pydantic error as ``__cause__``), whose text is pydantic's report with a URL per error.
One middleware, innermost, turns that into the coded error every other refusal uses, for
every tool at once: each failing argument with what its input schema expects (the schema
the client saw in tools/list), and a call that would pass as the hint. It is logged at
INFO like any refusal; FastMCP's own warning about it is dropped by ``server.logs``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastmcp.exceptions import ToolError, ValidationError
from fastmcp.server.middleware import CallNext, Middleware, MiddlewareContext

from io_core.errors import InvalidArgumentError

log = logging.getLogger("sciio_mcp")

_EXAMPLE_IN_DESCRIPTION = re.compile(r"e\.g\.\s*'([^']*)'")
_PATHLIKE = re.compile(r"(^|_)(path|src|dst|source|target|file)$")
_MAX_SHOWN = 60
_PLURAL = {"string": "strings", "integer": "integers", "number": "numbers", "boolean": "booleans",
           "object": "objects", "array": "lists"}


def _resolve(schema: dict, defs: dict) -> dict:
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        return {**defs.get(ref.rsplit("/", 1)[-1], {}), **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _branches(schema: dict, defs: dict) -> list[dict]:
    schema = _resolve(schema, defs)
    options = schema.get("anyOf") or schema.get("oneOf")
    return [_resolve(s, defs) for s in options] if options else [schema]


def expected(schema: dict, defs: dict | None = None) -> str:
    """What a JSON schema accepts, in a few words: 'an integer >= 0', 'a string or null'."""
    defs = defs or {}
    words = []
    for branch in _branches(schema, defs):
        if "enum" in branch:
            words.append("one of " + ", ".join(json.dumps(v) for v in branch["enum"]))
            continue
        if "const" in branch:
            words.append(json.dumps(branch["const"]))
            continue
        kind = branch.get("type")
        text = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
                "null": "null", "object": "an object", "array": "a list"}.get(kind, "any JSON value")
        if kind == "array" and isinstance(branch.get("items"), dict):
            inner = _PLURAL.get(_resolve(branch["items"], defs).get("type", ""))
            text = f"a list of {inner}" if inner else text
        bounds = [f"{op} {branch[key]}" for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"),
                                                       ("maximum", "<="), ("exclusiveMaximum", "<")) if key in branch]
        if bounds:
            text += " " + " and ".join(bounds)
        words.append(text)
    return " or ".join(dict.fromkeys(words))


def example(name: str, schema: dict, defs: dict | None = None) -> Any:
    """A value the schema accepts, for the hint: its example, default, or a plain one of its type."""
    defs = defs or {}
    schema = _resolve(schema, defs)
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    found = _EXAMPLE_IN_DESCRIPTION.search(schema.get("description", ""))
    branch = next((b for b in _branches(schema, defs) if b.get("type") != "null"), {})
    if "enum" in branch:
        return branch["enum"][0]
    kind = branch.get("type")
    if kind == "string":
        if found:
            return found.group(1)
        return "data/file.h5" if _PATHLIKE.search(name) else f"<{name}>"
    if kind in ("integer", "number"):
        low = branch.get("minimum", branch.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in branch else 0))
        value = max(low, min(10, branch.get("maximum", 10)))
        return value if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "array":
        items = branch.get("items")
        return [example(name, items, defs)] if isinstance(items, dict) else []
    if kind == "object":
        return {}
    return [[1.0, 2.0], [3.0, 4.0]] if name == "data" else 1


def _shown(value: Any) -> str:
    text = json.dumps(value, default=repr, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "…"


def _where(loc: tuple) -> str:
    out = str(loc[0]) if loc else "arguments"
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def describe(errors: list[dict], params: dict | None) -> tuple[str, list[str]]:
    """One phrase per failing argument (first error each) and the arguments named."""
    params = params or {}
    props, defs = params.get("properties", {}), params.get("$defs", {})
    phrases, names = [], []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        name = str(loc[0]) if loc else "arguments"
        if name in names:
            continue
        names.append(name)
        kind, given = err.get("type", ""), err.get("input")
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            known = ", ".join(props) or "none"
            phrases.append(f"unknown argument {name!r} (this tool takes: {known})")
        elif kind in ("missing_argument", "missing"):
            want = expected(props[name], defs) if name in props else "a value"
            phrases.append(f"missing required argument {name!r} ({want})")
        else:
            want = expected(props[name], defs) if name in props else ""
            reason = str(err.get("msg", "is invalid")).replace("Input should be", "should be")
            if len(loc) > 1 or not want:
                phrases.append(f"argument {_where(loc)!r} {reason}, got {_shown(given)}")
            else:
                plain = reason.startswith("should be a valid") or kind.startswith(("greater_than", "less_than"))
                phrases.append(f"argument {name!r} expects {want}, got {_shown(given)}" + ("" if plain else f" ({reason})"))
    return "; ".join(phrases), names


def example_call(tool: str, params: dict | None, names: list[str]) -> str:
    """``tool {"required": …, "named": …}`` with values each argument's schema accepts."""
    params = params or {}
    props, defs = params.get("properties", {}), params.get("$defs", {})
    wanted = [*params.get("required", []), *(n for n in names if n in props)]
    call = {n: example(n, props[n], defs) for n in dict.fromkeys(wanted) if n in props}
    return f"{tool} {json.dumps(call, ensure_ascii=False, default=str)}"


def invalid_argument(tool: str, errors: list[dict], params: dict | None) -> ToolError:
    phrase, names = describe(errors, params)
    exc = InvalidArgumentError(f"{tool}: {phrase}", hint=f"e.g. {example_call(tool, params, names)}")
    err = ToolError(str(exc), log_level=logging.INFO)
    err.code = exc.code  # type: ignore[attr-defined]  # read by the access log
    return err


class ArgumentErrors(Middleware):
    """Every tool's argument-validation failure as ``INVALID_ARGUMENT`` (add it innermost)."""

    async def on_call_tool(self, context: MiddlewareContext, call_next: CallNext) -> Any:
        try:
            return await call_next(context)
        except ValidationError as exc:
            cause = exc.__cause__
            errors = cause.errors(include_url=False) if hasattr(cause, "errors") else [{"msg": str(exc)}]
            name = context.message.name
            params = None
            if context.fastmcp_context is not None:
                try:
                    tool = await context.fastmcp_context.fastmcp.get_tool(name)
                    params = tool.parameters if tool is not None else None
                except Exception:  # noqa: BLE001 - the message is still coded without the schema
                    params = None
            log.info("tool %s refused: INVALID_ARGUMENT", name)
            raise invalid_argument(name, errors, params) from None
