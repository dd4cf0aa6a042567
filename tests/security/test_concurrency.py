"""A slow HDF5 call must not stall the others: quick calls answer within 1 s while it runs.

Two stdio clients cannot share one server, so the calls go concurrently through one client
session (FastMCP runs sync tools in worker threads; the server must not serialize them).
The slow call is legitimate and small to ask for: one value per row of a dataset stored in
8 MiB gzip chunks, so HDF5 inflates every chunk inside a single read (several seconds,
during which h5py holds its global lock).
"""

from __future__ import annotations

import time
import zlib

import pytest

from tests.security import builders as b

ROWS = 300
ROW = 2**20  # float64 values per row: one 8 MiB chunk each
QUICK_LIMIT = 1.0


@pytest.fixture(scope="module")
def files(world):
    d = world.root / "concurrency"
    d.mkdir(exist_ok=True)
    chunk = zlib.compress(bytes(ROW * 8), 6)

    def slow(f):
        ds = f.create_dataset("x", shape=(ROWS, ROW), chunks=(1, ROW), dtype="f8", compression="gzip")
        for i in range(ROWS):
            ds.id.write_direct_chunk((i, 0), chunk)

    b.h5file(d / "slow.h5", slow)
    b.h5file(d / "small.h5", lambda f: f.create_dataset("y", data=list(range(10))))
    return "concurrency"


QUICK = [
    ("list_roots", lambda rel: {}),
    ("explore_h5", lambda rel: {"path": f"{rel}/small.h5"}),
    ("load_summary", lambda rel: {"path": f"{rel}/small.h5", "key": "y"}),
    ("read_slice", lambda rel: {"path": f"{rel}/small.h5", "key": "y"}),
]


def test_quick_calls_answer_while_a_slow_hdf5_call_runs(server, files):
    slow = server.submit("read_slice", {"path": f"{files}/slow.h5", "key": "x", "selection": "[:, 0]"})
    time.sleep(0.5)  # the slow read is inside HDF5 now
    quick = [(tool, server.call(tool, args(files), timeout=30)) for tool, args in QUICK]
    slow_still_running = not slow.done()
    slow_resp = slow.result()
    assert slow_resp.code not in {"INTERNAL_ERROR", "UNCODED_ERROR", "CLIENT_TIMEOUT", "SERVER_DIED"}, slow_resp.short()
    late = [f"{tool}: {r.short(100)}" for tool, r in quick if r.code != "OK" or r.elapsed >= QUICK_LIMIT]
    assert not late, f"while a slow HDF5 read ran ({slow_resp.short(80)}), quick calls were late or failed: {late}"
    assert slow_still_running, (
        f"the slow call was not slow ({slow_resp.short()}): this test needs another legitimate slow HDF5 call")
