"""A FIF file's structure without its data: is it whole, and what kind of file is it?

FIF is a chain of tags (16-byte header: kind, type, size, next) grouped into nested blocks.
``walk`` follows the chain the way MNE's ``fiff_open`` scans it, reading headers only, but
bounded: ``next`` pointers that keep going back (a loop, which would make MNE scan forever),
a negative size, or more than ``MAX_TAGS`` tags is refused as CORRUPT_FILE before MNE runs.
The walk also notes damage MNE tolerates (a header or a tag's data cut short, blocks left
open): readers that trust the file's end would otherwise answer from a truncated file.

``kind_of`` names the kind from MNE's block tree (``fiff_open`` + ``dir_tree_find``), most
specific first, since files of one kind embed blocks of others (an inverse operator holds
covariances and source spaces; a raw file holds digitizer points and a transform).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from io_core.errors import CorruptFileError
from io_core.summary import clip_text

MAX_TAGS = 2_000_000  # a FIF file with more tags than this is refused (real files hold thousands)
MAX_BACK_JUMPS = 1000  # tags pointing to an earlier byte (a file edited in place); more is taken as a loop
HEADER = struct.Struct(">iIii")  # kind, type, size, next (big-endian)
NEXT_SEQ, NEXT_NONE = 0, -1
BLOCK_START, BLOCK_END, COORD_TRANS, BEM_POT_SOLUTION = 104, 105, 222, 3110


@dataclass(frozen=True)
class Walk:
    """What the header walk found: tag count, whether the last tag says so, damage MNE would tolerate."""

    n_tags: int
    ended: bool  # reached the tag marked last (next = -1)
    open_blocks: int  # blocks started and never ended
    damage: str | None  # the first sign of a file cut short or overwritten

    @property
    def problem(self) -> str | None:
        if self.damage:
            return self.damage
        if self.open_blocks > 0:
            return f"{self.open_blocks} block(s) are never closed (the file ends inside them)"
        if self.open_blocks < 0:
            return "blocks are closed that were never opened"
        return None


def _open(path: Path) -> Any:
    from mne._fiff.open import _fiff_get_fid

    return _fiff_get_fid(Path(path))  # plain or gzip, chosen by suffix as MNE does


def _data_complete(fid: Any, pos: int, size: int) -> bool:
    if size == 0:
        return True
    fid.seek(pos + 16 + size - 1)
    return len(fid.read(1)) == 1


def walk(path: Path) -> Walk:
    """Follow the tag chain from byte 0, headers only; refuse chains MNE could not finish."""
    name = clip_text(Path(path).name, 64)[0]
    back = 0  # jumps to an earlier byte: a chain can only loop through them
    pos, n, depth, damage, ended = 0, 0, 0, None, False
    last: tuple[int, int] | None = None  # the previous tag, when the chain continues right after it
    with _open(path) as fid:
        while True:
            fid.seek(pos)
            head = fid.read(16)
            if len(head) < 16:
                if head:
                    damage = f"a tag header is cut short at byte {pos}"
                elif last is not None and not _data_complete(fid, *last):
                    damage = f"the tag at byte {last[0]} is cut short"
                break
            kind, _type, size, following = HEADER.unpack(head)
            if n == 0 and kind != 100:
                raise CorruptFileError(f"{name!r} is not a FIF file: it does not start with a file id tag")
            if size < 0:
                raise CorruptFileError(f"{name!r} is damaged: the tag at byte {pos} has a negative size")
            n += 1
            if n > MAX_TAGS:
                raise CorruptFileError(f"{name!r} holds more than {MAX_TAGS} tags; it is not read")
            depth += (kind == BLOCK_START) - (kind == BLOCK_END)
            last = None
            if following == NEXT_SEQ:
                new, last = pos + 16 + size, (pos, size)
            else:
                if not _data_complete(fid, pos, size):
                    damage = damage or f"the tag at byte {pos} is cut short"
                if following < 0:
                    ended = True
                    break
                new = following
            if new <= pos:
                back += 1
                if back > MAX_BACK_JUMPS:
                    raise CorruptFileError(f"{name!r} is damaged: its tags keep pointing back (a loop)")
            pos = new
    return Walk(n_tags=n, ended=ended, open_blocks=depth, damage=damage)


def open_tree(path: Path) -> tuple[Any, list[Any]]:
    """MNE's block tree and tag directory of ``path`` (the file is closed again); after ``walk``."""
    import mne
    from mne._fiff.open import fiff_open

    with mne.utils.use_log_level("error"):
        fid, tree, directory = fiff_open(Path(path), verbose="error")
        fid.close()
    return tree, directory


def blocks(tree: Any) -> dict[int, int]:
    """Every block id in the tree -> how many times it occurs."""
    counts: dict[int, int] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        counts[int(node["block"])] = counts.get(int(node["block"]), 0) + 1
        stack.extend(node["children"])
    return counts


def kind_of(tree: Any, directory: list[Any]) -> str:
    """The file's kind, most specific first: ``raw``, ``evoked``, ``epochs``, ``inverse``, ``forward``,
    ``covariance``, ``source_spaces``, ``bem_solution``, ``bem_surfaces``, ``ica``, ``projections``,
    ``info``, ``transform``, ``fiducials``; ``blocks`` for a FIF of another kind; ``empty`` when it
    holds no block and no transform."""
    from mne._fiff.constants import FIFF
    from mne._fiff.tree import dir_tree_find

    found = blocks(tree)
    top = {int(t.kind) for t in (tree["directory"] or [])}
    if found.get(FIFF.FIFFB_MNE_INVERSE_SOLUTION):
        return "inverse"
    if found.get(FIFF.FIFFB_MNE_FORWARD_SOLUTION):
        return "forward"
    if found.get(FIFF.FIFFB_MNE_EPOCHS):
        return "epochs"
    if found.get(FIFF.FIFFB_EVOKED):
        return "evoked"
    if any(found.get(b) for b in (FIFF.FIFFB_RAW_DATA, FIFF.FIFFB_CONTINUOUS_DATA, FIFF.FIFFB_IAS_RAW_DATA)):
        return "raw"
    if found.get(FIFF.FIFFB_MNE_ICA):
        return "ica"
    if found.get(FIFF.FIFFB_MNE_COV):
        return "covariance"
    if found.get(FIFF.FIFFB_MNE_SOURCE_SPACE):
        return "source_spaces"
    if found.get(FIFF.FIFFB_BEM) or found.get(FIFF.FIFFB_BEM_SURF):
        for node in dir_tree_find(tree, FIFF.FIFFB_BEM):
            if any(int(t.kind) == BEM_POT_SOLUTION for t in (node["directory"] or [])):
                return "bem_solution"
        return "bem_surfaces"
    if found.get(FIFF.FIFFB_MEAS):
        return "info"
    if any(n["block"] == FIFF.FIFFB_PROJ for n in tree["children"]):
        return "projections"
    if COORD_TRANS in top or any(int(t.kind) == COORD_TRANS for t in directory):
        return "transform"
    if found.get(FIFF.FIFFB_ISOTRAK):
        return "fiducials"
    return "blocks" if tree["children"] else "empty"
