"""The compute engine's front: pick an executor, describe the source, run exact stats or a conversion.

``Engine(config)`` is made once per server (or script). ``executor(nbytes, engine)`` is the
in-process one unless Dask is asked for (``engine="dask"``), a scheduler address is configured,
or the input is at least ``config.min_bytes`` and Dask is installed (``engine="auto"``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from typing import Any

from io_core.compute.executors import Cluster, ClusterConfig, Dask, InProcess
from io_core.errors import InvalidArgumentError

ENGINES = ("auto", "local", "dask")


def dask_installed() -> bool:
    return importlib.util.find_spec("distributed") is not None


class Engine:
    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        self.cluster = Cluster(self.config)

    def executor(self, nbytes: int, engine: str = "auto") -> Any:
        if engine not in ENGINES:
            raise InvalidArgumentError(f"engine must be one of {ENGINES}, not {engine!r}")
        if engine == "local":
            return InProcess()
        wanted = engine == "dask" or self.config.address or nbytes >= self.config.min_bytes
        if wanted and (engine == "dask" or dask_installed()):
            return Dask(self.cluster.client())
        return InProcess()

    def stats(self, ws: Any, path: str | os.PathLike[str], key: str | None = None, *,
              quantiles: Sequence[float] = (), bins: int | None = None, format: str | None = None,
              engine: str = "auto", progress: Callable[[int, int, int, str], None] | None = None,
              cancelled: Callable[[], bool] = lambda: False) -> tuple[dict[str, Any], Any, Any]:
        """Exact statistics of one array (``io_core.compute.exact``): (values, report, source)."""
        from io_core.compute import exact
        from io_core.compute.source import describe

        for q in quantiles:
            if not 0.0 <= float(q) <= 1.0:
                raise InvalidArgumentError(f"quantile {q} is outside [0, 1]")
        if bins is not None and not 1 <= int(bins) <= 100_000:
            raise InvalidArgumentError("bins must be 1..100000")
        src = describe(ws, path, key, format)
        values, report = exact.exact_stats(self.executor(src.nbytes, engine), src, quantiles=quantiles, bins=bins,
                                           progress=progress, cancelled=cancelled)
        return values, report, src

    def close(self) -> None:
        self.cluster.close()
