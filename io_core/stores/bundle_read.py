"""scikit-neuromsi result bundles (``.ndr`` / ``.ndc``) read lazily: the directory, then only the members asked for.

The layout, as scikit-neuromsi 1.0.2 writes it (``skneuromsi/io.py``): a zip (deflate, level 9)
holding, for each result ``i`` in ``0…N-1``, ``ndr_{i}/nddata.nc`` (one xarray DataArray, see
``bundle_member``) then ``ndr_{i}/metadata.json`` (``{"object_type": "ndresult",
"object_kwargs": {mname, mtype, output_mode, nmap, time_range, position_range, time_res,
position_res, causes, run_parameters, extra}}``), and last the root ``metadata.json``
(library version and authorship, ``format_version``, ``object_size`` = N, ``utc_timestamp``,
``object_type`` = "ndcollection", ``object_kwargs`` = ``{"name": …}``, ``extra``). A ``.ndr``
is the same with N = 1.

``BundleReader`` holds the archive open with its directory (``bundle_zip``); the count of
results comes from the directory, never from ``object_size`` alone. A member the directory
lacks, that is not NetCDF or JSON, or that declares more than the limits allow is a coded
error naming that member; every other member stays readable. ``ResultBundle`` /
``BundleResult`` are what ``load`` returns: results read one at a time, each as numpy values
with coordinates and metadata, an ``xarray.DataArray`` or scikit-neuromsi's own objects on
demand.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import numpy as np

from io_core.errors import CorruptFileError, KeyNotFoundError, MissingDependencyError, TooLargeError
from io_core.limits import Limits, human
from io_core.paths import real_path
from io_core.stores import bundle_member
from io_core.stores.bundle_zip import read_index, read_member

ROOT = "metadata.json"
META = "ndr_{}/metadata.json"
DATA = "ndr_{}/nddata.nc"
RESULT_FIELDS = ("mname", "mtype", "output_mode", "nmap", "time_range", "position_range", "time_res",
                 "position_res", "causes", "run_parameters", "extra")
DIMENSIONS = ("modes", "times", "positions", "positions_coordinates")
_KEY = re.compile(r"^/?ndr_(0|[1-9][0-9]*)(?:/(.*))?$")
_DATA_NAMES = re.compile(r"^ndr_(0|[1-9][0-9]*)/nddata\.nc$", re.MULTILINE)
_META_NAMES = re.compile(r"^ndr_(0|[1-9][0-9]*)/metadata\.json$", re.MULTILINE)
_ROOT_NAME = re.compile(r"^metadata\.json$", re.MULTILINE)
KEY_HINT = "Keys are 'ndr_<i>' (one result), 'ndr_<i>/values' or 'ndr_<i>/<coordinate>'; load_summary lists them."


def parse_key(key: str | None) -> tuple[int, str | None] | None:
    """``"ndr_12"`` -> (12, None); ``"ndr_12/values"`` -> (12, "values"); no key -> None."""
    if not key or key.strip("/") == "":
        return None
    found = _KEY.match(key.strip())
    if found is None:
        raise KeyNotFoundError(f"no member {key!r} in a result bundle", hint=KEY_HINT)
    sub = (found.group(2) or "").strip("/") or None
    return int(found.group(1)), (None if sub == "nddata.nc" else sub)


@dataclass
class Layout:
    """Which results the directory holds: indices with a data member, with a metadata member."""

    data: set[int]
    meta: set[int]
    others: list[str] = field(default_factory=list)  # members outside the layout (first few)
    n_others: int = 0

    @cached_property
    def indices(self) -> list[int]:
        return sorted(self.data | self.meta)

    @property
    def count(self) -> int:
        return len(self.data | self.meta)


def scan(names: Sequence[str]) -> Layout:
    """The layout from the directory's names: two regular-expression passes over one joined text."""
    joined = "\n".join(names)
    data = {int(i) for i in _DATA_NAMES.findall(joined)}
    meta = {int(i) for i in _META_NAMES.findall(joined)}
    has_root = _ROOT_NAME.search(joined) is not None
    n_others = len(names) - len(data) - len(meta) - has_root
    if n_others <= 0:  # the usual case: no name walked one by one
        return Layout(data, meta)
    others = [n for n in names if n != ROOT and not n.endswith("/") and not (
        _DATA_NAMES.match(n) or _META_NAMES.match(n))]
    return Layout(data, meta, others[:20], len(others))


