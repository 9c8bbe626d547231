"""Small parts of the dossier builder: image encoding, text-layer placement, ICC profile, XMP."""

from __future__ import annotations

import io
import zlib
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from kiosk.dossier import textlayer
from kiosk.dossier.icc import srgb_profile
from kiosk.dossier.images import jpeg_quality_estimate, load_page_image
from kiosk.dossier.xmp import KD_NS, build_xmp, read_xmp
from kiosk.timeutil import VN_TZ
from kiosk.vision.types import OcrPage, OcrWord


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95])
def test_jpeg_quality_estimate(tmp_path: Path, quality: int) -> None:
    p = tmp_path / "q.jpg"
    Image.new("RGB", (64, 64), (200, 100, 50)).save(p, quality=quality)
    with Image.open(p) as im:
        assert jpeg_quality_estimate(im.quantization) == quality  # type: ignore[attr-defined]


def test_transparent_areas_become_white_paper(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    Image.new("RGBA", (200, 100), (0, 0, 0, 0)).save(p)
    img = load_page_image(p)
    assert img.encoding["method"] == "png_encode" and img.encoding["source_mode"] == "RGBA"
    raw = zlib.decompress(img.data)
    assert raw[1:4] == b"\xff\xff\xff"  # first pixel (after the row filter byte)


def test_words_placed_on_their_boxes_with_spaces_between() -> None:
    # a 1000 x 500 px image on a 500 x 250 pt page: 0.5 pt per pixel
    words = [OcrWord("Hồ", (100, 100, 160, 140), 90, 0), OcrWord("sơ", (180, 110, 230, 140), 90, 0),
             OcrWord("mới", (100, 200, 180, 250), 90, 1)]
    placed = textlayer.place_words(words, 1000, 500, 500.0, 250.0)
    a, b, c = placed
    assert (a.x, a.width, b.x, b.width) == (50.0, 30.0, 90.0, 25.0)
    assert a.size == b.size == 20.0 and a.baseline == b.baseline == 250.0 - (50.0 + 16.0)  # line box
    assert a.space_after == 10.0 and b.space_after == 0.0 and c.space_after == 0.0
    assert a.scale == pytest.approx(100 * 30.0 / (2 * 20.0 * 0.5))
    alloc = textlayer.CidAllocator()
    ops = textlayer.text_layer_ops(OcrPage("", 90, words, 1000, 500), 1000, 500, 500.0, 250.0, alloc)
    assert ops.startswith(b"BT\n3 Tr\n") and ops.count(b"> Tj") == 4  # three words and one space
    assert alloc.cids == {"H": 1, "ồ": 2, " ": 3, "s": 4, "ơ": 5, "m": 6, "ớ": 7, "i": 8}
    cmap = alloc.to_unicode_cmap().decode()
    assert "<0002> <1ED3>" in cmap and "8 beginbfchar" in cmap
    assert alloc.cid_to_gid_map() == b"\x00\x00" + b"\x00\x01" * 8


def test_glyphless_font_metrics() -> None:
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(textlayer.glyphless_font_program()))
    assert font["head"].unitsPerEm == 1000 and font["hmtx"]["glyph1"] == (500, 0)
    assert (font["hhea"].ascent, font["hhea"].descent) == (800, -200)
    assert textlayer.glyphless_font_program() == textlayer.glyphless_font_program()


def test_srgb_profile_equals_lcms_srgb() -> None:
    prof = ImageCms.ImageCmsProfile(io.BytesIO(srgb_profile()))
    assert ImageCms.getProfileDescription(prof).strip() == "sRGB IEC61966-2.1"
    assert srgb_profile()[8:12] == b"\x02\x10\x00\x00" and srgb_profile()[12:20] == b"mntrRGB "
    t = ImageCms.buildTransform(prof, ImageCms.createProfile("sRGB"), "RGB", "RGB")
    im = Image.new("RGB", (3, 1))
    im.putpixel((0, 0), (255, 0, 0))
    im.putpixel((1, 0), (128, 128, 128))
    im.putpixel((2, 0), (10, 200, 30))
    out = ImageCms.applyTransform(im, t)
    assert out is not None
    assert [out.getpixel((i, 0)) for i in range(3)] == [(255, 0, 0), (128, 128, 128), (10, 200, 30)]


def test_xmp_reads_back_in_element_and_attribute_form() -> None:
    rec = {"storage_code": "1.KS", "paper_type_code": "KS", "summary": "a < b & c", "holder_birth_year": 1990,
           "pages": [{"index": 1, "sheet": 1, "side": "front", "blank": False, "quality": {"blur": 0.5}}],
           "extra": {}, "omitted_pages": []}
    xml = build_xmp(rec, title="T", created=datetime(2025, 1, 2, 3, 4, 5, tzinfo=VN_TZ), producer="p",
                    creator_tool="c")
    x = read_xmp(xml)
    assert x["kd"] == {"storageCode": "1.KS", "paperTypeCode": "KS", "summary": "a < b & c",
                       "holderBirthYear": "1990"}
    assert x["kd_pages"] == 1 and (x["pdfaid_part"], x["pdfaid_conformance"]) == ("2", "B")
    assert b"<xmp:CreateDate>2025-01-02T03:04:05+07:00</xmp:CreateDate>" in xml
    assert b"extraFields>" not in xml.split(b"</pdfaExtension:schemas>")[1]  # empty values left out
    # the same properties as attributes (another valid RDF/XML form) read the same
    attr = ('<x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/" '
            f'xmlns:kd="{KD_NS}" '
            f'pdfaid:part="2" pdfaid:conformance="B" kd:storageCode="1.KS"/></rdf:RDF></x:xmpmeta>')
    y = read_xmp(attr.encode())
    assert y["kd"] == {"storageCode": "1.KS"} and y["pdfaid_part"] == "2"
