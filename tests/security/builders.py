"""Hostile files, made with the real libraries (h5py, h5netcdf, zarr, pybv, scipy, openpyxl)
or byte by byte where the point is a header that lies (bombs, huge declared sizes).

Decompression bombs are built from one compressed block repeated: after a full flush a
deflate stream restarts its history, so the same input always compresses to the same bytes
and a few KiB on disk inflate to hundreds of MiB, without the test ever holding them.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

MIB = 2**20


# -- repeated-block deflate ------------------------------------------------------------------------

def deflate_repeat(prefix: bytes, block: bytes, count: int, suffix: bytes, wbits: int) -> bytes:
    """A deflate stream of ``prefix + block * count + suffix`` (raw, zlib or gzip by ``wbits``),
    with a correct trailer, built in O(len(block)) memory."""
    c = zlib.compressobj(9, zlib.DEFLATED, wbits)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    rep = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    rep2 = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert rep == rep2, "the repeated block does not compress to the same bytes"
    tail = c.compress(suffix) + c.flush(zlib.Z_FINISH)
    body = head + rep * count
    if wbits > 15:  # gzip: CRC-32 and size of everything (the compressor saw only two blocks)
        crc = crc32_repeat(prefix, block, count, suffix)
        size = (len(prefix) + len(block) * count + len(suffix)) & 0xFFFFFFFF
        return body + tail[:-8] + struct.pack("<II", crc, size)
    if wbits > 0:  # zlib: Adler-32, big-endian
        a = zlib.adler32(prefix)
        for _ in range(count):
            a = zlib.adler32(block, a)
        a = zlib.adler32(suffix, a)
        return body + tail[:-4] + struct.pack(">I", a)
    return body + tail


def crc32_repeat(prefix: bytes, block: bytes, count: int, suffix: bytes) -> int:
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(block, crc)
    return zlib.crc32(suffix, crc)


def write_zip(path: Path, members: Iterable[tuple[str, bytes, int, int, int]]) -> None:
    """A zip from already-made members: (name, data, method 0/8, crc, uncompressed size)."""
    out = bytearray()
    central = bytearray()
    count = 0
    for name, data, method, crc, size in members:
        raw_name = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size, len(raw_name), 0)
        out += raw_name + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data), size, len(raw_name),
            0, 0, 0, 0, 0, offset,
        ) + raw_name
        count += 1
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), cd_offset, 0)
    path.write_bytes(bytes(out))


def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return name, data, 0, zlib.crc32(data), len(data)


def deflated_repeat(name: str, prefix: bytes, block: bytes, count: int, suffix: bytes) -> tuple:
    data = deflate_repeat(prefix, block, count, suffix, -15)
    return name, data, 8, crc32_repeat(prefix, block, count, suffix), len(prefix) + len(block) * count + len(suffix)


# -- decompression bombs -----------------------------------------------------------------------------

def npz_bomb(path: Path, mib: int = 600) -> None:
    """An .npz whose one member inflates to ``mib`` MiB of zeros (a few KiB on disk)."""
    header = npy_header(np.dtype("u1"), (mib * MIB,))
    write_zip(path, [deflated_repeat("x.npy", header, bytes(MIB), mib, b"")])


def npy_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    import io

    from numpy.lib import format as npformat

    buf = io.BytesIO()
    npformat.write_array_header_1_0(buf, {"descr": npformat.dtype_to_descr(dtype), "fortran_order": False,
                                          "shape": shape})
    return buf.getvalue()


def xlsx_bomb(path: Path, mib: int = 600) -> None:
    """A real workbook (openpyxl) whose sheet XML inflates to ``mib`` MiB of whitespace."""
    import io

    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["a", "b"])
    buf = io.BytesIO()
    wb.save(buf)
    package_bomb(path, buf, "xl/worksheets/sheet1.xml", b"<sheetData>", mib)


def docx_bomb(path: Path, mib: int = 600) -> None:
    """A real Word document (python-docx) whose document XML inflates to ``mib`` MiB of whitespace."""
    import io

    import docx

    doc = docx.Document()
    doc.add_paragraph("a")
    buf = io.BytesIO()
    doc.save(buf)
    package_bomb(path, buf, "word/document.xml", b"<w:body>", mib)


def package_bomb(path: Path, package: object, part: str, after: bytes, mib: int) -> None:
    """An Office package (zip) again, its ``part`` padded with ``mib`` MiB of whitespace after ``after``."""
    import zipfile

    members = []
    with zipfile.ZipFile(package) as z:
        for info in z.infolist():
            data = z.read(info.filename)
            if info.filename == part:
                head, _, rest = data.partition(after)
                members.append(deflated_repeat(info.filename, head + after, b" " * MIB, mib, rest))
            else:
                members.append(stored(info.filename, data))
    write_zip(path, members)


def pdf_heavy_page(path: Path, ops: int = 3_000_000) -> None:
    """A two-page PDF whose second page draws with ``ops`` operators (about 60 KiB stored, 20 MiB decoded)."""
    from tests.formats.doc_samples import one_page_objects, raw_pdf

    objs = one_page_objects(b"fine page")
    body = zlib.compress(b"BT /F1 12 Tf " + b"1 0 Td " * ops + b"(x) Tj ET", 9)
    objs[2] = b"<< /Type /Pages /Kids [3 0 R 8 0 R] /Count 2 >>"
    objs[7] = b"<< >>"
    objs[8] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 9 0 R "
               b"/Resources << /Font << /F1 4 0 R >> >> >>")
    objs[9] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream"
    path.write_bytes(raw_pdf(objs))


def pdf_page_loop(path: Path) -> None:
    """A PDF whose page tree lists itself among its kids."""
    from tests.formats.doc_samples import one_page_objects, raw_pdf

    objs = one_page_objects()
    objs[2] = b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>"
    path.write_bytes(raw_pdf(objs))


def png_bomb(path: Path, side: int = 13000) -> None:
    """A grayscale ``side`` x ``side`` PNG of zeros: 169 M pixels for 13000, about 200 KiB on disk."""
    row = b"\0" + bytes(side)
    per = 100
    assert side % per == 0
    idat = deflate_repeat(b"", row * per, side // per, b"", 15)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def zarr_zip_bomb(path: Path, workdir: Path, mib: int = 600) -> None:
    """A .zarr.zip (zarr v3 metadata written by zarr) with one gzip chunk inflating to ``mib`` MiB."""
    import zarr

    folder = workdir / "bomb_src.zarr"
    n = mib * MIB
    zarr.create_array(str(folder), shape=(n,), chunks=(n,), dtype="u1", fill_value=0,
                      compressors=[zarr.codecs.GzipCodec(level=1)])
    chunk = deflate_repeat(b"", b"\1" * MIB, mib, b"", 31)
    members = [stored("zarr.json", (folder / "zarr.json").read_bytes()), stored("c/0", chunk)]
    write_zip(path, members)


def sparse_file(path: Path, head: bytes, size: int) -> None:
    """``head`` then holes up to ``size`` bytes: a huge file that costs no disk."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)


