"""A two-process LocalCluster on 127.0.0.1 (one per module that asks), and small data made in tmp_path."""

from __future__ import annotations

import logging

import pytest

from io_core.compute.engine import Engine
from io_core.compute.executors import ClusterConfig


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, memory_limit="1GiB", silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture(scope="module")
def engine(cluster):
    eng = Engine(ClusterConfig(address=cluster.scheduler_address))
    yield eng
    eng.close()


@pytest.fixture
def local_engine():
    return Engine(ClusterConfig(min_bytes=1 << 62))  # never Dask
