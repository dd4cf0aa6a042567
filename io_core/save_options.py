"""What ``save`` does besides writing one file (stx.io's options): ``dry_run``, ``symlink_to``, Figures with sidecars.

- ``dry_run=True``: every check a save makes (confinement, read-only, format, an existing file),
  then the answer it would give, with nothing written and nothing recorded. ``size_bytes`` is
  exact where it can be had without writing (formats that save to a stream are serialized into a
  counting sink; a Figure is drawn in memory), else the data's size in memory.
- ``symlink_to=PATH``: after the save, a relative symlink at PATH pointing at the saved file.
  PATH is confined like every path (PATH_OUTSIDE_ROOT, the ledger's folder reserved); its folder
  is walked and held open and the link is made under a temp name and renamed over PATH through
  that fd, so it is atomic and cannot be redirected. An existing link at PATH is replaced; an
  existing file only with ``overwrite``; a folder never.
- A matplotlib Figure saved as a picture goes to ``io_core.figures`` (``no_csv`` skips its sidecars).

``save_with_options`` is ``Workspace.save`` after the path is resolved.

``symlink_from_cwd`` (stx.io links ``./<path>`` in the current folder to a file saved under the
script's output folder) has no counterpart: here a relative path is already relative to the first
root (the current folder for the library's default workspace), so the file *is* at that path.
"""

from __future__ import annotations

import contextlib
import os
import stat as st_
from pathlib import Path
from typing import Any

from io_core.atomic import temp_name_for
from io_core.dispatch import Choice
from io_core.errors import ExistsError, InvalidArgumentError, InvalidDataError, IOCoreError, WriteFailedError
from io_core.figures import figure_format, is_figure
from io_core.formats.base import supports
from io_core.options import WriteOptions
from io_core.paths import short
from io_core.writing import save_hint, write_error
from schemas import SaveResult


def save_with_options(ws: Any, data: Any, real: Path, fmt: str | None, write: dict[str, Any], *,
                      no_csv: bool = False, dry_run: bool = False,
                      symlink_to: str | os.PathLike[str] | None = None) -> SaveResult:
    """``Workspace.save`` once ``real`` is resolved: ``write`` holds ``_write``'s keyword arguments."""
    link = None if symlink_to is None else link_place(ws, symlink_to, real, overwrite=write["overwrite"])
    if link is not None:
        write = {**write, "arguments": {**(write.get("arguments") or {}), "symlink_to": ws.sandbox.display(link)}}
    if is_figure(data) and figure_format(real, fmt) is not None:
        from io_core.figures.saving import save_figure

        result = save_figure(ws, data, real, fmt, write, no_csv=no_csv, dry_run=dry_run)
    else:
        choice = ws._choose(real, fmt, "save")
        result = dry_save(ws, data, real, choice, write) if dry_run else ws._write(data, real, choice, **write)
    if link is None:
        return result
    if not dry_run:
        plant_link(ws, link, real, overwrite=write["overwrite"])
    return result.model_copy(update={"symlink": ws.sandbox.display(link)})


# -- dry run --------------------------------------------------------------------------------------

def dry_save(ws: Any, data: Any, real: Path, choice: Choice, write: dict[str, Any]) -> SaveResult:
    """What ``_write`` would answer, from the same checks, writing nothing (see the module docstring)."""
    from io_core.figures.sidecars import Counter

    for source in write.get("inputs") or ():
        ws._resolve(source, existing=True)
    existed = real.exists() or real.is_symlink()
    if real.is_dir():
        raise ExistsError(f"{real.name!r} is an existing folder", hint="Choose a file name.")
    if existed and not write["overwrite"]:
        raise ExistsError(f"{real.name!r} already exists")
    handler = ws._handler(choice) if choice.spec is not None else None
    if handler is not None and supports(handler, "save_stream"):
        sink = Counter()
        sink.name = str(real)
        opts = WriteOptions(allow_pickle=ws.allow_pickle, dtype=write.get("dtype"), limits=ws.limits)
        try:
            handler.save_stream(data, sink, opts)
        except IOCoreError:
            raise
        except OSError as exc:
            raise write_error(exc, real.name) from None
        except Exception as exc:  # noqa: BLE001 - as _write: the saver refused the data
            raise InvalidDataError(f"cannot save this data as {choice.name}: {type(exc).__name__}: "
                                   f"{str(exc)[:300]}", hint=save_hint(choice.spec.kind)) from None
        size = sink.nbytes
    else:
        size = estimate(data)
    return SaveResult(path=ws.sandbox.display(real), format=choice.name, size_bytes=size, overwritten=existed,
                      sha256="", dry_run=True)


