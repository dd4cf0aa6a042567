"""explore_h5, explore_zarr, key_exists, read_metadata, embed_metadata and the h5:// / zarr://
resource templates through FastMCP's in-memory client: typed results within the response budget,
links out of the roots refused with PATH_OUTSIDE_ROOT, the writing tool absent when read-only."""

from __future__ import annotations

import io
import json
import os
import shutil

import h5py
import numpy as np
import pytest
from fastmcp import Client
from PIL import Image

from schemas import EmbedResult, ExploreResult, KeyExistsResult, MetadataResult
from server.app import create_app
from server.settings import Settings
from tests.core.test_h5tree import WIDE, FifoWatch, build_links, built
from tests.core.test_metadata import META, make_files
from tests.core.test_zarrtree import build_stores
from tests.server.conftest import json_size

BUDGET = 32768


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """(root, watch): the shared HDF5 files (100k-dataset group, deep, damaged), links, Zarr stores, pictures."""
    shared, _ = built(tmp_path_factory.getbasetemp() / "h5-browse")
    base = tmp_path_factory.mktemp("browse-tools")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    for name in ("wide.h5", "deep.h5", "truncated.h5"):  # hard links: a symlink would lead out of this root
        try:
            os.link(shared / name, root / name)
        except OSError:
            shutil.copy(shared / name, root / name)
    watch = FifoWatch(outside / "src.h5")
    build_links(root, watch.path)
    build_stores(root)
    (root / "pics").mkdir()
    make_files(root / "pics")
    yield root, watch
    watch.stop()


@pytest.fixture
async def client(data):
    async with Client(create_app(Settings(roots=[data[0]], max_response_bytes=BUDGET))) as c:
        yield c


async def call(client, tool, **args):
    res = await client.call_tool(tool, args)
    assert json_size(res.structured_content) <= BUDGET
    return res.structured_content


async def refused(client, tool, **args) -> str:
    res = await client.call_tool(tool, args, raise_on_error=False)
    assert res.is_error
    return res.content[0].text


async def test_tools_are_listed_with_schemas_and_annotations(client):
    tools = {t.name: t for t in await client.list_tools()}
    for name in ("explore_h5", "explore_zarr", "key_exists", "read_metadata", "embed_metadata"):
        assert tools[name].output_schema is not None, name
    for name in ("explore_h5", "explore_zarr", "key_exists", "read_metadata"):
        assert tools[name].annotations.read_only_hint is True
    embed = tools["embed_metadata"].annotations
    assert embed.read_only_hint is False and embed.destructive_hint is True


async def test_explore_h5_wide_group_within_budget(client):
    res = ExploreResult.model_validate(await call(client, "explore_h5", path="wide.h5", group="/wide", limit=1000))
    assert res.node.n_children == WIDE and res.node.children[0].name == "d000000"
    assert res.truncated and res.node.next_offset == len(res.node.children)
    nxt = ExploreResult.model_validate(
        await call(client, "explore_h5", path="wide.h5", group="/wide", offset=res.node.next_offset, limit=5)
    )
    assert nxt.node.children[0].name == f"d{res.node.next_offset:06d}" and len(nxt.node.children) == 5


async def test_explore_h5_every_kind_of_link(client, data):
    _, watch = data
    res = ExploreResult.model_validate(await call(client, "explore_h5", path="links.h5", depth=2))
    kinds = {c.name: c.kind for c in res.node.children}
    assert kinds["ext_in"] == "external_link" and kinds["ext_out"] == "external_link" and kinds["soft"] == "soft_link"
    assert kinds["dangling"] == "dangling" and kinds["dtype"] == "committed_datatype" and kinds["vds_out"] == "dataset"
    deep = ExploreResult.model_validate(await call(client, "explore_h5", path="deep.h5", depth=25))
    assert deep.node.children[0].name == "g0"
    text = await refused(client, "explore_h5", path="links.h5", group="/ext_out/data")
    assert text.startswith("PATH_OUTSIDE_ROOT:")
    for key in ("/ext_out", "/vds_out", "/raw_out"):
        assert (await refused(client, "load_summary", path="links.h5", key=key)).startswith("PATH_OUTSIDE_ROOT:")
        assert (await refused(client, "read_slice", path="links.h5", key=key)).startswith("PATH_OUTSIDE_ROOT:")
    assert (await refused(client, "explore_h5", path="truncated.h5")).startswith("CORRUPT_FILE:")
    assert not watch.opened


async def test_explore_zarr_v2_v3_zip(client):
    for path, fmt in (("v2.zarr", 2), ("v3.zarr", 3), ("v3.zarr.zip", 3)):
        res = ExploreResult.model_validate(await call(client, "explore_zarr", path=path))
        assert res.format == "zarr" and res.zarr_format == fmt and res.node.kind == "group"
    wide = ExploreResult.model_validate(await call(client, "explore_zarr", path="v3.zarr", group="wide", limit=1000))
    assert wide.node.n_children == 2000 and wide.truncated


async def test_key_exists_tool(client):
    ok = KeyExistsResult.model_validate(await call(client, "key_exists", path="links.h5", key="/grp/gzip"))
    assert ok.exists and ok.kind == "dataset"
    missing = KeyExistsResult.model_validate(await call(client, "key_exists", path="links.h5", key="/no/such"))
    assert missing.exists is False
    beyond = KeyExistsResult.model_validate(await call(client, "key_exists", path="links.h5", key="/ext_out/x"))
    assert beyond.exists is None and "outside" in beyond.note
    z = KeyExistsResult.model_validate(await call(client, "key_exists", path="v3.zarr", key="b"))
    assert z.exists and z.format == "zarr"
    assert (await refused(client, "key_exists", path="pics/rgb.png", key="x")).startswith("UNSUPPORTED_OPERATION:")


