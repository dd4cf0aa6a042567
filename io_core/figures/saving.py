"""Saving a Figure: draw it once in memory, write the sidecars, then the picture with sciio metadata naming them.

Each file goes through ``Workspace._write`` (atomic through the folder fd, hashed, recorded in the
ledger). The picture is drawn before anything is written (a figure that cannot be drawn writes
nothing) and written last, its embedded metadata listing every sidecar with its SHA-256, so
``read_metadata`` of the picture finds them and can tell whether they were changed since.
A failure part-way (a full disk, TOO_LARGE past ``max_write_bytes``) leaves the sidecars already written
(each complete and recorded) and no picture. The metadata is embedded by ``io_core.metadata.embed`` (the same byte-level writers as the
``embed_metadata`` tool), reading the drawn picture from an anonymous in-memory file.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from io_core.dispatch import Choice
from io_core.errors import ExistsError, InvalidDataError, IOCoreError
from io_core.figures import figure_format
from io_core.figures import sidecars as sc
from io_core.figures.extract import extract
from io_core.limits import check_write
from schemas import SaveResult

RECIPE_VERSION = 1


def _draw(fig: Any, mpl_format: str) -> bytes:
    import matplotlib  # noqa: F401 - MISSING_DEPENDENCY is impossible: the figure's class came from it

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format=mpl_format)
    except IOCoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - a backend's own error (bad text, unsupported option)
        raise InvalidDataError(f"matplotlib could not draw the figure as {mpl_format}: "
                               f"{type(exc).__name__}: {str(exc)[:300]}") from None
    return buffer.getvalue()


@contextlib.contextmanager
def _scratch(data: bytes) -> Iterator[Path]:
    """``data`` as a file path nobody else can see (a memfd on Linux; else a private temp file)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("sciio-figure", os.MFD_CLOEXEC)
        try:
            with open(fd, "wb", closefd=False) as fh:
                fh.write(data)
            yield Path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.NamedTemporaryFile(suffix=".figure") as fh:  # pragma: no cover - non-Linux
        fh.write(data)
        fh.flush()
        yield Path(fh.name)


def _writer(write: Callable[[BinaryIO], None], limits: Any, name: str) -> Callable[[Any, Path], None]:
    """A ``Choice.func`` that fills the atomic temp file with what ``write`` produces (within max_write_bytes)."""
    def func(_data: Any, tmp: Path) -> None:
        with open(tmp, "xb") as fh:
            write(sc.Bounded(fh, limits, repr(name)))
    return func


def _embedded(drawn: bytes, fmt: str, metadata: Any) -> Callable[[BinaryIO], None]:
    def write(out: BinaryIO) -> None:
        from io_core.metadata import embed

        with _scratch(drawn) as source:
            embed(source, fmt, metadata, out, overwrite=True)
    return write


def plan(fig: Any, real: Path, fmt: str | None, no_csv: bool) -> tuple[str, bytes, list[tuple[Path, str, Callable]]]:
    """(format name, the drawn picture, [(sidecar path, role, writer)]) of saving ``fig`` at ``real``."""
    name, mpl_format = figure_format(real, fmt)  # the caller checked it is a picture format
    drawn = _draw(fig, mpl_format)
    if no_csv:
        return name, drawn, []
    stem = real.name[: -len(real.suffix)] if real.suffix else real.name
    found = extract(fig, stem)
    files: list[tuple[Path, str, Callable]] = []
    data = real.with_name(stem + ".csv") if found.columns else None
    if data is not None:
        files.append((data, "data", lambda out: sc.write_columns(found.columns, out)))
    for suffix, array in found.images:
        files.append((real.with_name(stem + suffix), "image", lambda out, a=array: sc.write_grid(a, out)))
    recipe = {"sciio_figure": RECIPE_VERSION, "data": data.name if data else None, **found.recipe}
    files.append((real.with_name(stem + ".yaml"), "recipe", lambda out: sc.write_yaml(recipe, out)))
    return name, drawn, files


def _reusable(ws: Any, path: Path, writer: Callable) -> str | None:
    """The SHA-256 of an existing sidecar that already holds exactly what would be written, else None.

    The same figure saved as ``plot.png`` and then ``plot.pdf`` shares ``plot.csv`` and ``plot.yaml``
    (the recipe does not name the picture): the second save keeps them instead of refusing.
    """
    from io_core.hashing import sha256_path

    with ws._pin(path) as pinned:
        if pinned.is_dir:
            return None
        on_disk, _ = sha256_path(pinned.path)
    return on_disk if on_disk == sc.sha256_of(writer) else None


def save_figure(ws: Any, fig: Any, real: Path, fmt: str | None, write: dict[str, Any], *, no_csv: bool,
                dry_run: bool) -> SaveResult:
    """Write ``fig`` at ``real`` with its sidecars (see ``io_core.figures``); ``dry_run`` only sizes them."""
    name, drawn, files = plan(fig, real, fmt, no_csv)
    overwrite = write["overwrite"]
    existed = real.exists() or real.is_symlink()
    kept: dict[Path, str] = {}
    if not overwrite:
        if existed:
            raise ExistsError(f"{real.name!r} already exists", hint="Pass overwrite=True to replace the figure "
                              "and its sidecars, or choose another name.")
        for path, _, writer in files:
            if path.exists() or path.is_symlink():
                same = _reusable(ws, path, writer)
                if same is None:
                    raise ExistsError(f"{path.name!r} already exists and holds other data",
                                      hint="Pass overwrite=True to replace the figure and its sidecars, "
                                           "or choose another name.")
                kept[path] = same
    shown = [ws.sandbox.display(p) for p, _, _ in files]
    if dry_run:
        check_write(len(drawn), ws.limits, repr(real.name))
        sizes = {p: sc.size_of(w, ws.limits, repr(p.name)) for p, _, w in files if p not in kept}
        size = len(drawn) + sum(sizes.values())
        return SaveResult(path=ws.sandbox.display(real), format=name, size_bytes=size, overwritten=existed,
                          sha256="", sidecars=shown, dry_run=True)
    arguments = write.get("arguments") or {}
    rest = {k: v for k, v in write.items() if k not in ("arguments", "dtype")}
    entries = []
    for path, role, writer in files:
        if path in kept:
            entries.append({"file": path.name, "role": role, "sha256": kept[path]})
            continue
        choice = Choice("yaml" if role == "recipe" else "csv", None, _writer(writer, ws.limits, path.name))
        done = ws._write(None, path, choice, dtype=None,
                         arguments={**arguments, "sidecar_of": real.name, "role": role}, **rest)
        entries.append({"file": path.name, "role": role, "sha256": done.sha256})
    metadata = {"kind": "figure", "sidecars": entries}
    choice = Choice(name, None, _writer(_embedded(drawn, name, metadata), ws.limits, real.name))
    result = ws._write(None, real, choice, dtype=None,
                       arguments={**arguments, "figure": True, "sidecars": [e["file"] for e in entries]}, **rest)
    return result.model_copy(update={"sidecars": shown})
