"""JSON and YAML documents: plain data in, plain data out; YAML through the safe loader only.

Both are parsed whole, so a file larger than ``max_text_bytes`` is TOO_LARGE before it is
read; YAML is measured before it is built (``io_core.safe_yaml``), JSON after parsing; a
document nested deeper than ``max_depth`` is TOO_LARGE, loaded or saved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError, TooLargeError
from io_core.formats.base import Format
from io_core.formats.text import read_whole
from io_core.limits import Limits, check_document
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import value_summary
from schemas import ValueSummary


def to_plain(value: Any) -> Any:
    """NumPy scalars and arrays as Python numbers and lists; everything else unchanged."""
    if hasattr(value, "tolist") and type(value).__module__.startswith("numpy"):
        return value.tolist()
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def checked_plain(data: Any, limits: Limits | None = None) -> Any:
    """``to_plain(data)`` after its depth and expanded size are checked (TOO_LARGE, nothing rendered)."""
    from io_core.limits import current

    limits = limits or current()
    check_document(data, limits, "the data")
    try:
        return to_plain(data)
    except RecursionError:
        raise TooLargeError("the data is nested too deeply to write", hint="Flatten it.") from None


def _pick(value: Any, key: str | None, what: str = "document") -> Any:
    """The member at the ``/``-separated path ``key`` (mapping keys, list indices); None: the whole value."""
    if key is None:
        return value
    node = value
    parts = key.strip("/").split("/")
    for i, part in enumerate(parts):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyNotFoundError(f"no {key!r} in the {what} (stopped at {part!r})").with_candidates(
                part, node if isinstance(node, Mapping) else (), prefix="/".join(parts[:i]) or None)
    return node


class JsonFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        raw = read_whole(path, opts.limits, "JSON")
        try:
            value = json.loads(raw)
        except RecursionError:
            raise TooLargeError(f"{path.name!r} is nested too deeply to parse",
                                hint=f"Documents are read up to {opts.limits.max_depth} levels deep.") from None
        except UnicodeDecodeError as exc:
            raise CorruptFileError(f"{path.name!r} is not UTF-8 JSON: {exc}") from None
        check_document(value, opts.limits, repr(path.name))
        return _pick(value, opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        path.write_text(self._render(data, opts.limits), encoding="utf-8")

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """Same bytes as ``save``, into a stream that hashes them while they are written."""
        fh.write(self._render(data, opts.limits).encode("utf-8"))

    @staticmethod
    def _render(data: Any, limits: Limits | None = None) -> str:
        plain = checked_plain(data, limits)
        try:
            text = json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=False)
        except RecursionError:
            raise TooLargeError("the data is nested too deeply to write as JSON", hint="Flatten it.") from None
        except ValueError as exc:
            raise InvalidDataError(f"not valid JSON: {exc}", hint="JSON has no NaN or Infinity; use null.") from None
        except TypeError as exc:
            raise InvalidDataError(f"not JSON-serialisable: {exc}") from None
        return text + "\n"

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        return value_summary(self.load(path, opts), opts)


class YamlFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        from io_core import safe_yaml

        return _pick(safe_yaml.load(read_whole(path, opts.limits, "YAML"), path.name, opts.limits), opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        path.write_text(self._render(data, opts.limits), encoding="utf-8")

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """Same bytes as ``save``, into a stream that hashes them while they are written."""
        fh.write(self._render(data, opts.limits).encode("utf-8"))

    @staticmethod
    def _render(data: Any, limits: Limits | None = None) -> str:
        import yaml

        plain = checked_plain(data, limits)
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        try:
            return yaml.dump(plain, Dumper=dumper, sort_keys=False, allow_unicode=True)
        except RecursionError:
            raise TooLargeError("the data is nested too deeply to write as YAML", hint="Flatten it.") from None
        except yaml.representer.RepresenterError as exc:
            raise InvalidDataError(f"not representable as plain YAML: {exc}") from None

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        return value_summary(self.load(path, opts), opts)


JSON = JsonFormat()
YAML = YamlFormat()
