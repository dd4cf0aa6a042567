"""BibTeX ``.bib`` through bibtexparser 2.x: entries as records, written back without loss.

A record is ``{"ENTRYTYPE": "article", "ID": "key", <field>: <value>, ...}``: field
names keep their case and order, values are strings without their enclosing braces or
quotes (inner braces are kept: ``"A {DNA} study"``). ``@string`` macros are resolved
into the fields that use them; ``@preamble`` and comments are not part of the records.
Saving needs a non-empty, unique ``ID`` and an ``ENTRYTYPE`` for every record, and
encloses every value in braces. An entry the parser cannot read is CORRUPT_FILE with
its line number, never silently dropped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.formats.text import read_utf8
from io_core.limits import Limits
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import bounded_preview
from schemas import ValueSummary

RESERVED = ("ENTRYTYPE", "ID")


def _library(path: Path, limits: Limits | None = None) -> Any:
    import bibtexparser

    library = bibtexparser.parse_string(read_utf8(path, "BibTeX", limits))  # TOO_LARGE past max_text_bytes
    failed = [b for b in library.failed_blocks if type(b).__name__ != "DuplicateBlockKeyBlock"]
    if failed:
        first = failed[0]
        line = getattr(first, "start_line", None)
        raise CorruptFileError(
            f"{path.name!r}: {len(failed)} block(s) could not be parsed, the first at line {(line or 0) + 1}: "
            f"{str(getattr(first, 'error', '') or '')[:200]}",
            hint="Fix the entry at that line (unbalanced braces or quotes, a missing comma or key).",
        )
    return library


def _record(entry: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"ENTRYTYPE": entry.entry_type, "ID": entry.key}
    for field in entry.fields:
        record[field.key] = field.value
    return record


def _select(records: list[dict[str, Any]], key: str | None) -> list[dict[str, Any]]:
    """The records whose ID is ``key`` (all of them for None); KEY_NOT_FOUND when none is."""
    if key is None:
        return records
    hits = [r for r in records if r["ID"] == key]
    if not hits:
        raise KeyNotFoundError(f"no entry {key!r}; first keys: {[r['ID'] for r in records[:20]]}").with_candidates(
            key, (r["ID"] for r in records))
    return hits


def _entries(library: Any) -> list[Any]:
    """Entries in file order, duplicates of an earlier key included (they are not dropped)."""
    entries = list(library.entries)
    for block in library.failed_blocks:
        if type(block).__name__ == "DuplicateBlockKeyBlock":
            entries.append(block.ignore_error_block)
    entries.sort(key=lambda e: e.start_line or 0)
    return entries


class BibFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> list[dict[str, Any]]:
        return _select([_record(e) for e in _entries(_library(path, opts.limits))], opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            self.save_stream(data, fh, opts)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        import bibtexparser
        from bibtexparser import model

        entries = [self._entry(r, i, model) for i, r in enumerate(_as_records(data))]
        seen: set[str] = set()
        for e in entries:
            if e.key in seen:
                raise InvalidDataError(f"duplicate ID {e.key!r}", hint="Every entry needs its own citation key.")
            seen.add(e.key)
        fh.write(bibtexparser.write_string(bibtexparser.Library(entries)).encode("utf-8"))

    @staticmethod
    def _entry(record: Mapping[str, Any], index: int, model: Any) -> Any:
        entry_type, key = record.get("ENTRYTYPE"), record.get("ID")
        if not isinstance(entry_type, str) or not entry_type.strip().isidentifier():
            raise InvalidDataError(f"record {index} needs an ENTRYTYPE such as 'article'", hint=_HINT)
        if not isinstance(key, str) or not key.strip() or any(c in key for c in ' ,{}"\n\t'):
            raise InvalidDataError(f"record {index} needs an ID (citation key) without spaces, commas or braces",
                                   hint=_HINT)
        fields = []
        for name, value in record.items():
            if name in RESERVED:
                continue
            if not isinstance(name, str) or not name or any(c in name for c in ' ,={}"#%\n\t'):
                raise InvalidDataError(f"record {key!r}: invalid field name {name!r}")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise InvalidDataError(f"record {key!r}: field {name!r} must be text or a number, not {type(value).__name__}")
            text = str(value)
            if text.count("{") != text.count("}"):
                raise InvalidDataError(f"record {key!r}: field {name!r} has unbalanced braces")
            fields.append(model.Field(name, text))
        return model.Entry(entry_type.strip(), key.strip(), fields)

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        library = _library(path, opts.limits)
        records = _select([_record(e) for e in _entries(library)], opts.key)  # one parse, not a second load
        shown, cut = bounded_preview(records[: opts.preview_items], opts)
        preview = {
            "n_entries": len(records),
            "entry_types": dict(Counter(r["ENTRYTYPE"] for r in records).most_common(opts.preview_items)),
            "n_strings": len(library.strings),
            "n_duplicate_keys": sum(type(b).__name__ == "DuplicateBlockKeyBlock" for b in library.failed_blocks),
            "entries": shown,
        }
        return ValueSummary(type="bibliography", length=len(records), keys=None, preview=preview,
                            truncated=cut or len(records) > len(shown))


_HINT = 'Give records like [{"ENTRYTYPE": "article", "ID": "smith2020", "title": "...", "year": "2020"}].'


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _as_records(data: Any) -> list[Mapping[str, Any]]:
    if hasattr(data, "to_dict") and hasattr(data, "columns"):  # a DataFrame of entries
        data = [{k: v for k, v in r.items() if v is not None and not _is_nan(v)} for r in data.to_dict("records")]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, Mapping) for r in data):
        raise InvalidDataError("a bibliography is a list of records", hint=_HINT)
    return data


BIB = BibFormat()
