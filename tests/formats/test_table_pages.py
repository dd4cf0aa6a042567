"""Issue 11, points 1 and 2: sampled means spread, and table pages sized before reading.

The 1M-row CSV (10 integer columns, the first 0..999,999, ~58 MB) and its parquet twin are
made once per module. Timings here are loose sanity bounds; the measured figures are in
bench/tables.py.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from io_core import Workspace
from io_core.budget import json_size
from io_core.errors import InvalidSelectionError, TooLargeError
from io_core.formats import row_index
from io_core.formats.tables import SMALL_TEXT_TABLE
from io_core.formats.text_sample import spread

REPO = Path(__file__).resolve().parents[2]
N = 1_000_000
BUDGET = 32 * 1024
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big")
    ids = np.arange(N)
    df = pd.DataFrame({"id": ids, **{f"c{k}": (ids * (2 * k + 1)) % (10**k + 7) for k in range(1, 10)}})
    df.to_csv(root / "rows1m.csv", index=False)
    df.to_parquet(root / "rows1m.parquet")  # one row group of 1M rows (pyarrow's default)
    return root


@pytest.fixture()
def bws(big) -> Workspace:
    return Workspace([big], provenance=False)


def _stats(summary, name="id"):
    return next(c for c in summary.columns if c.name == name)


# -- 1. sampled means spread -------------------------------------------------------------------------

def test_csv_summary_stats_and_row_count_come_from_the_whole_file(bws):
    t0 = time.perf_counter()
    s = bws.summarize("rows1m.csv").summary
    seconds = time.perf_counter() - t0
    col = _stats(s)
    assert s.sample == "spread" and not col.stats.exact and 0 < col.stats.sampled_fraction < 0.05
    assert abs(col.stats.max - 999_999) <= 0.01 * 999_999  # the head's max would be 19
    assert col.stats.min <= 0.01 * N and abs(col.stats.mean - 499_999.5) < 0.02 * N
    assert not s.n_rows_exact and abs(s.n_rows - N) <= 0.01 * N
    assert [r["id"] for r in s.head] == list(range(len(s.head)))  # head rows stay the head
    assert s.n_columns == 10 and col.dtype == "int64" and col.null_count == 0
    assert seconds < 5  # measured in bench/tables.py (~30 ms warm)


def test_gzip_is_read_once_when_bounded_else_says_head(tmp_path, monkeypatch):
    """gzip cannot seek: a stream up to GZ_SCAN_BYTES is inflated once (exact count, spread blocks cut as it
    passes); a longer one gives head stats labelled "head" and an estimated count."""
    from io_core.formats import tables

    ids = np.arange(600_000)
    df = pd.DataFrame({"id": ids, "x": ids * 0.5})
    df.to_csv(tmp_path / "s.csv", index=False)
    with open(tmp_path / "s.csv", "rb") as src, gzip.open(tmp_path / "s.csv.gz", "wb", compresslevel=1) as dst:
        dst.write(src.read())
    inflated = (tmp_path / "s.csv").stat().st_size
    assert SMALL_TEXT_TABLE < inflated < tables.GZ_SCAN_BYTES
    ws = Workspace([tmp_path], provenance=False)
    plain, gz = ws.summarize("s.csv").summary, ws.summarize("s.csv.gz").summary
    assert plain.sample == gz.sample == "spread"
    assert _stats(plain).stats.max >= 0.99 * 599_999 and _stats(gz).stats.max >= 0.99 * 599_999
    assert not plain.n_rows_exact and abs(plain.n_rows - 600_000) <= 0.01 * 600_000
    assert gz.n_rows_exact and gz.n_rows == 600_000

    monkeypatch.setattr(tables, "GZ_SCAN_BYTES", inflated // 2)  # now too long to inflate for a summary
    head = ws.summarize("s.csv.gz").summary
    assert head.sample == "head" and not _stats(head).stats.exact and _stats(head).stats.max < 5_000  # the head
    assert not head.n_rows_exact and abs(head.n_rows - 600_000) <= 0.2 * 600_000  # density of the first MiB


def _quoted_frame(n: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tricky = np.array(["plain", "comma, inside", 'say "hi"', "two\nlines", "a\n1,2,3\nb", "", "\n,\n", '""', "x" * 80])
    return pd.DataFrame({"id": np.arange(n), "note": tricky[rng.integers(0, len(tricky), n)],
                         "v": rng.normal(size=n).round(6), "tail": tricky[rng.integers(0, len(tricky), n)]})


def test_spread_sample_resyncs_across_quoted_newlines(tmp_path):
    """Blocks starting inside quoted fields (newlines, commas, doubled quotes, row-like text) resync exactly."""
    df = _quoted_frame(300_000)
    df.to_csv(tmp_path / "q.csv", index=False)
    size = (tmp_path / "q.csv").stat().st_size
    assert size > SMALL_TEXT_TABLE
    with open(tmp_path / "q.csv", "rb") as fh:
        found = spread(fh, size, len(b"id,note,v,tail\n"), sep=",", ncols=4, blocks=64, block_bytes=8192)
    assert found.kept >= 0.8 * found.blocks  # most offsets land somewhere a reading is certain
    sample = pd.read_csv(io.BytesIO(found.data), header=None, names=list(df.columns), keep_default_na=False)
    assert sample["id"].dtype == np.int64 and len(sample) == found.records > 1000
    original = df.set_index("id").loc[sample["id"]]
    assert (original["note"].to_numpy() == sample["note"].to_numpy()).all()  # every sampled record is whole
    assert (original["tail"].to_numpy() == sample["tail"].to_numpy()).all()
    assert np.allclose(original["v"].to_numpy(), sample["v"].to_numpy())
    assert sample["id"].min() < 0.05 * 300_000 and sample["id"].max() > 0.95 * 300_000  # spread over the file

    s = Workspace([tmp_path], provenance=False).summarize("q.csv").summary
    assert s.sample == "spread" and _stats(s).dtype == "int64" and _stats(s).null_count == 0
    assert abs(s.n_rows - 300_000) <= 0.01 * 300_000 and _stats(s).stats.max >= 0.99 * 299_999


def test_a_block_inside_a_long_quoted_field_is_dropped_not_misread():
    """A block that starts inside quotes, where the text looks like rows, is kept only with the right reading."""
    inner = "\n".join("9,9,9" for _ in range(40))  # rows of the right width, inside one quoted field
    text = "".join(f'{i},"{inner if i % 2 else "short"}",{i}\n' for i in range(60)).encode()
    with io.BytesIO(text) as fh:
        found = spread(fh, len(text), 0, sep=",", ncols=3, blocks=32, block_bytes=600)
    got = pd.read_csv(io.BytesIO(found.data), header=None, names=["id", "s", "k"]) if found.records else None
    assert got is not None and (got["id"] == got["k"]).all()  # never a "9,9,9" row


def test_rows_with_missing_trailing_fields_are_sampled_too():
    """pandas reads a short row as missing values: a quote-free block of such rows is kept; a long row drops it."""
    lines = ["a,b,c,d"] + [f"{i},{i * 2},{i * 3},{i * 4}" if i % 4 else f"{i},{i * 2}" for i in range(100_000)]
    data = ("\n".join(lines) + "\n").encode()
    found = spread(io.BytesIO(data), len(data), 8, sep=",", ncols=4)
    assert found.kept == found.blocks and abs(found.rows_in(len(data) - 8) - 100_000) < 1_000
    wide = data.replace(b"\n4001,8002,12003,16004\n", b"\n4001,8002,12003,16004,1\n")
    assert wide != data
    assert spread(io.BytesIO(wide), len(wide), 8, sep=",", ncols=4, blocks=200).kept < 200


def test_jsonl_summary_is_spread(tmp_path):
    with open(tmp_path / "r.jsonl", "w") as fh:
        fh.writelines(json.dumps({"id": i, "name": f"n{i}", "x": i / 3}) + "\n" for i in range(250_000))
    assert (tmp_path / "r.jsonl").stat().st_size > 8 * MiB
    s = Workspace([tmp_path], provenance=False).summarize("r.jsonl").summary
    assert s.sample == "spread" and not s.n_rows_exact and abs(s.n_rows - 250_000) <= 0.01 * 250_000
    assert _stats(s).stats.max >= 0.99 * 249_999 and [r["id"] for r in s.head] == list(range(len(s.head)))


def test_small_files_stay_exact(tmp_path):
    pd.DataFrame({"id": range(1000)}).to_csv(tmp_path / "small.csv", index=False)
    s = Workspace([tmp_path], provenance=False).summarize("small.csv").summary
    assert s.sample is None and s.n_rows_exact and _stats(s).stats.exact and _stats(s).stats.max == 999


# -- 2. pages sized before reading -------------------------------------------------------------------

_PROBE = """
import json, resource, time
import pandas
from io_core import Workspace
ws = Workspace([{root!r}], provenance=False)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
res = ws.read_slice('rows1m.csv', limit=1_000_000, max_bytes={budget})
seconds = time.perf_counter() - t0
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
print(json.dumps({{"seconds": seconds, "grown": grown, "result": res.model_dump(mode="json")}}))
"""


def test_a_million_row_page_answers_with_what_fits_at_once(big):
    code = _PROBE.format(root=str(big), budget=BUDGET)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    page = out["result"]["slice"]
    assert out["seconds"] < 2 and out["grown"] < 256 * MiB, out  # parsed ~what fits, not the 58 MB file
    assert json_size(out["result"]) <= BUDGET and page["truncated"]
    assert page["next_offset"] == len(page["rows"]) > 100 and [r["id"] for r in page["rows"]] == list(range(len(page["rows"])))


def test_the_page_is_sized_before_the_rows_are_read(big):
    """table_page asks the reader for a few probe rows, then for about what fits: never for the million."""
    from io_core.formats.tables import CSV
    from io_core.options import ReadOptions
    from io_core.slicing import table_page

    asked = []

    def read(columns, offset, limit):
        asked.append(limit)
        return CSV.read_rows(big / "rows1m.csv", ReadOptions(), columns, offset, limit)

    page = table_page(read, None, None, 0, 1_000_000, BUDGET)
    assert len(asked) == 2 and sum(asked) < 3 * len(page.rows) and page.next_offset == len(page.rows)
    assert json_size(page.model_dump(mode="json")) <= BUDGET


def test_pages_cut_by_the_budget_chain_without_gaps(tmp_path):
    df = pd.DataFrame({"id": range(3000), "s": [f"value-{i}-" * (1 + i % 5) for i in range(3000)]})
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet")
    ws = Workspace([tmp_path], provenance=False)
    for name in ("t.csv", "t.parquet"):
        seen, offset, pages = [], 0, 0
        while offset is not None:
            res = ws.read_slice(name, offset=offset, limit=1000, max_bytes=4096)
            assert json_size(res.model_dump(mode="json")) <= 4096
            seen += [r["id"] for r in res.slice.rows]
            offset, pages = res.slice.next_offset, pages + 1
        assert seen == list(range(3000)) and pages > 3, name


def test_max_page_rows_is_still_refused_with_a_limit_that_fits(bws):
    with pytest.raises(TooLargeError, match="limit=") as info:
        bws.read_slice("rows1m.csv", limit=10**9)
    assert "limit=1000" in info.value.hint


def test_deep_csv_pages_seek_through_the_row_index(bws, big):
    first = bws.read_slice("rows1m.csv", offset=500_000, limit=10, max_bytes=BUDGET).slice
    assert [r["id"] for r in first.rows] == list(range(500_000, 500_010)) and first.next_offset == 500_010
    with open(big / "rows1m.csv", "rb") as fh:
        index = row_index.index_for(fh, row_index.QUOTE, ",")
        mark_row, mark_offset = index.nearest(500_001)
        fh.seek(mark_offset)
        start, _ = row_index.scan_rows(fh, 500_001 - mark_row)
    assert mark_row > 400_000 and start - mark_offset <= row_index.SCAN_BLOCK  # a later page scans one block at most
    t0 = time.perf_counter()
    again = bws.read_slice("rows1m.csv", offset=500_000, limit=10, max_bytes=BUDGET).slice
    assert again.rows == first.rows and time.perf_counter() - t0 < 1  # bench/tables.py: a few ms
    last = bws.read_slice("rows1m.csv", offset=N - 2, limit=10).slice
    assert [r["id"] for r in last.rows] == [N - 2, N - 1] and last.next_offset is None and last.total_rows_exact


def test_deep_parquet_page(bws):
    t0 = time.perf_counter()
    page = bws.read_slice("rows1m.parquet", offset=500_000, limit=10, columns=["c3", "id"]).slice
    assert time.perf_counter() - t0 < 1
    assert page.columns == ["c3", "id"] and [r["id"] for r in page.rows] == list(range(500_000, 500_010))
    assert page.rows[0]["c3"] == (500_000 * 7) % (10**3 + 7) and page.total_rows == N and page.total_rows_exact


def test_parquet_pages_read_only_the_row_groups_that_hold_them(tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": np.arange(10_000), "x": np.arange(10_000) * 2.0}), tmp_path / "g.parquet",
                   row_group_size=1000)
    groups = []
    real = pq.ParquetFile.iter_batches

    def spy(self, *args, row_groups=None, **kwargs):
        groups.append(list(row_groups))
        return real(self, *args, row_groups=row_groups, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    ws = Workspace([tmp_path], provenance=False)
    page = ws.read_slice("g.parquet", offset=5_990, limit=20).slice
    assert [r["id"] for r in page.rows] == list(range(5_990, 6_010)) and groups == [[5], [6]]
    groups.clear()
    assert ws.read_slice("g.parquet", offset=10_000, limit=5).slice.rows == [] and groups == []


def test_a_changed_file_gets_a_new_index(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"id": range(50_000)}).to_csv(path, index=False)
    ws = Workspace([tmp_path], provenance=False)
    time.sleep(0.05)  # past the settle window: this index may be kept
    assert ws.read_slice("t.csv", offset=40_000, limit=1).slice.rows == [{"id": 40_000}]
    pd.DataFrame({"id": range(100, 60_100)}).to_csv(path, index=False)  # same rows, other bytes
    assert ws.read_slice("t.csv", offset=40_000, limit=1).slice.rows == [{"id": 40_100}]


# -- selections on tables ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet", "t.jsonl"])
def test_row_range_selections(tmp_path, name):
    ws = Workspace([tmp_path], provenance=False)
    ws.save(pd.DataFrame({"id": range(500), "x": np.arange(500) * 0.5}), name)

    def ids(**kw):
        part = ws.read_slice(name, **kw).slice
        return [r["id"] for r in part.rows], part.next_offset

    assert ids(selection="100:105") == ([100, 101, 102, 103, 104], None)
    assert ids(selection="-3:") == ([497, 498, 499], None)
    assert ids(selection="5") == ([5], None) and ids(selection="-1") == ([499], None)
    assert ids(selection="[495:]") == ([495, 496, 497, 498, 499], None)
    assert ids(selection="0:300", limit=2) == ([0, 1], 2)  # the rest of the selection goes on
    assert ids(selection="490:1000") == (list(range(490, 500)), None)
    assert ws.read_slice(name, selection="-3:").slice.offset == 497
    for bad in ("0:10:2", "1, 2", "rows", "::-1", "500", "-501"):
        with pytest.raises(InvalidSelectionError):
            ws.read_slice(name, selection=bad)
    with pytest.raises(InvalidSelectionError, match="not both"):
        ws.read_slice(name, selection="1:3", offset=4)


def test_rows_from_the_end_of_a_large_csv_count_it_exactly_once(bws):
    part = bws.read_slice("rows1m.csv", selection="-5:").slice
    assert [r["id"] for r in part.rows] == list(range(N - 5, N)) and part.offset == N - 5
    assert part.total_rows == N and part.total_rows_exact
    s = bws.summarize("rows1m.csv").summary  # the count is now known: the summary says so
    assert s.n_rows == N and s.n_rows_exact and s.sample == "spread"


async def test_read_slice_tool_pages_a_million_rows_within_budget(big):
    from fastmcp import Client

    from schemas import SliceResult
    from server.app import create_app
    from server.settings import Settings

    async with Client(create_app(Settings(roots=[big], max_response_bytes=BUDGET))) as c:
        got = await c.call_tool("read_slice", {"path": "rows1m.csv", "limit": 1_000_000})
        part = SliceResult.model_validate(got.structured_content).slice
        assert json_size(got.structured_content) <= BUDGET and part.next_offset == len(part.rows)
        bad = await c.call_tool("read_slice", {"path": "rows1m.csv", "selection": "0:9:3"}, raise_on_error=False)
        assert bad.is_error and bad.content[0].text.startswith("INVALID_SELECTION:")
