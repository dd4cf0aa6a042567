"""NumPy-style selections as text (``"0:10, :, -1"``), validated against a shape before any read.

A parsed ``Selection`` knows the shape and byte size of its answer, so a caller can
refuse or shrink a request before touching the data. Readers that cannot step
backwards (h5py) get positive-step slices plus the axes to flip afterwards.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from io_core.errors import InvalidSelectionError

_INT = r"[+-]?\d+"
_SLICE = re.compile(rf"^\s*({_INT})?\s*:\s*({_INT})?\s*(?::\s*({_INT})?\s*)?$")
_INDEX = re.compile(rf"^\s*({_INT})\s*$")


@dataclass(frozen=True)
class Selection:
    """A selection resolved against one shape: only positive steps and in-range ints."""

    items: tuple[slice | int, ...]  # one per axis
    flip_items: tuple[int, ...]  # positions in ``items`` read forwards, then reversed
    shape: tuple[int, ...]  # shape of the result

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def nbytes(self, itemsize: int) -> int:
        return self.size * itemsize

    @property
    def flip_axes(self) -> tuple[int, ...]:
        """Axes of the result (integer items drop theirs) to reverse after reading."""
        kept = [pos for pos, item in enumerate(self.items) if isinstance(item, slice)]
        return tuple(kept.index(pos) for pos in self.flip_items)

    def narrowed(self, max_values: int) -> str:
        """This selection cut to its leading part of at most ``max_values`` values, as text.

        Used to suggest a request that fits when one is refused as TOO_LARGE: leading
        axes become single indices until one row fits, then that axis is shortened.
        """
        parts: list[str] = []
        remaining, cutting = self.size, self.size > max_values
        for pos, item in enumerate(self.items):
            flipped = pos in self.flip_items
            if isinstance(item, int):
                parts.append(str(item))
                continue
            n = len(range(item.start, item.stop, item.step or 1))
            inner = remaining // n if n else 1
            if cutting and inner > max_values and n:
                parts.append(str(item.start + (n - 1) * (item.step or 1) if flipped else item.start))
            elif cutting and n:
                k = max(1, min(n, max_values // max(1, inner)))
                step = item.step or 1
                if flipped:
                    top = item.start + (n - 1) * step
                    bottom = top - k * step
                    parts.append(f"{top}:{bottom if bottom >= 0 else ''}:-{step}")
                else:
                    parts.append(f"{item.start}:{item.start + (k - 1) * step + 1}" + (f":{step}" if step != 1 else ""))
                cutting = False
            else:
                parts.append(_format_item(item, flipped))
            remaining = inner
        return ", ".join(parts) if parts else "()"

    def strided(self, steps: list[int]) -> Selection:
        """Every ``steps[i]``-th element along each axis of the result (for previews)."""
        items: list[slice | int] = []
        shape: list[int] = []
        axis = 0
        for item in self.items:
            if isinstance(item, int):
                items.append(item)
                continue
            step = (item.step or 1) * steps[axis]
            new = slice(item.start, item.stop, step)
            items.append(new)
            shape.append(len(range(new.start, new.stop, step)))
            axis += 1
        return Selection(items=tuple(items), flip_items=self.flip_items, shape=tuple(shape))

    def __str__(self) -> str:
        """The canonical text form: non-negative indices, explicit bounds, original direction."""
        parts = [_format_item(item, pos in self.flip_items) for pos, item in enumerate(self.items)]
        return ", ".join(parts) if parts else "()"


def _format_item(item: slice | int, flipped: bool) -> str:
    if isinstance(item, int):
        return str(item)
    step = item.step or 1
    if flipped:
        last = item.start + ((item.stop - 1 - item.start) // step) * step
        below = item.start - 1
        return f"{last}:{below if below >= 0 else ''}:-{step}"
    return f"{item.start}:{item.stop}" + (f":{step}" if step != 1 else "")


def _split(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.strip() in ("", "()"):
        return []
    return [part.strip() for part in text.split(",")]


def parse_selection(text: str | None, shape: tuple[int, ...] | list[int]) -> Selection:
    """Parse ``text`` against ``shape``; ``None`` or ``""`` selects everything.

    Raises INVALID_SELECTION naming the axis and its valid range when an index or
    the number of indices does not fit the shape.
    """
    shape = tuple(int(s) for s in shape)
    parts = _split(text or "")
    if parts and parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]  # trailing comma, as in "0,"
    if parts.count("...") > 1:
        raise InvalidSelectionError("at most one '...' is allowed", hint=f"The shape is {list(shape)}.")
    explicit = [p for p in parts if p != "..."]
    if len(explicit) > len(shape):
        raise InvalidSelectionError(
            f"{len(explicit)} indices for an array with {len(shape)} dimensions",
            hint=f"The shape is {list(shape)}: give at most {len(shape)} comma-separated items.",
        )
    if "..." in parts:
        at = parts.index("...")
        parts = parts[:at] + [":"] * (len(shape) - len(explicit)) + parts[at + 1 :]
    parts += [":"] * (len(shape) - len(parts))

    items: list[slice | int] = []
    out_shape: list[int] = []
    flips: list[int] = []
    for axis, (part, n) in enumerate(zip(parts, shape, strict=True)):
        if (m := _INDEX.match(part)) is not None:
            index = int(m.group(1))
            if not -n <= index < n:
                raise InvalidSelectionError(
                    f"index {index} is out of range for axis {axis} with length {n}",
                    hint=f"Valid indices on axis {axis} are {-n}..{n - 1}." if n else f"Axis {axis} is empty.",
                )
            items.append(index % n)
            continue
        if (m := _SLICE.match(part)) is None:
            raise InvalidSelectionError(
                f"cannot parse {part!r} on axis {axis}",
                hint="Use integers, start:stop:step slices and '...', separated by commas, e.g. '0:10, :, 3'.",
            )
        start, stop, step = (int(g) if g is not None else None for g in m.groups())
        if step == 0:
            raise InvalidSelectionError(f"slice step cannot be zero (axis {axis})")
        lo, hi, st = slice(start, stop, step).indices(n)
        count = len(range(lo, hi, st))
        if st > 0:
            items.append(slice(lo, lo + (count - 1) * st + 1, st) if count else slice(0, 0, 1))
        else:
            # the same elements read forwards, then reversed
            if count:
                items.append(slice(lo + (count - 1) * st, lo + 1, -st))
                flips.append(axis)
            else:
                items.append(slice(0, 0, 1))
        out_shape.append(count)
    return Selection(items=tuple(items), flip_items=tuple(flips), shape=tuple(out_shape))


def chunks_touched(selection: Selection, chunks: tuple[int, ...]) -> int:
    """How many chunks of a chunk grid ``chunks`` reading ``selection`` decompresses."""
    total = 1
    for item, size in zip(selection.items, chunks, strict=True):
        if isinstance(item, int):
            continue
        step = item.step or 1
        count = len(range(item.start, item.stop, step))
        if count == 0:
            return 0
        last = item.start + (count - 1) * step
        total *= count if step >= size else last // size - item.start // size + 1
    return total


def _fewer_chunks(selection: Selection, chunks: tuple[int, ...], max_chunks: int) -> str:
    """The leading part of ``selection`` that touches at most about ``max_chunks`` chunks, as text."""
    sliced = [i for i, item in enumerate(selection.items) if not isinstance(item, int)]
    per_axis = max(1, int(max_chunks ** (1 / max(1, len(sliced)))))
    parts = []
    for item, size in zip(selection.items, chunks, strict=True):
        if isinstance(item, int):
            parts.append(str(item))
            continue
        step = item.step or 1
        stop = min(item.stop, item.start + per_axis * max(size, step))
        parts.append(f"{item.start}:{stop}" + (f":{step}" if step != 1 else ""))
    return ", ".join(parts)


def check_chunk_reads(array, selection: Selection, limits=None) -> None:
    """TOO_LARGE before reading when ``selection`` of a chunked array (Zarr, HDF5) touches too many chunks.

    Uses only metadata: the chunk shape and dtype. Arrays without a regular chunk grid pass.
    """
    import numpy as np

    from io_core.limits import check_chunks, current

    chunks = getattr(array, "chunks", None)
    if not (isinstance(chunks, tuple) and len(chunks) == len(selection.items)
            and all(isinstance(c, int) and c > 0 for c in chunks)):
        return
    limits = limits or current()
    chunk_bytes = math.prod(chunks) * np.dtype(array.dtype).itemsize
    hint = (f"The array is stored in chunks of {list(chunks)}; ask for a region that spans fewer of them, "
            f"e.g. selection='{_fewer_chunks(selection, chunks, limits.max_chunks)}'.")
    check_chunks(chunks_touched(selection, chunks), chunk_bytes, limits, hint)


def read_selection(array, selection: Selection, limits=None):
    """Read ``selection`` from anything NumPy-indexable (ndarray, memmap, h5py, zarr).

    A chunked array is checked first (``check_chunk_reads``): chunks touched and chunk size.
    """
    import numpy as np

    check_chunk_reads(array, selection, limits)
    values = np.asarray(array[selection.items]) if selection.items else np.asarray(array[()])
    for axis in selection.flip_axes:
        values = np.flip(values, axis=axis)
    return values


# -- table rows ------------------------------------------------------------------------------------

_ROW_HINT = "A table's selection is one row range: '100:200', '-10:' (the last 10), '5' (one row), ':' (all)."


@dataclass(frozen=True)
class RowRange:
    """A table's row selection as given (``"100:200"``, ``"-10:"``, ``"5"``), resolved once the row count is known."""

    start: int | None
    stop: int | None
    single: bool = False

    @property
    def from_end(self) -> bool:
        """Counts rows from the end (a negative bound): needs the exact row count."""
        return (self.start is not None and self.start < 0) or (self.stop is not None and self.stop < 0)

    def resolve(self, total: int | None) -> tuple[int, int | None]:
        """(first row, rows wanted or None for "to the end"); ``total`` is needed only when ``from_end``."""
        if self.single:
            assert self.start is not None
            index = self.start
            if index < 0:
                assert total is not None
                if index < -total:
                    raise InvalidSelectionError(f"row {index} is out of range for a table of {total} rows",
                                                hint=f"Valid rows are {-total}..{total - 1}." if total else
                                                "The table has no rows.")
                index += total
            return index, 1
        if total is None:
            start = self.start or 0
            return start, None if self.stop is None else max(0, self.stop - start)
        lo, hi, _ = slice(self.start, self.stop).indices(total)
        return lo, max(0, hi - lo)

    def __str__(self) -> str:
        if self.single:
            return str(self.start)
        return f"{'' if self.start is None else self.start}:{'' if self.stop is None else self.stop}"


