"""``read_slice``: the part of an array, table or text file that was asked for, within budget.

The size of an array answer is estimated from the selection and dtype before any
value is read; a request over budget is refused with a narrower selection that fits.
Table pages and text lines are read page-wise and cut to the budget, with the offset
of the next page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from io_core.budget import fit, json_size
from io_core.encoding import encode_value
from io_core.errors import InvalidSelectionError, TooLargeError
from io_core.selection import parse_row_range, parse_selection, read_selection
from schemas import ArraySlice, FrameSlice, TextSlice

DEFAULT_ROWS = 100
DEFAULT_LINES = 200
ENVELOPE_BYTES = 512  # path, format, selection text and the rest of the result


def json_bytes_per_value(dtype: np.dtype) -> int:
    """A safe upper estimate of one value's size in the JSON answer."""
    kind = dtype.kind
    if kind == "b":
        return 6
    if kind in "iu":
        return {1: 5, 2: 7, 4: 12, 8: 21}.get(dtype.itemsize, 21)
    if kind == "f":
        return 12 if dtype.itemsize <= 2 else 25
    if kind == "c":
        return 60
    if kind in "Mm":
        return 34
    if kind == "U":
        return dtype.itemsize // 4 * 2 + 4
    if kind == "S":
        return dtype.itemsize * 2 + 16
    if kind == "V" and dtype.names:
        return sum(json_bytes_per_value(dtype.fields[n][0]) + len(n) + 4 for n in dtype.names) + 2
    return 64  # objects, vlen strings: unknown until read, cut afterwards


def encode_array(values: np.ndarray, max_chars: int = 200) -> Any:
    """Nested lists in C order with the preview encoding (NaN as "NaN", complex as objects...)."""
    if values.dtype.kind in "biu":
        return values.tolist()
    if values.dtype.kind == "M":
        return np.where(np.isnat(values), None, np.datetime_as_string(values)).tolist()
    if values.dtype.kind == "f" and np.isfinite(values).all():
        return values.tolist()
    if values.ndim == 0:
        return encode_value(values[()], max_chars)
    return [encode_array(v, max_chars) if v.ndim else encode_value(v[()], max_chars) for v in values]


