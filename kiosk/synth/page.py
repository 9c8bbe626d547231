"""Render Vietnamese text pages with ground truth: each line's text and its ink box in page pixels.

Fonts come from Debian's ``fonts-noto-core`` (installed by ``scripts/setup.sh``). Pages are RGB, white
paper, at a given resolution, with word-wrapped paragraphs under a bold centred heading, like an
administrative paper.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/noto")
FONTS = {
    "serif": FONT_DIR / "NotoSerif-Regular.ttf",
    "serif-bold": FONT_DIR / "NotoSerif-Bold.ttf",
    "sans": FONT_DIR / "NotoSans-Regular.ttf",
    "sans-bold": FONT_DIR / "NotoSans-Bold.ttf",
}

PAPER_MM = {"A4": (210.0, 297.0), "A5": (148.0, 210.0), "ID1": (85.6, 54.0)}

SAMPLE_PARAGRAPHS = [
    "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014 và Nghị định số 123/2015/NĐ-CP của Chính phủ quy định "
    "chi tiết một số điều và biện pháp thi hành Luật Hộ tịch.",
    "Người yêu cầu đăng ký khai sinh nộp tờ khai theo mẫu quy định và giấy chứng sinh cho cơ quan đăng ký "
    "hộ tịch. Trường hợp không có giấy chứng sinh thì nộp văn bản của người làm chứng xác nhận về việc sinh.",
    "Ngay sau khi nhận đủ giấy tờ, nếu thấy thông tin khai sinh đầy đủ và phù hợp, công chức tư pháp - hộ "
    "tịch ghi nội dung khai sinh vào Sổ hộ tịch, cập nhật vào Cơ sở dữ liệu hộ tịch điện tử.",
    "Hồ sơ, giấy tờ, kết quả giải quyết thủ tục hành chính được số hóa phải bảo đảm tính chính xác, đầy đủ, "
    "toàn vẹn và được ký số theo quy định. Tổ chức, cá nhân chịu trách nhiệm về tính hợp pháp của hồ sơ.",
    "Bộ phận Một cửa có trách nhiệm kiểm tra, tiếp nhận hồ sơ, cập nhật thông tin vào Hệ thống thông tin "
    "giải quyết thủ tục hành chính và chuyển hồ sơ đến cơ quan có thẩm quyền giải quyết.",
    "Thời hạn giải quyết là ngay trong ngày làm việc; trường hợp nhận hồ sơ sau 15 giờ mà không giải quyết "
    "được ngay thì trả kết quả trong ngày làm việc tiếp theo.",
]


@dataclass(frozen=True)
class Line:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the ink, x1/y1 exclusive
    bold: bool = False


@dataclass
class RenderedPage:
    image: Image.Image
    dpi: int
    lines: list[Line] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@cache
def font(kind: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS[kind]), size_px)


def _px(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)


def _wrap(draw: ImageDraw.ImageDraw, text: str, f: ImageFont.FreeTypeFont, width: int, indent: int
          ) -> list[tuple[str, int]]:
    words = text.split()
    lines: list[tuple[str, int]] = []
    cur: list[str] = []
    first = True
    for w in words:
        trial = " ".join([*cur, w])
        avail = width - (indent if first else 0)
        if cur and draw.textlength(trial, font=f) > avail:
            lines.append((" ".join(cur), indent if first else 0))
            first = False
            cur = [w]
        else:
            cur.append(w)
    if cur:
        lines.append((" ".join(cur), indent if first else 0))
    return lines


def render_page(
    paragraphs: list[str] | None = None,
    heading: str | None = "THÔNG BÁO",
    *,
    dpi: int = 200,
    paper: str = "A4",
    font_pt: float = 13.0,
    margins_mm: tuple[float, float, float, float] = (30.0, 20.0, 20.0, 20.0),
    ink: tuple[int, int, int] = (20, 20, 20),
    paper_tone: tuple[int, int, int] = (252, 251, 247),
    seed: int = 0,
    max_lines: int | None = None,
) -> RenderedPage:
    """Render a page; returns the image and the text and ink box of every line, top to bottom."""
    rng = random.Random(seed)
    w_mm, h_mm = PAPER_MM[paper]
    width, height = _px(w_mm, dpi), _px(h_mm, dpi)
    img = Image.new("RGB", (width, height), paper_tone)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = (_px(m, dpi) for m in margins_mm)
    size = round(font_pt / 72 * dpi)
    body = font("serif", size)
    bold = font("serif-bold", round(size * 1.1))
    line_h = round(size * 1.45)
    y = top
    out: list[Line] = []

    def put(text: str, x: int, f: ImageFont.FreeTypeFont, is_bold: bool) -> bool:
        nonlocal y
        text = unicodedata.normalize("NFC", text)
        if y + line_h > height - bottom or (max_lines is not None and len(out) >= max_lines):
            return False
        draw.text((x, y), text, font=f, fill=ink)
        x0, y0, x1, y1 = draw.textbbox((x, y), text, font=f)
        out.append(Line(text, (int(x0), int(y0), int(x1) + 1, int(y1) + 1), is_bold))
        y += line_h
        return True

    if heading:
        tw = draw.textlength(heading, font=bold)
        put(heading, round((width - tw) / 2), bold, True)
        y += line_h // 2
    paras = list(paragraphs if paragraphs is not None else SAMPLE_PARAGRAPHS)
    if paragraphs is None:
        rng.shuffle(paras)
    for para in paras:
        for text, indent in _wrap(draw, para, body, width - left - right, _px(10, dpi)):
            if not put(text, left + indent, body, False):
                return RenderedPage(img, dpi, out)
    return RenderedPage(img, dpi, out)
