"""The result vocabulary: one model per kind of thing a file can hold.

JSON encoding of values inside previews (``head``, ``rows``, ``preview``, stats):
- NaN, +Inf, -Inf      -> the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
- complex              -> ``{"real": float, "imag": float}``
- datetime64 / dates   -> ISO 8601 string; timedelta64 -> ``"<n> <unit>"`` string
- bytes                -> UTF-8 text when it decodes, else ``{"base64": "..."}``
- structured records   -> object of field name -> encoded value
- other objects        -> ``repr`` text
- strings longer than the preview limit are cut and end with ``"…"``
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorInfo(_Model):
    """What a client sees when a call is refused: stable code, message, next step."""

    code: str
    message: str
    hint: str = ""


class Stats(_Model):
    """Finite-value statistics; ``exact`` is False when computed from a sample."""

    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    nan_count: int = 0
    inf_count: int = 0
    count: int = 0
    exact: bool = True
    sampled_fraction: float = 1.0


class ArraySummary(_Model):
    kind: Literal["array"] = "array"
    shape: list[int]
    dtype: str
    nbytes: int
    chunks: list[int] | None = None
    compression: str | None = None
    fortran_order: bool = False
    stats: Stats | None = None
    head: list[Any] = Field(default_factory=list, description="first values in C order, encoded")
    head_truncated: bool = False
    note: str | None = None


class ColumnInfo(_Model):
    name: str
    dtype: str
    null_count: int | None = None
    stats: Stats | None = None


class FrameSummary(_Model):
    kind: Literal["frame"] = "frame"
    n_rows: int
    n_rows_exact: bool = True
    n_columns: int
    columns: list[ColumnInfo]
    columns_truncated: bool = False
    index: str | None = Field(default=None, description="name/dtype of a non-default index")
    head: list[dict[str, Any]] = Field(default_factory=list)


class ChildInfo(_Model):
    """One member of a container, described without reading its data."""

    name: str
    kind: Literal["group", "array", "value"]
    shape: list[int] | None = None
    dtype: str | None = None
    n_children: int | None = None
    link: str | None = Field(default=None, description="target of a link that was not followed")


class TreeSummary(_Model):
    kind: Literal["tree"] = "tree"
    path: str = "/"
    n_children: int
    offset: int = 0
    children: list[ChildInfo]
    truncated: bool = False
    attrs: dict[str, Any] = Field(default_factory=dict)


class TextSummary(_Model):
    kind: Literal["text"] = "text"
    encoding: str
    n_chars: int
    n_lines: int
    head: str
    truncated: bool = False


class ValueSummary(_Model):
    """A JSON/YAML-like document or any other Python value."""

    kind: Literal["value"] = "value"
    type: str
    length: int | None = None
    keys: list[str] | None = None
    preview: Any = None
    truncated: bool = False


Summary = Annotated[
    ArraySummary | FrameSummary | TreeSummary | TextSummary | ValueSummary,
    Field(discriminator="kind"),
]


class SummaryResult(_Model):
    path: str
    format: str
    size_bytes: int
    key: str | None = None
    summary: Summary


class FormatInfo(_Model):
    """One format. Kept flat and small: clients validate every list_formats result."""

    name: str
    extensions: list[str]
    kind: str = Field(description="what load returns / save takes: array, arrays, frame, document, text, user")
    operations: list[Literal["load", "save", "summarize"]]
    available: bool
    install_hint: str = Field(default="", description="what to install when not available")


class FormatList(_Model):
    formats: list[FormatInfo]
    n_available: int


class RootInfo(_Model):
    path: str
    exists: bool
    writable: bool


class RootsInfo(_Model):
    roots: list[RootInfo]
    read_only: bool
    allow_pickle: bool


class SaveResult(_Model):
    path: str
    format: str
    size_bytes: int
    overwritten: bool


class FoundFile(_Model):
    path: str
    captures: dict[str, str] | None = None


class FoundFilesResult(_Model):
    pattern: str
    files: list[FoundFile]
    total: int = Field(description="all matches (a lower bound when total_exact is false)")
    total_exact: bool = True
    truncated: bool = Field(default=False, description="fewer files listed than matched (limit or response budget)")


class ConfigResult(_Model):
    config_dir: str
    keys: list[str] = Field(description="top-level keys (file stems, upper case)")
    tree: Any = Field(description="the merged tree, keys in upper case")
    truncated: bool = False
