"""A real S3 API server (SeaweedFS ``weed mini`` on 127.0.0.1, free ports, a tmp dir) for this package's tests."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.remote.weed import Weed

_COUNT = itertools.count()


@pytest.fixture(scope="session")
def weed() -> Iterator[Weed]:
    server = Weed(buckets=("test", "other"))
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())  # credentials from the standard AWS chain (the environment)
    try:
        yield server
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture()
def prefix(weed: Weed) -> str:
    """A fresh key prefix in bucket ``test`` for one test."""
    return f"t{os.getpid()}-{next(_COUNT)}"


def remote_ws(weed: Weed, *roots: str, **config: object):
    from io_core import Workspace
    from io_core.remote import RemoteConfig

    return Workspace(list(roots), remote=RemoteConfig(endpoint_url=weed.endpoint, **config))
