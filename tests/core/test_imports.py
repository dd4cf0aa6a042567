"""`import io_core, server, schemas` stays cheap: heavy libraries load on first use only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("pandas", "h5py", "zarr", "mne", "scipy", "pyarrow")

_PROBE = """
import json, sys
import io_core, server, schemas
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def _loaded_after(code: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_importing_the_packages_loads_no_heavy_library():
    assert _loaded_after(_PROBE.format(heavy=HEAVY)) == []


def test_using_a_format_loads_its_library_lazily(tmp_path):
    """The probe is able to see a heavy import: saving a CSV does pull in pandas."""
    code = (
        "import json, sys, io_core\n"
        f"io_core.save({{'a': [1]}}, {str(tmp_path / 'x.csv')!r})\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    loaded = _loaded_after(code)
    assert "pandas" in loaded
    assert "h5py" not in loaded  # only the library of the format used
