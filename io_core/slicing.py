"""``read_slice``: the part of an array, table or text file that was asked for, within budget.

The size of an array answer is estimated from the selection and dtype before any
value is read; a request over budget is refused with a narrower selection that fits.
Table pages and text lines are read page-wise and cut to the budget, with the offset
of the next page.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from io_core.budget import fit, json_size
from io_core.errors import TooLargeError
from io_core.selection import parse_selection, read_selection
from io_core.encoding import encode_value
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


def frame_page(page: Any, offset: int, limit: int, total: int, exact: bool, max_bytes: int | None) -> FrameSlice:
    """A page of rows, cut to the budget; ``next_offset`` says where to continue."""
    columns = [str(c) for c in page.columns]
    cell_chars = max_bytes or 10**9  # a longer cell cannot fit anyway; the budget cut below flags it
    rows = [
        {c: encode_value(v, cell_chars) for c, v in zip(columns, row, strict=True)}
        for row in page.itertuples(index=False, name=None)
    ]
    result = FrameSlice(offset=offset, columns=columns, rows=rows, total_rows=total, total_rows_exact=exact)
    result = fit(result, None if max_bytes is None else max_bytes - ENVELOPE_BYTES)
    end = offset + len(result.rows)
    more = end < total if exact else (len(result.rows) < len(rows) or len(rows) == limit)
    return result.model_copy(update={"next_offset": end if more else None,
                                     "truncated": result.truncated or len(result.rows) < len(rows)})


def text_page(lines: list[str], offset: int, has_more: bool, max_bytes: int | None) -> TextSlice:
    result = fit(TextSlice(offset=offset, lines=lines), None if max_bytes is None else max_bytes - ENVELOPE_BYTES)
    cut = len(result.lines) < len(lines)
    more = has_more or cut
    return result.model_copy(update={"next_offset": offset + len(result.lines) if more else None})
