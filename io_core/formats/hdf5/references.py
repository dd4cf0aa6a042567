"""Where libhdf5 looks for the other files an HDF5 file names, and whether every such place is inside the roots.

An HDF5 file can make libhdf5 read other files on its own:

* external links: opened when a path crosses them (``f["a/b"]``, ``name in group``, h5netcdf
  listing a group). HDF5 tries ``$HDF5_EXT_PREFIX``, then the link-access prefix (none in
  h5py's property lists), then the folder of the file *as it was opened*, then the current
  directory, then the folder of the file's resolved path (symlinks followed); an absolute
  name is tried as is first, then by its last component in the same places.
* virtual-dataset sources: the same search (``$HDF5_VDS_PREFIX``), when values are read, and
  already when an unlimited virtual dataset is asked its extent (``H5Dget_space``).
* external raw storage: ``open()`` of the name when values are read; a relative name is taken
  from the *current directory* (measured: not the file's folder), or ``$HDF5_EXTFILE_PREFIX``.

So a reference is let through only when every place HDF5 may try for it is missing or a
regular file inside the roots (``check_reference``); with one of those environment prefixes
set, its kind is refused (UNSUPPORTED_OPERATION; the process environment is never changed).
A relative link or source name next to a pinned view (``io_core.paths``) is first pinned into
the view folder (``pin_companion``), so HDF5 finds the pinned inode where it looks first.
``dataset_sources`` lists what a dataset reads from its creation properties alone.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from h5py import h5d

from io_core.errors import IOCoreError, NotAFileError, PathOutsideRootError, UnsupportedOperationError
from io_core.links import LinkTarget, outside_error, resolve_target
from io_core.paths import Sandbox, pin_companion, real_path
from io_core.remote import is_remote

ELINK, VDS, EFILE = "external link", "virtual dataset source", "external raw storage"
PREFIX_ENV = {ELINK: "HDF5_EXT_PREFIX", VDS: "HDF5_VDS_PREFIX", EFILE: "HDF5_EXTFILE_PREFIX"}


# -- where HDF5 looks ---------------------------------------------------------------------------

def text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else raw


def places(kind: str, raw: str, opened: Path) -> list[str]:
    """Every path HDF5 may try for ``raw`` named in the file opened as ``opened``, in HDF5's order."""
    cwd = os.getcwd()
    if kind == EFILE:
        return [raw if os.path.isabs(raw) else os.path.join(cwd, raw)]
    if kind == VDS and raw == ".":
        return []  # the source is in the same file
    # H5F_prefix_open_file: an absolute name as is, then (env prefix, property prefix: refused / unset)
    # its last component, or a relative name, next to the file as opened, from the current
    # directory, and next to the file's resolved ("actual") name
    folders = [os.path.dirname(os.path.abspath(opened)), cwd, os.path.dirname(os.path.realpath(opened))]
    if os.path.isabs(raw):
        base = os.path.basename(raw)
        return [raw] + ([os.path.join(folder, base) for folder in folders] if base else [])
    return [os.path.join(folder, raw) for folder in folders]


def locate(kind: str, raw: str, opened: Path, sandbox: Sandbox | None) -> LinkTarget:
    """Where HDF5 would read ``raw`` (the first existing place, else the first place), checked; never raises.

    For display: places are taken next to the file's real folder (where a pinned view's
    companions appear). ``inside`` is False when a place HDF5 may try is outside the roots
    (or not a regular file) or the search cannot be confined; None without a sandbox.
    """
    if is_remote(opened):
        return resolve_target(opened, raw if kind != VDS or raw != "." else "", sandbox)
    real_file = real_path(opened)
    tried = places(kind, raw, real_file)
    if kind == VDS and raw == ".":
        shown: str | None = str(real_file)
    else:
        shown = tried[0] if tried and "\x00" not in tried[0] else None
    try:
        found = check_reference(kind, raw, opened, sandbox, pin=False)
    except IOCoreError:
        real = Path(os.path.realpath(shown)) if shown else None
        return LinkTarget(raw, real, False if sandbox is not None else None, None)
    if found:
        shown = found[0]
    real = Path(os.path.realpath(shown)) if shown else None
    if sandbox is None or real is None:
        return LinkTarget(raw, real, None, None)
    try:
        sandbox.resolve(str(real))  # found places were checked; a missing one is shown as inside or not
    except IOCoreError:
        return LinkTarget(raw, real, False, None)
    return LinkTarget(raw, real, True, sandbox.display(real))


