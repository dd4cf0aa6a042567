"""The registry: user plugins, built-ins, extension matching, sniffing and honest listings."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import io_core
from io_core import IOCoreError, Workspace
from io_core.registry import BUILTIN_FORMATS, REGISTRY, FormatSpec, Registry, candidate_extensions


@pytest.fixture()
def cleanup():
    """Extensions a test registered in the global registry; removed afterwards."""
    exts: list[str] = []
    yield exts
    for ext in exts:
        io_core.unregister_loader(ext)
        io_core.unregister_saver(ext)


def _code(fn, *args, **kwargs) -> str:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    return info.value.code


# -- registration ------------------------------------------------------------------------------

def test_register_as_decorator_and_direct_call(tmp_path, cleanup):
    cleanup += [".deco", ".direct"]

    @io_core.register_loader(".deco")
    def load_deco(path):
        return "deco:" + Path(path).read_text(encoding="utf-8")

    @io_core.register_saver(".deco")
    def save_deco(data, path):
        Path(path).write_text(data.upper(), encoding="utf-8")

    assert load_deco.__name__ == "load_deco"  # the decorator hands the function back
    direct_loader = lambda path: "direct"
    assert io_core.register_loader("direct", direct_loader) is direct_loader  # dot is optional

    ws = Workspace([tmp_path])
    res = ws.save("hello", "a.deco")
    assert res.format == "user.deco"
    assert (tmp_path / "a.deco").read_text(encoding="utf-8") == "HELLO"
    assert ws.load("a.deco") == "deco:HELLO"
    (tmp_path / "b.direct").write_text("x", encoding="utf-8")
    assert ws.load("b.direct") == "direct"
    summary = ws.summarize("a.deco")
    assert summary.format == "user.deco"
    assert summary.summary.kind == "text" and summary.summary.head == "deco:HELLO"


def test_register_rejects_non_callables():
    with pytest.raises(TypeError):
        io_core.register_loader(".nope", 42)
    assert ".nope" not in REGISTRY.user_formats


def test_unregister_returns_true_then_false(cleanup):
    cleanup.append(".unreg")
    io_core.register_loader(".unreg", lambda p: 1)
    io_core.register_saver(".unreg", lambda d, p: None)
    assert io_core.unregister_loader(".unreg") is True
    assert io_core.unregister_loader(".unreg") is False
    assert ".unreg" in REGISTRY.user_formats  # the saver is still there
    assert io_core.unregister_saver(".UNREG") is True  # case-insensitive
    assert io_core.unregister_saver(".unreg") is False
    assert ".unreg" not in REGISTRY.user_formats
    assert io_core.unregister_loader(".never-registered") is False


def test_user_loader_wins_over_builtin_and_unregister_restores_it(tmp_path, cleanup):
    cleanup.append(".csv")
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n", encoding="utf-8")
    ws = Workspace([tmp_path])
    io_core.register_loader(".csv", lambda path: {"mine": True})
    assert ws.load("t.csv") == {"mine": True}
    assert ws.summarize("t.csv").format == "user.csv"
    assert io_core.unregister_loader(".csv") is True
    df = ws.load("t.csv")
    assert isinstance(df, pd.DataFrame)
    assert df.to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    assert ws.summarize("t.csv").format == "csv"


def test_user_saver_wins_over_builtin(tmp_path, cleanup):
    cleanup.append(".json")
    io_core.register_saver(".json", lambda data, path: Path(path).write_text("custom", encoding="utf-8"))
    ws = Workspace([tmp_path])
    assert ws.save({"a": 1}, "x.json").format == "user.json"
    assert (tmp_path / "x.json").read_text(encoding="utf-8") == "custom"
    io_core.unregister_saver(".json")
    ws.save({"a": 1}, "x.json", overwrite=True)
    assert json.loads((tmp_path / "x.json").read_text(encoding="utf-8")) == {"a": 1}


def test_get_loader_and_get_saver(tmp_path, cleanup):
    np.save(tmp_path / "x.npy", np.arange(4))
    np.testing.assert_array_equal(io_core.get_loader(".npy")(tmp_path / "x.npy"), np.arange(4))
    io_core.get_saver("npy")([1, 2], tmp_path / "y.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), [1, 2])
    assert io_core.get_loader(".no-such-ext") is None
    assert io_core.get_saver(".no-such-ext") is None

    cleanup.append(".npy")
    mine = lambda path: "user"
    io_core.register_loader(".npy", mine)
    assert io_core.get_loader(".NPY") is mine
    assert io_core.get_saver(".npy") is not None  # the built-in saver is still there
    io_core.unregister_loader(".npy")
    assert io_core.get_loader(".npy") is not mine


# -- extension matching ----------------------------------------------------------------------------

def test_candidate_extensions():
    assert candidate_extensions("a/b/x.nii.gz") == [".nii.gz", ".gz"]
    assert candidate_extensions("X.CSV") == [".csv"]
    assert candidate_extensions("noext") == []
    assert candidate_extensions(".bashrc") == []
    assert candidate_extensions("dir.d/file") == []


@pytest.mark.parametrize(
    ("name", "fmt", "data", "check"),
    [
        ("UP.NPY", "npy", np.arange(6).reshape(2, 3),
         lambda v: np.testing.assert_array_equal(v, np.arange(6).reshape(2, 3))),
        ("UP.H5", "hdf5", {"g": {"x": [1, 2]}}, lambda v: np.testing.assert_array_equal(v["g"]["x"], [1, 2])),
        ("UP.Hdf5", "hdf5", {"x": [1.5]}, lambda v: np.testing.assert_array_equal(v["x"], [1.5])),
        ("UP.CSV", "csv", {"a": [1, 2]}, lambda v: v["a"].tolist() == [1, 2] or pytest.fail(str(v))),
        ("Up.Json", "json", {"k": "v"}, lambda v: v == {"k": "v"} or pytest.fail(str(v))),
        ("UP.TXT", "text", "héllo", lambda v: v == "héllo" or pytest.fail(v)),
    ],
)
def test_extensions_are_case_insensitive(tmp_path, name, fmt, data, check):
    ws = Workspace([tmp_path])
    assert ws.save(data, name).format == fmt
    assert [p.name for p in tmp_path.iterdir() if p.name != ".sciio"] == [name]  # the name is kept as given (.sciio: the ledger)
    check(ws.load(name))
    assert ws.summarize(name).format == fmt


def test_user_compound_suffix(tmp_path, cleanup):
    cleanup.append(".foo.gz")

    @io_core.register_saver(".foo.gz")
    def save_foo(data, path):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(data)

    @io_core.register_loader(".FOO.GZ")
    def load_foo(path):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return "foo:" + fh.read()

    ws = Workspace([tmp_path])
    assert ws.save("payload", "x.foo.gz").format == "user.foo.gz"
    assert (tmp_path / "x.foo.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert ws.load("x.foo.gz") == "foo:payload"
    (tmp_path / "Y.FOO.GZ").write_bytes((tmp_path / "x.foo.gz").read_bytes())
    assert ws.load("Y.FOO.GZ") == "foo:payload"
    # a plain .gz is not a .foo.gz
    (tmp_path / "x.gz").write_bytes((tmp_path / "x.foo.gz").read_bytes())
    assert _code(ws.load, "x.gz") == "FORMAT_UNKNOWN"
    assert _code(ws.save, "payload", "y.gz") == "FORMAT_UNKNOWN"
    # nor is bar.foo (the compound suffix has to be the whole tail)
    (tmp_path / "x.foo.gz.bak").write_bytes(b"zz")
    assert _code(ws.load, "x.foo.gz.bak") == "FORMAT_UNKNOWN"


def test_builtin_csv_gz_is_compressed(tmp_path):
    ws = Workspace([tmp_path])
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    res = ws.save(df, "t.csv.gz")
    assert res.format == "csv"
    raw = (tmp_path / "t.csv.gz").read_bytes()
    assert raw[:2] == b"\x1f\x8b"  # gzip, not plain text
    assert gzip.decompress(raw).decode().splitlines()[0] == "a,b"
    back = ws.load("t.csv.gz")
    assert back["a"].tolist() == [1, 2, 3] and back["b"].tolist() == ["x", "y", "z"]
    s = ws.summarize("t.csv.gz").summary
    assert s.kind == "frame" and s.n_rows == 3 and [c.name for c in s.columns] == ["a", "b"]
    ws.save({"a": [1]}, "t.tsv.gz")
    assert (tmp_path / "t.tsv.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert ws.load("t.tsv.gz")["a"].tolist() == [1]


# -- explicit format and sniffing ---------------------------------------------------------------

def test_explicit_format_for_file_without_extension(tmp_path):
    ws = Workspace([tmp_path])
    ws.save(np.arange(5, dtype=np.int16), "blob", format="npy")
    assert (tmp_path / "blob").read_bytes()[:6] == b"\x93NUMPY"
    out = ws.load("blob", format="npy")
    assert out.dtype == np.int16 and out.tolist() == [0, 1, 2, 3, 4]
    assert ws.load("blob", format=".npy").tolist() == [0, 1, 2, 3, 4]  # an extension works as a name
    (tmp_path / "doc").write_text('{"a": 1}', encoding="utf-8")
    assert ws.load("doc", format="json") == {"a": 1}
    assert _code(ws.load, "doc") == "FORMAT_UNKNOWN"  # JSON has no magic bytes
    assert _code(ws.load, "doc", format="no-such-format") == "FORMAT_UNKNOWN"


@pytest.mark.parametrize(
    ("fmt", "data", "kind"),
    [
        ("npy", np.arange(12.0).reshape(3, 4), "array"),
        ("hdf5", {"x": np.arange(3)}, "tree"),
        ("parquet", pd.DataFrame({"a": [1, 2]}), "frame"),
    ],
)
def test_magic_bytes_sniffing_without_extension(tmp_path, fmt, data, kind):
    ws = Workspace([tmp_path])
    ws.save(data, "mystery", format=fmt)
    loaded = ws.load("mystery")  # no format=, no extension
    if fmt == "npy":
        np.testing.assert_array_equal(loaded, data)
    elif fmt == "hdf5":
        np.testing.assert_array_equal(loaded["x"], data["x"])
    else:
        pd.testing.assert_frame_equal(loaded, data)
    summary = ws.summarize("mystery")
    assert summary.format == fmt
    assert summary.summary.kind == kind


def test_unknown_extension(tmp_path):
    (tmp_path / "x.weird").write_bytes(b"hello")
    ws = Workspace([tmp_path])
    with pytest.raises(IOCoreError) as info:
        ws.load("x.weird")
    assert info.value.code == "FORMAT_UNKNOWN"
    assert "format=" in info.value.hint
    assert _code(ws.summarize, "x.weird") == "FORMAT_UNKNOWN"
    assert _code(ws.save, "x", "y.weird") == "FORMAT_UNKNOWN"
    assert not (tmp_path / "y.weird").exists()


# -- listing honesty ----------------------------------------------------------------------------

_FAKE = FormatSpec(
    "fakefmt", (".fake",), "definitely_not_installed_mod.handlers:FAKE", "array",
    requires=("definitely_not_installed_mod",), install="pip install definitely-not-installed",
)


def test_list_formats_reports_missing_dependency():
    reg = Registry(BUILTIN_FORMATS + (_FAKE,))
    infos = {i.name: i for i in reg.list_formats()}
    assert infos["fakefmt"].available is False
    assert infos["fakefmt"].install_hint == "pip install definitely-not-installed"
    assert infos["fakefmt"].extensions == [".fake"]
    for name in ("npy", "npz", "csv", "tsv", "parquet", "json", "yaml", "text", "hdf5"):
        assert infos[name].available is True and infos[name].install_hint == ""
        assert infos[name].operations[:3] == ["load", "save", "summarize"]  # then slice, pages, ... as declared


def test_module_list_formats_lists_every_builtin_and_user_plugins(cleanup):
    cleanup.append(".lst")
    io_core.register_loader(".lst", lambda p: None)
    infos = io_core.list_formats()
    names = [i.name for i in infos]
    assert {s.name for s in BUILTIN_FORMATS} <= set(names)
    user = next(i for i in infos if i.name == "user.lst")
    assert user.kind == "user" and user.available is True
    assert user.operations == ["load", "summarize"]  # a loader only: no save


def test_missing_dependency_on_load_and_save(tmp_path):
    reg = Registry(BUILTIN_FORMATS + (_FAKE,))
    (tmp_path / "x.fake").write_bytes(b"whatever")
    ws = Workspace([tmp_path], registry=reg)
    with pytest.raises(IOCoreError) as info:
        ws.load("x.fake")
    assert info.value.code == "MISSING_DEPENDENCY"
    assert "pip install definitely-not-installed" in info.value.hint
    assert _code(ws.summarize, "x.fake") == "MISSING_DEPENDENCY"
    assert _code(ws.save, [1], "y.fake") == "MISSING_DEPENDENCY"
    # named explicitly, the import itself fails and is reported the same way
    assert _code(ws.load, "x.fake", format="fakefmt") == "MISSING_DEPENDENCY"
    assert not (tmp_path / "y.fake").exists()


def test_a_private_registry_does_not_leak_into_the_global_one():
    reg = Registry(BUILTIN_FORMATS + (_FAKE,))
    reg.register_loader(".private", lambda p: 1)
    assert "fakefmt" not in REGISTRY.specs
    assert ".private" not in REGISTRY.user_formats


def test_public_views_are_read_only(cleanup):
    cleanup.append(".ro")
    io_core.register_loader(".ro", lambda p: 1)
    with pytest.raises(TypeError):
        REGISTRY.specs["evil"] = _FAKE  # type: ignore[index]
    with pytest.raises(TypeError):
        del REGISTRY.specs["npy"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        REGISTRY.user_formats[".ro"] = None  # type: ignore[index]
    with pytest.raises(TypeError):
        REGISTRY.user_formats[".other"] = None  # type: ignore[index]
    with pytest.raises(AttributeError):
        REGISTRY.specs = {}  # type: ignore[misc]
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        REGISTRY.specs["npy"].extensions = (".evil",)  # type: ignore[misc]
    assert "evil" not in REGISTRY.specs and "npy" in REGISTRY.specs
    assert REGISTRY.specs["npy"].extensions == (".npy",)
    assert REGISTRY.user_loader(".ro") is not None and ".other" not in REGISTRY.user_formats
