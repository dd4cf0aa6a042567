"""The result vocabulary: one model per kind of thing a file can hold.

JSON encoding of values inside previews (``head``, ``rows``, ``preview``, stats):
- NaN, +Inf, -Inf      -> the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``
- complex              -> ``{"real": float, "imag": float}``
- datetime64 / dates   -> ISO 8601 string; timedelta64 -> ``"<n> <unit>"`` string
- bytes                -> UTF-8 text when it decodes, else ``{"base64": "..."}``
- structured records   -> object of field name -> encoded value
- other objects        -> ``repr`` text
- strings longer than the preview limit are cut and end with ``"…"``

Results are sent compact (schemas.compact): a field equal to its default is left out, and
floats in summaries and stats have 7 significant digits (slice values keep full precision).
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, WithJsonSchema, model_validator

from schemas.compact import SUMMARY_DIGITS, CompactModel, field_defaults, round_sig

_Model = CompactModel


class ErrorInfo(_Model):
    """What a client sees when a call is refused: stable code, message, next step."""

    code: str
    message: str
    hint: str = ""


class Stats(_Model):
    """Finite-value statistics; ``exact`` is False when computed from a sample."""

    round_digits = SUMMARY_DIGITS

    min: Any = None
    max: Any = None
    mean: float | None = None
    std: float | None = None
    nan_count: int = 0
    inf_count: int = 0
    count: int = 0
    exact: bool = True
    sampled_fraction: float = 1.0

    def _compact_more(self, data: dict[str, Any]) -> dict[str, Any]:
        """Sampled stats carry the digits their sample supports: the mean to the order of its standard error
        (std / sqrt(count)), the std to that of its own (std / sqrt(2 count)); more digits would be noise."""
        if self.exact or self.count < 2 or self.std is None or not math.isfinite(self.std) or self.std <= 0:
            return data
        for name, error in (("mean", self.std / math.sqrt(self.count)), ("std", self.std / math.sqrt(2 * self.count))):
            value = getattr(self, name)
            if value is not None and math.isfinite(value) and name in data:
                data[name] = round(value, -math.floor(math.log10(error)))
        return data


class ArraySummary(_Model):
    round_digits = SUMMARY_DIGITS
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
    round_digits = SUMMARY_DIGITS
    name: str
    dtype: str
    null_count: int | None = Field(default=0, description="null: not known")
    stats: Stats | None = None


SHARED_STATS = ("exact", "sampled_fraction", "count")  # said once per table when most columns agree


def _shared_stats_schema(schema: dict[str, Any]) -> None:
    schema["properties"]["shared_stats"] = {
        "type": "object", "description": "stats fields that most columns share, said once: they apply to each "
        "column's stats that does not give its own", "properties": {
            "exact": {"type": "boolean"}, "sampled_fraction": {"type": "number"}, "count": {"type": "integer"}}}


class FrameSummary(_Model):
    """A table. In JSON, stats fields most columns share are said once, in ``shared_stats``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_shared_stats_schema)
    round_digits = SUMMARY_DIGITS

    kind: Literal["frame"] = "frame"
    n_rows: int
    n_rows_exact: bool = True
    n_columns: int
    columns: list[ColumnInfo]
    columns_truncated: bool = False
    index: str | None = Field(default=None, description="name/dtype of a non-default index")
    head: list[dict[str, Any]] = Field(default_factory=list)
    sample: Literal["spread", "head"] | None = Field(
        default=None, description="rows inexact stats came from: spread over the whole table, or its first rows")

    @model_validator(mode="before")
    @classmethod
    def _spread_shared(cls, data: Any) -> Any:
        """JSON in: ``shared_stats`` goes back into each column's stats that does not give its own."""
        if not isinstance(data, dict) or "shared_stats" not in data:
            return data
        data = dict(data)
        shared = data.pop("shared_stats") or {}
        columns = []
        for column in data.get("columns") or []:
            if isinstance(column, dict) and isinstance(column.get("stats"), dict):
                column = {**column, "stats": {**shared, **column["stats"]}}
            columns.append(column)
        data["columns"] = columns
        return data

    def _compact_more(self, data: dict[str, Any]) -> dict[str, Any]:
        """JSON out: each of SHARED_STATS that most columns share is said once, in ``shared_stats``."""
        described = [(c.stats, out["stats"]) for c, out in zip(self.columns, data.get("columns") or [], strict=False)
                     if c.stats is not None and isinstance(out, dict) and isinstance(out.get("stats"), dict)]
        shared: dict[str, Any] = {}
        defaults = field_defaults(Stats)
        for key in SHARED_STATS:
            values = [getattr(stats, key) for stats, _ in described]
            if not values:
                continue
            common = max(set(values), key=values.count)
            for stats, out in described:
                out.pop(key, None)
                value = getattr(stats, key)
                if value != common:
                    out[key] = round_sig(value, SUMMARY_DIGITS)
            if common != defaults[key]:
                shared[key] = round_sig(common, SUMMARY_DIGITS)
        if shared:
            data["shared_stats"] = shared
        return data


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


