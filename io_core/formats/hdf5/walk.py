"""Walk HDF5 paths one link at a time, so HDF5 itself never opens another file behind the sandbox.

* Opening (``open_h5``, through ``io_core.formats.hdf5.guard``, the one HDF5 opener): read-only,
  file locking off. A file whose superblock says a SWMR writer has it open is opened in SWMR
  read mode, with HDF5's metadata read retries cut from 100 (which back off for minutes on
  a truncated file) to a few; any other file opens normally, where HDF5 checks the stored
  end of file at once. A file that a non-SWMR writer holds open is refused with a clear
  message. Either way a corrupt, truncated or busy file is ``CORRUPT_FILE`` in milliseconds.
* Paths are walked one link at a time (``resolve``): HDF5 is never handed a path that
  could cross an external link, so it never opens another file on its own. Soft links
  are followed here (loops stop after 16 hops); an external link is followed only into
  a file inside the roots (pinned through the sandbox and opened by us, ``Session``).
* Virtual and external-storage datasets: their source files are located exactly where
  libhdf5 would look (``references.locate``: external raw files relative to the current
  directory, as HDF5 does); an unlimited virtual dataset is not asked its extent unless
  all its sources are inside the roots (HDF5 opens them for that).
* Reads (``reading``, ``lookup``, ``child``: the hdf5 format) walk the same way, following
  external links into files inside the roots, and keep those files open until the values
  are read; ``check_data_elsewhere`` lets libhdf5 read virtual sources only once every place
  it may look is checked (external raw storage never).

h5py is imported at module level: this module is only imported on first use.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import h5py
from h5py import h5d, h5g, h5l, h5o, h5p, h5s, h5t

from io_core.errors import IOCoreError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.hdf5 import guard
from io_core.formats.hdf5.references import dataset_sources, locate, stores_elsewhere, text
from io_core.links import LinkTarget, outside_error, resolve_target
from io_core.paths import Sandbox, pin_companion
from schemas import DataSourceInfo

MAX_LINK_HOPS = 16  # as HDF5's own soft/external link traversal limit
MAX_EXTERNAL_FILES = 16  # other files one call may open to follow external links (inside the roots)
MAX_SOURCES = 16


# -- opening ------------------------------------------------------------------------------------

def open_h5(path: Path) -> tuple[h5py.File, bool]:
    """Open read-only without locking; SWMR read mode when a SWMR writer has the file. (file, swmr).

    Through ``guard.open_walked``: nothing is scanned, because this module never lets HDF5
    cross a link and checks a dataset's sources before its values or extent are read.
    """
    return guard.open_walked(path)


# -- walking links ------------------------------------------------------------------------------

def link_of(group: h5py.Group, name: str) -> tuple[str | None, Any]:
    """("hard", None) | ("soft", path) | ("external", (file, path)) | ("user", None) | (None, None)."""
    b = name.encode("utf-8", "surrogateescape")
    try:
        if not group.id.links.exists(b):
            return None, None
    except (KeyError, ValueError):
        return None, None
    info = group.id.links.get_info(b)  # damaged metadata raises: CORRUPT_FILE, not "missing"
    if info.type == h5l.TYPE_HARD:
        return "hard", None
    if info.type == h5l.TYPE_SOFT:
        return "soft", text(group.id.links.get_val(b))
    if info.type == h5l.TYPE_EXTERNAL:
        file, obj = group.id.links.get_val(b)
        return "external", (text(file), text(obj))
    return "user", None


def open_hard(group: h5py.Group, name: str) -> Any:
    oid = h5o.open(group.id, name.encode("utf-8", "surrogateescape"))
    if isinstance(oid, h5g.GroupID):
        return h5py.Group(oid)
    if isinstance(oid, h5d.DatasetID):
        return h5py.Dataset(oid)
    if isinstance(oid, h5t.TypeID):
        return h5py.Datatype(oid)
    return None


def kind_of(obj: Any) -> str:
    if isinstance(obj, h5py.Group):
        return "group"
    if isinstance(obj, h5py.Dataset):
        return "dataset"
    return "committed_datatype"


@dataclass
class Hop:
    """Where walking a path ended: at an object, or stopped (missing, dangling, outside, external, loop)."""

    obj: Any
    file: Path
    stop: str | None = None
    target: LinkTarget | None = None  # the external file where it stopped
    link: tuple[str, str] | None = None  # (file, path) of that external link


class Session:
    """One call's files: the one asked for and those opened to follow external links inside the roots."""

    def __init__(self, sandbox: Sandbox | None, *, follow_external: bool) -> None:
        self.sandbox = sandbox
        self.follow_external = follow_external
        self.files: dict[Path, h5py.File] = {}

    def add(self, path: Path, f: h5py.File) -> None:
        self.files[path] = f

    def open(self, path: Path) -> h5py.File:
        f = self.files.get(path)
        if f is None:
            if len(self.files) > MAX_EXTERNAL_FILES:
                raise UnsupportedOperationError(
                    f"following external links would open more than {MAX_EXTERNAL_FILES} files in one call",
                    hint="Explore the target files directly.",
                )
            f = self.files[path] = open_h5(path)[0]
        return f

    def close(self) -> None:
        for f in self.files.values():
            with contextlib.suppress(Exception):  # closing never hides the call's own outcome
                f.close()
        self.files.clear()


