"""NumPy ``.npy`` and ``.npz``: headers are read directly, data through memory maps.

A compressed ``.npz`` member is inflated whole, so it is first checked by its zip
directory entry (declared size and ratio, ``io_core.limits.check_zip``).

Object arrays (whose payload is a pickle) are described from their header but never
unpickled unless the workspace allows pickle.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from io_core.coerce import as_array, as_array_tree
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError, UnsafeFormatError
from io_core.formats.base import Format
from io_core.formats.common import require_streamable, slabs
from io_core.limits import check_zip
from io_core.options import ReadOptions, WriteOptions
from io_core.remote import is_remote, open_binary
from io_core.summary import array_summary
from schemas import ChildInfo, TreeSummary


def read_header(fh: IO[bytes]) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran_order, data offset) from an open .npy stream."""
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except (ValueError, EOFError, SyntaxError) as exc:
        raise CorruptFileError(f"not a valid .npy header: {exc}") from None
    return tuple(shape), np.dtype(dtype), bool(fortran), fh.tell()


def _refuse_objects(dtype: np.dtype, opts: ReadOptions | WriteOptions, what: str) -> None:
    if dtype.hasobject and not opts.allow_pickle:
        raise UnsafeFormatError(f"{what} holds Python objects stored as a pickle; it was not loaded")


class NpyFormat(Format):
    def _header(self, path: Path) -> tuple[tuple[int, ...], np.dtype, bool, int]:
        with open_binary(path) as fh:  # a remote .npy: one range read
            shape, dtype, fortran, offset = read_header(fh)
        if not dtype.hasobject:
            expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            actual = path.stat().st_size
            if actual < expected:
                raise CorruptFileError(f"truncated .npy: {actual} bytes on disk, header promises {expected}")
        return shape, dtype, fortran, offset

    def load(self, path: Path, opts: ReadOptions) -> np.ndarray:
        _, dtype, _, _ = self._header(path)
        _refuse_objects(dtype, opts, path.name)
        if is_remote(path):
            with open_binary(path) as fh:
                return np.load(fh, allow_pickle=opts.allow_pickle)
        return np.load(path, allow_pickle=opts.allow_pickle)

    def _lazy(self, path: Path, opts: ReadOptions) -> Any:
        """A remote array read by the byte ranges a selection covers (io_core.remote.arrays)."""
        from io_core.remote.arrays import RangedArray

        shape, dtype, fortran, offset = self._header(path)
        _refuse_objects(dtype, opts, path.name)
        return RangedArray(open_binary(path, buffering=0), shape, dtype, offset, fortran)

    def summarize(self, path: Path, opts: ReadOptions):
        shape, dtype, fortran, _ = self._header(path)
        if is_remote(path) and not dtype.hasobject:
            return array_summary(self._lazy(path, opts), opts, fortran_order=fortran)
        if dtype.hasobject:
            view = np.empty((0,), dtype=dtype)  # stands in for shape/dtype only
            summary = array_summary(view, opts, read_values=False, note="object array: values are a pickle and were not read")
            return summary.model_copy(update={"shape": list(shape), "nbytes": 0})
        if int(np.prod(shape, dtype=np.int64)) == 0:
            arr = np.load(path, allow_pickle=False)
        else:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        return array_summary(arr, opts, fortran_order=fortran)

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[np.ndarray]:
        """A memory map: selections read only the pages they touch."""
        shape, dtype, _, _ = self._header(path)
        _refuse_objects(dtype, opts, path.name)
        if is_remote(path):
            yield self._lazy(path, opts)
        elif dtype.hasobject or int(np.prod(shape, dtype=np.int64)) == 0:
            yield np.load(path, allow_pickle=opts.allow_pickle)
        else:
            yield np.load(path, mmap_mode="r", allow_pickle=False)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        arr = as_array(data, opts.dtype, allow_pickle=opts.allow_pickle, limits=opts.limits)
        with open(path, "wb") as fh:
            np.save(fh, arr, allow_pickle=opts.allow_pickle)

    def write_array(self, array: Any, path: Path, opts: WriteOptions, name: str) -> None:
        """Slab by slab into a memory-mapped ``.npy`` (memory bounded by one slab)."""
        _write_slabs(array, path)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        """The bytes ``np.save`` writes, into an append-only stream that hashes them.

        The array's own memory goes out in one ``write`` (no 16 MiB copies), so the
        workspace can hash it on another core while this one writes it.
        """
        arr = as_array(data, opts.dtype, allow_pickle=opts.allow_pickle, limits=opts.limits)
        raw = _file_order_bytes(arr)
        header = io.BytesIO()
        try:
            if raw is None:
                raise ValueError("not a plain memory block")
            np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(arr))
        except (ValueError, UnicodeEncodeError):  # objects, exotic dtypes, huge headers: numpy's own way
            np.save(fh, arr, allow_pickle=opts.allow_pickle)
            return
        fh.write(header.getvalue())
        if raw.size:
            fh.write(raw)


