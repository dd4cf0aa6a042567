"""HDF5 on remote objects: h5py on a ranged file object, and the files named inside it kept in the remote root.

libhdf5 reading a file object still resolves external links, virtual-dataset sources and
external raw storage on the *local* disk (next to the current directory, or absolute). So
for a remote file (``io_core.formats.hdf5.references.check_reference``) a name leaving the
remote root is PATH_OUTSIDE_ROOT exactly as for a local file, and a name inside it is
refused too (UNSUPPORTED_OPERATION: libhdf5 would look for it locally) — except where the
hdf5 format's own walker follows an external link itself (``remote_companion``: the target
is another remote object, opened by range the same way). h5py is imported by the caller.

Reads of chunked datasets (``Prefetching``) fetch the chunks a selection touches in one merged
request: from H5Dget_chunk_info_by_coord where the chunk index answers it by lookup (HDF5 1.10+
layouts), else (v1 B-tree, h5py's default) from the index leaf libhdf5 reads (``LeafWatch``), whose
leaf is itself read with the chunk bytes after it in the same request.
"""

from __future__ import annotations

import functools
from typing import Any

from io_core.errors import PathOutsideRootError, UnsupportedOperationError
from io_core.remote.roots import looks_remote

SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_remote(path: Any) -> Any:
    """A ranged file object on the remote object, once its HDF5 signature is found (else CORRUPT_FILE);
    ``io_core.formats.hdf5.guard.open_raw`` hands it to h5py."""
    from io_core.errors import CorruptFileError

    fh = path.open("rb", buffering=0)
    offset = 0
    while offset + 16 <= fh.size:
        if fh.read_range(offset, offset + 8) == SIGNATURE:
            return fh
        offset = 512 if offset == 0 else offset * 2
    fh.close()
    raise CorruptFileError(f"{path.name!r} is not an HDF5 file (no HDF5 signature)")


def _resolve(container: Any, raw: str, sandbox: Any) -> Any:
    """The remote object ``raw`` names, next to ``container`` (or a URL inside a remote root); else PATH_OUTSIDE_ROOT."""
    if raw in ("", "."):
        return container
    if looks_remote(raw):
        if sandbox is None or getattr(sandbox, "remote", None) is None:
            raise PathOutsideRootError(f"{raw!r} is not inside a remote root", path=raw)
        target = sandbox.resolve(raw)
        if type(target).__name__ != "RemotePath":
            raise PathOutsideRootError(f"{raw!r} is not inside a remote root", path=raw)
        return target
    if raw.startswith("/"):
        raise PathOutsideRootError(f"{raw!r} is an absolute local name; a remote file may name only objects "
                                   "next to it in its remote root", path=raw)
    return container.parent.joinpath(raw)


def remote_target(container: Any, raw: str, sandbox: Any, link_target: Any) -> Any:
    """``io_core.links.resolve_target`` for a remote container: a ``LinkTarget`` whose ``real`` is a RemotePath."""
    if "\x00" in raw:
        return link_target(raw, None, False if sandbox is not None else None, None)
    try:
        target = _resolve(container, raw, sandbox)
    except PathOutsideRootError:
        return link_target(raw, None, False if sandbox is not None else None, None)
    if sandbox is None:
        return link_target(raw, target, None, None)
    return link_target(raw, target, True, sandbox.display(target))


def remote_companion(p: Any, ref: str, sandbox: Any) -> Any:
    """``io_core.paths.pin_companion`` for a remote file: the checked RemotePath to open (by range)."""
    try:
        return _resolve(p, ref, sandbox).with_counter(p.counter)
    except PathOutsideRootError:
        raise PathOutsideRootError(
            f"{p.name!r} names {ref!r}, outside its remote root; it is never read",
            hint="Keep the files a recording is made of together inside the root.", path=ref,
        ) from None


