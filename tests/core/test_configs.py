"""load_configs and DotDict: one test (or more) per rule of io_core/configs.py."""

from __future__ import annotations

import copy
import os
import pickle
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from io_core import configs as configs_mod
from io_core.configs import DotDict, load_configs
from io_core.errors import (
    ConfigConflictError,
    CorruptFileError,
    FileNotFoundIOError,
    InvalidDataError,
    IOCoreError,
    PathOutsideRootError,
    TooLargeError,
    UnsafeFormatError,
)
from io_core.paths import Sandbox


@pytest.fixture(autouse=True)
def _no_ci(monkeypatch):
    """Tests run on CI too: start every test without the CI variable."""
    monkeypatch.delenv("CI", raising=False)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- files and keys


def test_yaml_and_yml_are_both_merged_with_stems_as_top_level_keys(tmp_path):
    write(tmp_path, "model.yaml", "lr: 0.01\n")
    write(tmp_path, "data.yml", "path: /data\n")
    cfg = load_configs(tmp_path)
    assert set(cfg) == {"MODEL", "DATA"}
    assert cfg.model.lr == 0.01
    assert cfg.data.path == "/data"


def test_suffix_is_matched_in_any_case(tmp_path):
    write(tmp_path, "model.YML", "a: 1\n")
    write(tmp_path, "train.Yaml", "b: 2\n")
    cfg = load_configs(tmp_path)
    assert cfg.to_dict() == {"MODEL": {"A": 1}, "TRAIN": {"B": 2}}


def test_only_yaml_files_directly_in_the_folder_are_read(tmp_path):
    write(tmp_path, "model.yaml", "a: 1\n")
    write(tmp_path, "notes.txt", "a: 2\n")
    write(tmp_path, "model.yaml.bak", "a: 3\n")
    write(tmp_path / "sub", "inner.yaml", "a: 4\n")
    (tmp_path / "folder.yaml").mkdir()  # a folder with a yaml name is not a file
    write(tmp_path, ".hidden.yaml", "a: 5\n")
    write(tmp_path, "._model.yaml", "a: 6\n")  # macOS AppleDouble litter
    cfg = load_configs(tmp_path)
    assert cfg.to_dict() == {"MODEL": {"A": 1}}


def test_keys_are_upper_cased_recursively_including_mappings_in_lists(tmp_path):
    write(
        tmp_path,
        "Model.yaml",
        """
        optim:
          Lr: 0.1
          schedule: {warmUp: 5}
        layers:
          - {kind: conv, Size: 3}
          - [ {deep: 1} ]
          - plain
        """,
    )
    cfg = load_configs(tmp_path)
    assert cfg.to_dict() == {
        "MODEL": {
            "OPTIM": {"LR": 0.1, "SCHEDULE": {"WARMUP": 5}},
            "LAYERS": [{"KIND": "conv", "SIZE": 3}, [{"DEEP": 1}], "plain"],
        }
    }
    # values are not touched, only keys
    assert cfg.model.layers[0].kind == "conv"
    assert isinstance(cfg.model.layers[0], DotDict)
    assert isinstance(cfg.model.layers[1][0], DotDict)


def test_non_string_keys_are_kept(tmp_path):
    write(tmp_path, "m.yaml", "1: one\nnull: nothing\nname: x\n")
    cfg = load_configs(tmp_path)
    assert cfg.m[1] == "one"
    assert cfg.m[None] == "nothing"
    assert cfg.m.name == "x"