async def test_resources_browse_without_tool_calls(client):
    templates = {t.uri_template for t in await client.list_resource_templates()}
    assert {"h5://{path*}{?object,depth,offset,limit,attrs}", "zarr://{path*}{?object,depth,offset,limit,attrs}"} <= templates
    contents = await client.read_resource("h5://links.h5?object=/grp&depth=1")
    res = ExploreResult.model_validate(json.loads(contents[0].text))
    assert contents[0].mime_type == "application/json" and res.node.path == "/grp" and res.node.children
    top = ExploreResult.model_validate(json.loads((await client.read_resource("h5://links.h5"))[0].text))
    assert top.node.path == "/" and top.node.n_children == len(top.node.children)
    page = ExploreResult.model_validate(json.loads(
        (await client.read_resource("h5://wide.h5?object=%2Fwide&offset=10&limit=3"))[0].text))
    assert [c.name for c in page.node.children] == ["d000010", "d000011", "d000012"]
    z = ExploreResult.model_validate(json.loads((await client.read_resource("zarr://v3.zarr?object=b"))[0].text))
    assert z.node.kind == "dataset" and z.node.shards == [50, 50]
    zz = ExploreResult.model_validate(json.loads((await client.read_resource("zarr://v3.zarr.zip"))[0].text))
    assert zz.zarr_format == 3
    for uri in ("h5://../outside/src.h5", "h5://missing.h5", "h5://links.h5?object=/ext_out/data", "h5://truncated.h5"):
        with pytest.raises(Exception) as info:
            await client.read_resource(uri)
        assert any(code in str(info.value) for code in ("not found", "Unknown resource", "FILE_NOT_FOUND",
                                                         "PATH_OUTSIDE_ROOT", "CORRUPT_FILE")), (uri, info.value)
    with pytest.raises(Exception) as info:
        await client.read_resource("h5://links.h5?object=/ext_out/data")
    assert "PATH_OUTSIDE_ROOT" in str(info.value)


async def test_read_and_embed_metadata(client, data):
    root, _ = data
    before = np.asarray(Image.open(root / "pics" / "photo.jpg"))
    assert not MetadataResult.model_validate(await call(client, "read_metadata", path="pics/photo.jpg")).has_metadata
    res = EmbedResult.model_validate(await call(client, "embed_metadata", path="pics/photo.jpg", metadata=META))
    assert res.format == "jpeg" and res.recorded and not res.replaced
    read = MetadataResult.model_validate(await call(client, "read_metadata", path="pics/photo.jpg"))
    assert read.has_metadata and read.metadata == META and read.info["exif"]["Make"] == "SciCam"
    assert np.array_equal(np.asarray(Image.open(root / "pics" / "photo.jpg")), before)
    assert (await refused(client, "embed_metadata", path="pics/photo.jpg", metadata={"x": 1})).startswith("EXISTS:")
    again = EmbedResult.model_validate(
        await call(client, "embed_metadata", path="pics/photo.jpg", metadata={"x": 1}, overwrite=True))
    assert again.replaced
    for name in ("pics/rgb.png", "pics/lzw.tif", "pics/fig.svg", "pics/doc.pdf"):
        await call(client, "embed_metadata", path=name, metadata={"figure": name})
        assert (await call(client, "read_metadata", path=name))["metadata"] == {"figure": name}
    prov = await call(client, "file_provenance", path="pics/photo.jpg")
    assert prov["records"][0]["operation"] == "embed_metadata"


async def test_read_only_servers_offer_no_embed_metadata(tmp_path):
    (tmp_path / "rgb.png").write_bytes(_png_bytes(np.zeros((4, 4, 3), np.uint8)))
    async with Client(create_app(Settings(roots=[tmp_path], read_only=True))) as c:
        names = {t.name for t in await c.list_tools()}
        assert "embed_metadata" not in names and {"explore_h5", "read_metadata", "key_exists"} <= names
        res = await c.call_tool("read_metadata", {"path": "rgb.png"})
        assert res.structured_content["has_metadata"] is False
        assert len(await c.list_resource_templates()) >= 2


async def test_small_budgets_hold_for_browsing(data):
    async with Client(create_app(Settings(roots=[data[0]], max_response_bytes=4096))) as c:
        for tool, args in (("explore_h5", {"path": "wide.h5", "group": "/", "depth": 2}),
                           ("explore_h5", {"path": "links.h5", "depth": 3}),
                           ("explore_zarr", {"path": "v3.zarr", "depth": 2}),
                           ("read_metadata", {"path": "pics/doc.pdf"})):
            res = await c.call_tool(tool, args)
            assert json_size(res.structured_content) <= 4096, tool
        contents = await c.read_resource("h5://wide.h5?object=/wide")
        assert len(contents[0].text.encode()) <= 4096


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_h5py_is_only_read(client, data):
    """Browsing never writes: the file's bytes are the same after every call above and below."""
    root, _ = data
    before = (root / "links.h5").read_bytes()
    await call(client, "explore_h5", path="links.h5", depth=3)
    await call(client, "key_exists", path="links.h5", key="/ext_in_grp/x")
    assert (root / "links.h5").read_bytes() == before
    with h5py.File(root / "links.h5", "r") as f:
        assert f.attrs["title"] == "every kind of link"
