"""find_files and natural_key: one test (or more) per rule of io_core/globbing.py."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from io_core import globbing as globbing_mod
from io_core.errors import FileNotFoundIOError, InvalidSelectionError, IOCoreError, PathOutsideRootError
from io_core.globbing import FoundFiles, find_files, natural_key


def make(root: Path, *names: str) -> Path:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name, encoding="utf-8")
    return root


def rel(result: FoundFiles, root: Path) -> list[str]:
    base = Path(os.path.realpath(root))
    return [f.relative_to(base).as_posix() for f in result.files]


def names(pattern: str, root: Path, **kw) -> list[str]:
    return rel(find_files(pattern, root=root, **kw), root)


# --------------------------------------------------------------------------- natural sort


def test_natural_key_orders_numbers_by_value():
    items = ["file10", "file2", "file1", "file20", "file02b"]
    assert sorted(items, key=natural_key) == ["file1", "file2", "file02b", "file10", "file20"]


def test_natural_key_is_case_insensitive_with_a_stable_tie_break():
    items = ["b", "A", "a", "B", "File2", "file2", "file1", "FILE10"]
    first = sorted(items, key=natural_key)
    assert first == ["A", "a", "B", "b", "file1", "File2", "file2", "FILE10"]
    for _ in range(20):  # the order does not depend on the input order
        shuffled = items[:]
        random.shuffle(shuffled)
        assert sorted(shuffled, key=natural_key) == first


def test_natural_key_handles_leading_zeros_and_huge_digit_runs():
    assert sorted(["a01", "a1", "a001"], key=natural_key) == ["a001", "a01", "a1"]
    huge = "9" * 5000  # longer than int()'s default digit limit
    assert sorted(["x" + huge, "x10"], key=natural_key) == ["x10", "x" + huge]


@given(
    prefix=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="0123456789"), max_size=5),
    suffix=st.text(alphabet="abc._-", max_size=4),
    numbers=st.lists(st.integers(min_value=0, max_value=10**30), unique=True, max_size=30),
)
def test_natural_sort_of_numbered_names_equals_numeric_sort(prefix, suffix, numbers):
    rendered = [f"{prefix}{n}{suffix}" for n in numbers]
    assert sorted(rendered, key=natural_key) == [f"{prefix}{n}{suffix}" for n in sorted(numbers)]


@given(st.lists(st.text(max_size=8), max_size=20))
def test_natural_key_gives_a_total_order_independent_of_input_order(items):
    backwards = list(items)
    backwards.reverse()
    assert sorted(items, key=natural_key) == sorted(backwards, key=natural_key)


def test_find_files_returns_natural_order(tmp_path):
    make(tmp_path, "file10.txt", "file2.txt", "File1.txt", "file1.txt", "file100.txt")
    assert names("*.txt", tmp_path) == ["File1.txt", "file1.txt", "file2.txt", "file10.txt", "file100.txt"]


def test_natural_order_is_per_path_segment(tmp_path):
    make(tmp_path, "run10/a.csv", "run2/b.csv", "run2/a10.csv", "run2/a9.csv")
    assert names("**/*.csv", tmp_path) == ["run2/a9.csv", "run2/a10.csv", "run2/b.csv", "run10/a.csv"]


# --------------------------------------------------------------------------- wildcards


def test_star_stays_within_one_segment_and_question_mark_is_one_char(tmp_path):
    make(tmp_path, "a1.csv", "a12.csv", "sub/a3.csv", "a.csv")
    assert names("*.csv", tmp_path) == ["a.csv", "a1.csv", "a12.csv"]
    assert names("a?.csv", tmp_path) == ["a1.csv"]
    assert names("a??.csv", tmp_path) == ["a12.csv"]
    assert names("*/*.csv", tmp_path) == ["sub/a3.csv"]


def test_globstar_matches_zero_or_more_folders(tmp_path):
    make(tmp_path, "top.csv", "a/mid.csv", "a/b/c/deep.csv", "a/b/c/deep.txt")
    assert names("**/*.csv", tmp_path) == ["a/b/c/deep.csv", "a/mid.csv", "top.csv"]
    assert names("a/**/*.csv", tmp_path) == ["a/b/c/deep.csv", "a/mid.csv"]
    assert names("a/**/c/*.csv", tmp_path) == ["a/b/c/deep.csv"]
    assert names("**/**/deep.txt", tmp_path) == ["a/b/c/deep.txt"]


def test_trailing_globstar_matches_every_file_below(tmp_path):
    make(tmp_path, "a/x.csv", "a/b/y.txt", "other.csv")
    assert names("a/**", tmp_path) == ["a/b/y.txt", "a/x.csv"]
    assert names("**", tmp_path) == ["a/b/y.txt", "a/x.csv", "other.csv"]


def test_double_star_inside_a_segment_is_a_single_star(tmp_path):
    make(tmp_path, "ab.csv", "sub/ab.csv")
    assert names("a**b.csv", tmp_path) == ["ab.csv"]


def test_only_files_are_returned(tmp_path):
    make(tmp_path, "dir.csv/inner.txt", "file.csv")
    assert names("*.csv", tmp_path) == ["file.csv"]


def test_hidden_names_need_an_explicit_dot(tmp_path):
    make(tmp_path, ".hidden.csv", "shown.csv", ".git/config.csv", "a/.cache/x.csv")
    assert names("*.csv", tmp_path) == ["shown.csv"]
    assert names("?hidden.csv", tmp_path) == []
    assert names("**/*.csv", tmp_path) == ["shown.csv"]
    assert names(".*.csv", tmp_path) == [".hidden.csv"]
    assert names(".git/*.csv", tmp_path) == [".git/config.csv"]
    assert names("a/.cache/*", tmp_path) == ["a/.cache/x.csv"]


def test_sciio_folder_is_never_listed(tmp_path):
    make(tmp_path, ".sciio/ledger.csv", "sub/.sciio/x.csv", "data.csv")
    assert names("**", tmp_path) == ["data.csv"]
    assert names(".sciio/*", tmp_path) == []
    assert names(".*/*", tmp_path) == []
    assert names("**/.sciio/*.csv", tmp_path) == []
    assert names("sub/.sciio/x.csv", tmp_path) == []


# --------------------------------------------------------------------------- braces


def test_brace_alternatives(tmp_path):
    make(tmp_path, "a.csv", "b.csv", "c.csv", "a.txt")
    assert names("{a,b}.csv", tmp_path) == ["a.csv", "b.csv"]
    assert names("a.{csv,txt}", tmp_path) == ["a.csv", "a.txt"]


def test_nested_braces(tmp_path):
    make(tmp_path, "a", "b1", "b2", "b3", "bx", "c")
    assert names("{a,b{1,2}}", tmp_path) == ["a", "b1", "b2"]
    assert names("{a,b{1,{2,x}}}", tmp_path) == ["a", "b1", "b2", "bx"]


def test_braces_may_span_folders_and_hold_wildcards(tmp_path):
    make(tmp_path, "raw/s1.csv", "clean/deep/s2.csv", "other/s3.csv")
    assert names("{raw,clean/deep}/*.csv", tmp_path) == ["clean/deep/s2.csv", "raw/s1.csv"]
    assert names("{raw/*,clean/**/s?}.csv", tmp_path) == ["clean/deep/s2.csv", "raw/s1.csv"]


def test_overlapping_alternatives_list_each_file_once(tmp_path):
    make(tmp_path, "a.csv", "b.csv")
    result = find_files("{a,*,a}.csv", root=tmp_path)
    assert rel(result, tmp_path) == ["a.csv", "b.csv"]
    assert result.total == 2


def test_comma_less_non_name_groups_and_escapes_are_literal(tmp_path):
    make(tmp_path, "x{1}.csv", "x{}.csv", "star*.csv", "starX.csv", "a,b.csv")
    assert names("x{1}.csv", tmp_path) == ["x{1}.csv"]
    assert names("x{}.csv", tmp_path) == ["x{}.csv"]
    assert names(r"star\*.csv", tmp_path) == ["star*.csv"]
    assert names(r"x\{1\}.csv", tmp_path) == ["x{1}.csv"]
    assert names("a,b.csv", tmp_path) == ["a,b.csv"]  # a top-level comma is text
    assert names(r"{a\,b,zzz}.csv", tmp_path) == ["a,b.csv"]


@pytest.mark.parametrize("pattern", ["{a,b", "a}b", "{a,{b}", "x\\", "data/", "", "   "])
def test_malformed_patterns_are_invalid_selection(tmp_path, pattern):
    with pytest.raises(InvalidSelectionError) as info:
        find_files(pattern, root=tmp_path)
    assert info.value.code == "INVALID_SELECTION"


def test_expansion_count_is_bounded(tmp_path):
    with pytest.raises(InvalidSelectionError, match="alternatives"):
        find_files("{a,b}" * 13, root=tmp_path)  # 8192 alternatives


# --------------------------------------------------------------------------- brackets are literal


def test_brackets_are_literal(tmp_path):
    make(tmp_path, "data[1].csv", "data1.csv", "data[12].csv", "datab.csv")
    assert names("data[1].csv", tmp_path) == ["data[1].csv"]
    assert names("data[*].csv", tmp_path) == ["data[1].csv", "data[12].csv"]
    assert names("data[ab].csv", tmp_path) == []
    assert names("data[!1].csv", tmp_path) == []
    assert names("*[1]*", tmp_path) == ["data[1].csv"]


def test_brackets_in_folder_names_are_literal(tmp_path):
    make(tmp_path, "run[a]/x.csv", "runa/y.csv")
    assert names("run[a]/*.csv", tmp_path) == ["run[a]/x.csv"]
    assert names("run[a]/x.csv", tmp_path) == ["run[a]/x.csv"]


# --------------------------------------------------------------------------- placeholders


def test_placeholders_capture_per_file(tmp_path):
    make(
        tmp_path,
        "data/subj_001/run_02.csv",
        "data/subj_001/run_10.csv",
        "data/subj_002/run_01.csv",
        "data/subj_002/notes.txt",
    )
    result = find_files("data/subj_{id}/run_{run}.csv", root=tmp_path, parse=True)
    assert rel(result, tmp_path) == [
        "data/subj_001/run_02.csv",
        "data/subj_001/run_10.csv",
        "data/subj_002/run_01.csv",
    ]
    assert result.captures == [
        {"id": "001", "run": "02"},
        {"id": "001", "run": "10"},
        {"id": "002", "run": "01"},
    ]


def test_without_parse_there_are_no_captures(tmp_path):
    make(tmp_path, "run_1.csv")
    assert find_files("run_{run}.csv", root=tmp_path).captures is None
    assert find_files("*.csv", root=tmp_path, parse=True).captures == [{}]


def test_placeholder_is_non_empty_and_stays_in_one_segment(tmp_path):
    make(tmp_path, "run_.csv", "run_a/b.csv", "run_7.csv", ".csv")
    result = find_files("run_{n}.csv", root=tmp_path, parse=True)
    assert rel(result, tmp_path) == ["run_7.csv"]
    assert names("{name}.csv", tmp_path) == ["run_.csv", "run_7.csv"]  # never the hidden ".csv"


def test_placeholder_split_is_lazy(tmp_path):
    make(tmp_path, "x_y_z.csv")
    result = find_files("{a}_{b}.csv", root=tmp_path, parse=True)
    assert result.captures == [{"a": "x", "b": "y_z"}]


def test_repeated_placeholder_must_capture_the_same_value(tmp_path):
    make(
        tmp_path,
        "sub-01/sub-01_bold.nii",
        "sub-01/sub-02_bold.nii",
        "sub-02/sub-02_bold.nii",
    )
    result = find_files("sub-{id}/sub-{id}_bold.nii", root=tmp_path, parse=True)
    assert rel(result, tmp_path) == ["sub-01/sub-01_bold.nii", "sub-02/sub-02_bold.nii"]
    assert result.captures == [{"id": "01"}, {"id": "02"}]


def test_repeated_placeholder_within_one_segment(tmp_path):
    make(tmp_path, "ab-ab.txt", "ab-cd.txt", "a-b-a-b.txt")
    result = find_files("{x}-{x}.txt", root=tmp_path, parse=True)
    assert rel(result, tmp_path) == ["a-b-a-b.txt", "ab-ab.txt"]
    assert result.captures == [{"x": "a-b"}, {"x": "ab"}]


def test_bound_placeholder_needs_the_exact_value_not_the_first_split(tmp_path):
    make(tmp_path, "a_b/a_b_c.txt")
    result = find_files("{id}/{id}_{rest}.txt", root=tmp_path, parse=True)
    assert result.captures == [{"id": "a_b", "rest": "c"}]


def test_placeholders_inside_alternatives(tmp_path):
    make(tmp_path, "raw/s1.csv", "clean/s2.csv")
    result = find_files("{raw/{r},clean/{c}}.csv", root=tmp_path, parse=True)
    assert rel(result, tmp_path) == ["clean/s2.csv", "raw/s1.csv"]
    assert result.captures == [{"c": "s2"}, {"r": "s1"}]


def test_pathological_pattern_is_fast(tmp_path):
    make(tmp_path, "a" * 200)
    start = time.perf_counter()
    assert names("*a*a*a*a*a*a*a*a*a*a*a*a*b", tmp_path) == []
    assert names("{p}a{q}a{r}a{s}a{t}a{u}a{v}a{w}b", tmp_path) == []
    assert names("{x}a*a{x}b", tmp_path) == []  # backtracking, but few wildcards
    assert time.perf_counter() - start < 2.0


def test_repeating_placeholder_with_many_wildcards_is_refused(tmp_path):
    with pytest.raises(InvalidSelectionError, match="at most"):
        find_files("{x}a*a*a*a{x}b", root=tmp_path)


# --------------------------------------------------------------------------- ensure_one, limit


def test_ensure_one_with_exactly_one_match(tmp_path):
    make(tmp_path, "only.csv", "other.txt")
    result = find_files("*.csv", root=tmp_path, ensure_one=True, parse=True)
    assert rel(result, tmp_path) == ["only.csv"] and result.total == 1


def test_ensure_one_with_no_match_is_file_not_found(tmp_path):
    make(tmp_path, "a.txt")
    with pytest.raises(FileNotFoundIOError) as info:
        find_files("*.csv", root=tmp_path, ensure_one=True)
    assert info.value.code == "FILE_NOT_FOUND" and "0 files" in info.value.message


def test_ensure_one_with_several_matches_gives_the_count(tmp_path):
    make(tmp_path, "a.csv", "b.csv", "c.csv")
    with pytest.raises(InvalidSelectionError) as info:
        find_files("*.csv", root=tmp_path, ensure_one=True)
    assert info.value.code == "INVALID_SELECTION"
    assert "3 files" in info.value.message and "a.csv" in info.value.message


def test_ensure_one_counts_beyond_the_limit(tmp_path):
    make(tmp_path, "a.csv", "b.csv")
    with pytest.raises(InvalidSelectionError, match="2 files"):
        find_files("*.csv", root=tmp_path, ensure_one=True, limit=0)


def test_limit_total_and_truncated(tmp_path):
    make(tmp_path, *[f"f{i}.csv" for i in range(25)])
    result = find_files("*.csv", root=tmp_path, limit=10)
    assert rel(result, tmp_path) == [f"f{i}.csv" for i in range(10)]  # the first 10 in natural order
    assert result.total == 25 and result.truncated and result.total_exact
    whole = find_files("*.csv", root=tmp_path, limit=25)
    assert len(whole.files) == 25 and not whole.truncated
    count_only = find_files("*.csv", root=tmp_path, limit=0)
    assert count_only.files == [] and count_only.total == 25 and count_only.truncated


def test_no_match_is_an_empty_result(tmp_path):
    result = find_files("*.nothing", root=tmp_path)
    assert result == FoundFiles(files=[], total=0, truncated=False, captures=None, total_exact=True)


def test_count_stops_at_the_hard_cap(tmp_path, monkeypatch):
    make(tmp_path, *[f"f{i}.csv" for i in range(12)])
    monkeypatch.setattr(globbing_mod, "MAX_COUNT", 5)
    result = find_files("*.csv", root=tmp_path, limit=3)
    assert result.total == 5 and not result.total_exact and result.truncated
    assert len(result.files) == 3
    exact = find_files("f1.csv", root=tmp_path)
    assert exact.total == 1 and exact.total_exact


@pytest.mark.parametrize("limit", [-1, 1.5, "10", True])
def test_bad_limit_is_refused(tmp_path, limit):
    with pytest.raises(InvalidSelectionError):
        find_files("*", root=tmp_path, limit=limit)


def test_missing_root_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundIOError):
        find_files("*", root=tmp_path / "nope")


def test_files_are_absolute_under_the_resolved_root(tmp_path):
    make(tmp_path, "x.csv")
    (f,) = find_files("x.csv", root=tmp_path).files
    assert f.is_absolute() and f == Path(os.path.realpath(tmp_path)) / "x.csv"
    assert names("./x.csv", tmp_path) == names(".//x.csv", tmp_path) == ["x.csv"]


# --------------------------------------------------------------------------- confinement


@pytest.mark.parametrize(
    "pattern",
    ["/etc/passwd", "/*", "../*", "a/../../x", "..", "{..,a}/x", "{/etc,a}/passwd", "a/{b,..}/c", "~/x", "a\x00b"],
)
def test_absolute_and_parent_patterns_are_refused(tmp_path, pattern):
    with pytest.raises(PathOutsideRootError) as info:
        find_files(pattern, root=tmp_path)
    assert info.value.code == "PATH_OUTSIDE_ROOT"
    assert isinstance(info.value, IOCoreError)


def test_dotdot_lookalikes_are_ordinary_names(tmp_path):
    make(tmp_path, "..data", "x..")
    assert names("..data", tmp_path) == ["..data"]
    assert names("..*", tmp_path) == ["..data"]
    assert names("*..", tmp_path) == ["x.."]


def test_symlinked_folder_out_of_root_is_not_followed(tmp_path):
    outside = make(tmp_path / "outside", "secret.csv", "deep/secret2.csv")
    root = make(tmp_path / "root", "ok.csv")
    os.symlink(outside, root / "link")
    assert names("**/*.csv", root) == ["ok.csv"]
    assert names("link/*.csv", root) == []
    assert names("link/secret.csv", root) == []
    assert names("*/**", root) == []
    assert find_files("**", root=root).total == 1


def test_symlinked_file_out_of_root_is_not_returned(tmp_path):
    outside = make(tmp_path / "outside", "secret.csv")
    root = make(tmp_path / "root", "ok.csv")
    os.symlink(outside / "secret.csv", root / "leak.csv")
    assert names("*.csv", root) == ["ok.csv"]
    assert names("leak.csv", root) == []


def test_symlinks_inside_root_are_followed(tmp_path):
    root = make(tmp_path / "root", "real/a.csv", "b.csv")
    os.symlink(root / "real", root / "alias")
    os.symlink(root / "b.csv", root / "c.csv")
    assert names("**/*.csv", root) == ["alias/a.csv", "b.csv", "c.csv", "real/a.csv"]


def test_symlink_loops_terminate(tmp_path):
    root = make(tmp_path / "root", "a/x.csv")
    os.symlink(root, root / "a" / "up")
    os.symlink(root / "a", root / "a" / "self")
    assert names("**/*.csv", root) == ["a/x.csv"]


def test_root_given_through_a_symlink_is_resolved(tmp_path):
    real = make(tmp_path / "real", "x.csv")
    os.symlink(real, tmp_path / "rootlink")
    result = find_files("*.csv", root=tmp_path / "rootlink")
    assert result.files == [Path(os.path.realpath(real)) / "x.csv"]
