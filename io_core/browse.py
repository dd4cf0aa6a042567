"""Browsing containers: ``explore`` (a bounded tree) and ``key_exists``, through the format's capabilities.

A part of ``Workspace`` (mixed in; it uses the workspace's pinning, choice and error
translation). ``explore_h5`` / ``explore_zarr`` are the named shortcuts the server's tools and
resources call; they only fix ``format``.
"""

from __future__ import annotations

import os
from typing import Any

from io_core.tree_rows import compact_children
from io_core.trees import check_page, fit_tree
from schemas import ExploreResult, KeyExistsResult


class Browsing:
    """Mixed into ``Workspace``."""

    def explore(
        self,
        path: str | os.PathLike[str],
        group: str = "",
        *,
        format: str | None = None,
        depth: int = 1,
        offset: int = 0,
        limit: int = 100,
        attrs: bool = True,
        max_bytes: int | None = None,
        detail: bool = True,
    ) -> ExploreResult:
        """A bounded tree of a container (``explore``): ``depth`` levels below ``group``, one page of children each.

        Links to other files are shown; one is followed only into a file inside the roots.
        ``detail=False``: children as compact rows (io_core.tree_rows); the node asked for keeps its detail.
        Cut to ``max_bytes`` deepest pages first; ``truncated`` and ``next_offset`` say so.
        """
        check_page(depth, offset, limit)
        with self._pin(path) as pinned:
            view = pinned.path
            choice = self._choose(view, format, "explore")
            opts = self._read_options(None, max_bytes=max_bytes)
            with self._reading(view, choice):
                found = self._handler(choice).explore(view, opts, group, depth, offset, limit, attrs)
        node = found.node if detail else compact_children(found.node)
        result = ExploreResult(path=self.sandbox.display(pinned.real), format=choice.name, group=found.node.path,
                               depth=depth, node=node, truncated=found.truncated, **found.extra)
        return fit_tree(result, max_bytes)

    def key_exists(self, path: str | os.PathLike[str], key: str, format: str | None = None) -> KeyExistsResult:
        """Whether a container holds ``key``; a missing key is ``exists: false``, never an error."""
        with self._pin(path) as pinned:
            view = pinned.path
            choice = self._choose(view, format, "key_exists")
            with self._reading(view, choice):
                exists, kind, note = self._handler(choice).key_exists(view, self._read_options(None), key or "")
        return KeyExistsResult(path=self.sandbox.display(pinned.real), format=choice.name, key=key, exists=exists,
                               kind=kind, note=note)

    def explore_h5(self, path: str | os.PathLike[str], group: str = "/", **kwargs: Any) -> ExploreResult:
        """An HDF5 file's tree: groups, datasets, links shown and followed only inside the roots."""
        return self.explore(path, group or "/", format="hdf5", **kwargs)

    def explore_zarr(self, path: str | os.PathLike[str], group: str = "", **kwargs: Any) -> ExploreResult:
        """A Zarr v2/v3 store's tree (folder or .zip: one handler reads both); consolidated metadata is used."""
        return self.explore(path, group or "", format="zarr", **kwargs)
