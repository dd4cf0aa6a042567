"""The sandbox: every way out of the roots is refused, every way around inside is allowed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from io_core import IOCoreError, Workspace
from io_core.paths import Sandbox


@pytest.fixture()
def layout(tmp_path: Path) -> dict[str, Path]:
    """root/ (the sandbox), outside/ (a sibling it must never reach), both real folders."""
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    np.save(outside / "secret.npy", np.arange(3))
    (outside / "secret.txt").write_text("secret", encoding="utf-8")
    return {"root": root, "outside": outside, "tmp": tmp_path}


def _refused(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    assert info.value.code == "PATH_OUTSIDE_ROOT", info.value
    return info.value


# -- ".." ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../x.npy", "a/../../x", "../outside/secret.npy", "./../outside/secret.txt",
                                  "sub/../../outside/secret.npy"])
def test_dotdot_leaving_the_root_is_refused(layout, path):
    (layout["root"] / "sub").mkdir()
    sandbox = Sandbox([layout["root"]])
    _refused(sandbox.resolve, path)
    ws = Workspace([layout["root"]])
    _refused(ws.load, path)
    _refused(ws.save, np.arange(2), path if path.endswith(".npy") else path + ".npy")
    assert sorted(p.name for p in layout["outside"].iterdir()) == ["secret.npy", "secret.txt"]


def test_dotdot_that_stays_inside_is_allowed(layout):
    root = layout["root"]
    (root / "a" / "b").mkdir(parents=True)
    np.save(root / "x.npy", np.arange(4))
    sandbox = Sandbox([root])
    assert sandbox.resolve("a/../x.npy") == root / "x.npy"
    assert sandbox.resolve("a/b/../../x.npy") == root / "x.npy"
    ws = Workspace([root])
    np.testing.assert_array_equal(ws.load("a/b/../../x.npy"), np.arange(4))
    ws.save(np.ones(2), "a/b/../y.npy")
    np.testing.assert_array_equal(np.load(root / "a" / "y.npy"), np.ones(2))


# -- absolute paths -------------------------------------------------------------------------

def test_absolute_path_elsewhere_is_refused(layout):
    ws = Workspace([layout["root"]])
    _refused(ws.load, "/etc/passwd")
    _refused(ws.load, str(layout["outside"] / "secret.npy"))
    _refused(ws.summarize, str(layout["outside"] / "secret.txt"))
    _refused(ws.save, "x", str(layout["outside"] / "new.txt"))
    assert not (layout["outside"] / "new.txt").exists()


def test_absolute_path_inside_the_root_is_allowed(layout):
    root = layout["root"]
    np.save(root / "x.npy", np.arange(5))
    ws = Workspace([root])
    np.testing.assert_array_equal(ws.load(str(root / "x.npy")), np.arange(5))
    result = ws.save(np.arange(2), str(root / "deep" / "y.npy"))
    assert result.path == os.path.join("deep", "y.npy")  # shown relative to the first root
    assert (root / "deep" / "y.npy").is_file()


def test_the_root_itself_is_not_a_file(layout):
    ws = Workspace([layout["root"]])
    with pytest.raises(IOCoreError) as info:
        ws.load(".")
    assert info.value.code == "NOT_A_FILE"


# -- several roots ----------------------------------------------------------------------------

def test_relative_paths_resolve_under_the_first_root(layout):
    first, second = layout["tmp"] / "first", layout["tmp"] / "second"
    first.mkdir()
    second.mkdir()
    np.save(first / "x.npy", np.array([1]))
    np.save(second / "x.npy", np.array([2]))
    np.save(second / "only2.npy", np.array([3]))
    ws = Workspace([first, second])
    assert ws.sandbox.resolve("x.npy") == first / "x.npy"
    np.testing.assert_array_equal(ws.load("x.npy"), [1])
    # a relative name is never looked up in the second root
    with pytest.raises(IOCoreError) as info:
        ws.load("only2.npy")
    assert info.value.code == "FILE_NOT_FOUND"
    # but an absolute path inside the second root is allowed, both ways
    np.testing.assert_array_equal(ws.load(str(second / "only2.npy")), [3])
    saved = ws.save(np.array([4]), str(second / "new.npy"))
    assert saved.path == str(second / "new.npy")
    np.testing.assert_array_equal(np.load(second / "new.npy"), [4])
    ws.save(np.array([5]), "rel.npy")
    assert (first / "rel.npy").is_file() and not (second / "rel.npy").exists()
    # and a path outside both is still refused
    _refused(ws.load, str(layout["outside"] / "secret.npy"))


# -- symlinks ------------------------------------------------------------------------------------

def test_symlink_file_pointing_outside_is_refused(layout):
    root = layout["root"]
    (root / "link.npy").symlink_to(layout["outside"] / "secret.npy")
    ws = Workspace([root])
    _refused(ws.load, "link.npy")
    _refused(ws.summarize, "link.npy")
    _refused(ws.save, np.zeros(3), "link.npy", overwrite=True)
    np.testing.assert_array_equal(np.load(layout["outside"] / "secret.npy"), np.arange(3))


def test_dangling_symlink_pointing_outside_cannot_be_written_through(layout):
    root = layout["root"]
    (root / "trap.npy").symlink_to(layout["outside"] / "planted.npy")
    ws = Workspace([root])
    _refused(ws.save, np.zeros(3), "trap.npy")
    _refused(ws.save, np.zeros(3), "trap.npy", overwrite=True)
    assert not (layout["outside"] / "planted.npy").exists()


def test_symlinked_parent_pointing_outside_is_refused_for_existing_and_new_files(layout):
    root = layout["root"]
    (root / "door").symlink_to(layout["outside"], target_is_directory=True)
    sandbox = Sandbox([root])
    _refused(sandbox.resolve, "door/secret.npy")  # existing
    _refused(sandbox.resolve, "door/not_yet.npy")  # to be saved
    _refused(sandbox.resolve, "door/new/deeper/not_yet.npy")  # folders to be created beyond the link
    ws = Workspace([root])
    _refused(ws.load, "door/secret.npy")
    _refused(ws.summarize, "door/secret.txt")


def test_save_through_symlinked_parent_writes_nothing_outside(layout):
    root, outside = layout["root"], layout["outside"]
    (root / "door").symlink_to(outside, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    ws = Workspace([root])
    _refused(ws.save, np.arange(10), "door/new.npy")
    _refused(ws.save, "text", "door/sub/new.txt")
    _refused(ws.save, np.zeros(3), "door/secret.npy", overwrite=True)
    after = {p.name: p.read_bytes() for p in outside.iterdir()}
    assert after == before  # nothing new, nothing changed, no temp file, no created folder


def test_symlink_inside_pointing_inside_is_allowed(layout):
    root = layout["root"]
    (root / "real").mkdir()
    np.save(root / "real" / "x.npy", np.arange(6))
    (root / "alias.npy").symlink_to(root / "real" / "x.npy")
    (root / "dir_alias").symlink_to(root / "real", target_is_directory=True)
    ws = Workspace([root])
    np.testing.assert_array_equal(ws.load("alias.npy"), np.arange(6))
    np.testing.assert_array_equal(ws.load("dir_alias/x.npy"), np.arange(6))
    ws.save(np.ones(2), "dir_alias/y.npy")
    np.testing.assert_array_equal(np.load(root / "real" / "y.npy"), np.ones(2))


def test_sibling_prefix_is_not_inside(tmp_path):
    data = tmp_path / "data"
    evil = tmp_path / "data-evil"
    data.mkdir()
    evil.mkdir()
    np.save(evil / "x.npy", np.arange(3))
    ws = Workspace([data])
    _refused(ws.load, str(evil / "x.npy"))
    _refused(ws.load, "../data-evil/x.npy")
    _refused(ws.save, np.arange(3), str(evil / "y.npy"))
    _refused(ws.sandbox.resolve, str(tmp_path / "data-evil"))
    assert not (evil / "y.npy").exists()


# -- odd strings ---------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["x\x00.npy", "\x00", "sub/\x00/../x.npy"])
def test_null_byte_is_refused(layout, path):
    ws = Workspace([layout["root"]])
    _refused(ws.load, path)
    _refused(ws.save, np.arange(2), path)


@pytest.mark.parametrize("path", ["~", "~/x", "~/x.npy", "~root/x.npy"])
def test_home_directory_is_not_expanded(layout, path):
    ws = Workspace([layout["root"]])
    _refused(ws.sandbox.resolve, path)
    _refused(ws.load, path)
    _refused(ws.save, np.arange(2), path)
    assert not (layout["root"] / "~").exists()


def test_not_existing_file_is_checked_through_its_resolved_parent(layout):
    root = layout["root"]
    (root / "door").symlink_to(layout["outside"], target_is_directory=True)
    sandbox = Sandbox([root])
    # a missing file under missing folders inside the root: allowed, resolved lexically below the root
    assert sandbox.resolve("new/sub/file.npy") == root / "new" / "sub" / "file.npy"
    # the same shape of path through a linked parent: refused although nothing exists yet
    _refused(sandbox.resolve, "door/new/sub/file.npy")
    # loading a missing file inside is FILE_NOT_FOUND, not a sandbox refusal
    with pytest.raises(IOCoreError) as info:
        Workspace([root]).load("new/sub/file.npy")
    assert info.value.code == "FILE_NOT_FOUND"


# -- names are literal, never globbed ------------------------------------------------------------

def test_glob_characters_are_literal(layout):
    root = layout["root"]
    ws = Workspace([root])
    np.save(root / "data1.npy", np.array([111]))  # would match the pattern data[1].npy
    ws.save(np.array([1, 2, 3]), "data[1].npy")
    assert (root / "data[1].npy").is_file()
    np.testing.assert_array_equal(np.load(root / "data1.npy"), [111])  # untouched
    np.testing.assert_array_equal(ws.load("data[1].npy"), [1, 2, 3])
    np.testing.assert_array_equal(ws.load("data1.npy"), [111])

    (root / "abc.csv").write_text("z\n9\n", encoding="utf-8")  # would match a*.csv
    ws.save({"v": [1, 2]}, "a*.csv")
    assert (root / "a*.csv").read_text(encoding="utf-8").splitlines() == ["v", "1", "2"]
    assert ws.load("a*.csv")["v"].tolist() == [1, 2]
    assert (root / "abc.csv").read_text(encoding="utf-8") == "z\n9\n"

    (root / "qa.json").write_text('{"wrong": true}', encoding="utf-8")  # would match q?.json
    ws.save({"right": 1}, "q?.json")
    assert ws.load("q?.json") == {"right": 1}
    assert ws.summarize("q?.json").summary.keys == ["right"]

    with pytest.raises(IOCoreError) as info:
        ws.load("data[2].npy")  # no such literal name, even though data2-like names could exist
    assert info.value.code == "FILE_NOT_FOUND"


def test_a_glob_pattern_with_no_literal_file_is_not_found(layout):
    root = layout["root"]
    np.save(root / "data1.npy", np.array([1]))
    ws = Workspace([root])
    for pattern in ("data[1].npy", "data?.npy", "*.npy"):
        with pytest.raises(IOCoreError) as info:
            ws.load(pattern)
        assert info.value.code == "FILE_NOT_FOUND"


# -- the walk: links and ".." are followed as the kernel would, but never out of the roots -----------

def test_links_and_dotdot_between_roots_follow_the_physical_path(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    (first / "a").mkdir(parents=True)
    (second / "b").mkdir(parents=True)
    np.save(second / "b" / "y.npy", np.arange(3))
    (first / "to_second").symlink_to(second / "b", target_is_directory=True)  # absolute, into another root
    (first / "a" / "rel").symlink_to("../../second/b/y.npy")  # relative, climbing over a root's top
    ws = Workspace([first, second])
    np.testing.assert_array_equal(ws.load("to_second/y.npy"), np.arange(3))
    np.testing.assert_array_equal(ws.load("a/rel"), np.arange(3))
    np.testing.assert_array_equal(ws.load("../second/b/y.npy"), np.arange(3))  # ".." above a root, into another
    assert ws.sandbox.resolve("to_second/../x") == second / "x"  # ".." pops the walked (physical) path
    assert ws.sandbox.resolve("../first/a") == first / "a"
    _refused(ws.sandbox.resolve, "../../x")


def test_a_root_given_through_a_link_and_paths_spelled_through_it(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    np.save(real / "x.npy", np.arange(2))
    (tmp_path / "alias").symlink_to(real, target_is_directory=True)
    ws = Workspace([tmp_path / "alias"])
    np.testing.assert_array_equal(ws.load(str(tmp_path / "alias" / "x.npy")), np.arange(2))
    np.testing.assert_array_equal(ws.load(str(real / "x.npy")), np.arange(2))
    assert ws.summarize(str(tmp_path / "alias" / "x.npy")).path == "x.npy"


def test_a_root_not_made_yet_is_made_by_the_first_save(tmp_path):
    root = tmp_path / "not" / "yet"
    ws = Workspace([root])
    ws.save(np.arange(2), "deep/x.npy")
    np.testing.assert_array_equal(np.load(root / "deep" / "x.npy"), np.arange(2))


def test_handlers_are_given_a_view_named_like_the_file(layout, monkeypatch):
    """Libraries open a link to the pinned inode (never the user's name), under the same file name."""
    from io_core.paths import real_path

    root = layout["root"]
    (root / "sub").mkdir()
    (root / "sub" / "t.csv").write_text("a\n1\n", encoding="utf-8")
    ws = Workspace([root])
    seen = []
    handler = ws.registry.handler(ws.registry.spec("csv"))
    original = type(handler).load

    def spy(self, path, opts):
        seen.append((path, os.readlink(path), real_path(path)))
        return original(self, path, opts)

    monkeypatch.setattr(type(handler), "load", spy)
    assert ws.load("sub/t.csv")["a"].tolist() == [1]
    view, link, real = seen[0]
    assert view.name == "t.csv" and not str(view).startswith(str(root))
    assert link.startswith("/proc/") and "/fd/" in link
    assert real == root / "sub" / "t.csv"
    assert not os.path.lexists(view)  # gone once the call returned
