"""TOML documents, and XML / HTML / SVG as text with a structural summary.

- TOML loads through ``tomllib`` (standard library) and saves through ``tomli-w``.
  TOML has no null: ``None`` is refused on save.
- XML, HTML and SVG load as the text itself (UTF-8). XML and SVG must be well-formed
  (a cut or damaged file is CORRUPT_FILE); the summary names the root element, its
  attributes and namespace, and counts the elements. Parsing is safe: expat runs with
  no external entity, no external DTD and no parameter entity ever loaded, and with
  internal entity expansion switched off (a "billion laughs" file is counted, not
  expanded). HTML is parsed leniently by ``html.parser`` (it never fetches anything):
  title, language, headings and link count.
"""

from __future__ import annotations

import codecs
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from io_core.errors import CorruptFileError, InvalidDataError, TooLargeError
from io_core.formats.base import Format
from io_core.formats.documents import _pick, checked_plain
from io_core.formats.text import _refuse_binary, read_lines, read_whole
from io_core.limits import Limits, check_document, check_text_size, human
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import clip_text, value_summary
from schemas import ValueSummary

CHUNK = 1024 * 1024
HTML_PARSE_BYTES = 4 * 1024 * 1024  # title and headings come from the first megabytes


def _read_text(path: Path, encoding: str = "utf-8", limits: Limits | None = None, what: str = "text") -> str:
    raw = read_whole(path, limits, what)  # TOO_LARGE past max_text_bytes, before reading
    _refuse_binary(raw, path.name)
    try:
        return raw.decode("utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise CorruptFileError(f"{path.name!r} is not {encoding} text: {exc}") from None


def _write_text(data: Any, fh: IO[bytes], what: str) -> None:
    if not isinstance(data, str):
        raise InvalidDataError(f"{what} files take a string, not {type(data).__name__}")
    fh.write(data.encode("utf-8"))


def _text_counts(path: Path, opts: ReadOptions) -> dict[str, Any]:
    """n_chars, n_lines and the head, in one streamed pass (constant memory)."""
    from io_core.formats.text import TEXT

    summary = TEXT.summarize(path, opts)
    head, _ = clip_text(summary.head, min(opts.preview_chars, 1000))
    return {"n_chars": summary.n_chars, "n_lines": summary.n_lines, "head": head}


# -- TOML ------------------------------------------------------------------------------------------

class TomlFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        text = _read_text(path, limits=opts.limits, what="TOML")
        try:
            value = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CorruptFileError(f"{path.name!r} is not valid TOML: {exc}") from None
        except RecursionError:
            raise TooLargeError(f"{path.name!r} is nested too deeply to parse",
                                hint=f"Documents are read up to {opts.limits.max_depth} levels deep.") from None
        check_document(value, opts.limits, repr(path.name))
        return _pick(value, opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            self.save_stream(data, fh, opts)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        import tomli_w

        plain = checked_plain(data, opts.limits)
        if not isinstance(plain, dict):
            raise InvalidDataError(f"a TOML document is a table (an object), not {type(data).__name__}")
        _refuse_none(plain)
        try:
            fh.write(tomli_w.dumps(plain).encode("utf-8"))
        except RecursionError:
            raise TooLargeError("the data is nested too deeply to write as TOML", hint="Flatten it.") from None
        except TypeError as exc:
            raise InvalidDataError(f"not representable in TOML: {exc}") from None

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        return value_summary(self.load(path, opts), opts)


def _refuse_none(value: Any, where: str = "") -> None:
    if value is None:
        raise InvalidDataError(f"TOML has no null (at {where or '/'!r})", hint="Leave the key out instead.")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_none(v, f"{where}/{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_none(v, f"{where}/{i}")


# -- XML / SVG -------------------------------------------------------------------------------------

class _XmlScan:
    """One streamed, entity-safe expat pass: root element, counts, well-formedness."""

    def __init__(self, opts: ReadOptions) -> None:
        from xml.parsers import expat

        self.opts = opts
        self.parser = expat.ParserCreate(namespace_separator=" ")
        p = self.parser
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.UseForeignDTD(False)
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.StartDoctypeDeclHandler = self._doctype
        p.EntityDeclHandler = self._entity
        p.ExternalEntityRefHandler = lambda *args: 1  # never loaded: skipped
        p.DefaultHandler = lambda data: None  # a default handler turns internal entity expansion off
        p.ProcessingInstructionHandler = self._pi
        p.buffer_text = True
        p.CharacterDataHandler = self._chars
        self.root: str | None = None
        self.root_attrs: dict[str, str] = {}
        self.depth = 0
        self.n_elements = 0
        self.max_depth = 0
        self.children: dict[str, int] = {}
        self.doctype: str | None = None
        self.n_entities = 0
        self.title: str | None = None
        self._in_title = False
        self._title_parts: list[str] = []

    @staticmethod
    def _local(name: str) -> str:
        return name.rsplit(" ", 1)[-1]

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self.n_elements += 1
        if self.depth == 0:
            self.root = name
            self.root_attrs = {self._local(k): clip_text(v, 200)[0] for k, v in list(attrs.items())[: self.opts.preview_items]}
        elif self.depth == 1:
            local = self._local(name)
            if local in self.children or len(self.children) < self.opts.preview_items:
                self.children[local] = self.children.get(local, 0) + 1
        if self._local(name) == "title" and self.title is None and self.depth <= 2:
            self._in_title = True
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)

    def _end(self, name: str) -> None:
        self.depth -= 1
        if self._in_title:
            self._in_title = False
            self.title = clip_text("".join(self._title_parts).strip(), 200)[0]

    def _chars(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)

    def _doctype(self, name: str, sysid: str | None, pubid: str | None, has_internal: int) -> None:
        self.doctype = name

    def _entity(self, *args: Any) -> None:
        self.n_entities += 1

    def _pi(self, target: str, data: str) -> None:
        pass

    def feed(self, path: Path, max_bytes: int | None = None) -> _XmlScan:
        """Parse the file, or only its first ``max_bytes`` (``partial`` then says so)."""
        from xml.parsers import expat

        self.partial = False
        with open(path, "rb") as fh:
            first = fh.read(min(CHUNK, max_bytes) if max_bytes else CHUNK)
            _refuse_binary(first, path.name)
            chunk, read = first, len(first)
            try:
                while chunk:
                    self.parser.Parse(chunk, False)
                    if max_bytes is not None and read >= max_bytes:
                        self.partial = bool(fh.read(1))
                        if self.partial:
                            break
                    chunk = fh.read(CHUNK if max_bytes is None else min(CHUNK, max_bytes - read))
                    read += len(chunk)
                if not self.partial:
                    self.parser.Parse(b"", True)
            except expat.ExpatError as exc:
                raise CorruptFileError(f"{path.name!r} is not well-formed XML: {exc}") from None
        if self.root is None:
            raise CorruptFileError(f"{path.name!r} has no root element")
        return self

    def describe(self) -> dict[str, Any]:
        namespace, _, local = self.root.rpartition(" ") if self.root else ("", "", "")
        out: dict[str, Any] = {"root": local, "namespace": namespace or None, "attributes": self.root_attrs,
                               "n_elements": self.n_elements, "max_depth": self.max_depth,
                               "children": self.children}
        if self.title is not None:
            out["title"] = self.title
        if self.doctype is not None:
            out["doctype"] = self.doctype
        if self.n_entities:
            out["entities_declared"] = f"{self.n_entities} (not expanded)"
        return out


_XML_DECL = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:-]+)["']""")


