"""The response budget: cut any result model until its JSON fits, saying what was cut.

Results are built once, then cut in memory: the largest cuttable part (a list of
children/columns/files, or anything inside a free-form preview field) is halved,
until the compact UTF-8 JSON fits. Shapes, dtypes, counts and paths are never cut,
so what remains stays true; the ``truncated`` flag next to what was cut is set.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel

from io_core.errors import TooLargeError

M = TypeVar("M", bound=BaseModel)

# fields whose content is a preview: anything inside may be shortened
FREE_FIELDS = frozenset({"head", "preview", "attrs", "tree", "captures", "values", "rows", "lines", "info"})
# lists of records that may lose trailing entries
CUT_LISTS = frozenset({"children", "columns", "files", "keys", "formats", "history", "lineage", "channels", "annotations"})
# which flag, in the same object, says that a field was cut
FLAG_FOR = {"head": ("head_truncated", "truncated"), "columns": ("columns_truncated", "truncated")}
MIN_STRING = 16
# fields kept in the dump being cut although they hold their default (the compact form leaves them out):
# the flags a cut sets, and what a tree cut reads and writes
KEEP_FOR_CUTTING = frozenset({"truncated", "head_truncated", "columns_truncated", "children", "offset", "next_offset"})


def dump_for_cutting(model: BaseModel) -> dict[str, Any]:
    """The compact JSON form of ``model`` with the fields a cut needs (KEEP_FOR_CUTTING) present."""
    return model.model_dump(mode="json", context={"keep": KEEP_FOR_CUTTING})


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: what the budget counts."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _candidates(node: Any, path: tuple, free: bool, out: list) -> None:
    """Collect (size, path) of every part that may be cut; ``path`` is ((container, key), ...)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        here = (*path, (node, key))
        inside_free = free or (isinstance(node, dict) and key in FREE_FIELDS)
        if isinstance(value, str):
            if inside_free and len(value) > MIN_STRING:
                out.append((json_size(value), here))
            continue
        if not isinstance(value, (list, dict)):
            continue
        cuttable = inside_free or (isinstance(value, list) and isinstance(node, dict) and key in CUT_LISTS)
        if cuttable and len(value) > (0 if inside_free else 1):
            out.append((json_size(value), here))
        _candidates(value, here, inside_free, out)


def _cut(container: Any, key: Any) -> None:
    value = container[key]
    if isinstance(value, str):
        keep = max(MIN_STRING, len(value) // 2)
        container[key] = value[:keep] + "…"
    elif isinstance(value, list):
        del value[len(value) // 2 :]
    elif isinstance(value, dict):
        for k in list(value)[len(value) // 2 :]:
            del value[k]


def _flag(path: tuple) -> None:
    """Set the nearest ``truncated``-style flag on the way up from the cut part."""
    for container, key in reversed(path):
        if not isinstance(container, dict):
            continue
        for flag in FLAG_FOR.get(key, ("truncated",)):
            if flag in container:
                container[flag] = True
                return


def _extends(path: tuple, prefix: tuple) -> bool:
    return all(a[0] is b[0] and a[1] == b[1] for a, b in zip(path, prefix, strict=False))


def fit_json(data: Any, max_bytes: int) -> Any:
    """Cut ``data`` (plain JSON, modified in place) until it fits ``max_bytes``."""
    while json_size(data) > max_bytes:
        found: list = []
        _candidates(data, (), False, found)
        if not found:
            raise TooLargeError(
                f"the result needs {json_size(data)} bytes even with every preview removed; the budget is {max_bytes}",
                hint="Raise --max-response-bytes, or ask for less (a key, a smaller selection).",
            )
        size, path = max(found, key=lambda item: item[0])
        # one element dominating a list (a megabyte cell in a row) is cut itself, not its siblings
        while True:
            inner = [(n, p) for n, p in found if len(p) > len(path) and 2 * n >= size and _extends(p, path)]
            if not inner:
                break
            size, path = max(inner, key=lambda item: (item[0], -len(item[1])))
        container, key = path[-1]
        _cut(container, key)
        _flag(path)
    return data


def fit(model: M, max_bytes: int | None) -> M:
    """``model`` unchanged when it fits, else a validated copy cut to fit."""
    if max_bytes is None or json_size(model.model_dump(mode="json")) <= max_bytes:
        return model
    return type(model).model_validate(fit_json(dump_for_cutting(model), max_bytes))