class ImageSummary(_Model):
    kind: Literal["image"] = "image"
    width: int
    height: int
    mode: str
    format: str | None = None
    n_frames: int = 1
    info: dict[str, Any] = Field(default_factory=dict)


class AudioSummary(_Model):
    """A sound file, from its header (plus sampled or exact sample statistics)."""

    round_digits = SUMMARY_DIGITS
    kind: Literal["audio"] = "audio"
    samplerate: int
    channels: int
    frames: int
    duration_s: float
    format: str = Field(description="container as libsndfile names it: WAV, WAVEX, RF64, FLAC, OGG")
    subtype: str = Field(description="sample encoding: PCM_16, PCM_24, FLOAT, VORBIS, ...")
    endian: str | None = None
    dtype: str = Field(description="dtype of the samples load / read_slice return (the file's native type)")
    stats: Stats | None = Field(default=None, description="over all samples of all channels")
    tags: dict[str, Any] = Field(default_factory=dict, description="title, artist, comment, ... when present")
    note: str | None = None


class ChannelDesc(_Model):
    name: str
    type: str = Field(description="MNE channel type: eeg, meg, mag, grad, eog, ecg, emg, stim, misc, ...")
    unit: str | None = None


class AnnotationDesc(_Model):
    onset: float = Field(description="seconds from the first sample")
    duration: float
    description: str


class RecordingSummary(_Model):
    """An EEG/MEG recording (through MNE), read from its header: no sample is loaded."""

    round_digits = SUMMARY_DIGITS
    kind: Literal["recording"] = "recording"
    reader: str = Field(description="the MNE reader class, e.g. RawEDF")
    sfreq: float
    n_channels: int
    n_times: int
    duration_s: float
    first_time_s: float = 0.0
    meas_date: str | None = Field(default=None, description="ISO 8601, UTC")
    highpass: float | None = None
    lowpass: float | None = None
    channel_types: dict[str, int] = Field(default_factory=dict, description="number of channels of each type")
    channels: list[ChannelDesc] = Field(default_factory=list)
    channels_truncated: bool = False
    bads: list[str] = Field(default_factory=list)
    n_annotations: int = 0
    annotation_counts: dict[str, int] = Field(default_factory=dict, description="description -> count (bounded)")
    annotations: list[AnnotationDesc] = Field(default_factory=list, description="the first annotations")
    annotations_truncated: bool = False
    note: str | None = None


class VideoSummary(_Model):
    """A video file (through PyAV / FFmpeg), from its container header: no frame is decoded."""

    round_digits = SUMMARY_DIGITS
    kind: Literal["video"] = "video"
    container: str = Field(description="mp4 (its major brand), quicktime, avi, matroska or webm")
    width: int
    height: int
    frames: int = Field(description="frames of the first video stream: read_slice's first axis")
    frames_estimated: bool = Field(default=False, description="the header has no count: duration x frame rate")
    frame_rate: float | None = None
    duration_s: float | None = None
    codec: str
    pix_fmt: str | None = None
    bit_rate: int | None = Field(default=None, description="bits per second of the whole file")
    streams: list[dict[str, Any]] = Field(default_factory=list, description="every stream: video, audio, subtitles")
    streams_truncated: bool = False
    tags: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None


