"""What a result bundle holds, answered from its directory and a bounded set of members.

A collection's summary reads the zip directory, the root ``metadata.json``, the per-result
``metadata.json`` of a bounded sample (the first page, then evenly spread to the last: what
varies across a sweep shows at both ends) and the header of the first result's NetCDF member
(modes, dimensions, dtype). Nothing else is inflated, so 10,000 results cost what 20 do. A
member that fails is reported under ``problems`` and the rest is still described. One result
(``key="ndr_12"``) reads that result's two members only.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import numpy as np

from io_core.encoding import encode_value
from io_core.errors import IOCoreError, KeyNotFoundError
from io_core.formats.base import Explored
from io_core.options import ReadOptions
from io_core.stores import bundle_member
from io_core.stores.bundle_read import DATA, KEY_HINT, META, RESULT_FIELDS, ROOT, BundleReader, parse_key
from io_core.stores.bundle_zip import METHOD_NAMES
from schemas import ArraySummary, ChildInfo, NodeInfo, TreeSummary

SAMPLE = 64  # per-result metadata members a collection summary reads at most
MAX_PROBLEMS = 20
ROOT_FIELDS = ("skneuromsi", "format_version", "utc_timestamp", "object_size", "object_type")


def _problem(found: list[str], member: str, exc: IOCoreError) -> None:
    if len(found) < MAX_PROBLEMS:
        found.append(f"{member}: {exc.code}: {exc.message}")


def sample_indices(indices: list[int], first: int, total: int = SAMPLE) -> list[int]:
    """The first ``first`` indices, then evenly spread ones up to the last, ``total`` at most."""
    if len(indices) <= total:
        return list(indices)
    head = indices[: min(first, total - 2)]
    rest = total - len(head)
    n = len(indices)
    spread = {indices[round(len(head) + k * (n - 1 - len(head)) / (rest - 1))] for k in range(rest)}
    return sorted(set(head) | spread)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _spread(values: list[Any], chars: int) -> Any:
    """How one field varies over the sampled results: its range when numeric, else its distinct values."""
    distinct = {_key(v): v for v in values}
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        return {"min": encode_value(min(values)), "max": encode_value(max(values)), "n_distinct": len(distinct)}
    return {"values": [encode_value(v, chars) for v in list(distinct.values())[:10]], "n_distinct": len(distinct)}


def describe_metadata(metas: list[dict[str, Any]], chars: int) -> dict[str, Any]:
    """Models, ranges and resolutions, and which run parameters are fixed or vary (with their ranges)."""
    out: dict[str, Any] = {}
    if not metas:
        return out
    out["models"] = dict(Counter(str(m.get("mname")) for m in metas).most_common(10))
    out["model_types"] = sorted({str(m.get("mtype")) for m in metas})[:10]
    for name in ("output_mode", "time_range", "position_range", "time_res", "position_res", "causes"):
        values = [m.get(name) for m in metas]
        if len({_key(v) for v in values}) == 1:
            out[name] = encode_value(values[0], chars)
        else:
            out[name] = _spread(values, chars)
    keys: dict[str, None] = {}
    for m in metas:
        keys.update(dict.fromkeys(m.get("run_parameters") or {}))
    fixed, varying = {}, {}
    for key in keys:
        values = [(m.get("run_parameters") or {}).get(key) for m in metas]
        if len({_key(v) for v in values}) == 1:
            fixed[key] = encode_value(values[0], chars)
        else:
            varying[key] = _spread(values, chars)
    out["run_parameters"] = {"varying": varying, "fixed": fixed}
    out["nmap"] = encode_value(metas[0].get("nmap"), chars)
    return out


def _values_header(reader: BundleReader, i: int) -> dict[str, Any]:
    with bundle_member.open_member(reader.result_data(i), DATA.format(i), reader.limits) as (info, _):
        out: dict[str, Any] = {"dims": list(info.dims), "shape": list(info.shape), "dtype": info.dtype.str,
                               "netcdf": bundle_member.FLAVOURS[info.flavour], "variable": info.variable}
        if "modes" in info.coords:
            out["modes"] = [encode_value(v) for v in info.coords["modes"][:50].tolist()]
    return out


def _zip_facts(reader: BundleReader) -> dict[str, Any]:
    entries = reader.index.entries.values()
    methods = Counter(METHOD_NAMES.get(e[0], str(e[0])) for e in entries)
    return {"members": len(reader.index.names), "stored_bytes": sum(e[3] for e in entries),
            "inflated_bytes": sum(e[4] for e in entries), "compression": dict(methods)}


def _root_facts(root: dict[str, Any], chars: int) -> dict[str, Any]:
    out = {k: encode_value(root.get(k), chars) for k in ROOT_FIELDS if k in root}
    out["name"] = encode_value((root.get("object_kwargs") or {}).get("name"), chars)
    out["extra"] = encode_value(root.get("extra") or {}, chars)
    return out


def collection_summary(reader: BundleReader, opts: ReadOptions) -> TreeSummary:
    """The whole bundle (see the module docstring); a single-result bundle is described as that result."""
    chars = opts.preview_chars // 10
    problems: list[str] = []
    attrs: dict[str, Any] = {"format": "scikit-neuromsi result bundle"}
    root = None
    try:
        root = reader.root
        attrs.update(_root_facts(root, chars))
    except IOCoreError as exc:
        _problem(problems, ROOT, exc)
    lay = reader.layout
    attrs["n_results"] = lay.count
    if root is not None:
        mismatch = reader.count_problem()
        if mismatch:
            attrs["count_mismatch"] = mismatch
            problems.append(f"{ROOT}: count mismatch: {mismatch}")
    if lay.n_others:
        attrs["other_members"] = {"count": lay.n_others, "first": lay.others[:10]}
    if lay.count == 1 and (root is None or reader.declared_size() == 1):
        single = result_summary(reader, lay.indices[0], opts)
        single.attrs.update(bundle={k: v for k, v in attrs.items() if k != "format"})
        if problems:
            single.attrs["problems"] = problems
        return single
    indices = lay.indices
    metas = []
    for i in sample_indices(indices, opts.preview_items):
        if i in lay.meta:
            try:
                metas.append(reader.result_metadata(i))
            except IOCoreError as exc:
                _problem(problems, META.format(i), exc)
    attrs.update(describe_metadata(metas, chars))
    attrs["metadata_read"] = (f"all {len(metas)} results' metadata.json" if len(metas) == lay.count else
                              f"{len(metas)} of {lay.count} results' metadata.json (the first "
                              f"{min(opts.preview_items, len(metas))}, then evenly spread to the last)")
    first = next((i for i in indices if i in lay.data), None)
    if first is not None:
        try:
            attrs["values"] = _values_header(reader, first) | {"from": f"ndr_{first}"}
        except IOCoreError as exc:
            _problem(problems, DATA.format(first), exc)
    attrs["zip"] = _zip_facts(reader)
    if problems:
        attrs["problems"] = problems
    shown = indices[: opts.preview_items]
    children = [ChildInfo(name=f"ndr_{i}", kind="group", n_children=(i in lay.data) + (i in lay.meta))
                for i in shown]
    return TreeSummary(path="/", n_children=lay.count, children=children, truncated=lay.count > len(shown),
                       attrs=attrs)


def _array_summary(values: Any, opts: ReadOptions, note: str) -> ArraySummary:
    from io_core.formats.hdf5.bounds import Bounded, bounded_summary
    from io_core.summary import array_summary

    if isinstance(values, Bounded):
        return bounded_summary(values, opts, note=note)
    return array_summary(values, opts, note=note)


def result_summary(reader: BundleReader, i: int, opts: ReadOptions) -> TreeSummary:
    """One result: its metadata, dimensions and coordinates, and a summary of its values (stats, head)."""
    chars = opts.preview_chars // 10
    meta = reader.result_metadata(i)
    member = DATA.format(i)
    with bundle_member.open_member(reader.result_data(i), member, reader.limits) as (info, values):
        dims = ", ".join(f"{d}={n}" for d, n in zip(info.dims, info.shape, strict=False))
        summary = _array_summary(values, opts, f"dims ({dims})")
    children = [ChildInfo(name=info.variable, kind="array", shape=list(info.shape), dtype=info.dtype.str)]
    children += [ChildInfo(name=d, kind="array", shape=list(c.shape), dtype=c.dtype.str) for d, c in info.coords.items()]
    attrs: dict[str, Any] = {"object_type": "ndresult"}
    attrs.update({k: encode_value(meta[k], chars) for k in RESULT_FIELDS if k in meta})
    attrs["dims"] = list(info.dims)
    attrs["coords"] = {d: [encode_value(v, chars) for v in c[:20].tolist()] + (["…"] if len(c) > 20 else [])
                       for d, c in info.coords.items()}
    attrs["netcdf"] = bundle_member.FLAVOURS[info.flavour]
    entry = reader.index.entry(member)
    attrs["member"] = {"name": member, "stored_bytes": entry.csize, "inflated_bytes": entry.usize}
    attrs["values"] = summary.model_dump(mode="json", exclude_none=True)
    return TreeSummary(path=f"ndr_{i}", n_children=len(children), children=children, attrs=attrs)


def variable_summary(reader: BundleReader, i: int, name: str, opts: ReadOptions) -> ArraySummary:
    """``ndr_<i>/values`` or one coordinate, as an array summary."""
    member = DATA.format(i)
    with bundle_member.open_member(reader.result_data(i), member, reader.limits) as (info, values):
        if name in (info.variable, "values"):
            dims = ", ".join(f"{d}={n}" for d, n in zip(info.dims, info.shape, strict=False))
            return _array_summary(values, opts, f"dims ({dims}) of {member}")
        coord = bundle_member.coordinate(info, name)
        return _array_summary(coord, opts, f"coordinate {name!r} of {member}")


# -- explore ---------------------------------------------------------------------------------------

def explore(reader: BundleReader, group: str, depth: int, offset: int, limit: int, attrs: bool) -> Explored:
    """Results as groups (one page at a time), each holding its values and coordinates as datasets."""
    parsed = parse_key(group)
    if parsed is None:
        return Explored(_root_node(reader, depth, offset, limit, attrs))
    i, sub = parsed
    reader.require(i)
    if sub is None:
        return Explored(_result_node(reader, i, depth, attrs))
    with bundle_member.open_member(reader.result_data(i), DATA.format(i), reader.limits) as (info, _):
        if sub not in (info.variable, *info.coords):
            raise KeyNotFoundError(f"ndr_{i} has no variable {sub!r} (it holds {[info.variable, *info.coords]})",
                                   hint=KEY_HINT)
        return Explored(_variable_node(i, sub, info, attrs))


def _root_node(reader: BundleReader, depth: int, offset: int, limit: int, attrs: bool) -> NodeInfo:
    indices = reader.layout.indices
    page = indices[offset : offset + limit]
    node_attrs: dict[str, Any] = {}
    note = None
    if attrs:
        try:
            node_attrs = _root_facts(reader.root, 200)
        except IOCoreError as exc:
            note = f"{ROOT}: {exc.code}: {exc.message}"
    children = [_result_node(reader, i, depth - 1, attrs) for i in page] if depth > 0 else []
    more = offset + len(page) < len(indices)
    return NodeInfo(name="/", path="/", kind="group", n_children=len(indices), offset=offset, children=children,
                    next_offset=offset + len(page) if depth > 0 and more else None,
                    truncated=depth > 0 and more, attrs=node_attrs, n_attrs=len(node_attrs) if attrs else None,
                    note=note)


def _result_node(reader: BundleReader, i: int, depth: int, attrs: bool) -> NodeInfo:
    node = NodeInfo(name=f"ndr_{i}", path=f"/ndr_{i}", kind="group")
    notes = []
    if attrs:
        try:
            meta = reader.result_metadata(i)
            node.attrs = {k: encode_value(meta[k], 200) for k in RESULT_FIELDS if k in meta}
            node.n_attrs = len(node.attrs)
        except IOCoreError as exc:
            notes.append(f"{META.format(i)}: {exc.code}: {exc.message}")
    if depth > 0:
        try:
            with bundle_member.open_member(reader.result_data(i), DATA.format(i), reader.limits) as (info, _):
                node.children = [_variable_node(i, n, info, attrs) for n in (info.variable, *info.coords)]
                node.n_children = len(node.children)
        except IOCoreError as exc:
            notes.append(f"{DATA.format(i)}: {exc.code}: {exc.message}")
    node.note = "; ".join(notes) or None
    return node


def _variable_node(i: int, name: str, info: bundle_member.MemberInfo, attrs: bool) -> NodeInfo:
    if name == info.variable:
        shape, dtype, dims = list(info.shape), info.dtype, list(info.dims)
        node_attrs = {k: encode_value(v, 200) for k, v in info.attrs.items()} if attrs else {}
    else:
        coord = info.coords[name]
        shape, dtype, dims, node_attrs = list(coord.shape), coord.dtype, [name], {}
    return NodeInfo(name=name, path=f"/ndr_{i}/{name}", kind="dataset", shape=shape, dtype=np.dtype(dtype).str,
                    dimension_names=dims, nbytes=int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize,
                    attrs=node_attrs, n_attrs=len(node_attrs) if attrs else None)
