"""Resource limits (io_core.limits): every blow-up of issue 10 is refused from metadata, before the work.

Each bomb is built small on disk with the real library (sparse files through ``truncate``,
zip bombs by deflating zeros). The request then runs in a fresh interpreter that reports
the refusal code, the growth of its peak RSS across the call (``ru_maxrss``) and the time
it took: a refusal that read or inflated the payload first would show in both.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from io_core import Workspace
from io_core.errors import InvalidDataError, IOCoreError, TooLargeError
from io_core.limits import DEFAULT, Limits, check_document, current, parse_bytes, set_current

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
PEAK_BYTES = 256 * MiB  # what the issue allows a small request to cost
SECONDS = 5.0

_PROBE = """
import json, resource, sys, time
{warm}
from io_core import Workspace
ws = Workspace([{root!r}], provenance=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
code, message = "OK", ""
try:
    result = {call}
except Exception as exc:
    code, message = getattr(exc, "code", type(exc).__name__), str(exc)
    result = None
seconds = time.perf_counter() - t0
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({{"code": code, "message": message[:500], "grown": grown, "seconds": seconds,
                  "result": None if result is None else repr(result)[:2000]}}))
"""


def probe(root: Path, call: str, warm: str = "import io_core") -> dict:
    """Run ``call`` (an expression using ``ws``) in a fresh interpreter; its code, RSS growth and time."""
    code = _PROBE.format(root=str(root), call=call, warm=textwrap.dedent(warm))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"the interpreter died ({proc.returncode}): {proc.stderr[-2000:]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def assert_refused(out: dict, code: str = "TOO_LARGE") -> None:
    assert out["code"] == code, out
    assert out["grown"] < PEAK_BYTES, f"peak RSS grew {out['grown'] / MiB:.0f} MiB before the refusal"
    assert out["seconds"] < SECONDS, f"the refusal took {out['seconds']:.1f} s"


def sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


def deflated_zeros(zf: zipfile.ZipFile, name: str, size: int, head: bytes = b"") -> None:
    """A member of ``size`` bytes (``head`` then zeros) deflated as it is written: a zip bomb."""
    with zf.open(name, "w", force_zip64=True) as fh:  # the archive's compression (ZIP_DEFLATED)
        fh.write(head)
        block, left = bytes(MiB), size - len(head)
        while left > 0:
            fh.write(block[: min(left, MiB)])
            left -= MiB


@pytest.fixture
def ws(tmp_path):
    return Workspace([tmp_path], provenance=False)


@pytest.fixture
def restore_limits():
    old = current()
    yield
    set_current(old)


# -- save: dtype x shape computed before allocating -------------------------------------------------

@pytest.mark.parametrize(("data", "dtype"), [
    ("[1, 2]", "(10000,10000)f8"),  # 18 bytes of JSON asking for 1.6 GB
    ("[[1, 2], [3, 4]]", "U100000000"),  # 4 x 400 MB
    ("7", "(12000,12000)c16"),  # one element of 2.3 GB
    ("['x' * 1000] + ['y'] * 400_000", None),  # inferred <U1000 for every element: 1.6 GB
])
def test_save_refuses_a_dtype_shape_over_max_write_bytes_before_allocating(tmp_path, data, dtype):
    out = probe(tmp_path, f"ws.save({data}, 'big.npy', dtype={dtype!r})")
    assert_refused(out)
    assert "--max-write-bytes" in out["message"]
    assert not (tmp_path / "big.npy").exists()


def test_save_checks_every_array_format_and_member_trees(ws, tmp_path):
    for name in ("a.npz", "a.h5", "a.png"):
        with pytest.raises(TooLargeError):
            ws.save({"x": [1], "y": [2]} if name != "a.png" else [[1]], name, dtype="(40000,30000)u1")
    assert not any(tmp_path.iterdir())


def test_max_write_bytes_is_settable_and_a_save_within_it_works(ws, tmp_path, restore_limits):
    set_current(DEFAULT.with_overrides(max_write_bytes=1000))
    with pytest.raises(TooLargeError, match="1000 bytes"):
        ws.save(list(range(200)), "a.npy")  # 1600 bytes
    assert ws.save(list(range(100)), "b.npy").size_bytes > 800  # 800 bytes of data fit


def test_server_flag_and_environment_set_the_write_limit(monkeypatch):
    from server.cli import parse_args
    from server.settings import Settings

    assert parse_args(["--max-write-bytes", "2MiB"]).max_write_bytes == 2 * MiB
    monkeypatch.setenv("SCIIO_MAX_WRITE_BYTES", "3MiB")
    settings = Settings()
    assert settings.max_write_bytes == 3 * MiB
    assert settings.limits().max_write_bytes == 3 * MiB
    assert parse_bytes("1 GiB") == 1024**3 and parse_bytes("2GB") == 2 * 10**9


def test_server_started_with_a_small_write_limit_refuses_a_larger_save(tmp_path):
    """The real entry point: ``sciio-mcp --max-write-bytes`` sets the limits the saves are checked against."""
    code = f"""