def _xml_encoding(head: bytes | str) -> str:
    """The encoding an XML declaration names (UTF-8 when it names none)."""
    raw = head.encode("utf-8", "replace") if isinstance(head, str) else head
    match = _XML_DECL.match(raw[:200])
    name = match.group(1).decode("ascii").lower() if match else "utf-8"
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


class XmlFormat(Format):
    """XML as text (in the encoding its declaration names); ``root`` (e.g. "svg") requires that root element."""

    def read_lines(self, path: Path, opts: ReadOptions, offset: int, limit: int) -> tuple[list[str], bool]:
        return read_lines(path, offset, limit, opts.limits)

    def __init__(self, what: str = "XML", root: str | None = None) -> None:
        self.what = what
        self.root = root

    def _scan(self, path: Path, opts: ReadOptions, max_bytes: int | None = None) -> _XmlScan:
        scan = _XmlScan(opts).feed(path, max_bytes)
        if self.root is not None and scan._local(scan.root or "") != self.root:
            raise CorruptFileError(f"{path.name!r} is XML whose root is <{scan._local(scan.root or '')}>, not <{self.root}>")
        return scan

    @staticmethod
    def _encoding(path: Path) -> str:
        with open(path, "rb") as fh:
            return _xml_encoding(fh.read(200))

    def load(self, path: Path, opts: ReadOptions) -> str:
        check_text_size(path.stat().st_size, opts.limits, path.name, self.what)
        self._scan(path, opts)  # well-formed, or CORRUPT_FILE
        return _read_text(path, self._encoding(path), opts.limits, self.what)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            self.save_stream(data, fh, opts)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """Written in the encoding the document's declaration names (UTF-8 without one)."""
        if not isinstance(data, str):
            raise InvalidDataError(f"{self.what} files take a string, not {type(data).__name__}")
        encoding = _xml_encoding(data)
        try:
            raw = data.encode(encoding)
        except (UnicodeEncodeError, LookupError) as exc:
            raise InvalidDataError(f"the text cannot be written in its declared encoding {encoding!r}: {exc}") from None
        _check_well_formed(raw, self.what, self.root)
        fh.write(raw)

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        """Counts and root from one streamed parse of at most ``max_text_bytes``."""
        scan = self._scan(path, opts, opts.limits.max_text_bytes)
        preview = scan.describe()
        if scan.partial:
            preview["note"] = f"elements counted in the first {human(opts.limits.max_text_bytes)}"
        if self.root == "svg":
            attrs = scan.root_attrs
            preview = {"width": attrs.get("width"), "height": attrs.get("height"), "viewBox": attrs.get("viewBox"),
                       **preview}
        encoding = self._encoding(path)
        if encoding == "utf-8":
            preview.update(_text_counts(path, opts))
        else:
            text = _read_text(path, encoding, opts.limits, self.what)
            preview.update(n_chars=len(text), n_lines=text.count("\n") + (bool(text) and not text.endswith("\n")),
                           head=clip_text(text, min(opts.preview_chars, 1000))[0], encoding=encoding)
        return ValueSummary(type=self.what.lower(), length=preview["n_chars"], keys=None, preview=preview,
                            truncated=preview["n_chars"] > len(preview["head"]))


