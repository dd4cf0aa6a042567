"""PNG previews an agent with vision can look at: images, heatmaps, line plots.

Rendering is Pillow plus NumPy only. Callers hand in data already reduced to what
is drawn (a strided 2-D slab, a decimated signal), so nothing here reads files.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

# viridis, from its published anchor colours, interpolated to 256 entries
_ANCHORS = np.array([(68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
                     (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37)], dtype=float)
VIRIDIS = np.stack(
    [np.interp(np.linspace(0, 1, 256), np.linspace(0, 1, len(_ANCHORS)), _ANCHORS[:, c]) for c in range(3)], axis=1
).astype(np.uint8)
NAN_RGB = (200, 200, 200)
LINE_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def to_png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def strides_for(shape: Sequence[int], max_side: int) -> list[int]:
    """Per-axis step so that each drawn axis has at most ``max_side`` samples."""
    return [max(1, -(-int(n) // max_side)) for n in shape]


def fit_image(image: Any, max_side: int) -> Any:
    """A copy no larger than ``max_side`` on its longer side, in a PNG-friendly mode."""
    from PIL import Image

    if image.mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    image = image.copy()
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def heatmap(values: np.ndarray, max_side: int) -> tuple[bytes, float | None, float | None]:
    """A 2-D array as a viridis heatmap (NaN/Inf grey); returns PNG and the value range."""
    from PIL import Image

    data = np.asarray(values)
    if data.dtype.kind == "c":
        data = np.abs(data)
    data = data.astype(np.float64, copy=False)
    finite = np.isfinite(data)
    lo = float(data[finite].min()) if finite.any() else None
    hi = float(data[finite].max()) if finite.any() else None
    scaled = np.zeros(data.shape, dtype=np.uint8)
    if lo is not None:
        span = (hi - lo) or 1.0
        scaled[finite] = np.clip((data[finite] - lo) / span * 255.0, 0, 255).astype(np.uint8)
    rgb = VIRIDIS[scaled]
    rgb[~finite] = NAN_RGB
    image = Image.fromarray(rgb, mode="RGB")
    h, w = data.shape
    scale = max_side / max(h, w)
    if scale > 1:  # small arrays: enlarge with visible pixels
        factor = max(1, int(scale))
        image = image.resize((w * factor, h * factor), Image.Resampling.NEAREST)
    return to_png(fit_image(image, max_side)), lo, hi


def array_image(values: np.ndarray, max_side: int) -> bytes:
    """An (H, W), (H, W, 3) or (H, W, 4) uint8 array shown as the picture it is."""
    from PIL import Image

    return to_png(fit_image(Image.fromarray(np.ascontiguousarray(values)), max_side))


def envelope(signal: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-pixel-column (x, min, max) of a 1-D signal, so peaks survive decimation."""
    n = signal.size
    edges = np.linspace(0, n, min(width, n) + 1).astype(np.int64)
    lo = np.full(len(edges) - 1, np.nan)
    hi = np.full(len(edges) - 1, np.nan)
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        seg = signal[a:max(b, a + 1)]
        seg = seg[np.isfinite(seg)]
        if seg.size:
            lo[i], hi[i] = seg.min(), seg.max()
    return (edges[:-1] + edges[1:]) / 2.0, lo, hi


def line_plot(series: Sequence[tuple[str, np.ndarray]], max_side: int) -> tuple[bytes, float | None, float | None]:
    """One or more 1-D signals drawn as min/max envelopes on a shared y range, with a legend."""
    from PIL import Image, ImageDraw

    width = max(64, max_side)
    height = max(48, int(max_side * 0.6))
    margin_left, margin_top, margin_bottom = 60, 10, 20
    plot_w, plot_h = width - margin_left - 10, height - margin_top - margin_bottom
    prepared = []
    for name, values in series:
        data = np.asarray(values, dtype=np.float64).reshape(-1)
        prepared.append((name, data, *envelope(data, plot_w)))
    finite_lo = [np.nanmin(lo) for _, _, _, lo, _ in prepared if np.isfinite(lo).any()]
    finite_hi = [np.nanmax(hi) for _, _, _, _, hi in prepared if np.isfinite(hi).any()]
    ymin = float(min(finite_lo)) if finite_lo else None
    ymax = float(max(finite_hi)) if finite_hi else None
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([margin_left, margin_top, margin_left + plot_w, margin_top + plot_h], outline=(0, 0, 0))
    if ymin is not None:
        span = (ymax - ymin) or 1.0

        def y_of(v: float) -> float:
            return margin_top + plot_h - (v - ymin) / span * plot_h

        for k, (name, data, xs, lo, hi) in enumerate(prepared):
            colour = LINE_COLOURS[k % len(LINE_COLOURS)]
            n = max(1, data.size - 1)
            points = []
            for x, a, b in zip(xs, lo, hi, strict=True):
                if not np.isfinite(a):
                    continue
                px = margin_left + x / max(1, n) * plot_w if data.size > 1 else margin_left + plot_w / 2
                draw.line([(px, y_of(a)), (px, y_of(b))], fill=colour)
                points.append((px, y_of((a + b) / 2)))
            if len(points) > 1:
                draw.line(points, fill=colour, width=1)
            draw.text((margin_left + 5, margin_top + 2 + 11 * k), name[:40], fill=colour)
        draw.text((2, margin_top), f"{ymax:.4g}", fill=(0, 0, 0))
        draw.text((2, margin_top + plot_h - 10), f"{ymin:.4g}", fill=(0, 0, 0))
    draw.text((margin_left, margin_top + plot_h + 4), f"n={max(d.size for _, d, *_ in prepared) if prepared else 0}",
              fill=(0, 0, 0))
    return to_png(image), ymin, ymax
