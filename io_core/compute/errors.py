"""The compute engine's coded failures (every one an ``IOCoreError``)."""

from __future__ import annotations

from io_core.errors import IOCoreError


class FileChangedError(IOCoreError):
    code = "FILE_CHANGED"
    default_hint = "The file was replaced or modified while it was being processed; run the call again."


class CancelledError(IOCoreError):
    code = "CANCELLED"
    default_hint = "The computation was cancelled; nothing was written."


class ClusterError(IOCoreError):
    code = "CLUSTER_UNAVAILABLE"
    default_hint = "Check --dask-scheduler (tcp://host:port) and that its workers run; or leave it unset."


class ComputeFailedError(IOCoreError):
    code = "COMPUTE_FAILED"
    default_hint = "A worker died or failed repeatedly on a block (Dask retried it); see the server log."
