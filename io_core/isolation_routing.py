"""Which Workspace calls go to the HDF5 worker pool, and the proxy that sends them (io_core.isolation).

A call goes to the pool when its method may open the file's container (``ROUTED_METHODS``) and
the file is HDF5-family: its format (``format=`` or its extension) is a registry row whose
``container`` is "hdf5" (hdf5, netcdf, mat, plugins), or its bytes carry the HDF5 signature at
0/512/1024/2048 (MATLAB v7.3, EEGLAB v7.3 ``.set``, unknown extensions). Everything else stays
in-process: other formats, writes (a killed ``convert`` would leave its temp file), paths that
do not resolve (the in-process call raises their coded error at once), and extensions with a
user loader registered at run time (only this process has it).
"""

from __future__ import annotations

import functools
import inspect
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
SIGNATURE_OFFSETS = (0, 512, 1024, 2048)  # where libhdf5 (and MATLAB v7.3's 512-byte header) puts it
ROUTED_METHODS = frozenset({  # the Workspace reads that may open a file's container; the rest stays in-process
    "summarize", "read_slice", "preview_image", "explore", "explore_h5", "key_exists", "read_metadata",
})


def has_hdf5_signature(path: str | os.PathLike[str]) -> bool:
    """Whether a regular file carries the HDF5 superblock signature at 0, 512, 1024 or 2048.

    Opened non-blocking and checked with ``fstat`` first, so a FIFO or device is never read.
    """
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        head = os.pread(fd, SIGNATURE_OFFSETS[-1] + len(HDF5_SIGNATURE), 0)
    except OSError:
        return False
    finally:
        os.close(fd)
    return any(head[o : o + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE for o in SIGNATURE_OFFSETS)


def is_hdf5_container(spec: Any) -> bool:
    """A registry row whose files are HDF5 containers (``FormatSpec.container``: hdf5, netcdf, mat, plugins)."""
    return getattr(spec, "container", None) == "hdf5"


def opens_hdf5(ws: Any, path: str | os.PathLike[str], format: str | None, *, always: bool = False) -> bool:
    """Whether ``ws`` would open ``path`` with libhdf5. False when it cannot even resolve it (the error is
    then raised in-process, at no cost). ``always``: an HDF5-only call (explore_h5)."""
    try:
        real = ws.sandbox.resolve(path)
    except Exception:  # noqa: BLE001 - the in-process call raises the coded error itself
        return False
    from io_core.registry import candidate_extensions

    registry = ws.registry
    if always:
        return True
    if format:
        if registry.user_loader(format) is not None:
            return False
        spec = registry.spec(format)
        if spec is None:
            try:
                specs = registry.specs_for_extension(format)
            except ValueError:
                return False
            spec = specs[0] if specs else None
        return spec is not None and is_hdf5_container(spec)
    for ext in candidate_extensions(real):
        if registry.user_loader(ext) is not None:
            return False  # a plugin function registered in this process: the worker does not have it
        if any(is_hdf5_container(spec) for spec in registry.specs_for_extension(ext)):
            return True
    return has_hdf5_signature(real)


class IsolatedWorkspace:
    """``workspace``'s methods, with HDF5-family reads run in ``pool`` (see the module docstring).

    ``check``: a cancel probe that raises (e.g. the server's ``raise_if_cancelled``);
    ``timeout``: seconds after which a pooled call is stopped (TIMEOUT) even without one.
    """

    def __init__(self, workspace: Any, pool: Any, *, check: Callable[[], None] | None = None,
                 timeout: float | None = None) -> None:
        self.workspace = workspace
        self.pool = pool
        self.check = check
        self.timeout = timeout
        self._signatures: dict[str, inspect.Signature] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.workspace, name)
        if name in ROUTED_METHODS and callable(attr):
            return functools.partial(self._run, name)
        return attr

    def _format_arg(self, method: str, path: Any, args: tuple, kwargs: dict[str, Any]) -> str | None:
        sig = self._signatures.get(method)
        if sig is None:
            sig = self._signatures[method] = inspect.signature(getattr(self.workspace, method))
        try:
            return sig.bind(path, *args, **kwargs).arguments.get("format")
        except TypeError:
            return None  # the in-process call raises the same TypeError

    def routed(self, method: str, path: Any, args: tuple = (), kwargs: dict[str, Any] | None = None) -> bool:
        """Whether this call would run in the pool."""
        kwargs = kwargs or {}
        return opens_hdf5(self.workspace, path, self._format_arg(method, path, args, kwargs),
                          always=method == "explore_h5")

    def _run(self, method: str, path: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.routed(method, path, args, kwargs):
            return getattr(self.workspace, method)(path, *args, **kwargs)
        progress = kwargs.pop("progress", None)
        if isinstance(path, Path):
            path = os.fspath(path)
        return self.pool.call(method, (path, *args), kwargs, progress=progress, check=self.check,
                              timeout=self.timeout)
