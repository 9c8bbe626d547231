"""Receipt rendering: 1-bit, exact width, Vietnamese glyphs from the bundled font, a readable QR code."""

from __future__ import annotations

import unicodedata
from importlib import resources

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageDraw

from kiosk.devices.receipt import Receipt, font, render_receipt, test_receipt, wrap

VI_LETTERS = ("aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵđ")


def glyph(ch: str, size: int = 40, bold: bool = False) -> np.ndarray:
    img = Image.new("L", (size * 2, size * 2), 255)
    ImageDraw.Draw(img).text((size // 2, size // 4), ch, font=font(size, bold), fill=0)
    return np.asarray(img) < 128


def decode_qr(img: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(img.convert("L"))]


def test_bundled_font_and_licence_are_shipped() -> None:
    folder = resources.files("kiosk.data.fonts")
    for name in ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "OFL.txt"):
        assert folder.joinpath(name).is_file()
    assert "SIL OPEN FONT LICENSE Version 1.1" in folder.joinpath("OFL.txt").read_text("utf-8")


@pytest.mark.parametrize("bold", [False, True])
def test_every_vietnamese_letter_has_its_own_glyph(bold: bool) -> None:
    missing = glyph("\ue000", bold=bold)  # private-use code point: the font's .notdef box
    for ch in VI_LETTERS + VI_LETTERS.upper():
        g = glyph(ch, bold=bold)
        assert g.any() and not np.array_equal(g, missing), ch
        base = unicodedata.normalize("NFD", ch)[0]
        if base != ch and ch not in "đĐ":
            assert not np.array_equal(g, glyph(base, bold=bold)), ch  # the marks are drawn


def test_render_is_1bit_exact_width_and_deterministic() -> None:
    r = test_receipt("UBND xã Mẫu", "KIOSK-01")
    img = render_receipt(r)
    assert img.mode == "1" and img.width == 576 and img.height > 400
    assert np.array_equal(np.asarray(img), np.asarray(render_receipt(r)))
    small = render_receipt(r, 384)
    assert small.mode == "1" and small.width == 384
    with pytest.raises(ValueError):
        render_receipt(r, 100)


def test_nfd_input_renders_like_nfc() -> None:
    nfc = Receipt(title="Biên nhận hồ sơ", lines=[("Người nộp", "Nguyễn Thị Mai")])
    def nfd(text: str) -> str:
        return unicodedata.normalize("NFD", text)

    decomposed = Receipt(title=nfd(nfc.title), lines=[(nfd(a), nfd(b)) for a, b in nfc.lines])
    assert decomposed.title != nfc.title
    assert np.array_equal(np.asarray(render_receipt(nfc)), np.asarray(render_receipt(decomposed)))


def test_qr_code_decodes_from_the_receipt() -> None:
    payload = "KSK-20261125-0007|1.001234|*********345"
    img = render_receipt(Receipt(title="BIÊN NHẬN", lines=[("Mã hồ sơ", "KSK-20261125-0007")],
                                 qr_payload=payload, footer="Cảm ơn"))
    assert decode_qr(img) == [payload]
    assert decode_qr(render_receipt(test_receipt(), 384)) == ["KIOSK-TEST|1.001234|*********345"]


def test_wrap_breaks_long_words_and_keeps_width() -> None:
    f = font(24)
    lines = wrap("Mã " + "X" * 80 + " cuối", f, 300)
    assert len(lines) >= 3 and all(f.getlength(line) <= 300 for line in lines)
    assert "".join(lines).replace(" ", "") == ("Mã" + "X" * 80 + "cuối")


def test_no_receipt_content_spills_outside_the_margins() -> None:
    img = render_receipt(test_receipt())
    black = np.asarray(img) == 0
    assert not black[:, :8].any() and not black[:, -8:].any()
    assert not black[:8].any() and not black[-8:].any()