def test_lookups_are_case_insensitive_and_iteration_gives_stored_form(tmp_path):
    write(tmp_path, "model.yaml", "optim: {lr: 0.01}\n")
    cfg = load_configs(tmp_path)
    assert cfg.model.optim.lr == 0.01
    assert cfg.MODEL.Optim.LR == 0.01
    assert cfg["Model"]["OPTIM"]["lr"] == 0.01
    assert "model" in cfg and "MoDeL" in cfg and "other" not in cfg
    assert cfg.model.get("Optim").get("LR") == 0.01
    assert cfg.get("missing", 42) == 42
    assert list(cfg) == ["MODEL"]
    assert list(cfg.model.optim.keys()) == ["LR"]
    assert list(cfg.model.items()) == [("OPTIM", {"LR": 0.01})]
    with pytest.raises(KeyError):
        cfg["missing"]
    with pytest.raises(AttributeError, match="missing"):
        _ = cfg.missing
    assert not hasattr(cfg, "missing")
    assert [] not in cfg  # unhashable probe: False, not TypeError


def test_dotdict_is_a_read_only_mapping_equal_to_plain_dicts(tmp_path):
    write(tmp_path, "model.yaml", "optim: {lr: 0.01}\nlayers: [{a: 1}]\n")
    cfg = load_configs(tmp_path)
    assert isinstance(cfg, Mapping)
    assert len(cfg) == 1 and len(cfg.model) == 2
    assert cfg == {"MODEL": {"OPTIM": {"LR": 0.01}, "LAYERS": [{"A": 1}]}}
    assert cfg != {"model": {"optim": {"lr": 0.01}, "layers": [{"a": 1}]}}  # stored form only
    plain = cfg.to_dict()
    assert type(plain) is dict and type(plain["MODEL"]) is dict
    assert type(plain["MODEL"]["LAYERS"][0]) is dict
    plain["MODEL"]["OPTIM"]["LR"] = 1.0  # a copy: the DotDict is unchanged
    assert cfg.model.optim.lr == 0.01
    with pytest.raises(TypeError):
        cfg.model = 1
    with pytest.raises(TypeError):
        cfg["MODEL"] = 1  # type: ignore[index]
    assert "optim" in {k.lower() for k in dir(cfg.model)}


def test_dotdict_survives_pickle_and_copy(tmp_path):
    write(tmp_path, "model.yaml", "optim: {lr: 0.01}\n")
    cfg = load_configs(tmp_path)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    clone = copy.deepcopy(cfg)
    assert clone == cfg and isinstance(clone.model, DotDict)
    assert copy.copy(cfg) == cfg


def test_dotdict_constructor_normalises_and_checks_collisions():
    d = DotDict({"a": {"b": [{"c": 1}]}}, extra=2)
    assert d.A.B[0].c == 1 and d.extra == 2
    assert list(d) == ["A", "EXTRA"]
    with pytest.raises(ConfigConflictError) as info:
        DotDict({"x": {"lr": 1, "LR": 2}})
    assert "'lr'" in info.value.message and "'LR'" in info.value.message and "X" in info.value.message


# --------------------------------------------------------------------------- collisions


def test_keys_folding_together_in_one_mapping_are_a_conflict(tmp_path):
    write(tmp_path, "model.yaml", "optim:\n  lr: 0.01\n  LR: 0.1\n")
    with pytest.raises(ConfigConflictError) as info:
        load_configs(tmp_path)
    err = info.value
    assert err.code == "CONFIG_CONFLICT"
    assert isinstance(err, IOCoreError) and isinstance(err, InvalidDataError)
    assert "model.yaml" in err.message
    assert "MODEL.OPTIM" in err.message
    assert "'lr'" in err.message and "'LR'" in err.message
    assert err.path is not None and err.path.endswith("model.yaml")
    assert err.hint


def test_conflict_at_file_top_level_and_inside_lists_names_the_path(tmp_path):
    write(tmp_path, "train.yml", "Epochs: 1\nepochs: 2\n")
    with pytest.raises(ConfigConflictError) as info:
        load_configs(tmp_path)
    msg = info.value.message
    assert "train.yml" in msg and "mapping TRAIN " in msg and "'Epochs'" in msg and "'epochs'" in msg

    (tmp_path / "train.yml").unlink()
    write(tmp_path, "net.yaml", "layers:\n  - {a: 1}\n  - {Size: 1, size: 2}\n")
    with pytest.raises(ConfigConflictError) as info:
        load_configs(tmp_path)
    msg = info.value.message
    assert "net.yaml" in msg and "NET.LAYERS[1]" in msg and "'Size'" in msg and "'size'" in msg


