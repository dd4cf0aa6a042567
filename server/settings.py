"""Server settings: command-line flags over ``SCIIO_*`` environment variables over defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCIIO_", extra="ignore")

    roots: list[str | Path] = Field(default_factory=lambda: [Path.cwd()], description="allowed roots (folders, s3://bucket/prefix, https://host/prefix); the first is the base of relative paths")
    s3_endpoint_url: str | None = None  # S3-compatible services (SeaweedFS, MinIO); credentials: the AWS chain
    allow_remote_writes: bool = False  # remote roots are read-only unless this is set
    remote_timeout: float = Field(default=20.0, gt=0, description="seconds one object-store request may take")
    remote_retries: int = Field(default=2, ge=0, le=10, description="retries of a failed object-store request (back-off)")
    remote_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0, description="range-cache bound for remote objects")
    remote_fetch_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0,
                                        description="largest remote object copied privately for formats not read by range")
    read_only: bool = False
    allow_pickle: bool = False
    max_response_bytes: int = Field(default=32768, ge=1024)
    log_level: str = "WARNING"
    cache_bytes: int = Field(default=512 * 1024 * 1024, ge=0, description="load-cache bound in bytes; 0 turns it off")
    max_write_bytes: int = Field(default=1024**3, ge=0, description="largest file one save/convert writes (SCIIO_MAX_WRITE_BYTES: bytes or 512MiB, 2GB)")
    hdf5_workers: int = Field(default=2, ge=0, le=64, description="processes for HDF5-family reads; 0 = in-process")
    # -- compute engine (io_core.compute): exact stats and conversions, in-process or on Dask --------
    dask_scheduler: str | None = None  # SCIIO_DASK_SCHEDULER: tcp://host:port of an existing cluster
    dask_workers: int | None = Field(default=None, ge=1, le=1024, description="LocalCluster workers; default: cores")
    dask_threads: int | None = Field(default=None, ge=1, le=256, description="threads per LocalCluster worker [1]")
    dask_memory_limit: int | None = Field(default=None, ge=0, description="bytes per LocalCluster worker")
    dask_min_bytes: int = Field(default=256 * 1024**2, ge=0, description="smaller inputs are computed in-process")

    # -- HTTP transport (sciio-mcp --http); see server/auth.py for the token formats --------
    http_host: str = "127.0.0.1"  # SCIIO_HTTP_HOST (not SCIIO_HOST/PORT: Kubernetes sets <SERVICE>_PORT itself)
    http_port: int = Field(default=8000, ge=0, le=65535)
    log_format: Literal["text", "json"] | None = Field(default=None, description="default: json over HTTP, text over stdio")
    token_file: Path | None = None
    tokens: SecretStr | None = None  # SCIIO_TOKENS: same syntax as the token file, entries per line or comma
    jwt_secret: SecretStr | None = None  # SCIIO_JWT_SECRET (HS256); or jwt_secret_file
    jwt_secret_file: Path | None = None
    jwt_public_key_file: Path | None = None  # PEM (RS256)
    jwt_algorithm: str | None = None  # default: HS256 with a secret, RS256 with a public key
    jwt_issuer: str | None = None
    jwt_audience: str | None = None  # required with JWT; comma-separated to accept several
    allow_jwt_without_exp: bool = False  # SCIIO_ALLOW_JWT_WITHOUT_EXP: accept JWTs that never expire
    auth_fail_limit: int = Field(default=20, ge=0, description="failed bearer attempts per address per window; 0 = off")
    auth_fail_window: float = Field(default=60.0, gt=0, description="seconds over which failed bearer attempts count")
    insecure_no_auth: bool = False  # allow serving a non-loopback address without auth
    call_timeout: float = Field(default=120.0, gt=0, description="seconds a tool call may run")
    max_request_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    rate_limit: float = Field(default=20.0, ge=0, description="tool calls per second per client; 0 turns it off")
    rate_burst: int | None = Field(default=None, ge=1, description="bucket size; default twice the rate")

    @field_validator("roots", mode="after")
    @classmethod
    def _roots(cls, value: list) -> list:
        from io_core.remote.roots import parse_root

        return [r if isinstance(r, str) and parse_root(r) else Path(r) for r in value]  # a bad URL: ValueError

    def local_roots(self) -> list[Path]:
        return [r for r in self.roots if isinstance(r, Path)]

    def remote_config(self):  # -> io_core.remote.RemoteConfig | None
        """How remote roots are reached (None without remote roots)."""
        if len(self.local_roots()) == len(self.roots):
            return None
        from io_core.remote.roots import RemoteConfig

        return RemoteConfig(endpoint_url=self.s3_endpoint_url, allow_writes=self.allow_remote_writes,
                            timeout=self.remote_timeout, retries=self.remote_retries,
                            cache_bytes=self.remote_cache_bytes, fetch_max_bytes=self.remote_fetch_max_bytes)

    @field_validator("remote_cache_bytes", "remote_fetch_max_bytes", mode="before")
    @classmethod
    def _remote_bytes(cls, value: object) -> object:
        from io_core.limits import parse_bytes

        return parse_bytes(value) if isinstance(value, str) else value

    @field_validator("max_write_bytes", "dask_memory_limit", "dask_min_bytes", mode="before")
    @classmethod
    def _byte_size(cls, value: object) -> object:
        from io_core.limits import parse_bytes

        return parse_bytes(value) if isinstance(value, str) else value

    def workspace_factory(self):  # -> functools.partial building an io_core Workspace
        """A picklable maker of the Workspace these settings describe: the server's (and its HDF5 workers') and
        the ``sciio`` command's, so both work on the same sandbox with the same permissions and limits."""
        import functools

        from io_core.workspace import Workspace

        return functools.partial(Workspace, self.roots, read_only=self.read_only, allow_pickle=self.allow_pickle,
                                 cache_bytes=self.cache_bytes, limits=self.limits(), remote=self.remote_config())

    def cluster_config(self):  # -> io_core.compute.executors.ClusterConfig
        """Where exact stats and conversions run (io_core.compute; Dask is imported on first use only)."""
        from io_core.compute.executors import ClusterConfig

        return ClusterConfig(address=self.dask_scheduler, workers=self.dask_workers, threads=self.dask_threads,
                             memory_limit=self.dask_memory_limit, min_bytes=self.dask_min_bytes)

    def limits(self):  # -> io_core.limits.Limits
        """The io_core resource limits these settings ask for (the rest stay at their defaults)."""
        from io_core.limits import current

        return current().with_overrides(max_write_bytes=self.max_write_bytes)
