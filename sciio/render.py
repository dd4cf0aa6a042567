"""Human output of each ``sciio`` subcommand with rich: aligned tables and trees on stdout.

Colours only on a terminal (rich leaves them out when stdout is piped, and honours NO_COLOR); piped output is
as wide as ``COLUMNS`` says (120 by default) so lines are not folded at 80. Every text taken from a file goes in
as ``Text`` (never markup), so a name like ``[red]`` prints as it is. Floats are shown to 7 significant digits.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

DIGITS = 7


class _Console(Console):
    def on_broken_pipe(self) -> None:
        raise BrokenPipeError  # rich would exit with status 1; the reader closing early is not a failure (main)


def console(file: Any = None) -> Console:
    file = file or sys.stdout
    tty = hasattr(file, "isatty") and file.isatty()
    width = None if tty else int(os.environ.get("COLUMNS") or 120)
    return _Console(file=file, width=width, highlight=False, soft_wrap=False)


def fmt(value: Any) -> str:
    """A value for a cell: floats to 7 significant digits, None empty, containers as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.{DIGITS}g}"
    if isinstance(value, (list, dict)):
        return json.dumps(_round(value), ensure_ascii=False, separators=(", ", ": "), default=str)
    return str(value)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.{DIGITS}g}")
    if isinstance(value, list):
        return [_round(v) for v in value]
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    return value