Summary = Annotated[
    ArraySummary | FrameSummary | TreeSummary | TextSummary | ValueSummary | ImageSummary
    | AudioSummary | RecordingSummary | VideoSummary,
    Field(discriminator="kind"),
]


class SummaryResult(_Model):
    path: str
    format: str
    size_bytes: int | None = Field(description="file size; null for a folder store (Zarr directory)")
    key: str | None = None
    summary: Summary


class FormatInfo(_Model):
    """One format. Kept flat and small: clients validate every list_formats result."""

    name: str
    extensions: list[str]
    kind: str = Field(description="what load returns / save takes: array, arrays, frame, document, text, user")
    operations: list[Literal["load", "save", "summarize", "slice", "pages", "preview", "stream", "explore", "metadata",
                             "multi_file"]]
    available: bool
    install_hint: str = Field(default="", description="what to install when not available")


# The advertised schema leaves the entries untyped on purpose: MCP clients validate every result
# against the output schema in pure Python, and 40 typed entries cost a client ~10 ms per call.
class FormatList(_Model):
    """Every format, what it can do, and what to install for the unavailable ones."""

    formats: Annotated[
        list[FormatInfo],
        WithJsonSchema({
            "type": "array",
            "items": {"type": "object"},
            "description": "FormatInfo objects: name, extensions, kind, operations (load, save, summarize, slice, "
                           "pages, preview, stream, explore, metadata, multi_file), "
                           "available, install_hint",
        }),
    ]
    n_available: int

    @classmethod
    def of(cls, formats: list[FormatInfo]) -> FormatList:
        """The list_formats answer for these formats (the tool's and the sciio command's)."""
        return cls(formats=formats, n_available=sum(f.available for f in formats))


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
    sha256: str = Field(description="SHA-256 of the bytes written, as sha256sum prints it")
    recorded: bool = Field(default=False, description="a provenance ledger row was written (see file_provenance)")
    sidecars: list[str] = Field(default_factory=list, description="files written beside it (a figure's data, recipe)")
    symlink: str | None = None
    dry_run: bool = Field(default=False, description="nothing written; size_bytes estimated")


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


# -- provenance and the load cache -----------------------------------------------------------

class FileRef(_Model):
    """A file as it was at one moment: its path and the SHA-256 of its bytes then."""

    path: str
    sha256: str


class ProvenanceRecord(_Model):
    """One ledger row: a write of (or, when loads are recorded, a read of) one file."""

    id: int
    path: str
    sha256: str
    size_bytes: int
    recorded_at: str = Field(description="UTC, ISO 8601")
    kind: Literal["write", "read"]
    operation: str = Field(description="save, convert, embed_metadata, load, ...")
    format: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict, description="call arguments, bounded; never file contents")
    inputs: list[FileRef] = Field(default_factory=list, description="the files this one was made from (lineage)")


class LineageEntry(_Model):
    """An ancestor: an input file's recorded content and, when known, the write that produced it."""

    depth: int = Field(description="1 = a direct input of the newest write")
    path: str
    sha256: str
    produced_by: int | None = Field(default=None, description="id of the ledger record that wrote exactly these bytes")
    operation: str | None = None
    recorded_at: str | None = None
    inputs: list[FileRef] = Field(default_factory=list)


class FileProvenance(_Model):
    path: str
    exists: bool
    ledger: str | None = Field(description="the ledger consulted; null when this workspace keeps none")
    n_records: int = Field(description="all records for this path (records may list fewer)")
    records: list[ProvenanceRecord] = Field(description="newest first")
    truncated: bool = False
    lineage: list[LineageEntry] = Field(default_factory=list, description="ancestors of the newest write, breadth first")
    lineage_truncated: bool = False


