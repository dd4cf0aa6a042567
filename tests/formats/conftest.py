"""Fixtures shared by the format tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from io_core import Workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    """A workspace rooted at the test's temporary directory."""
    return Workspace([tmp_path])