def _check_well_formed(raw: bytes, what: str, root: str | None) -> None:
    from xml.parsers import expat

    p = expat.ParserCreate(namespace_separator=" ")
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.DefaultHandler = lambda data: None
    p.ExternalEntityRefHandler = lambda *args: 1
    roots: list[str] = []
    p.StartElementHandler = lambda name, attrs: roots.append(name) if not roots else None
    try:
        p.Parse(raw, True)
    except expat.ExpatError as exc:
        raise InvalidDataError(f"not well-formed {what}: {exc}") from None
    if root is not None and (not roots or roots[0].rsplit(" ", 1)[-1] != root):
        raise InvalidDataError(f"an {what} document has a <{root}> root element")


# -- HTML ------------------------------------------------------------------------------------------

class _HtmlScan(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.limit = limit
        self.title: str | None = None
        self.lang: str | None = None
        self.charset: str | None = None
        self.headings: list[str] = []
        self.n_links = 0
        self.n_elements = 0
        self._capture: str | None = None
        self._parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.n_elements += 1
        a = dict(attrs)
        if tag == "html" and a.get("lang"):
            self.lang = a["lang"]
        elif tag == "meta" and (a.get("charset") or "charset=" in (a.get("content") or "")):
            self.charset = a.get("charset") or (a.get("content") or "").split("charset=")[-1].strip()
        elif tag == "a" and a.get("href"):
            self.n_links += 1
        if (tag == "title" and self.title is None) or (tag in ("h1", "h2", "h3") and len(self.headings) < self.limit):
            self._capture, self._parts = tag, []

    def handle_endtag(self, tag: str) -> None:
        if self._capture == tag:
            text = clip_text(" ".join("".join(self._parts).split()), 200)[0]
            if tag == "title":
                self.title = text
            else:
                self.headings.append(f"{tag}: {text}")
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture is not None:
            self._parts.append(data)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)


class HtmlFormat(Format):
    def read_lines(self, path: Path, opts: ReadOptions, offset: int, limit: int) -> tuple[list[str], bool]:
        return read_lines(path, offset, limit, opts.limits)

    def _encoding(self, path: Path) -> str:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        match = _META_CHARSET.search(head)
        return match.group(1).decode("ascii").lower() if match else "utf-8"

    def load(self, path: Path, opts: ReadOptions) -> str:
        return _read_text(path, self._encoding(path), opts.limits, "HTML")

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            self.save_stream(data, fh, opts)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        _write_text(data, fh, "HTML")

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        encoding = self._encoding(path)
        with open(path, "rb") as fh:
            head = fh.read(HTML_PARSE_BYTES)
        _refuse_binary(head, path.name)
        try:
            text = codecs.getincrementaldecoder(encoding)(errors="strict").decode(head, final=False)
        except (UnicodeDecodeError, LookupError) as exc:
            raise CorruptFileError(f"{path.name!r} is not {encoding} text: {exc}") from None
        scan = _HtmlScan(opts.preview_items)
        scan.feed(text)
        preview: dict[str, Any] = {"title": scan.title, "lang": scan.lang, "encoding": encoding,
                                   "headings": scan.headings, "n_links": scan.n_links,
                                   "n_elements": scan.n_elements}
        if path.stat().st_size > HTML_PARSE_BYTES:
            preview["note"] = f"headings and counts from the first {HTML_PARSE_BYTES} bytes"
        if encoding in ("utf-8", "utf8"):
            preview.update(_text_counts(path, opts))
        else:
            whole = self.load(path, opts)
            head_text, _ = clip_text(whole, min(opts.preview_chars, 1000))
            preview.update(n_chars=len(whole), n_lines=whole.count("\n") + (not whole.endswith("\n") and bool(whole)),
                           head=head_text)
        return ValueSummary(type="html", length=preview["n_chars"], keys=None, preview=preview,
                            truncated=preview["n_chars"] > len(preview["head"]))


TOML = TomlFormat()
XML = XmlFormat()
class SvgFormat(XmlFormat):
    """SVG: XML with an ``<svg>`` root that can carry sciio metadata (``<metadata id="sciio">``)."""

    def read_metadata(self, path: Path, opts: ReadOptions) -> tuple[Any, bool, dict[str, Any]]:
        from io_core import metadata

        return metadata.read(path, "svg")

    def embed_metadata(self, path: Path, metadata: Any, stream: Any, overwrite: bool) -> bool:
        from io_core import metadata as md

        return md.embed(path, "svg", metadata, stream, overwrite=overwrite)


SVG = SvgFormat("SVG", root="svg")
HTML = HtmlFormat()
