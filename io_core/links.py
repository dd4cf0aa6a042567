"""Links inside files stay in the sandbox: where a stored file name points, checked against the roots.

HDF5 external links, external raw storage and virtual-dataset sources, and symlinks in a
Zarr folder store, name other files. A name is resolved the way a reader would find it
(relative names against the folder of the file that stores them) and then checked with
the workspace's ``Sandbox``; a target outside the roots is shown, never opened.

The sandbox of the running call is ``active_sandbox()`` (set around each handler call by
``links_confined_to``; both live in ``io_core.sandbox_context`` and are re-exported here).
``None`` means the caller never said (a handler used directly): the handlers then refuse to
follow any link, as before. Nothing heavy is imported here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from io_core.errors import IOCoreError, PathOutsideRootError
from io_core.paths import Sandbox, real_path
from io_core.remote import is_remote
from io_core.sandbox_context import active_sandbox, links_confined_to

__all__ = ["LinkTarget", "active_sandbox", "links_confined_to", "outside_error", "resolve_target"]


@dataclass(frozen=True)
class LinkTarget:
    """A file named inside another file, resolved and checked."""

    raw: str  # as written in the file
    real: Path | None  # absolute, symlinks followed; None when the name is unusable
    inside: bool | None  # inside the roots; None when no sandbox is known
    display: str | None  # how a client sees it (only when inside)

    @property
    def exists(self) -> bool:
        return self.real is not None and self.real.is_file()


def resolve_target(container: Path, raw: str | bytes, sandbox: Sandbox | None) -> LinkTarget:
    """Resolve ``raw`` as a reader would: absolute as is, relative against ``container``'s folder."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "surrogateescape")
    if is_remote(container):  # a key next to the remote object, confined to its remote root
        from io_core.remote.hdf5 import remote_target

        return remote_target(container, raw, sandbox, LinkTarget)
    if raw in ("", "."):
        real: Path | None = real_path(container)
    elif "\x00" in raw:
        real = None
    else:
        name = Path(raw)
        real = Path(os.path.realpath(name if name.is_absolute() else real_path(container).parent / name))
    if real is None:
        return LinkTarget(raw, None, False if sandbox is not None else None, None)
    if sandbox is None:
        return LinkTarget(raw, real, None, None)
    try:
        sandbox.resolve(str(real))
    except IOCoreError:  # PATH_OUTSIDE_ROOT, or a path the sandbox cannot resolve
        return LinkTarget(raw, real, False, None)
    return LinkTarget(raw, real, True, sandbox.display(real))


def outside_error(what: str, target: LinkTarget) -> PathOutsideRootError:
    return PathOutsideRootError(
        f"{what} points to {target.raw!r}, outside the allowed roots; it is shown but never followed or read",
        hint="Copy the data into a file inside the roots, or start the server with a root that contains the target.",
        path=target.raw,
    )
