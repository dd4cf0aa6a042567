"""Compact child rows for browsing results: what an agent needs to pick the next node, nothing more.

``explore`` lists children as rows (name, kind, shape, dtype, chunks, compression; links with
their target; groups with their child count and page) unless detail was asked for; the node
asked for keeps all of its own detail. The tree builders stay as they are: this reduces the
NodeInfo tree they made.
"""

from __future__ import annotations

from schemas.models import NodeInfo

ROW_FIELDS = frozenset({"name", "kind", "target_kind", "link", "shape", "dtype", "chunks", "shards", "compression",
                        "n_children", "offset", "children", "next_offset", "truncated", "note"})
_DEFAULTS = {name: f.get_default(call_default_factory=True) for name, f in NodeInfo.model_fields.items()
             if name not in ROW_FIELDS}


def as_row(node: NodeInfo) -> NodeInfo:
    """``node`` as a compact row, its children (recursively) too."""
    return node.model_copy(update={**_DEFAULTS, "children": [as_row(c) for c in node.children]})


def compact_children(node: NodeInfo) -> NodeInfo:
    """``node`` with its full detail, its children (recursively) as compact rows."""
    return node.model_copy(update={"children": [as_row(c) for c in node.children]})
