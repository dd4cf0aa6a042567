"""Pinning a remote object: by range for formats that read file objects, else a bounded private copy.

Formats listed in ``io_core.remote.formats.REMOTE_FORMATS`` read a remote object through
ranged file objects (the pin is a ``RemotePin``). Every other format opens files by name; for
them an object of at most ``RemoteConfig.fetch_max_bytes`` (64 MiB by default) is downloaded
whole (in large ranges, counted like any read) into a private temp folder (mode 0700) that is
removed when the pin is dropped: the handler gets the usual pinned view of it. Larger objects of such formats are UNSUPPORTED_OPERATION with a hint. The format is
guessed from the name here (as dispatch does first); a name without a known extension is
pinned by range, and dispatch refuses it later if its format cannot read a file object.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import weakref
from typing import Any

from io_core.errors import UnsupportedOperationError
from io_core.remote.formats import REMOTE_FORMATS

log = logging.getLogger("io_core.remote")


def guessed_format(name: str) -> str | None:
    from io_core.registry import REGISTRY, candidate_extensions

    for ext in candidate_extensions(name):
        specs = REGISTRY.specs_for_extension(ext)
        if specs:
            return specs[0].name
    return None


def pin_remote(path: Any, *, folders: bool) -> Any:
    """A ``RemotePin``, or a local ``Pinned`` of a private copy (see the module docstring)."""
    from io_core.remote.path import RemotePin

    pin = RemotePin(path, folders=folders)
    fmt = guessed_format(path.name)
    if pin.is_dir or fmt is None or fmt in REMOTE_FORMATS:
        return pin
    limit = path.config.fetch_max_bytes
    size = pin.stat.st_size
    if size > limit:
        raise UnsupportedOperationError(
            f"{fmt} files are read from remote roots by a private copy of at most {limit} bytes; "
            f"{path.name!r} has {size}",
            hint=f"Formats read by byte ranges at any size: {', '.join(sorted(REMOTE_FORMATS))}. "
                 "Download this one into a local root to read it.",
        )
    return _private_copy(pin)


def _private_copy(pin: Any) -> Any:
    from io_core.remote.path import STREAM_BYTES
    from io_core.views import Pinned

    remote = pin.path
    folder = tempfile.mkdtemp(prefix="sciio-fetch-")  # mode 0700
    try:
        tmp = os.path.join(folder, "object")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size = pin.stat.st_size
            for start in range(0, size, STREAM_BYTES):
                os.write(fd, remote.fetch(start, min(start + STREAM_BYTES, size)))
            os.lseek(fd, 0, os.SEEK_SET)
            info = os.fstat(fd)
            log.info("remote %s: read whole into a private copy (%d bytes)", remote.url, size)
            pinned = Pinned(fd, remote, info)
        except BaseException:
            os.close(fd)
            raise
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        pin.close()
    # kept (by name too: libhdf5 asks for a file's real path) while the pin lives, removed with it
    weakref.finalize(pinned, shutil.rmtree, folder, True)
    return pinned
