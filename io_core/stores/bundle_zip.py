"""Zip archives read member by member: the central directory in one read, members inflated within bounds.

``zipfile.ZipFile`` builds a ``ZipInfo`` object for every entry before the first member can
be read: ~100-180 ms for the 20,001 entries of a 10,000-result bundle, on every open. A
bundle request needs a few members. Here the end record and the central directory are read
as one block, entries are kept as tuples by name (remembered per file identity once its
stamp is settled, see ``io_core.fileid``), and only the members asked for are inflated:
sizes are checked from the directory first (``io_core.limits.check_member``), inflation
stops at the declared size, and the CRC is verified. Nothing is extracted to disk.
"""

from __future__ import annotations

import bz2
import os
import struct
import threading
import zlib
from collections import OrderedDict
from typing import NamedTuple

from io_core.errors import CorruptFileError, UnsupportedOperationError
from io_core.fileid import settled, stamp_of
from io_core.limits import Limits, check_member

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
METHOD_NAMES = {STORED: "stored", DEFLATED: "deflate", BZIP2: "bzip2", LZMA: "lzma"}

_EOCD = struct.Struct("<4s4H2LH")  # signature, disk, cd disk, entries here, entries, cd size, cd offset, comment
_EOCD64_LOCATOR = struct.Struct("<4sLQL")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s4xHH4xLLLHHH8xL")  # sig, flags, method, crc, csize, usize, nlen, xlen, clen, offset
_LOCAL = struct.Struct("<4s22xHH")  # sig, ..., name length, extra length
_MAX_COMMENT = 65535
CACHED_ENTRIES = 400_000  # directory entries remembered across all files


class Entry(NamedTuple):
    method: int
    flags: int
    crc: int
    csize: int  # stored (compressed) bytes
    usize: int  # inflated bytes
    offset: int  # of the local header


class ZipIndex:
    """The central directory of one archive, kept as the bytes it is on disk.

    ``lookup`` finds one member by searching those bytes for its name (C speed, no walk), which
    is all a request for one result needs; ``names`` / ``entries`` walk the whole directory
    once, on first use (a summary's listing).
    """

    def __init__(self, directory: bytes, count: int, size: int, name: str) -> None:
        self.directory, self.count, self.size, self.name = directory, count, size, name
        self._walked: tuple[tuple[str, ...], dict[str, tuple]] | None = None
        self._lock = threading.Lock()

    def _walk(self) -> tuple[tuple[str, ...], dict[str, tuple]]:
        with self._lock:
            if self._walked is None:
                names, entries = _walk(self.directory, self.count, self.name)
                self._walked = (tuple(names), entries)
            return self._walked

    @property
    def names(self) -> tuple[str, ...]:
        return self._walk()[0]

    @property
    def entries(self) -> dict[str, tuple[int, int, int, int, int, int]]:
        """name -> the fields of an ``Entry`` (plain tuples: building 20,000 NamedTuples costs 3x more)."""
        return self._walk()[1]

    def lookup(self, member: str) -> tuple[int, int, int, int, int, int] | None:
        """The fields of ``member``'s entry, or None; the last of equal names wins (as in ``zipfile``)."""
        if self._walked is not None or not member.isascii():
            return self.entries.get(member)
        raw, cd, head = member.encode("ascii"), self.directory, _CENTRAL.size
        pos = cd.rfind(raw)
        while pos >= 0:
            at = pos - head
            if at >= 0 and cd[at : at + 4] == b"PK\x01\x02":
                fields = _CENTRAL.unpack_from(cd, at)
                if fields[6] == len(raw):  # the name field is exactly this name
                    return _fields(cd, at, fields)
            pos = cd.rfind(raw, 0, pos)
        return None

    def __contains__(self, member: str) -> bool:
        return self.lookup(member) is not None

    def entry(self, member: str) -> Entry:
        """KeyError when the directory has no such member."""
        found = self.lookup(member)
        if found is None:
            raise KeyError(member)
        return Entry(*found)

    def stored_bytes(self) -> int:
        return sum(e[3] for e in self.entries.values())

    def inflated_bytes(self) -> int:
        return sum(e[4] for e in self.entries.values())


_cache: OrderedDict[tuple, ZipIndex] = OrderedDict()
_cache_lock = threading.Lock()


def _bad(name: str, what: str) -> CorruptFileError:
    return CorruptFileError(f"{name!r} is not a readable zip archive: {what}",
                            hint="The bundle is truncated or damaged; write it again.")


def read_index(fd: int, name: str = "the archive") -> ZipIndex:
    """The archive's directory (cached by file identity): CORRUPT_FILE for anything that is not a zip."""
    st = os.fstat(fd)
    stamp = stamp_of(st)
    with _cache_lock:
        found = _cache.get(stamp)
        if found is not None:
            _cache.move_to_end(stamp)
            return found
    index = _parse(fd, st.st_size, name)
    if settled(stamp):
        with _cache_lock:
            _cache[stamp] = index
            while sum(i.count for i in _cache.values()) > CACHED_ENTRIES and len(_cache) > 1:
                _cache.popitem(last=False)
    return index