def check_remote_reference(kind: str, raw: str, opened: Any, sandbox: Any, what: str, outside: Any) -> list[str]:
    """``check_reference`` for a remote file: nothing libhdf5 itself may open (see the module docstring).
    ``outside(what, raw)``: the PATH_OUTSIDE_ROOT error to raise (``io_core.links.outside_error``'s wording)."""
    if kind == "virtual dataset source" and raw == ".":
        return []  # sources in the same file
    if not raw or "\x00" in raw:
        return []
    try:
        _resolve(opened, raw, sandbox)
    except PathOutsideRootError:
        raise outside(what, raw) from None
    raise UnsupportedOperationError(
        f"{what} names another object ({raw!r}); libhdf5 reading a remote file would look for it on the local "
        "disk, so it is not followed",
        hint="Read the target object directly; explore_h5 follows external links between remote objects itself.",
    )


MAX_PREFETCH_CHUNKS = 4096  # chunks of one selection whose ranges are fetched ahead, merged


class Prefetching:
    """An h5py dataset of a remote file whose reads first fetch the chunks they touch, merged into few range
    requests (libhdf5 asks for one chunk at a time); every other attribute is the dataset's."""

    def __init__(self, ds: Any, file: Any) -> None:
        self._ds, self._file = ds, file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ds, name)

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, item: Any) -> Any:
        try:
            ranges = chunk_ranges(self._ds, item)
        except Exception:  # noqa: BLE001 - a selection h5py refuses is refused by the read itself
            ranges = []
        if ranges:
            from io_core.remote.ranges import RemoteFile

            RemoteFile(self._file, self._file.counter).prefetch(ranges)
        elif self._ds.chunks and chunk_index_type(self._ds) == BTREE_V1:
            try:
                spans = chunk_spans(self._ds, item)
            except Exception:  # noqa: BLE001 - as above
                spans = None
            if spans:
                from io_core.remote.ranges import watching

                with watching(LeafWatch(self._ds.chunks, spans, self._ds.dtype.itemsize)):
                    return self._ds[item]
        return self._ds[item]


