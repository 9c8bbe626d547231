"""PDF/A-2b per paper: true page size, 24-bit images with recorded compression, invisible text layer
aligned with the words, XMP with PDF/A identification and the kiosk namespace, and the PDF/A checks."""

from __future__ import annotations

import io
import subprocess
import unicodedata
import zlib
from dataclasses import replace
from pathlib import Path

import pikepdf
import pytest
from dossier_helpers import RenderedWords, front, iou, make_paper, pdf_words, render_words

from kiosk.config import Config
from kiosk.core.dossier_model import CaptureVariant, PageCapture, Side
from kiosk.dossier.icc import srgb_profile
from kiosk.dossier.keys import device_signer
from kiosk.dossier.package import build_paper
from kiosk.dossier.pdfa import check_pdfa, xmp_of
from kiosk.errors import KioskError


@pytest.fixture(scope="module")
def built(pages: list[RenderedWords], cfg: Config, tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, bytes]:
    paper = make_paper([front(pages[0], 1), front(pages[1], 2)], storage_code="001099012345.KS")
    b = build_paper(paper, cfg, device_signer(cfg))
    out = tmp_path_factory.mktemp("pdfa") / "paper.pdf"
    out.write_bytes(b.data)
    return out, b.data


def test_pages_at_true_size_and_lossless_png_passthrough(built: tuple[Path, bytes], pages: list[RenderedWords]
                                                         ) -> None:
    _, data = built
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert len(pdf.pages) == 2
        for page, src in zip(pdf.pages, pages, strict=True):
            w, h = (float(v) for v in page.MediaBox[2:])
            assert abs(w - 210 / 25.4 * 72) < 0.5 and abs(h - 297 / 25.4 * 72) < 0.5  # A4 at 100 %
            (_name, img), = page.Resources.XObject.items()
            assert img.ColorSpace == pikepdf.Name.DeviceRGB and img.BitsPerComponent == 8
            assert img.Filter == pikepdf.Name.FlateDecode and img.DecodeParms.Predictor == 15
            from PIL import Image

            with Image.open(src.path) as im:
                assert img.Width == im.width and img.Height == im.height
                decoded = pikepdf.PdfImage(img).as_pil_image()  # type: ignore[arg-type]
                assert decoded.tobytes() == im.convert("RGB").tobytes()  # lossless


def test_pdfa_markers_fonts_output_intent(built: tuple[Path, bytes]) -> None:
    path, data = built
    assert check_pdfa(data) == []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert "/Info" not in pdf.trailer and "/Encrypt" not in pdf.trailer and len(pdf.trailer.ID) == 2
        (oi,) = pdf.Root.OutputIntents
        assert oi.S == pikepdf.Name.GTS_PDFA1 and oi.DestOutputProfile.read_bytes() == srgb_profile()
        assert "/Filter" not in pdf.Root.Metadata
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [r.split() for r in fonts.splitlines()[2:]]
    assert {r[0].split("+")[-1] for r in rows} == {"GlyphLessFont", "KioskMarkSerif-Identity-H"}
    assert all(r[-5] == "yes" for r in rows)  # "emb" column
    assert data.startswith(b"%PDF-1.7\n")


def test_xmp_carries_r9_metadata_and_pages(built: tuple[Path, bytes]) -> None:
    _, data = built
    x = xmp_of(data)
    assert (x["pdfaid_part"], x["pdfaid_conformance"]) == ("2", "B")
    kd = x["kd"]
    assert kd["storageCode"] == "001099012345.KS" and kd["paperTypeCode"] == "KS"
    assert kd["paperName"] == "Giấy khai sinh" and kd["holderId"] == "001099012345"
    assert kd["issueDate"] == "2020-05-17" and kd["issuingAuthority"] == "UBND xã Tân Lập"
    assert kd["summary"] == "Khai sinh cho Nguyễn Văn An" and kd["validityScope"] == "Toàn quốc"
    assert kd["validFrom"] == "2020-05-17" and "validUntil" not in kd
    assert x["kd_pages"] == 2 and "https://kiosk.invalid/ns/dossier/1.0/" in x["extension_namespaces"]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        xml = pdf.Root.Metadata.read_bytes().decode()
    for needle in ("<kdPage:side>front</kdPage:side>", "<kdPage:dpi>150.0</kdPage:dpi>",
                   "<kdScore:name>sharpness</kdScore:name>", "<kdScore:value>0.91</kdScore:value>",
                   "<kdPage:device>test camera</kdPage:device>", "<kdPage:compressionMethod>png_passthrough",
                   "<kdField:name>số giấy</kdField:name>", "<pdfaProperty:name>pages</pdfaProperty:name>",
                   "<kdPage:capturedAt>"):
        assert needle in xml, needle


def test_text_layer_extracts_vietnamese_and_aligns_word_by_word(built: tuple[Path, bytes],
                                                                 pages: list[RenderedWords]) -> None:
    path, _ = built
    for n, page in enumerate(pages, 1):
        text = subprocess.run(["pdftotext", "-f", str(n), "-l", str(n), str(path), "-"], capture_output=True,
                              text=True, check=True).stdout
        body = unicodedata.normalize("NFC", text).split()
        truth = page.ocr.text.split()
        # the visible seal mark on page 1 is text too; it comes first
        assert body[-len(truth):] == truth
        got = pdf_words(path, n)
        scale = 72.0 / page.dpi
        scores = []
        for w in page.ocr.words:
            box = tuple(v * scale for v in w.box)
            scores.append(max((iou(box, g[:4]) for g in got if g[4] == w.text), default=0.0))
        assert len(scores) >= 100
        assert sum(s >= 0.5 for s in scores) / len(scores) >= 0.95
        assert min(scores) > 0.2


