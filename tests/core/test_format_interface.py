"""One format interface (issue 12): rows declare what handlers implement; central code names no format."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from io_core.formats.base import CAPABILITIES, QUESTIONS, Format, overridden, supports
from io_core.registry import REGISTRY, FormatSpec, Registry

IO_CORE = Path(__file__).resolve().parents[2] / "io_core"
CENTRAL = ("workspace.py", "convert.py", "summary.py", "dispatch.py")


def _row_errors(spec: FormatSpec, handler: object) -> list[str]:
    """What a row claims that its handler lacks, and what the handler has that the row hides."""
    errors = []
    if not isinstance(handler, Format):
        errors.append(f"{spec.name}: handler is not a Format")
    have, claimed = set(overridden(handler)), set(spec.capabilities)
    errors += [f"{spec.name}: claims {c} but does not implement it" for c in sorted(claimed - have)]
    errors += [f"{spec.name}: implements {c} but does not declare it" for c in sorted(have - claimed)]
    errors += [f"{spec.name}: unknown capability {c}" for c in sorted(claimed - set(CAPABILITIES + QUESTIONS))]
    return errors


@pytest.mark.parametrize("name", sorted(REGISTRY.specs))
def test_each_row_declares_exactly_what_its_handler_implements(name):
    spec = REGISTRY.spec(name)
    handler = REGISTRY.handler(spec)  # handler modules import their library on first use: torch need not be here
    assert _row_errors(spec, handler) == []


def test_a_row_that_overclaims_or_hides_is_caught():
    """The check itself can fail, both ways: a claim without a method, a method without a claim."""
    spec = REGISTRY.spec("npz")
    handler = REGISTRY.handler(spec)
    missing = next(c for c in CAPABILITIES if c not in spec.capabilities)
    over = FormatSpec("x", (".x",), spec.handler, "arrays", capabilities=(*spec.capabilities, missing))
    assert _row_errors(over, handler) == [f"x: claims {missing} but does not implement it"]
    hidden = spec.capabilities[0]
    under = FormatSpec("x", (".x",), spec.handler, "arrays", capabilities=spec.capabilities[1:])
    assert _row_errors(under, handler) == [f"x: implements {hidden} but does not declare it"]


def test_defaults_refuse_with_a_code_and_key_exists_is_built_on_explore(tmp_path):
    class Bare(Format):
        name = "bare"

    with pytest.raises(Exception) as err:
        Bare().load(tmp_path / "f", None)
    assert err.value.code == "UNSUPPORTED_OPERATION" and "bare" in str(err.value)
    assert overridden(Bare()) == frozenset() and not supports(Bare(), "open_array")
    with pytest.raises(ValueError):
        supports(Bare(), "fly")


def test_entry_point_style_plugins_match_too():
    """A plugin's handler object (not a Format) is described by what it has; its spec says the same."""

    class Plugin:
        def load(self, path, opts):
            return 1

        def summarize(self, path, opts):
            return None

    reg = Registry(specs=())
    reg._add_plugin_spec(FormatSpec("plug", (".plug",), Plugin(), "user", capabilities="load summarize"))
    spec = reg.spec("plug")
    assert set(spec.capabilities) == set(overridden(reg.handler(spec))) == {"load", "summarize"}
    assert spec.can_load and not spec.can_save


def _names_and_probes(path: Path) -> tuple[list[str], list[str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    formats = set(REGISTRY.specs) - {"text"}  # "text" is also an ordinary word/kind
    literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                and n.value in formats]
    probes = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Call)
              and getattr(n.func, "id", None) == "hasattr" and n.args
              and re.search(r"handler|fmt|spec|choice", ast.unparse(n.args[0]))]
    return literals, probes


@pytest.mark.parametrize("module", CENTRAL)
def test_central_code_names_no_format_and_probes_no_handler(module):
    literals, probes = _names_and_probes(IO_CORE / module)
    assert literals == [] and probes == []


def test_the_probe_finder_finds_planted_names(tmp_path):
    planted = tmp_path / "x.py"
    planted.write_text('if choice.name == "hdf5" and hasattr(handler, "open_array"):\n    pass\n')
    literals, probes = _names_and_probes(planted)
    assert literals == ["hdf5"] and len(probes) == 1


def test_list_formats_advertises_capabilities():
    infos = {i.name: i for i in REGISTRY.list_formats()}
    assert {"load", "save", "summarize", "slice", "preview", "stream", "explore"} <= set(infos["hdf5"].operations)
    assert {"pages", "stream", "preview"} <= set(infos["csv"].operations)
    assert infos["png"].operations[-2:] == ["preview", "metadata"]
    assert infos["pdf"].operations == ["load", "summarize", "pages", "preview", "metadata"]
    assert "save" not in infos["zarr"].operations and "multi_file" in infos["brainvision"].operations