def _parse(fd: int, size: int, name: str) -> ZipIndex:
    tail_len = min(size, _EOCD.size + _MAX_COMMENT)
    tail = os.pread(fd, tail_len, size - tail_len)
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0 and at + _EOCD.size > len(tail):
        at = tail.rfind(b"PK\x05\x06", 0, at)
    if at < 0:
        raise _bad(name, "no end-of-central-directory record")
    _, disk, cd_disk, _, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    eocd_pos = size - tail_len + at
    if eocd_pos >= _EOCD64_LOCATOR.size:
        loc = os.pread(fd, _EOCD64_LOCATOR.size, eocd_pos - _EOCD64_LOCATOR.size)
        if loc[:4] == b"PK\x06\x07":
            _, _, eocd64_pos, _ = _EOCD64_LOCATOR.unpack(loc)
            rec = os.pread(fd, _EOCD64.size, eocd64_pos)
            if len(rec) < _EOCD64.size or rec[:4] != b"PK\x06\x06":
                raise _bad(name, "the zip64 end record is missing")
            _, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset = _EOCD64.unpack(rec)
    if disk or cd_disk:
        raise UnsupportedOperationError(f"{name!r} is a multi-part (spanned) zip archive",
                                        hint="Join the parts into one archive first.")
    if cd_offset + cd_size > size:
        raise _bad(name, f"the directory ({cd_size} bytes at {cd_offset}) lies past the end of the file ({size} bytes)")
    directory = os.pread(fd, cd_size, cd_offset)
    if len(directory) != cd_size:
        raise _bad(name, "the directory could not be read whole")
    return ZipIndex(directory, count, size, name)


def _walk(cd: bytes, count: int, name: str) -> tuple[list[str], dict[str, tuple]]:
    names: list[str] = []
    entries: dict[str, tuple] = {}
    unpack = _CENTRAL.unpack_from
    head = _CENTRAL.size
    pos, end = 0, len(cd)
    for _ in range(count):
        if pos + head > end:
            raise _bad(name, f"the directory ends after {len(names)} of {count} entries")
        sig, flags, method, crc, csize, usize, nlen, xlen, clen, offset = unpack(cd, pos)
        if sig != b"PK\x01\x02":
            raise _bad(name, f"directory entry {len(names)} is damaged")
        raw = cd[pos + head : pos + head + nlen]
        if raw.isascii():
            member = raw.decode("ascii")
        else:
            member = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        if 0xFFFFFFFF in (csize, usize, offset):
            usize, csize, offset = _zip64(cd[pos + head + nlen : pos + head + nlen + xlen], usize, csize, offset)
        names.append(member)
        entries[member] = (method, flags, crc, csize, usize, offset)
        pos += head + nlen + xlen + clen
    return names, entries


def _fields(cd: bytes, at: int, fields: tuple) -> tuple[int, int, int, int, int, int]:
    """An entry's (method, flags, crc, csize, usize, offset) from its unpacked header at ``at``."""
    _, flags, method, crc, csize, usize, nlen, xlen, _, offset = fields
    if 0xFFFFFFFF in (csize, usize, offset):
        extra_at = at + _CENTRAL.size + nlen
        usize, csize, offset = _zip64(cd[extra_at : extra_at + xlen], usize, csize, offset)
    return method, flags, crc, csize, usize, offset


def _zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset from a zip64 extra field (each present only where the directory says 0xFFFFFFFF)."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return usize, csize, offset


def read_member(fd: int, index: ZipIndex, member: str, limits: Limits, container: str = "the bundle") -> bytes:
    """One member's bytes, inflated; TOO_LARGE from the directory before anything is inflated.

    KeyError when the directory has no such member (callers name what is missing).
    """
    entry = index.entry(member)
    check_member(member, entry.usize, entry.csize if entry.method != STORED else entry.usize, limits, container)
    if entry.flags & 0x1:
        raise UnsupportedOperationError(f"{container}: member {member!r} is encrypted",
                                        hint="Decrypt the archive first; encrypted members are not read.")
    local = os.pread(fd, _LOCAL.size, entry.offset)
    if len(local) < _LOCAL.size or local[:4] != b"PK\x03\x04":
        raise CorruptFileError(f"{container}: member {member!r} has no local header where the directory says")
    nlen, xlen = _LOCAL.unpack(local)[1:]
    start = entry.offset + _LOCAL.size + nlen + xlen
    if start + entry.csize > index.size:
        raise CorruptFileError(f"{container}: member {member!r} runs past the end of the file (truncated?)")
    raw = os.pread(fd, entry.csize, start)
    data = _inflate(raw, entry, member, container)
    if len(data) != entry.usize:
        raise CorruptFileError(f"{container}: member {member!r} inflates to {len(data)} bytes, "
                               f"the directory says {entry.usize}")
    if zlib.crc32(data) != entry.crc:
        raise CorruptFileError(f"{container}: member {member!r} fails its CRC check (damaged)")
    return data


def _inflate(raw: bytes, entry: Entry, member: str, container: str) -> bytes:
    try:
        if entry.method == STORED:
            return raw
        if entry.method == DEFLATED:
            return zlib.decompressobj(-15).decompress(raw, entry.usize + 1)  # never past the declared size
        if entry.method == BZIP2:
            return bz2.BZ2Decompressor().decompress(raw, entry.usize + 1)
        if entry.method == LZMA:
            import zipfile

            return zipfile.LZMADecompressor().decompress(raw)  # bounded by the ratio check on its sizes
    except (zlib.error, OSError, EOFError, ValueError) as exc:
        raise CorruptFileError(f"{container}: member {member!r} does not inflate: {exc}") from None
    raise UnsupportedOperationError(f"{container}: member {member!r} uses zip compression method {entry.method}",
                                    hint="Stored, deflate, bzip2 and lzma members are read.")
