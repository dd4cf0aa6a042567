"""Pydantic models shared by io_core and the server: previews, summaries, records, errors.

Imports neither io_core nor server, and nothing heavier than pydantic.
"""

from schemas.models import (
    ArraySummary,
    ChildInfo,
    ColumnInfo,
    ConfigResult,
    ErrorInfo,
    FoundFile,
    FoundFilesResult,
    FormatInfo,
    FormatList,
    FrameSummary,
    RootInfo,
    RootsInfo,
    SaveResult,
    Stats,
    Summary,
    SummaryResult,
    TextSummary,
    TreeSummary,
    ValueSummary,
)

__all__ = [
    "ArraySummary",
    "ChildInfo",
    "ColumnInfo",
    "ConfigResult",
    "ErrorInfo",
    "FoundFile",
    "FoundFilesResult",
    "FormatInfo",
    "FormatList",
    "FrameSummary",
    "RootInfo",
    "RootsInfo",
    "SaveResult",
    "Stats",
    "Summary",
    "SummaryResult",
    "TextSummary",
    "TreeSummary",
    "ValueSummary",
]
