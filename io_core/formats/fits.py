"""FITS through astropy: header-only summaries of every HDU, lazy image sections, table pages.

A FITS file is a list of HDUs (header + data units): images (the primary HDU, IMAGE and
compressed-image extensions) and tables (BINTABLE / TABLE). ``key`` names one HDU by its
index (``"0"``, ``"1"``), its ``EXTNAME`` (``"SCI"``) or ``EXTNAME,EXTVER`` (``"SCI,2"``).

Summaries read headers only: shape and dtype come from ``NAXISn``/``BITPIX`` (and the
``BZERO``/``BSCALE`` scaling astropy applies), plus ``BUNIT`` and the WCS axes
(``CTYPEn``/``CUNITn``). Image values are read through ``hdu.section``, which reads only the
requested part of the file (also for tile-compressed images), so slices, previews and
sampled or exact statistics never load the whole image. Tables are paged row by row from
the memory-mapped record array. ``save`` writes an array as the primary image, a table
(records, columns or a DataFrame) as a binary table, and a dict of them as extensions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from io_core.coerce import as_array, as_frame
from io_core.encoding import encode_value
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError, UnsupportedOperationError
from io_core.formats.base import Explored, Format
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary, frame_summary
from schemas import ArraySummary, ChildInfo, FrameSummary, TreeSummary
from schemas.models import NodeInfo

_BITPIX = {8: "uint8", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_UNSIGNED = {16: ("uint16", 1 << 15), 32: ("uint32", 1 << 31), 64: ("uint64", 1 << 63)}
_HEADER_FACTS = ("BUNIT", "OBJECT", "TELESCOP", "INSTRUME", "DATE-OBS", "EXPTIME", "FILTER")


def _open(path: Path, *, memmap: bool = False) -> Any:
    """Headers are read one HDU at a time. Image sections seek and read their part either way;
    tables page through a memory map (``memmap=True``), which scaled images cannot use."""
    from astropy.io import fits

    try:
        return fits.open(path, mode="readonly", memmap=memmap, lazy_load_hdus=True)
    except OSError as exc:
        raise CorruptFileError(f"cannot read {path.name!r} as FITS: {exc}",
                               hint="The file is empty, truncated or not FITS.") from None


def _hdus(hdul: Any, limit: int | None = None) -> Iterator[tuple[int, Any]]:
    """HDUs in order, read lazily (a header at a time); stops after ``limit``."""
    index = 0
    while limit is None or index < limit:
        try:
            hdu = hdul[index]
        except IndexError:
            return
        yield index, hdu
        index += 1


def _count(hdul: Any, cap: int = 10_000) -> int:
    return sum(1 for _ in _hdus(hdul, cap))


def _name(index: int, hdu: Any) -> str:
    extname = str(hdu.header.get("EXTNAME", "")).strip()
    return extname or str(index)


def _select(hdul: Any, key: str | None) -> tuple[int, Any]:
    """The HDU ``key`` names: index, EXTNAME, or 'EXTNAME,EXTVER'; none given: the first with data."""
    if key in (None, ""):
        for index, hdu in _hdus(hdul):
            if hdu.header.get("NAXIS", 0):
                return index, hdu
        return 0, hdul[0]
    text = key.strip().strip("/")
    if text.lstrip("-").isdigit():
        try:
            return int(text), hdul[int(text)]
        except IndexError:
            pass
    else:
        name, _, ver = text.partition(",")
        for index, hdu in _hdus(hdul):
            if str(hdu.header.get("EXTNAME", "")).strip().upper() == name.strip().upper() and (
                    not ver or str(hdu.header.get("EXTVER", 1)) == ver.strip()):
                return index, hdu
    names = [_name(i, h) for i, h in _hdus(hdul, 50)]
    raise KeyNotFoundError(f"no HDU {key[:120]!r} in this FITS file", hint=f"HDUs: {names[:20]}").with_candidates(
        key, names)


def _is_table(hdu: Any) -> bool:
    return str(hdu.header.get("XTENSION", "")).strip().upper() in ("BINTABLE", "TABLE") and not _is_compressed(hdu)


def _is_compressed(hdu: Any) -> bool:
    return bool(hdu.header.get("ZIMAGE", False)) or type(hdu).__name__ == "CompImageHDU"


def _image_shape(hdu: Any) -> tuple[int, ...]:
    if _is_compressed(hdu):
        return tuple(int(n) for n in hdu.shape)
    header = hdu.header
    return tuple(int(header.get(f"NAXIS{axis}", 0)) for axis in range(int(header.get("NAXIS", 0)), 0, -1))


def _image_dtype(hdu: Any) -> np.dtype:
    """The dtype astropy gives the values: the stored type, or what BZERO/BSCALE scaling makes of it."""
    header = hdu.header
    bitpix = int(header.get("ZBITPIX" if _is_compressed(hdu) else "BITPIX", 8))
    bscale, bzero = float(header.get("BSCALE", 1)), float(header.get("BZERO", 0))
    stored = np.dtype(_BITPIX.get(bitpix, ">f8"))
    if bscale == 1 and bzero == 0:
        return stored.newbyteorder("=")
    if bscale == 1 and bitpix in _UNSIGNED and bzero == _UNSIGNED[bitpix][1]:
        return np.dtype(_UNSIGNED[bitpix][0])
    if bscale == 1 and bitpix == 8 and bzero == -128:
        return np.dtype("int8")
    return np.dtype("float32" if stored.itemsize <= 2 else "float64")


def _wcs_axes(header: Any) -> list[dict[str, Any]]:
    axes = []
    for axis in range(1, int(header.get("NAXIS", 0)) + 1):
        ctype = header.get(f"CTYPE{axis}")
        if ctype is None:
            continue
        axes.append({k: v for k, v in {"axis": axis, "ctype": str(ctype).strip(),
                                        "cunit": header.get(f"CUNIT{axis}"), "crval": header.get(f"CRVAL{axis}"),
                                        "cdelt": header.get(f"CDELT{axis}")}.items() if v is not None})
    return axes


def _facts(header: Any, opts: ReadOptions) -> dict[str, Any]:
    facts = {k: encode_value(header[k], 200) for k in _HEADER_FACTS if k in header}
    wcs = _wcs_axes(header)
    if wcs:
        facts["wcs_axes"] = wcs
    return facts


class FitsImage:
    """A lazy image HDU: indexing reads that section only (``hdu.section``), in native byte order."""

    def __init__(self, hdu: Any) -> None:
        self._hdu = hdu
        self.shape = _image_shape(hdu)
        self.dtype = _image_dtype(hdu)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))

    def __getitem__(self, selection: Any) -> np.ndarray:
        values = np.asarray(self._hdu.section[selection])
        if values.dtype.byteorder not in ("=", "|"):
            values = values.astype(values.dtype.newbyteorder("="))
        return values

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self[(slice(None),) * self.ndim] if self.ndim else np.asarray(self._hdu.data)
        return values if dtype is None else values.astype(dtype)


def _table_frame(hdu: Any, start: int, stop: int, columns: list[str] | None = None) -> Any:
    """Rows ``start:stop`` of a table HDU as a DataFrame (vector cells as lists)."""
    import pandas as pd

    data = hdu.data
    names = list(data.columns.names) if data is not None else [c.name for c in hdu.columns]
    picked = columns or names
    out: dict[str, Any] = {}
    for name in picked:
        if data is None:
            out[name] = []
            continue
        values = np.asarray(data.field(name)[start:stop])
        if values.ndim > 1:
            out[name] = [row.tolist() for row in values]
        else:
            if values.dtype.byteorder not in ("=", "|"):
                values = values.astype(values.dtype.newbyteorder("="))
            if values.dtype.kind == "S":
                values = np.char.decode(values, "ascii", "replace")
            out[name] = values
    return pd.DataFrame(out, columns=picked)


def _check_columns(hdu: Any, columns: list[str] | None) -> list[str] | None:
    if not columns:
        return None
    names = [c.name for c in hdu.columns]
    missing = [c for c in columns if c not in names]
    if missing:
        raise KeyNotFoundError(f"no column {missing[0][:120]!r} in this table", hint=f"Columns: {names[:30]}"
                               ).with_candidates(missing[0], names)
    return list(columns)


class FitsFormat(Format):
    name = "fits"

    # -- summaries and trees ------------------------------------------------------------
    def summarize(self, path: Path, opts: ReadOptions) -> TreeSummary | ArraySummary | FrameSummary:
        with _open(path) as hdul:
            if opts.key in (None, ""):
                children = [self._child(i, hdu) for i, hdu in _hdus(hdul, opts.preview_items)]
                return TreeSummary(path="/", n_children=_count(hdul), children=children,
                                   truncated=len(children) < _count(hdul),
                                   attrs=_facts(hdul[0].header, opts))
            _, hdu = _select(hdul, opts.key)
            if _is_table(hdu):
                rows = int(hdu.header.get("NAXIS2", 0))
                head = _table_frame(hdu, 0, min(rows, opts.preview_items))
                return frame_summary(head, opts, n_rows=rows)
            image = FitsImage(hdu)
            summary = array_summary(image, opts, compression="tile-compressed" if _is_compressed(hdu) else None)
            facts = _facts(hdu.header, opts)
            note = "; ".join(f"{k}={v}" for k, v in facts.items() if k != "wcs_axes") or None
            if facts.get("wcs_axes"):
                axes = ", ".join(f"{a['ctype']}[{a.get('cunit', '')}]" for a in facts["wcs_axes"])
                note = f"{note + '; ' if note else ''}WCS axes: {axes}"
            return summary.model_copy(update={"note": note})

    def _child(self, index: int, hdu: Any) -> ChildInfo:
        name = _name(index, hdu)
        if _is_table(hdu):
            n_cols = len(hdu.columns)
            return ChildInfo(name=name, kind="array", shape=[int(hdu.header.get("NAXIS2", 0))],
                             dtype=f"table[{n_cols} columns]")
        shape = _image_shape(hdu)
        return ChildInfo(name=name, kind="array" if shape else "value", shape=list(shape),
                         dtype=_image_dtype(hdu).str if shape else "header only")

    def explore(self, path: Path, opts: ReadOptions, group: str, depth: int, offset: int, limit: int,
                attrs: bool) -> Explored:
        with _open(path) as hdul:
            if group.strip("/"):
                index, hdu = _select(hdul, group)
                return Explored(self._node(index, hdu, attrs))
            total = _count(hdul)
            nodes = [self._node(i, hdu, attrs) for i, hdu in _hdus(hdul, offset + limit) if i >= offset]
            more = offset + len(nodes) < total
            root = NodeInfo(name="/", path="/", kind="group", n_children=total, offset=offset,
                            children=nodes if depth > 0 else [], next_offset=offset + len(nodes) if more else None,
                            truncated=more)
            return Explored(root)

    def _node(self, index: int, hdu: Any, attrs: bool) -> NodeInfo:
        name = _name(index, hdu)
        header = {k: encode_value(v, 200) for k, v in list(hdu.header.items())[:20]} if attrs else {}
        if _is_table(hdu):
            from schemas.models import FieldInfo

            fields = [FieldInfo(name=c.name, dtype=str(c.format), offset=i) for i, c in enumerate(hdu.columns)]
            return NodeInfo(name=name, path=f"/{name}", kind="dataset", shape=[int(hdu.header.get("NAXIS2", 0))],
                            dtype="table", fields=fields[:50], attrs=header, n_attrs=len(hdu.header))
        shape = _image_shape(hdu)
        return NodeInfo(name=name, path=f"/{name}", kind="dataset", shape=list(shape),
                        dtype=_image_dtype(hdu).str if shape else None,
                        compression="tile-compressed" if _is_compressed(hdu) else None,
                        nbytes=int(np.prod(shape, dtype=np.int64)) * _image_dtype(hdu).itemsize if shape else 0,
                        attrs=header, n_attrs=len(hdu.header))

    # -- reading ------------------------------------------------------------------------
    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[FitsImage]:
        with _open(path) as hdul:
            _, hdu = _select(hdul, opts.key)
            if _is_table(hdu):
                raise UnsupportedOperationError(f"HDU {opts.key!r} is a table, not an image",
                                                hint="Page its rows with read_slice offset/limit.")
            yield FitsImage(hdu)

    def read_rows(self, path: Path, opts: ReadOptions, columns: list[str] | None, offset: int, limit: int):
        with _open(path, memmap=True) as hdul:
            _, hdu = self._table(hdul, opts.key)
            rows = int(hdu.header.get("NAXIS2", 0))
            picked = _check_columns(hdu, columns)
            page = _table_frame(hdu, min(offset, rows), min(offset + limit, rows), picked)
            return page, rows, True

    def iter_frames(self, path: Path, opts: ReadOptions, chunk_rows: int) -> Iterator[Any]:
        with _open(path, memmap=True) as hdul:
            _, hdu = self._table(hdul, opts.key)
            rows = int(hdu.header.get("NAXIS2", 0))
            for start in range(0, rows, chunk_rows):
                yield _table_frame(hdu, start, min(rows, start + chunk_rows))

    def _table(self, hdul: Any, key: str | None) -> tuple[int, Any]:
        if key in (None, ""):
            for index, hdu in _hdus(hdul):
                if _is_table(hdu):
                    return index, hdu
            raise KeyNotFoundError("this FITS file holds no table", hint="Read its images with a selection.")
        index, hdu = _select(hdul, key)
        if not _is_table(hdu):
            raise KeyNotFoundError(f"HDU {key[:120]!r} is an image, not a table", hint="Use selection= to slice it.")
        return index, hdu

    def load(self, path: Path, opts: ReadOptions) -> Any:
        with _open(path) as hdul:
            if opts.key not in (None, ""):
                return self._load_hdu(_select(hdul, opts.key)[1])
            out: dict[str, Any] = {}
            for index, hdu in _hdus(hdul):
                if _is_table(hdu) or _image_shape(hdu):
                    out[_name(index, hdu)] = self._load_hdu(hdu)
            return out

    def _load_hdu(self, hdu: Any) -> Any:
        if _is_table(hdu):
            return _table_frame(hdu, 0, int(hdu.header.get("NAXIS2", 0)))
        image = FitsImage(hdu)
        return np.array(image) if image.shape else np.empty(0, dtype=image.dtype)

    # -- writing ------------------------------------------------------------------------
    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        from astropy.io import fits

        hdus = [fits.PrimaryHDU()]
        if isinstance(data, Mapping) and not _looks_like_columns(data):
            for name, value in data.items():
                hdus.append(self._hdu(value, opts, name=str(name)))
        else:
            hdu = self._hdu(data, opts)
            hdus = [fits.PrimaryHDU(hdu.data)] if isinstance(hdu, fits.ImageHDU) else [*hdus, hdu]
        fits.HDUList(hdus).writeto(path, output_verify="exception", overwrite=True)

    def _hdu(self, value: Any, opts: WriteOptions, name: str | None = None) -> Any:
        from astropy.io import fits
        from astropy.table import Table

        if _is_tabular(value):
            frame = as_frame(value)
            try:
                hdu = fits.table_to_hdu(Table.from_pandas(frame))
            except (TypeError, ValueError) as exc:
                raise InvalidDataError(f"this table cannot be written as a FITS binary table: {exc}",
                                       hint="Use numeric, boolean or string columns.") from None
        else:
            array = as_array(value, opts.dtype, name=name or "data")
            if array.dtype.kind not in "biuf":
                raise InvalidDataError(f"FITS images hold numbers, not {array.dtype}",
                                       hint="Give a numeric array, or a table (records or columns).")
            hdu = fits.ImageHDU(array.astype(array.dtype.newbyteorder(">"), copy=False))
        if name is not None:
            hdu.name = name
        return hdu


def _is_tabular(value: Any) -> bool:
    if hasattr(value, "iloc") and hasattr(value, "columns"):
        return True
    if isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
        return True
    return isinstance(value, Mapping) and _looks_like_columns(value)


def _looks_like_columns(value: Mapping) -> bool:
    """``{column: [values]}`` (one table), as opposed to ``{extname: array or table}``."""
    items = list(value.values())
    return bool(items) and all(isinstance(v, list) and (not v or not isinstance(v[0], (list, Mapping)))
                               for v in items)


FITS = FitsFormat()
