"""Server settings: command-line flags over ``SCIIO_*`` environment variables over defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCIIO_", extra="ignore")

    roots: list[Path] = Field(default_factory=lambda: [Path.cwd()], description="allowed roots; the first is the base of relative paths")
    read_only: bool = False
    allow_pickle: bool = False
    max_response_bytes: int = Field(default=32768, ge=1024)
    log_level: str = "WARNING"
