"""A default-layout HDF5 file (v1 B-tree chunk index) read from S3: a row across many chunks costs few requests."""

from __future__ import annotations

import numpy as np

from tests.remote.conftest import remote_ws

SHAPE, CHUNKS = (2048, 1024), (64, 64)  # 512 chunks of 32 KiB: a two-level index, nodes spread through the file


def _upload(weed, prefix, tmp_path):
    import h5py

    path = tmp_path / "big.h5"
    with h5py.File(path, "w") as f:  # h5py defaults: v1 B-tree chunk index
        ds = f.create_dataset("data", shape=SHAPE, dtype="f8", chunks=CHUNKS)
        for i in range(0, SHAPE[0], 256):
            ds[i : i + 256] = np.arange(i * SHAPE[1], (i + 256) * SHAPE[1], dtype="f8").reshape(256, SHAPE[1])
    weed.upload(str(path), "test", f"{prefix}/big.h5")


def test_row_across_chunks_of_a_v1_btree_file_is_one_data_request(weed, prefix, tmp_path):
    from io_core.remote import stats
    from io_core.remote.ranges import clear

    _upload(weed, prefix, tmp_path)
    ws = remote_ws(weed, f"s3://test/{prefix}")
    clear()
    with stats.counting() as c:
        out = ws.read_slice("big.h5", key="data", selection="1100, 64:512")
    assert out.slice.values == [float(1100 * SHAPE[1] + j) for j in range(64, 512)]
    # pin (head, index root) + the leaf listing the 7 chunks + the chunks, merged: one chunk per request was 5
    assert c.requests <= 3, c.requests


def test_an_expected_read_brings_what_follows_it_in_the_same_request(weed, prefix, tmp_path):
    from io_core.remote import stats
    from io_core.remote.ranges import RemoteFile, clear

    (tmp_path / "blob.bin").write_bytes(bytes(range(256)) * 16384)  # 4 MiB
    weed.upload(str(tmp_path / "blob.bin"), "test", f"{prefix}/blob.bin")
    ws = remote_ws(weed, f"s3://test/{prefix}")
    path = ws.sandbox.resolve("blob.bin")
    clear()
    c = stats.Counter()
    fh = RemoteFile(path, c)
    fh.expect(3 << 20, 512 << 10)  # a node read at 3 MiB, the 512 KiB after it wanted next
    with fh:
        assert fh.read_range(3 << 20, (3 << 20) + 100) == bytes(range(100))
        assert fh.read_range((3 << 20) + (400 << 10), (3 << 20) + (400 << 10) + 4) == bytes(range(4))
    assert c.requests == 1, c.requests