def pickle_huge_argument(path: Path, declared: int = 3 * 2**29) -> None:
    """A pickle whose first opcode (BINBYTES8) declares a ``declared``-byte argument, sparse on disk."""
    head = b"\x80\x04\x8e" + struct.pack("<Q", declared)
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(len(head) + declared)
        fh.seek(0, os.SEEK_END)
        fh.write(b".")  # STOP


YAML_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
) + "\n"


def nested_json(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def nested_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# -- HDF5 family ---------------------------------------------------------------------------------------

def h5file(path: Path, fill: Callable, *, userblock: int = 0):
    import h5py

    kwargs = {"userblock_size": userblock} if userblock else {}
    with h5py.File(path, "w", **kwargs) as f:
        fill(f)


MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def mat73(path: Path, fill: Callable) -> None:
    """MATLAB v7.3: HDF5 behind a 512-byte header (as MATLAB writes it); datasets tagged MATLAB_class."""

    def tagged(f):
        fill(f)
        for name in list(f):
            obj = f.get(name, getlink=True)
            import h5py

            if isinstance(obj, h5py.HardLink) and isinstance(f[name], h5py.Dataset):
                f[name].attrs["MATLAB_class"] = np.bytes_(b"uint8")

    h5file(path, tagged, userblock=512)
    header = MAT73_HEADER.ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0200) + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\0"))


