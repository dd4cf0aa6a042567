"""Errors are bounded where they are built: echoed arguments cut, message and hint capped (issue #10, point 6)."""

from __future__ import annotations

import errno

import pytest

from io_core import errors
from io_core.errors import (
    ECHO_CHARS,
    MAX_HINT_CHARS,
    MAX_MESSAGE_CHARS,
    CorruptFileError,
    KeyNotFoundError,
    PathOutsideRootError,
    coded,
    echo,
)


def test_a_huge_quoted_key_is_cut_to_a_prefix_and_the_rest_of_the_message_kept():
    key = "k" * 100_000
    exc = KeyNotFoundError(f"no object {key!r} in 'f.h5'; can't go on, it's missing")
    assert exc.message.startswith("no object '" + "k" * ECHO_CHARS + "…'")
    assert exc.message.endswith(" in 'f.h5'; can't go on, it's missing")  # apostrophes in words are prose
    assert len(str(exc)) < 400 and "k" * (ECHO_CHARS + 1) not in str(exc) and exc.args == (exc.message,)


def test_unquoted_runs_double_quotes_and_lists_are_cut_too():
    path = "/".join(["d" * 200] * 40)
    assert len(PathOutsideRootError(f"{path} resolves outside").message) <= ECHO_CHARS + 1 + len(" resolves outside")
    msg = CorruptFileError(f'bad "{"x" * 500}" and {["y" * 300, "z"]}').message
    assert msg.count("…") == 2 and "'z'" in msg and len(msg) < 3 * ECHO_CHARS + 40


def test_whole_message_and_hint_are_capped_and_a_replaced_hint_is_bounded():
    words = " ".join(["word"] * 10_000)
    exc = CorruptFileError(words, hint=words, path="p" * 10_000)
    assert len(exc.message) <= MAX_MESSAGE_CHARS + 1 and len(exc.hint) <= MAX_HINT_CHARS + 1
    assert len(exc.path) <= 4 * ECHO_CHARS + 1
    exc.hint = "Its content looks like " + "q" * 5000
    assert len(exc.hint) <= len("Its content looks like ") + ECHO_CHARS + 1


def test_short_messages_are_unchanged():
    text = "no column 'x'; columns: ['a', 'b'] (see https://example.org/a/b)"
    assert KeyNotFoundError(text).message == text


def test_echo_quotes_and_cuts_one_argument():
    assert echo("ab") == "'ab'"
    assert echo("a" * 500) == "'" + "a" * ECHO_CHARS + "…'"
    assert echo(list(range(10_000))).endswith("…") and len(echo(list(range(10_000)))) == ECHO_CHARS + 1


def test_bounding_a_pathological_message_stays_fast():
    import time

    started = time.perf_counter()
    for text in ["'" * 1_000_000, "\"'" * 500_000, "\\" * 1_000_000, "a'" * 500_000]:
        assert len(CorruptFileError(text).message) <= MAX_MESSAGE_CHARS + 1
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("err, code", [
    (errno.ENOSPC, "WRITE_FAILED"), (errno.EDQUOT, "WRITE_FAILED"), (errno.EFBIG, "WRITE_FAILED"),
    (errno.EACCES, "PERMISSION_DENIED"), (errno.EPERM, "PERMISSION_DENIED"), (errno.EROFS, "PERMISSION_DENIED"),
    (errno.ENAMETOOLONG, "NAME_TOO_LONG"), (errno.ENOENT, "FILE_NOT_FOUND"), (errno.EISDIR, "NOT_A_FILE"),
    (errno.EIO, "IO_ERROR"),
])
def test_os_errors_map_to_codes_without_the_server_path(err, code):
    exc = coded(OSError(err, "as the kernel says", "/srv/hidden/folder/name.txt"))
    assert exc.code == code and "as the kernel says" in exc.message and "'name.txt'" in exc.message
    assert "/srv/hidden" not in str(exc) and exc.hint


def test_real_os_errors_map_too(tmp_path):
    with pytest.raises(OSError) as info:
        (tmp_path / ("n" * 300)).read_bytes()
    assert coded(info.value).code == "NAME_TOO_LONG"


def test_recursion_and_memory_errors_are_coded_and_bugs_are_not():
    def deep(n=0):
        return deep(n + 1)

    with pytest.raises(RecursionError) as info:
        deep()
    assert coded(info.value).code == "INVALID_DATA"
    assert coded(MemoryError()).code == "TOO_LARGE"
    assert coded(RuntimeError("bug")) is None and coded(OSError("no errno")) is None
    assert coded(errors.ExistsError("x")).code == "EXISTS"
