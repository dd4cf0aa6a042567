"""NIfTI images written by nibabel itself, through the server: summaries, slices, previews, conversion, sniffing."""

from __future__ import annotations

import numpy as np
import pytest
from fastmcp import Client

from io_core import Workspace
from server.app import create_app
from server.settings import Settings

VOXELS = np.arange(10 * 12 * 8, dtype=np.int16).reshape(10, 12, 8)
AFFINE = np.diag([2.0, 2.0, 3.0, 1.0])


def _write(path):
    import nibabel as nib

    img = nib.Nifti1Image(VOXELS, AFFINE)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"test scan"
    img.header.set_intent("none")
    nib.save(img, path)


@pytest.fixture
async def client(tmp_path):
    _write(tmp_path / "brain.nii")
    _write(tmp_path / "brain.nii.gz")
    async with Client(create_app(Settings(roots=[tmp_path]))) as c:
        yield c


@pytest.mark.parametrize("name", ["brain.nii", "brain.nii.gz"])
async def test_header_summary(client, name):
    summary = (await client.call_tool("load_summary", {"path": name})).structured_content["summary"]
    assert summary["kind"] == "array" and summary["shape"] == [10, 12, 8] and summary["dtype"] == "<i2"
    assert "zooms 2 x 2 x 3 mm" in summary["note"] and "test scan" in summary["note"]
    assert "[2.0, 0.0, 0.0, 0.0]" in summary["note"]  # the affine's first row
    assert summary["stats"]["max"] == VOXELS.max()


@pytest.mark.parametrize("name", ["brain.nii", "brain.nii.gz"])
async def test_lazy_slices_and_preview(client, name):
    part = (await client.call_tool("read_slice", {"path": name, "selection": "1, 2, 3:6"})).structured_content
    assert part["slice"]["values"] == VOXELS[1, 2, 3:6].tolist()
    result = await client.call_tool("preview_image", {"path": name, "selection": ":, :, 4"})
    assert result.content[0].type == "image"


async def test_convert_to_npy_and_h5(client, tmp_path):
    await client.call_tool("convert", {"src": "brain.nii.gz", "dst": "v.npy"})
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), VOXELS)
    await client.call_tool("convert", {"src": "brain.nii", "dst": "v.h5"})
    import h5py

    with h5py.File(tmp_path / "v.h5") as f:
        np.testing.assert_array_equal(f["data"][()], VOXELS)


async def test_renamed_gzipped_nifti_is_found_by_its_magic_bytes(client, tmp_path):
    (tmp_path / "brain.nii.gz").rename(tmp_path / "scan.dat")
    summary = (await client.call_tool("load_summary", {"path": "scan.dat"})).structured_content
    assert summary["format"] == "nifti" and summary["summary"]["shape"] == [10, 12, 8]


def test_save_with_affine_reads_back_in_nibabel(tmp_path):
    import nibabel as nib

    ws = Workspace([tmp_path])
    ws.save({"data": VOXELS.tolist(), "affine": AFFINE.tolist()}, "out.nii.gz", dtype="int16")
    img = nib.load(tmp_path / "out.nii.gz")
    np.testing.assert_array_equal(np.asarray(img.dataobj), VOXELS)
    np.testing.assert_array_equal(img.affine, AFFINE)


def test_pair_is_read_and_its_image_file_stays_inside_the_roots(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Pair(VOXELS, AFFINE), tmp_path / "pair.hdr")
    ws = Workspace([tmp_path / "."])
    assert ws.summarize("pair.hdr").summary.shape == [10, 12, 8]
    np.testing.assert_array_equal(ws.load("pair.hdr"), VOXELS)
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.img"
    outside.write_bytes((tmp_path / "pair.img").read_bytes())
    (root / "evil.hdr").write_bytes((tmp_path / "pair.hdr").read_bytes())
    (root / "evil.img").symlink_to(outside)  # the image file nibabel would open leads out of the roots
    with pytest.raises(Exception) as err:
        Workspace([root]).load("evil.hdr")
    assert err.value.code == "PATH_OUTSIDE_ROOT"
    with pytest.raises(Exception) as err:
        Workspace([root]).save(VOXELS, "new.hdr")
    assert err.value.code in ("UNSUPPORTED_OPERATION", "FORMAT_UNKNOWN")
