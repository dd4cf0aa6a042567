"""What a Figure shows, as data: columns of every line, scatter and bar artist, image arrays, and the recipe.

Only public matplotlib accessors are used (``get_xdata``, ``get_offsets``, ``BarContainer.patches``,
``AxesImage.get_array``), so the values are what the artists hold: a line keeps the data it was
given (``orig=True``), a scatter its offsets, a bar its rectangles (centre and height, or for
horizontal bars height and centre), an image its array. Artists of other kinds (fills, meshes,
annotations) are listed in the recipe by their class name, without data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Extracted:
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # CSV column name -> 1-D values
    images: list[tuple[str, np.ndarray]] = field(default_factory=list)  # (file suffix, array)
    recipe: dict[str, Any] = field(default_factory=dict)
    used: set[tuple[str, str, str]] = field(default_factory=set)  # (axes, kind, name) given out


def _name(text: str) -> str:
    """A label as a column-name part: letters, digits, ``-`` and ``.`` kept, the rest as ``_``."""
    return re.sub(r"[^0-9A-Za-z.\-]+", "_", text).strip("_") or "unnamed"


def _label(artist: Any, index: int) -> tuple[str | None, str]:
    """(the user's label or None, the name used in columns): matplotlib's ``_child3`` labels are not names."""
    label = artist.get_label() if hasattr(artist, "get_label") else None
    if isinstance(label, str) and label and not label.startswith("_"):
        return label, _name(label)
    return None, str(index)


def _plain(value: Any) -> Any:
    """numpy scalars and tuples as YAML-safe Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_plain(v) for v in value]
    return value


def _colour(value: Any) -> str | None:
    from matplotlib.colors import to_hex

    try:
        return to_hex(value, keep_alpha=True)
    except (ValueError, TypeError):
        return None


def _values(data: Any) -> np.ndarray:
    """1-D values as given; masked entries become None (an empty CSV cell)."""
    if np.ma.isMaskedArray(data):
        return np.asarray(np.ma.filled(data.astype(object), None)).ravel()
    return np.asarray(data).ravel()


