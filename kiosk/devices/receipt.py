"""Receipt content -> a 1-bit raster image, with the bundled Noto Sans font and a QR code.

Thermal printers' code pages do not cover Vietnamese reliably, so every receipt is printed as an image:
``render_receipt`` lays out the title, the label/value lines, the QR code and the footer at the printer's
width (576 dots for 80 mm paper at 203 dpi, 384 for 58 mm) and returns a mode "1" image that both
printers (ESC/POS raster and the PNG file printer) print as is. Text is normalised to NFC and drawn
with the basic layout engine, so the output is the same on every machine.

The submission receipt's content (R15: kiosk submission code, TTHC code, masked applicant ID in the
QR) is put together by the session code; ``test_receipt()`` is the one ``kiosk printer test`` prints.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import qrcode
from PIL import Image, ImageDraw, ImageFont

FONT_FILES = {False: "NotoSans-Regular.ttf", True: "NotoSans-Bold.ttf"}
DEFAULT_WIDTH = 576
THRESHOLD = 128  # grey levels below are printed (black)


@dataclass(frozen=True)
class Receipt:
    """What a receipt says. ``lines`` are (label, value) pairs; an empty label gives a plain text line."""

    title: str
    lines: Sequence[tuple[str, str]] = field(default_factory=tuple)
    qr_payload: str | None = None
    footer: str = ""
    header: str = ""


@cache
def font_path(bold: bool = False) -> str:
    ref = resources.files("kiosk.data.fonts").joinpath(FONT_FILES[bold])
    return str(ref)


@cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(bold), size, layout_engine=ImageFont.Layout.BASIC)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def wrap(text: str, f: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Word-wrap ``text`` to ``width`` pixels; words longer than a line are broken."""
    out: list[str] = []
    for para in _nfc(text).split("\n"):
        cur = ""
        for word in para.split():
            trial = f"{cur} {word}" if cur else word
            if f.getlength(trial) <= width:
                cur = trial
                continue
            if cur:
                out.append(cur)
            cur = ""
            while f.getlength(word) > width:  # a very long word (a code): break it
                n = len(word)
                while n > 1 and f.getlength(word[:n]) > width:
                    n -= 1
                out.append(word[:n])
                word = word[n:]
            cur = word
        out.append(cur)
    return out


