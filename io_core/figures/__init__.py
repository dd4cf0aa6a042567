"""A matplotlib Figure saved with its data: the picture, a CSV of what was plotted, and a YAML recipe.

``io_core.save(fig, "plot.png")`` (and ``Workspace.save``) writes, beside each other:

- ``plot.png`` (or ``.jpg``, ``.svg``, ``.pdf``, ``.tif``): the picture, carrying sciio metadata
  (``read_metadata``) that names its sidecars and their SHA-256;
- ``plot.csv``: one pair of columns per line, scatter and bar artist, named
  ``ax<i>_<kind>_<label>_x`` / ``..._y`` (``<label>`` is the artist's label, or its number among
  the axes' artists of that kind when it has none); scatter colour values add ``_c``, varying
  sizes ``_s``, stacked bars ``_bottom``; shorter columns are padded with empty cells;
- ``plot_ax<i>_image_<label>.csv``: one per image artist, the array as a grid (one CSV row per image
  row; columns ``0..W-1``, or ``<col>_<channel>`` for RGB(A): reshape to (H, W, C));
- ``plot.yaml``: the recipe: figure size and dpi; per axes title, labels, limits, scales,
  legend entries; per artist its kind, label, columns (or file) and style.

Sidecar names follow scitex-io (``stx.io.save``): the picture's name with ``.csv`` / ``.yaml``. The same
figure saved again in another format (``plot.png``, then ``plot.pdf``) keeps sidecars that already hold
exactly its data; sidecars holding other data are EXISTS unless ``overwrite``.
``no_csv=True`` writes the picture only. Every file is written atomically and recorded in the
ledger; the picture last, so a picture on disk means its sidecars are complete.

This package module is light: matplotlib (extra ``figures``), numpy and PyYAML load only when a
Figure is saved (``io_core.figures.saving``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# extension -> (registry format name, matplotlib's format name)
FIGURE_FORMATS = {
    ".png": ("png", "png"),
    ".jpg": ("jpeg", "jpg"),
    ".jpeg": ("jpeg", "jpg"),
    ".svg": ("svg", "svg"),
    ".pdf": ("pdf", "pdf"),
    ".tif": ("tiff", "tiff"),
    ".tiff": ("tiff", "tiff"),
}
_BY_NAME = {name: pair for pair in FIGURE_FORMATS.values() for name in pair}


def is_figure(obj: Any) -> bool:
    """A matplotlib Figure, recognised without importing matplotlib (a script that made one has it loaded)."""
    module = type(obj).__module__ or ""
    return (module == "matplotlib" or module.startswith("matplotlib.")) and callable(getattr(obj, "savefig", None)) \
        and hasattr(obj, "axes")


def figure_format(path: Path, fmt: str | None) -> tuple[str, str] | None:
    """(registry name, matplotlib name) of the picture format for ``path`` (or ``fmt``); None: not a picture."""
    if fmt:
        return _BY_NAME.get(fmt.lower().lstrip("."))
    return FIGURE_FORMATS.get(path.suffix.lower())