class VerifyResult(_Model):
    """OK: the bytes hash as last recorded; MODIFIED: they do not; UNKNOWN: never recorded."""

    path: str
    status: Literal["OK", "MODIFIED", "UNKNOWN"]
    sha256: str = Field(description="SHA-256 of the file now")
    size_bytes: int
    recorded_sha256: str | None = None
    recorded_size_bytes: int | None = None
    recorded_at: str | None = None
    record_id: int | None = None
    operation: str | None = None


class CacheInfo(_Model):
    enabled: bool
    hits: int
    misses: int
    entries: int
    bytes: int = Field(description="bytes held by cached objects; never above max_bytes")
    max_bytes: int
    evictions: int = 0
    not_cached: int = Field(default=0, description="loads not kept: too large, unmeasurable, or the file was changing")


class CacheCleared(_Model):
    entries_removed: int
    bytes_freed: int


class ArraySlice(_Model):
    kind: Literal["array"] = "array"
    source_shape: list[int]
    selection: str = Field(description="the selection read, in canonical form")
    shape: list[int]
    dtype: str
    values: Any = Field(description="nested lists in C order, values encoded as in previews")


class FrameSlice(_Model):
    kind: Literal["frame"] = "frame"
    offset: int
    columns: list[str]
    rows: list[dict[str, Any]]
    total_rows: int
    total_rows_exact: bool = True
    truncated: bool = False
    next_offset: int | None = Field(default=None, description="offset of the next page, if any")


class TextSlice(_Model):
    kind: Literal["text"] = "text"
    offset: int = Field(description="first line returned (0-based)")
    lines: list[str]
    truncated: bool = False
    next_offset: int | None = None


class SliceResult(_Model):
    path: str
    format: str
    key: str | None = None
    slice: Annotated[ArraySlice | FrameSlice | TextSlice, Field(discriminator="kind")]



# -- browsing HDF5 files and Zarr stores; metadata embedded in images and PDFs ----------------

NodeKind = Literal["group", "dataset", "soft_link", "external_link", "committed_datatype", "dangling"]


class FilterInfo(_Model):
    """One step of a dataset's storage pipeline: an HDF5 filter or a Zarr codec."""

    id: int | None = Field(default=None, description="HDF5 filter id (1 gzip, 2 shuffle, 32000 lzf, 32001 blosc, ...); null for Zarr")
    name: str
    options: dict[str, Any] = Field(default_factory=dict, description="HDF5 cd_values / Zarr codec configuration, bounded")
    available: bool | None = Field(
        default=None, description="HDF5: the filter is registered here, so the data can be decoded (false: pip install hdf5plugin)"
    )


class LinkInfo(_Model):
    """Where a soft or external link points. A target outside the roots is shown, never opened."""

    type: Literal["soft", "external"]
    path: str = Field(description="object path the link names (inside the target file for an external link)")
    file: str | None = Field(default=None, description="external: the target file as written in the link")
    resolved: str | None = Field(default=None, description="external: the target file, when it lies inside the roots")
    inside_roots: bool | None = Field(default=None, description="external: the target file lies inside the roots")
    exists: bool | None = Field(default=None, description="the target exists (null: not checked)")


class DataSourceInfo(_Model):
    """A file holding a dataset's values: a virtual-dataset source, or external raw storage."""

    file: str = Field(description="as written in the file ('.' is the file itself)")
    dataset: str | None = Field(default=None, description="virtual source: the dataset read in that file")
    offset: int | None = Field(default=None, description="external storage: first byte used")
    size: int | None = Field(default=None, description="external storage: bytes used")
    resolved: str | None = Field(default=None, description="the source file, when it lies inside the roots")
    inside_roots: bool | None = None


class FieldInfo(_Model):
    """One field of a compound (structured) dtype."""

    name: str
    dtype: str
    offset: int