import os, sys
import server.app
from io_core.limits import current

class Stub:
    def run(self, **kwargs):
        from io_core import Workspace
        print(current().max_write_bytes)
        try:
            Workspace([{str(tmp_path)!r}], provenance=False).save(list(range(1000)), "a.npy")
        except Exception as exc:
            print(exc.code)

server.app.create_app = lambda settings: Stub()
sys.stdin = open(os.devnull)
from server.cli import main
main(["--root", {str(tmp_path)!r}, "--max-write-bytes", "1KiB"])
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["1024", "TOO_LARGE"], proc.stderr[-2000:]
    assert not (tmp_path / "a.npy").exists()


# -- tables: offsets past the end read nothing; pages are bounded ------------------------------------

def _csv(path: Path, rows: int) -> Path:
    with open(path, "w") as fh:
        fh.write("a,b,c\n")
        fh.writelines(f"{i},{i * 0.5},name{i}\n" for i in range(rows))
    return path


def test_csv_offset_far_past_the_end_is_an_empty_page_at_once(tmp_path):
    _csv(tmp_path / "t.csv", 300_000)  # ~8 MB
    out = probe(tmp_path, "ws.read_slice('t.csv', offset=10**9, limit=10)", warm="import pandas")
    assert out["code"] == "OK", out
    assert "rows=[]" in out["result"] and "next_offset=None" in out["result"]
    assert out["grown"] < 64 * MiB and out["seconds"] < SECONDS


def test_csv_deep_offset_inside_a_big_file_keeps_memory_flat(tmp_path):
    _csv(tmp_path / "t.csv", 1_500_000)  # ~40 MB: the skipped rows must not be kept
    out = probe(tmp_path, "ws.read_slice('t.csv', offset=1_499_990, limit=5)", warm="import pandas")
    assert out["code"] == "OK", out
    assert "'a': 1499990" in out["result"]
    assert out["grown"] < 128 * MiB, out