def shape(value: list[int] | None) -> str:
    return "" if value is None else "(" + ", ".join(map(str, value)) + ("," if len(value) == 1 else "") + ")"


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Any:
    """An aligned table; its title on a line of its own above it (a table title would wrap to the table's width)."""
    t = Table(*columns, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for row in rows:
        t.add_row(*(Text(fmt(v)) for v in row))
    return t if title is None else Group(Text(title, style="bold"), t)


def document(value: Any, width: int) -> Text:
    """A JSON value on one line when it fits, indented otherwise."""
    line = json.dumps(value, ensure_ascii=False, default=str)
    return Text(line if len(line) <= width else json.dumps(value, indent=2, ensure_ascii=False, default=str))


def fields(pairs: list[tuple[str, Any]]) -> Table:
    """Label/value lines, aligned; empty values left out."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="bold")
    t.add_column()
    for label, value in pairs:
        text = fmt(value)
        if text != "":
            t.add_row(label, Text(text))
    return t


def header(out: Console, path: str, fmt_name: str, extra: str = "") -> None:
    line = Text(path, style="bold")
    if fmt_name:
        line.append(f"  {fmt_name}", style="cyan")
    if extra:
        line.append(f"  {extra}")
    out.print(line)


# -- summary ------------------------------------------------------------------------------------

def _stats_cells(stats: Any) -> list[Any]:
    if stats is None:
        return ["", "", "", "", ""]
    exact = "" if stats.exact else f"sampled {stats.sampled_fraction:.3g}"
    return [stats.min, stats.max, stats.mean, stats.std, exact]


def summary(out: Console, result: Any, args: Any) -> None:
    s = result.summary
    extra = " ".join(x for x in (f"key {result.key}" if result.key else "", size(result.size_bytes)) if x)
    header(out, result.path, result.format, extra)
    kind = s.kind
    if kind == "array":
        out.print(fields([("shape", shape(s.shape)), ("dtype", s.dtype), ("bytes", size(s.nbytes)),
                          ("chunks", shape(s.chunks)), ("compression", s.compression), ("note", s.note)]))
        if s.stats is not None:
            st = s.stats
            out.print(table(["min", "max", "mean", "std", "NaN", "inf", "exact"],
                            [[st.min, st.max, st.mean, st.std, st.nan_count, st.inf_count,
                              "yes" if st.exact else f"no (sampled {st.sampled_fraction:.3g})"]]))
        if s.head:
            out.print(Text("first values: " + fmt(s.head) + (" …" if s.head_truncated else "")))
    elif kind == "frame":
        out.print(Text(f"{s.n_rows}{'' if s.n_rows_exact else '+'} rows x {s.n_columns} columns"))
        rows = [[c.name, c.dtype, c.null_count, *_stats_cells(c.stats)] for c in s.columns]
        out.print(table(["column", "dtype", "nulls", "min", "max", "mean", "std", "stats"], rows))
        if s.columns_truncated:
            out.print(Text(f"… {s.n_columns - len(s.columns)} more columns"))
        if s.head:
            names = list(s.head[0])
            out.print(table(names, [[r.get(n) for n in names] for r in s.head], title="first rows"))
    elif kind == "tree":
        out.print(Text(f"{s.n_children} member(s) in {s.path}"))
        out.print(table(["name", "kind", "shape", "dtype", "members"],
                        [[c.name, c.kind if not c.link else f"link -> {c.link}", shape(c.shape), c.dtype, c.n_children]
                         for c in s.children]))
        if s.truncated:
            out.print(Text(f"… more members (use --key, or sciio tree --offset {s.offset + len(s.children)})"))
        _attrs(out, s.attrs)
    elif kind == "text":
        out.print(fields([("encoding", s.encoding), ("lines", s.n_lines), ("characters", s.n_chars)]))
        out.print(Text(s.head + ("\n…" if s.truncated else "")))
    elif kind == "value":
        out.print(fields([("type", s.type), ("length", s.length), ("keys", ", ".join(s.keys or []))]))
        out.print(document(s.preview, out.width))
        if s.truncated:
            out.print(Text("…"))
    else:  # image, audio, recording and any later kind: its own fields
        data = s.model_dump(mode="json")
        data.pop("kind", None)
        out.print(fields([(k, v) for k, v in data.items() if k not in ("stats", "info", "tags")]))
        for name in ("stats", "info", "tags"):
            if data.get(name):
                out.print(fields([(f"{name}.{k}", v) for k, v in data[name].items()]))


def _attrs(out: Console, attrs: dict[str, Any]) -> None:
    if attrs:
        out.print(table(["attribute", "value"], [[k, v] for k, v in attrs.items()]))


# -- tree ---------------------------------------------------------------------------------------

def _node_label(node: Any) -> Text:
    label = Text(node.name or "/", style="bold blue" if node.kind == "group" else "bold")
    kind = node.target_kind or node.kind
    if node.link is not None:
        label.append(f" -> {node.link.path}" + (f" in {node.link.file}" if node.link.file else ""), style="magenta")
    if kind == "group":
        if node.n_children is not None:
            label.append(f"  {node.n_children} member(s)", style="dim")
    elif kind in ("dataset", "committed_datatype"):
        bits = [shape(node.shape), node.dtype or ""]
        if node.chunks:
            bits.append("chunks " + shape(node.chunks))
        if node.compression:
            bits.append(node.compression)
        label.append("  " + "  ".join(b for b in bits if b), style="green")
    else:
        label.append(f"  {node.kind}", style="dim")
    if node.note:
        label.append(f"  ({node.note})", style="dim")
    return label


def _grow(branch: Tree, node: Any) -> None:
    for child in node.children:
        twig = branch.add(_node_label(child))
        for name, value in child.attrs.items():  # children carry attributes with --detail
            twig.add(Text(f"@{name} = {fmt(value)}", style="dim"))
        _grow(twig, child)
    shown = node.offset + len(node.children)
    if node.children and node.n_children is not None and node.n_children > shown:
        branch.add(Text(f"… {node.n_children - shown} more (--offset {shown})", style="dim"))
    elif node.truncated and node.next_offset is not None:
        branch.add(Text(f"… more (--offset {node.next_offset})", style="dim"))


def tree(out: Console, result: Any, args: Any) -> None:
    extra = f"zarr v{result.zarr_format}" if result.zarr_format else ""
    header(out, result.path, result.format, extra)
    root = Tree(_node_label(result.node))
    _grow(root, result.node)
    out.print(root)
    _attrs(out, result.node.attrs)
    if result.truncated:
        out.print(Text("(cut to the response budget: ask for a smaller --depth or --limit)", style="dim"))


# -- slice --------------------------------------------------------------------------------------

def slice_(out: Console, result: Any, args: Any) -> None:
    part = result.slice
    header(out, result.path, result.format, f"key {result.key}" if result.key else "")
    if part.kind == "array":
        out.print(Text(f"[{part.selection}] of {shape(part.source_shape)} -> {shape(part.shape)} {part.dtype}"))
        values = part.values
        if isinstance(values, list) and values and all(isinstance(r, list) for r in values) and \
                all(not isinstance(v, (list, dict)) for r in values for v in r):
            t = Table.grid(padding=(0, 2))
            for _ in range(max(len(r) for r in values)):
                t.add_column(justify="right")
            for r in values:
                t.add_row(*(Text(fmt(v)) for v in r))
            out.print(t)
        else:
            out.print(Text(fmt(values)))
    elif part.kind == "frame":
        out.print(table(part.columns, [[r.get(c) for c in part.columns] for r in part.rows],
                        title=f"rows {part.offset}-{part.offset + len(part.rows) - 1} of {part.total_rows}"))
        if part.next_offset is not None:
            out.print(Text(f"… more rows (--offset {part.next_offset})", style="dim"))
    else:
        for line in part.lines:
            out.print(Text(line))
        if part.next_offset is not None:
            out.print(Text(f"… more lines (--offset {part.next_offset})", style="dim"))


def preview(out: Console, caption: dict[str, Any], args: Any) -> None:
    out.print(Text(f"wrote {args.output}", style="bold"))
    out.print(fields([(k, v) for k, v in caption.items() if k != "path"]))


def convert(out: Console, result: Any, args: Any) -> None:
    out.print(Text(f"wrote {result.path}", style="bold"))
    out.print(fields([("format", result.format), ("bytes", result.size_bytes), ("sha256", result.sha256),
                      ("replaced", "yes" if result.overwritten else ""),
                      ("ledger", "recorded" if result.recorded else "")]))


def find(out: Console, result: Any, args: Any) -> None:
    if any(f.captures for f in result.files):
        names = sorted({k for f in result.files for k in f.captures or {}})
        out.print(table(["path", *names], [[f.path, *[(f.captures or {}).get(n) for n in names]]
                                           for f in result.files]))
    else:
        for f in result.files:
            out.print(Text(f.path))
    if result.truncated:  # on stderr: a pipe reading the paths gets only paths
        more = "" if result.total_exact else "at least "
        sys.stderr.write(f"{len(result.files)} of {more}{result.total} matches listed (--limit)\n")


def configs(out: Console, result: Any, args: Any) -> None:
    root = Tree(Text(result.config_dir, style="bold"))

    def grow(branch: Tree, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, dict):
                    grow(branch.add(Text(str(k), style="bold blue")), v)
                else:
                    branch.add(Text(f"{k}: {fmt(v)}"))
        else:
            branch.add(Text(fmt(value)))

    grow(root, result.tree)
    out.print(root)
    if result.truncated:
        out.print(Text("(cut to the response budget)", style="dim"))


def _when(iso: str | None) -> str:
    """An ISO 8601 UTC time to the second, for a table cell."""
    return "" if not iso else iso[:19].replace("T", " ")


def history(out: Console, result: Any, args: Any) -> None:
    header(out, result.path, "" if result.exists else "(missing)", f"{result.n_records} record(s)")
    if result.records:
        out.print(table(["id", "recorded (UTC)", "kind", "operation", "format", "bytes", "sha256", "inputs"],
                        [[r.id, _when(r.recorded_at), r.kind, r.operation, r.format, r.size_bytes, r.sha256[:16],
                          ", ".join(i.path for i in r.inputs)] for r in result.records]))
    elif result.ledger is None:
        out.print(Text("no ledger is kept for this folder", style="dim"))
    if result.lineage:
        out.print(table(["depth", "made from", "sha256", "by", "operation"],
                        [[e.depth, e.path, e.sha256[:16], e.produced_by, e.operation] for e in result.lineage],
                        title="lineage"))


def verify(out: Console, result: Any, args: Any) -> None:
    style = {"OK": "bold green", "MODIFIED": "bold red", "UNKNOWN": "bold yellow"}[result.status]
    line = Text(result.status, style=style)
    line.append(f"  {result.path}")
    out.print(line)
    out.print(fields([("sha256", result.sha256), ("bytes", result.size_bytes),
                      ("recorded sha256", result.recorded_sha256), ("recorded bytes", result.recorded_size_bytes),
                      ("recorded at", result.recorded_at), ("by", result.operation)]))


def formats(out: Console, result: Any, args: Any) -> None:
    rows = [[f.name, " ".join(f.extensions), f.kind, " ".join(f.operations),
             "yes" if f.available else f"no: {f.install_hint}"] for f in result.formats]
    out.print(table(["format", "extensions", "kind", "operations", "available"], rows))
    out.print(Text(f"{result.n_available} of {len(result.formats)} formats available"))


def codes(out: Console, result: dict[str, Any], args: Any) -> None:
    out.print(table(["exit", "meaning", "error codes"],
                    [[e["status"], e["meaning"], " ".join(e["codes"])] for e in result["exit_statuses"]]))


RENDERERS: dict[str, Callable[[Console, Any, Any], None]] = {
    "summary": summary, "tree": tree, "slice": slice_, "preview": preview, "convert": convert, "find": find,
    "configs": configs, "history": history, "verify": verify, "formats": formats, "codes": codes,
}