def ext_link(target: str, obj: str = "/num") -> Callable:
    def fill(f):
        import h5py

        f["inside"] = np.arange(4, dtype="u1")
        f["ext"] = h5py.ExternalLink(target, obj)

    return fill


def group_link(name: str, target: str) -> Callable:
    """``name`` is an external link to the root group of ``target``."""

    def fill(f):
        import h5py

        f[name] = h5py.ExternalLink(target, "/")

    return fill


def ext_storage(target: str, nbytes: int = 64, name: str = "x") -> Callable:
    def fill(f):
        f["inside"] = np.arange(4, dtype="u1")
        f.create_dataset(name, shape=(nbytes,), dtype="u1", external=[(target, 0, nbytes)])

    return fill


def vds(source: str, source_obj: str = "num", n: int = 28) -> Callable:
    def fill(f):
        import h5py

        f["inside"] = np.arange(4, dtype="u1")
        layout = h5py.VirtualLayout(shape=(n,), dtype="u1")
        layout[:] = h5py.VirtualSource(source, source_obj, shape=(n,))
        f.create_virtual_dataset("v", layout, fillvalue=0)

    return fill


def huge_sparse_dataset(f) -> None:
    """2**40 one-byte elements in one-element chunks: nothing allocated, 1.6 KB on disk."""
    f.create_dataset("big", shape=(2**20, 2**20), chunks=(1, 1), dtype="u1", fillvalue=7)


# -- multi-file formats --------------------------------------------------------------------------------

def brainvision(folder: Path, stem: str = "rec") -> Path:
    """A valid BrainVision triplet written by pybv; returns the .vhdr."""
    from pybv import write_brainvision

    data = np.zeros((2, 100))
    write_brainvision(data=data, sfreq=100.0, ch_names=["C3", "C4"], fname_base=stem, folder_out=str(folder),
                      events=np.array([[10, 1]]), overwrite=True)
    return folder / f"{stem}.vhdr"


def set_vhdr_ref(vhdr: Path, key: str, value: str, *, spelling: str | None = None, sep: str = "=",
                 padding: int = 0) -> None:
    """Point ``key`` (DataFile / MarkerFile) of a header at ``value``, as MNE's configparser reads it."""
    lines = vhdr.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if line.split("=", 1)[0].strip().lower() == key.lower():
            if padding:
                pad_line = "; " + "p" * 1000
                out += [pad_line] * (padding // (len(pad_line) + 1) + 1)
            out.append(f"{spelling or key}{sep}{value}")
        else:
            out.append(line)
    vhdr.write_text("\n".join(out) + "\n", encoding="utf-8")


def eeglab_set(path: Path, data_ref: str, nbchan: int = 2, pnts: int = 50) -> None:
    """An EEGLAB .set (MATLAB v5 struct via scipy) whose samples live in the file ``EEG.data`` names."""
    from scipy.io import savemat

    chanlocs = np.zeros((nbchan,), dtype=[("labels", object), ("X", object), ("Y", object), ("Z", object)])
    for i in range(nbchan):
        chanlocs[i] = (f"E{i + 1}", np.array([]), np.array([]), np.array([]))
    eeg = {
        "setname": "s", "filename": path.name, "filepath": "", "nbchan": float(nbchan), "trials": 1.0,
        "pnts": float(pnts), "srate": 100.0, "xmin": 0.0, "xmax": (pnts - 1) / 100.0,
        "times": np.arange(pnts) * 10.0, "data": data_ref, "icawinv": np.array([]), "icasphere": np.array([]),
        "icaweights": np.array([]), "icaact": np.array([]), "chanlocs": chanlocs, "event": np.array([]),
        "epoch": np.array([]), "ref": "common", "urevent": np.array([]),
    }
    savemat(str(path), {"EEG": eeg}, appendmat=False, oned_as="row")


# -- small, ordinary files -----------------------------------------------------------------------------

def write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value))


def csv_rows(path: Path, n: int, width: int = 1) -> None:
    cols = ",".join(f"c{i}" for i in range(width))
    row = ",".join(str(i) for i in range(width))
    with open(path, "w") as fh:
        fh.write(cols + "\n")
        fh.writelines(row + "\n" for _ in range(n))
