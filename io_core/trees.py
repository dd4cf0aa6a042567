"""Browsing results: page arguments checked once, and trees cut to the budget deepest pages first."""

from __future__ import annotations

from typing import Any

from io_core.errors import InvalidSelectionError

MAX_DEPTH = 64
MAX_LIMIT = 10_000


def check_page(depth: int, offset: int, limit: int) -> None:
    if depth < 0 or offset < 0 or limit < 0:
        raise InvalidSelectionError("depth, offset and limit must not be negative")
    if depth > MAX_DEPTH or limit > MAX_LIMIT:
        raise InvalidSelectionError(f"depth is at most {MAX_DEPTH} and limit at most {MAX_LIMIT}",
                                    hint="Explore deeper groups by passing group=.")


def fit_tree(result: Any, max_bytes: int | None) -> Any:
    """``fit`` a browse result, deeper pages first; every page cut gets a true ``next_offset``.

    The generic cutter halves the largest list, which in a tree is the top page (losing whole
    subtrees); lists below the top node are halved first, then ``fit`` does the rest.
    """
    from io_core.budget import dump_for_cutting, fit_json, json_size

    if max_bytes is None:
        return result
    data = dump_for_cutting(result)
    if json_size(data) <= max_bytes:
        return result

    def nested(node: dict, out: list) -> list:  # the nodes below the top one that list children
        for child in node["children"]:
            if child["children"]:
                out.append(child)
            nested(child, out)
        return out

    while json_size(data) > max_bytes:
        lists = nested(data["node"], [])
        if not lists:
            break
        biggest = max(lists, key=lambda n: json_size(n["children"]))
        del biggest["children"][len(biggest["children"]) // 2 :]
        biggest["next_offset"] = biggest["offset"] + len(biggest["children"])
        biggest["truncated"] = True
    top = data["node"]["children"]
    if json_size(data) > max_bytes and len(top) > 1:  # the top page: keep as many children as fit, not half
        full, low, high = list(top), 1, len(top)
        while low < high:
            mid = (low + high + 1) // 2
            top[:] = full[:mid]
            if json_size(data) <= max_bytes:
                low = mid
            else:
                high = mid - 1
        top[:] = full[:low]
    fitted = type(result).model_validate(fit_json(data, max_bytes))

    def fix(node: Any) -> None:
        listed = len(node.children)
        if node.n_children is not None and listed and node.offset + listed < node.n_children:
            node.next_offset = node.offset + listed
            node.truncated = True
        for child in node.children:
            fix(child)

    fix(fitted.node)
    fitted.truncated = True
    return fitted