def estimate(data: Any, depth: int = 0) -> int:
    """Bytes the data takes in memory: arrays and frames by their buffers, containers by their members."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return len(data)
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogatepass"))
    usage = getattr(data, "memory_usage", None)
    if callable(usage) and hasattr(data, "columns"):  # a pandas DataFrame
        with contextlib.suppress(Exception):
            return int(usage(index=True, deep=True).sum())
    nbytes = getattr(data, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if depth < 20 and isinstance(data, dict):
        return sum(estimate(k, depth + 1) + estimate(v, depth + 1) for k, v in data.items())
    if depth < 20 and isinstance(data, (list, tuple)):
        return sum(estimate(v, depth + 1) for v in data)
    return 8  # a number, a flag, None, an object


# -- symlink_to -----------------------------------------------------------------------------------

def link_place(ws: Any, symlink_to: str | os.PathLike[str], real: Path, *, overwrite: bool) -> Path:
    """The link's real place (its folder resolved, its own name kept: an existing link there is not followed)."""
    raw = os.fspath(symlink_to)
    head, name = os.path.split(raw.rstrip("/")) if isinstance(raw, str) else ("", "")
    if name in ("", ".", ".."):
        raise InvalidArgumentError(f"symlink_to must name a link, not {short(raw)!r}", hint="e.g. latest/plot.png")
    folder = ws._resolve(head or ".", existing=False)
    place = folder / name
    ws._refuse_reserved(place, raw)
    if place == real:
        raise InvalidArgumentError("symlink_to names the file being saved", hint="Name another path for the link.")
    with contextlib.suppress(FileNotFoundError):
        _check_place(place, place.lstat(), overwrite)
    return place


def _check_place(place: Path, info: os.stat_result | None, overwrite: bool) -> None:
    if info is None:
        return
    if st_.S_ISDIR(info.st_mode):
        raise ExistsError(f"symlink_to {place.name!r} is an existing folder", hint="Name the link itself.")
    if not st_.S_ISLNK(info.st_mode) and not overwrite:
        raise ExistsError(f"symlink_to {place.name!r} is an existing file",
                          hint="Pass overwrite=True to replace it with the link, or name another path.")


def plant_link(ws: Any, place: Path, target: Path, *, overwrite: bool) -> None:
    """A relative symlink at ``place`` to ``target``, made under a temp name and renamed over it through the folder fd."""
    dirfd, folder = ws.sandbox.open_folder(place.parent, create=True)
    try:
        if ws.sandbox.confined and folder != place.parent:
            raise WriteFailedError(f"the folder of {place.name!r} changed while the link was planted",
                                   hint="The file was saved; retry the link once the folder is stable.")
        try:
            info = os.stat(place.name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            info = None
        _check_place(place, info, overwrite)
        tmp = temp_name_for(place.name)
        try:
            os.symlink(os.path.relpath(target, folder), tmp, dir_fd=dirfd)
            os.replace(tmp, place.name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dirfd)
            raise write_error(exc, place.name) from None
        with contextlib.suppress(OSError):
            os.fsync(dirfd)
    finally:
        os.close(dirfd)
