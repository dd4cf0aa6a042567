"""Documents and workbooks sciio reads (issue 16 point 3): PDF (pypdf), DOCX (python-docx), XLS (xlrd), XLSM
(openpyxl). Files are made by their own libraries (tests/formats/doc_samples.py); the tests assert what comes
back is what was written: page text, outline, headings, table cells, sheet values."""

from __future__ import annotations

import datetime
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from io_core import IOCoreError, Workspace
from io_core.budget import json_size
from io_core.formats import pdf as pdf_format
from io_core.limits import Limits
from tests.formats import doc_samples as docs

SLOW = 10.0


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return Workspace([tmp_path])


def _code(fn, *args, **kwargs) -> IOCoreError:
    with pytest.raises(IOCoreError) as info:
        fn(*args, **kwargs)
    assert info.value.hint
    return info.value


# -- PDF --------------------------------------------------------------------------------------------

PAGES = ["Introduction\nWe measured alpha = 0.25.", "Methods (page two)\nbeta", "Results: gamma", "Appendix\ndelta"]


@pytest.fixture()
def paper(tmp_path: Path) -> str:
    docs.make_pdf(tmp_path / "paper.pdf", PAGES, {"Title": "Run 7 report", "Author": "A. Tester"},
                  [("Introduction", 0, 0), ("Alpha", 0, 1), ("Methods", 1, 0), ("Results", 2, 0)])
    return "paper.pdf"


def test_pdf_load_gives_each_page_text_info_and_outline(ws, paper):
    doc = ws.load(paper)
    assert [p.strip() for p in doc["pages"]] == PAGES
    assert doc["info"]["Title"] == "Run 7 report" and doc["info"]["Author"] == "A. Tester"
    assert doc["outline"] == [{"title": "Introduction", "page": 0, "level": 0}, {"title": "Alpha", "page": 0, "level": 1},
                              {"title": "Methods", "page": 1, "level": 0}, {"title": "Results", "page": 2, "level": 0}]
    assert ws.load(paper, key="pages/2").strip() == "Results: gamma"
    assert ws.load(paper, key="pages/-1").strip() == "Appendix\ndelta"
    assert ws.load(paper, key="info")["Title"] == "Run 7 report"
    assert [e["title"] for e in ws.load(paper, key="outline")] == ["Introduction", "Alpha", "Methods", "Results"]
    assert _code(ws.load, paper, key="pages/4").code == "KEY_NOT_FOUND"
    assert _code(ws.load, paper, key="figures").code == "KEY_NOT_FOUND"


def test_pdf_summary_counts_pages_and_shows_the_first_pages_text(ws, paper):
    s = ws.summarize(paper, max_bytes=32768).summary
    assert (s.kind, s.type, s.length) == ("value", "pdf", 4)
    p = s.preview
    assert p["pages"] == 4 and p["info"]["Title"] == "Run 7 report" and p["outline_entries"] == 4
    assert p["outline"][1] == {"title": "Alpha", "page": 0, "level": 1}
    assert [t["page"] for t in p["text"]] == [0, 1, 2, 3] and "alpha = 0.25" in p["text"][0]["text"]
    assert "from 0" in p["read_slice"] and "2:5" in p["read_slice"]
    assert not s.truncated


def test_pdf_summary_extracts_only_the_pages_it_shows(ws, tmp_path, monkeypatch):
    docs.make_pdf(tmp_path / "long.pdf", [f"Page {i}\n" + "words and more words " * 120 for i in range(60)])
    extracted: list[int] = []
    real = pdf_format._text
    monkeypatch.setattr(pdf_format, "_text", lambda reader, i: extracted.append(i) or real(reader, i))
    res = ws.summarize("long.pdf", max_bytes=8192)
    s = res.summary
    assert s.length == 60 and s.truncated and len(res.model_dump_json()) <= 8192
    shown = s.preview["text"]
    assert 0 < len(shown) < 60 and shown[0]["text"].startswith("Page 0")
    assert len(extracted) <= len(shown) + 1  # the page that did not fit whole, at most


