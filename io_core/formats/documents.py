"""JSON and YAML documents: plain data in, plain data out; YAML through the safe loader only."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from io_core.errors import InvalidDataError, KeyNotFoundError, UnsafeFormatError
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


def _pick(value: Any, key: str | None, what: str = "document") -> Any:
    """The member at the ``/``-separated path ``key`` (mapping keys, list indices); None: the whole value."""
    if key is None:
        return value
    node = value
    for part in key.strip("/").split("/"):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, (list, tuple)) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyNotFoundError(f"no {key!r} in the {what} (stopped at {part!r})")
    return node


class JsonFormat:
    def load(self, path: Path, opts: ReadOptions) -> Any:
        with open(path, encoding="utf-8") as fh:
            return _pick(json.load(fh), opts.key)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        path.write_text(self._render(data), encoding="utf-8")

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """Same bytes as ``save``, into a stream that hashes them while they are written."""
        fh.write(self._render(data).encode("utf-8"))

    @staticmethod
    def _render(data: Any) -> str:
        try:
            text = json.dumps(to_plain(data), indent=2, ensure_ascii=False, allow_nan=False)
        except ValueError as exc:
            raise InvalidDataError(f"not valid JSON: {exc}", hint="JSON has no NaN or Infinity; use null.") from None
        except TypeError as exc:
            raise InvalidDataError(f"not JSON-serialisable: {exc}") from None
        return text + "\n"

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        return value_summary(self.load(path, opts), opts)


class YamlFormat:
    def load(self, path: Path, opts: ReadOptions) -> Any:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path, encoding="utf-8") as fh:
            try:
                return _pick(yaml.load(fh, Loader=loader), opts.key)  # noqa: S506 - safe loader
            except yaml.constructor.ConstructorError as exc:
                if "python/" in str(exc):
                    raise UnsafeFormatError(f"{path.name!r} uses Python object tags, which are never executed") from None
                raise

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        path.write_text(self._render(data), encoding="utf-8")

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """Same bytes as ``save``, into a stream that hashes them while they are written."""
        fh.write(self._render(data).encode("utf-8"))

    @staticmethod
    def _render(data: Any) -> str:
        import yaml

        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        try:
            return yaml.dump(to_plain(data), Dumper=dumper, sort_keys=False, allow_unicode=True)
        except yaml.representer.RepresenterError as exc:
            raise InvalidDataError(f"not representable as plain YAML: {exc}") from None

    def summarize(self, path: Path, opts: ReadOptions) -> ValueSummary:
        return value_summary(self.load(path, opts), opts)


JSON = JsonFormat()
YAML = YamlFormat()
