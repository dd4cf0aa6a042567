"""A file's identity as ``stat`` sees it, and when that identity can be trusted.

Both caches (decoded objects in ``cache.py``, content hashes in ``hashing.py``) key on
(device, inode, size, mtime_ns, ctime_ns): an ``os.replace`` changes the inode, a
rewrite changes ctime even when the writer restores mtime with ``os.utime``.

One hole remains, the one git calls "racy": file systems stamp times from a clock
that ticks coarsely (a jiffy, or whole seconds on some network and FAT mounts), so a
second change within the same tick as the stamp we saw can leave every field equal.
A stamp is therefore trusted ("settled") only once the clock has moved clearly past
it; a cache must not store anything under an unsettled stamp.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

SETTLE_NS = 20_000_000  # two ticks of a 100 Hz coarse clock
COARSE_SETTLE_NS = 2_000_000_000  # whole-second time stamps (FAT keeps 2 s)


class FileStamp(NamedTuple):
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int


def stamp_of(st: os.stat_result) -> FileStamp:
    return FileStamp(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def stamp(path: str | os.PathLike[str]) -> FileStamp:
    return stamp_of(os.stat(path))


def settled(st: FileStamp, now_ns: int | None = None, window_ns: int = SETTLE_NS) -> bool:
    """Whether no later change to the file could produce this same stamp again."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    newest = max(st.mtime_ns, st.ctime_ns)
    if st.mtime_ns % 1_000_000_000 == 0 and st.ctime_ns % 1_000_000_000 == 0:
        window_ns = max(window_ns, COARSE_SETTLE_NS)  # this file system keeps whole seconds only
    return now_ns - newest > window_ns