def qr_matrix(payload: str) -> list[list[bool]]:
    """The QR code's modules (True = dark), with the 4-module quiet zone; error correction M."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=4)
    qr.add_data(payload.encode("utf-8"))
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


DrawOp = Callable[[ImageDraw.ImageDraw], None]


class _Layout:
    """Collects drawing operations top to bottom, then draws them on an image of the final height."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.scale = width / DEFAULT_WIDTH
        self.margin = max(4, round(12 * self.scale))
        self.inner = width - 2 * self.margin
        self.y = self.margin
        self.ops: list[DrawOp] = []

    def px(self, v: float) -> int:
        return max(1, round(v * self.scale))

    def text(self, text: str, size: float, *, bold: bool = False, center: bool = False, indent: int = 0,
             gap: float = 4) -> None:
        f = font(self.px(size), bold)
        ascent, descent = f.getmetrics()
        for line in wrap(text, f, self.inner - indent):
            x = self.margin + indent
            if center:
                x = self.margin + max(0, round((self.inner - f.getlength(line)) / 2))

            def op(d: ImageDraw.ImageDraw, x: int = x, y: int = self.y, line: str = line,
                   f: ImageFont.FreeTypeFont = f) -> None:
                d.text((x, y), line, font=f, fill=0)

            self.ops.append(op)
            self.y += ascent + descent + self.px(gap)

    def rule(self) -> None:
        self.y += self.px(6)
        y, thick, dash = self.y, self.px(2), self.px(8)
        right = self.margin + self.inner

        def op(d: ImageDraw.ImageDraw) -> None:
            for x in range(self.margin, right, 2 * dash):
                d.rectangle((x, y, min(x + dash, right) - 1, y + thick - 1), fill=0)

        self.ops.append(op)
        self.y += thick + self.px(10)

    def space(self, v: float) -> None:
        self.y += self.px(v)

    def qr(self, payload: str) -> None:
        matrix = qr_matrix(payload)
        n = len(matrix)
        module = max(2, min(self.px(8), int(self.inner * 0.6) // n))
        x0, y0 = self.margin + (self.inner - n * module) // 2, self.y

        def op(d: ImageDraw.ImageDraw) -> None:
            for r, row in enumerate(matrix):
                for c, dark in enumerate(row):
                    if dark:
                        x, y = x0 + c * module, y0 + r * module
                        d.rectangle((x, y, x + module - 1, y + module - 1), fill=0)

        self.ops.append(op)
        self.y += n * module

    def draw(self) -> Image.Image:
        img = Image.new("L", (self.width, self.y + self.margin), 255)
        d = ImageDraw.Draw(img)
        for op in self.ops:
            op(d)
        return img.point(lambda v: 255 if v >= THRESHOLD else 0, mode="1")


def render_receipt(receipt: Receipt, width_px: int = DEFAULT_WIDTH) -> Image.Image:
    """The receipt as a 1-bit image ``width_px`` wide (white = 1, black = 0), ready to print."""
    if width_px < 200:
        raise ValueError("a receipt needs at least 200 dots of width")
    lay = _Layout(width_px)
    if receipt.header:
        lay.text(receipt.header, 20, center=True)
        lay.space(4)
    lay.text(receipt.title, 32, bold=True, center=True, gap=6)
    lay.rule()
    for label, value in receipt.lines:
        label, value = _nfc(label).strip(), _nfc(value).strip()
        if not label:
            lay.text(value, 22)
            continue
        one_line = f"{label}: {value}"
        f_label = font(lay.px(22))
        if value and f_label.getlength(one_line) <= lay.inner and len(value) <= 24:
            lay.text(one_line, 22)
        else:
            lay.text(f"{label}:", 20)
            if value:
                lay.text(value, 24, bold=True, indent=lay.px(16))
        lay.space(2)
    if receipt.qr_payload:
        lay.rule()
        lay.qr(receipt.qr_payload)
        lay.space(6)
    if receipt.footer:
        lay.rule()
        lay.text(receipt.footer, 18, center=True)
    return lay.draw()


def test_receipt(agency: str = "", terminal: str = "") -> Receipt:
    """The receipt printed by ``kiosk printer test``: every Vietnamese letter with its tone marks, a
    long wrapped line and a QR code, to check the printer end to end."""
    return Receipt(
        header=agency or "Bộ phận Một cửa",
        title="PHIẾU IN THỬ MÁY IN",
        lines=[
            ("Thiết bị", terminal or "kiosk"),
            ("", "Chữ thường: a à á ả ã ạ ă ằ ắ ẳ ẵ ặ â ầ ấ ẩ ẫ ậ đ e è é ẻ ẽ ẹ ê ề ế ể ễ ệ "
                 "i ì í ỉ ĩ ị o ò ó ỏ õ ọ ô ồ ố ổ ỗ ộ ơ ờ ớ ở ỡ ợ u ù ú ủ ũ ụ ư ừ ứ ử ữ ự y ỳ ý ỷ ỹ ỵ"),
            ("", "CHỮ HOA: Ă Â Đ Ê Ô Ơ Ư Ấ Ầ Ẩ Ẫ Ậ Ế Ề Ể Ễ Ệ Ố Ồ Ổ Ỗ Ộ Ớ Ờ Ở Ỡ Ợ Ứ Ừ Ử Ữ Ự"),
            ("Mã thủ tục", "1.001234"),
            ("Ghi chú", "Dòng dài để kiểm tra việc xuống dòng tự động khi nội dung vượt quá bề rộng giấy."),
        ],
        qr_payload="KIOSK-TEST|1.001234|*********345",
        footer="Cảm ơn quý khách. Giữ phiếu này để tra cứu hồ sơ.",
    )


test_receipt.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