class LeafWatch:
    """Fetches a selection's chunks in one merged request as soon as libhdf5 has read the v1 B-tree leaf that
    lists them (h5py defaults): libhdf5 looks every chunk of a read up before it reads the first, one chunk per
    request, and asking addresses ahead (H5Dget_chunk_info_by_coord) walks the index's leaves in order. The
    leaf's bytes are parsed here (format: HDF5 spec, "Version 1 B-trees", node type 1), only to know what to
    fetch: libhdf5 still reads every byte itself, so a node misread costs requests, never wrong values."""

    def __init__(self, chunks: tuple[int, ...], spans: list[range], itemsize: int = 0) -> None:
        import math

        self.chunks, self.spans = chunks, spans
        self.nbytes = math.prod(len(r) for r in spans) * math.prod(chunks) * itemsize  # unfiltered
        self.most = 2 * math.prod(chunks) * max(itemsize, 1) + 4096  # a chunk's stored size past this: a misread node
        self.key = 8 + 8 * (len(chunks) + 1)  # chunk size, filter mask, an 8-byte offset per dimension (+ 1)

    def __call__(self, fh: Any, start: int, data: bytes) -> None:
        if len(data) < 24 or data[:4] != b"TREE" or data[4] != 1:
            return  # not a node of a chunk index
        used = int.from_bytes(data[6:8], "little")
        step = self.key + 8
        if 24 + used * step + self.key > len(data):
            return
        if data[5] == 1:  # its children are leaves: the one listing the selection's first chunk is read next
            self._expect_leaf(fh, data, used, step)
        if data[5] != 0:
            return
        ranges = []
        for i in range(used):
            at = 24 + i * step
            size = int.from_bytes(data[at : at + 4], "little")
            coords = [int.from_bytes(data[at + 8 + 8 * d : at + 16 + 8 * d], "little") for d in range(len(self.chunks))]
            addr = int.from_bytes(data[at + self.key : at + step], "little")
            if 0 < size <= self.most and addr + size <= fh.size and all(
                    c % n == 0 and c // n in r for c, n, r in zip(coords, self.chunks, self.spans, strict=True)):
                ranges.append((addr, addr + size))
        if ranges and len(ranges) <= MAX_PREFETCH_CHUNKS:
            fh.prefetch(ranges)


    def _expect_leaf(self, fh: Any, data: bytes, used: int, step: int) -> None:
        """Read the leaf and ``LEAF_AHEAD`` times the selection's chunk bytes after it in one request: a leaf is
        written when the index splits, while the chunks it will list are being written, so they tend to follow it."""
        first = [r.start * n for r, n in zip(self.spans, self.chunks, strict=True)]
        dims = len(self.chunks)
        for i in range(used):
            at = 24 + i * step
            lo = [int.from_bytes(data[at + 8 + 8 * d : at + 16 + 8 * d], "little") for d in range(dims)]
            nxt = at + step
            hi = [int.from_bytes(data[nxt + 8 + 8 * d : nxt + 16 + 8 * d], "little") for d in range(dims)]
            if lo <= first < hi or (i == used - 1 and lo <= first):
                addr = int.from_bytes(data[at + self.key : at + step], "little")
                ahead = min(LEAF_AHEAD * self.nbytes, MAX_LEAF_AHEAD)
                if addr < fh.size and ahead:
                    fh.expect(addr, ahead)
                return


LEAF_AHEAD = 2  # a leaf read ahead of a selection: twice the bytes of the chunks it touches ...
MAX_LEAF_AHEAD = 8 << 20  # ... at most this many


def chunk_spans(ds: Any, item: Any) -> list[range] | None:
    """Per dimension, the chunk coordinates a selection's bounding box touches (None: empty or too many)."""
    import numpy as np

    from io_core.remote.arrays import _normalise

    shape = tuple(ds.shape or ())
    if not shape:
        return None
    index, _ = _normalise(item if item != () else (), shape)
    spans = []
    for idx, c in zip(index, ds.chunks, strict=True):
        if len(idx) == 0:
            return None
        spans.append(range(int(np.min(idx)) // c, int(np.max(idx)) // c + 1))
    if np.prod([len(r) for r in spans], dtype=np.int64) > MAX_PREFETCH_CHUNKS:
        return None
    return spans


def chunk_ranges(ds: Any, item: Any) -> list[tuple[int, int]]:
    """Byte ranges of the allocated chunks a selection's bounding box touches (none past MAX_PREFETCH_CHUNKS)."""
    import itertools


    chunks, shape = ds.chunks, tuple(ds.shape or ())
    if not chunks or not shape or chunk_index_type(ds) in (None, BTREE_V1):
        return []  # a v1 B-tree index: asking a chunk's address walks its leaves in order (one request each)
    spans = chunk_spans(ds, item)
    if not spans:
        return []
    out = []
    for coord in itertools.product(*spans):
        info = ds.id.get_chunk_info_by_coord(tuple(i * c for i, c in zip(coord, chunks, strict=True)))
        if info.byte_offset is not None and info.size:
            out.append((int(info.byte_offset), int(info.byte_offset) + int(info.size)))
    return out


MAX_SIZED_CHUNKS = 1024  # a remote dataset's stored size is asked only up to this many chunks


def too_many_chunks(d: dict) -> bool:
    """Whether asking a remote dataset's stored size would walk a large chunk index over the network."""
    import math

    shape, chunks = d.get("shape") or [], d.get("chunks") or []
    if not chunks or len(shape) != len(chunks):
        return False
    return math.prod(-(-n // c) for n, c in zip(shape, chunks, strict=True)) > MAX_SIZED_CHUNKS


BTREE_V1 = 0  # H5D_CHUNK_IDX_BTREE; 1.10+ files use single chunk (1), implicit (2), fixed (3), extensible (4), v2 (5)


@functools.cache
def _index_type_fn() -> Any:
    """``H5Dget_chunk_index_type`` (h5py does not wrap it); None if not found."""
    import ctypes

    from io_core.formats.hdf5.libhdf5 import libhdf5_function

    return libhdf5_function("H5Dget_chunk_index_type", [ctypes.c_int64, ctypes.POINTER(ctypes.c_int)], ctypes.c_int)


def chunk_index_type(ds: Any) -> int | None:
    import ctypes

    from h5py._objects import phil

    fn = _index_type_fn()
    if fn is None:
        return None
    out = ctypes.c_int(-1)
    with phil:
        ok = fn(ds.id.id, ctypes.byref(out))
    return out.value if ok >= 0 else None