def parse_row_range(text: str) -> RowRange:
    """Parse a table row selection; anything else (a step, a second axis, words) is INVALID_SELECTION.

    Table rows are read as one contiguous page, so a step is refused rather than read
    whole and thinned; columns are picked with ``columns=``, not a second axis.
    """
    raw = text.strip()
    body = raw[1:-1].strip() if raw.startswith("[") and raw.endswith("]") else raw
    if body.endswith(","):
        body = body[:-1].strip()
    if body in ("", ":", "..."):
        return RowRange(None, None)
    if "," in body:
        raise InvalidSelectionError(f"{short_text(raw)} selects more than rows; a table's selection is rows only",
                                    hint=_ROW_HINT + " Pick columns with columns=[...].")
    if (m := _INDEX.match(body)) is not None:
        return RowRange(int(m.group(1)), None, single=True)
    if (m := _SLICE.match(body)) is None:
        raise InvalidSelectionError(f"cannot parse {short_text(raw)} as table rows", hint=_ROW_HINT)
    start, stop, step = (int(g) if g is not None else None for g in m.groups())
    if step not in (None, 1):
        raise InvalidSelectionError(f"table rows are read as one contiguous range; the step in {short_text(raw)} "
                                    "is not supported", hint=_ROW_HINT + " Page through with offset= and limit=.")
    return RowRange(start, stop)


def short_text(text: str, keep: int = 40) -> str:
    """``text`` quoted, cut to ``keep`` characters: a selection echoed in an error stays short."""
    return repr(text if len(text) <= keep else text[:keep] + "…")
