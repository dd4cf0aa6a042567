"""Third-party formats through the ``sciio.formats`` entry-point group, read lazily.

A temporary ``*.dist-info`` with an ``entry_points.txt`` on sys.path stands in for an
installed package (importlib.metadata finds it exactly as it finds a pip-installed one).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from io_core import IOCoreError, Workspace
from io_core.registry import BUILTIN_FORMATS, ENTRY_POINT_GROUP, Registry

REPO = Path(__file__).resolve().parents[2]

PLUGIN = '''
"""A demo plugin: a spec with a handler object, a duck-typed spec, and a registering function."""
from pathlib import Path
from types import SimpleNamespace

from io_core.registry import FormatSpec
from schemas import TextSummary


class Upper:
    def load(self, path, opts):
        return Path(path).read_text(encoding="utf-8").upper()

    def save(self, data, path, opts):
        Path(path).write_text(str(data), encoding="utf-8")

    def summarize(self, path, opts):
        text = self.load(path, opts)
        return TextSummary(encoding="utf-8", n_chars=len(text), n_lines=text.count("\\n"), head=text[:50])


SPEC = FormatSpec("demo", (".demo", "DEMO2"), Upper(), "text", magic=(b"DEMO!",))
DUCK = SimpleNamespace(name="duck", extensions=(".duck",), handler="sciio_demo_plugin:HANDLER", kind="text",
                       can_save=False)
HANDLER = Upper()


def register(registry):
    registry.register_loader(".fn", lambda path: {"from": "function", "size": Path(path).stat().st_size})
    return [DUCK]


NOT_A_FORMAT = 42
CLASH = FormatSpec("npy", (".npy2",), Upper(), "text")
'''

ENTRY_POINTS = f"""
[{ENTRY_POINT_GROUP}]
demo = sciio_demo_plugin:SPEC
functions = sciio_demo_plugin:register
missing = sciio_demo_plugin:does_not_exist
wrong_type = sciio_demo_plugin:NOT_A_FORMAT
clash = sciio_demo_plugin:CLASH
"""


@pytest.fixture()
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sciio_demo_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "sciio_demo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: sciio-demo-plugin\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "sciio_demo_plugin", raising=False)
    return site


def test_entry_point_formats_load_save_summarize_and_list(plugin_path, tmp_path):
    reg = Registry(BUILTIN_FORMATS, entry_points=ENTRY_POINT_GROUP)
    ws = Workspace([tmp_path], registry=reg)
    assert ws.save("hello plugin", "a.demo").format == "demo"
    assert ws.load("a.demo") == "HELLO PLUGIN"
    summary = ws.summarize("a.demo")
    assert summary.format == "demo" and summary.summary.head == "HELLO PLUGIN"
    assert ws.read_slice("a.demo").slice.lines == ["hello plugin"]  # a "text" kind: the file's own lines
    (tmp_path / "b.demo2").write_text("x", encoding="utf-8")
    assert ws.load("b.demo2") == "X"  # extensions are normalised: "DEMO2" -> ".demo2"
    (tmp_path / "mystery").write_bytes(b"DEMO! by magic")
    assert ws.load("mystery") == "DEMO! BY MAGIC"
    # the registering function: a loader and a duck-typed spec (dotted handler, load-only)
    (tmp_path / "c.fn").write_bytes(b"12345")
    assert ws.load("c.fn") == {"from": "function", "size": 5}
    (tmp_path / "d.duck").write_text("quack", encoding="utf-8")
    assert ws.load("d.duck") == "QUACK"
    with pytest.raises(IOCoreError) as info:
        ws.save("x", "e.duck")
    assert info.value.code in ("UNSUPPORTED_OPERATION", "FORMAT_UNKNOWN")
    infos = {i.name: i for i in reg.list_formats()}
    assert infos["demo"].extensions == [".demo", ".demo2"] and infos["demo"].available
    assert infos["duck"].operations == ["load", "summarize"]
    assert infos["user.fn"].operations == ["load", "summarize"]
    # broken plugins are skipped and reported; none can replace a built-in
    assert set(reg.plugin_errors) == {"missing", "wrong_type", "clash"}
    assert "built-in" in reg.plugin_errors["clash"]
    assert reg.spec("npy").handler == "io_core.formats.numpy_files:NPY"


def test_registries_without_the_group_do_not_read_entry_points(plugin_path):
    reg = Registry(BUILTIN_FORMATS)
    assert reg.spec("demo") is None and "sciio_demo_plugin" not in sys.modules


_PROBE = """
import json, sys
import io_core
before = "sciio_demo_plugin" in sys.modules
value = io_core.load(sys.argv[1])
print(json.dumps({"before": before, "after": "sciio_demo_plugin" in sys.modules, "value": value,
                  "formats": [f.name for f in io_core.list_formats() if f.name in ("demo", "duck")]}))
"""


def test_the_global_registry_reads_plugins_lazily_in_a_fresh_process(plugin_path, tmp_path):
    (tmp_path / "x.demo").write_text("lazy", encoding="utf-8")
    env = {"PYTHONPATH": f"{plugin_path}{':' + str(REPO)}", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "x.demo")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out == {"before": False, "after": True, "value": "LAZY", "formats": ["demo", "duck"]}
    assert "failed to load" in proc.stderr  # the broken entry points are logged to stderr, not stdout
