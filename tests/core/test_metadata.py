"""read_metadata / embed_metadata / has_metadata for PNG, JPEG, TIFF, SVG and PDF through io_core.Workspace.

Embedding must leave what the file shows untouched: decoded pixels are compared before and after
(JPEG: the entropy-coded scan bytes too), SVG minus the inserted element is the original text, and
a PDF's original bytes stay a prefix of the file (incremental update).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from io_core import metadata as md
from io_core.errors import IOCoreError
from io_core.metadata.raster import png_sciio
from io_core.workspace import Workspace

META = {"run": 7, "params": {"lr": 0.01, "tags": ["a", "b"]}, "note": "ünïcode <&> \"quotes\" ]]>"}
RNG = np.random.default_rng(0)
PIXELS = (RNG.random((48, 64, 3)) * 255).astype(np.uint8)


def make_files(root: Path) -> None:
    Image.fromarray(PIXELS).save(root / "rgb.png")
    Image.fromarray((RNG.random((20, 30)) * 65535).astype(np.uint16)).save(root / "deep16.png")
    palette = Image.fromarray(PIXELS).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.save(root / "palette.png", transparency=0)
    exif = Image.Exif()
    exif[0x010F] = "SciCam"
    exif[0x0110] = "Model 1"
    exif.get_ifd(0x8769)[0x829A] = (1, 250)
    Image.fromarray(PIXELS).save(root / "photo.jpg", quality=87, exif=exif.tobytes())
    Image.fromarray(PIXELS).save(root / "plain.jpg", quality=75)
    Image.fromarray(PIXELS).save(root / "lzw.tif", compression="tiff_lzw")
    frames = [Image.fromarray(PIXELS[..., i]) for i in range(3)]
    frames[0].save(root / "stack.tiff", save_all=True, append_images=frames[1:])
    Image.fromarray(PIXELS).save(root / "big_endian.tif", tiffinfo={270: "existing description"})
    (root / "fig.svg").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- a figure -->\n'
        '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="30" viewBox="0 0 40 30">\n'
        '  <title>Figure 1</title>\n  <rect x="1" y="1" width="10" height="10" fill="red"/>\n</svg>\n',
        encoding="utf-8",
    )
    (root / "empty.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="5" height="5"/>', encoding="utf-8")
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(200, 100)
    writer.add_blank_page(300, 400)
    writer.add_metadata({"/Title": "A report", "/Author": "Lab"})
    with open(root / "doc.pdf", "wb") as fh:
        writer.write(fh)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    make_files(folder)
    return folder


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace([root])


def code(func, *args, **kwargs) -> str:
    with pytest.raises(IOCoreError) as info:
        func(*args, **kwargs)
    return info.value.code


def frames(data: bytes) -> list[np.ndarray]:
    out = []
    with Image.open(io.BytesIO(data)) as image:
        for i in range(getattr(image, "n_frames", 1)):
            image.seek(i)
            out.append(np.asarray(image.copy()))
    return out


IMAGES = ["rgb.png", "deep16.png", "palette.png", "photo.jpg", "plain.jpg", "lzw.tif", "stack.tiff", "big_endian.tif"]


@pytest.mark.parametrize("name", IMAGES)
def test_images_round_trip_with_identical_pixels(ws, root, name):
    before = (root / name).read_bytes()
    assert not ws.has_metadata(name)
    res = ws.embed_metadata(name, META)
    assert res.format in ("png", "jpeg", "tiff") and not res.replaced and res.size_bytes == (root / name).stat().st_size
    read = ws.read_metadata(name)
    assert read.has_metadata and read.metadata == META and ws.has_metadata(name)
    after = (root / name).read_bytes()
    old, new = frames(before), frames(after)
    assert len(old) == len(new) and all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(old, new, strict=True))
    with Image.open(io.BytesIO(after)) as image, Image.open(io.BytesIO(before)) as original:
        assert (image.mode, image.size) == (original.mode, original.size)


def test_jpeg_scan_data_is_not_re_encoded_and_exif_is_kept(ws, root):
    before = (root / "photo.jpg").read_bytes()
    ws.embed_metadata("photo.jpg", META)
    after = (root / "photo.jpg").read_bytes()
    sos = before.index(b"\xff\xda")
    assert after.endswith(before[sos:])  # quantisation tables, Huffman tables and scan bytes unchanged
    info = ws.read_metadata("photo.jpg").info
    assert info["exif"]["Make"] == "SciCam" and info["exif"]["Model"] == "Model 1"
    assert info["width"] == 64 and info["height"] == 48 and info["mode"] == "RGB"


def test_png_chunks_other_than_sciio_are_kept(ws, root):
    before = (root / "palette.png").read_bytes()
    ws.embed_metadata("palette.png", META)
    ws.embed_metadata("palette.png", {"second": True}, overwrite=True)
    after = (root / "palette.png").read_bytes()
    spans, value = png_sciio(after)
    assert value == {"second": True} and len(spans) == 1  # replaced, not added
    start, end = spans[0]
    assert after[:start] + after[end:] == before
    with Image.open(root / "palette.png") as image:
        assert image.info["transparency"] == 0 and image.text == {"sciio": '{"second":true}'}


def test_tiff_keeps_strips_tags_and_frames(ws, root):
    before = (root / "big_endian.tif").read_bytes()
    ws.embed_metadata("big_endian.tif", META)
    after = (root / "big_endian.tif").read_bytes()
    assert after[8 : len(before)] == before[8:]  # only the header's first-IFD pointer changed; the rest was appended
    with Image.open(root / "big_endian.tif") as image:
        assert image.tag_v2[270] == "existing description" and image.tag_v2[md.TIFF_TAG].startswith('{"sciio":')
    assert ws.read_metadata("stack.tiff").info["n_frames"] == 3


def test_svg_gets_a_metadata_element_and_nothing_else_changes(ws, root):
    for name in ("fig.svg", "empty.svg"):
        before = (root / name).read_text(encoding="utf-8")
        ws.embed_metadata(name, META)
        after = (root / name).read_text(encoding="utf-8")
        start = after.index('<metadata id="sciio">')
        end = after.index("</metadata>", start) + len("</metadata>")
        element = after[start:end]
        assert "<&>" not in element and "&lt;&amp;&gt;" in element
        if name == "fig.svg":
            assert after[:start] + after[end:] == before
        read = ws.read_metadata(name)
        assert read.metadata == META
    info = ws.read_metadata("fig.svg").info
    assert info["width"] == "40" and info["viewBox"] == "0 0 40 30" and info["title"] == "Figure 1"
    ws.embed_metadata("fig.svg", [1, 2], overwrite=True)
    text = (root / "fig.svg").read_text(encoding="utf-8")
    assert text.count("<metadata") == 1 and ws.read_metadata("fig.svg").metadata == [1, 2]
    import xml.etree.ElementTree as ET

    ET.fromstring(text)  # still well-formed


def test_svg_entities_are_refused(ws, root):
    (root / "bomb.svg").write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        '<svg xmlns="http://www.w3.org/2000/svg">&b;</svg>'
    )
    (root / "xxe.svg").write_text(
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<svg xmlns="http://www.w3.org/2000/svg">&x;</svg>'
    )
    for name in ("bomb.svg", "xxe.svg"):
        before = (root / name).read_bytes()
        assert code(ws.read_metadata, name) == "UNSAFE_FORMAT"
        assert code(ws.embed_metadata, name, META) == "UNSAFE_FORMAT"
        assert (root / name).read_bytes() == before
    (root / "broken.svg").write_text("<svg><g></svg>")
    assert code(ws.read_metadata, "broken.svg") == "CORRUPT_FILE"


def test_pdf_incremental_update_keeps_the_original_bytes(ws, root):
    before = (root / "doc.pdf").read_bytes()
    info = ws.read_metadata("doc.pdf").info
    assert info["pages"] == 2 and info["page_size_pt"] == [200.0, 100.0]
    assert info["document_info"]["Title"] == "A report" and not info["encrypted"]
    ws.embed_metadata("doc.pdf", META)
    after = (root / "doc.pdf").read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    read = ws.read_metadata("doc.pdf")
    assert read.metadata == META and read.info["pages"] == 2 and read.info["document_info"]["Author"] == "Lab"
    from pypdf import PdfReader

    old, new = PdfReader(io.BytesIO(before)), PdfReader(root / "doc.pdf")
    assert [p.get_contents() and p.get_contents().get_data() for p in old.pages] == \
           [p.get_contents() and p.get_contents().get_data() for p in new.pages]
    ws.embed_metadata("doc.pdf", {"v": 2}, overwrite=True)
    assert ws.read_metadata("doc.pdf").metadata == {"v": 2}


def test_overwrite_rules_and_bad_metadata(ws, root):
    ws.embed_metadata("rgb.png", META)
    before = (root / "rgb.png").read_bytes()
    assert code(ws.embed_metadata, "rgb.png", {"x": 1}) == "EXISTS"
    assert code(ws.embed_metadata, "rgb.png", {"x": float("nan")}, overwrite=True) == "INVALID_DATA"
    assert code(ws.embed_metadata, "rgb.png", {"x": {1, 2}}, overwrite=True) == "INVALID_DATA"
    assert code(ws.embed_metadata, "rgb.png", {"x": "y" * (md.MAX_METADATA_BYTES + 1)}, overwrite=True) == "INVALID_DATA"
    assert (root / "rgb.png").read_bytes() == before
    res = ws.embed_metadata("rgb.png", None, overwrite=True)
    assert res.replaced and ws.read_metadata("rgb.png").metadata is None and ws.has_metadata("rgb.png")
    (root / "notes.txt").write_text("hi")
    assert code(ws.read_metadata, "notes.txt") == "FORMAT_UNKNOWN"
    assert code(ws.embed_metadata, "../x.png", META) == "PATH_OUTSIDE_ROOT"
    assert code(ws.read_metadata, "missing.png") == "FILE_NOT_FOUND"


def test_read_only_workspaces_refuse_to_embed(root):
    ro = Workspace([root], read_only=True)
    assert code(ro.embed_metadata, "rgb.png", META) == "READ_ONLY"
    assert not ro.read_metadata("rgb.png").has_metadata


def test_a_failed_embed_leaves_the_file_and_no_temp_file(ws, root, monkeypatch):
    before = (root / "rgb.png").read_bytes()

    def broken(data, text, out):
        out.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(md, "png_embed", broken)
    assert code(ws.embed_metadata, "rgb.png", META) == "WRITE_FAILED"
    assert (root / "rgb.png").read_bytes() == before
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".sciio-tmp")) == []


def test_corrupt_images_are_corrupt(ws, root):
    data = (root / "rgb.png").read_bytes()
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    assert code(ws.embed_metadata, "cut.png", META) == "CORRUPT_FILE"
    (root / "fake.pdf").write_bytes(b"%PDF-1.7\nnot really\n")
    assert code(ws.read_metadata, "fake.pdf") == "CORRUPT_FILE"


def test_embedding_is_recorded_with_the_previous_version_as_input(ws, root):
    from io_core.hashing import sha256_file

    old = sha256_file(root / "lzw.tif")
    res = ws.embed_metadata("lzw.tif", META)
    assert res.recorded and res.sha256 == sha256_file(root / "lzw.tif")
    history = ws.file_provenance("lzw.tif")
    newest = history.records[0]
    assert newest.operation == "embed_metadata" and newest.sha256 == res.sha256
    assert [i.sha256 for i in newest.inputs] == [old] and newest.arguments["metadata_keys"] == sorted(META)
    assert ws.verify_file("lzw.tif").status == "OK"


def test_results_fit_the_budget(ws, root):
    Image.fromarray(PIXELS).save(root / "chatty.png", pnginfo=_many_texts())
    res = ws.read_metadata("chatty.png", max_bytes=2048)
    assert len(json.dumps(res.model_dump(mode="json"), separators=(",", ":")).encode()) <= 2048 and res.truncated


def _many_texts():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for i in range(40):
        info.add_text(f"key{i}", "value " * 50)
    return info
