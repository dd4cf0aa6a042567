"""NIfTI-1/2 images through nibabel: header summaries, lazy ``dataobj`` slices, save with an affine.

``.nii`` and ``.nii.gz`` hold header and voxels in one file; a NIfTI/Analyze pair keeps the
header in ``x.hdr`` and the voxels in ``x.img`` (read-only here). The pair's image file is
a reference like BrainVision's companions: ``references`` names it the way nibabel finds
it, and the workspace resolves it inside the roots before nibabel opens anything.

Summaries read the header only: shape, the dtype the values come back in (scaling by
``scl_slope``/``scl_inter`` makes floats), voxel sizes with their units, the affine
(sform, else qform), intent and description; statistics are sampled through
``img.dataobj`` (nibabel's array proxy reads only the slices asked for; a ``.nii.gz`` is
decompressed up to the slice). ``load`` gives the voxel array; ``save`` takes an array
(identity affine) or ``{"data": array, "affine": 4x4}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from io_core.coerce import as_array
from io_core.errors import CorruptFileError, InvalidDataError, KeyNotFoundError
from io_core.formats.base import Format
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary
from schemas import ArraySummary

_SINGLE = ((344, b"n+1\x00"), (4, b"n+2\x00"))  # magic and its offset: NIfTI-1, NIfTI-2 single files
_PAIR = ((344, b"ni1\x00"), (4, b"ni2\x00"))  # the same in a pair's .hdr
_COMPRESSED = (".gz", ".bz2", ".zst")


def _load(path: Path) -> Any:
    import nibabel as nib

    try:
        try:
            return nib.load(path)
        except nib.filebasedimages.ImageFileError:
            return _load_by_content(path)  # a name nibabel does not know (a renamed .nii.gz): the magic decided
    except (nib.filebasedimages.ImageFileError, OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"cannot read {path.name!r} as NIfTI: {str(exc)[:300]}",
                               hint="The file is empty, truncated, or not a NIfTI / Analyze image.") from None


def _load_by_content(path: Path) -> Any:
    """A single-file NIfTI-1/2 (plain or gzipped) whatever its name, read through a file holder."""
    import gzip

    import nibabel as nib
    from nibabel.fileholders import FileHolder

    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    stream = gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115 - the image keeps it for lazy reads
    head = stream.read(348)
    stream.seek(0)
    klass = nib.Nifti2Image if head[4:8] in (b"n+2\x00",) else nib.Nifti1Image
    holder = FileHolder(fileobj=stream)
    return klass.from_file_map({"header": holder, "image": holder})


class VoxelArray:
    """``img.dataobj`` with the dtype its slices really come back in (after scaling)."""

    def __init__(self, img: Any) -> None:
        self._proxy = img.dataobj
        self.shape = tuple(int(n) for n in img.shape)
        self.ndim = len(self.shape)
        self.size = int(np.prod(self.shape, dtype=np.int64))
        self.dtype = _value_dtype(img)

    def __getitem__(self, selection: Any) -> np.ndarray:
        return np.asarray(self._proxy[selection], dtype=self.dtype)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = np.asarray(self._proxy, dtype=self.dtype)
        return values if dtype is None else values.astype(dtype)


def _value_dtype(img: Any) -> np.dtype:
    stored = np.dtype(img.header.get_data_dtype()).newbyteorder("=")
    slope, inter = img.dataobj.slope, img.dataobj.inter
    scaled = not (slope in (None, 1) or np.isnan(slope)) or not (inter in (None, 0) or np.isnan(inter))
    if not scaled:
        return stored
    return np.dtype("float64") if stored.itemsize >= 4 and stored.kind in "iu" or stored == np.float64 \
        else np.dtype("float32")


def _header_facts(img: Any) -> str:
    header = img.header
    parts = []
    zooms = [float(z) for z in header.get_zooms()]
    try:
        space, time = header.get_xyzt_units()
    except AttributeError:  # Analyze headers have no units
        space, time = None, None
    units = f" {space}" if space and space != "unknown" else ""
    parts.append("zooms " + " x ".join(f"{z:g}" for z in zooms[:3]) + units
                 + (f", {zooms[3]:g} {time or ''}".rstrip() if len(zooms) > 3 else ""))
    affine = img.affine
    if affine is not None:
        parts.append("affine " + str(np.round(np.asarray(affine, dtype=float), 4).tolist()))
    if hasattr(header, "get_intent"):
        intent = header.get_intent()[0]
        if intent and intent != "none":
            parts.append(f"intent {intent}")
    descrip = header["descrip"].item().decode("latin-1").strip("\x00 ") if "descrip" in header else ""
    if descrip:
        parts.append(f"description {descrip[:200]!r}")
    parts.append(type(img).__name__)
    return "; ".join(parts)


class NiftiFormat(Format):
    name = "nifti"

    def _image(self, path: Path, opts: ReadOptions) -> Any:
        if opts.key not in (None, ""):
            raise KeyNotFoundError(f"a NIfTI image has no members (key={opts.key[:120]!r})",
                                   hint="Omit key; pick voxels with selection='x, y, z'.")
        return _load(path)

    def summarize(self, path: Path, opts: ReadOptions) -> ArraySummary:
        img = self._image(path, opts)
        summary = array_summary(VoxelArray(img), opts)
        return summary.model_copy(update={"note": _header_facts(img)})

    @contextmanager
    def open_array(self, path: Path, opts: ReadOptions) -> Iterator[VoxelArray]:
        img = self._image(path, opts)
        yield VoxelArray(img)

    def load(self, path: Path, opts: ReadOptions) -> np.ndarray:
        return np.asarray(VoxelArray(self._image(path, opts)))

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        import nibabel as nib

        affine = np.eye(4)
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - {"data", "affine"})
            if "data" not in data or unknown:
                raise InvalidDataError("a NIfTI image is saved from an array or {'data': array, 'affine': 4x4}",
                                       hint='For example {"data": [[[0, 1], [2, 3]]], "affine": [[1,0,0,0], ...]}.')
            affine = np.asarray(data.get("affine", affine), dtype=float)
            data = data["data"]
        if affine.shape != (4, 4) or not np.isfinite(affine).all():
            raise InvalidDataError(f"the affine must be a finite 4 x 4 matrix, not shape {affine.shape}")
        array = as_array(data, opts.dtype, name="data")
        if array.dtype.kind not in "biuf" or not 1 <= array.ndim <= 7:
            raise InvalidDataError(f"NIfTI holds 1-7 dimensional numeric voxels, not {array.ndim}-D {array.dtype}")
        if array.dtype == np.bool_:
            array = array.astype(np.uint8)
        image = nib.Nifti1Image(array, affine)
        image.to_filename(str(path))

    magic = _SINGLE

    def sniff(self, head: bytes) -> bool:
        return any(head[at : at + len(m)] == m for at, m in self.magic)


class NiftiPairFormat(NiftiFormat):
    """``x.hdr`` + ``x.img`` (NIfTI-1 pair or Analyze 7.5), read-only."""

    name = "nifti_pair"
    magic = _PAIR
    save = Format.save  # pairs are read here, never written

    def _image(self, path: Path, opts: ReadOptions) -> Any:
        from io_core.paths import pin_companion

        for ref in self.references(path):  # nibabel opens x.img beside x.hdr: only once it is pinned there
            pin_companion(path, ref)
        return super()._image(path, opts)

    def references(self, path: Path) -> list[str]:
        """A pair header names its image file the way nibabel finds it: same stem, ``.img`` (same case)."""
        name = path.name
        lowered = name.lower()
        suffix = next((s for s in _COMPRESSED if lowered.endswith(s)), "")
        stem = name[: len(name) - len(suffix)]
        if not stem.lower().endswith(".hdr"):
            return []
        img = stem[:-4] + (".IMG" if stem[-4:].isupper() else ".img")
        return [img + suffix]


NIFTI = NiftiFormat()
NIFTI_PAIR = NiftiPairFormat()