def test_jpeg_passthrough_grey_conversion_and_photo_png(tmp_path: Path, cfg: Config) -> None:
    jpg = render_words(tmp_path / "a.jpg", fmt="JPEG", n_paragraphs=1)
    grey = render_words(tmp_path / "g.png", mode="L", n_paragraphs=1)
    noisy = render_words(tmp_path / "n.png", noise=True, n_paragraphs=1)
    paper = make_paper([front(jpg, 1), front(grey, 2), front(noisy, 3)])
    b = build_paper(paper, cfg, device_signer(cfg))
    methods = [p["compression"] for p in b.pages]
    assert [m["method"] for m in methods] == ["jpeg_passthrough", "png_encode", "jpeg_encode"]
    assert methods[0]["jpeg_quality"] == 90 and methods[0]["subsampling"] == "4:2:0"
    assert methods[1]["lossless"] is True and methods[2]["jpeg_quality"] == 85
    with pikepdf.open(io.BytesIO(b.data)) as pdf:
        imgs = [next(iter(p.Resources.XObject.values())) for p in pdf.pages]
        assert imgs[0].read_raw_bytes() == jpg.path.read_bytes()
        assert all(i.ColorSpace == pikepdf.Name.DeviceRGB for i in imgs)
        assert len(zlib.decompress(imgs[1].read_raw_bytes())) == imgs[1].Height * (imgs[1].Width * 3 + 1)
    assert check_pdfa(b.data) == []


def test_both_sides_sticky_note_and_all_blank_backs(tmp_path: Path, cfg: Config, pages: list[RenderedWords]
                                                    ) -> None:
    p = pages[0]
    blank = render_words(tmp_path / "blank.png", paragraphs=[])

    def c(sheet: int, side: Side, src: RenderedWords, **kw: object) -> PageCapture:
        return PageCapture(sheet, side, src.path, 150.0, ocr=src.ocr, **kw)  # type: ignore[arg-type]

    kept = make_paper([c(1, Side.FRONT, p, variant=CaptureVariant.WITH_NOTE),
                       c(1, Side.FRONT, p, variant=CaptureVariant.WITHOUT_NOTE),
                       c(1, Side.BACK, blank, blank=True, blank_confirmed=True),
                       c(2, Side.FRONT, p), c(2, Side.BACK, p)])
    b = build_paper(kept, cfg, device_signer(cfg))
    assert [(r["sheet"], r["side"], r["variant"], r["blank"]) for r in b.pages] == [
        (1, "front", "with_note", False), (1, "front", "without_note", False), (1, "back", "normal", True),
        (2, "front", "normal", False), (2, "back", "normal", False)]
    assert xmp_of(b.data)["kd_pages"] == 5 and b.omitted == []

    dropped = make_paper([c(1, Side.FRONT, p), c(1, Side.BACK, blank, blank=True, blank_confirmed=True),
                          c(2, Side.FRONT, p), c(2, Side.BACK, blank, blank=True, blank_confirmed=True)])
    b = build_paper(dropped, cfg, device_signer(cfg))
    assert [r["index"] for r in b.pages] == [1, 2] and [r["side"] for r in b.pages] == ["front", "front"]
    assert [(o["sheet"], o["side"], o["blank_confirmed"]) for o in b.omitted] == [(1, "back", True),
                                                                                    (2, "back", True)]
    with pikepdf.open(io.BytesIO(b.data)) as pdf:
        assert len(pdf.pages) == 2


def test_low_resolution_is_refused(cfg: Config, pages: list[RenderedWords]) -> None:
    strict = replace(cfg, vision=replace(cfg.vision, min_dpi=200))
    with pytest.raises(KioskError) as err:
        build_paper(make_paper([front(pages[0])]), strict, device_signer(strict))
    assert err.value.key == "dossier.low_dpi"


def test_check_pdfa_names_what_breaks(built: tuple[Path, bytes], tmp_path: Path) -> None:
    _, data = built

    def mutate(fn: object, **save: object) -> list[str]:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            fn(pdf)  # type: ignore[operator]
            out = io.BytesIO()
            pdf.save(out, **save)  # type: ignore[arg-type]
        return check_pdfa(out.getvalue())

    def js(pdf: pikepdf.Pdf) -> None:
        pdf.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))

    def no_intent(pdf: pikepdf.Pdf) -> None:
        del pdf.Root["/OutputIntents"]

    def unembedded(pdf: pikepdf.Pdf) -> None:
        font = pdf.pages[0].Resources.Font.FText.DescendantFonts[0].FontDescriptor
        del font["/FontFile2"]

    def part1(pdf: pikepdf.Pdf) -> None:
        xml = pdf.Root.Metadata.read_bytes().replace(b"<pdfaid:part>2<", b"<pdfaid:part>1<")
        pdf.Root.Metadata.write(xml)

    assert "pdfa.javascript" in mutate(js) and "pdfa.catalog_openaction" in mutate(js)
    assert mutate(no_intent) == ["pdfa.output_intent"]
    assert mutate(unembedded) == ["pdfa.font_not_embedded"]
    assert mutate(part1) == ["pdfa.pdfaid_part"]
    enc = mutate(lambda pdf: None, encryption=pikepdf.Encryption(owner="o", user=""))
    assert "pdfa.encrypted" in enc
