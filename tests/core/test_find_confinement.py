"""find_files stays inside the roots whatever the pattern expands to (issue #10, point 3).

Escaped separators, ``..`` however spelled, absolute patterns, symlinked folders and
files leading out, and folders swapped for symlinks during the walk. Cases ported
from the MCP reference filesystem server's path-validation tests
(modelcontextprotocol/servers, src/filesystem/__tests__/path-validation.test.ts),
restated as patterns: prefix siblings, traversal, null bytes, odd but legal names,
normalisation, unicode, very long paths, symlinks and symlink chains, nested roots.
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from pathlib import Path

import pytest
from fastmcp import Client

from io_core.discovery import find_in_roots
from io_core.errors import PathOutsideRootError
from io_core.globbing import find_files
from io_core.paths import Sandbox
from server.app import create_app
from server.settings import Settings

MARKER = "OUTSIDE-MARKER-91c2"


@pytest.fixture
def tree(tmp_path):
    """base/outside/<marker files>, base/r1/r2/root/<files>: enough depth that ../../.. reaches base."""
    base = Path(os.path.realpath(tmp_path))
    outside = base / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / f"{MARKER}.txt").write_text(MARKER)
    (outside / "deep" / f"{MARKER}-2.txt").write_text(MARKER)
    root = base / "r1" / "r2" / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "x.csv").write_text("a\n1\n")
    (root / "top.csv").write_text("a\n1\n")
    return base, root, outside


def listed(pattern: str, root: Path) -> list[str]:
    return [f.relative_to(root).as_posix() for f in find_files(pattern, root=root).files]


def escaped(path: Path) -> str:
    return str(path).replace("/", "\\/")


# -- escaped separators: the expansion is checked, not the raw text ---------------------------------

@pytest.mark.parametrize("pattern", [
    r"\/etc\/passwd", r"\/etc/*", r"\/*", r".\/..\/..\/..\/outside/*", r"sub\/..\/..\/..\/..\/outside/*",
    r"{\/etc,x}/passwd", r"x{\/..,}/*", r"sub/.\/..", r".\/..", r"\.\.\/outside/*", r"{.,.\/..}/*",
    r"sub{\/..\/..\/..,}/*", "**/..\\/*",
])
def test_escaped_separators_cannot_climb_out(tree, pattern):
    _, root, _ = tree
    with pytest.raises(PathOutsideRootError) as info:
        find_files(pattern, root=root)
    assert info.value.code == "PATH_OUTSIDE_ROOT"


def test_escaped_absolute_path_of_an_outside_folder_is_refused(tree):
    _, root, outside = tree
    for pattern in (escaped(outside) + "/*", escaped(outside / f"{MARKER}.txt"), escaped(outside) + r"\/**"):
        with pytest.raises(PathOutsideRootError):
            find_files(pattern, root=root)


def test_an_escaped_separator_inside_the_root_separates(tree):
    _, root, _ = tree
    assert listed(r"sub\/x.csv", root) == ["sub/x.csv"]
    assert listed(r"sub\/*.csv", root) == ["sub/x.csv"]
    assert listed(r"{sub\/x,top}.csv", root) == ["sub/x.csv", "top.csv"]


# -- traversal (path-validation.test.ts "Path Traversal", "symbolic dots") -----------------------

@pytest.mark.parametrize("pattern", [
    "..", "../*", "../../../etc/passwd", "../../other", "../root2/*", "sub/../../root2/*", "./../../other",
    "../root/../../../etc", "sub/..", "a/" * 1000 + "../" * 1001 + "etc/passwd", "{..,sub}/*", "sub/{x,..}/*",
    "**/../*", "*/../../*",
])
def test_traversal_is_refused(tree, pattern):
    _, root, _ = tree
    with pytest.raises(PathOutsideRootError):
        find_files(pattern, root=root)


@pytest.mark.parametrize("name", ["..test", "test..", "te..st", "...", "....", "%2e%2e", "%41", "report_50%.pdf",
                                  "file%20name", "Q1_25%_growth"])
def test_dotted_and_percent_names_are_ordinary_files(tree, name):
    _, root, _ = tree
    (root / name).write_text("x")
    assert listed(name, root) == [name]
    assert name in listed(".*" if name.startswith(".") else "*", root)


def test_dot_segments_and_repeated_slashes_normalise_inside_the_root(tree):
    _, root, _ = tree
    for pattern in ("./sub/x.csv", "sub/./x.csv", "sub//x.csv", ".//sub///x.csv", "./././top.csv"):
        assert listed(pattern, root) in (["sub/x.csv"], ["top.csv"]), pattern


# -- null bytes (path-validation.test.ts "Null Bytes") --------------------------------------------

@pytest.mark.parametrize("pattern", ["sub\x00/etc/passwd", "test\x00.txt", "\x00sub", "sub/\x00", "{a,\x00}"])
def test_null_bytes_are_refused(tree, pattern):
    _, root, _ = tree
    with pytest.raises(PathOutsideRootError):
        find_files(pattern, root=root)


# -- prefix siblings and several roots (find_in_roots: absolute patterns name their root) --------

def test_absolute_patterns_must_name_a_root_not_a_prefix_sibling(tmp_path):
    base = Path(os.path.realpath(tmp_path))
    project = base / "project"
    (project / "src").mkdir(parents=True)
    (project / "src" / "a.py").write_text("x")
    for sibling in ("project2", "project_backup", "project-old", "projectile", "project.bak"):
        (base / sibling).mkdir()
        (base / sibling / f"{MARKER}.py").write_text(MARKER)
    sandbox = Sandbox([project])
    assert [f.path for f in find_in_roots(sandbox, f"{project}/src/*.py").files] == ["src/a.py"]
    assert [f.path for f in find_in_roots(sandbox, f"{project}//src//*.py").files] == ["src/a.py"]
    for sibling in ("project2", "project_backup", "project-old", "projectile", "project.bak"):
        with pytest.raises(PathOutsideRootError):
            find_in_roots(sandbox, f"{base / sibling}/*.py")
    for pattern in (f"{base}/*/*.py", "/etc/*", f"{project}/../project2/*", f"{project}/src/../../project2/*"):
        with pytest.raises(PathOutsideRootError):
            find_in_roots(sandbox, pattern)


def test_second_and_nested_roots(tmp_path):
    base = Path(os.path.realpath(tmp_path))
    first, second = base / "one", base / "two"
    (first / "in").mkdir(parents=True)
    second.mkdir()
    (first / "in" / "a.csv").write_text("x")
    (second / "b.csv").write_text("x")
    sandbox = Sandbox([first, second, first / "in"])
    assert [f.path for f in find_in_roots(sandbox, f"{second}/*.csv").files] == [str(second / "b.csv")]
    assert [f.path for f in find_in_roots(sandbox, "**/*.csv").files] == ["in/a.csv"]
    with pytest.raises(PathOutsideRootError):
        find_in_roots(sandbox, f"{second}/../one/in/*.csv")


# -- unicode and spaces (not normalised: the exact spelling must match) ---------------------------

def test_unicode_and_spaces_match_exactly(tmp_path):
    root = Path(os.path.realpath(tmp_path))
    nfc = unicodedata.normalize("NFC", "café")
    (root / "my project (v2)").mkdir()
    (root / "my project (v2)" / f"{nfc}.txt").write_text("x")
    assert listed(f"my project (v2)/{nfc}.txt", root) == [f"my project (v2)/{nfc}.txt"]
    assert listed("my project (v2)/" + unicodedata.normalize("NFD", nfc) + ".txt", root) == []
    assert listed("my proj*/*", root) == [f"my project (v2)/{nfc}.txt"]
    assert listed("my/*", root) == []


def test_a_very_long_pattern_inside_the_root_is_an_empty_answer_not_an_error(tree):
    _, root, _ = tree
    assert listed("a/" * 1000 + "file.txt", root) == []
    deep = root.joinpath(*["d"] * 60)
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x")
    assert listed("d/" * 60 + "f.txt", root) == ["d/" * 60 + "f.txt"]
    assert listed("**/f.txt", root) == ["d/" * 60 + "f.txt"]


# -- symlinks (path-validation.test.ts "Symlink Tests") ------------------------------------------

def test_symlinks_leading_out_are_never_listed_nor_entered(tree):
    base, root, outside = tree
    os.symlink(outside / f"{MARKER}.txt", root / "bad-link.txt")
    os.symlink(outside, root / "outdir")
    os.symlink(root / "outdir", root / "chain1")  # a chain: inside link -> inside link -> outside
    os.symlink(root / "chain1", root / "chain2")
    os.symlink(outside / "deep", root / "sub" / "deeplink")
    os.symlink(base / "r1", root / "up")  # an ancestor of the root
    for pattern in ("*", "*.txt", "bad-link.txt", "**", "**/*", "outdir/*", "chain2/**", f"chain1/{MARKER}.txt",
                    "sub/deeplink/*", "up/**", "*/*", "*/*/*", "{outdir,chain1,chain2,up}/**"):
        found = find_files(pattern, root=root)
        assert all(MARKER not in str(f) for f in found.files), pattern
        assert all(os.path.realpath(f).startswith(str(root) + "/") for f in found.files), pattern


def test_symlinks_staying_inside_are_followed_and_a_symlinked_root_is_resolved(tree, tmp_path):
    base, root, _ = tree
    os.symlink(root / "sub", root / "alias")
    os.symlink(root / "top.csv", root / "same.csv")
    assert listed("**/*.csv", root) == ["alias/x.csv", "same.csv", "sub/x.csv", "top.csv"]
    os.symlink(root, base / "rootlink")
    result = find_files("*.csv", root=base / "rootlink")
    assert [f.name for f in result.files] == ["same.csv", "top.csv"] and result.files[0].parent == root


# -- races: a folder swapped for a symlink to the outside while the walk runs --------------------

def test_a_folder_swapped_for_an_outside_symlink_mid_walk_never_leaks(tree):
    _, root, outside = tree
    swap = root / "swap"
    real_dir = root / "swap-real"
    real_dir.mkdir()
    for i in range(30):
        (real_dir / f"in{i}.csv").write_text("x")
    os.symlink(real_dir, swap)
    stop = threading.Event()

    def swapper() -> None:
        tmp = root / "swap-tmp"
        while not stop.is_set():
            os.symlink(outside, tmp)
            os.replace(tmp, swap)  # now leads out
            os.symlink(real_dir, tmp)
            os.replace(tmp, swap)  # back inside

    thread = threading.Thread(target=swapper, daemon=True)
    thread.start()
    calls = leaked = 0
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            for pattern in ("swap/*", "swap/**", "**/*", f"swap/{MARKER}.txt", "swap/deep/*"):
                found = find_files(pattern, root=root)
                calls += 1
                leaked += sum(MARKER in str(f) for f in found.files)
    finally:
        stop.set()
        thread.join()
    assert calls > 50 and leaked == 0


# -- through the server ----------------------------------------------------------------------------

async def test_find_files_tool_refuses_escaped_and_dotdot_patterns(tree):
    _, root, outside = tree
    async with Client(create_app(Settings(roots=[root]))) as c:
        for pattern in (r"\/etc\/passwd", r".\/..\/..\/..\/outside/*", escaped(outside) + "/*", "../*"):
            res = await c.call_tool("find_files", {"pattern": pattern}, raise_on_error=False)
            assert res.is_error and res.content[0].text.startswith("PATH_OUTSIDE_ROOT:"), pattern
            assert MARKER not in res.content[0].text
        ok = await c.call_tool("find_files", {"pattern": r"sub\/*.csv"})
        assert [f["path"] for f in ok.structured_content["files"]] == ["sub/x.csv"]
