"""The machinery of the hostile corpus (tests/security/cases.py): ``Case``, the per-case
context ``Ctx`` with its tokens, builders that make a case's files, and the heavy files
built once per session.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.security import builders as b

POR = ("PATH_OUTSIDE_ROOT",)
NF = ("FILE_NOT_FOUND", "PATH_OUTSIDE_ROOT", "NAME_TOO_LONG")  # a name that cannot exist inside the roots
NAF = ("NOT_A_FILE",)
TL = ("TOO_LARGE",)
OK = ("OK",)
DEEP = ("INVALID_DATA", "TOO_LARGE")
WRITE_NAME = ("NAME_TOO_LONG", "WRITE_FAILED", "INVALID_DATA", "PATH_OUTSIDE_ROOT")  # a name the file system cannot hold


@dataclass
class Ctx:
    """What a builder needs: the case folder and the session's places."""

    case_id: str
    d: Path
    root: Path
    root2: Path
    base: Path
    out: Path
    marker: str
    shared_dir: Path
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def sub(self, value: Any) -> Any:
        if isinstance(value, str):
            for token, repl in (("<d>", self.case_id), ("<D>", str(self.d)), ("<root2>", str(self.root2)),
                                ("<root>", str(self.root)), ("<base>", str(self.base)), ("<out>", str(self.out)),
                                ("<s>", self.shared_dir.name)):
                value = value.replace(token, repl)
            return value
        if isinstance(value, dict):  # the arguments: tokens only in their top-level strings (data may nest deeply)
            return {k: self.sub(v) if isinstance(v, str) else v for k, v in value.items()}
        return value

    def shared(self, name: str) -> Path:
        """A heavy file built once per session (see SHARED); a failed build leaves nothing behind."""
        path = self.shared_dir / name
        if not path.exists() and not path.is_symlink():
            self.shared_dir.mkdir(exist_ok=True)
            try:
                SHARED[name](path, self)
            except BaseException:
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
                raise
        return path


@dataclass
class Case:
    id: str
    tool: str
    args: dict[str, Any]
    expect: tuple[str, ...]
    build: list[Callable[[Ctx], None]] = field(default_factory=list)
    read_only: bool = False  # run against the --read-only server
    new_ok: tuple[str, ...] = ()  # files (relative to the first root, tokens allowed) an OK answer may add
    forbid: tuple[str, ...] = ()  # text that must not appear in the response (besides the marker)
    note: str = ""


# -- builders ---------------------------------------------------------------------------------------

def link(name: str, target: str) -> Callable[[Ctx], None]:
    def build(c: Ctx) -> None:
        p = c.d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(c.sub(target), p)

    return build


def text(name: str, content: str = "inside content\n") -> Callable[[Ctx], None]:
    def build(c: Ctx) -> None:
        p = c.d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)

    return build


def mkdir(name: str) -> Callable[[Ctx], None]:
    return lambda c: (c.d / name).mkdir(parents=True, exist_ok=True)


def h5(name: str, fill: Callable[[Ctx], Callable]) -> Callable[[Ctx], None]:
    """An HDF5-family file: .mat gets MATLAB's 512-byte header, anything else is plain HDF5."""

    def build(c: Ctx) -> None:
        maker = b.mat73 if name.endswith(".mat") else b.h5file
        maker(c.d / name, fill(c))

    return build


def fifo(name: str) -> Callable[[Ctx], None]:
    return lambda c: os.mkfifo(c.d / name)


def chardev(name: str, minor: int = 5) -> Callable[[Ctx], None]:
    return lambda c: os.mknod(c.d / name, 0o600 | stat.S_IFCHR, os.makedev(1, minor))


def unix_socket(name: str) -> Callable[[Ctx], None]:
    def build(c: Ctx) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(c.d / name))
        c.cleanups.append(s.close)

    return build


def vhdr(stem: str = "rec", **ref: Any) -> Callable[[Ctx], None]:
    """A pybv BrainVision triplet, then one reference rewritten (see builders.set_vhdr_ref)."""

    def build(c: Ctx) -> None:
        header = b.brainvision(c.d, stem)
        if ref:
            r = dict(ref)
            b.set_vhdr_ref(header, r.pop("key"), c.sub(r.pop("value")), **r)

    return build


def eeglab(name: str, data_ref: str) -> Callable[[Ctx], None]:
    return lambda c: b.eeglab_set(c.d / name, c.sub(data_ref))


def zarr_array(name: str, data: np.ndarray, chunks: tuple[int, ...] | None = None) -> Callable[[Ctx], None]:
    def build(c: Ctx) -> None:
        import zarr

        z = zarr.create_array(str(c.d / name), shape=data.shape, chunks=chunks or data.shape, dtype=data.dtype,
                              compressors=None)
        z[...] = data

    return build


def zarr_chunk_to(name: str, target: str) -> Callable[[Ctx], None]:
    """A 28-byte zarr array whose only chunk file is a symlink to ``target``."""

    def build(c: Ctx) -> None:
        zarr_array(name, np.arange(28, dtype="u1"))(c)
        chunk = c.d / name / "c" / "0"
        chunk.unlink()
        os.symlink(c.sub(target), chunk)

    return build


def zarr_group_member_to(name: str, member: str, target: str) -> Callable[[Ctx], None]:
    def build(c: Ctx) -> None:
        import zarr

        g = zarr.open_group(str(c.d / name), mode="w")
        g.create_array("inside", shape=(4,), dtype="u1")[:] = 1
        os.symlink(c.sub(target), c.d / name / member)

    return build