def test_exact_duplicate_key_is_a_conflict_not_silently_dropped(tmp_path):
    write(tmp_path, "model.yaml", "optim:\n  lr: 0.01\n  lr: 0.1\n")
    with pytest.raises(ConfigConflictError) as info:
        load_configs(tmp_path)
    msg = info.value.message
    assert "model.yaml" in msg and "MODEL.OPTIM" in msg and "'lr'" in msg
    assert "lines 2 and 3" in msg


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    write(tmp_path, "m.yaml", "base: &b {lr: 1, wd: 2}\nrun:\n  <<: *b\n  lr: 3\n")
    cfg = load_configs(tmp_path)
    assert cfg.m.run == {"LR": 3, "WD": 2}


def test_two_files_whose_stems_fold_together_are_a_conflict(tmp_path):
    write(tmp_path, "Model.yaml", "a: 1\n")
    write(tmp_path, "model.yml", "a: 2\n")
    with pytest.raises(ConfigConflictError) as info:
        load_configs(tmp_path)
    msg = info.value.message
    assert info.value.code == "CONFIG_CONFLICT"
    assert "Model.yaml" in msg and "model.yml" in msg
    assert "'Model'" in msg and "'model'" in msg and "'MODEL'" in msg


def test_same_stem_with_both_suffixes_is_a_conflict(tmp_path):
    write(tmp_path, "model.yaml", "a: 1\n")
    write(tmp_path, "model.yml", "a: 2\n")
    with pytest.raises(ConfigConflictError, match="model.yaml.*model.yml"):
        load_configs(tmp_path)


def test_debug_key_and_its_twin_are_not_a_collision(tmp_path):
    write(tmp_path, "model.yaml", "debug_lr: 0.1\nLR: 0.01\n")
    assert load_configs(tmp_path, debug=False).model == {"DEBUG_LR": 0.1, "LR": 0.01}
    assert load_configs(tmp_path, debug=True).model == {"LR": 0.1}


def test_two_spellings_of_the_same_debug_key_collide(tmp_path):
    write(tmp_path, "model.yaml", "debug_lr: 0.1\nDEBUG_LR: 0.2\n")
    for debug in (True, False):
        with pytest.raises(ConfigConflictError) as info:
            load_configs(tmp_path, debug=debug)
        msg = info.value.message
        assert "'debug_lr'" in msg and "'DEBUG_LR'" in msg and "MODEL" in msg


# --------------------------------------------------------------------------- debug promotion


NESTED = """
    name: run
    Debug_Name: debug-run
    optim:
      LR: 0.01
      debug_lr: 0.1
      momentum: 0.9
      schedule:
        Warmup: 5
        DEBUG_warmup: 0
        debug_only: yes
    layers:
      - {size: 64, DEBUG_SIZE: 2}
"""


def test_debug_promotes_mixed_case_pairs_at_every_depth(tmp_path):
    write(tmp_path, "model.yaml", NESTED)
    cfg = load_configs(tmp_path, debug=True)
    assert cfg.to_dict() == {
        "MODEL": {
            "NAME": "debug-run",
            "OPTIM": {"LR": 0.1, "MOMENTUM": 0.9, "SCHEDULE": {"WARMUP": 0, "ONLY": True}},
            "LAYERS": [{"SIZE": 2}],
        }
    }
    # the DEBUG_ keys themselves are gone, and the promoted key keeps the twin's position
    assert list(cfg.model) == ["NAME", "OPTIM", "LAYERS"]
    assert list(cfg.model.optim) == ["LR", "MOMENTUM", "SCHEDULE"]


