"""The MCP tools on an S3 root (SeaweedFS), HDF5 reads in the worker processes, mixed with a local root."""

from __future__ import annotations

import io
import logging

import h5py
import numpy as np
from fastmcp import Client

from server.app import create_app
from server.settings import Settings


def _h5() -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("grp/x", data=np.arange(10_000.0).reshape(100, 100), chunks=(10, 100))
        f.attrs["title"] = "remote"
    return buf.getvalue()


async def test_tools_on_a_remote_root(weed, prefix, tmp_path, caplog):
    for name in ("runs/run_1.h5", "runs/run_2.h5", "runs/run_10.h5", "other/x.h5"):
        weed.put("test", f"{prefix}/{name}", _h5())
    url = f"s3://test/{prefix}"
    settings = Settings(roots=[url, tmp_path], s3_endpoint_url=weed.endpoint, hdf5_workers=1,
                        allow_remote_writes=False)
    caplog.set_level(logging.INFO, logger="sciio_mcp.access")
    async with Client(create_app(settings)) as client:
        roots = (await client.call_tool("list_roots", {})).structured_content["roots"]
        by_path = {r["path"]: r for r in roots}  # local roots are listed first
        assert set(by_path) == {url, str(tmp_path)} and by_path[url]["writable"] is False
        summary = (await client.call_tool("load_summary", {"path": "runs/run_1.h5"})).structured_content
        assert summary["summary"]["attrs"] == {"title": "remote"} and summary["path"] == "runs/run_1.h5"
        part = (await client.call_tool("read_slice", {"path": "runs/run_2.h5", "key": "grp/x",
                                                      "selection": "50, 10:13"})).structured_content
        assert part["slice"]["values"] == [5010.0, 5011.0, 5012.0]
        tree = (await client.call_tool("explore_h5", {"path": f"{url}/runs/run_10.h5", "group": "grp"}))
        assert tree.structured_content["node"]["children"][0]["name"] == "x"
        found = (await client.call_tool("find_files", {"pattern": "runs/run_{n}.h5", "parse": True})).structured_content
        assert [f["path"] for f in found["files"]] == ["runs/run_1.h5", "runs/run_2.h5", "runs/run_10.h5"]
        assert [f["captures"]["n"] for f in found["files"]] == ["1", "2", "10"] and found["total"] == 3
        everything = (await client.call_tool("find_files", {"pattern": "**/*.h5", "limit": 2})).structured_content
        assert everything["total"] == 4 and everything["truncated"] and len(everything["files"]) == 2
        preview = await client.call_tool("preview_image", {"path": "runs/run_1.h5", "key": "grp/x"})
        assert preview.content[0].type == "image"
        verified = (await client.call_tool("verify_file", {"path": "runs/run_1.h5"})).structured_content
        assert verified["status"] == "UNKNOWN" and verified["size_bytes"] == len(_h5())
        local = (await client.call_tool("convert", {"src": "runs/run_1.h5", "key": "grp/x",
                                                    "dst": str(tmp_path / "x.npy")})).structured_content
        assert local["format"] == "npy" and np.load(tmp_path / "x.npy")[50, 10] == 5010.0
        refused = await client.call_tool("save", {"path": "runs/new.npy", "data": [1, 2]}, raise_on_error=False)
        assert refused.is_error and refused.content[0].text.startswith("READ_ONLY:")
        escaped = await client.call_tool("load_summary", {"path": "../x.h5"}, raise_on_error=False)
        assert escaped.is_error and escaped.content[0].text.startswith("PATH_OUTSIDE_ROOT:")
    counted = [r for r in caplog.records if getattr(r, "remote_requests", 0)]
    assert counted and all(r.remote_bytes >= 0 for r in counted)  # per-call requests/bytes in the access log
