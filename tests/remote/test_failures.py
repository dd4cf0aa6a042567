"""HTTP(S) roots and remote failures: coded REMOTE_ERROR or TIMEOUT within the configured time, then served again.

The HTTPS-style root is served over plain http on 127.0.0.1 by tests/remote/http_server.py (range requests,
ETags): the code path is fsspec's HTTP filesystem either way; TLS itself is not under test.
"""

from __future__ import annotations

import io
import time

import h5py
import numpy as np
import pytest

from io_core import IOCoreError, Workspace
from io_core.remote import RemoteConfig, stats
from tests.remote.conftest import remote_ws
from tests.remote.http_server import RangeServer
from tests.remote.weed import Weed


def _h5(n: int = 100_000) -> bytes:
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_dataset("x", data=np.arange(float(n)), chunks=(1000,))
    return buf.getvalue()


def _npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(12).reshape(3, 4))
    return buf.getvalue()


@pytest.fixture()
def http():
    server = RangeServer()
    server.files = {"/data/a.h5": _h5(1_000_000), "/data/a.npy": _npy(), "/secret.npy": _npy()}
    yield server
    server.stop()


def _ws(http: RangeServer, **config) -> Workspace:
    return Workspace([f"{http.url}/data"], remote=RemoteConfig(**{"timeout": 2.0, "retries": 1, **config}))


def test_an_http_root_reads_by_range(http):
    ws = _ws(http, allow_writes=True)
    assert ws.summarize("a.npy").summary.shape == [3, 4]
    with stats.counting() as c:
        got = ws.read_slice("a.h5", key="x", selection="50000:50003")
    assert got.slice.values == [50000.0, 50001.0, 50002.0]
    assert c.bytes < 1_500_000 and len(http.files["/data/a.h5"]) > 8_000_000  # ranges, not the whole object
    assert ws.roots_info().roots[0].writable is False  # http(s) roots are read-only, whatever the flag
    for raw in ("../secret.npy", f"{http.url}/secret.npy", "http://127.0.0.1:1/data/a.npy", "https" + http.url[4:] +
                "/data/a.npy", "a.npy?x=1", "%2e%2e/secret.npy"):
        with pytest.raises(IOCoreError) as info:
            ws.summarize(raw)
        assert info.value.code == "PATH_OUTSIDE_ROOT", raw
    with pytest.raises(IOCoreError) as info:
        ws.save(np.arange(3), "new.npy")
    assert info.value.code == "READ_ONLY"


def test_500s_are_remote_error_after_bounded_retries(http):
    ws = _ws(http)
    http.mode, before = "fail", http.requests
    started = time.monotonic()
    with pytest.raises(IOCoreError) as info:
        ws.summarize("a.npy")
    assert info.value.code == "REMOTE_ERROR" and "500" in str(info.value)
    assert time.monotonic() - started < 5 and http.requests - before <= 4  # 1 + 1 retry (HEAD, maybe GET)
    http.mode = "flaky"
    http.flaky = 1  # one failure is retried away
    assert ws.summarize("a.npy").summary.shape == [3, 4]


def test_slow_answers_are_timeout_within_the_configured_time(http):
    ws = _ws(http, timeout=1.0, retries=1, backoff=0.1)
    http.mode, http.delay = "slow", 5.0
    started = time.monotonic()
    with pytest.raises(IOCoreError) as info:
        ws.summarize("a.h5")
    elapsed = time.monotonic() - started
    assert info.value.code == "TIMEOUT" and elapsed < 3.5, elapsed
    http.mode = "ok"
    assert ws.summarize("a.npy").summary.shape == [3, 4]  # served again


def test_a_stopped_store_is_remote_error_and_the_workspace_keeps_serving(tmp_path):
    server = Weed()
    try:
        server.put("test", "d/a.h5", _h5(400_000))
        np.save(tmp_path / "local.npy", np.arange(3))
        with pytest.MonkeyPatch.context() as mp:
            for k, v in server.env().items():
                mp.setenv(k, v)
            ws = remote_ws(server, str(tmp_path), "s3://test/d", timeout=2.0, retries=1, backoff=0.1)
            assert ws.summarize("s3://test/d/a.h5").summary.kind == "tree"
            pin = ws.sandbox.pin("s3://test/d/a.h5")  # the object is pinned (size, ETag); then the store goes away
            server.stop()
            started = time.monotonic()
            with pytest.raises(IOCoreError) as info:
                ws.read_slice("s3://test/d/a.h5", key="x", selection="350000:350010")
            assert info.value.code == "REMOTE_ERROR" and time.monotonic() - started < 8
            with pytest.raises(IOCoreError) as info:
                pin.path.fetch(0, 10)  # mid-call: a pinned object whose store stopped
            assert info.value.code == "REMOTE_ERROR"
            assert ws.summarize("local.npy").summary.shape == [3]  # the workspace keeps serving
    finally:
        server.stop()


async def test_the_server_answers_timeout_then_keeps_serving(http, tmp_path):
    from fastmcp import Client

    from server.app import create_app
    from server.settings import Settings

    settings = Settings(roots=[f"{http.url}/data", tmp_path], remote_timeout=1.0, remote_retries=1, hdf5_workers=0)
    async with Client(create_app(settings)) as client:
        http.mode, http.delay = "slow", 4.0
        started = time.monotonic()
        slow = await client.call_tool("load_summary", {"path": "a.npy"}, raise_on_error=False)
        assert slow.is_error and slow.content[0].text.startswith("TIMEOUT:") and time.monotonic() - started < 4
        http.mode = "fail"
        broken = await client.call_tool("read_slice", {"path": "a.h5", "key": "x"}, raise_on_error=False)
        assert broken.is_error and broken.content[0].text.startswith("REMOTE_ERROR:")
        http.mode = "ok"
        ok = await client.call_tool("read_slice", {"path": "a.npy", "selection": "2"})
        assert ok.structured_content["slice"]["values"] == [8, 9, 10, 11]
