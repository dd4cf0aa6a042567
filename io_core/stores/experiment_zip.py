"""An experiment store exported as one ``.zip`` that keeps its structure and can be read in place.

axopy's ``storage_to_zip`` flattened every file to ``<root name>/<file>`` (two subjects'
``trials.csv`` overwrote each other). Here members are ``<root name>/<subject>/<task>/<file>``;
array files are stored uncompressed so a reader seeks inside them without inflating (the
``experiment_zip`` format browses them where they lie); only whole trial records are copied
(a torn last record stays behind), and a task half-way through an interrupted write is
refused rather than copied torn. The archive is written beside its name and renamed into
place (``io_core.atomic``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from io_core.atomic import atomic_target
from io_core.limits import Limits
from io_core.paths import Sandbox
from io_core.stores.experiment_layout import ARRAY_SUFFIX, FolderView, InterruptedWriteError, TaskView
from io_core.stores.experiment_rows import TRIALS

COPY_CHUNK = 1 << 20


def _folder_entry(zf: zipfile.ZipFile, name: str) -> None:
    info = zipfile.ZipInfo(name.rstrip("/") + "/")
    info.external_attr = (0o40755 << 16) | 0x10
    zf.writestr(info, b"")


def _info(arcname: str) -> zipfile.ZipInfo:
    """A member entry: HDF5 stored (read in place by seeking), the rest deflated."""
    info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED if arcname.endswith(ARRAY_SUFFIX) else zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _copy(zf: zipfile.ZipFile, view: FolderView, rel: str, arcname: str) -> None:
    """One file streamed into the archive through its pinned fd."""
    info = _info(arcname)
    with view.sandbox.pin(view.real / rel) as pinned:
        size = pinned.stat.st_size
        with zf.open(info, "w", force_zip64=size >= 2**31) as out:
            pos = 0
            while chunk := os.pread(pinned.fd, COPY_CHUNK, pos):
                out.write(chunk)
                pos += len(chunk)


def write_zip(path: str | os.PathLike[str], outfile: str | os.PathLike[str] | None, *, sandbox: Sandbox,
              limits: Limits) -> Path:
    """The store at ``path`` zipped to ``outfile`` (default: ``<root>.zip`` beside it); the real path written."""
    fd, real = sandbox.open_folder(path, create=False)
    os.close(fd)
    out = sandbox.resolve(outfile) if outfile is not None else real.parent / f"{real.name}.zip"
    view = FolderView(real, sandbox, limits)
    top = real.name
    with atomic_target(out, overwrite=True, sandbox=sandbox) as tmp, \
            zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        _folder_entry(zf, top)
        for subject, is_dir in view.entries():
            if not is_dir:
                continue
            _folder_entry(zf, f"{top}/{subject}")
            for task, task_is_dir in view.entries(subject):
                rel = f"{subject}/{task}"
                if not task_is_dir:
                    _copy(zf, view, rel, f"{top}/{rel}")
                    continue
                _folder_entry(zf, f"{top}/{rel}")
                state, _ = view.journal_state(rel)
                if state == "partial":
                    raise InterruptedWriteError(f"task {rel!r} is half-way through an interrupted trial write; "
                                                "it is not exported torn")
                task_view = TaskView(view, rel)
                for name, name_is_dir in view.entries(rel):
                    if name_is_dir:
                        continue
                    if name == TRIALS:
                        data = view.read_bytes(f"{rel}/{name}")[: task_view.text.end]
                        zf.writestr(_info(f"{top}/{rel}/{name}"), data)
                    else:
                        _copy(zf, view, f"{rel}/{name}", f"{top}/{rel}/{name}")
    return out