def test_xlsx_offset_past_the_end_reads_no_rows(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": range(2000), "b": [f"s{i}" for i in range(2000)]}).to_excel(tmp_path / "t.xlsx", index=False)
    out = probe(tmp_path, "ws.read_slice('t.xlsx', offset=10**9, limit=10)", warm="import pandas, openpyxl")
    assert out["code"] == "OK", out
    assert "rows=[]" in out["result"] and "total_rows=2000" in out["result"]
    assert out["grown"] < 64 * MiB and out["seconds"] < SECONDS


@pytest.mark.parametrize("name", ["t.jsonl", "t.txt"])
def test_line_formats_offset_past_the_end_is_empty(ws, tmp_path, name):
    (tmp_path / name).write_text("".join(f'{{"a": {i}}}\n' for i in range(1000)))
    part = ws.read_slice(name, offset=10**12, limit=5).slice
    assert getattr(part, "rows", getattr(part, "lines", None)) == [] and part.next_offset is None


def test_a_page_larger_than_max_page_rows_is_refused(ws, tmp_path):
    _csv(tmp_path / "t.csv", 10)
    (tmp_path / "t.txt").write_text("a\nb\n")
    for name in ("t.csv", "t.txt"):
        with pytest.raises(TooLargeError, match="limit="):
            ws.read_slice(name, limit=10**9)
    (tmp_path / "wide.csv").write_text(",".join(f"c{i}" for i in range(50)) + "\n" + ",".join("1" * 50) + "\n")
    with pytest.raises(TooLargeError, match="cells") as info:
        ws.read_slice("wide.csv", limit=1_000_000)  # 50 M cells
    assert "limit=1000" in info.value.hint
    assert ws.read_slice("wide.csv", limit=1_000_000, columns=["c0"]).slice.rows == [{"c0": 1}]


# -- decompression: zip members by their declared size and ratio ----------------------------------

def _npy_header(n: int) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    return out.getvalue()


def test_npz_member_inflating_past_the_limit_is_refused_from_its_zip_header(tmp_path):
    size = 300 * MiB
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        deflated_zeros(zf, "a.npy", size, _npy_header((size - 128) // 8))
    assert (tmp_path / "bomb.npz").stat().st_size < 2 * MiB
    for call in ("ws.read_slice('bomb.npz', selection='0:3')", "ws.load('bomb.npz')",
                 "ws.summarize('bomb.npz', key='a')", "ws.preview_image('bomb.npz')"):
        assert_refused(probe(tmp_path, call, warm="import numpy"))
    assert "a" in repr(Workspace([tmp_path], provenance=False).summarize("bomb.npz").summary)  # headers still listed


def test_npz_member_with_a_bomb_ratio_is_refused_below_the_size_cap(tmp_path):
    size = 100 * MiB  # under max_member_bytes, but ~1000-fold
    with zipfile.ZipFile(tmp_path / "ratio.npz", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        deflated_zeros(zf, "a.npy", size, _npy_header((size - 128) // 8))
    out = probe(tmp_path, "ws.read_slice('ratio.npz', selection='0:3')", warm="import numpy")
    assert_refused(out)
    assert "fold" in out["message"]


def test_xlsx_part_inflating_past_the_limit_is_refused_before_openpyxl(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1, 2]}).to_excel(tmp_path / "small.xlsx", index=False)
    with zipfile.ZipFile(tmp_path / "small.xlsx") as src, \
            zipfile.ZipFile(tmp_path / "bomb.xlsx", "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                body = src.read(info)
                cut = body.index(b"<sheetData>")
                deflated_zeros(dst, info.filename, 300 * MiB, body[:cut])  # NULs: never valid XML either
            else:
                dst.writestr(info, src.read(info))
    for call in ("ws.summarize('bomb.xlsx')", "ws.read_slice('bomb.xlsx', offset=10**9)", "ws.load('bomb.xlsx')"):
        assert_refused(probe(tmp_path, call, warm="import pandas, openpyxl"))


def test_zipped_zarr_chunk_inflating_past_the_limit_is_refused(tmp_path):
    import zarr

    store = zarr.storage.ZipStore(tmp_path / "bomb.zarr.zip", mode="w")
    zarr.create_array(store=store, shape=(10,), chunks=(10,), dtype="f8", fill_value=0)
    store.close()
    with zipfile.ZipFile(tmp_path / "bomb.zarr.zip", "a", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        deflated_zeros(zf, "c/0", 300 * MiB)
    for call in ("ws.read_slice('bomb.zarr.zip', selection='0:3')", "ws.explore_zarr('bomb.zarr.zip')"):
        assert_refused(probe(tmp_path, call, warm="import zarr, numpy"))


def test_zarr_chunks_past_the_limit_are_refused_from_metadata(tmp_path):
    import zarr

    zarr.create_array(store=str(tmp_path / "huge.zarr"), shape=(2**40,), chunks=(2**32,), dtype="f8")
    zarr.create_array(store=str(tmp_path / "tiny.zarr"), shape=(4000, 4000), chunks=(1, 1), dtype="f4")
    assert_refused(probe(tmp_path, "ws.read_slice('huge.zarr', selection='0:3')", warm="import zarr"))
    out = probe(tmp_path, "ws.preview_image('tiny.zarr')", warm="import zarr")
    assert_refused(out)
    assert "chunks" in out["message"] and "selection=" in out["message"]
    ws = Workspace([tmp_path], provenance=False)
    assert ws.read_slice("tiny.zarr", selection="0:10, 0:10").slice.shape == [10, 10]  # few chunks: fine


def test_gzip_csv_load_is_capped_and_its_summary_reads_a_bounded_head(tmp_path):
    with gzip.open(tmp_path / "bomb.csv.gz", "wb", compresslevel=1) as fh:
        fh.write(b"a,b\n")
        line = b"1,2\n" * (MiB // 4)
        for _ in range(300):
            fh.write(line)
    assert_refused(probe(tmp_path, "ws.load('bomb.csv.gz')", warm="import pandas"))
    out = probe(tmp_path, "ws.summarize('bomb.csv.gz')", warm="import pandas")
    assert out["code"] == "OK" and out["grown"] < 128 * MiB, out


# -- images: pixels from the header ---------------------------------------------------------------

def _png(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (greyscale) over a tiny, valid-looking IDAT."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(width + 1) * 4)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [13000, 7000])  # past Pillow's own guard (2x the limit), and between
def test_png_bomb_is_refused_before_decoding(tmp_path, side):
    (tmp_path / "bomb.png").write_bytes(_png(side, side))
    for call in ("ws.preview_image('bomb.png')", "ws.load('bomb.png')", "ws.read_slice('bomb.png', selection='0, 0:3')"):
        assert_refused(probe(tmp_path, call, warm="import PIL.Image, numpy"))


def test_png_header_summary_still_works_under_twice_the_limit(ws, tmp_path):
    (tmp_path / "wide.png").write_bytes(_png(7000, 7000))
    summary = ws.summarize("wide.png").summary
    assert (summary.width, summary.height) == (7000, 7000)


# -- text formats: st_size first ------------------------------------------------------------------

@pytest.mark.parametrize("name", ["garbage.json", "g.yaml", "g.toml", "g.xml", "g.bib", "g.txt", "g.jsonl"])
def test_sparse_huge_text_file_is_refused_before_a_byte_is_read(tmp_path, name):
    sparse(tmp_path / name, 1_250 * MiB, b'{"a": ')
    out = probe(tmp_path, f"ws.load({name!r})")
    assert_refused(out)
    assert "parsed whole" in out["message"]


@pytest.mark.parametrize("name", ["garbage.json", "g.yaml", "g.toml", "g.bib"])
def test_sparse_huge_document_summary_is_refused_too(tmp_path, name):
    sparse(tmp_path / name, 1_250 * MiB, b'{"a": ')
    assert_refused(probe(tmp_path, f"ws.summarize({name!r})"))


def test_large_xml_summary_counts_a_bounded_prefix(ws, tmp_path, restore_limits):
    set_current(DEFAULT.with_overrides(max_text_bytes=64 * 1024))
    (tmp_path / "big.xml").write_text("<root>" + "<item>x</item>" * 20_000 + "</root>")
    preview = ws.summarize("big.xml").summary.preview
    assert preview["root"] == "root" and "first" in preview["note"]
    assert preview["n_elements"] < 20_000


# -- YAML and JSON: aliases and depth bounded everywhere ------------------------------------------

def _alias_bomb() -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_yaml_alias_bomb_through_convert_is_refused_at_once(tmp_path):
    (tmp_path / "bomb.yaml").write_text(_alias_bomb())
    assert len(_alias_bomb()) < 600
    for call in ("ws.convert('bomb.yaml', 'out.json')", "ws.summarize('bomb.yaml')", "ws.load('bomb.yaml')"):
        out = probe(tmp_path, call, warm="import yaml")
        assert_refused(out)
        assert "aliases" in out["message"]
    assert not (tmp_path / "out.json").exists()


def test_yaml_alias_bomb_is_refused_by_load_configs_too(tmp_path):
    from io_core.configs import load_configs

    (tmp_path / "bomb.yaml").write_text(_alias_bomb())
    with pytest.raises(TooLargeError, match="bomb.yaml"):
        load_configs(tmp_path)


def test_deeply_nested_yaml_is_refused_without_crashing_the_process(tmp_path):
    (tmp_path / "deep.yaml").write_text("[" * 200_000 + "]" * 200_000)  # libyaml's composer would segfault
    out = probe(tmp_path, "ws.summarize('deep.yaml')", warm="import yaml")
    assert_refused(out)
    assert "levels deep" in out["message"]


def test_recursive_yaml_alias_is_invalid_data(ws, tmp_path):
    (tmp_path / "loop.yaml").write_text("a: &x [1, *x]\n")
    with pytest.raises(InvalidDataError, match="recursive"):
        ws.load("loop.yaml")


def test_ordinary_yaml_with_aliases_still_loads(ws, tmp_path):
    (tmp_path / "ok.yaml").write_text("base: &b {lr: 1, layers: [1, 2]}\nrun: *b\n")
    assert ws.load("ok.yaml") == {"base": {"lr": 1, "layers": [1, 2]}, "run": {"lr": 1, "layers": [1, 2]}}


def test_600_level_json_converted_to_yaml_is_too_large_not_an_internal_error(ws, tmp_path):
    (tmp_path / "deep.json").write_text("[" * 600 + "]" * 600)
    for target in ("deep.yaml", "deep.toml", "deep2.json"):
        with pytest.raises(TooLargeError, match="levels deep"):
            ws.convert("deep.json", target)
    with pytest.raises(TooLargeError):
        ws.summarize("deep.json")


def test_json_deeper_than_the_parser_recursion_limit_is_too_large(ws, tmp_path):
    (tmp_path / "deeper.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TooLargeError):
        ws.load("deeper.json")


def test_saving_deeply_nested_or_alias_expanded_data_is_refused(ws):
    deep: list = []
    for _ in range(500):
        deep = [deep]
    with pytest.raises(TooLargeError, match="levels deep"):
        ws.save(deep, "deep.yaml")
    shared = ["x"] * 10
    for _ in range(8):
        shared = [shared] * 10  # 10**9 values once written out, built in microseconds
    with pytest.raises(TooLargeError, match="values"):
        ws.save({"a": shared}, "wide.json")


def test_check_document_measures_shared_parts_once():
    shared: list = [1] * 10
    for _ in range(30):
        shared = [shared, shared]
    with pytest.raises(TooLargeError):
        check_document(shared, Limits())  # 10 * 2**30 values: refused without walking them
    check_document({"a": [1, 2, {"b": "c"}]}, Limits())


# -- pickles: refused from the first bytes ---------------------------------------------------------

def test_pickle_refusal_never_reads_a_huge_argument(tmp_path):
    size = 1536 * MiB
    with open(tmp_path / "big.pkl", "wb") as fh:  # PROTO 4, BINBYTES8 <1.5 GiB>: the argument is a hole
        fh.write(b"\x80\x04\x8e" + size.to_bytes(8, "little"))
        fh.truncate(size + 11)
    for call in ("ws.summarize('big.pkl')", "ws.load('big.pkl')", "ws.read_slice('big.pkl')"):
        assert_refused(probe(tmp_path, call), "UNSAFE_FORMAT")


def test_pickle_garbage_in_the_first_bytes_is_still_corrupt(ws, tmp_path):
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04\xffnot a pickle" * 10)
    with pytest.raises(Exception) as info:
        ws.summarize("bad.pkl")
    assert getattr(info.value, "code", None) == "CORRUPT_FILE"


def test_limits_travel_with_read_and_write_options():
    from io_core.options import ReadOptions, WriteOptions

    assert ReadOptions().limits == current() == WriteOptions().limits
    assert ReadOptions(limits=Limits(max_text_bytes=5)).limits.max_text_bytes == 5


def test_a_tiny_save_request_cannot_allocate_a_huge_array_through_its_dtype(tmp_path):
    """Under max_write_bytes, but 16x and more what the values take as given: refused before allocating."""
    import resource

    ws = Workspace([tmp_path])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for dtype in ("U100000000", "(4000,4000)f8"):
        with pytest.raises(TooLargeError):
            ws.save([1, 2], "big.npy", dtype=dtype)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) < 128 * 1024  # KiB
    assert ws.save([1, 2], "small.npy", dtype="(10,10)f8").size_bytes == 2 * 800 + 128  # small ones still work


def test_exact_stats_over_too_many_chunks_is_refused_from_metadata(tmp_path):
    """2**40 one-element chunks: the chunk count is known before reading, so no stream ever starts."""
    import zarr

    zarr.create_array(store=str(tmp_path / "huge.zarr"), shape=(2**20, 2**20), chunks=(1, 1), dtype="f8",
                      fill_value=0.0)
    ws = Workspace([tmp_path])
    with pytest.raises(TooLargeError) as err:
        ws.summarize("huge.zarr", exact_stats=True)
    assert "chunks" in str(err.value)
    assert ws.summarize("huge.zarr").summary.shape == [2**20, 2**20]  # the sampled summary still answers


def test_a_zarr_key_with_dot_segments_is_a_missing_key(tmp_path):
    import zarr

    zarr.open_group(str(tmp_path / "g.zarr"), mode="w").create_array("a", shape=(3,), dtype="i4")
    with pytest.raises(IOCoreError) as err:
        Workspace([tmp_path]).read_slice("g.zarr", key="../../outside/x.zarr")
    assert err.value.code == "KEY_NOT_FOUND"
