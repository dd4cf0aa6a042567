"""YAML bounded before it is built: one event pass measures nesting, aliases and expanded size.

PyYAML builds an alias as a shared reference, so a 600-byte "billion laughs" file loads
instantly and explodes later, in whatever walks it (a summary, a JSON or YAML writer).
libyaml's composer is recursive C: a 100 000-deep ``[[[...`` crashes the process. So before
composing anything, ``check`` streams the parser's events (a state machine, no recursion)
and keeps, per anchor, the size and depth of what it stands for; an alias adds its anchor's
expanded size. Every YAML read in io_core (``load_configs`` and the YAML format) goes
through it. Recursive aliases are INVALID_DATA; too deep, too many aliases or too many
values once expanded are TOO_LARGE.
"""

from __future__ import annotations

from typing import Any

from io_core.errors import CorruptFileError, InvalidDataError, TooLargeError, UnsafeFormatError
from io_core.limits import Limits, current


def check(source: bytes | str, name: str, limits: Limits | None = None, *, max_values: int | None = None,
          loader: type | None = None) -> None:
    """Refuse ``source`` if building it would exceed the limits (nothing is constructed).

    A syntax error stops the pass quietly: the real load reports it with its own message.
    """
    import yaml

    limits = limits or current()
    max_values = limits.max_values if max_values is None else max_values
    cls = loader or getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    parser = cls(source)
    # one frame per open collection: [expanded values inside, deepest level below, anchor]
    frames: list[list[Any]] = [[0, 0, None]]
    anchors: dict[str, tuple[int, int]] = {}
    open_anchors: set[str] = set()
    total = aliases = 0

    def too_large(what: str, hint: str = "Write the values out instead of multiplying them with aliases.") -> TooLargeError:
        return TooLargeError(f"{name}: the YAML {what}", hint=hint, path=name)

    flatten = "Flatten the structure, or split it into several files."

    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind is yaml.ScalarEvent or kind is yaml.AliasEvent:
                if kind is yaml.ScalarEvent:
                    size, depth = 1, 1
                    if event.anchor is not None:
                        anchors[event.anchor] = (1, 1)
                else:
                    if event.anchor in open_anchors:
                        raise InvalidDataError(
                            f"{name}: the alias *{event.anchor} refers to a collection that contains it "
                            "(recursive YAML alias)", hint="Remove the alias that refers to its own ancestor.",
                            path=name)
                    if event.anchor not in anchors:
                        return  # undefined alias: the composer reports it
                    aliases += 1
                    if aliases > limits.max_yaml_aliases:
                        raise too_large(f"uses more than {limits.max_yaml_aliases} aliases")
                    size, depth = anchors[event.anchor]
                top = frames[-1]
                top[0] += size
                top[1] = max(top[1], depth)
                total += size
                if len(frames) - 1 + depth > limits.max_depth:
                    raise too_large(f"is nested more than {limits.max_depth} levels deep (aliases included)", flatten)
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                frames.append([1, 0, event.anchor])
                total += 1
                if event.anchor is not None:
                    open_anchors.add(event.anchor)
                if len(frames) - 1 > limits.max_depth:
                    raise too_large(f"is nested more than {limits.max_depth} levels deep", flatten)
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                size, below, anchor = frames.pop()
                if anchor is not None:
                    anchors[anchor] = (size, below + 1)
                    open_anchors.discard(anchor)
                top = frames[-1]
                top[0] += size
                top[1] = max(top[1], below + 1)
            elif kind is yaml.DocumentStartEvent:
                anchors.clear()
            if total > max_values:
                raise too_large(f"expands to more than {max_values} values once its aliases are written out")
    except yaml.YAMLError as exc:
        if "flow level" in str(exc):  # PyYAML >= 6.0.4 stops deep nesting itself: the same refusal as ours
            raise too_large(f"is nested more than {limits.max_depth} levels deep (the parser stopped it)", flatten) \
                from None
        return  # a syntax error: the real load reports it with its own message
    finally:
        parser.dispose()


def load(raw: bytes, name: str, limits: Limits | None = None) -> Any:
    """The single document in ``raw``, through the safe loader, after ``check``.

    ``!!python/...`` tags are UNSAFE_FORMAT (never constructed); bad YAML is CORRUPT_FILE.
    """
    import yaml

    check(raw, name, limits)
    cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(raw, Loader=cls)  # a safe loader
    except yaml.constructor.ConstructorError as exc:
        if "python/" in str(exc):
            raise UnsafeFormatError(f"{name!r} uses Python object tags, which are never executed") from None
        raise CorruptFileError(f"{name!r} is not plain YAML: {' '.join(str(exc).split())[:300]}") from None
    except yaml.YAMLError as exc:
        raise CorruptFileError(f"{name!r} is not valid YAML: {' '.join(str(exc).split())[:300]}",
                               hint="Fix the YAML syntax at the line shown.") from None
    except RecursionError:
        raise TooLargeError(f"{name!r} is nested too deeply to load", hint="Flatten the structure.") from None