def test_debug_twin_wins_whichever_comes_first(tmp_path):
    write(tmp_path, "a.yaml", "debug_x: 1\nX: 2\n")
    write(tmp_path, "b.yaml", "X: 2\ndebug_x: 1\n")
    cfg = load_configs(tmp_path, debug=True)
    assert cfg.a == {"X": 1} and cfg.b == {"X": 1}


def test_debug_value_replaces_rather_than_merges(tmp_path):
    write(tmp_path, "m.yaml", "optim: {lr: 1, wd: 2}\ndebug_optim: {lr: 3}\n")
    assert load_configs(tmp_path, debug=True).m.optim == {"LR": 3}


def test_debug_applies_to_file_stems_too(tmp_path):
    write(tmp_path, "model.yaml", "lr: 1\n")
    write(tmp_path, "debug_model.yaml", "lr: 2\n")
    assert load_configs(tmp_path, debug=True) == {"MODEL": {"LR": 2}}
    assert load_configs(tmp_path, debug=False) == {"MODEL": {"LR": 1}, "DEBUG_MODEL": {"LR": 2}}


def test_out_of_debug_mode_debug_keys_are_ordinary_keys(tmp_path):
    write(tmp_path, "model.yaml", NESTED)
    cfg = load_configs(tmp_path)
    assert cfg.model.name == "run" and cfg.model.debug_name == "debug-run"
    assert cfg.model.optim.lr == 0.01 and cfg.model.optim.DEBUG_LR == 0.1
    assert cfg.model.optim.schedule.debug_only is True


def test_only_one_debug_prefix_is_stripped(tmp_path):
    write(tmp_path, "m.yaml", "x: 1\ndebug_x: 2\ndebug_debug_x: 3\nDEBUG_: 4\n")
    assert load_configs(tmp_path, debug=True).m == {"X": 2, "DEBUG_X": 3, "DEBUG_": 4}


# --------------------------------------------------------------------------- debug triggers


@pytest.mark.parametrize("name", ["IS_DEBUG.yaml", "IS_DEBUG.yml", "is_debug.yml", "Is_Debug.YAML"])
@pytest.mark.parametrize("body", ["IS_DEBUG: true\n", "is_debug: True\n", "Is_Debug: 'TRUE'\n"])
def test_is_debug_file_turns_debug_on_and_stays_out_of_the_tree(tmp_path, name, body):
    write(tmp_path, "model.yaml", "lr: 0.01\ndebug_lr: 0.1\n")
    write(tmp_path, name, body)
    cfg = load_configs(tmp_path)
    assert cfg == {"MODEL": {"LR": 0.1}}
    assert "IS_DEBUG" not in cfg


@pytest.mark.parametrize("body", ["IS_DEBUG: false\n", "", "other: true\n", "IS_DEBUG: 1\n"])
def test_is_debug_file_without_true_leaves_debug_off(tmp_path, body):
    write(tmp_path, "model.yaml", "lr: 0.01\ndebug_lr: 0.1\n")
    write(tmp_path, "IS_DEBUG.yaml", body)
    cfg = load_configs(tmp_path)
    assert cfg == {"MODEL": {"LR": 0.01, "DEBUG_LR": 0.1}}


def test_is_debug_file_obeys_the_same_safety_rules(tmp_path):
    write(tmp_path, "IS_DEBUG.yaml", "IS_DEBUG: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(UnsafeFormatError):
        load_configs(tmp_path)


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "tRuE", " true "])
def test_ci_env_true_in_any_case_turns_debug_on(tmp_path, monkeypatch, value):
    write(tmp_path, "model.yaml", "lr: 0.01\nDebug_LR: 0.1\n")
    monkeypatch.setenv("CI", value)
    assert load_configs(tmp_path).model == {"LR": 0.1}


@pytest.mark.parametrize("value", ["false", "1", "yes", "", "truee"])
def test_ci_env_other_values_leave_debug_off(tmp_path, monkeypatch, value):
    write(tmp_path, "model.yaml", "lr: 0.01\nDebug_LR: 0.1\n")
    monkeypatch.setenv("CI", value)
    assert load_configs(tmp_path).model == {"LR": 0.01, "DEBUG_LR": 0.1}