class BundleReader:
    """One open bundle: its directory, members read on request (thread-safe: positional reads only)."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = Path(path)
        self.name = real_path(path).name
        self.limits = limits
        self.fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            self.index = read_index(self.fd, self.name)
        except BaseException:
            os.close(self.fd)
            raise
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - interpreter shutdown
            pass

    # -- members -----------------------------------------------------------------------------
    def member(self, name: str) -> bytes:
        try:
            return read_member(self.fd, self.index, name, self.limits, container=self.name)
        except KeyError:
            raise CorruptFileError(f"{self.name!r} has no member {name!r}",
                                   hint="The bundle lost this member (an interrupted write or copy); the other "
                                        "results are still readable by key.") from None

    def json_member(self, name: str) -> Any:
        entry = self.index.lookup(name)
        if entry is not None and entry[4] > self.limits.max_text_bytes:
            raise TooLargeError(f"{self.name!r}: member {name!r} is {human(entry[4])} of JSON; at most "
                                f"{human(self.limits.max_text_bytes)} is parsed", hint="The metadata is damaged.")
        raw = self.member(name)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise CorruptFileError(f"{self.name!r}: member {name!r} is not JSON ({str(exc)[:120]})") from None

    @cached_property
    def root(self) -> dict[str, Any]:
        """The collection's ``metadata.json`` (CORRUPT_FILE when missing or not a collection's)."""
        doc = self.json_member(ROOT)
        if not isinstance(doc, dict) or doc.get("object_type") != "ndcollection":
            kind = doc.get("object_type") if isinstance(doc, dict) else type(doc).__name__
            raise CorruptFileError(f"{self.name!r}: member {ROOT!r} is not a collection's metadata "
                                   f"(object_type {kind!r}, expected 'ndcollection')")
        return doc

    @cached_property
    def layout(self) -> Layout:
        return scan(self.index.names)

    def declared_size(self) -> int | None:
        size = self.root.get("object_size")
        return size if isinstance(size, int) and not isinstance(size, bool) else None

    def count_problem(self) -> str | None:
        """What is wrong with the count: ``object_size`` against the directory, gaps, half results."""
        lay, declared = self.layout, self.declared_size()
        problems = []
        if declared is not None and declared != lay.count:
            problems.append(f"{ROOT} says object_size={declared}, the zip directory holds {lay.count} results")
        expected = set(range(declared if declared is not None else lay.count))
        no_data = sorted(expected - lay.data)
        no_meta = sorted(expected - lay.meta)
        beyond = sorted((lay.data | lay.meta) - expected)
        if no_data:
            problems.append(f"missing {len(no_data)} data members: {', '.join(DATA.format(i) for i in no_data[:5])}")
        if no_meta:
            problems.append(f"missing {len(no_meta)} metadata members: "
                            f"{', '.join(META.format(i) for i in no_meta[:5])}")
        if beyond:
            problems.append(f"{len(beyond)} results beyond object_size: ndr_{beyond[0]}…")
        return "; ".join(problems) or None

    # -- results -----------------------------------------------------------------------------
    def require(self, i: int) -> None:
        """KEY_NOT_FOUND for a result the bundle neither holds nor declares (one name lookup, no listing)."""
        if DATA.format(i) in self.index or META.format(i) in self.index:
            return
        lay = self.layout
        try:
            declared = self.declared_size()
        except (CorruptFileError, TooLargeError):
            declared = None
        if declared is None or i >= declared:
            last = f"ndr_0 … ndr_{lay.indices[-1]}" if lay.indices else "no results"
            raise KeyNotFoundError(f"no result 'ndr_{i}' in {self.name!r} (it holds {last})", hint=KEY_HINT)

    def result_metadata(self, i: int) -> dict[str, Any]:
        self.require(i)
        name = META.format(i)
        doc = self.json_member(name)
        if not isinstance(doc, dict) or doc.get("object_type") != "ndresult" or not isinstance(
                doc.get("object_kwargs"), dict):
            raise CorruptFileError(f"{self.name!r}: member {name!r} is not a result's metadata "
                                   "(expected object_type 'ndresult' and object_kwargs)")
        return doc["object_kwargs"]

    def result_data(self, i: int) -> bytes:
        self.require(i)
        return self.member(DATA.format(i))

    def read_result(self, i: int) -> BundleResult:
        metadata = self.result_metadata(i)
        member = DATA.format(i)
        info, values = bundle_member.read_member(self.result_data(i), member, self.limits)
        return BundleResult(f"ndr_{i}", values, info.dims, info.coords, metadata, info.flavour, info.variable)


# -- what load returns -----------------------------------------------------------------------------

class BundleResult:
    """One result: ``array`` (numpy), ``dims``, ``coords`` and ``metadata`` (scikit-neuromsi's NDResult fields).

    ``values`` / ``to_xarray()`` give the ``xarray.DataArray`` scikit-neuromsi keeps as ``nddata``;
    ``to_skneuromsi()`` its ``NDResult``. No weak references (``__slots__``): it holds no file, so a
    workspace does not keep the bundle pinned open for it.
    """

    __slots__ = ("array", "coords", "dims", "flavour", "key", "metadata", "variable")

    def __init__(self, key: str, array: np.ndarray, dims: Sequence[str], coords: dict[str, np.ndarray],
                 metadata: dict[str, Any], flavour: str = "nc4", variable: str = "values") -> None:
        self.key, self.array, self.dims = key, array, tuple(dims)
        self.coords, self.metadata, self.flavour, self.variable = coords, metadata, flavour, variable

    @property
    def values(self) -> Any:
        return self.to_xarray()

    def to_xarray(self) -> Any:
        xr = _need("xarray", "pip install xarray")
        return xr.DataArray(self.array, coords={d: c for d, c in self.coords.items() if d in self.dims},
                            dims=self.dims, name=self.variable)

    def to_skneuromsi(self) -> Any:
        _need("skneuromsi", "pip install scikit-neuromsi")
        from skneuromsi.core import NDResult

        return NDResult(nddata=self.to_xarray(), **{k: v for k, v in self.metadata.items() if k in RESULT_FIELDS})

    def __repr__(self) -> str:
        name = self.metadata.get("mname", "?")
        return f"<BundleResult {self.key} {name!r} dims={dict(zip(self.dims, self.array.shape, strict=False))}>"


class ResultBundle(Sequence):
    """A collection read lazily: each result is read from the zip when it is asked for (memory independent of N).

    ``metadata`` is the root ``metadata.json``; ``name`` and ``extra`` come from it. Items are
    ``BundleResult``; index by position or by ``"ndr_<i>"``. ``to_skneuromsi()`` builds
    scikit-neuromsi's ``NDResultCollection`` (which compresses every result in memory). The reader
    holds its own descriptor of the archive, so no pin has to outlive ``load`` (``__slots__``: no
    weak references, which is how a workspace knows).
    """

    __slots__ = ("_reader", "keys", "metadata")

    def __init__(self, reader: BundleReader) -> None:
        self._reader = reader
        self.metadata = reader.root
        self.keys = [f"ndr_{i}" for i in reader.layout.indices]

    @property
    def name(self) -> str:
        return str(self.metadata.get("object_kwargs", {}).get("name", ""))

    @property
    def extra(self) -> dict[str, Any]:
        return dict(self.metadata.get("extra") or {})

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        if isinstance(item, str):
            parsed = parse_key(item)
            if parsed is None:
                raise KeyNotFoundError("an empty key names no result", hint=KEY_HINT)
            return self._reader.read_result(parsed[0])
        position = int(item)
        if not -len(self) <= position < len(self):
            raise IndexError(f"result {item} of {len(self)}")
        return self._reader.read_result(int(self.keys[position][4:]))

    def __iter__(self) -> Iterator[BundleResult]:
        for key in self.keys:
            yield self._reader.read_result(int(key[4:]))

    def close(self) -> None:
        self._reader.close()

    def to_skneuromsi(self, compression_params: Any = None) -> Any:
        _need("skneuromsi", "pip install scikit-neuromsi")
        from skneuromsi.core import DEFAULT_COMPRESSION_PARAMS
        from skneuromsi.ndcollection import NDResultCollection

        params = DEFAULT_COMPRESSION_PARAMS if compression_params is None else compression_params
        return NDResultCollection.from_ndresults(self.name, (r.to_skneuromsi() for r in self),
                                                 compression_params=params)

    def __repr__(self) -> str:
        return f"<ResultBundle {self.name!r} len={len(self)}>"


def _need(module: str, install: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"this needs {module}, which is not installed", hint=install) from None