def resolve(s: Session, file: Path, base: h5py.Group, path: str, hops: int = 0) -> Hop:
    """Walk ``path`` from ``base`` (or the root of ``file`` when absolute), one link at a time."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    cur: Any = s.files[file]["/"] if path.startswith("/") else base
    for name in parts:
        if not isinstance(cur, h5py.Group):
            return Hop(None, file, "missing")
        kind, value = link_of(cur, name)
        if kind is None:
            return Hop(None, file, "missing")
        if kind == "hard":
            cur = open_hard(cur, name)
            if cur is None:
                return Hop(None, file, "missing")
            continue
        if kind == "user" or hops >= MAX_LINK_HOPS:
            return Hop(None, file, "loop" if kind != "user" else "unsupported")
        if kind == "soft":
            sub = resolve(s, file, cur, value, hops + 1)
        else:
            target_file, target_path = value
            target = resolve_target(file, target_file, s.sandbox)
            if target.inside is False:
                return Hop(None, file, "outside", target, value)
            if not s.follow_external or target.inside is None:
                return Hop(None, file, "external", target, value)
            if not target.exists:
                return Hop(None, file, "dangling", target, value)
            opened = pin_companion(file, target_file)  # pinned: the file checked is the file read
            f2 = s.open(opened)
            sub = resolve(s, opened, f2["/"], "/" + target_path.lstrip("/"), hops + 1)
        if sub.obj is None:
            stop = "dangling" if sub.stop == "missing" else sub.stop
            return replace(sub, stop=stop)
        cur, file = sub.obj, sub.file
    return Hop(cur, file)


def refusal(hop: Hop, key: str) -> IOCoreError:
    """The error for a path that could not be walked to an object."""
    if hop.stop == "outside":
        return outside_error(f"{key!r} is (or lies behind) an external link that", hop.target)
    if hop.stop == "external":
        file, path = hop.link
        return UnsupportedOperationError(
            f"{key!r} is (or lies behind) an external link to {file}:{path}; it was not followed",
            hint="Load the target file directly (inside the roots), or use explore_h5 to browse through it.",
        )
    if hop.stop == "dangling":
        return KeyNotFoundError(f"{key!r} is (or lies behind) a dangling link")
    if hop.stop == "loop":
        return KeyNotFoundError(f"{key!r}: links loop (more than {MAX_LINK_HOPS} hops)")
    if hop.stop == "unsupported":
        return UnsupportedOperationError(f"{key!r} is a user-defined link type; it was not followed")
    return KeyNotFoundError(f"no object {key!r} in the file")


# -- reading (the hdf5 format) --------------------------------------------------------------------

@contextlib.contextmanager
def reading(path: Path, sandbox: Sandbox | None) -> Iterator[Session]:
    """A read call's session: ``path`` opened, external links followed into files inside the roots.

    Files reached through links stay open until the block ends (values are read inside it).
    Without a sandbox (a handler used directly) no external link is followed.
    """
    f, _ = open_h5(path)
    s = Session(sandbox, follow_external=True)
    s.add(path, f)
    try:
        yield s
    finally:
        s.close()


def lookup(s: Session, file: Path, key: str) -> tuple[Any, Path]:
    """The object at ``key`` and the file it lives in (soft links followed, external links into the roots)."""
    return child(s, s.files[file]["/"], file, key.strip("/"))


def child(s: Session, group: h5py.Group, file: Path, name: str) -> tuple[Any, Path]:
    """One member of ``group`` (in ``file``) and the file it lives in; the error says why it cannot be reached."""
    hop = resolve(s, file, group, name)
    if hop.obj is None:
        error, key = refusal(hop, f"{group.name.rstrip('/')}/{name}"), f"{group.name.rstrip('/')}/{name}"
        if hop.stop == "missing" and isinstance(error, KeyNotFoundError):
            error.with_paths(key, members_of(group.file["/"]))  # "did you mean": existing paths nearest to key
        raise error
    return hop.obj, hop.file


def members_of(root: h5py.Group) -> Any:
    """``members(path)``: the names in the group reached from ``root`` through hard links only (else None)."""
    def members(path: str) -> Any:
        cur: Any = root
        for part in (p for p in path.split("/") if p):
            if link_of(cur, part)[0] != "hard" or not isinstance(cur := open_hard(cur, part), h5py.Group):
                return None
        return iter(cur)

    return members


def data_files(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> list[tuple[LinkTarget, DataSourceInfo]]:
    """The files a virtual dataset or external-storage dataset reads (first MAX_SOURCES), where HDF5 looks."""
    out = []
    for src in dataset_sources(ds.id, MAX_SOURCES):
        target = locate(src.kind, src.file, file, sandbox)
        out.append((target, DataSourceInfo(file=src.file, dataset=src.dataset, offset=src.offset, size=src.size,
                                           resolved=target.display, inside_roots=target.inside)))
    return out


def _all_data_files(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> Any:
    for src in dataset_sources(ds.id):
        yield locate(src.kind, src.file, file, sandbox)


def outside_data_file(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> LinkTarget | None:
    """The first file outside the roots (or not confinable) that this dataset's values live in, if any."""
    if sandbox is None:
        return None
    return next((t for t in _all_data_files(ds, file, sandbox) if t.inside is False), None)


