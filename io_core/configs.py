"""``load_configs``: a folder of YAML files as one case-insensitive tree.

Rules
-----
- Every regular file directly in the folder whose name ends in ``.yaml`` or ``.yml``
  (suffix in any case) is read; its stem is its top-level key. Hidden files (name
  starting with ``.``: editor swap files, macOS ``._x.yaml``) are skipped. Files are
  read in name order.
- Every string key is stored in UPPER CASE (``str.upper``), recursively, including
  mappings inside lists; non-string keys (``1:``, ``null:``) are kept as they are.
  Lookups fold the key the same way, so ``cfg.model.lr``, ``cfg["Model"]["LR"]``,
  ``"lr" in cfg.model`` and ``cfg.model.get("Lr")`` all find ``LR``. Iteration,
  ``keys()`` and ``repr`` show the stored (upper) form.
- Two keys of one mapping that fold to the same form (``lr`` and ``LR``, or ``lr``
  written twice), or two files whose stems do (``Model.yaml`` and ``model.yml``),
  raise ``ConfigConflictError`` (code ``CONFIG_CONFLICT``) naming the file, the
  mapping path (``MODEL.OPTIM``; ``[i]`` for list items) and both original keys.
- Debug mode: in every mapping, at any depth (the top level of file stems included),
  a key ``DEBUG_<K>`` (any case) replaces ``<K>``'s value and the ``DEBUG_`` key
  itself is dropped; a ``DEBUG_<K>`` without a twin becomes ``<K>``. The value is
  replaced, not deep-merged. Exactly one ``DEBUG_`` prefix is stripped per key. Out of
  debug mode ``DEBUG_`` keys are ordinary keys. ``debug_lr`` and ``LR`` are never a
  collision (they differ before promotion); ``debug_lr`` and ``DEBUG_LR`` are.
- Debug mode is on when ``debug=True``; with ``debug=None`` (default) it is on when a
  file ``IS_DEBUG.yaml`` / ``IS_DEBUG.yml`` (stem in any case) holds ``IS_DEBUG: true``
  (key in any case; YAML ``true`` or the string ``"true"`` in any case), or when the
  environment variable ``CI`` equals ``true`` in any case (surrounding blanks
  ignored). Either trigger suffices. ``debug=False`` wins over both.
- The ``IS_DEBUG`` file is a switch, not configuration: it is parsed (so it obeys the
  same safety rules) but never appears in the merged tree; its other keys are ignored.
- Errors: a missing folder (or a path that is not a folder) is ``FILE_NOT_FOUND``;
  ``!!python/...`` tags are refused with ``UNSAFE_FORMAT`` before anything is built
  (the loader is a ``yaml.SafeLoader``, which never executes anything); invalid YAML is
  ``CORRUPT_FILE``; a file whose top level is not a mapping (a list, a scalar) is
  ``INVALID_DATA``; an empty (or comments-only, or ``null``) file is an empty mapping.
  Recursive aliases are ``INVALID_DATA``; alias bombs that would expand to more than
  ``MAX_VALUES`` values are ``TOO_LARGE``.
- With ``sandbox=...`` the folder and every file read are resolved through
  ``Sandbox.resolve`` (relative folders land under the first root; anything
  resolving outside the roots, symlinks included, is ``PATH_OUTSIDE_ROOT``).

``DotDict`` is a read-only ``Mapping``: ``len``, ``items``, ``==`` with a plain dict of
the stored form, ``to_dict()`` for plain (mutable) dicts and lists. Attribute access
works for any key not shadowed by a method name (``cfg.items`` is the method; use
``cfg["items"]``) and not starting with ``_``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from io_core.errors import (
    ConfigConflictError,
    CorruptFileError,
    FileNotFoundIOError,
    InvalidDataError,
    NotAFileError,
    TooLargeError,
    UnsafeFormatError,
)

if TYPE_CHECKING:  # pragma: no cover
    from io_core.paths import Sandbox

__all__ = ["MAX_VALUES", "DotDict", "load_configs"]

YAML_SUFFIXES = (".yaml", ".yml")
DEBUG_PREFIX = "DEBUG_"
IS_DEBUG = "IS_DEBUG"
#: Upper bound on values built from one folder (guards against YAML alias bombs).
MAX_VALUES = 1_000_000

_UNSAFE_HINT = (
    "Config files are read with safe YAML only: replace the !!python tag with plain "
    "mappings, lists and scalars."
)


def _fold(key: Any) -> Any:
    return key.upper() if isinstance(key, str) else key


class DotDict(Mapping):
    """A read-only, case-insensitive mapping with attribute access.

    Keys are stored upper-cased; nested mappings are ``DotDict`` too (also inside
    lists). ``DotDict(mapping)`` normalises a plain mapping the same way
    ``load_configs`` does (without debug promotion).
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping | None = None, /, **kwargs: Any) -> None:
        merged: dict[Any, Any] = {}
        if data is not None:
            merged.update(data)
        merged.update(kwargs)
        normalised = _Normaliser(debug=False, file="<DotDict>").mapping(merged, "")
        object.__setattr__(self, "_data", normalised)

    @classmethod
    def _wrap(cls, data: dict[Any, Any]) -> DotDict:
        obj = object.__new__(cls)
        object.__setattr__(obj, "_data", data)
        return obj

    # -- Mapping protocol -------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        return self._data[_fold(key)]

    def __contains__(self, key: object) -> bool:
        try:
            return _fold(key) in self._data
        except TypeError:  # unhashable
            return False

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    # -- attribute access ------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails. Private/dunder names are never keys,
        # which keeps copy, pickle and introspection tools working.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name.upper()]
        except KeyError:
            keys = ", ".join(str(k) for k in list(self._data)[:20])
            raise AttributeError(f"no config key {name!r} (keys: {keys})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("DotDict is read-only; use to_dict() for a mutable copy")

    def __delattr__(self, name: str) -> None:
        raise TypeError("DotDict is read-only; use to_dict() for a mutable copy")

    def __dir__(self) -> list[str]:
        keys = [k for k in self._data if isinstance(k, str) and k.isidentifier()]
        return sorted(set(super().__dir__()) | set(keys))

    # -- conversions -----------------------------------------------------------
    def to_dict(self) -> dict[Any, Any]:
        """Plain nested dicts and lists (keys in stored form)."""
        return {k: _plain(v) for k, v in self._data.items()}

    def __reduce__(self):
        return (DotDict, (self.to_dict(),))

    def __repr__(self) -> str:
        return f"DotDict({self._data!r})"


def _plain(value: Any) -> Any:
    if isinstance(value, DotDict):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class _Normaliser:
    """Upper-cases keys, checks collisions, applies debug promotion; one per file."""

    def __init__(self, *, debug: bool, file: str, path: str | None = None, budget: list[int] | None = None):
        self.debug = debug
        self.file = file
        self.file_path = path
        self.budget = budget if budget is not None else [MAX_VALUES]
        self._active: set[int] = set()

    def _spend(self) -> None:
        self.budget[0] -= 1
        if self.budget[0] < 0:
            raise TooLargeError(
                f"{self.file}: the configuration expands to more than {MAX_VALUES} values",
                hint="YAML aliases may be multiplying a large block; write the values out or reduce them.",
                path=self.file_path,
            )

    def value(self, value: Any, path: str) -> Any:
        self._spend()
        if isinstance(value, (Mapping, list)):
            ident = id(value)
            if ident in self._active:
                raise InvalidDataError(
                    f"{self.file}: {path or 'the top level'} contains itself (recursive YAML alias)",
                    hint="Remove the alias that refers to its own ancestor.",
                    path=self.file_path,
                )
            self._active.add(ident)
            try:
                if isinstance(value, Mapping):
                    return DotDict._wrap(self.mapping(value, path))
                return [self.value(v, f"{path}[{i}]") for i, v in enumerate(value)]
            finally:
                self._active.discard(ident)
        return value

    def mapping(self, mapping: Mapping, path: str) -> dict[Any, Any]:
        duplicate = getattr(mapping, "_sciio_duplicate", None)
        if duplicate is not None:
            key, first_line, second_line = duplicate
            raise ConfigConflictError(
                f"{self.file}: key {key!r} appears twice in {_where(path)} "
                f"(lines {first_line} and {second_line}); YAML would silently keep only the last",
                path=self.file_path,
            )
        seen: dict[Any, Any] = {}
        entries: list[tuple[Any, Any]] = []
        for key, val in mapping.items():
            folded = _fold(key)
            if folded in seen:
                raise ConfigConflictError(
                    f"{self.file}: keys {seen[folded]!r} and {key!r} in {_where(path)} "
                    f"both become {folded!r} (config keys are case-insensitive)",
                    path=self.file_path,
                )
            seen[folded] = key
            entries.append((folded, val))

        out: dict[Any, Any] = {}
        promoted: set[str] = set()
        for folded, val in entries:
            _place(out, promoted, folded, self.value(val, _join(path, folded)), self.debug)
        return out


def _place(out: dict[Any, Any], promoted: set[str], folded: Any, value: Any, debug: bool) -> None:
    """Put one entry into ``out``; in debug mode ``DEBUG_<K>`` replaces ``<K>`` whichever came first."""
    if debug and _is_debug_key(folded):
        target = folded[len(DEBUG_PREFIX):]
        out[target] = value  # keeps the plain twin's position if it came first
        promoted.add(target)
    elif folded not in promoted:  # else its DEBUG_ twin came first and wins
        out[folded] = value


def _is_debug_key(folded: Any) -> bool:
    return isinstance(folded, str) and folded.startswith(DEBUG_PREFIX) and len(folded) > len(DEBUG_PREFIX)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _where(path: str) -> str:
    return f"mapping {path}" if path else "the top level"


class _UnsafeTag(Exception):
    def __init__(self, tag: str, line: int) -> None:
        super().__init__(tag)
        self.tag = tag
        self.line = line


@functools.cache
def _loader_class() -> type:
    import yaml

    class _DupMap(dict):
        """A constructed YAML mapping; remembers an exact duplicate key, if any."""

        _sciio_duplicate: tuple[Any, int, int] | None = None

    class SafeConfigLoader(yaml.SafeLoader):
        pass

    def construct_map(loader, node):
        data = _DupMap()
        yield data
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                continue
            key = loader.construct_object(key_node)
            try:
                first = seen.get(key)
            except TypeError:
                continue
            line = key_node.start_mark.line + 1
            if first is not None and data._sciio_duplicate is None:
                data._sciio_duplicate = (key, first, line)
            seen.setdefault(key, line)
        data.update(loader.construct_mapping(node))

    def refuse(loader, suffix, node):
        raise _UnsafeTag(node.tag, node.start_mark.line + 1)

    SafeConfigLoader.add_constructor("tag:yaml.org,2002:map", construct_map)
    SafeConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", refuse)
    SafeConfigLoader.add_multi_constructor("!python/", refuse)
    return SafeConfigLoader


def _read_yaml(path: Path, name: str) -> Any:
    import yaml

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundIOError(f"cannot read config file {name!r}: {exc.strerror}", path=str(path)) from None
    from io_core import safe_yaml

    safe_yaml.check(raw, name, max_values=MAX_VALUES)  # depth, aliases, expanded size: before building
    loader = None
    try:
        loader = _loader_class()(raw)  # the reader may already reject a bad encoding here
        return loader.get_single_data()
    except _UnsafeTag as exc:
        raise UnsafeFormatError(
            f"{name}: line {exc.line}: the tag {exc.tag!r} would construct Python objects; refused",
            hint=_UNSAFE_HINT,
            path=str(path),
        ) from None
    except yaml.YAMLError as exc:
        raise CorruptFileError(
            f"{name}: not valid YAML: {' '.join(str(exc).split())}",
            hint="Fix the YAML syntax at the line shown (a YAML linter helps).",
            path=str(path),
        ) from None
    except RecursionError:
        raise CorruptFileError(f"{name}: YAML nested too deeply", path=str(path)) from None
    finally:
        if loader is not None:
            loader.dispose()


def _env_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def load_configs(
    config_dir: str | os.PathLike[str] = "config",
    debug: bool | None = None,
    *,
    sandbox: Sandbox | None = None,
) -> DotDict:
    """Merge every ``*.yaml`` / ``*.yml`` file of ``config_dir`` into one ``DotDict``.

    See the module docstring for the full rules (key folding, collisions, debug mode).
    """
    folder = sandbox.resolve(config_dir) if sandbox is not None else Path(os.fspath(config_dir))
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise FileNotFoundIOError(
            f"config folder {os.fspath(config_dir)!r} {what}",
            hint="Pass the folder that holds the .yaml/.yml files.",
            path=os.fspath(config_dir),
        )

    # (the path as listed, the path to read: resolved through the sandbox when given)
    files: list[tuple[Path, Path]] = []
    held = []  # pins of the files to read (io_core.paths): open until this call returns
    with os.scandir(folder) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    for entry in listed:
        name = entry.name
        if name.startswith(".") or not name.lower().endswith(YAML_SUFFIXES):
            continue
        path = Path(entry.path)
        if sandbox is None:
            if path.is_file():
                files.append((path, path))
            continue
        try:  # walked race-free, symlinks out of the roots refused; read through the pin, not the name
            held.append(sandbox.pin(path))
        except (FileNotFoundIOError, NotAFileError):
            continue
        files.append((path, held[-1].path))

    # Stems fold like keys; two files folding to one key are a conflict.
    by_stem: dict[str, tuple[Path, Path, str]] = {}
    for path, source in files:
        stem = _stem(path)
        folded = stem.upper()
        if folded in by_stem:
            other, _, other_stem = by_stem[folded]
            raise ConfigConflictError(
                f"files {other.name!r} and {path.name!r} (keys {other_stem!r} and {stem!r}) "
                f"both become top-level key {folded!r} (config keys are case-insensitive)",
                path=str(path),
            )
        by_stem[folded] = (path, source, stem)

    contents: dict[str, tuple[Path, Mapping]] = {}
    for folded, (path, source, _) in by_stem.items():
        data = _read_yaml(source, path.name)
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise InvalidDataError(
                f"{path.name}: the top level is a {type(data).__name__}, not a mapping",
                hint="A config file must hold `key: value` pairs at its top level.",
                path=str(path),
            )
        contents[folded] = (path, data)

    switch = contents.pop(IS_DEBUG, None)
    if debug is None:
        from_file = switch is not None and any(
            _fold(k) == IS_DEBUG and _is_true(v) for k, v in switch[1].items()
        )
        debug = from_file or _env_ci()
    debug = bool(debug)

    budget = [MAX_VALUES]
    tree: dict[str, Any] = {}
    promoted: set[str] = set()
    for folded, (path, data) in contents.items():
        norm = _Normaliser(debug=debug, file=path.name, path=str(path), budget=budget)
        # The top level (file stems) follows the same debug rule as any mapping.
        _place(tree, promoted, folded, DotDict._wrap(norm.mapping(data, folded)), debug)
    return DotDict._wrap(tree)


def _stem(path: Path) -> str:
    name = path.name
    lower = name.lower()
    for suffix in YAML_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
