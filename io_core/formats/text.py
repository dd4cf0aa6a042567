"""Plain text (.txt, .md, .log): loads as one string, summarized from a streamed read."""

from __future__ import annotations

import codecs
import os
from pathlib import Path
from typing import IO, Any

from io_core.errors import CorruptFileError, InvalidDataError
from io_core.formats.base import Format
from io_core.limits import Limits, check_page, check_text_size, current
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import clip_text
from schemas import TextSummary

CHUNK = 1024 * 1024


def _refuse_binary(head: bytes, name: str, what: str = "text") -> None:
    if b"\x00" in head[:8192]:
        raise CorruptFileError(f"{name!r} holds binary data, not {what}")


def read_whole(path: Path, limits: Limits | None = None, what: str = "text") -> bytes:
    """The whole file, after its ``st_size`` is checked against ``max_text_bytes`` (TOO_LARGE: nothing read).

    At most the checked number of bytes (plus one, to notice growth) is read, so a file that
    grows meanwhile cannot make the read larger.
    """
    limits = limits or current()
    with open(path, "rb") as fh:
        check_text_size(os.fstat(fh.fileno()).st_size, limits, path.name, what)
        raw = fh.read(limits.max_text_bytes + 1)
    check_text_size(len(raw), limits, path.name, what)
    return raw


def read_utf8(path: Path, what: str = "text", limits: Limits | None = None) -> str:
    """The whole file as UTF-8 text (a leading BOM dropped); binary or other encodings are CORRUPT_FILE.

    Files larger than ``max_text_bytes`` are TOO_LARGE before a byte is read.
    """
    raw = read_whole(path, limits, what)
    _refuse_binary(raw, path.name, what)
    try:
        return raw.decode("utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path.name!r} is not UTF-8 text: {exc}") from None


class TextFormat(Format):
    def read_lines(self, path: Path, opts: ReadOptions, offset: int, limit: int) -> tuple[list[str], bool]:
        return read_lines(path, offset, limit, opts.limits)

    def load(self, path: Path, opts: ReadOptions) -> str:
        return read_utf8(path, limits=opts.limits)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        if not isinstance(data, str):
            raise InvalidDataError(f"text files take a string, not {type(data).__name__}")
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(data)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """Same bytes as ``save``, into a stream that hashes them while they are written."""
        if not isinstance(data, str):
            raise InvalidDataError(f"text files take a string, not {type(data).__name__}")
        fh.write(data.encode("utf-8"))

    def summarize(self, path: Path, opts: ReadOptions) -> TextSummary:
        """Counts lines and characters in one streamed pass; keeps only the head."""
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        head, n_chars, n_lines, last = "", 0, 0, ""
        with open(path, "rb") as fh:
            first = True
            while chunk := fh.read(CHUNK):
                if first:
                    _refuse_binary(chunk, path.name)
                    first = False
                try:
                    text = decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    raise CorruptFileError(f"{path.name!r} is not UTF-8 text: {exc}") from None
                if len(head) <= opts.preview_chars:
                    head += text[: opts.preview_chars + 1 - len(head)]
                n_chars += len(text)
                n_lines += text.count("\n")
                last = text[-1:] or last
        if n_chars and last != "\n":
            n_lines += 1
        shown, cut = clip_text(head, opts.preview_chars)
        return TextSummary(encoding="utf-8", n_chars=n_chars, n_lines=n_lines, head=shown, truncated=cut or n_chars > len(head))


TEXT = TextFormat()


MAX_LINE_CHARS = 1024 * 1024


def read_lines(path: Path, offset: int, limit: int, limits: Limits | None = None) -> tuple[list[str], bool]:
    """Lines ``offset .. offset+limit`` (without line ends) and whether more follow.

    Streams the file; a line longer than MAX_LINE_CHARS is cut (ending in "…") and the
    rest of it skipped, so a one-line gigabyte file costs a megabyte of memory.
    """
    check_page(limit, limits or current(), "lines")
    with open(path, "rb") as raw:
        if offset >= os.fstat(raw.fileno()).st_size:  # every line takes at least one byte
            return [], False
        _refuse_binary(raw.read(8192), path.name)
    out: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            index = 0
            while True:
                line = fh.readline(MAX_LINE_CHARS)
                if not line:
                    return out, False
                cut = not line.endswith(("\n", "\r")) and len(line) == MAX_LINE_CHARS
                while cut and (rest := fh.readline(MAX_LINE_CHARS)) and not rest.endswith(("\n", "\r")):
                    pass
                if index >= offset:
                    if len(out) == limit:
                        return out, True
                    out.append(line.rstrip("\r\n") + ("…" if cut else ""))
                index += 1
    except UnicodeDecodeError as exc:
        raise CorruptFileError(f"{path.name!r} is not UTF-8 text: {exc}") from None
