"""The compact JSON form every result model is sent in: facts only, floats of summaries shortened.

An agent pays for every byte of a result, so the one encoding (``model_dump`` /
``model_dump_json`` and what FastMCP sends) leaves out a field whose value equals its
declared default: absent means null, false, 0, empty, or the default the output schema
states (``exact: true``, ``sampled_fraction: 1``). ``kind`` tags are always kept.
Models of summaries set ``round_digits``: their floats are written to that many
significant digits (slices keep full precision). The serialization context switches it:
``{"full": True}`` gives pydantic's plain dump; ``{"keep": names}`` keeps those fields.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

SUMMARY_DIGITS = 7
ALWAYS_KEPT = frozenset({"kind"})  # discriminators (unless null): a union cannot be read without them


def round_sig(value: Any, digits: int) -> Any:
    """Every finite float inside ``value`` (lists and dicts too) to ``digits`` significant digits."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    if isinstance(value, list):
        return [round_sig(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: round_sig(v, digits) for k, v in value.items()}
    return value


def _same(value: Any, default: Any) -> bool:
    """Equal and of the same kind (``0 == False`` must not drop a count)."""
    return (isinstance(value, bool) is isinstance(default, bool)) and value == default


_DEFAULTS: dict[type, dict[str, Any]] = {}


def field_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """Declared defaults of ``cls`` (fields that have one), computed once per class."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = {name: f.get_default(call_default_factory=True)
                 for name, f in cls.model_fields.items() if not f.is_required()}
        _DEFAULTS[cls] = found
    return found


class CompactModel(BaseModel):
    """Base of every result model: the compact encoding above, in one place."""

    model_config = ConfigDict(extra="forbid")
    round_digits: ClassVar[int | None] = None

    @model_serializer(mode="wrap")
    def _compact(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo):  # no return type: schema from fields
        data = handler(self)
        context = info.context if isinstance(info.context, dict) else {}
        if context.get("full") or not isinstance(data, dict):
            return data
        keep = context.get("keep", ())
        for name, default in field_defaults(type(self)).items():
            if name in data and name not in keep and _same(data[name], default) and (
                    name not in ALWAYS_KEPT or data[name] is None):
                del data[name]
        if self.round_digits:
            data = round_sig(data, self.round_digits)
        return self._compact_more(data)

    def _compact_more(self, data: dict[str, Any]) -> dict[str, Any]:
        """Per-model step after defaults were dropped (e.g. hoisting values shared by all entries)."""
        return data
