"""Which formats read remote objects, and how.

(Objects of other formats up to a size bound are read from a private local copy: ``io_core.remote.fetch``.)

A format reads a remote object when its handler opens the file through
``io_core.remote.open_binary`` (a ranged ``RemoteFile``) or, for Zarr, through
``io_core.remote.zarr_store`` — never by name. Those formats are listed here by registry
name; the chooser refuses every other format on a remote object with a coded
``UNSUPPORTED_OPERATION`` and a hint (copy it to a local root with ``convert``, which
streams it), rather than letting a library try to open the object by a name that does
not exist locally.

* hdf5, result_store: h5py on the file object (through the HDF5 guard, links confined);
* netcdf: h5netcdf on the same guarded HDF5 file object (NetCDF-4 files);
* zarr: zarr's ``FsspecStore`` (consolidated metadata when present);
* parquet: pyarrow on the file object (footer, then only the row groups/columns asked for);
* npy: the header by a range read, slices by the byte ranges they cover;
* csv, tsv, text: head and spread reads, pages by the row index, like local summaries;
* png, jpeg, tiff, bmp, gif: Pillow on the file object.
"""

from __future__ import annotations

from typing import Any

from io_core.errors import UnsupportedOperationError

REMOTE_FORMATS: frozenset[str] = frozenset({
    "hdf5", "result_store", "zarr", "parquet", "npy", "png", "jpeg", "tiff", "bmp", "gif",
})

#: operations on a remote object that read (writes go through io_core.remote.writing)
READ_OPS = frozenset({"load", "summarize", "explore", "key_exists", "read_metadata"})


def check_remote(choice: Any, op: str, path: Any) -> None:
    """Refuse a format that would open a remote object by name (see the module docstring)."""
    if op == "save":
        return  # saved to a private temp, then uploaded (io_core.remote.writing)
    name = choice.name if choice.spec is not None else None
    if name in REMOTE_FORMATS:
        return
    raise UnsupportedOperationError(
        f"{choice.name} files are not read from remote roots ({path.name!r})",
        hint=f"Remote objects are read by byte ranges for: {', '.join(sorted(REMOTE_FORMATS))}. "
             "Download it into a local root to read it.",
    )
