"""scikit-neuromsi result bundles: ``.ndr`` (one ``NDResult``) and ``.ndc`` (an ``NDResultCollection``).

A bundle is a zip of JSON metadata and one NetCDF member per result (layout in
``io_core.stores.bundle_read``). Everything here reads lazily: ``load_summary`` answers from
the zip directory and a bounded sample of metadata members; ``key="ndr_12"`` reads that
result's two members only (``read_slice`` over its ``(modes, times, positions,
positions_coordinates)`` values, ``preview_image`` of them, ``load_summary`` of it). NetCDF-4
members are HDF5 and opened only through ``io_core.h5guard`` (as streams, from memory).
``load`` gives ``ResultBundle`` / ``BundleResult`` (xarray and scikit-neuromsi objects on
demand); ``save`` streams a collection member by member (``io_core.stores.bundle_write``)
with progress through ``WriteOptions.progress``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from io_core.errors import CorruptFileError, KeyNotFoundError
from io_core.formats.base import Explored, Format
from io_core.options import ReadOptions, WriteOptions
from io_core.stores import bundle_member, bundle_summary
from io_core.stores.bundle_read import DATA, KEY_HINT, BundleReader, ResultBundle, parse_key
from io_core.stores.bundle_write import as_bundle, write_bundle

ZIP_MAGIC = b"PK\x03\x04"
FIRST_MEMBERS = (b"ndr_0/nddata.nc", b"ndr_0/metadata.json")


class BundleFormat(Format):
    """``single``: the ``.ndr`` row (one result; no key means ``ndr_0``)."""

    def __init__(self, name: str, single: bool) -> None:
        self.name = name
        self.single = single

    def _reader(self, path: Path, opts: Any) -> BundleReader:
        return BundleReader(path, opts.limits)

    def _default_key(self, reader: BundleReader, key: str | None) -> tuple[int, str | None]:
        parsed = parse_key(key)
        if parsed is not None:
            return parsed
        lay = reader.layout
        if self.single or lay.count == 1:
            return (lay.indices[0] if lay.indices else 0), None
        raise KeyNotFoundError(f"{reader.name!r} holds {lay.count} results; pass key='ndr_<i>' to read one",
                               hint=KEY_HINT)

    def load(self, path: Path, opts: ReadOptions) -> Any:
        """One ``BundleResult`` (a key, or a one-result bundle); else a lazy ``ResultBundle`` over every result."""
        reader = self._reader(path, opts)
        try:
            if opts.key or self.single or reader.layout.count == 1:
                i, sub = self._default_key(reader, opts.key)
                if sub is not None:
                    raise KeyNotFoundError(f"load takes a result key ('ndr_{i}'), not {opts.key!r}",
                                           hint="read_slice reads one variable: key='ndr_<i>/values'.")
                return reader.read_result(i)
            problem = reader.count_problem()
            if problem:
                raise CorruptFileError(f"{reader.name!r}: {problem}",
                                       hint="Each result is still readable by key (load_summary lists them).")
        except BaseException:
            reader.close()
            raise
        return ResultBundle(reader)  # keeps the archive open; closed with the bundle

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        with self._reader(path, opts) as reader:
            parsed = parse_key(opts.key)
            if parsed is None:
                return bundle_summary.collection_summary(reader, opts)
            i, sub = parsed
            if sub is None:
                return bundle_summary.result_summary(reader, i, opts)
            return bundle_summary.variable_summary(reader, i, sub, opts)

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[Any]:
        """One result's values (``key="ndr_12"`` or ``"ndr_12/values"``) or a coordinate (``"ndr_12/modes"``)."""
        with self._reader(path, opts) as reader:
            i, sub = self._default_key(reader, opts.key)
            member = DATA.format(i)
            with bundle_member.open_member(reader.result_data(i), member, reader.limits) as (info, values):
                if sub is None or sub == info.variable or sub == "values":
                    yield values
                else:
                    yield bundle_member.coordinate(info, sub)

    def explore(self, path: Path, opts: ReadOptions, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        with self._reader(path, opts) as reader:
            return bundle_summary.explore(reader, group, depth, offset, limit, attrs)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        write_bundle(as_bundle(data), path, opts.limits, progress=getattr(opts, "progress", None), single=self.single)



class CollectionFormat(BundleFormat):
    """``.ndc``, and any bundle recognised by its bytes (one result or many: both read the same)."""

    def sniff(self, head: bytes) -> bool:
        """A zip whose first member is ``ndr_0/...``: scikit-neuromsi writes result 0 first."""
        if not head.startswith(ZIP_MAGIC) or len(head) < 30:
            return False
        n = int.from_bytes(head[26:28], "little")
        return head[30 : 30 + n] in FIRST_MEMBERS


NDR = BundleFormat("ndr", single=True)
NDC = CollectionFormat("ndc", single=False)
