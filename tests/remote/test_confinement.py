"""Remote roots confine keys to their bucket and prefix, as text, before any store sees them."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pytest

from io_core import IOCoreError
from io_core.remote.roots import RemoteRoots, parse_root
from tests.remote.conftest import remote_ws

ESCAPES = [
    "../secret.npy", "a/../../secret.npy", "s3://test/secret.npy", "s3://test/elsewhere/x.npy", "s3://other/x.npy",
    "s3://other/{p}/x.npy", "%2e%2e/secret.npy", "a/%2E%2E/%2e%2e/secret.npy", "a%2fb.npy", "a//x.npy",
    "s3://test//{p}/x.npy", "s3://user@test/{p}/x.npy", "s3://test@other/{p}/x.npy", "x.npy?versionId=1",
    "x.npy#frag", "x.npy?", "a\\..\\..\\secret.npy", "s3://TEST:80/{p}/x.npy", "https://test/{p}/x.npy",
    "s3:/test/{p}/x.npy", "gs://test/{p}/x.npy", "file:///etc/passwd", "/etc/passwd", "x\x00.npy",
    "s3://test/{p}/../secret.npy", "s3://test/{p}/./../secret.npy",
]


def test_roots_are_parsed_strictly():
    assert parse_root("/data") is None and parse_root("rel/dir") is None
    r = parse_root("s3://Bucket/a/b/")
    assert (r.scheme, r.authority, r.prefix, r.url) == ("s3", "bucket", "a/b", "s3://bucket/a/b")
    for bad in ("s3://", "ftp://host/x", "s3://b/../x", "s3://u@b/x", "s3://b/%2e%2e", "s3://b/x?y"):
        with pytest.raises(ValueError):
            parse_root(bad)


def test_keys_normalise_inside_the_prefix():
    roots = RemoteRoots([parse_root("s3://b/p")], None, first=True)
    assert roots.locate("x/./y/../z.npy") == (parse_root("s3://b/p"), "p/x/z.npy")
    assert roots.locate("s3://b/p/q/../r.h5")[1] == "p/r.h5"
    assert roots.locate("/abs/local") is None


@pytest.mark.parametrize("raw", ESCAPES)
def test_escapes_are_path_outside_root(weed, prefix, raw):
    weed.put("test", "secret.npy", b"not yours")
    weed.put("other", f"{prefix}/x.npy", b"not yours")
    buf = io.BytesIO()
    np.save(buf, np.arange(3))
    weed.put("test", f"{prefix}/x.npy", buf.getvalue())
    ws = remote_ws(weed, f"s3://test/{prefix}")
    assert ws.summarize("x.npy").summary.shape == [3]
    with pytest.raises(IOCoreError) as info:
        ws.summarize(raw.format(p=prefix))
    assert info.value.code == "PATH_OUTSIDE_ROOT", info.value


def test_hdf5_links_leaving_the_remote_root_are_refused(weed, prefix, tmp_path):
    inside = io.BytesIO()
    with h5py.File(inside, "w") as f:
        f["data"] = np.arange(5)
    weed.put("test", f"{prefix}/target.h5", inside.getvalue())
    weed.put("test", "outside.h5", inside.getvalue())
    with h5py.File(tmp_path / "links.h5", "w") as f:
        f["own"] = np.arange(3)
        f["up"] = h5py.ExternalLink("../outside.h5", "/data")
        f["abs"] = h5py.ExternalLink("/etc/passwd", "/x")
        f["tricky"] = h5py.ExternalLink("a/%2e%2e/../../outside.h5", "/data")
        f["in"] = h5py.ExternalLink("target.h5", "/data")
        layout = h5py.VirtualLayout(shape=(5,), dtype="i8")
        layout[:] = h5py.VirtualSource("../outside.h5", "data", shape=(5,))
        f.create_virtual_dataset("vds_out", layout)
    weed.put("test", f"{prefix}/links.h5", (tmp_path / "links.h5").read_bytes())
    ws = remote_ws(weed, f"s3://test/{prefix}")
    for key in ("up", "abs", "tricky", "vds_out"):
        with pytest.raises(IOCoreError) as info:
            ws.read_slice("links.h5", key=key)
        assert info.value.code == "PATH_OUTSIDE_ROOT", (key, info.value)
    # an external link to another object inside the root is followed by the hdf5 walker (by range)
    assert ws.read_slice("links.h5", key="in").slice.values == [0, 1, 2, 3, 4]
    tree = ws.explore_h5("links.h5")
    shown = {c.name: c for c in tree.node.children}
    assert shown["up"].link.inside_roots is False and shown["in"].link.inside_roots is True
    # a reader that lets libhdf5 follow links (open_checked) refuses the file: it names outside objects
    from io_core.formats.hdf5 import guard
    from io_core.sandbox_context import links_confined_to

    pin = ws.sandbox.pin("links.h5")
    with links_confined_to(ws.sandbox), pytest.raises(IOCoreError) as info:
        guard.open_checked(pin.path)
    assert info.value.code == "PATH_OUTSIDE_ROOT"


def test_remote_roots_are_read_only_without_the_flag(weed, prefix, tmp_path):
    ws = remote_ws(weed, str(tmp_path), f"s3://test/{prefix}")
    with pytest.raises(IOCoreError) as info:
        ws.save(np.arange(3), f"s3://test/{prefix}/new.npy")
    assert info.value.code == "READ_ONLY"


def test_writes_convert_verify_and_the_ledger(weed, prefix, tmp_path):
    ws = remote_ws(weed, str(tmp_path), f"s3://test/{prefix}", allow_writes=True)
    url = f"s3://test/{prefix}"
    saved = ws.save(np.arange(5), f"{url}/r.npy")
    assert saved.path == f"{url}/r.npy" and saved.recorded
    with pytest.raises(IOCoreError) as info:
        ws.save(np.arange(5), f"{url}/r.npy")
    assert info.value.code == "EXISTS"
    ws.save(np.arange(10.0), "loc.npy")
    ws.convert("loc.npy", f"{url}/c.h5")  # local -> remote (uploaded whole once written and hashed)
    ws.convert(f"{url}/c.h5", "back.npy", key="data")  # remote -> local, streamed
    assert np.load(tmp_path / "back.npy").tolist() == list(np.arange(10.0))
    ok = ws.verify_file(f"{url}/c.h5")
    assert ok.status == "OK" and ok.operation == "convert"
    record = ws.file_provenance(f"{url}/r.npy").records[0]
    facts = record.arguments["remote"]
    head = weed.client.head_object(Bucket="test", Key=f"{prefix}/r.npy")
    assert facts["url"] == f"{url}/r.npy" and facts["size"] == 5 * 8 + 128 and facts["etag"] == head["ETag"]
    weed.put("test", f"{prefix}/r.npy", b"changed")
    assert ws.verify_file(f"{url}/r.npy").status == "MODIFIED"
    lineage = ws.file_provenance("back.npy").records[0].inputs
    assert lineage[0].path == f"{url}/c.h5" and lineage[0].sha256 == ok.sha256
