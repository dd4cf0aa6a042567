"""Failures of ``sciio``: ``CODE: message`` and ``Hint:`` on stderr, no traceback, nothing on stdout, and the exit
status the table in sciio/exit_codes.py documents for the code."""

from __future__ import annotations

import importlib

import pytest

from io_core.errors import IOCoreError
from sciio import exit_codes
from tests.cli.conftest import sciio

# Every module that defines IOCoreError subclasses: the table must name each code they define.
ERROR_MODULES = ("io_core.errors", "io_core.stores.experiment_layout", "io_core.stores.results_errors",
                 "io_core.isolation", "io_core.formats.base", "io_core.compute.errors", "server.guards")


def refused(proc, code: str, status: int) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert proc.stdout == ""
    first, *rest = proc.stderr.splitlines()
    assert first.startswith(f"{code}: "), proc.stderr
    assert rest and rest[0].startswith("Hint: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stderr


def test_missing_file(root):
    err = refused(sciio("summary", "nope.h5", cwd=root), "FILE_NOT_FOUND", 3)
    assert "nope.h5" in err
    refused(sciio("--json", "tree", "nope.h5", cwd=root), "FILE_NOT_FOUND", 3)


def test_path_outside_the_root(root, tmp_path):
    outside = tmp_path / "secret.csv"
    outside.write_text("a\n1\n")
    refused(sciio("summary", str(outside), cwd=root), "PATH_OUTSIDE_ROOT", 4)
    refused(sciio("slice", "../secret.csv", cwd=root), "PATH_OUTSIDE_ROOT", 4)
    refused(sciio("convert", "reaction_times.csv", "../out.parquet", cwd=root), "PATH_OUTSIDE_ROOT", 4)
    assert not (tmp_path / "out.parquet").exists()
    # the same file is readable once its folder is a root (--root is repeatable)
    proc = sciio("--root", str(root), "--root", str(tmp_path), "summary", str(outside), "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr


def test_missing_key_hint_names_the_subcommand(root):
    err = refused(sciio("summary", "recording.h5", "--key", "session1/eg", cwd=root), "KEY_NOT_FOUND", 3)
    assert "/session1/eeg" in err and "sciio summary" in err and "load_summary" not in err


def test_write_refusals(root):
    assert sciio("convert", "reaction_times.csv", "t.json", cwd=root).returncode == 0
    refused(sciio("convert", "reaction_times.csv", "t.json", cwd=root), "EXISTS", 8)
    assert sciio("convert", "reaction_times.csv", "t.json", "--overwrite", cwd=root).returncode == 0
    refused(sciio("--read-only", "convert", "reaction_times.csv", "t2.json", cwd=root), "READ_ONLY", 4)
    refused(sciio("convert", "reaction_times.csv", "t3.json", cwd=root, SCIIO_READ_ONLY="true"), "READ_ONLY", 4)


def test_bad_selection_and_unknown_format(root):
    refused(sciio("slice", "recording.h5", "0:2, 9999", "--key", "session1/eeg", cwd=root), "INVALID_SELECTION", 7)
    (root / "mystery.qqq").write_bytes(b"\x00\x01")
    refused(sciio("summary", "mystery.qqq", cwd=root), "FORMAT_UNKNOWN", 5)
    (root / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    refused(sciio("summary", "broken.h5", cwd=root), "CORRUPT_FILE", 6)


def test_usage_errors_exit_2(root):
    refused(sciio("sumary", "x", cwd=root), "INVALID_ARGUMENT", 2)
    refused(sciio("tree", "recording.h5", "--depth", "many", cwd=root), "INVALID_ARGUMENT", 2)
    refused(sciio("--root", str(root / "no-such-folder"), "formats", cwd=root), "INVALID_ARGUMENT", 2)
    proc = sciio(cwd=root)  # no subcommand: the help, on stderr
    assert proc.returncode == 2 and "summary" in proc.stderr


def test_verify_statuses(root):
    assert sciio("convert", "reaction_times.csv", "t.parquet", cwd=root).returncode == 0
    assert sciio("verify", "t.parquet", cwd=root).returncode == exit_codes.OK
    proc = sciio("verify", "reaction_times.csv", cwd=root)  # never written through sciio
    assert proc.returncode == 12 and proc.stdout.startswith("UNKNOWN")
    with open(root / "t.parquet", "ab") as f:
        f.write(b"tampered")
    proc = sciio("verify", "t.parquet", "--json", cwd=root)
    assert proc.returncode == 11 and '"MODIFIED"' in proc.stdout


def _all_error_classes() -> list[type[IOCoreError]]:
    for name in ERROR_MODULES:
        importlib.import_module(name)
    found, todo = [], [IOCoreError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _all_error_classes(), ids=lambda c: c.code)
def test_every_error_code_has_a_documented_status(cls):
    assert cls.code in exit_codes.BY_CODE, f"{cls.code} is missing from sciio/exit_codes.py FAMILIES"
    status = exit_codes.status_of(cls.__new__(cls))
    assert status == exit_codes.BY_CODE[cls.code] and status not in (exit_codes.OK, exit_codes.UNEXPECTED)


def test_a_new_code_takes_its_parents_family():
    from io_core.errors import KeyNotFoundError

    class PluginKeyMissing(KeyNotFoundError):
        code = "PLUGIN_KEY_MISSING"

    class PluginOddity(IOCoreError):
        code = "PLUGIN_ODDITY"

    assert exit_codes.status_of(PluginKeyMissing("x")) == exit_codes.BY_CODE["KEY_NOT_FOUND"]
    assert exit_codes.status_of(PluginOddity("x")) == exit_codes.OTHER


def test_hints_name_options_not_tool_arguments(root):
    (root / "notes.txt").write_text("a\nb\n")
    err = refused(sciio("slice", "notes.txt", "0:1", cwd=root), "INVALID_SELECTION", 7)
    assert "--offset" in err and "--limit" in err and "offset=" not in err