def test_debug_argument_true_turns_debug_on(tmp_path):
    write(tmp_path, "model.yaml", "lr: 0.01\ndebug_lr: 0.1\n")
    assert load_configs(tmp_path, debug=True).model == {"LR": 0.1}
    assert load_configs(tmp_path).model == {"LR": 0.01, "DEBUG_LR": 0.1}


def test_explicit_debug_false_wins_over_is_debug_file_and_ci(tmp_path, monkeypatch):
    write(tmp_path, "model.yaml", "lr: 0.01\ndebug_lr: 0.1\n")
    write(tmp_path, "IS_DEBUG.yml", "IS_DEBUG: true\n")
    monkeypatch.setenv("CI", "TRUE")
    assert load_configs(tmp_path).model == {"LR": 0.1}  # both triggers active
    assert load_configs(tmp_path, debug=False).model == {"LR": 0.01, "DEBUG_LR": 0.1}
    monkeypatch.delenv("CI")
    assert load_configs(tmp_path, debug=False).model == {"LR": 0.01, "DEBUG_LR": 0.1}


def test_explicit_debug_true_wins_over_is_debug_false(tmp_path):
    write(tmp_path, "model.yaml", "lr: 0.01\ndebug_lr: 0.1\n")
    write(tmp_path, "IS_DEBUG.yaml", "IS_DEBUG: false\n")
    assert load_configs(tmp_path, debug=True).model == {"LR": 0.1}


def test_is_debug_false_does_not_veto_ci(tmp_path, monkeypatch):
    write(tmp_path, "model.yaml", "lr: 0.01\ndebug_lr: 0.1\n")
    write(tmp_path, "IS_DEBUG.yaml", "IS_DEBUG: false\n")
    monkeypatch.setenv("CI", "true")
    assert load_configs(tmp_path).model == {"LR": 0.1}


# --------------------------------------------------------------------------- errors and safety


def test_missing_folder_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundIOError) as info:
        load_configs(tmp_path / "nope")
    assert info.value.code == "FILE_NOT_FOUND"
    assert "nope" in info.value.message


def test_a_file_instead_of_a_folder_is_file_not_found(tmp_path):
    path = write(tmp_path, "model.yaml", "a: 1\n")
    with pytest.raises(FileNotFoundIOError, match="not a folder"):
        load_configs(path)


def test_default_folder_is_config_relative_to_cwd(tmp_path, monkeypatch):
    write(tmp_path / "config", "model.yaml", "a: 1\n")
    monkeypatch.chdir(tmp_path)
    assert load_configs() == {"MODEL": {"A": 1}}


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.mkdir [{marker}]",
        "!!python/object/new:os.mkdir [{marker}]",
        "!!python/name:os.system",
        "!!python/object:collections.OrderedDict {{}}",
        "!python/object/apply:os.mkdir [{marker}]",
    ],
)
def test_python_tags_are_refused_and_never_executed(tmp_path, payload):
    marker = tmp_path / "pwned"
    write(tmp_path / "cfg", "evil.yaml", "x: " + payload.format(marker=str(marker)) + "\n")
    with pytest.raises(UnsafeFormatError) as info:
        load_configs(tmp_path / "cfg")
    assert info.value.code == "UNSAFE_FORMAT"
    assert "evil.yaml" in info.value.message and "python" in info.value.message
    assert "pickle" not in info.value.hint
    assert not marker.exists()


@pytest.mark.parametrize("body,kind", [("- a\n- b\n", "list"), ("42\n", "int"), ("just text\n", "str")])
def test_top_level_that_is_not_a_mapping_is_an_error_naming_the_file(tmp_path, body, kind):
    write(tmp_path, "bad.yaml", body)
    with pytest.raises(InvalidDataError) as info:
        load_configs(tmp_path)
    assert info.value.code == "INVALID_DATA"
    assert "bad.yaml" in info.value.message and kind in info.value.message