class NodeInfo(_Model):
    """One object of an HDF5 file or Zarr store: a group with a page of children, a dataset, a link.

    A link's own kind is ``soft_link`` / ``external_link``; what it resolves to (when it was
    followed: inside the roots) is ``target_kind`` and the dataset/group fields below.
    """

    name: str
    path: str | None = Field(default=None, description="path inside the file or store, '/'-separated from the root; "
                             "left out of compact child rows (the parent's path + '/' + name)")
    kind: NodeKind
    target_kind: Literal["group", "dataset", "committed_datatype"] | None = Field(
        default=None, description="what a link resolves to, when it was followed"
    )
    link: LinkInfo | None = None
    shape: list[int] | None = None
    maxshape: list[int | None] | None = Field(default=None, description="HDF5: null entries are unlimited")
    dtype: str | None = Field(default=None, description="NumPy dtype string, or vlen-str(utf-8), compound, enum(...), ...")
    fields: list[FieldInfo] | None = Field(default=None, description="compound dtype fields")
    dimension_names: list[str | None] | None = None
    layout: str | None = Field(default=None, description="contiguous, chunked, compact, virtual, external, sharded")
    chunks: list[int] | None = None
    shards: list[int] | None = None
    filters: list[FilterInfo] = Field(default_factory=list)
    compression: str | None = Field(default=None, description="the filters/codecs in short, e.g. 'shuffle+gzip'")
    fill_value: Any = None
    nbytes: int | None = Field(default=None, description="logical size in bytes (shape x itemsize)")
    storage_bytes: int | None = Field(default=None, description="HDF5: bytes allocated in the file")
    sources: list[DataSourceInfo] = Field(default_factory=list, description="virtual sources / external storage (first ones)")
    n_sources: int | None = None
    n_attrs: int | None = None
    attrs: dict[str, Any] = Field(default_factory=dict, description="first attributes, values bounded")
    n_children: int | None = None
    offset: int = Field(default=0, description="index of the first child listed")
    # typed recursively here, advertised as plain objects: a recursive schema keeps a "$ref" that
    # some MCP clients cannot resolve (tool schemas are served fully dereferenced)
    children: Annotated[
        list[NodeInfo],
        WithJsonSchema({"type": "array", "items": {"type": "object"},
                        "description": "one page of child nodes, each shaped like this node"}),
    ] = Field(default_factory=list)
    next_offset: int | None = Field(default=None, description="offset of the next page of children, if any")
    truncated: bool = Field(default=False, description="children or attributes were left out (see next_offset, n_attrs)")
    note: str | None = None


class ExploreResult(_Model):
    """A bounded tree: the node asked for, ``depth`` levels of children, one page at each level."""

    path: str
    format: str = Field(description="the format browsed: hdf5, zarr, fits, ...")
    group: str = Field(description="the object explored, '/'-separated")
    depth: int
    node: NodeInfo
    swmr: bool | None = Field(default=None, description="HDF5: opened in SWMR read mode (a writer has the file open)")
    zarr_format: int | None = None
    consolidated: bool | None = Field(default=None, description="Zarr: the store has consolidated metadata (and it was used)")
    truncated: bool = Field(default=False, description="the response budget cut this result (nodes say where)")


class KeyExistsResult(_Model):
    path: str
    format: str
    key: Annotated[str, AfterValidator(lambda k: k if len(k) <= 120 else k[:120] + "…")] = Field(
        description="the key asked about; a long one is cut to its first 120 characters + '…'")
    exists: bool | None = Field(description="null: only knowable by following a link out of the roots")
    kind: NodeKind | None = None
    note: str | None = None


class MetadataResult(_Model):
    """A picture's or document's metadata: what sciio embedded, and the format's own."""

    path: str
    format: Literal["png", "jpeg", "tiff", "svg", "pdf"]
    has_metadata: bool = Field(description="sciio metadata is embedded")
    metadata: Any = Field(default=None, description="the embedded sciio metadata (any JSON), null when absent")
    info: dict[str, Any] = Field(default_factory=dict, description="the format's own: size, mode, EXIF fields, page count, ...")
    truncated: bool = False


class EmbedResult(_Model):
    path: str
    format: str
    size_bytes: int
    sha256: str = Field(description="SHA-256 of the file written")
    replaced: bool = Field(description="earlier sciio metadata was replaced")
    recorded: bool = Field(default=False, description="a provenance ledger row was written (see file_provenance)")