class _Axes:
    """Columns and recipe of one Axes; names are made unique per figure."""

    def __init__(self, out: Extracted, ax: Any, i: int) -> None:
        self.out, self.ax, self.prefix = out, ax, f"ax{i}"

    def unique(self, kind: str, name: str) -> str:
        """``name`` or ``name_2``, ``name_3``...: two artists of one kind and label keep their own columns."""
        found, n = name, 2
        while (self.prefix, kind, found) in self.out.used:
            found, n = f"{name}_{n}", n + 1
        self.out.used.add((self.prefix, kind, found))
        return found

    def add(self, kind: str, name: str, part: str, values: np.ndarray) -> str:
        column = f"{self.prefix}_{kind}_{name}_{part}"
        self.out.columns[column] = values
        return column

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for k, line in enumerate(self.ax.get_lines()):
            label, name = _label(line, k)
            name = self.unique("line", name)
            cols = [self.add("line", name, "x", _values(line.get_xdata())),
                    self.add("line", name, "y", _values(line.get_ydata()))]
            found.append({"kind": "line", "label": label, "columns": cols, "color": _colour(line.get_color()),
                          "linestyle": line.get_linestyle(), "linewidth": float(line.get_linewidth()),
                          "marker": None if line.get_marker() in (None, "None", "") else str(line.get_marker())})
        return found

    def scatters(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from matplotlib.collections import PathCollection

        found, other, k = [], [], 0
        for coll in self.ax.collections:
            if type(coll) is not PathCollection:
                other.append({"kind": type(coll).__name__, "label": _label(coll, 0)[0]})
                continue
            label, name = _label(coll, k)
            name, k = self.unique("scatter", name), k + 1
            offsets = np.asarray(coll.get_offsets())
            if offsets.ndim != 2 or offsets.shape[1] != 2:
                offsets = np.empty((0, 2))
            cols = [self.add("scatter", name, "x", _values(offsets[:, 0])),
                    self.add("scatter", name, "y", _values(offsets[:, 1]))]
            entry: dict[str, Any] = {"kind": "scatter", "label": label, "columns": cols}
            if coll.get_array() is not None:
                cols.append(self.add("scatter", name, "c", _values(coll.get_array())))
                entry["cmap"] = coll.get_cmap().name
                entry["clim"] = _plain(coll.get_clim())
            else:
                colours = coll.get_facecolors()
                entry["color"] = _colour(colours[0]) if len(colours) else None
            sizes = np.asarray(coll.get_sizes())
            if sizes.size > 1:
                cols.append(self.add("scatter", name, "s", sizes.ravel()))
            elif sizes.size == 1:
                entry["size"] = float(sizes[0])
            found.append(entry)
        return found, other

    def bars(self) -> list[dict[str, Any]]:
        from matplotlib.container import BarContainer

        found, k = [], 0
        for container in self.ax.containers:
            if not isinstance(container, BarContainer):
                continue
            label, name = _label(container, k)
            name, k = self.unique("bar", name), k + 1
            patches = list(container.patches)
            horizontal = getattr(container, "orientation", "vertical") == "horizontal"
            x0 = np.array([p.get_x() for p in patches], dtype=float)
            y0 = np.array([p.get_y() for p in patches], dtype=float)
            w = np.array([p.get_width() for p in patches], dtype=float)
            h = np.array([p.get_height() for p in patches], dtype=float)
            if horizontal:  # bar length along x, position along y
                positions, lengths, base, axis = y0 + h / 2, w, x0, self.ax.yaxis
                xs, ys = lengths, _categories(axis, positions)
            else:
                positions, lengths, base, axis = x0 + w / 2, h, y0, self.ax.xaxis
                xs, ys = _categories(axis, positions), lengths
            cols = [self.add("bar", name, "x", xs), self.add("bar", name, "y", ys)]
            if np.any(base != 0):
                cols.append(self.add("bar", name, "bottom", base))
            found.append({"kind": "bar", "label": label, "columns": cols,
                          "orientation": "horizontal" if horizontal else "vertical",
                          "width": float((h if horizontal else w)[0]) if patches else None,
                          "color": _colour(patches[0].get_facecolor()) if patches else None})
        return found

    def images(self, stem: str) -> list[dict[str, Any]]:
        found = []
        for k, image in enumerate(self.ax.get_images()):
            label, name = _label(image, k)
            name = self.unique("image", name)
            array = image.get_array()
            data = np.ma.filled(array.astype(float), np.nan) if np.ma.isMaskedArray(array) and array.mask.any() \
                else np.asarray(array)
            suffix = f"_{self.prefix}_image_{name}.csv"
            self.out.images.append((suffix, data))
            entry: dict[str, Any] = {"kind": "image", "label": label, "file": stem + suffix,
                                     "shape": list(data.shape), "dtype": str(data.dtype),
                                     "extent": _plain(image.get_extent()), "origin": image.origin,
                                     "interpolation": image.get_interpolation()}
            if data.ndim == 2:
                entry["cmap"] = image.get_cmap().name
                entry["clim"] = _plain(image.get_clim())
            found.append(entry)
        return found


def _categories(axis: Any, positions: np.ndarray) -> np.ndarray:
    """Bar positions on a categorical axis as the category names, else the numbers."""
    mapping = getattr(axis.get_units(), "_mapping", None)
    if isinstance(mapping, dict) and mapping:
        names = {float(v): k for k, v in mapping.items()}
        if all(float(p) in names for p in positions):
            return np.array([names[float(p)] for p in positions], dtype=object)
    return positions


def _legend(ax: Any) -> list[str] | None:
    legend = ax.get_legend()
    return None if legend is None else [t.get_text() for t in legend.get_texts()]


def extract(fig: Any, stem: str) -> Extracted:
    """Columns, image arrays and the recipe of ``fig``; image files are named ``stem + suffix``."""
    out = Extracted()
    axes = []
    for i, ax in enumerate(fig.axes):
        walker = _Axes(out, ax, i)
        lines = walker.lines()
        scatters, other = walker.scatters()
        artists = lines + scatters + walker.bars() + walker.images(stem) + other
        axes.append({
            "index": i, "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "xlim": _plain(ax.get_xlim()), "ylim": _plain(ax.get_ylim()),
            "xscale": ax.get_xscale(), "yscale": ax.get_yscale(), "legend": _legend(ax),
            "position": _plain(np.round(ax.get_position().bounds, 6)), "artists": artists,
        })
    suptitle = getattr(fig, "_suptitle", None)
    out.recipe = {
        "figure": {"size_inches": _plain(fig.get_size_inches()), "dpi": float(fig.dpi),
                   "suptitle": suptitle.get_text() if suptitle is not None else None},
        "axes": axes,
    }
    return out
