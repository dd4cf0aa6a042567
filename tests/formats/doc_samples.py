"""Documents and workbooks made by their own libraries (sciio reads these formats, it does not write them).

- PDF: pypdf's writer, one page per text with the standard Helvetica font (WinAnsi text: every
  PDF reader extracts it back), document info and an outline.
- DOCX: python-docx (headings, paragraphs, tables).
- XLS: xlwt (Excel 97-2003 BIFF). XLSM: openpyxl, with a VBA project part, so the package
  really is macro-enabled (its workbook content type says so).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd


def make_pdf(path: Path, pages: Sequence[str], info: Mapping[str, str] | None = None,
             outline: Sequence[tuple[str, int, int]] = ()) -> None:
    """``pages``: text of each page (lines by "\\n"); ``outline``: (title, page, level 0/1) entries."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"), NameObject("/Encoding"): NameObject("/WinAnsiEncoding")}))
    for text in pages:
        page = writer.add_blank_page(612, 792)
        ops = ["BT", "/F1 11 Tf", "13 TL", "40 750 Td"]
        for line in text.split("\n"):
            ops.append("(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj T*")
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("cp1252"))
        page[NameObject("/Contents")] = writer._add_object(stream)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    if info:
        writer.add_metadata({"/" + k: v for k, v in info.items()})
    parent = None
    for title, page_number, level in outline:
        item = writer.add_outline_item(title=title, page_number=page_number, parent=parent if level else None)
        if level == 0:
            parent = item
    with open(path, "wb") as fh:
        writer.write(fh)


def make_docx(path: Path, blocks: Sequence[tuple[str, Any]], title: str | None = None) -> None:
    """``blocks``: ("heading", (text, level)), ("paragraph", text), ("table", rows of cell texts)."""
    import docx

    doc = docx.Document()
    if title:
        doc.core_properties.title = title
    for kind, value in blocks:
        if kind == "heading":
            doc.add_heading(value[0], value[1])
        elif kind == "paragraph":
            doc.add_paragraph(value)
        else:
            table = doc.add_table(rows=len(value), cols=len(value[0]))
            for i, row in enumerate(value):
                for j, cell in enumerate(row):
                    table.cell(i, j).text = cell
    doc.save(str(path))


def _sheets(data: pd.DataFrame | Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return dict(data) if isinstance(data, Mapping) else {"Sheet1": data}


def make_xls(data: pd.DataFrame | Mapping[str, pd.DataFrame], path: Path) -> None:
    """Frames as sheets of an .xls (xlwt): header row, then the values (numbers, text, booleans)."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    for name, frame in _sheets(data).items():
        sheet = book.add_sheet(name)
        for j, column in enumerate(frame.columns):
            sheet.write(0, j, str(column))
        for i, row in enumerate(frame.itertuples(index=False), start=1):
            for j, value in enumerate(row):
                sheet.write(i, j, value.item() if hasattr(value, "item") else value)
    book.save(str(path))


def make_xlsm(data: pd.DataFrame | Mapping[str, pd.DataFrame], path: Path) -> None:
    """Frames as sheets of a macro-enabled workbook (openpyxl, with a VBA project part)."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, frame in _sheets(data).items():
        sheet = book.create_sheet(name)
        sheet.append([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            sheet.append([v.item() if hasattr(v, "item") else v for v in row])
    plain = io.BytesIO()
    book.save(plain)
    archive = io.BytesIO()  # what openpyxl keeps of a loaded .xlsm (keep_vba=True): the package and its VBA
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(archive, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    book.vba_archive = zipfile.ZipFile(archive)
    book.save(str(path))


def raw_pdf(objects: Mapping[int, bytes], root: int = 1) -> bytes:
    """A PDF written byte by byte from ``{number: object body}`` (cross-reference table computed): for
    hostile structures no writer makes (cycles, deep nesting)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref)
    return bytes(out)


def one_page_objects(text: bytes = b"hello") -> dict[int, bytes]:
    """A one-page PDF's objects: catalog 1, page tree 2, page 3, font 4, outline root 5, content 6
    (outline entries from 7 on are the caller's)."""
    content = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R /Outlines 5 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 6 0 R "
           b"/Resources << /Font << /F1 4 0 R >> >> >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        5: b"<< /Type /Outlines >>",
        6: b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    }
