"""The hostile corpus as data: one ``Case`` per request, with the files it needs and the codes
a correct server may answer.

Arguments and builder targets use tokens, replaced per case:

    <d>     the case's folder, relative to the first root (the case id)
    <D>     the same folder, absolute
    <root>, <root2>, <base>, <out>   the roots, the session's base folder, the outside folder
    <s>     the shared folder of heavy files built once per session (relative)

Sources: the categories of issue #10, and the path-validation cases of the MCP reference
filesystem server (modelcontextprotocol/servers, src/filesystem/__tests__/path-validation.test.ts:
prefix siblings, parent and root, traversal mixes, null bytes at each position, percent names,
repeated slashes, 1000-level paths, symlink chains, symlinked parents, broken links, exclusive
creation over a link, rename over a link).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from io_core.registry import REGISTRY
from tests.security import builders as b
from tests.security.case_kit import (
    DEEP,
    NAF,
    NF,
    OK,
    POR,
    TL,
    WRITE_NAME,
    Case,
    Ctx,
    call_builder,
    chardev,
    eeglab,
    fif_split,
    fifo,
    h5,
    link,
    mkdir,
    nifti_pair,
    shared,
    text,
    tmpfs,
    unix_socket,
    vhdr,
    with_soft,
    zarr_chunk_to,
    zarr_group_member_to,
)
from tests.security.harness import RESOURCE

__all__ = ["CASES", "NOTES", "Case", "Ctx"]

# -- the corpus ---------------------------------------------------------------------------------------

CASES: list[Case] = []


def add(id: str, tool: str, args: dict[str, Any], expect: tuple[str, ...], *build: Callable[[Ctx], None],
        **kw: Any) -> None:
    assert all(c.id != id for c in CASES), id
    CASES.append(Case(id, tool, args, expect, list(build), **kw))


def summary(path: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, **extra}


# 1. path escapes -------------------------------------------------------------------------------------
add("esc_dotdot", "load_summary", summary("../outside/secret.txt"), POR)
add("esc_dotdot_slice", "read_slice", summary("../outside/secret.csv"), POR)
add("esc_dotdot_from_case", "load_summary", summary("<d>/../../outside/secret.txt"), POR)
add("esc_dotdot_many", "load_summary", summary("../" * 12 + "etc/passwd"), POR)
add("esc_abs_outside", "load_summary", summary("<out>/secret.txt"), POR)
add("esc_abs_etc_passwd", "read_slice", summary("/etc/passwd"), POR)
add("esc_abs_proc_environ", "read_slice", summary("/proc/self/environ"), POR)
add("esc_proc_self_root", "load_summary", summary("/proc/self/root<out>/secret.txt"), POR)
add("esc_root_then_up", "load_summary", summary("<root>/../outside/secret.txt"), POR)
add("esc_root2_then_up", "load_summary", summary("<root2>/../outside/secret.txt"), POR)
add("esc_parent_of_root", "load_summary", summary("<root>/.."), POR)
add("esc_filesystem_root", "load_summary", summary("/"), POR)
add("esc_dot_segments", "load_summary", summary("<root>/./../outside/./secret.txt"), POR)
add("esc_mixed_segments", "load_summary", summary("<d>/sub/../../../outside/secret.txt"), POR, mkdir("sub"))
add("esc_round_trip", "load_summary", summary("<root>/../data/../outside/secret.txt"), POR)
add("esc_dotdot_verify", "verify_file", summary("../outside/secret.txt"), POR)
add("esc_dotdot_provenance", "file_provenance", summary("../outside/secret.txt"), POR)
add("esc_dotdot_metadata", "read_metadata", summary("../outside/secret.txt"), POR)
add("esc_dotdot_preview", "preview_image", summary("../outside/secret.csv"), POR)
add("esc_dotdot_explore", "explore_h5", summary("../outside/secret.h5"), POR)
add("esc_dotdot_key_exists", "key_exists", {"path": "../outside/secret.h5", "key": "num"}, POR)
add("esc_dotdot_convert_src", "convert", {"src": "../outside/secret.csv", "dst": "<d>/o.json"}, POR)
add("esc_dotdot_convert_dst", "convert", {"src": "<s>/small.csv", "dst": "../outside/new.json"}, POR,
    shared("small.csv"))
add("esc_dotdot_save", "save", {"path": "../outside/new.json", "data": {"a": 1}}, POR)
add("esc_abs_save", "save", {"path": "<out>/new.txt", "data": "pwned"}, POR)
add("esc_save_overwrite_outside", "save", {"path": "<out>/victim.txt", "data": "pwned", "overwrite": True}, POR)
add("esc_embed_outside", "embed_metadata", {"path": "../outside/secret.png", "metadata": {"a": 1}}, POR)
add("esc_configs_outside", "load_configs", {"config_dir": "../outside"}, POR)
add("esc_configs_abs", "load_configs", {"config_dir": "<out>"}, POR)
# the MCP filesystem server's prefix-sibling cases: /data-evil is not inside /data
add("prefix_sibling_abs", "load_summary", summary("<base>/data-evil/secret.txt"), POR)
add("prefix_sibling_rel", "load_summary", summary("../data-evil/secret.txt"), POR)
add("prefix_backup", "read_slice", summary("<base>/data_backup/secret.csv"), POR)
add("prefix_second_root", "load_summary", summary("<base>/data2_old/secret.txt"), POR)
add("prefix_second_root_rel", "load_summary", summary("<root2>/../data2_old/secret.txt"), POR)
add("prefix_double_slash", "load_summary", summary("<base>//data-evil//secret.txt"), POR)
add("mcp_long_escape", "load_summary", summary("a/" * 1000 + "../" * 1001 + "outside/secret.txt"),
    POR + ("NAME_TOO_LONG",))
add("mcp_long_inside", "load_summary", summary("a/" * 1000 + "file.txt"), NF)
# names the file system cannot hold
add("long_name_300", "load_summary", summary("<d>/" + "n" * 300 + ".txt"), NF)
add("long_name_300_save", "save", {"path": "<d>/" + "n" * 300 + ".json", "data": {"a": 1}}, WRITE_NAME)
add("long_name_300_convert", "convert", {"src": "<s>/small.csv", "dst": "<d>/" + "n" * 300 + ".json"}, WRITE_NAME,
    shared("small.csv"))
add("long_path_6000", "load_summary", summary("<d>/" + "a/" * 3000 + "x.txt"), NF)
add("long_path_6000_save", "save", {"path": "<d>/" + "a/" * 3000 + "x.json", "data": [1]}, WRITE_NAME)
add("long_path_6000_slice", "read_slice", summary("<d>/" + "b" * 6000 + ".csv"), NF)
# home directories
add("tilde_home", "load_summary", summary("~/secret.txt"), POR)
add("tilde_user", "load_summary", summary("~root/.bashrc"), POR)
add("tilde_alone", "load_summary", summary("~"), POR)
add("tilde_save", "save", {"path": "~/new.json", "data": {"a": 1}}, POR)
# null bytes at every position (MCP filesystem server)
add("null_middle", "load_summary", summary("<d>/ok.txt\x00/../../../etc/passwd"), POR, text("ok.txt"))
add("null_leading", "load_summary", summary("\x00/etc/passwd"), POR)
add("null_trailing", "load_summary", summary("<d>/ok.txt\x00"), POR, text("ok.txt"))
add("null_after_root", "load_summary", summary("<root>\x00/etc/passwd"), POR)
add("null_save", "save", {"path": "<d>/x\x00.json", "data": {"a": 1}}, POR)
add("null_pattern", "find_files", {"pattern": "*\x00/../*"}, POR)
# URL-ish and encoded forms: at most a strange name inside the root
add("url_file_scheme", "load_summary", summary("file:///etc/passwd"), NF)
add("url_file_outside", "load_summary", summary("file://<out>/secret.txt"), NF)
add("url_http", "load_summary", summary("http://127.0.0.1:9/etc/passwd"), NF)
add("url_s3", "load_summary", summary("s3://bucket/secret.txt"), NF)
add("enc_dotdot", "load_summary", summary("%2e%2e/outside/secret.txt"), NF)
add("enc_slashes", "load_summary", summary("..%2f..%2foutside%2fsecret.txt"), NF)
add("enc_double", "load_summary", summary("%252e%252e%252foutside%252fsecret.txt"), NF)
add("enc_overlong_utf8", "load_summary", summary("%c0%ae%c0%ae/outside/secret.txt"), NF)
add("uni_fullwidth_dots", "load_summary", summary("\uff0e\uff0e/outside/secret.txt"), NF)
add("uni_fullwidth_slash", "load_summary", summary("..\uff0foutside\uff0fsecret.txt"), NF)
add("uni_one_dot_leader", "load_summary", summary("\u2024\u2024/outside/secret.txt"), NF)
add("uni_combining_dots", "load_summary", summary(".\u0338./outside/secret.txt"), NF)
add("uni_rtl_override", "load_summary", summary("<d>/\u202etxt.terces"), NF)
add("uni_nfd_of_nfc_file", "load_summary", summary("<d>/cafe\u0301.txt"), ("OK", "FILE_NOT_FOUND"), text("caf\u00e9.txt"))
# Windows separators and names: literal characters on POSIX
add("win_backslash", "load_summary", summary("..\\..\\outside\\secret.txt"), NF)
add("win_backslash_root", "load_summary", summary("<root>\\..\\outside\\secret.txt"), NF)
add("win_mixed", "load_summary", summary("..\\/..\\/outside/secret.txt"), NF)
add("win_drive", "load_summary", summary("C:\\Windows\\win.ini"), NF)
add("win_drive_slash", "load_summary", summary("C:/etc/passwd"), NF)
add("win_unc", "load_summary", summary("\\\\server\\share\\secret.txt"), NF)
add("win_device_name", "load_summary", summary("<d>/NUL"), NF)
add("win_backslash_save", "save", {"path": "..\\outside\\new.json", "data": {"a": 1}}, ("OK", "PATH_OUTSIDE_ROOT"),
    new_ok=("..\\outside\\new.json",), note="a literal name inside the root is fine; outside must not change")
# the ledger folder is reserved
add("ledger_read", "load_summary", summary(".sciio/ledger.sqlite"), POR)
add("ledger_read_upper", "load_summary", summary(".SCIIO/ledger.sqlite"), NF)
add("ledger_slice", "read_slice", summary(".sciio/ledger.sqlite"), POR)
add("ledger_provenance", "file_provenance", summary(".sciio/ledger.sqlite"), POR)
add("ledger_save", "save", {"path": ".sciio/x.json", "data": {"a": 1}}, POR)
add("ledger_save_over", "save", {"path": ".sciio/ledger.sqlite", "data": {"a": 1}, "format": "json",
                                 "overwrite": True}, POR)
add("ledger_convert_dst", "convert", {"src": "<s>/small.csv", "dst": ".sciio/ledger.sqlite", "overwrite": True}, POR,
    shared("small.csv"))
add("ledger_dotdot", "load_summary", summary("<d>/../.sciio/ledger.sqlite"), POR)
add("ledger_symlink_dir", "load_summary", summary("<d>/led/ledger.sqlite"), POR, link("led", "<root>/.sciio"))
add("ledger_symlink_file", "read_slice", summary("<d>/l.sqlite"), POR, link("l.sqlite", "<root>/.sciio/ledger.sqlite"))
add("ledger_symlink_save", "save", {"path": "<d>/l2.sqlite", "data": {"a": 1}, "format": "json", "overwrite": True},
    POR, link("l2.sqlite", "<root>/.sciio/ledger.sqlite"))
add("ledger_find", "find_files", {"pattern": ".sciio/*"}, ("OK", "PATH_OUTSIDE_ROOT"), forbid=("ledger.sqlite",))
add("ledger_find_braces", "find_files", {"pattern": "{.sciio,.SCIIO,x}/*"}, ("OK", "PATH_OUTSIDE_ROOT"),
    forbid=("ledger.sqlite",))
add("ledger_find_globstar", "find_files", {"pattern": "**/.sciio/*"}, ("OK", "PATH_OUTSIDE_ROOT"),
    forbid=("ledger.sqlite",))
# symlinks out (file, parent folder, chains, relative, broken)
add("sym_file", "load_summary", summary("<d>/link.txt"), POR, link("link.txt", "<out>/secret.txt"))
add("sym_file_slice", "read_slice", summary("<d>/link.csv"), POR, link("link.csv", "<out>/secret.csv"))
add("sym_file_verify", "verify_file", summary("<d>/link.txt"), POR, link("link.txt", "<out>/secret.txt"))
add("sym_file_provenance", "file_provenance", summary("<d>/link.txt"), POR, link("link.txt", "<out>/secret.txt"))
add("sym_file_metadata", "read_metadata", summary("<d>/link.png"), POR, link("link.png", "<out>/secret.png"))
add("sym_file_preview", "preview_image", summary("<d>/link.csv"), POR, link("link.csv", "<out>/secret.csv"))
add("sym_file_convert", "convert", {"src": "<d>/link.csv", "dst": "<d>/o.json"}, POR, link("link.csv", "<out>/secret.csv"))
add("sym_file_key_exists", "key_exists", {"path": "<d>/link.h5", "key": "num"}, POR, link("link.h5", "<out>/secret.h5"))
add("sym_file_explore", "explore_h5", summary("<d>/link.h5"), POR, link("link.h5", "<out>/secret.h5"))
add("sym_file_npy", "read_slice", summary("<d>/link.npy"), POR, link("link.npy", "<out>/secret.npy"))
add("sym_relative", "load_summary", summary("<d>/rel.txt"), POR, link("rel.txt", "../../outside/secret.txt"))
add("sym_chain", "load_summary", summary("<d>/chain.txt"), POR, link("chain.txt", "<base>/link2"))
add("sym_up_folder", "load_summary", summary("<d>/up/outside/secret.txt"), POR, link("up", "../.."))
add("sym_dir", "load_summary", summary("<d>/sub/secret.txt"), POR, link("sub", "<out>/dir"))
add("sym_dir_slice", "read_slice", summary("<d>/sub/secret.csv"), POR, link("sub", "<out>/dir"))
add("sym_dir_chain", "load_summary", summary("<d>/a/secret.txt"), POR, link("b", "<out>/dir"), link("a", "b"))
add("sym_dir_save", "save", {"path": "<d>/sub/new.json", "data": {"a": 1}}, POR, link("sub", "<out>/dir"))
add("sym_dir_save_deeper", "save", {"path": "<d>/sub1/sub2/file.txt", "data": "CONTENT"}, POR,
    link("sub1", "<out>/dir"))
add("sym_dir_convert_dst", "convert", {"src": "<s>/small.csv", "dst": "<d>/sub/conv.json"}, POR,
    shared("small.csv"), link("sub", "<out>/dir"))
add("sym_dir_embed", "embed_metadata", {"path": "<d>/sub/secret.png", "metadata": {"a": 1}, "overwrite": True}, POR,
    link("sub", "<out>"))
add("sym_file_save_over", "save", {"path": "<d>/victim.txt", "data": "pwned", "overwrite": True},
    ("PATH_OUTSIDE_ROOT", "OK"), link("victim.txt", "<out>/victim.txt"), new_ok=("<d>/victim.txt",),
    note="replacing the link itself is fine; writing through it is not")
add("sym_file_save_exclusive", "save", {"path": "<d>/victim.txt", "data": "pwned"}, ("PATH_OUTSIDE_ROOT", "EXISTS"),
    link("victim.txt", "<out>/victim.txt"))
add("sym_broken_save", "save", {"path": "<d>/broken.json", "data": {"a": 1}}, ("PATH_OUTSIDE_ROOT", "EXISTS"),
    link("broken.json", "<out>/created-through-link.json"))
add("sym_broken_save_over", "save", {"path": "<d>/broken.json", "data": {"a": 1}, "overwrite": True},
    ("PATH_OUTSIDE_ROOT", "OK"), link("broken.json", "<out>/created-through-link.json"), new_ok=("<d>/broken.json",))
add("sym_broken_read", "load_summary", summary("<d>/broken.txt"), NF, link("broken.txt", "<out>/missing.txt"))
add("sym_embed_over", "embed_metadata", {"path": "<d>/p.png", "metadata": {"a": 1}, "overwrite": True},
    ("PATH_OUTSIDE_ROOT", "OK"), link("p.png", "<out>/secret.png"), new_ok=("<d>/p.png",))
add("sym_loop", "load_summary", summary("<d>/loop.txt"), ("FILE_NOT_FOUND", "PATH_OUTSIDE_ROOT", "NOT_A_FILE"),
    link("loop.txt", "loop.txt"))
add("sym_configs_dir", "load_configs", {"config_dir": "<d>/cfg"}, POR, link("cfg", "<out>/dir"))
add("sym_configs_member", "load_configs", {"config_dir": "<d>/cfg"}, POR, mkdir("cfg"),
    link("cfg/leak.yaml", "<out>/secret.yaml"))
add("sym_file_convert_over", "convert", {"src": "<s>/small.csv", "dst": "<d>/victim.json", "overwrite": True},
    ("PATH_OUTSIDE_ROOT", "OK"), shared("small.csv"), link("victim.json", "<out>/victim.txt"), new_ok=("<d>/victim.json",))
add("ff_symlink_loop", "find_files", {"pattern": "<d>/**"}, OK, text("in.txt"), link("loop", "."), link("up", ".."))
# the format argument does not open a way around the checks
add("fmt_pickle_on_text", "load_summary", summary("<d>/t.txt", format="pickle"), ("UNSAFE_FORMAT", "CORRUPT_FILE"),
    text("t.txt"))
add("fmt_unknown_name", "load_summary", summary("<d>/t.txt", format="../../outside/secret"), ("FORMAT_UNKNOWN",),
    text("t.txt"))
add("fmt_hdf5_on_sparse", "load_summary", summary("<s>/sparse.json", format="hdf5"), ("CORRUPT_FILE", "TOO_LARGE"),
    shared("sparse.json"))
add("fmt_text_on_fifo", "read_slice", summary("<d>/f.csv", format="text"), NAF, fifo("f.csv"))
add("fmt_json_on_symlink", "load_summary", summary("<d>/l.bin", format="json"), POR, link("l.bin", "<out>/secret.json"))
# selections that are themselves bombs
add("selection_nested", "read_slice", summary("<s>/small.npy", selection="[" * 5000), ("INVALID_SELECTION",),
    shared("small.npy"))
add("selection_huge_step", "read_slice", summary("<s>/small.npy", selection="[::" + "9" * 4000 + "]"),
    ("INVALID_SELECTION", "OK", "TOO_LARGE"), shared("small.npy"))
# what must keep working (no over-blocking)
add("ok_dots_in_name", "load_summary", summary("<d>/..test.txt"), OK, text("..test.txt"))
add("ok_percent_name", "load_summary", summary("<d>/%2e%2e.txt"), OK, text("%2e%2e.txt"))
add("ok_double_slashes", "load_summary", summary("<root>//<d>//real.txt"), OK, text("real.txt"))
add("ok_link_inside", "load_summary", summary("<d>/ok_link.txt"), OK, text("real.txt"), link("ok_link.txt", "real.txt"))
add("ok_second_root", "save", {"path": "<root2>/<d>.json", "data": {"a": 1}}, OK, new_ok=("<root2>/<d>.json",))

# 2. links inside files ----------------------------------------------------------------------------------
EXT = lambda c: b.ext_link(str(c.out / "secret.h5"))
EXT_REL = lambda c: b.ext_link("../../outside/secret.h5")
STORE = lambda c: b.ext_storage(str(c.out / "raw.bin"))
STORE_CWD = lambda c: b.ext_storage(os.path.relpath(c.out / "raw.bin", os.getcwd()))
STORE_LINK = lambda c: b.ext_storage(str(c.d / "raw_link.bin"))
VDS = lambda c: b.vds(str(c.out / "secret.h5"))
VDS_REL = lambda c: b.vds("../../outside/secret.h5")
MAYBE = ("PATH_OUTSIDE_ROOT", "OK")  # whole-file listings may name a link without following it

# every HDF5-container format the registry declares (container="hdf5"), so a new one is covered too:
# the full set for each format's first extension, the essential reads for its other extensions
HDF5_EXTS = {spec.extensions[0].lstrip("."): [e.lstrip(".") for e in spec.extensions[1:]]
             for spec in REGISTRY.specs.values() if spec.container == "hdf5"}
for ext in [*HDF5_EXTS, *(e for others in HDF5_EXTS.values() for e in others)]:
    f = f"<d>/x.{ext}"
    mk = lambda fill, ext=ext: h5(f"x.{ext}", fill)
    add(f"{ext}_extlink_slice", "read_slice", summary(f, key="ext"), POR, mk(EXT))
    add(f"{ext}_extstore_slice", "read_slice", summary(f, key="x"), POR, mk(STORE))
    add(f"{ext}_vds_slice", "read_slice", summary(f, key="v"), POR, mk(VDS))
    if ext not in HDF5_EXTS:
        continue
    add(f"{ext}_extlink_key", "load_summary", summary(f, key="ext"), POR, mk(EXT))
    add(f"{ext}_extlink_relative", "read_slice", summary(f, key="ext"), POR, mk(EXT_REL))
    add(f"{ext}_extlink_convert", "convert", {"src": f, "dst": "<d>/o.npz"}, POR, mk(EXT))
    add(f"{ext}_extlink_summary", "load_summary", summary(f), MAYBE, mk(EXT))
    add(f"{ext}_extstore_key", "load_summary", summary(f, key="x"), POR, mk(STORE))
    add(f"{ext}_extstore_preview", "preview_image", summary(f, key="x"), POR, mk(STORE))
    add(f"{ext}_extstore_convert", "convert", {"src": f, "dst": "<d>/o.npy", "key": "x"}, POR, mk(STORE))
    add(f"{ext}_extstore_summary", "load_summary", summary(f), MAYBE, mk(STORE))
    add(f"{ext}_extstore_cwd_relative", "read_slice", summary(f, key="x"), POR, mk(STORE_CWD))
    add(f"{ext}_extstore_symlink", "read_slice", summary(f, key="x"), POR, mk(STORE_LINK),
        link("raw_link.bin", "<out>/raw.bin"))
    add(f"{ext}_vds_key", "load_summary", summary(f, key="v"), POR, mk(VDS))
    add(f"{ext}_vds_relative", "read_slice", summary(f, key="v"), POR, mk(VDS_REL))
    add(f"{ext}_vds_convert", "convert", {"src": f, "dst": "<d>/o.npy", "key": "v"}, POR, mk(VDS))
add("h5_extlink_explore", "explore_h5", summary("<d>/x.h5", group="/ext"), MAYBE, h5("x.h5", EXT))
add("h5_extlink_key_exists", "key_exists", {"path": "<d>/x.h5", "key": "ext"}, MAYBE, h5("x.h5", EXT))
add("h5_extlink_symlinked_target", "read_slice", summary("<d>/x.h5", key="ext"), POR,
    h5("x.h5", lambda c: b.ext_link("sec.h5")), link("sec.h5", "<out>/secret.h5"))
add("h5_extstore_explore_attrs", "explore_h5", summary("<d>/x.h5", attrs=True), MAYBE, h5("x.h5", STORE))
INSIDE = ("OK", "UNSUPPORTED_OPERATION")  # following a link that stays inside is allowed, not required
add("h5_extstore_inside_ok", "read_slice", summary("<d>/x.h5", key="x"), INSIDE,
    text("raw_in.bin", "0123456789" * 7), h5("x.h5", lambda c: b.ext_storage(str(c.d / "raw_in.bin"))))
add("h5_extlink_inside_ok", "read_slice", summary("<d>/x.h5", key="ext"), INSIDE,
    h5("in.h5", lambda c: lambda f: f.create_dataset("num", data=np.arange(3, dtype="u1"))),
    h5("x.h5", lambda c: b.ext_link(str(c.d / "in.h5"))))
# links that reach the outside in two hops, or through soft links and groups
add("h5_extlink_chain", "read_slice", summary("<d>/x.h5", key="ext"), POR + ("UNSUPPORTED_OPERATION",),
    h5("mid.h5", EXT), h5("x.h5", lambda c: b.ext_link(str(c.d / "mid.h5"), "/ext")))
add("h5_softlink_to_extlink", "read_slice", summary("<d>/x.h5", key="soft"), POR,
    h5("x.h5", lambda c: with_soft(b.ext_link(str(c.out / "secret.h5")), "soft", "/ext")))
add("h5_extlink_to_group", "read_slice", summary("<d>/x.h5", key="g/num"), POR,
    h5("x.h5", lambda c: b.group_link("g", str(c.out / "secret.h5"))))
add("h5_extlink_to_group_explore", "explore_h5", summary("<d>/x.h5", group="/g", attrs=True), MAYBE,
    h5("x.h5", lambda c: b.group_link("g", str(c.out / "secret.h5"))))
add("h5_extlink_explore_attrs", "explore_h5", summary("<d>/x.h5", group="/", depth=3, attrs=True), MAYBE,
    h5("x.h5", lambda c: b.group_link("g", str(c.out / "secret.h5"))))
# Zarr keys and groups that climb out of the store (the store's own path joining must not follow them)
ZKEY = POR + ("KEY_NOT_FOUND", "INVALID_SELECTION")
add("zarr_key_dotdot", "read_slice", summary("<d>/g.zarr", key="../../../outside/zs.zarr"), ZKEY,
    zarr_group_member_to("g.zarr", "unused", "<d>"))
add("zarr_group_dotdot", "explore_zarr", summary("<d>/g.zarr", group="../../../outside/zs.zarr"), ZKEY,
    zarr_group_member_to("g.zarr", "unused", "<d>"))
add("zarr_key_absolute", "read_slice", summary("<d>/g.zarr", key="<out>/zs.zarr"), ZKEY,
    zarr_group_member_to("g.zarr", "unused", "<d>"))
add("zarr_key_exists_dotdot", "key_exists", {"path": "<d>/g.zarr", "key": "../../../outside/zs.zarr"},
    ZKEY + ("OK",), zarr_group_member_to("g.zarr", "unused", "<d>"),
    forbid=('"exists":true',))
# Zarr folders holding symlinks out
add("zarr_chunk_symlink_slice", "read_slice", summary("<d>/z.zarr"), POR, zarr_chunk_to("z.zarr", "<out>/raw.bin"))
add("zarr_chunk_symlink_preview", "preview_image", summary("<d>/z.zarr"), POR, zarr_chunk_to("z.zarr", "<out>/raw.bin"))
add("zarr_chunk_symlink_convert", "convert", {"src": "<d>/z.zarr", "dst": "<d>/o.npy"}, POR,
    zarr_chunk_to("z.zarr", "<out>/raw.bin"))
add("zarr_chunk_symlink_summary", "load_summary", summary("<d>/z.zarr"), MAYBE, zarr_chunk_to("z.zarr", "<out>/raw.bin"))
add("zarr_folder_symlink", "read_slice", summary("<d>/z.zarr"), POR, link("z.zarr", "<out>/zs.zarr"))
add("zarr_member_symlink", "read_slice", summary("<d>/g.zarr", key="arr"), POR,
    zarr_group_member_to("g.zarr", "arr", "<out>/zs.zarr"))
add("zarr_member_symlink_explore", "explore_zarr", summary("<d>/g.zarr", group="arr"), POR,
    zarr_group_member_to("g.zarr", "arr", "<out>/zs.zarr"))
add("zarr_metadata_symlink", "read_slice", summary("<d>/m.zarr"), POR, mkdir("m.zarr"),
    link("m.zarr/zarr.json", "<out>/zs.zarr/zarr.json"), link("m.zarr/c", "<out>/zs.zarr/c"))
# BrainVision headers naming files outside (parsed the way MNE's configparser reads them)
V = "<d>/rec.vhdr"
add("vhdr_datafile_abs", "load_summary", summary(V), POR, vhdr(key="DataFile", value="<out>/secret.eeg"))
add("vhdr_datafile_dotdot", "read_slice", summary(V), POR, vhdr(key="DataFile", value="../../outside/secret.eeg"))
add("vhdr_datafile_symlink", "load_summary", summary(V), POR, vhdr(key="DataFile", value="e.eeg"),
    link("e.eeg", "<out>/secret.eeg"))
add("vhdr_marker_abs", "load_summary", summary(V), POR, vhdr(key="MarkerFile", value="<out>/secret.vmrk"))
add("vhdr_marker_dotdot", "load_summary", summary(V), POR, vhdr(key="MarkerFile", value="../../outside/secret.vmrk"))
add("vhdr_marker_colon", "load_summary", summary(V), POR,
    vhdr(key="MarkerFile", value="<out>/secret.vmrk", sep=": "))
add("vhdr_marker_colon_tight", "load_summary", summary(V), POR,
    vhdr(key="MarkerFile", value="../../outside/secret.vmrk", sep=":"))
add("vhdr_marker_lowercase", "load_summary", summary(V), POR,
    vhdr(key="MarkerFile", value="../../outside/secret.vmrk", spelling="markerfile"))
add("vhdr_marker_padded", "load_summary", summary(V), POR,
    vhdr(key="MarkerFile", value="<out>/secret.vmrk", padding=2**20))
add("vhdr_marker_padded_colon", "load_summary", summary(V), POR,
    vhdr(key="MarkerFile", value="../../outside/secret.vmrk", padding=2**20, sep=" : ", spelling="MARKERFILE"))
add("vhdr_datafile_padded", "load_summary", summary(V), POR,
    vhdr(key="DataFile", value="<out>/secret.eeg", padding=2**20))
add("vhdr_marker_symlink", "load_summary", summary(V), POR, vhdr(key="MarkerFile", value="m.vmrk"),
    link("m.vmrk", "<out>/secret.vmrk"))
add("vhdr_marker_slice", "read_slice", summary(V), POR, vhdr(key="MarkerFile", value="<out>/secret.vmrk"))
add("vhdr_marker_preview", "preview_image", summary(V), POR, vhdr(key="MarkerFile", value="<out>/secret.vmrk"))
add("vhdr_marker_convert", "convert", {"src": V, "dst": "<d>/o.fif"}, POR,
    vhdr(key="MarkerFile", value="<out>/secret.vmrk"))
add("vhdr_datafile_fifo", "load_summary", summary(V), NAF + ("CORRUPT_FILE",), vhdr(key="DataFile", value="f.eeg"),
    fifo("f.eeg"))
# FIF split parts: the next part is a symlink to a file outside
add("fif_split_part_symlink", "load_summary", summary("<d>/rec_raw.fif"), POR, call_builder(lambda p, c: fif_split(p, c), "rec_raw.fif"))
add("fif_split_part_symlink_slice", "read_slice", summary("<d>/rec_raw.fif"), POR,
    call_builder(lambda p, c: fif_split(p, c), "rec_raw.fif"))
add("fif_split_part_symlink_convert", "convert", {"src": "<d>/rec_raw.fif", "dst": "<d>/o.fif"}, POR,
    call_builder(lambda p, c: fif_split(p, c), "rec_raw.fif"))
# NIfTI pairs: the voxels of x.hdr live in x.img, found by name
add("nifti_pair_img_symlink", "load_summary", summary("<d>/x.hdr"), POR, call_builder(lambda p, c: nifti_pair(p), "x.hdr"),
    link("x.img", "<out>/secret.img"))
add("nifti_pair_img_symlink_slice", "read_slice", summary("<d>/x.hdr"), POR,
    call_builder(lambda p, c: nifti_pair(p), "x.hdr"), link("x.img", "<out>/secret.img"))
add("nifti_pair_img_symlink_convert", "convert", {"src": "<d>/x.hdr", "dst": "<d>/o.npy"}, POR,
    call_builder(lambda p, c: nifti_pair(p), "x.hdr"), link("x.img", "<out>/secret.img"))
add("nifti_pair_img_fifo", "load_summary", summary("<d>/x.hdr"), NAF, call_builder(lambda p, c: nifti_pair(p), "x.hdr"),
    fifo("x.img"))
# EEGLAB .set whose samples live in an .fdt outside
add("set_fdt_abs", "load_summary", summary("<d>/e.set"), POR, eeglab("e.set", "<out>/secret.fdt"))
add("set_fdt_dotdot", "read_slice", summary("<d>/e.set"), POR, eeglab("e.set", "../../outside/secret.fdt"))
add("set_fdt_symlink", "load_summary", summary("<d>/e.set"), POR, eeglab("e.set", "d.fdt"),
    link("d.fdt", "<out>/secret.fdt"))
add("set_fdt_fallback_symlink", "load_summary", summary("<d>/e.set"), POR + ("FILE_NOT_FOUND",),
    eeglab("e.set", "missing.fdt"),
    link("e.fdt", "<out>/secret.fdt"))
add("set_fdt_convert", "convert", {"src": "<d>/e.set", "dst": "<d>/o.fif"}, POR, eeglab("e.set", "<out>/secret.fdt"))

# 3. find_files patterns that climb out ----------------------------------------------------------------
FF_OUT = POR + ("INVALID_SELECTION",)
add("ff_escaped_abs", "find_files", {"pattern": "\\/etc\\/passwd"}, FF_OUT, forbid=("/etc/passwd",))
add("ff_escaped_rel", "find_files", {"pattern": ".\\/..\\/..\\/etc/*"}, FF_OUT, forbid=("/etc/hostname", "passwd"))
add("ff_escaped_outside", "find_files", {"pattern": ".\\/..\\/outside/*"}, FF_OUT)
add("ff_escaped_dots", "find_files", {"pattern": "\\.\\./outside/*"}, FF_OUT)
add("ff_dotdot_star", "find_files", {"pattern": "../*"}, POR, forbid=("data-evil",))
add("ff_dotdot_outside", "find_files", {"pattern": "../outside/*"}, POR)
add("ff_abs_etc", "find_files", {"pattern": "/etc/*"}, POR, forbid=("passwd",))
add("ff_abs_outside", "find_files", {"pattern": "<out>/*"}, POR)
add("ff_root_up", "find_files", {"pattern": "<root>/../outside/*"}, POR)
add("ff_brace_dotdot", "find_files", {"pattern": "{..,x}/*"}, POR, forbid=("data-evil",))
add("ff_brace_dotdot_outside", "find_files", {"pattern": "{../outside,x}/*"}, POR)
add("ff_brace_abs", "find_files", {"pattern": "{/etc,x}/*"}, POR, forbid=("passwd",))
add("ff_brace_nested", "find_files", {"pattern": "{x,{y,..}}/outside/*"}, POR)
add("ff_brace_split_dots", "find_files", {"pattern": "{.,x}{.,y}/outside/*"}, POR + ("OK",))
add("ff_globstar_up", "find_files", {"pattern": "**/../../outside/*"}, POR)
add("ff_placeholder_up", "find_files", {"pattern": "{a}/../../outside/*", "parse": True}, POR)
add("ff_tilde", "find_files", {"pattern": "~/*"}, POR)
add("ff_backslash_dotdot", "find_files", {"pattern": "..\\..\\outside\\*"}, ("OK", "INVALID_SELECTION") + POR)
add("ff_encoded", "find_files", {"pattern": "%2e%2e/outside/*"}, ("OK", "FILE_NOT_FOUND") + POR)
add("ff_symlinked_dir", "find_files", {"pattern": "<d>/**"}, OK, link("sub", "<out>/dir"), text("in.txt"),
    forbid=("secret",))
add("ff_symlinked_dir_named", "find_files", {"pattern": "<d>/sub/*"}, ("OK",) + POR, link("sub", "<out>/dir"),
    forbid=("secret",))
add("ff_symlinked_file", "find_files", {"pattern": "<d>/*"}, OK, link("leak-link.txt", "<out>/secret.txt"),
    text("in.txt"), forbid=("leak-link",))
add("ff_fifo_inside", "find_files", {"pattern": "<d>/*"}, OK, fifo("f.csv"), text("in.txt"), forbid=("f.csv",))
add("ff_many_braces", "find_files", {"pattern": "{a,b,c,d,e,f,g,h,i,j}" * 9}, ("INVALID_SELECTION", "TOO_LARGE"))
add("ff_long_pattern", "find_files", {"pattern": "a/" * 3000 + "*"}, ("OK", "INVALID_SELECTION") + NF)

# 4. things that are not regular files -------------------------------------------------------------------
add("fifo_summary", "load_summary", summary("<d>/f.csv"), NAF, fifo("f.csv"))
add("fifo_slice", "read_slice", summary("<d>/f.txt"), NAF, fifo("f.txt"))
add("fifo_verify", "verify_file", summary("<d>/f.csv"), NAF, fifo("f.csv"))
add("fifo_provenance", "file_provenance", summary("<d>/f.csv"), NAF + ("OK",), fifo("f.csv"))
add("fifo_convert", "convert", {"src": "<d>/f.json", "dst": "<d>/o.yaml"}, NAF, fifo("f.json"))
add("fifo_preview", "preview_image", summary("<d>/f.png"), NAF, fifo("f.png"))
add("fifo_metadata", "read_metadata", summary("<d>/f.png"), NAF, fifo("f.png"))
add("fifo_explore", "explore_h5", summary("<d>/f.h5"), NAF, fifo("f.h5"))
add("fifo_key_exists", "key_exists", {"path": "<d>/f.npz", "key": "x"}, NAF, fifo("f.npz"))
add("fifo_no_extension", "load_summary", summary("<d>/f"), NAF, fifo("f"))
add("fifo_zarr_metadata", "load_summary", summary("<d>/z.zarr"), NAF + ("CORRUPT_FILE",), mkdir("z.zarr"),
    fifo("z.zarr/zarr.json"))
add("fifo_in_configs", "load_configs", {"config_dir": "<d>/cfg"}, NAF + ("OK",), mkdir("cfg"), fifo("cfg/a.yaml"))
add("devzero_symlink", "load_summary", summary("<d>/zero.npy"), NAF + POR, link("zero.npy", "/dev/zero"))
add("devzero_symlink_slice", "read_slice", summary("<d>/zero.txt"), NAF + POR, link("zero.txt", "/dev/zero"))
add("devzero_symlink_convert", "convert", {"src": "<d>/zero.json", "dst": "<d>/o.yaml"}, NAF + POR,
    link("zero.json", "/dev/zero"))
add("devzero_symlink_verify", "verify_file", summary("<d>/zero.bin"), NAF + POR, link("zero.bin", "/dev/zero"))
add("chardev_zero", "load_summary", summary("<d>/zero.csv"), NAF, chardev("zero.csv", 5))
add("chardev_zero_verify", "verify_file", summary("<d>/zero.csv"), NAF, chardev("zero.csv", 5))
add("chardev_urandom_slice", "read_slice", summary("<d>/rand.txt"), NAF, chardev("rand.txt", 9))
add("chardev_zero_preview", "preview_image", summary("<d>/zero.png"), NAF, chardev("zero.png", 5))
add("socket_inside", "load_summary", summary("<d>/s.json"), NAF, unix_socket("s.json"))
add("folder_as_file", "load_summary", summary("<d>/folder.csv"), NAF, mkdir("folder.csv"))

# 5. blow-ups: refused from metadata, before the work --------------------------------------------------
add("save_subarray_dtype", "save", {"path": "<d>/x.npy", "data": [1], "dtype": "(1000,1000,1000)f8"}, TL + ("INVALID_DATA",))
add("save_unicode_dtype", "save", {"path": "<d>/x.npy", "data": ["a"], "dtype": "U1000000000"}, TL + ("INVALID_DATA",))
add("save_bytes_dtype", "save", {"path": "<d>/x.npy", "data": ["a"], "dtype": "S2000000000"}, TL + ("INVALID_DATA",))
add("save_void_dtype", "save", {"path": "<d>/x.npy", "data": [0], "dtype": "V1500000000"}, TL + ("INVALID_DATA",))
add("save_subarray_2d", "save", {"path": "<d>/x.npy", "data": [1, 2], "dtype": "(40000,40000)u1"}, TL + ("INVALID_DATA",))
add("save_subarray_h5", "save", {"path": "<d>/x.h5", "data": {"x": [1]}, "dtype": "(1000,1000,1000)f8"},
    TL + ("INVALID_DATA",))
add("save_subarray_npz", "save", {"path": "<d>/x.npz", "data": {"x": [1]}, "dtype": "U1000000000"}, TL + ("INVALID_DATA",))
PAGE = ("OK", "TOO_LARGE", "INVALID_SELECTION")  # an empty page (read nothing) or a refusal
add("offset_csv", "read_slice", {"path": "<s>/small.csv", "offset": 10**9}, PAGE, shared("small.csv"))
add("offset_xlsx", "read_slice", {"path": "<s>/small.xlsx", "offset": 10**9}, PAGE, shared("small.xlsx"))
add("offset_txt", "read_slice", {"path": "<s>/small.txt", "offset": 10**9}, PAGE, shared("small.txt"))
add("offset_jsonl", "read_slice", {"path": "<s>/small.jsonl", "offset": 10**9}, PAGE, shared("small.jsonl"))
add("offset_csv_huge_limit", "read_slice", {"path": "<s>/small.csv", "offset": 10**9, "limit": 10**9}, PAGE,
    shared("small.csv"))
add("offset_npy_selection", "read_slice", {"path": "<s>/small.npy", "selection": "[1000000000:]"}, PAGE,
    shared("small.npy"))
add("yaml_bomb_convert", "convert", {"src": "<s>/bomb.yaml", "dst": "<d>/bomb.json"}, DEEP, shared("bomb.yaml"))
add("yaml_bomb_convert_csv", "convert", {"src": "<s>/bomb.yaml", "dst": "<d>/bomb.csv"}, DEEP, shared("bomb.yaml"))
add("yaml_bomb_summary", "load_summary", summary("<s>/bomb.yaml"), DEEP + ("OK",), shared("bomb.yaml"))
add("yaml_bomb_configs", "load_configs", {"config_dir": "<d>/cfg"}, DEEP, mkdir("cfg"),
    lambda c: (c.d / "cfg" / "bomb.yaml").write_text(b.YAML_BOMB))
H = "<s>/huge.h5"
add("h5_huge_preview", "preview_image", summary(H, key="big"), TL, shared("huge.h5"))
add("h5_huge_slice_all", "read_slice", summary(H, key="big", selection="[:, :]"), TL, shared("huge.h5"))
add("h5_huge_slice_strided", "read_slice", summary(H, key="big", selection="[::1024, ::1024]"), TL + ("OK",),
    shared("huge.h5"))
add("h5_huge_exact_stats", "load_summary", summary(H, key="big", exact_stats=True), TL, shared("huge.h5"))
add("h5_huge_summary", "load_summary", summary(H, key="big"), TL + ("OK",), shared("huge.h5"))
add("h5_huge_convert", "convert", {"src": H, "dst": "<d>/o.npy", "key": "big"}, TL, shared("huge.h5"))
add("nc_huge_preview", "preview_image", summary("<s>/huge.nc", key="big"), TL, shared("huge.nc"))
add("nc_huge_summary", "load_summary", summary("<s>/huge.nc"), TL + ("OK",), shared("huge.nc"))
add("mat_huge_preview", "preview_image", summary("<s>/huge.mat", key="big"), TL, shared("huge.mat"))
add("mat_huge_slice", "read_slice", summary("<s>/huge.mat", key="big", selection="[:, :]"), TL, shared("huge.mat"))
add("zarr_huge_preview", "preview_image", summary("<s>/huge.zarr"), TL, shared("huge.zarr"))
add("zarr_huge_exact_stats", "load_summary", summary("<s>/huge.zarr", exact_stats=True), TL, shared("huge.zarr"))
add("zarr_huge_slice_strided", "read_slice", summary("<s>/huge.zarr", selection="[::1024, ::1024]"), TL + ("OK",),
    shared("huge.zarr"))
add("npz_bomb_summary", "load_summary", summary("<s>/bomb.npz"), TL + ("OK",), shared("bomb.npz"))
add("npz_bomb_key", "load_summary", summary("<s>/bomb.npz", key="x"), TL + ("OK",), shared("bomb.npz"))
add("npz_bomb_slice", "read_slice", summary("<s>/bomb.npz", key="x", selection="[:10]"), TL + ("OK",),
    shared("bomb.npz"))
add("npz_bomb_preview", "preview_image", summary("<s>/bomb.npz", key="x"), TL, shared("bomb.npz"))
add("npz_bomb_convert", "convert", {"src": "<s>/bomb.npz", "dst": "<d>/o.npy", "key": "x"}, TL, shared("bomb.npz"))
add("xlsx_bomb_summary", "load_summary", summary("<s>/bomb.xlsx"), TL, shared("bomb.xlsx"))
add("xlsx_bomb_slice", "read_slice", summary("<s>/bomb.xlsx", limit=5), TL, shared("bomb.xlsx"))
add("xlsx_bomb_convert", "convert", {"src": "<s>/bomb.xlsx", "dst": "<d>/o.csv"}, TL, shared("bomb.xlsx"))
add("docx_bomb_summary", "load_summary", summary("<s>/bomb.docx"), TL, shared("bomb.docx"))
add("docx_bomb_slice", "read_slice", summary("<s>/bomb.docx", key="table0"), TL, shared("bomb.docx"))
add("docx_bomb_convert", "convert", {"src": "<s>/bomb.docx", "dst": "<d>/o.csv"}, TL, shared("bomb.docx"))
add("pdf_heavy_summary", "load_summary", summary("<s>/heavy.pdf"), OK, shared("heavy.pdf"))
add("pdf_heavy_slice", "read_slice", summary("<s>/heavy.pdf", selection="1"), TL, shared("heavy.pdf"))
add("pdf_heavy_offset", "read_slice", summary("<s>/heavy.pdf", offset=10**9), PAGE, shared("heavy.pdf"))
add("pdf_page_loop_summary", "load_summary", summary("<s>/loop.pdf"), ("CORRUPT_FILE",), shared("loop.pdf"))
add("pdf_page_loop_slice", "read_slice", summary("<s>/loop.pdf", selection="0:5"), ("CORRUPT_FILE",), shared("loop.pdf"))
add("zarrzip_bomb_slice", "read_slice", summary("<s>/bomb.zarr.zip", selection="[:10]"), TL, shared("bomb.zarr.zip"))
add("zarrzip_bomb_preview", "preview_image", summary("<s>/bomb.zarr.zip"), TL, shared("bomb.zarr.zip"))
add("zarrzip_bomb_summary", "load_summary", summary("<s>/bomb.zarr.zip"), TL + ("OK",), shared("bomb.zarr.zip"))
add("png_bomb_preview", "preview_image", summary("<s>/bomb.png"), TL, shared("bomb.png"))
add("png_bomb_slice", "read_slice", summary("<s>/bomb.png"), TL, shared("bomb.png"))
add("png_bomb_summary", "load_summary", summary("<s>/bomb.png"), TL + ("OK",), shared("bomb.png"))
add("png_bomb_convert", "convert", {"src": "<s>/bomb.png", "dst": "<d>/o.npy"}, TL, shared("bomb.png"))
add("png_bomb_metadata", "read_metadata", summary("<s>/bomb.png"), TL + ("OK",), shared("bomb.png"))
SPARSE = TL + ("CORRUPT_FILE",)
add("sparse_json_summary", "load_summary", summary("<s>/sparse.json"), SPARSE, shared("sparse.json"))
add("sparse_json_convert", "convert", {"src": "<s>/sparse.json", "dst": "<d>/o.yaml"}, SPARSE, shared("sparse.json"))
add("sparse_yaml_summary", "load_summary", summary("<s>/sparse.yaml"), SPARSE, shared("sparse.yaml"))
add("sparse_csv_summary", "load_summary", summary("<s>/sparse.csv"), SPARSE + ("OK",), shared("sparse.csv"))
add("sparse_txt_slice", "read_slice", summary("<s>/sparse.txt", limit=2), SPARSE + ("OK",), shared("sparse.txt"))
add("sparse_txt_summary", "load_summary", summary("<s>/sparse.txt"), SPARSE + ("OK",), shared("sparse.txt"))
add("pickle_huge_summary", "load_summary", summary("<s>/huge.pkl"), ("UNSAFE_FORMAT",) + TL, shared("huge.pkl"))
add("pickle_huge_convert", "convert", {"src": "<s>/huge.pkl", "dst": "<d>/o.json"}, ("UNSAFE_FORMAT",) + TL,
    shared("huge.pkl"))
add("joblib_huge_summary", "load_summary", summary("<s>/huge.joblib"), ("UNSAFE_FORMAT",) + TL, shared("huge.joblib"))
add("deep600_convert_yaml", "convert", {"src": "<s>/deep600.json", "dst": "<d>/deep.yaml"}, DEEP,
    shared("deep600.json"))
add("deepobj600_convert_yaml", "convert", {"src": "<s>/deepobj600.json", "dst": "<d>/deep.yaml"}, DEEP,
    shared("deepobj600.json"))
add("deep600_convert_toml", "convert", {"src": "<s>/deepobj600.json", "dst": "<d>/deep.toml"}, DEEP,
    shared("deepobj600.json"))
add("deep600_summary", "load_summary", summary("<s>/deep600.json"), DEEP + ("OK",), shared("deep600.json"))
add("deep100k_summary", "load_summary", summary("<s>/deep100k.json"), DEEP + ("CORRUPT_FILE",), shared("deep100k.json"))
add("deep600_yaml_summary", "load_summary", summary("<s>/deep600.yaml"), DEEP + ("OK",), shared("deep600.yaml"))
# 200 levels: about the deepest the client sends (pydantic-core refuses deeper data as "circular")
add("deep200_save_yaml", "save", {"path": "<d>/deep.yaml", "data": {"a": json.loads(b.nested_json(200))}},
    DEEP + ("OK",), new_ok=("<d>/deep.yaml",))
# echoes of huge arguments stay short
add("huge_key_summary", "load_summary", summary("<s>/keys.h5", key="k" * 100_000), ("KEY_NOT_FOUND", "INVALID_SELECTION"),
    shared("keys.h5"))
add("huge_key_exists", "key_exists", {"path": "<s>/keys.h5", "key": "k" * 100_000},
    ("OK", "KEY_NOT_FOUND", "INVALID_SELECTION"), shared("keys.h5"))
add("huge_path_echo", "load_summary", summary("<d>/" + "x" * 100_000), NF)
add("huge_pattern_echo", "find_files", {"pattern": "y" * 100_000}, ("OK", "INVALID_SELECTION", "TOO_LARGE") + NF)
# a full disk: the call fails coded, leaves no temp file, and the server stays up
for dst in ("big.json", "big.h5", "big.parquet", "big.npy"):
    add(f"disk_full_convert_{dst.split('.')[1]}", "convert", {"src": "<s>/big.csv", "dst": f"<d>/tiny/{dst}"},
        ("WRITE_FAILED",), shared("big.csv"), tmpfs("tiny"))
add("disk_full_save", "save", {"path": "<d>/tiny/x.npy", "data": [0], "dtype": "(600,1000)f8"}, ("WRITE_FAILED",),
    tmpfs("tiny"))

# 5b. resources (h5://, zarr://): the same sandbox behind another entry point --------------------------
RES = ("PATH_OUTSIDE_ROOT", "RESOURCE_NOT_FOUND")  # FastMCP's template screening, or the sandbox
add("res_h5_symlink", RESOURCE, {"uri": "h5://<d>/l.h5"}, POR, link("l.h5", "<out>/secret.h5"))
add("res_h5_dotdot", RESOURCE, {"uri": "h5://../outside/secret.h5"}, RES)
add("res_h5_absolute", RESOURCE, {"uri": "h5://<out>/secret.h5"}, RES)
add("res_h5_encoded", RESOURCE, {"uri": "h5://%2e%2e/outside/secret.h5"}, RES + ("FILE_NOT_FOUND",))
add("res_h5_inner_dotdot", RESOURCE, {"uri": "h5://<d>/sub/../../../outside/secret.h5"}, RES + ("FILE_NOT_FOUND",),
    mkdir("sub"))
add("res_h5_extlink_group", RESOURCE, {"uri": "h5://<d>/x.h5?object=/g&attrs=true"}, MAYBE,
    h5("x.h5", lambda c: b.group_link("g", str(c.out / "secret.h5"))))
add("res_h5_fifo", RESOURCE, {"uri": "h5://<d>/f.h5"}, NAF, fifo("f.h5"))
add("res_h5_huge", RESOURCE, {"uri": "h5://<s>/huge.h5?object=/big&attrs=true"}, ("OK", "TOO_LARGE"), shared("huge.h5"))
add("res_zarr_member_symlink", RESOURCE, {"uri": "zarr://<d>/g.zarr?object=arr"}, POR,
    zarr_group_member_to("g.zarr", "arr", "<out>/zs.zarr"))
add("res_zarr_object_dotdot", RESOURCE, {"uri": "zarr://<d>/g.zarr?object=../../../outside/zs.zarr"},
    POR + ("KEY_NOT_FOUND", "INVALID_SELECTION"), zarr_group_member_to("g.zarr", "unused", "<d>"))
add("res_zarr_folder_symlink", RESOURCE, {"uri": "zarr://<d>/z.zarr"}, POR, link("z.zarr", "<out>/zs.zarr"))

# 6. the read-only root: reads answer, nothing changes ---------------------------------------------------
RO_READS = [
    ("ro_wal_summary", "load_summary", {"path": "wal.sqlite"}),
    ("ro_wal_slice", "read_slice", {"path": "wal.sqlite", "key": "t"}),
    ("ro_wal_exact_stats", "load_summary", {"path": "wal.sqlite", "key": "t", "exact_stats": True}),
    ("ro_csv_summary", "load_summary", {"path": "t.csv"}),
    ("ro_csv_slice", "read_slice", {"path": "t.csv", "offset": 5, "limit": 3}),
    ("ro_csv_preview", "preview_image", {"path": "t.csv"}),
    ("ro_npy_slice", "read_slice", {"path": "a.npy", "selection": "[1:, :2]"}),
    ("ro_json_summary", "load_summary", {"path": "v.json"}),
    ("ro_yaml_summary", "load_summary", {"path": "c.yaml"}),
    ("ro_h5_summary", "load_summary", {"path": "t.h5", "exact_stats": True}),
    ("ro_h5_explore", "explore_h5", {"path": "t.h5", "attrs": True}),
    ("ro_h5_preview", "preview_image", {"path": "t.h5", "key": "x"}),
    ("ro_h5_key_exists", "key_exists", {"path": "t.h5", "key": "x"}),
    ("ro_lookup_result", "lookup_result", {"store": "t.h5", "input": "a.npy", "meta": {"name": "P"}}),
    ("ro_png_preview", "preview_image", {"path": "p.png"}),
    ("ro_png_metadata", "read_metadata", {"path": "p.png"}),
    ("ro_zarr_explore", "explore_zarr", {"path": "z.zarr"}),
    ("ro_zarr_summary", "load_summary", {"path": "z.zarr"}),
    ("ro_txt_slice", "read_slice", {"path": "notes.txt"}),
    ("ro_find", "find_files", {"pattern": "**"}),
    ("ro_configs", "load_configs", {"config_dir": "config"}),
    ("ro_list_roots", "list_roots", {}),
    ("ro_list_formats", "list_formats", {}),
    ("ro_cache_info", "cache_info", {}),
    ("ro_clear_cache", "clear_cache", {}),
    ("ro_h5_compute_stats", "compute_stats", {"path": "t.h5", "key": "x", "quantiles": [0.5], "bins": 4}),
    ("ro_npy_compute_stats", "compute_stats", {"path": "a.npy", "quantiles": [0.01, 0.99]}),
]
RO_ANY = ("OK", "FILE_NOT_FOUND", "KEY_NOT_FOUND", "UNSUPPORTED_OPERATION", "FORMAT_UNKNOWN")  # nothing recorded
for cid, tool, args in RO_READS:
    add(cid, tool, args, OK, read_only=True)
add("ro_wal_provenance", "file_provenance", {"path": "wal.sqlite"}, RO_ANY, read_only=True)
add("ro_wal_verify", "verify_file", {"path": "wal.sqlite"}, RO_ANY, read_only=True)
add("ro_wal_metadata", "read_metadata", {"path": "wal.sqlite"}, RO_ANY, read_only=True)
add("ro_escape", "load_summary", {"path": "../outside/secret.txt"}, POR, read_only=True)
add("ro_fifo", "load_summary", {"path": "<d>/f.csv"}, NAF, fifo("f.csv"), read_only=True)
add("ro_symlink_out", "read_slice", {"path": "<d>/l.txt"}, POR, link("l.txt", "<out>/secret.txt"), read_only=True)
add("ro_h5_extstore", "read_slice", {"path": "<d>/x.h5", "key": "x"}, POR, h5("x.h5", STORE), read_only=True)
add("ro_h5_extstore_stats", "compute_stats", {"path": "<d>/x.h5", "key": "x"}, POR, h5("x.h5", STORE),
    read_only=True)
add("ro_vhdr_marker_out", "load_summary", {"path": "<d>/rec.vhdr"}, POR,
    vhdr(key="MarkerFile", value="<out>/secret.vmrk"), read_only=True)
add("ro_yaml_bomb", "load_summary", {"path": "<d>/bomb.yaml"}, DEEP + ("OK",),
    text("bomb.yaml", b.YAML_BOMB), read_only=True)
# FastMCP answers a tool the read-only server does not offer with its own uncoded "Unknown tool"
add("ro_resource_h5", RESOURCE, {"uri": "h5://t.h5?object=/x"}, OK, read_only=True)
add("ro_resource_zarr", RESOURCE, {"uri": "zarr://z.zarr"}, OK, read_only=True)
add("ro_save_absent", "save", {"path": "new.json", "data": {"a": 1}}, ("READ_ONLY", "UNCODED_ERROR"), read_only=True)
add("ro_convert_absent", "convert", {"src": "t.csv", "dst": "t.json"}, ("READ_ONLY", "UNCODED_ERROR"), read_only=True)


NOTES = {  # what a failure of these means, for whoever routes it
    "deep200_save_yaml": "an 830-byte request nested 200 deep gets no answer at all over stdio (the server stays up): "
                         "the MCP stdio reader cannot parse it (pydantic JSON recursion limit) and drops it; a "
                         "JSON-RPC error (or a coded TOO_LARGE) should come back within the call timeout",
    "zarr_huge_exact_stats": "exact stats over 2**40 one-element chunks run into the call timeout; the chunk count "
                             "is known from the metadata (TOO_LARGE before reading, like preview_image does)",
    "zarr_key_dotdot": "zarr itself refuses the '..' key, but the answer says the store is corrupt; a key that climbs "
                       "out is the caller's mistake: PATH_OUTSIDE_ROOT / INVALID_SELECTION / KEY_NOT_FOUND",
    "h5_huge_exact_stats": "exact stats over 2**40 one-element chunks: refuse by chunk count before reading",
}
for _id, _note in NOTES.items():
    for _case in CASES:
        if _case.id == _id:
            _case.note = _note
for _case in CASES:
    if _case.id.endswith(("_extlink_relative", "_vds_relative")) and not _case.note:
        _case.note = ("the link names '../../outside/secret.h5', relative to the file's folder (HDF5 resolves it "
                      "there); an absolute target is refused, so the relative one must be resolved the same way")