def test_pdf_read_slice_is_a_page_range_numbered_from_zero(ws, paper):
    part = ws.read_slice(paper, selection="1:3").slice
    assert part.columns == ["page", "text"] and part.total_rows == 4 and part.next_offset is None
    assert [r["page"] for r in part.rows] == [1, 2]
    assert [r["text"].strip() for r in part.rows] == PAGES[1:3]
    one = ws.read_slice(paper, selection="3").slice
    assert [(r["page"], r["text"].strip()) for r in one.rows] == [(3, "Appendix\ndelta")]
    last = ws.read_slice(paper, selection="-1:").slice
    assert [r["page"] for r in last.rows] == [3]
    paged = ws.read_slice(paper, offset=0, limit=2).slice
    assert [r["page"] for r in paged.rows] == [0, 1] and paged.next_offset == 2
    text_only = ws.read_slice(paper, selection="0:1", columns=["text"]).slice
    assert text_only.columns == ["text"] and "alpha" in text_only.rows[0]["text"]
    assert _code(ws.read_slice, paper, selection="9").code == "INVALID_SELECTION"
    assert _code(ws.read_slice, paper, selection="0:2:2").code == "INVALID_SELECTION"
    assert _code(ws.read_slice, paper, key="pages").code == "INVALID_ARGUMENT"