def tmpfs(name: str, size: str = "1m") -> Callable[[Ctx], None]:
    """A tiny tmpfs mounted inside the root (we run as root); unmounted after the case."""

    def build(c: Ctx) -> None:
        import pytest

        mnt = c.d / name
        mnt.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a {size} tmpfs inside the root (mount said: {proc.stderr.strip()}), "
                        "so the disk-full case cannot run here")
        c.cleanups.append(lambda: subprocess.run(["umount", "-l", str(mnt)], capture_output=True))

    return build


def with_soft(fill: Callable, name: str, target: str) -> Callable:
    def both(f):
        import h5py

        fill(f)
        f[name] = h5py.SoftLink(target)

    return both


def nifti_pair(path: Path) -> None:
    """A NIfTI-1 pair written by nibabel (4 x 7 uint8 voxels); the .img is replaced by the caller."""
    import nibabel as nib

    nib.save(nib.Nifti1Pair(np.zeros((4, 7), dtype="u1"), np.eye(4)), str(path))
    path.with_suffix(".img").unlink()


def fif_split(path: Path, c: Ctx) -> None:
    """A raw FIF saved by MNE in split parts; the second part moved outside and linked back."""
    import mne

    info = mne.create_info(["a", "b"], 1000.0, "eeg")
    raw = mne.io.RawArray(np.zeros((2, 300_000), dtype="f4"), info, verbose="error")
    raw.save(path, split_size="2MB", fmt="single", verbose="error")
    part = path.with_name(path.stem + "-1.fif")
    moved = c.out / f"{c.case_id}-{part.name}"
    shutil.move(part, moved)
    os.symlink(moved, part)


def call_builder(fn: Callable[[Path, Ctx], None], name: str) -> Callable[[Ctx], None]:
    return lambda c: fn(c.d / name, c)


def shared(*names: str) -> Callable[[Ctx], None]:
    def build(c: Ctx) -> None:
        for n in names:
            c.shared(n)

    return build


# -- heavy files, built once per session in <root>/shared --------------------------------------------

def _mk_zarr_huge(path: Path, c: Ctx) -> None:
    import zarr

    zarr.create_array(str(path), shape=(2**20, 2**20), chunks=(1, 1), dtype="u1", fill_value=7)


def _mk_big_csv(path: Path, c: Ctx) -> None:
    """About 7 MB of random floats: more than the 1 MiB tmpfs holds in any format, compressed or not."""
    rng = np.random.default_rng(10)
    np.savetxt(path, rng.random((120_000, 3)), delimiter=",", header="a,b,c", comments="", fmt="%.17g")


def _mk_xlsx(path: Path, c: Ctx) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    for i in range(10):
        wb.active.append([i, i * 2])
    wb.save(path)


SHARED: dict[str, Callable[[Path, Ctx], None]] = {
    "huge.h5": lambda p, c: b.h5file(p, b.huge_sparse_dataset),
    "huge.nc": lambda p, c: b.h5file(p, b.huge_sparse_dataset),
    "huge.mat": lambda p, c: b.mat73(p, b.huge_sparse_dataset),
    "huge.zarr": _mk_zarr_huge,
    "bomb.npz": lambda p, c: b.npz_bomb(p, 1536),
    "bomb.xlsx": lambda p, c: b.xlsx_bomb(p, 1536),
    "bomb.docx": lambda p, c: b.docx_bomb(p, 1536),
    "heavy.pdf": lambda p, c: b.pdf_heavy_page(p),
    "loop.pdf": lambda p, c: b.pdf_page_loop(p),
    "bomb.zarr.zip": lambda p, c: b.zarr_zip_bomb(p, c.shared_dir, 1536),
    "bomb.png": lambda p, c: b.png_bomb(p, 13000),
    "bomb.yaml": lambda p, c: p.write_text(b.YAML_BOMB),
    "sparse.json": lambda p, c: b.sparse_file(p, b'{"a": [1, 2, ', 5 * 2**28),
    "sparse.yaml": lambda p, c: b.sparse_file(p, b"a: [1, 2, ", 5 * 2**28),
    "sparse.csv": lambda p, c: b.sparse_file(p, b"a,b\n1,2\n", 5 * 2**28),
    "sparse.txt": lambda p, c: b.sparse_file(p, b"first line ", 5 * 2**28),
    "huge.pkl": lambda p, c: b.pickle_huge_argument(p),
    "huge.joblib": lambda p, c: b.pickle_huge_argument(p),
    "deep600.json": lambda p, c: p.write_text(b.nested_json(600)),
    "deepobj600.json": lambda p, c: p.write_text(b.nested_object(600)),
    "deep100k.json": lambda p, c: p.write_text(b.nested_json(100_000)),
    "deep600.yaml": lambda p, c: p.write_text(b.nested_json(600) + "\n"),
    "big.csv": _mk_big_csv,
    "small.csv": lambda p, c: b.csv_rows(p, 10, 3),
    "small.txt": lambda p, c: p.write_text("".join(f"line {i}\n" for i in range(10))),
    "small.jsonl": lambda p, c: p.write_text("".join(f'{{"i": {i}}}\n' for i in range(10))),
    "small.xlsx": _mk_xlsx,
    "small.npy": lambda p, c: np.save(p, np.arange(10)),
    "keys.h5": lambda p, c: b.h5file(p, lambda f: f.create_dataset("x", data=np.arange(4))),
}
