"""Writing result bundles member by member, laid out exactly as scikit-neuromsi 1.0.2 writes them.

For each result: ``ndr_{i}/nddata.nc`` (NetCDF-4 by default, as current xarray writes it;
NetCDF-3 on request) then ``ndr_{i}/metadata.json``; the root ``metadata.json`` last, with
the count actually written. One result is in memory at a time, so a sweep of any length
writes in the memory of one result (a generator of results is never listed). Each result is
checked the way scikit-neuromsi's ``NDResult`` checks it on reading (at least two modes, the
output mode among them, ranges and resolutions that match the data), so everything written
here opens in ``read_ndr`` / ``read_ndc``; a result that would not is INVALID_DATA naming it.

What ``save`` takes: scikit-neuromsi's ``NDResult`` / ``NDResultCollection``, what ``load``
returned (``BundleResult`` / ``ResultBundle``), an ``xarray.DataArray`` (metadata in its
``attrs``), a dict for one result (``{"values": 4-D data, "modes": [...], "mname": ..., ...}``)
or for a collection (``{"results": [...], "name": ..., "extra": {...}, "compression_level":
9, "netcdf": "nc4"}``), a list of results, or an ``NDBundle``.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from io_core.errors import InvalidDataError
from io_core.limits import Limits, check_write
from io_core.stores.bundle_member import MemberEncoder
from io_core.stores.bundle_read import DATA, DIMENSIONS, META, RESULT_FIELDS, ROOT, BundleResult, ResultBundle

SKNEUROMSI_FORMAT = "1.0.2"  # the scikit-neuromsi release whose layout this writes
AUTHORSHIP = {  # scikit-neuromsi's default metadata (io._DEFAULT_METADATA), kept so readers find every field
    "authors": "Paredes, Cabral & Seriès",
    "author_email": "paredesrenato92@gmail.com",
    "url": "https://github.com/renatoparedes/scikit-neuromsi",
}
BUNDLE_KEYS = ("results", "name", "extra", "compression_level", "netcdf")
Progress = Callable[[int, int], None]


@dataclass
class NDBundle:
    """A collection to write: ``results`` may be any iterable (a generator keeps memory flat).

    ``size``: how many results there will be, for progress totals when ``results`` has no length.
    """

    results: Iterable[Any]
    name: str = "NDResultCollection"
    extra: dict[str, Any] = field(default_factory=dict)
    compression_level: int = 9
    netcdf: str = "nc4"
    size: int | None = None
    progress: Progress | None = None


def _is_skneuromsi(obj: Any, cls: str) -> bool:
    return type(obj).__module__.startswith("skneuromsi") and type(obj).__name__ == cls


def as_bundle(data: Any) -> NDBundle:
    """Any accepted input (module docstring) as an ``NDBundle``; INVALID_DATA for anything else."""
    if isinstance(data, NDBundle):
        return data
    if _is_skneuromsi(data, "NDResultCollection"):
        return NDBundle(data, name=data.name, size=len(data))
    if isinstance(data, ResultBundle):
        return NDBundle(data, name=data.name, extra=data.extra, size=len(data))
    if isinstance(data, Mapping) and "results" in data:
        unknown = sorted(set(map(str, data)) - set(BUNDLE_KEYS))
        if unknown:
            raise InvalidDataError(f"unknown collection fields {unknown[:10]}", hint=f"A collection takes {BUNDLE_KEYS}.")
        results = data["results"]
        if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Iterable):
            raise InvalidDataError("'results' must be a list of results")
        return NDBundle(results, name=str(data.get("name") or "NDResultCollection"), extra=dict(data.get("extra") or {}),
                        compression_level=data.get("compression_level", 9), netcdf=data.get("netcdf", "nc4"),
                        size=len(results) if hasattr(results, "__len__") else None)
    if _is_result(data):
        return NDBundle([data], name="NDResult", size=1)
    if isinstance(data, (list, tuple)):
        return NDBundle(data, size=len(data))
    raise InvalidDataError(
        f"cannot write {type(data).__name__} as a result bundle",
        hint='Give {"results": [{"values": <4-D list>, "modes": [...], "mname": ..., ...}], "name": ...}, one such '
             "result, or scikit-neuromsi's NDResult / NDResultCollection.")


def _is_result(obj: Any) -> bool:
    return (isinstance(obj, BundleResult) or _is_skneuromsi(obj, "NDResult") or _is_xarray(obj)
            or isinstance(obj, Mapping) and "values" in obj)


def _is_xarray(obj: Any) -> bool:
    return type(obj).__module__.startswith("xarray") and type(obj).__name__ == "DataArray"


# -- one result --------------------------------------------------------------------------------------

def as_result(item: Any, i: int) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray], dict[str, Any]]:
    """(values, dims, coords, metadata) of one result, checked as scikit-neuromsi checks an NDResult."""
    where = f"result {i}"
    if isinstance(item, BundleResult):
        values, dims, coords, meta = np.asarray(item.array), item.dims, dict(item.coords), dict(item.metadata)
    elif _is_skneuromsi(item, "NDResult"):
        meta = item.to_dict()
        values, dims, coords = _from_xarray(meta.pop("nddata"), where)
    elif _is_xarray(item):
        values, dims, coords = _from_xarray(item, where)
        meta = {k: v for k, v in item.attrs.items() if k in RESULT_FIELDS}
    elif isinstance(item, Mapping) and "values" in item:
        meta = dict(item.get("metadata") or {})
        meta.update({k: v for k, v in item.items() if k in RESULT_FIELDS})
        unknown = sorted(set(map(str, item)) - set(RESULT_FIELDS) - {"values", "metadata", "modes", "coords"})
        if unknown:
            raise InvalidDataError(f"{where}: unknown fields {unknown[:10]}",
                                   hint=f"A result takes values, modes, coords, metadata and {RESULT_FIELDS}.")
        if _is_xarray(item["values"]):
            values, dims, coords = _from_xarray(item["values"], where)
        else:
            values, dims = _numbers(item["values"], where), DIMENSIONS
            coords = {str(k): np.asarray(v) for k, v in dict(item.get("coords") or {}).items()}
            if "modes" in item:
                coords["modes"] = np.asarray(item["modes"])
    else:
        raise InvalidDataError(f"{where} is a {type(item).__name__}, not a result",
                               hint='Give {"values": <4-D list>, "modes": [...], ...} or a scikit-neuromsi NDResult.')
    if tuple(dims) != DIMENSIONS:
        raise InvalidDataError(f"{where}: values have dims {tuple(dims)}; a result's are {DIMENSIONS}")
    coords = _coords(values, coords, where)
    return values, DIMENSIONS, coords, _metadata(meta, values, coords, where)


def _numbers(data: Any, where: str) -> np.ndarray:
    try:
        values = np.asarray(data)
    except (ValueError, TypeError) as exc:
        raise InvalidDataError(f"{where}: values are not an array ({exc})") from None
    if values.ndim != 4:
        raise InvalidDataError(f"{where}: values are {values.ndim}-D; a result's are 4-D {DIMENSIONS}",
                               hint="Nest them as [mode][time][position][coordinate].")
    if values.dtype.kind not in "biuf":
        raise InvalidDataError(f"{where}: values must be numbers, not {values.dtype}")
    return values


def _from_xarray(da: Any, where: str) -> tuple[np.ndarray, tuple[str, ...], dict[str, np.ndarray]]:
    values = _numbers(da.to_numpy(), where)
    coords = {str(d): np.asarray(da.coords[d].to_numpy()) for d in da.dims if d in da.coords}
    return values, tuple(str(d) for d in da.dims), coords


def _coords(values: np.ndarray, coords: dict[str, np.ndarray], where: str) -> dict[str, np.ndarray]:
    if "modes" not in coords:
        raise InvalidDataError(f"{where}: the mode names are missing", hint='Give "modes": ["auditory", "visual", ...].')
    n_modes, n_times, n_positions, n_coords = values.shape
    out = {"modes": coords["modes"].astype(str),
           "times": coords.get("times", np.arange(n_times)),
           "positions": coords.get("positions", np.arange(n_positions)),
           "positions_coordinates": coords.get("positions_coordinates",
                                               np.array([f"x{k}" for k in range(n_coords)]))}
    for dim, n in zip(DIMENSIONS, values.shape, strict=True):
        if out[dim].ndim != 1 or len(out[dim]) != n:
            raise InvalidDataError(f"{where}: coordinate {dim!r} has shape {out[dim].shape}; the values have {n} {dim}")
    if len(set(out["modes"].tolist())) != n_modes:
        raise InvalidDataError(f"{where}: mode names repeat: {out['modes'].tolist()[:10]}")
    return out


def _metadata(meta: dict[str, Any], values: np.ndarray, coords: dict[str, np.ndarray], where: str) -> dict[str, Any]:
    """The NDResult fields with defaults, checked as ``NDResult._validate`` checks them."""
    modes = coords["modes"].tolist()
    _, n_times, n_positions, _ = values.shape
    out = {
        "mname": str(meta.get("mname", "result")), "mtype": str(meta.get("mtype", "unknown")),
        "output_mode": str(meta.get("output_mode", modes[-1] if modes else "")),
        "nmap": dict(meta.get("nmap") or {}),
        "time_range": _pair(meta.get("time_range", (0, n_times)), "time_range", where),
        "position_range": _pair(meta.get("position_range", (0, n_positions)), "position_range", where),
        "time_res": float(meta.get("time_res", 1.0)), "position_res": float(meta.get("position_res", 1.0)),
        "causes": meta.get("causes"), "run_parameters": dict(meta.get("run_parameters") or {}),
        "extra": dict(meta.get("extra") or {}),
    }
    if len(modes) < 2:
        raise InvalidDataError(f"{where}: at least two modes are required (scikit-neuromsi refuses fewer)")
    if out["output_mode"] not in modes:
        raise InvalidDataError(f"{where}: output_mode {out['output_mode']!r} is not one of the modes {modes[:10]}")
    for name, n, res in (("time", n_times, out["time_res"]), ("position", n_positions, out["position_res"])):
        low, high = out[f"{name}_range"]
        if res <= 0:
            raise InvalidDataError(f"{where}: {name}_res must be positive")
        expected = int(abs(high - low) / res) or 1
        if expected != n:
            raise InvalidDataError(f"{where}: {name}_range {[low, high]} at {name}_res {res} means {expected} "
                                   f"{name}s; the values have {n}", hint="Give ranges and resolutions that match.")
    causes = out["causes"]
    if not (causes is None or isinstance(causes, (int, float, np.number)) and not isinstance(causes, bool)):
        raise InvalidDataError(f"{where}: causes must be a number or null, not {type(causes).__name__}")
    return out


def _pair(value: Any, name: str, where: str) -> list[Any]:
    pair = np.asarray(value).tolist()
    if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(v, (int, float)) for v in pair) \
            or pair[0] > pair[1]:
        raise InvalidDataError(f"{where}: {name} must be (min, max), got {str(value)[:60]}")
    return pair


def _json_default(value: Any) -> Any:
    """What scikit-neuromsi's CustomJSONEncoder converts: tuples/sets to lists, NumPy to Python, datetimes."""
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(doc: Any, where: str) -> str:
    try:
        return json.dumps(doc, indent=2, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{where}: metadata cannot be written as JSON ({exc})") from None


# -- the archive -------------------------------------------------------------------------------------

def root_metadata(size: int, name: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "skneuromsi": SKNEUROMSI_FORMAT, **AUTHORSHIP, "platform": platform.platform(),
        "system_encoding": sys.getfilesystemencoding(), "Python": sys.version, "format_version": 0.1,
        "object_size": size, "utc_timestamp": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(),
        "object_type": "ndcollection", "object_kwargs": {"name": name}, "extra": extra,
        "written_by": "sciio io_core",
    }


def write_bundle(bundle: NDBundle, target: Any, limits: Limits, *, progress: Progress | None = None,
                 single: bool = False) -> int:
    """Stream ``bundle`` into ``target`` (a path or a binary file); returns the number of results written.

    ``progress(done, total)`` after each result (total 0 when unknown); raising from it stops the write.
    ``single``: a ``.ndr``, which holds exactly one result.
    """
    level = bundle.compression_level
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 9:
        raise InvalidDataError(f"compression_level must be 0..9 (deflate), not {level!r}")
    if bundle.netcdf not in ("nc4", "nc3"):
        raise InvalidDataError(f"netcdf must be 'nc4' or 'nc3', not {bundle.netcdf!r}")
    report = progress or bundle.progress
    total = bundle.size if bundle.size is not None else (len(bundle.results) if hasattr(bundle.results, "__len__") else 0)
    if single and total not in (0, 1):
        raise InvalidDataError(f"a .ndr holds one result, not {total}", hint="Save a collection as .ndc.")
    extra = dict(bundle.extra)
    dumps(extra, "extra")
    written = 0
    encoder = MemberEncoder(bundle.netcdf)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
        for i, item in enumerate(bundle.results):
            if single and i > 0:
                raise InvalidDataError("a .ndr holds one result; more were given", hint="Save a collection as .ndc.")
            values, dims, coords, meta = as_result(item, i)
            data = encoder.encode(values, dims, coords)
            zf.writestr(DATA.format(i), data)
            zf.writestr(META.format(i), dumps({"object_type": "ndresult", "object_kwargs": meta}, f"result {i}"))
            del values, coords, data
            written += 1
            check_write(zf.fp.tell(), limits, "the bundle")
            if report is not None:
                report(written, max(total, written))
        if written == 0:
            raise InvalidDataError("there are no results to write (scikit-neuromsi refuses empty collections)")
        zf.writestr(ROOT, dumps(root_metadata(written, bundle.name, extra), "the collection"))
    return written
