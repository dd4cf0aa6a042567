"""One ``nddata.nc`` member of a result bundle: NetCDF-4 or NetCDF-3, decoded from bytes in memory.

xarray writes a DataArray as one data variable (``values`` in scikit-neuromsi) with a
coordinate variable per dimension. Which flavour lands in the zip depends on the xarray that
wrote it: NetCDF-4/HDF5 (``\\x89HDF``; netCDF4 or h5netcdf engines) or NetCDF-3 classic
(``CDF\\x01``/``CDF\\x02``; the scipy engine older xarray used for ``to_netcdf(None)``). The
first bytes decide. NetCDF-4 members are opened as streams by ``io_core.h5guard``
(``open_stream``: a member naming any other file is refused), NetCDF-3 by scipy on the
buffer; nothing touches the disk. Values are decoded the way xarray decodes them (strings
from char arrays, ``scale_factor``/``add_offset``, fill values to NaN), so what a reader here
gets equals what ``xarray.open_dataarray`` gives.

Writing mirrors the reader: a NetCDF-4 member through h5netcdf on an ``h5guard`` stream, or
NetCDF-3 through scipy, each laid out as xarray lays out a DataArray.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError, TooLargeError
from io_core.formats.hdf5 import guard as h5guard
from io_core.limits import Limits, human

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
CLASSIC = (b"CDF\x01", b"CDF\x02")
FLAVOURS = {"nc4": "NetCDF-4", "nc3": "NetCDF-3"}
DATA_NAMES = ("values", "__xarray_dataarray_variable__")  # scikit-neuromsi's name, xarray's for a nameless one
_CF_ATTRS = ("scale_factor", "add_offset", "missing_value")


@dataclass
class MemberInfo:
    """What one member holds, from its header: the data variable and its coordinates."""

    flavour: str  # "nc4" | "nc3"
    variable: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    coords: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


def flavour_of(head: bytes, member: str) -> str:
    """"nc4" or "nc3" by the first bytes; CORRUPT_FILE naming the member otherwise."""
    if head.startswith(HDF5_SIGNATURE):
        return "nc4"
    if head[:4] in CLASSIC:
        return "nc3"
    shown = head[:8].hex(" ") if head else "nothing"
    raise CorruptFileError(f"member {member!r} is not NetCDF (it starts with {shown})",
                           hint="Each ndr_<i>/nddata.nc must be NetCDF-4 (HDF5) or NetCDF-3; write the result again.")


@contextmanager
def open_member(data: bytes, member: str, limits: Limits) -> Iterator[tuple[MemberInfo, Any]]:
    """``(info, values)``: the header and a lazy array of the data variable (read by selection)."""
    kind = flavour_of(data[:8], member)
    opened = False
    try:
        with (_open4(data, member, limits) if kind == "nc4" else _open3(data, member)) as found:
            opened = True
            yield found
    except CorruptFileError as exc:
        if opened:
            raise
        raise CorruptFileError(f"member {member!r}: {exc.message}", hint=exc.hint) from None
    except (OSError, ValueError, TypeError, KeyError, IndexError, RuntimeError) as exc:
        if opened:
            raise  # the caller's own failure, not the member's
        raise CorruptFileError(f"member {member!r} cannot be read as NetCDF: {type(exc).__name__}: "
                               f"{str(exc)[:200]}") from None


def read_member(data: bytes, member: str, limits: Limits) -> tuple[MemberInfo, np.ndarray]:
    """The header and all values (decoded), checked against ``max_member_bytes`` before reading."""
    with open_member(data, member, limits) as (info, values):
        nbytes = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
        if nbytes > limits.max_member_bytes:
            raise TooLargeError(f"member {member!r} holds {human(nbytes)} of values; at most "
                                f"{human(limits.max_member_bytes)} are read whole",
                                hint="Read a part of it with read_slice (key=..., selection=...).")
        return info, np.asarray(values[()])


# -- NetCDF-4 -------------------------------------------------------------------------------------

def _text(values: np.ndarray) -> np.ndarray:
    flat = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values.reshape(-1)]
    return np.array(flat, dtype=str).reshape(values.shape)


def _data_variable(names: list[str], dims: set[str], member: str) -> str:
    for name in DATA_NAMES:
        if name in names:
            return name
    candidates = [n for n in names if n not in dims]
    if len(candidates) == 1:
        return candidates[0]
    raise CorruptFileError(f"member {member!r} holds no data variable named 'values' "
                           f"(variables: {names[:20]})", hint="The member must be one xarray DataArray.")


@contextmanager
def _open4(data: bytes, member: str, limits: Limits) -> Iterator[tuple[MemberInfo, Any]]:
    import h5netcdf

    from io_core.formats.hdf5.bounds import Bounded

    with h5guard.open_stream(io.BytesIO(data)) as h5, h5netcdf.File(h5, "r", phony_dims="sort") as f:
        variables = f.variables
        dims = set(f.dimensions)
        name = _data_variable(list(variables), dims, member)
        var = variables[name]
        attrs = {str(k): _plain(v) for k, v in var.attrs.items()}
        coords = {}
        for dim in var.dimensions:
            if dim in variables:
                coords[dim] = _decode4(variables[dim], limits, member)
        ds = var._h5ds
        dtype = _decoded_dtype(ds.dtype, attrs)
        info = MemberInfo("nc4", name, tuple(var.dimensions), tuple(int(n) for n in ds.shape), dtype, coords, attrs)
        if ds.dtype.kind in "OS" or _needs_cf(attrs, ds.dtype):
            yield info, _Decoded(lambda: _decode4(var, limits, member), info)
        else:
            yield info, Bounded(ds, limits, name=f"{member}:{name}")


def _decode4(var: Any, limits: Limits, member: str) -> np.ndarray:
    from io_core.formats.hdf5.bounds import Bounded

    raw = np.asarray(Bounded(var._h5ds, limits, name=f"{member}:{var.name}")[()])
    if raw.dtype.kind in "OS":
        return _text(raw)
    return _cf_decode(raw, {str(k): _plain(v) for k, v in var.attrs.items()})


# -- NetCDF-3 -------------------------------------------------------------------------------------

@contextmanager
def _open3(data: bytes, member: str) -> Iterator[tuple[MemberInfo, Any]]:
    import scipy.io

    f = scipy.io.netcdf_file(io.BytesIO(data), "r", mmap=False)
    try:
        variables = f.variables
        dims = set(f.dimensions)
        name = _data_variable(list(variables), dims, member)
        var = variables[name]
        attrs = {k: _plain(v) for k, v in var._attributes.items()}
        coords = {d: _decode3(variables[d]) for d in var.dimensions if d in variables}
        info = MemberInfo("nc3", name, tuple(var.dimensions), tuple(int(n) for n in var.data.shape),
                          _decoded_dtype(var.data.dtype, attrs), coords, attrs)
        if _needs_cf(attrs, var.data.dtype) or var.data.dtype.kind == "S":
            yield info, _Decoded(lambda: _decode3(var), info)
        else:
            yield info, np.array(var.data, dtype=info.dtype)  # native byte order; a copy owned here
    finally:
        f.variables.clear()
        f.close()


def _decode3(var: Any) -> np.ndarray:
    raw = np.array(var.data)
    attrs = {k: _plain(v) for k, v in var._attributes.items()}
    if raw.dtype.kind == "S":  # char arrays: the last dimension spells each string
        if raw.ndim >= 2 and raw.dtype.itemsize == 1:
            raw = np.ascontiguousarray(raw).view(f"S{raw.shape[-1]}").reshape(raw.shape[:-1])
        encoding = str(attrs.get("_Encoding", "utf-8"))
        return np.array([v.decode(encoding, "replace") for v in raw.reshape(-1)], dtype=str).reshape(raw.shape)
    return _cf_decode(raw.astype(raw.dtype.newbyteorder("=")), attrs)


# -- CF decoding (what xarray applies when it opens a member) -----------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.reshape(-1)[0].item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _needs_cf(attrs: dict[str, Any], dtype: np.dtype) -> bool:
    fill = attrs.get("_FillValue")
    masked = fill is not None and not (isinstance(fill, float) and np.isnan(fill))
    return masked or any(k in attrs for k in _CF_ATTRS) or attrs.get("dtype") == "bool"


def _decoded_dtype(dtype: np.dtype, attrs: dict[str, Any]) -> np.dtype:
    if dtype.kind in "OS":
        return np.dtype(str)
    if attrs.get("dtype") == "bool":
        return np.dtype(bool)
    if _needs_cf(attrs, dtype):
        return np.result_type(dtype.newbyteorder("="), np.float32 if dtype.itemsize <= 2 else np.float64)
    return dtype.newbyteorder("=")


def _cf_decode(raw: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    if attrs.get("dtype") == "bool":
        return raw.astype(bool)
    if not _needs_cf(attrs, raw.dtype):
        return raw
    out = raw.astype(_decoded_dtype(raw.dtype, attrs))
    for key in ("_FillValue", "missing_value"):
        if attrs.get(key) is not None:
            out[raw == attrs[key]] = np.nan
    if "scale_factor" in attrs:
        out *= attrs["scale_factor"]
    if "add_offset" in attrs:
        out += attrs["add_offset"]
    return out


class _Decoded:
    """The data variable read whole and decoded on first use (strings, CF-encoded numbers)."""

    def __init__(self, read: Any, info: MemberInfo) -> None:
        self._read, self._values = read, None
        self.shape, self.dtype, self.ndim = info.shape, info.dtype, len(info.shape)

    def __getitem__(self, item: Any) -> Any:
        if self._values is None:
            self._values = self._read()
        return self._values[item]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[()]
        return values if dtype is None else values.astype(dtype)


# -- writing ----------------------------------------------------------------------------------------

def _check_values(values: np.ndarray) -> None:
    if values.dtype.kind == "c":
        raise InvalidDataError("NetCDF has no complex type", hint="Store real and imaginary parts as two modes.")
    if values.dtype.kind not in "biuf":
        raise InvalidDataError(f"result values must be numbers, not {values.dtype}")


def encode_member(values: np.ndarray, dims: tuple[str, ...], coords: dict[str, np.ndarray], flavour: str = "nc4",
                  name: str = "values") -> bytes:
    """The bytes of one ``nddata.nc``: ``values`` and a coordinate variable per dimension, as xarray writes."""
    _check_values(values)
    return _encode4(values, dims, coords, name)[0] if flavour == "nc4" else _encode3(values, dims, coords, name)


class MemberEncoder:
    """``encode_member`` for a run of results that share their layout (a sweep): NetCDF-4 built once.

    h5netcdf spends ~10-30 ms building a file's dimension scales; results of a sweep differ only
    in their values, which HDF5 keeps as one contiguous, unfiltered block of the image. So the
    image of the last layout is kept with the offset of that block, and the next result with the
    same dims, dtype, shape and coordinates is that image with its values written into the
    block (byte for byte what h5netcdf would write). Anything else is built afresh.
    """

    def __init__(self, flavour: str = "nc4", name: str = "values") -> None:
        self.flavour, self.name = flavour, name
        self._key: tuple | None = None
        self._image: bytes = b""
        self._offset: int | None = None

    def encode(self, values: np.ndarray, dims: tuple[str, ...], coords: dict[str, np.ndarray]) -> bytes:
        _check_values(values)
        if self.flavour != "nc4":
            return _encode3(values, dims, coords, self.name)
        key = (tuple(dims), values.dtype.str, values.shape,
               tuple((d, coords[d].dtype.str, coords[d].tobytes()) for d in dims))
        if key == self._key and self._offset is not None:
            stored = values.astype(np.int8) if values.dtype.kind == "b" else values
            raw = np.ascontiguousarray(stored, dtype=stored.dtype.newbyteorder("<")).tobytes()
            image = bytearray(self._image)
            image[self._offset : self._offset + len(raw)] = raw
            return bytes(image)
        image, offset = _encode4(values, dims, coords, self.name)
        self._key, self._image, self._offset = key, image, offset
        return image


def _encode4(values: np.ndarray, dims: tuple[str, ...], coords: dict[str, np.ndarray],
             name: str) -> tuple[bytes, int | None]:
    """(image, offset of the values' contiguous block in it, or None when they are not stored as one)."""
    import h5netcdf
    import h5py

    buf = io.BytesIO()
    with h5guard.open_stream(buf, "w") as h5:
        with h5netcdf.File(h5, "w") as f:
            f.dimensions = {d: int(n) for d, n in zip(dims, values.shape, strict=True)}
            for dim in dims:
                coord = coords[dim]
                if coord.dtype.kind in "US":
                    var = f.create_variable(dim, (dim,), dtype=h5py.string_dtype("utf-8"))
                    var[...] = coord.astype(str).astype(object)
                else:
                    f.create_variable(dim, (dim,), data=coord)
            if values.dtype.kind == "b":
                var = f.create_variable(name, dims, data=values.astype(np.int8))
                var.attrs["dtype"] = "bool"
            elif values.dtype.kind == "f":
                var = f.create_variable(name, dims, data=values, fillvalue=np.array(np.nan, dtype=values.dtype))
            else:
                var = f.create_variable(name, dims, data=values)
        ds = h5[name]
        plain = ds.chunks is None and not ds.compression and ds.dtype.str[0] in "<|" and values.size > 0
        offset = ds.id.get_offset() if plain else None
        if offset is not None and ds.id.get_storage_size() != values.size * ds.dtype.itemsize:
            offset = None
    return buf.getvalue(), offset


def _encode3(values: np.ndarray, dims: tuple[str, ...], coords: dict[str, np.ndarray], name: str) -> bytes:
    import scipy.io

    buf = io.BytesIO()
    f = scipy.io.netcdf_file(buf, "w", version=2)  # 64-bit offsets, as xarray's scipy engine writes
    for dim, n in zip(dims, values.shape, strict=True):
        f.createDimension(dim, int(n))
    for dim in dims:
        coord = coords[dim]
        if coord.dtype.kind in "US":
            chars = np.char.encode(coord.astype(str), "utf-8")
            width = max(1, chars.dtype.itemsize)
            if f"string{width}" not in f.dimensions:
                f.createDimension(f"string{width}", width)
            var = f.createVariable(dim, "S1", (dim, f"string{width}"))
            var[:] = chars.astype(f"S{width}").view("S1").reshape(len(chars), width)
            var._attributes["_Encoding"] = "utf-8"
        else:
            var = f.createVariable(dim, _classic_dtype(coord, dim), (dim,))
            var[:] = coord
    var = f.createVariable(name, _classic_dtype(values, name), dims)
    if values.dtype.kind == "f":
        var._attributes["_FillValue"] = np.array(np.nan, dtype=values.dtype)
    if values.dtype.kind == "b":
        var._attributes["dtype"] = "bool"
    var[:] = values.astype(np.int8) if values.dtype.kind == "b" else values
    f.flush()
    data = buf.getvalue()
    f.close()
    return data


def _classic_dtype(arr: np.ndarray, name: str) -> np.dtype:
    """NetCDF-3 has no 64-bit integers: int64 values that fit become int32 (as xarray's scipy engine does)."""
    if arr.dtype.kind == "b":
        return np.dtype("i1")
    if arr.dtype.kind in "iu" and arr.dtype.itemsize > 4 or arr.dtype == np.uint32:
        if arr.size and (arr.min() < np.iinfo(np.int32).min or arr.max() > np.iinfo(np.int32).max):
            raise InvalidDataError(f"{name!r} holds integers beyond 32 bits, which NetCDF-3 cannot store",
                                   hint="Write NetCDF-4 members (the default).")
        return np.dtype("i4")
    if arr.dtype.kind == "u":
        return np.dtype(f"i{min(4, arr.dtype.itemsize * 2)}")
    return arr.dtype


def coordinate(info: MemberInfo, dim: str) -> np.ndarray:
    try:
        return info.coords[dim]
    except KeyError:
        raise KeyNotFoundError(f"no coordinate {dim!r}; dimensions: {list(info.dims)}") from None