def unlimited_virtual(dcpl: h5p.PropDCID) -> bool:
    """A virtual dataset with an unlimited mapping: HDF5 opens its sources when asked its extent."""
    for i in range(dcpl.get_virtual_count()):
        vspace = dcpl.get_virtual_vspace(i)
        if vspace.get_select_type() == h5s.SEL_HYPERSLABS and vspace.is_regular_hyperslab():
            _, _, count, block = vspace.get_regular_hyperslab()
            if h5s.UNLIMITED in count or h5s.UNLIMITED in block:
                return True
    return False


def extent_safe(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None) -> bool:
    """Whether asking the dataset's extent reads nothing outside the roots (see ``unlimited_virtual``)."""
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() != h5d.VIRTUAL or not unlimited_virtual(dcpl):
        return True
    return sandbox is not None and all(t.inside for t in _all_data_files(ds, file, sandbox))


def check_data_elsewhere(ds: h5py.Dataset, file: Path, sandbox: Sandbox | None, key: str | None = None) -> None:
    """Before values kept in other files are read: virtual sources inside the roots pass, pinned next to the
    view where relative (``guard.check_object``: every place libhdf5 may look is checked, the source files
    scanned for links of their own); a source outside is PATH_OUTSIDE_ROOT; external raw storage (which
    libhdf5 opens by name from the current directory) and anything without a sandbox stay unread
    (UNSUPPORTED_OPERATION)."""
    if not stores_elsewhere(ds.id):
        return
    name = key or ds.name
    outside = outside_data_file(ds, file, sandbox)
    if outside is not None:
        raise outside_error(f"dataset {name!r} stores its values in a file that", outside)
    if ds.id.get_create_plist().get_external_count() or sandbox is None:
        raise UnsupportedOperationError(
            f"dataset {name!r} stores its data in other files"
            + (" (external raw storage)" if sandbox is not None else "") + "; it was not read",
            hint="Summaries and explore_h5 show where it points; copy the data into this file to load it.",
        )
    guard.check_object(ds, file, sandbox)