def array_slice(array: Any, selection: str | None, max_bytes: int | None) -> ArraySlice:
    dtype = np.dtype(array.dtype)
    sel = parse_selection(selection, tuple(array.shape))
    per_value = json_bytes_per_value(dtype)
    if max_bytes is not None and sel.size * per_value + ENVELOPE_BYTES > max_bytes:
        fits = max(1, (max_bytes - ENVELOPE_BYTES) // per_value)
        raise TooLargeError(
            f"selection '{sel}' holds {sel.size} values (about {sel.size * per_value} bytes as JSON); "
            f"the response budget is {max_bytes} bytes",
            hint=f"Ask for selection='{sel.narrowed(fits)}' (fits), then page through the rest.",
        )
    values = read_selection(array, sel)
    result = ArraySlice(
        source_shape=[int(n) for n in array.shape], selection=str(sel), shape=list(sel.shape),
        dtype=dtype.str if dtype.names is None else str(dtype.descr),
        values=encode_array(values, max_bytes or 10**9),  # longer strings cannot fit: refused below
    )
    if max_bytes is not None and json_size(result.model_dump(mode="json")) + ENVELOPE_BYTES > max_bytes:
        # values turned out longer than estimated (strings, objects): refuse rather than cut an array
        fits = max(1, sel.size * (max_bytes - ENVELOPE_BYTES) // max(1, json_size(result.values)) // 2)
        raise TooLargeError(
            f"selection '{sel}' encodes to more than the response budget of {max_bytes} bytes",
            hint=f"Ask for selection='{sel.narrowed(fits)}'.",
        )
    return result


def _encode_rows(page: Any, room: int, cell_chars: int) -> tuple[list[str], list[dict[str, Any]], int]:
    """(columns, rows encoded until ``room`` bytes are used, bytes used); the first row is always kept.

    Rows are encoded one at a time, so a page far larger than the budget costs what fits.
    """
    columns = [str(c) for c in page.columns]
    rows: list[dict[str, Any]] = []
    used = 0
    for row in page.itertuples(index=False, name=None):
        record = {c: encode_value(v, cell_chars) for c, v in zip(columns, row, strict=True)}
        size = json_size(record) + 1
        if rows and used + size > room:
            break
        rows.append(record)
        used += size
    return columns, rows, used


def _trim_rows(result: FrameSlice, room: int) -> FrameSlice:
    """Drop trailing rows until the page fits ``room`` (``fit`` halves a list: half a page lost for one byte)."""
    over = json_size(result.model_dump(mode="json")) - room
    if over <= 0 or len(result.rows) <= 1:
        return result
    rows = list(result.rows)
    while over > 0 and len(rows) > 1:
        over -= json_size(rows.pop()) + 1
    return result.model_copy(update={"rows": rows})


def frame_page(page: Any, offset: int, limit: int, total: int, exact: bool, max_bytes: int | None) -> FrameSlice:
    """A page of rows already read, cut to the budget; ``next_offset`` says where to continue."""
    room = 10**18 if max_bytes is None else max_bytes - ENVELOPE_BYTES
    columns, rows, _ = _encode_rows(page, room, max_bytes or 10**9)
    result = FrameSlice(offset=offset, columns=columns, rows=rows, total_rows=total, total_rows_exact=exact)
    if max_bytes is not None:
        result = fit(_trim_rows(result, room), room)
    end = offset + len(result.rows)
    more = end < total if exact else (len(result.rows) < len(page) or len(page) == limit)
    return result.model_copy(update={"next_offset": end if more else None,
                                     "truncated": result.truncated or len(result.rows) < len(page)})


ReadRows = Callable[[list[str] | None, int, int], tuple[Any, int, bool]]  # (columns, offset, limit) -> page
PROBE_ROWS = 32  # rows read first to learn what a row costs in the answer


def table_page(read: ReadRows, columns: list[str] | None, selection: str | None, offset: int,
               limit: int | None, max_bytes: int | None) -> FrameSlice:
    """A page of table rows, sized against the budget before it is read.

    ``selection`` is a row range (``parse_row_range``), or offset/limit page as usual; a
    selection with an offset is refused (one of them says where the page starts). With a
    budget, ``PROBE_ROWS`` rows are read first; what one costs as JSON sizes the rest, so
    no more than about what fits is ever parsed (``limit=1000000`` reads a few hundred
    rows). The answer holds what fits; ``next_offset`` is the first row not returned
    (None when the table, or the selection, is done).
    """
    rng = parse_row_range(selection) if selection is not None and selection.strip() else None
    count: int | None = None
    if rng is not None:
        if offset:
            raise InvalidSelectionError("give a row selection or an offset, not both",
                                        hint=f"Use selection='{rng}' alone, or offset= with limit=.")
        offset, count = rng.resolve(exact_total(read, columns) if rng.from_end else None)
    wanted = limit if limit is not None else (count if count is not None else DEFAULT_ROWS)
    if count is not None:
        wanted = min(wanted, count)
    room = 10**18 if max_bytes is None else max_bytes - ENVELOPE_BYTES
    cell_chars = max_bytes or 10**9  # a longer cell cannot fit anyway; the budget cut flags it
    asked = wanted if max_bytes is None else min(wanted, PROBE_ROWS)
    page, total, exact = read(columns, offset, asked)
    names, rows, used = _encode_rows(page, room, cell_chars)
    got = len(page)
    used += json_size(names)
    if max_bytes is not None and got == asked < wanted and len(rows) == got and used < room:
        per_row = max(1.0, used / max(1, got))
        more = min(wanted - asked, int((room - used) / per_row * 1.25) + 2)
        page, total, exact = read(columns, offset + asked, more)
        asked += more
        got += len(page)
        more_names, more_rows, _ = _encode_rows(page, room - used, cell_chars)
        names += [c for c in more_names if c not in names]
        rows += more_rows
    result = FrameSlice(offset=offset, columns=names, rows=rows, total_rows=total if exact or not got else
                        max(total, offset + got), total_rows_exact=exact)
    if max_bytes is not None:
        result = fit(_trim_rows(result, room), room)
    if rng is not None and rng.single and not result.rows:
        raise InvalidSelectionError(f"row {rng.start} is past the end of the table ({total} rows"
                                    f"{'' if exact else ', estimated'})", hint=f"Rows are 0..{max(0, total - 1)}.")
    returned = len(result.rows)
    end = offset + returned
    ended = got < asked or (exact and offset + got >= total)  # no row after the last one read
    if returned < min(got, wanted) or (returned < wanted and not ended):
        next_offset: int | None = end  # cut to the budget (or not read because it could not fit)
    elif returned == wanted and count is None:  # a full page: the next one starts here, if the table goes on
        next_offset = end if (end < total if exact else not ended) else None
    elif returned == wanted and returned < count and not ended:  # the rest of the selection
        next_offset = end
    else:
        next_offset = None
    return result.model_copy(update={"next_offset": next_offset,
                                     "truncated": result.truncated or (next_offset is not None and returned < wanted)})


def exact_total(read: ReadRows, columns: list[str] | None, tries: int = 6) -> int:
    """The table's exact row count, for rows counted from its end.

    A reader returns the exact count once a page starts past its last row (a CSV scans to
    its end once; the row index keeps the count): ask for empty pages further and further
    out until one does. A count that stays estimated is INVALID_SELECTION.
    """
    _, total, exact = read(columns, 0, 0)
    probe = total
    for _ in range(tries):
        if exact:
            return total
        probe = max(2 * probe, probe + 1024)
        _, total, exact = read(columns, probe, 0)
    raise InvalidSelectionError(
        f"rows counted from the end need the exact row count; this table's is only estimated (~{total})",
        hint="Select from the start ('0:100') and page on with offset=.")


def text_page(lines: list[str], offset: int, has_more: bool, max_bytes: int | None) -> TextSlice:
    result = fit(TextSlice(offset=offset, lines=lines), None if max_bytes is None else max_bytes - ENVELOPE_BYTES)
    cut = len(result.lines) < len(lines)
    more = has_more or cut
    return result.model_copy(update={"next_offset": offset + len(result.lines) if more else None})
