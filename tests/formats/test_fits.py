"""FITS files written by astropy itself, through the server: summaries, slices, pages, previews, conversion."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from fastmcp import Client

from io_core import Workspace
from server.app import create_app
from server.settings import Settings

IMAGE = np.arange(200 * 300, dtype=np.float32).reshape(200, 300)


def _write(path, *, scaled=False):
    primary = fits.PrimaryHDU(IMAGE)
    primary.header["BUNIT"] = "Jy/beam"
    primary.header["CTYPE1"], primary.header["CUNIT1"] = "RA---TAN", "deg"
    primary.header["CTYPE2"], primary.header["CUNIT2"] = "DEC--TAN", "deg"
    table = Table({"id": np.arange(1000), "flux": np.linspace(0, 1, 1000), "band": ["g"] * 1000,
                   "vec": np.ones((1000, 3))})
    cube = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)  # astropy stores uint16 as int16 + BZERO 32768
    hdus = [primary, fits.table_to_hdu(table), fits.ImageHDU(cube, name="SCI")]
    fits.HDUList(hdus).writeto(path)


@pytest.fixture
async def client(tmp_path):
    _write(tmp_path / "obs.fits")
    _write(tmp_path / "obs.fits.gz")
    async with Client(create_app(Settings(roots=[tmp_path]))) as c:
        yield c


@pytest.mark.parametrize("name", ["obs.fits", "obs.fits.gz"])
async def test_summary_lists_every_hdu_from_headers(client, name):
    summary = (await client.call_tool("load_summary", {"path": name})).structured_content["summary"]
    assert summary["kind"] == "tree" and summary["n_children"] == 3
    by_name = {c["name"]: c for c in summary["children"]}
    assert by_name["0"]["shape"] == [200, 300] and by_name["0"]["dtype"] == "<f4"
    assert by_name["1"]["shape"] == [1000] and "4 columns" in by_name["1"]["dtype"]
    assert by_name["SCI"]["shape"] == [2, 3, 4] and by_name["SCI"]["dtype"] == "<u2"
    assert summary["attrs"]["BUNIT"] == "Jy/beam"


async def test_image_summary_has_units_wcs_and_true_stats(client):
    summary = (await client.call_tool("load_summary", {"path": "obs.fits", "key": "0", "exact_stats": True}))
    summary = summary.structured_content["summary"]
    assert summary["kind"] == "array" and summary["shape"] == [200, 300]
    assert "BUNIT=Jy/beam" in summary["note"] and "RA---TAN[deg]" in summary["note"]
    assert summary["stats"]["max"] == pytest.approx(float(IMAGE.max()))
    assert summary["stats"]["mean"] == pytest.approx(float(IMAGE.mean()), rel=1e-6)


@pytest.mark.parametrize("name", ["obs.fits", "obs.fits.gz"])
async def test_image_sections_and_scaled_unsigned_values(client, name):
    part = (await client.call_tool("read_slice", {"path": name, "key": "0", "selection": "10:12, 0:3"}))
    assert part.structured_content["slice"]["values"] == IMAGE[10:12, 0:3].tolist()
    cube = (await client.call_tool("read_slice", {"path": name, "key": "SCI", "selection": "1, 2, :"}))
    assert cube.structured_content["slice"]["values"] == [20, 21, 22, 23]


async def test_table_pages_by_hdu_name_or_index(client):
    page = (await client.call_tool("read_slice", {"path": "obs.fits", "key": "1", "offset": 998, "limit": 5}))
    rows = page.structured_content["slice"]
    assert rows["total_rows"] == 1000 and [r["id"] for r in rows["rows"]] == [998, 999]
    assert rows["rows"][0]["band"] == "g" and rows["rows"][0]["vec"] == [1.0, 1.0, 1.0]


async def test_preview_and_key_exists(client):
    result = await client.call_tool("preview_image", {"path": "obs.fits", "key": "0"})
    assert result.content[0].type == "image"
    exists = (await client.call_tool("key_exists", {"path": "obs.fits", "key": "SCI"})).structured_content
    missing = (await client.call_tool("key_exists", {"path": "obs.fits", "key": "NOPE"})).structured_content
    assert exists["exists"] is True and missing["exists"] is False


async def test_convert_image_to_npy_and_h5_and_table_to_parquet(client, tmp_path):
    await client.call_tool("convert", {"src": "obs.fits", "dst": "img.npy", "key": "0"})
    np.testing.assert_array_equal(np.load(tmp_path / "img.npy"), IMAGE)
    await client.call_tool("convert", {"src": "obs.fits", "dst": "img.h5", "key": "0"})
    import h5py

    with h5py.File(tmp_path / "img.h5") as f:
        np.testing.assert_array_equal(f["0"][()], IMAGE)
    await client.call_tool("convert", {"src": "obs.fits", "dst": "tab.parquet", "key": "1"})
    import pandas as pd

    assert pd.read_parquet(tmp_path / "tab.parquet")["id"].tolist() == list(range(1000))


def test_save_arrays_and_tables_that_astropy_reads_back(tmp_path):
    ws = Workspace([tmp_path])
    ws.save(np.arange(12.0).reshape(3, 4), "one.fits")
    np.testing.assert_array_equal(fits.getdata(tmp_path / "one.fits"), np.arange(12.0).reshape(3, 4))
    ws.save({"img": np.ones((2, 2), dtype=np.int16), "cat": [{"x": 1, "s": "a"}, {"x": 2, "s": "b"}]}, "two.fits")
    assert fits.getdata(tmp_path / "two.fits", extname="IMG").dtype == np.dtype(">i2")
    table = Table.read(tmp_path / "two.fits", hdu="CAT")
    assert table["x"].tolist() == [1, 2] and table["s"].tolist() == ["a", "b"]


def test_bad_fits_is_coded(tmp_path):
    ws = Workspace([tmp_path])
    (tmp_path / "junk.fits").write_bytes(b"SIMPLE  =   nonsense" + b"\x00" * 100)
    with pytest.raises(Exception) as err:
        ws.summarize("junk.fits")
    assert err.value.code == "CORRUPT_FILE"
    _write(tmp_path / "ok.fits")
    with pytest.raises(Exception) as err:
        ws.summarize("ok.fits", key="MISSING")
    assert err.value.code == "KEY_NOT_FOUND"