def _write_slabs(array: Any, path: Path) -> None:
    require_streamable(array)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(array.dtype), shape=tuple(array.shape))
    try:
        for part, values in slabs(array):
            out[part] = values
        out.flush()
    finally:
        del out


def _file_order_bytes(arr: np.ndarray) -> np.ndarray | None:
    """The array's memory as bytes in the order ``np.save`` writes them, or None to let numpy do it."""
    if arr.dtype.hasobject or not getattr(type(arr.dtype), "_legacy", True) or arr.dtype.itemsize == 0:
        return None
    if arr.flags.c_contiguous:
        return arr.reshape(-1).view(np.uint8)
    if arr.flags.f_contiguous:  # saved as fortran_order, i.e. its memory as is
        return arr.T.reshape(-1).view(np.uint8)
    return None


class NpzFormat(Format):
    def _open(self, path: Path) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(path)
        except zipfile.BadZipFile as exc:
            raise CorruptFileError(f"not a valid .npz (zip) archive: {exc}") from None

    @staticmethod
    def _members(zf: zipfile.ZipFile) -> list[str]:
        return [n[:-4] for n in zf.namelist() if n.endswith(".npy")]

    def _member_header(self, zf: zipfile.ZipFile, name: str):
        with zf.open(name + ".npy") as fh:
            return read_header(fh)

    def load(self, path: Path, opts: ReadOptions) -> dict[str, np.ndarray] | np.ndarray:
        with self._open(path) as zf:
            names = self._members(zf)
            wanted = [self._check_key(opts.key, names)] if opts.key else names
            check_zip(zf, opts.limits, [n + ".npy" for n in wanted], repr(path.name))
            for name in wanted:
                _refuse_objects(self._member_header(zf, name)[1], opts, f"member {name!r}")
        with np.load(path, allow_pickle=opts.allow_pickle) as npz:
            if opts.key:
                return npz[opts.key]
            return {name: npz[name] for name in names}

    @staticmethod
    def _check_key(key: str, names: list[str]) -> str:
        if key not in names:
            raise KeyNotFoundError(f"no member {key!r}; members: {names[:50]}").with_candidates(key, names)
        return key

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[np.ndarray]:
        """One member: memory-mapped when stored uncompressed, else read (it is compressed)."""
        with self._open(path) as zf:
            names = self._members(zf)
            if opts.key is None and len(names) != 1:
                raise KeyNotFoundError(f"{path.name!r} holds {len(names)} arrays; pass key= (members: {names[:50]})")
            name = self._check_key(opts.key or names[0], names)
            shape, dtype, fortran, header_len = self._member_header(zf, name)
            _refuse_objects(dtype, opts, f"member {name!r}")
            info = zf.getinfo(name + ".npy")
            if info.compress_type == zipfile.ZIP_STORED and not dtype.hasobject and int(np.prod(shape)) > 0:
                with open(path, "rb") as fh:
                    fh.seek(info.header_offset)
                    local = fh.read(30)
                name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
                offset = info.header_offset + 30 + name_len + extra_len + header_len
                yield np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")
                return
            check_zip(zf, opts.limits, [name + ".npy"], repr(path.name))  # inflated whole: bounded first
        with np.load(path, allow_pickle=opts.allow_pickle) as npz:
            yield npz[name]

    def summarize(self, path: Path, opts: ReadOptions):
        with self._open(path) as zf:
            names = self._members(zf)
            if opts.key:
                shape, dtype, fortran, _ = self._member_header(zf, self._check_key(opts.key, names))
                if dtype.hasobject:
                    raise UnsafeFormatError(f"member {opts.key!r} holds pickled Python objects; it was not read")
                check_zip(zf, opts.limits, [opts.key + ".npy"], repr(path.name))
                with np.load(path, allow_pickle=False) as npz:
                    return array_summary(npz[opts.key], opts, fortran_order=fortran)
            children = []
            for name in names[: opts.preview_items]:
                shape, dtype, _, _ = self._member_header(zf, name)
                children.append(ChildInfo(name=name, kind="array", shape=list(shape), dtype=dtype.str))
        return TreeSummary(path="/", n_children=len(names), children=children, truncated=len(names) > len(children))

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        if not isinstance(data, dict) and hasattr(data, "shape"):
            data = {"arr_0": data}
        tree = as_array_tree(data, opts.dtype, allow_pickle=opts.allow_pickle, limits=opts.limits)
        nested = [k for k, v in tree.items() if isinstance(v, dict)]
        if nested:
            raise InvalidDataError(f".npz holds a flat set of arrays; {nested} are groups", hint="Save groups to .h5.")
        with open(path, "wb") as fh:
            np.savez(fh, **tree, allow_pickle=opts.allow_pickle)


NPY = NpyFormat()
NPZ = NpzFormat()