def check_reference(kind: str, raw: str | bytes, opened: Path, sandbox: Sandbox | None, *,
                    what: str | None = None, pin: bool = True) -> list[str]:
    """The existing places HDF5 may open for ``raw`` (all regular files inside the roots), in its order.

    Raises PATH_OUTSIDE_ROOT for a place outside the roots, NOT_A_FILE for a FIFO, device or
    folder, UNSUPPORTED_OPERATION when the search cannot be confined. ``pin``: a relative
    link or source name next to a pinned view is pinned into the view folder first (else the
    places are taken next to the file's real folder, as they are once pinned).
    """
    raw = text(raw)
    what = what or f"{kind} {raw!r}"
    if is_remote(opened):  # libhdf5 on a remote object's file object would look on the local disk
        from io_core.remote.hdf5 import check_remote_reference

        return check_remote_reference(kind, raw, opened, sandbox, what,
                                      lambda w, r: outside_error(w, LinkTarget(r, None, False, None)))
    if sandbox is None:
        raise UnsupportedOperationError(
            f"{what} names {raw!r}; files named inside HDF5 files are followed only under a sandbox",
            hint="Open it through a Workspace (whose roots decide what may be read).",
        )
    env = os.environ.get(PREFIX_ENV[kind])
    if env:
        raise UnsupportedOperationError(
            f"{what} names {raw!r}, and {PREFIX_ENV[kind]} is set in the server's environment: HDF5 would "
            "search there first, so it is not followed",
            hint=f"Start the server without {PREFIX_ENV[kind]}.",
        )
    if "\x00" in raw or not raw:
        return []  # HDF5 cannot open such a name either
    if kind == VDS and "%" in raw:
        raise UnsupportedOperationError(
            f"{what} names a file pattern {raw!r} (printf-style); patterns are not followed",
            hint="Give the virtual dataset's sources by their file names.",
        )
    base = Path(opened)
    if not pin:
        base = real_path(opened)
    elif kind != EFILE and not os.path.isabs(raw) and ".." not in raw.split("/") and real_path(opened) != base:
        try:
            pin_companion(opened, raw)  # HDF5 then finds the pinned inode in the view folder, its first place
        except PathOutsideRootError:
            target = Path(os.path.realpath(real_path(opened).parent / raw))
            raise outside_error(what, LinkTarget(raw, target, False, None)) from None
        except NotAFileError:
            raise
        except IOCoreError:
            pass  # missing: HDF5 finds nothing there either; the other places are checked below
    found = []
    for place in places(kind, raw, base):
        try:
            info = os.stat(place)
        except (OSError, ValueError):
            continue
        real = os.path.realpath(place)  # a view's link leads through /proc/<pid>/fd to the real file
        try:
            sandbox.resolve(real)
        except IOCoreError:
            raise outside_error(what, LinkTarget(raw, Path(real), False, None)) from None
        if not stat.S_ISREG(info.st_mode):
            raise NotAFileError(f"{what} names {raw!r}, which is not a regular file; it is never opened",
                                hint="Name a regular file inside the roots.", path=raw)
        found.append(place)
    return found


# -- datasets -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """A file a dataset's values live in: a virtual source or an external raw file."""

    kind: str  # VDS or EFILE
    file: str  # as stored
    dataset: str | None = None  # virtual sources
    offset: int | None = None  # external raw files
    size: int | None = None


def dataset_sources(dsid: Any, limit: int | None = None) -> list[Source]:
    """The other files a dataset reads (first ``limit``), from its creation properties only.

    Never asks the extent: an unlimited virtual dataset opens its sources to answer that.
    """
    dcpl = dsid.get_create_plist()
    out: list[Source] = []
    if dcpl.get_layout() == h5d.VIRTUAL:
        n = dcpl.get_virtual_count()
        for i in range(n if limit is None else min(n, limit)):
            out.append(Source(VDS, text(dcpl.get_virtual_filename(i)), text(dcpl.get_virtual_dsetname(i))))
    n = dcpl.get_external_count()
    for i in range(n if limit is None else min(n, max(0, limit - len(out)))):
        name, offset, size = dcpl.get_external(i)
        out.append(Source(EFILE, text(name), offset=int(offset), size=int(size)))
    return out


def stores_elsewhere(dsid: Any) -> bool:
    """Virtual or external-storage dataset (its values live in other files)."""
    dcpl = dsid.get_create_plist()
    return dcpl.get_layout() == h5d.VIRTUAL or dcpl.get_external_count() > 0
