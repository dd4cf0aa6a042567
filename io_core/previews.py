"""``preview_image``: choose what to draw from an array, table or picture, read only that.

Arrays: a 2-D slab (leading axes at index 0 unless a selection says otherwise) read
with strides so at most ``max_side`` samples per axis are fetched, drawn as a heatmap;
(H, W, 3|4) uint8 drawn as the picture; 1-D as a line plot. Tables: numeric columns as
line plots. The PNG is shrunk until it fits the byte budget.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np

from io_core import imaging
from io_core.errors import InvalidSelectionError, TooLargeError
from io_core.formats.base import SHOWN
from io_core.selection import parse_selection, read_selection

MAX_SIGNAL_POINTS = 2_000_000  # longer 1-D signals are read with a stride
MAX_LINES = 6
MIN_SIDE = 32


def png_within(render: Callable[[int], bytes], max_side: int, max_bytes: int | None) -> tuple[bytes, int]:
    """Render at ``max_side``, halving the side until the base64 PNG fits ``max_bytes``."""
    side = max_side
    while True:
        png = render(side)
        if max_bytes is None or len(base64.b64encode(png)) <= max_bytes:
            return png, side
        if side <= MIN_SIDE:
            raise TooLargeError(
                f"even a {side}-pixel preview exceeds the response budget of {max_bytes} bytes",
                hint="Raise --max-response-bytes.",
            )
        side = max(MIN_SIDE, side // 2)


def _default_selection(shape: tuple[int, ...], dtype: np.dtype) -> str:
    is_picture = len(shape) == 3 and shape[-1] in (3, 4) and dtype == np.uint8
    keep = 3 if is_picture else min(2, len(shape))
    return ", ".join(["0"] * (len(shape) - keep) + [":"] * keep)


def array_preview(array: Any, selection: str | None, max_side: int, max_bytes: int | None) -> tuple[bytes, dict]:
    shape, dtype = tuple(int(n) for n in array.shape), np.dtype(array.dtype)
    sel = parse_selection(selection if selection else _default_selection(shape, dtype), shape)
    out = sel.shape
    picture = len(out) == 3 and out[-1] in (3, 4) and dtype == np.uint8
    caption: dict[str, Any] = {"source_shape": list(shape), "dtype": dtype.str, "selection": str(sel)}
    if len(out) == 2 or picture:
        steps = imaging.strides_for(out[:2], max_side) + ([1] if picture else [])
        strided = sel.strided(steps)
        values = read_selection(array, strided)
        caption.update(kind="image" if picture else "heatmap", stride=steps[:2], drawn_shape=list(values.shape))
        if picture:
            png, side = png_within(lambda s: imaging.array_image(values, s), max_side, max_bytes)
        else:
            if dtype.kind not in "biufc":
                raise InvalidSelectionError(f"a {dtype} array cannot be drawn as a heatmap")
            holder: dict[str, Any] = {}

            def render(side: int) -> bytes:
                png, holder["min"], holder["max"] = imaging.heatmap(values, side)
                return png

            png, side = png_within(render, max_side, max_bytes)
            caption.update(value_min=holder["min"], value_max=holder["max"], colormap="viridis (NaN/Inf grey)")
        caption["max_side"] = side
        return png, caption
    if len(out) == 1:
        if dtype.kind not in "biuf":
            raise InvalidSelectionError(f"a {dtype} array cannot be drawn as a line plot")
        step = max(1, -(-out[0] // MAX_SIGNAL_POINTS))
        values = read_selection(array, sel.strided([step]))
        caption.update(kind="line", stride=[step], points=int(values.size))
        return _lines([(caption["selection"], values)], caption, max_side, max_bytes)
    raise InvalidSelectionError(
        f"selection '{sel}' gives a {len(out)}-D result; a preview draws 1-D or 2-D data",
        hint=f"Fix all but the last two axes, e.g. selection='{_default_selection(shape, dtype)}'.",
    )


def frame_preview(frame: Any, max_side: int, max_bytes: int | None) -> tuple[bytes, dict]:
    """Numeric columns (at most MAX_LINES) of a page of rows as line plots over the row index."""
    import pandas as pd

    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c].dtype)
               and not pd.api.types.is_complex_dtype(frame[c].dtype)]
    if not numeric:
        raise InvalidSelectionError("the table has no numeric column to plot", hint="Pass key= a numeric column.")
    shown = numeric[:MAX_LINES]
    series = [(str(c), frame[c].to_numpy(dtype="float64", na_value=np.nan)) for c in shown]
    caption = {"kind": "line", "columns": [str(c) for c in shown], "rows": len(frame),
               "columns_not_shown": len(numeric) - len(shown)}
    return _lines(series, caption, max_side, max_bytes)


def _lines(series: list, caption: dict, max_side: int, max_bytes: int | None) -> tuple[bytes, dict]:
    holder: dict[str, Any] = {}

    def render(side: int) -> bytes:
        png, holder["min"], holder["max"] = imaging.line_plot(series, side)
        return png

    png, side = png_within(render, max_side, max_bytes)
    caption.update(value_min=holder["min"], value_max=holder["max"], max_side=side)
    return png, caption


def picture_preview(image: Any, max_side: int, max_bytes: int | None) -> tuple[bytes, dict]:
    """A decoded picture (Pillow image), downsampled."""
    caption = {"kind": "image", "width": image.width, "height": image.height, "mode": image.mode}
    shown = image.info.get(SHOWN)  # which frame or page of its file this is (a PNG's own text chunk is a str)
    if isinstance(shown, dict):
        caption.update(shown)
    png, side = png_within(lambda s: imaging.to_png(imaging.fit_image(image, s)), max_side, max_bytes)
    caption["max_side"] = side
    return png, caption
