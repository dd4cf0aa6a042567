"""The one format interface: every capability named here, each unsupported until a format overrides it.

A format is a subclass of ``Format`` that overrides what its library can do; central code
(``workspace``, ``convert``, ``summary``) asks ``supports(handler, "open_array")`` or just
calls the method, never ``hasattr`` and never a format name. The registry row declares
the same set as data (``FormatSpec.capabilities``), so ``list_formats`` can advertise it
without importing anything; ``tests/core/test_format_interface.py`` holds the two equal.

Capabilities (``path`` is what the workspace hands over: a pinned view of the file, see
``io_core.paths``; ``opts`` a ``ReadOptions`` / ``WriteOptions``):

==============  ===========================================================================
load            ``load(path, opts) -> Any``: the decoded contents
save            ``save(data, path, opts)``: write ``data`` to the temp path the workspace gives
save_stream     ``save_stream(data, stream, opts)``: the same into a binary stream (hashed as written)
summarize       ``summarize(path, opts) -> Summary``: header-only, bounded
open_array      ``open_array(path, opts)``: context manager yielding a lazy array (shape, dtype,
                ``__getitem__``) for ``opts.key``: slices, previews, exact stats, array streaming
read_rows       ``read_rows(path, opts, columns, offset, limit) -> (frame, total, exact)``: one page
iter_frames     ``iter_frames(path, opts, chunk_rows) -> Iterator[DataFrame]``: a streamed source
write_frames    ``write_frames(frames, path, opts)``: a streamed table sink
write_array     ``write_array(array, path, opts, name)``: a slab-wise array sink
read_lines      ``read_lines(path, opts, offset, limit) -> (lines, more)``: text pages
open_picture    ``open_picture(path, opts)``: context manager yielding a PIL image
explore         ``explore(path, opts, group, depth, offset, limit, attrs) -> Explored``: a tree
key_exists      ``key_exists(path, opts, key) -> (exists, kind, note)``; default: from ``explore``
references      ``references(path) -> list[str]``: other files this one names (multi-file formats);
                the workspace resolves each through the sandbox before the library runs
read_metadata   ``read_metadata(path, opts) -> (value, present, info)``: sciio JSON embedded in a
                figure, and the file's own metadata
embed_metadata  ``embed_metadata(path, metadata, stream, overwrite) -> replaced``: the file again,
                with ``metadata`` embedded, written to ``stream`` (pixels/pages unchanged)
summarize_object ``summarize_object(obj, opts)``: a summary of an in-memory object ``claims`` accepts
==============  ===========================================================================

Three questions are not operations and have honest defaults: ``claims(obj)`` (whether an
in-memory object is this format's to summarize: an ``mne.io.Raw`` for the EEG formats),
``sniff(head)`` (whether the first KiB of a file, gunzipped when it is gzip, is this
format: for magic numbers that are not at offset 0, e.g. NIfTI's at 344) and
``sniff_folder(path)`` (whether a folder is this directory format by its layout: Zarr
metadata files, an experiment store's subject/task folders).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from io_core.errors import KeyNotFoundError, UnsupportedOperationError

#: every operation a format may override, in the order list_formats shows them
CAPABILITIES: tuple[str, ...] = (
    "load", "save", "save_stream", "summarize", "open_array", "read_rows", "iter_frames", "write_frames",
    "write_array", "read_lines", "open_picture", "explore", "key_exists", "references", "read_metadata",
    "embed_metadata", "summarize_object",
)

#: questions a format may answer beyond the defaults (declared like capabilities, so dispatch knows whom to ask)
QUESTIONS: tuple[str, ...] = ("claims", "sniff", "sniff_folder")

#: what a client sees (list_formats): capability -> the feature it gives
ADVERTISED: dict[str, str] = {
    "load": "load", "save": "save", "save_stream": "save", "summarize": "summarize",
    "open_array": "slice", "read_rows": "pages", "read_lines": "pages", "iter_frames": "stream",
    "write_frames": "stream", "write_array": "stream", "open_picture": "preview", "explore": "explore",
    "key_exists": "explore", "references": "multi_file", "read_metadata": "metadata", "embed_metadata": "metadata",
    "summarize_object": "summarize",
}


@dataclass
class Explored:
    """What ``explore`` returns: the tree node and format-specific facts for the result."""

    node: Any
    extra: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False


SHOWN = "sciio_shown"  # Image.info key where open_picture says which part of its file a picture shows (a caption)


class Format:
    """Base of every format handler: each capability refuses until a subclass overrides it."""

    #: the registry name, set by subclasses (used in messages only)
    name: str = "format"

    def _unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(f"format {self.name!r} cannot {what}",
                                         hint="list_formats shows what each format can do.")

    # -- whole-file operations -----------------------------------------------------------
    def load(self, path: Path, opts: Any) -> Any:
        raise self._unsupported("load")

    def save(self, data: Any, path: Path, opts: Any) -> None:
        raise self._unsupported("save")

    def save_stream(self, data: Any, stream: Any, opts: Any) -> None:
        raise self._unsupported("save to a stream")

    def summarize(self, path: Path, opts: Any) -> Any:
        raise self._unsupported("summarize")

    # -- partial reads -------------------------------------------------------------------
    def open_array(self, path: Path, opts: Any) -> Any:
        raise self._unsupported("open an array lazily")

    def read_rows(self, path: Path, opts: Any, columns: list[str] | None, offset: int, limit: int) -> Any:
        raise self._unsupported("read table pages")

    def read_lines(self, path: Path, opts: Any, offset: int, limit: int) -> tuple[list[str], bool]:
        raise self._unsupported("read text lines")

    def open_picture(self, path: Path, opts: Any) -> Any:
        raise self._unsupported("open a picture")

    # -- streaming -----------------------------------------------------------------------
    def iter_frames(self, path: Path, opts: Any, chunk_rows: int) -> Iterator[Any]:
        raise self._unsupported("stream table chunks")

    def write_frames(self, frames: Iterator[Any], path: Path, opts: Any) -> None:
        raise self._unsupported("write table chunks")

    def write_array(self, array: Any, path: Path, opts: Any, name: str) -> None:
        raise self._unsupported("write an array slab by slab")

    # -- containers ----------------------------------------------------------------------
    def explore(self, path: Path, opts: Any, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        raise self._unsupported("be browsed as a tree")

    def key_exists(self, path: Path, opts: Any, key: str) -> tuple[bool | None, str | None, str | None]:
        """Built on ``explore``: a key exists when exploring it finds a node."""
        if not supports(self, "explore"):
            raise self._unsupported("look up keys")
        try:
            found = self.explore(path, opts, key, 0, 0, 0, False)
        except KeyNotFoundError:
            return False, None, None
        return True, getattr(found.node, "kind", None), None

    def references(self, path: Path) -> list[str]:
        raise self._unsupported("name other files")

    # -- figure metadata -----------------------------------------------------------------
    def read_metadata(self, path: Path, opts: Any) -> tuple[Any, bool, dict[str, Any]]:
        raise self._unsupported("hold embedded metadata")

    def embed_metadata(self, path: Path, metadata: Any, stream: Any, overwrite: bool) -> bool:
        raise self._unsupported("embed metadata")

    def summarize_object(self, obj: Any, opts: Any) -> Any:
        raise self._unsupported("summarize an object in memory")

    # -- questions -----------------------------------------------------------------------
    def claims(self, obj: Any) -> bool:
        """Whether an in-memory object is this format's to summarize (e.g. an ``mne.io.Raw``)."""
        return False

    def sniff(self, head: bytes) -> bool:
        """Whether ``head`` (the first KiB, gunzipped if gzip) is this format beyond the declared magic."""
        return False

    def sniff_folder(self, path: Path) -> bool:
        """Whether the folder ``path`` is this (directory) format, from its layout alone (cheap: no data read)."""
        return False


def overridden(handler: Any) -> frozenset[str]:
    """The capabilities and questions ``handler`` really implements (its class overrides the base's method).

    A handler that is not a ``Format`` (an entry-point plugin's own object) implements what it has.
    """
    cls = type(handler)
    if isinstance(handler, Format):
        return frozenset(n for n in CAPABILITIES + QUESTIONS if getattr(cls, n, None) is not getattr(Format, n))
    return frozenset(n for n in CAPABILITIES + QUESTIONS if callable(getattr(handler, n, None)))


def supports(handler: Any, capability: str) -> bool:
    """Whether ``handler`` implements ``capability`` (the one test central code uses)."""
    if capability not in CAPABILITIES + QUESTIONS:
        raise ValueError(f"unknown capability {capability!r}")
    return capability in overridden(handler)


class CannotStream(UnsupportedOperationError):
    """A streamed source or sink found data it cannot handle chunk-wise (a later chunk's types differ, an
    index streaming would drop); ``convert`` then converts the whole way instead."""

    code = "CANNOT_STREAM"