def test_pdf_made_by_matplotlib_gives_its_text(ws, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_title("Spike rate by condition")
    ax.plot([1, 2, 3])
    fig.savefig(tmp_path / "fig.pdf")
    plt.close(fig)
    assert "Spike rate by condition" in ws.load("fig.pdf", key="pages/0")
    s = ws.summarize("fig.pdf").summary
    assert s.length == 1 and "Spike rate by condition" in s.preview["text"][0]["text"]
    assert s.preview["info"]["Producer"].startswith("Matplotlib")


def test_pdf_preview_draws_the_page_asked_for(ws, tmp_path):
    """preview_image draws a page with pdfium: page 1 of a red-then-blue PDF is blue, page 0 red."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages
    from PIL import Image

    with PdfPages(tmp_path / "two.pdf") as pages:
        for colour in ("red", "blue"):
            fig = plt.figure(figsize=(4, 3))
            fig.patch.set_facecolor(colour)
            pages.savefig(fig, facecolor=colour)
            plt.close(fig)

    def mean_rgb(selection):
        png, caption = ws.preview_image("two.pdf", selection=selection, max_side=128)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert max(image.size) <= 128 and caption["format"] == "pdf" and caption["page"] == int(selection or 0)
        return np.asarray(image, dtype=float).reshape(-1, 3).mean(axis=0)

    red, blue = mean_rgb(None), mean_rgb("1")
    assert red[0] > 200 and red[2] < 60 and blue[2] > 200 and blue[0] < 60
    assert _code(ws.preview_image, "two.pdf", selection="2").code == "KEY_NOT_FOUND"


def test_pdf_preview_of_a_heavy_page_is_refused_before_drawing(ws, tmp_path):
    import zlib

    objs = docs.one_page_objects(b"fine page")
    body = zlib.compress(b"0 0 m " + b"1 1 l " * 900_000 + b"S", 9)  # 5 MiB decoded
    objs[6] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream"
    (tmp_path / "heavy1.pdf").write_bytes(docs.raw_pdf(objs))
    start = time.monotonic()
    assert _code(ws.preview_image, "heavy1.pdf").code == "TOO_LARGE"
    assert time.monotonic() - start < 3.0


def test_pdf_encrypted_with_a_password_is_refused_without_one_it_is_read(ws, tmp_path, paper):
    from pypdf import PdfReader, PdfWriter

    for user, name in (("secret", "locked.pdf"), ("", "owner_only.pdf")):
        writer = PdfWriter(clone_from=PdfReader(tmp_path / paper))
        writer.encrypt(user_password=user, owner_password="owner", algorithm="AES-256")
        writer.write(tmp_path / name)
    for op in (ws.load, ws.summarize, lambda p: ws.read_slice(p, selection="0")):
        err = _code(op, "locked.pdf")
        assert err.code == "UNSUPPORTED_OPERATION" and "password" in err.message and "decrypt" in err.hint
    assert ws.load("owner_only.pdf", key="pages/2").strip() == "Results: gamma"
    assert ws.summarize("owner_only.pdf").summary.preview["encrypted"] is True


def test_pdf_hostile_structures_end_fast_with_codes(ws, tmp_path):
    objs = docs.one_page_objects(b"hello loop")
    cyclic_outline = dict(objs)  # one entry that is its own next sibling and first child
    cyclic_outline[5] = b"<< /Type /Outlines /First 7 0 R /Last 7 0 R /Count 1 >>"
    cyclic_outline[7] = b"<< /Title (Loop) /Parent 5 0 R /Next 7 0 R /First 7 0 R /Dest [3 0 R /Fit] >>"
    (tmp_path / "outline_loop.pdf").write_bytes(docs.raw_pdf(cyclic_outline))
    page_loop = dict(objs)  # the page tree lists itself among its kids
    page_loop[2] = b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>"
    (tmp_path / "page_loop.pdf").write_bytes(docs.raw_pdf(page_loop))
    deep = dict(objs)  # an outline nested 3000 levels deep
    deep[5] = b"<< /Type /Outlines /First 7 0 R /Last 7 0 R /Count 3000 >>"
    for i in range(3000):
        child = b" /First %d 0 R /Last %d 0 R" % (8 + i, 8 + i) if i < 2999 else b""
        deep[7 + i] = b"<< /Title (L%d) /Parent %d 0 R%s >>" % (i, 5 if i == 0 else 6 + i, child)
    (tmp_path / "deep_outline.pdf").write_bytes(docs.raw_pdf(deep))

    start = time.monotonic()
    s = ws.summarize("outline_loop.pdf").summary
    assert s.preview["text"][0]["text"].strip() == "hello loop" and s.preview["outline"][0]["title"] == "Loop"
    assert _code(ws.load, "page_loop.pdf").code == "CORRUPT_FILE"
    assert _code(ws.summarize, "page_loop.pdf").code == "CORRUPT_FILE"
    s = ws.summarize("deep_outline.pdf").summary  # the outline is refused, the pages still summarized
    assert s.length == 1 and "outline" not in s.preview and "limit" in s.preview["outline_error"]
    assert _code(ws.load, "deep_outline.pdf").code == "TOO_LARGE"
    assert ws.load("deep_outline.pdf", key="pages/0").strip() == "hello loop"
    assert time.monotonic() - start < SLOW


def test_pdf_page_with_a_huge_content_stream_is_not_parsed(ws, tmp_path):
    import zlib

    objs = docs.one_page_objects(b"fine page")
    body = zlib.compress(b"BT /F1 12 Tf " + b"1 0 Td " * 900_000 + b"(x) Tj ET", 9)  # 6 MiB decoded, 30 KiB stored
    objs[2] = b"<< /Type /Pages /Kids [3 0 R 8 0 R] /Count 2 >>"
    objs[8] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 9 0 R "
               b"/Resources << /Font << /F1 4 0 R >> >> >>")
    objs[9] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream"
    objs[7] = b"<< >>"
    (tmp_path / "heavy.pdf").write_bytes(docs.raw_pdf(objs))
    start = time.monotonic()
    text = ws.summarize("heavy.pdf").summary.preview["text"]
    assert text[0] == {"page": 0, "text": "fine page"}
    assert text[1]["page"] == 1 and "MiB" in text[1]["error"] and text[1]["text"] == ""
    assert _code(ws.load, "heavy.pdf").code == "TOO_LARGE"
    assert _code(ws.read_slice, "heavy.pdf", selection="1").code == "TOO_LARGE"
    assert ws.read_slice("heavy.pdf", selection="0").slice.rows[0]["text"] == "fine page"
    assert time.monotonic() - start < 3.0  # pypdf would tokenize the 900,000 operators for seconds


def test_pdf_text_load_is_bounded_by_max_text_bytes(tmp_path):
    docs.make_pdf(tmp_path / "t.pdf", ["x" * 400] * 5)
    small = Workspace([tmp_path], limits=Limits(max_text_bytes=1000))
    err = _code(small.load, "t.pdf")
    assert err.code == "TOO_LARGE" and "read_slice" in err.hint
    assert small.load("t.pdf", key="pages/4").strip() == "x" * 400  # one page is fine
    assert small.read_slice("t.pdf", selection="4").slice.rows[0]["page"] == 4


def test_pdf_metadata_embedding_still_works_and_stays_out_of_info(ws, tmp_path, paper):
    ws.embed_metadata(paper, {"run": 7})
    assert ws.read_metadata(paper).metadata == {"run": 7}
    doc = ws.load(paper)
    assert "sciio" not in doc["info"] and doc["info"]["Title"] == "Run 7 report"
    assert [p.strip() for p in doc["pages"]] == PAGES


# -- DOCX -------------------------------------------------------------------------------------------

BLOCKS = [
    ("heading", ("Run 7", 0)),
    ("heading", ("Introduction", 1)),
    ("paragraph", "We measured alpha ✓."),
    ("paragraph", ""),
    ("heading", ("Data", 2)),
    ("table", [["subject", "rt_ms", "note"], ["s1", "412.5", "ok"], ["s2", "398", ""], ["s3", "", "missed"]]),
    ("paragraph", "Between the tables."),
    ("table", [["a", "a", ""], ["x", "y", "z"]]),
    ("heading", ("Discussion", 1)),
    ("paragraph", "Alpha was larger than expected."),
]


@pytest.fixture()
def report(tmp_path: Path) -> str:
    docs.make_docx(tmp_path / "report.docx", BLOCKS, title="Run 7 report")
    return "report.docx"


def test_docx_load_gives_paragraphs_with_styles_and_levels_and_tables_as_frames(ws, report):
    doc = ws.load(report)
    assert list(doc) == ["paragraphs", "table0", "table1"]
    par = doc["paragraphs"]
    assert list(par.columns) == ["style", "level", "text"]
    assert par["text"].tolist() == ["Run 7", "Introduction", "We measured alpha ✓.", "", "Data", "Between the tables.",
                                    "Discussion", "Alpha was larger than expected."]
    assert par["level"].tolist() == [0, 1, None, None, 2, None, 1, None]
    assert par["style"].tolist()[:5] == ["Title", "Heading 1", "Normal", "Normal", "Heading 2"]
    t0 = doc["table0"]
    assert list(t0.columns) == ["subject", "rt_ms", "note"]
    assert t0["subject"].tolist() == ["s1", "s2", "s3"]
    assert t0["rt_ms"].dtype == np.float64 and t0["rt_ms"].tolist()[:2] == [412.5, 398.0] and np.isnan(t0["rt_ms"][2])
    assert t0["note"].tolist() == ["ok", "", "missed"]  # text stays text
    assert list(doc["table1"].columns) == ["a", "a.1", "Unnamed: 2"]  # pandas' names for repeats and blanks
    pd.testing.assert_frame_equal(ws.load(report, key="table0"), t0)
    err = _code(ws.load, report, key="table7")
    assert err.code == "KEY_NOT_FOUND" and "table0" in err.message


def test_docx_summary_counts_outlines_and_shows_the_first_paragraphs(ws, report):
    s = ws.summarize(report, max_bytes=32768).summary
    assert s.kind == "tree" and s.n_children == 3
    assert [(c.name, c.shape) for c in s.children] == [("paragraphs", [8, 3]), ("table0", [3, 3]), ("table1", [1, 3])]
    a = s.attrs
    assert (a["paragraphs"], a["headings"], a["tables"]) == (8, 4, 2)
    assert a["properties"]["title"] == "Run 7 report"
    assert [(o["paragraph"], o["level"], o["text"]) for o in a["outline"]] == [
        (0, 0, "Run 7"), (1, 1, "Introduction"), (4, 2, "Data"), (6, 1, "Discussion")]
    assert [h["paragraph"] for h in a["head"]] == [0, 1, 2, 4, 5, 6, 7]  # the empty paragraph 3 is not shown
    assert a["head"][2]["text"] == "We measured alpha ✓." and a["head"][2]["style"] == "Normal"
    assert "table0" in a["read_slice"]
    table = ws.summarize(report, key="table0").summary
    assert table.kind == "frame" and table.n_rows == 3 and [c.name for c in table.columns] == ["subject", "rt_ms", "note"]
    rt = next(c for c in table.columns if c.name == "rt_ms")
    assert rt.stats.min == 398.0 and rt.stats.max == 412.5 and rt.null_count == 1


def test_docx_read_slice_pages_paragraphs_and_tables(ws, report):
    part = ws.read_slice(report, selection="1:3").slice
    assert part.total_rows == 8 and [r["text"] for r in part.rows] == ["Introduction", "We measured alpha ✓."]
    assert part.rows[0] == {"style": "Heading 1", "level": 1, "text": "Introduction"}
    table = ws.read_slice(report, key="table0", columns=["subject", "rt_ms"]).slice
    assert table.columns == ["subject", "rt_ms"] and table.rows[0] == {"subject": "s1", "rt_ms": 412.5}
    assert _code(ws.read_slice, report, key="table0", columns=["nope"]).code == "KEY_NOT_FOUND"


def test_docx_changed_on_disk_is_read_again(ws, tmp_path, report):
    assert ws.read_slice(report, selection="0").slice.rows[0]["text"] == "Run 7"
    docs.make_docx(tmp_path / "new.docx", [("heading", ("Run 8", 0))])
    (tmp_path / "new.docx").replace(tmp_path / report)
    assert ws.read_slice(report, selection="0").slice.rows[0]["text"] == "Run 8"
    assert ws.summarize(report).summary.attrs["paragraphs"] == 1


def test_docx_converts_a_table_to_csv(ws, tmp_path, report):
    ws.convert(report, "t.csv", key="table0")
    assert pd.read_csv(tmp_path / "t.csv")["subject"].tolist() == ["s1", "s2", "s3"]


def test_docx_that_is_not_a_word_package_is_corrupt(ws, tmp_path):
    docs.make_xlsm(pd.DataFrame({"a": [1]}), tmp_path / "sheet.xlsm")
    (tmp_path / "sheet.docx").write_bytes((tmp_path / "sheet.xlsm").read_bytes())
    err = _code(ws.load, "sheet.docx")
    assert err.code == "CORRUPT_FILE" and "Word" in err.message


def test_docx_zip_bomb_is_refused_before_parsing(ws, tmp_path):
    from tests.security.builders import docx_bomb

    docx_bomb(tmp_path / "bomb.docx", 400)
    start = time.monotonic()
    for op in (ws.load, ws.summarize, lambda p: ws.read_slice(p, selection="0:1")):
        assert _code(op, "bomb.docx").code == "TOO_LARGE"
    assert time.monotonic() - start < 2.0  # nothing was inflated


def test_docx_parts_together_are_bounded(ws, tmp_path, report):
    sizes = [i.file_size for i in zipfile.ZipFile(tmp_path / report).infolist()]
    small = Workspace([tmp_path], limits=Limits(max_member_bytes=max(sizes)))  # each part fits, all of them do not
    assert max(sizes) < sum(sizes)
    assert _code(small.summarize, report).code == "TOO_LARGE"


def test_docx_external_entities_are_not_resolved(ws, tmp_path, report):
    secret = tmp_path.parent / f"{tmp_path.name}_secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    src = zipfile.ZipFile(tmp_path / report)
    with zipfile.ZipFile(tmp_path / "xxe.docx", "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "word/document.xml":
                decl, _, rest = data.partition(b"?>")
                data = (decl + b'?><!DOCTYPE w:document [<!ENTITY x SYSTEM "file://' + str(secret).encode() + b'">]>'
                        + rest.replace(b"We measured alpha", b"&x;We measured alpha"))
            out.writestr(info, data)
    try:
        got = ws.load("xxe.docx")
    except IOCoreError as exc:
        assert exc.code == "CORRUPT_FILE"
        return
    assert "TOP-SECRET-MARKER" not in got["paragraphs"].to_json()


# -- XLS / XLSM ----------------------------------------------------------------------------------------

def _workbook_frames() -> dict[str, pd.DataFrame]:
    return {
        "trials": pd.DataFrame({"trial": [1, 2, 3], "rt": [0.41, 0.39, 0.5], "cond": ["a", "b", "ä"],
                                "hit": [True, False, True]}),
        "subjects": pd.DataFrame({"id": ["s1", "s2"], "age": [31, 27]}),
    }


@pytest.mark.parametrize(("ext", "make"), [(".xls", docs.make_xls), (".xlsm", docs.make_xlsm)])
def test_workbooks_load_summarize_and_page_like_xlsx(ws, tmp_path, ext, make):
    frames = _workbook_frames()
    make(frames, tmp_path / ("book" + ext))
    got = ws.load("book" + ext)
    assert list(got) == ["trials", "subjects"]
    for name, want in frames.items():
        pd.testing.assert_frame_equal(got[name], want)
    s = ws.summarize("book" + ext).summary
    assert s.kind == "tree" and [(c.name, c.shape) for c in s.children] == [("trials", [3, 4]), ("subjects", [2, 2])]
    one = ws.summarize("book" + ext, key="subjects").summary
    assert one.kind == "frame" and one.n_rows == 2 and one.head[1] == {"id": "s2", "age": 27}
    page = ws.read_slice("book" + ext, key="trials", selection="1:3", columns=["rt", "cond"]).slice
    assert page.rows == [{"rt": 0.39, "cond": "b"}, {"rt": 0.5, "cond": "ä"}] and page.total_rows == 3
    past = ws.read_slice("book" + ext, key="trials", offset=10).slice
    assert past.rows == [] and past.columns == ["trial", "rt", "cond", "hit"]
    assert _code(ws.load, "book" + ext, key="nope").code == "KEY_NOT_FOUND"
    ws.convert("book" + ext, "trials.csv", key="trials")
    assert pd.read_csv(tmp_path / "trials.csv")["cond"].tolist() == ["a", "b", "ä"]


def test_xls_dates_blanks_and_errors_read_as_pandas_reads_them(ws, tmp_path):
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("s")
    for j, name in enumerate(["when", "value", "", "value"]):
        sheet.write(0, j, name)
    dates = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    sheet.write(1, 0, datetime.datetime(2024, 5, 17), dates)
    sheet.write(1, 1, 2.5)
    sheet.write(1, 3, xlwt.Formula("1/0"))  # an error cell (no cached value)
    sheet.write(2, 0, datetime.datetime(2025, 1, 2), dates)
    sheet.write(2, 1, 4)
    book.save(str(tmp_path / "d.xls"))
    got = ws.load("d.xls")
    assert list(got.columns) == ["when", "value", "Unnamed: 2", "value.1"]
    assert got["when"].tolist() == [pd.Timestamp("2024-05-17"), pd.Timestamp("2025-01-02")]
    assert got["value"].tolist() == [2.5, 4.0]
    assert got["Unnamed: 2"].isna().all()


def test_xls_is_parsed_whole_only_up_to_max_text_bytes(tmp_path):
    docs.make_xls(_workbook_frames(), tmp_path / "b.xls")
    small = Workspace([tmp_path], limits=Limits(max_text_bytes=1000))
    for op in (small.load, small.summarize):
        assert _code(op, "b.xls").code == "TOO_LARGE"


def test_xlsm_is_a_macro_enabled_package_and_its_macros_are_only_data(ws, tmp_path):
    docs.make_xlsm(_workbook_frames()["subjects"], tmp_path / "m.xlsm")
    with zipfile.ZipFile(tmp_path / "m.xlsm") as z:
        assert "xl/vbaProject.bin" in z.namelist()
        assert b"macroEnabled" in z.read("[Content_Types].xml")
    assert ws.load("m.xlsm")["age"].tolist() == [31, 27]
    assert ws.summarize("m.xlsm").format == "xlsm"
    err = _code(ws.save, {"a": [1]}, "new.xlsm")
    assert err.code in ("UNSUPPORTED_OPERATION", "FORMAT_UNKNOWN")


# -- through the MCP tools ----------------------------------------------------------------------------

async def test_documents_through_the_mcp_tools_within_a_small_budget(tmp_path):
    from fastmcp import Client

    from schemas import FormatList, SliceResult, SummaryResult
    from server.app import create_app
    from server.settings import Settings

    docs.make_pdf(tmp_path / "long.pdf", [f"Page {i}\n" + "measured values " * 150 for i in range(40)])
    docs.make_docx(tmp_path / "r.docx", BLOCKS)
    docs.make_xls(_workbook_frames(), tmp_path / "b.xls")
    budget = 6000
    async with Client(create_app(Settings(roots=[tmp_path], max_response_bytes=budget))) as c:
        formats = FormatList.model_validate((await c.call_tool("list_formats", {})).structured_content)
        ops = {f.name: f.operations for f in formats.formats}
        for name in ("pdf", "docx", "xls", "xlsm"):
            assert {"load", "summarize", "pages"} <= set(ops[name]) and "save" not in ops[name]
        res = await c.call_tool("load_summary", {"path": "long.pdf"})
        assert json_size(res.structured_content) <= budget
        pdf = SummaryResult.model_validate(res.structured_content).summary
        assert pdf.length == 40 and pdf.truncated and pdf.preview["text"][0]["text"].startswith("Page 0")
        page = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": "long.pdf", "selection": "38:40"})).structured_content).slice
        assert [r["page"] for r in page.rows] == [38, 39] and page.rows[0]["text"].startswith("Page 38")
        word = SummaryResult.model_validate((await c.call_tool("load_summary", {"path": "r.docx"})).structured_content)
        assert word.summary.attrs["tables"] == 2
        table = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": "r.docx", "key": "table0"})).structured_content).slice
        assert table.rows[1] == {"subject": "s2", "rt_ms": 398.0, "note": ""}
        sheet = SliceResult.model_validate((await c.call_tool(
            "read_slice", {"path": "b.xls", "key": "subjects"})).structured_content).slice
        assert sheet.rows == [{"id": "s1", "age": 31}, {"id": "s2", "age": 27}]