@pytest.mark.parametrize("body", ["", "# only a comment\n", "null\n", "---\n"])
def test_empty_file_gives_an_empty_mapping(tmp_path, body):
    write(tmp_path, "empty.yml", body)
    cfg = load_configs(tmp_path)
    assert cfg == {"EMPTY": {}}
    assert isinstance(cfg.empty, DotDict) and len(cfg.empty) == 0


def test_empty_folder_gives_an_empty_tree(tmp_path):
    assert load_configs(tmp_path) == {}


@pytest.mark.parametrize("body", ["a: [1, 2\n", "a: 1\n---\nb: 2\n", "a: !custom 1\n"])
def test_invalid_yaml_is_corrupt_file_naming_the_file(tmp_path, body):
    write(tmp_path, "broken.yaml", body)
    with pytest.raises(CorruptFileError) as info:
        load_configs(tmp_path)
    assert "broken.yaml" in info.value.message


def test_bad_encoding_is_corrupt_file(tmp_path):
    (tmp_path / "latin.yaml").write_bytes(b"a: \xff\xfe\xfd\n")
    with pytest.raises(CorruptFileError, match="latin.yaml"):
        load_configs(tmp_path)


def test_recursive_alias_is_refused(tmp_path):
    write(tmp_path, "loop.yaml", "a: &x [1, *x]\n")
    with pytest.raises(InvalidDataError, match="recursive"):
        load_configs(tmp_path)


def test_alias_bomb_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(configs_mod, "MAX_VALUES", 10_000)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    with pytest.raises(TooLargeError, match="bomb.yaml"):
        load_configs(tmp_path)


def test_aliases_give_independent_copies(tmp_path):
    write(tmp_path, "m.yaml", "base: &b {lr: 1}\nrun: *b\n")
    cfg = load_configs(tmp_path)
    assert cfg.m.base == cfg.m.run == {"LR": 1}
    assert cfg.m.base is not cfg.m.run


# --------------------------------------------------------------------------- sandbox


def test_sandbox_resolves_relative_folder_under_first_root(tmp_path):
    write(tmp_path / "root" / "conf", "model.yaml", "a: 1\n")
    sandbox = Sandbox([tmp_path / "root"])
    assert load_configs("conf", sandbox=sandbox) == {"MODEL": {"A": 1}}


def test_sandbox_refuses_folder_outside_roots(tmp_path):
    write(tmp_path / "outside", "model.yaml", "a: 1\n")
    (tmp_path / "root").mkdir()
    sandbox = Sandbox([tmp_path / "root"])
    with pytest.raises(PathOutsideRootError):
        load_configs(tmp_path / "outside", sandbox=sandbox)
    with pytest.raises(PathOutsideRootError):
        load_configs("../outside", sandbox=sandbox)


def test_sandbox_refuses_yaml_symlink_leading_out_of_roots(tmp_path):
    secret = write(tmp_path / "outside", "secret.yaml", "token: abc\n")
    folder = tmp_path / "root" / "conf"
    write(folder, "model.yaml", "a: 1\n")
    os.symlink(secret, folder / "leak.yaml")
    with pytest.raises(PathOutsideRootError):
        load_configs("conf", sandbox=Sandbox([tmp_path / "root"]))
    # without a sandbox the link is an ordinary file, keyed by the link's own name
    assert load_configs(folder).leak.token == "abc"


def test_sandbox_keys_files_by_their_listed_name(tmp_path):
    folder = tmp_path / "root" / "conf"
    write(folder, "real.yaml", "a: 1\n")
    os.symlink(folder / "real.yaml", folder / "alias.yaml")
    cfg = load_configs("conf", sandbox=Sandbox([tmp_path / "root"]))
    assert set(cfg) == {"REAL", "ALIAS"}
