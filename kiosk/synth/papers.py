"""Synthetic papers of the four kinds the kiosk tells apart, with ground truth: filled application forms
(from the form definitions in ``kiosk/data/forms``), decisions and certificates (national motto, agency
block, title, "Về việc ...", seal, signature), ID cards (front with photo box, back with an MRZ), and other
papers (letters, receipts, plain text pages, photos of textures). Used by the tests, the paper-type
training script and the benchmarks; never by the kiosk at run time.

Every generator is deterministic for a given ``random.Random`` / seed. Fonts come from Debian's
fonts-noto-core, fonts-liberation2 and fonts-dejavu-core. No OCR-B font is installed: MRZs are set in
DejaVu Sans Mono, a monospace face with distinct 0/O and 1/I shapes.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kiosk.core.mrz import td1_lines, td3_lines
from kiosk.core.provinces import PROVINCES
from kiosk.extract.forms import FieldDef, FormDefinition, load_forms
from kiosk.extract.textutil import date_to_words

_NOTO = Path("/usr/share/fonts/truetype/noto")
_LIB = Path("/usr/share/fonts/truetype/liberation2")
_DJV = Path("/usr/share/fonts/truetype/dejavu")
FONT_FAMILIES: dict[str, tuple[Path, Path, Path]] = {
    "noto-serif": (
        _NOTO / "NotoSerif-Regular.ttf",
        _NOTO / "NotoSerif-Bold.ttf",
        _NOTO / "NotoSerif-Italic.ttf",
    ),
    "noto-sans": (_NOTO / "NotoSans-Regular.ttf", _NOTO / "NotoSans-Bold.ttf", _NOTO / "NotoSans-Italic.ttf"),
    "liberation-serif": (
        _LIB / "LiberationSerif-Regular.ttf",
        _LIB / "LiberationSerif-Bold.ttf",
        _LIB / "LiberationSerif-Italic.ttf",
    ),
    "liberation-sans": (
        _LIB / "LiberationSans-Regular.ttf",
        _LIB / "LiberationSans-Bold.ttf",
        _LIB / "LiberationSans-Italic.ttf",
    ),
    "dejavu-serif": (
        _DJV / "DejaVuSerif.ttf",
        _DJV / "DejaVuSerif-Bold.ttf",
        _DJV / "DejaVuSerif-Italic.ttf",
    ),
    "dejavu-sans": (_DJV / "DejaVuSans.ttf", _DJV / "DejaVuSans-Bold.ttf", _DJV / "DejaVuSans-Oblique.ttf"),
}
MONO_FONT = _DJV / "DejaVuSansMono.ttf"
# Training uses one set of faces, the held-apart evaluation the others.
TRAIN_FONTS = ("liberation-serif", "noto-sans", "dejavu-serif")
HELDOUT_FONTS = ("noto-serif", "liberation-sans", "dejavu-sans")
KINDS = ("id_card", "application_form", "decision_or_certificate", "other")

INK = (20, 20, 24)
RED = (200, 30, 35)


@cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), max(6, size))


def face(family: str, style: str, size: int) -> ImageFont.FreeTypeFont:
    regular, bold, italic = FONT_FAMILIES[family]
    return _font({"regular": regular, "bold": bold, "italic": italic}[style], size)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# --- content pools ----------------------------------------------------------------------------------

SURNAMES = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Đinh",
    "Trương",
    "Mai",
    "Tô",
]
MIDDLE_M = ["Văn", "Hữu", "Đức", "Minh", "Quang", "Công", "Thành", "Xuân", "Đình", "Tuấn"]
MIDDLE_F = ["Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Hồng", "Diệu", "Phương", "Bảo"]
GIVEN_M = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Hải",
    "Hùng",
    "Khánh",
    "Long",
    "Nam",
    "Phúc",
    "Quân",
    "Sơn",
    "Tâm",
    "Thắng",
    "Trung",
    "Tuấn",
    "Việt",
    "Vinh",
    "Hiếu",
    "Đạt",
]
GIVEN_F = [
    "Anh",
    "Chi",
    "Dung",
    "Giang",
    "Hà",
    "Hạnh",
    "Hoa",
    "Hương",
    "Lan",
    "Linh",
    "Mai",
    "My",
    "Ngân",
    "Nhung",
    "Oanh",
    "Phượng",
    "Quyên",
    "Thảo",
    "Trang",
    "Yến",
]
PROVINCES_2025 = [
    "Hà Nội",
    "Huế",
    "Lai Châu",
    "Điện Biên",
    "Sơn La",
    "Lạng Sơn",
    "Quảng Ninh",
    "Thanh Hóa",
    "Nghệ An",
    "Hà Tĩnh",
    "Cao Bằng",
    "Tuyên Quang",
    "Lào Cai",
    "Thái Nguyên",
    "Phú Thọ",
    "Bắc Ninh",
    "Hưng Yên",
    "Hải Phòng",
    "Ninh Bình",
    "Quảng Trị",
    "Đà Nẵng",
    "Quảng Ngãi",
    "Gia Lai",
    "Khánh Hòa",
    "Lâm Đồng",
    "Đắk Lắk",
    "Đồng Nai",
    "Tây Ninh",
    "Cần Thơ",
    "Vĩnh Long",
    "Đồng Tháp",
    "Cà Mau",
    "An Giang",
]
COMMUNES = [
    "Tân Hòa",
    "Phú Mỹ",
    "Hòa An",
    "Bình Minh",
    "Quang Trung",
    "Long Hưng",
    "Thanh Xuân",
    "Đông Hải",
    "Mỹ Phước",
    "An Khánh",
    "Tân Lập",
    "Hòa Bình",
    "Phước Long",
    "Đại Đồng",
    "Xuân Lộc",
    "Kim Sơn",
    "Vĩnh Thạnh",
    "Bình Hưng",
    "Thạch Bàn",
    "Nghĩa Tân",
]
STREETS = [
    "Lê Lợi",
    "Trần Hưng Đạo",
    "Nguyễn Trãi",
    "Hai Bà Trưng",
    "Lý Thường Kiệt",
    "Quang Trung",
    "Nguyễn Huệ",
    "Phan Chu Trinh",
    "Hùng Vương",
    "Điện Biên Phủ",
]
HAMLETS = ["thôn Đông", "thôn Bắc", "ấp Phú Hòa", "ấp Tân Thành", "khu phố 3", "tổ dân phố 5", "xóm Mới"]
RELATIONS = ["Cha", "Mẹ", "Bà nội", "Ông ngoại", "Bà ngoại", "Ông nội", "Bản thân"]
PURPOSES = [
    "Để đăng ký kết hôn",
    "Để bổ sung hồ sơ xin việc",
    "Để làm thủ tục mua bán nhà đất",
    "Để vay vốn ngân hàng",
    "Để làm thủ tục xuất cảnh",
]
MARITAL = ["Chưa đăng ký kết hôn với ai", "Đã ly hôn, chưa kết hôn lại", "Chưa kết hôn"]
CT01_REQUESTS = [
    "Đăng ký tạm trú",
    "Đăng ký thường trú",
    "Gia hạn tạm trú",
    "Xóa đăng ký thường trú",
    "Điều chỉnh thông tin về cư trú",
]
HOUSE_RELATIONS = ["Chủ hộ", "Con", "Vợ", "Chồng", "Cháu", "Người ở nhờ"]
SUBJECTS = [
    "Về việc công bố danh mục thủ tục hành chính được chuẩn hóa",
    "Về việc cấp giấy phép xây dựng",
    "Về việc thành lập Tổ công tác số hóa hồ sơ",
    "Về việc phê duyệt kế hoạch chuyển đổi số năm 2025",
    "Về việc giao đất ở cho hộ gia đình",
    "Về việc khen thưởng tập thể có thành tích xuất sắc",
    "Về việc điều chỉnh quy hoạch sử dụng đất",
    "Về việc ban hành quy chế làm việc",
    "Về việc hỗ trợ kinh phí khắc phục hậu quả thiên tai",
    "Về việc cử cán bộ đi học tập",
]
# Sentences for body text; the first half feeds training renders, the second half held-apart renders.
SENTENCES = [
    "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015.",
    "Căn cứ Nghị định số 61/2018/NĐ-CP về thực hiện cơ chế một cửa, một cửa liên thông.",
    "Xét đề nghị của Trưởng phòng Văn hóa - Xã hội tại Tờ trình số 45/TTr-VHXH.",
    "Bộ phận Một cửa có trách nhiệm kiểm tra, tiếp nhận hồ sơ và cập nhật thông tin vào hệ thống.",
    "Hồ sơ được số hóa phải bảo đảm tính chính xác, đầy đủ, toàn vẹn và được ký số theo quy định.",
    "Quyết định này có hiệu lực thi hành kể từ ngày ký.",
    "Chánh Văn phòng và Thủ trưởng các cơ quan, đơn vị có liên quan chịu trách nhiệm thi hành.",
    "Thời hạn giải quyết là ngay trong ngày làm việc kể từ khi nhận đủ hồ sơ hợp lệ.",
    "Người yêu cầu nộp tờ khai theo mẫu và xuất trình giấy tờ tùy thân còn giá trị sử dụng.",
    "Tổ chức, cá nhân chịu trách nhiệm về tính hợp pháp của hồ sơ đã nộp.",
    "Kinh phí thực hiện được bố trí từ nguồn ngân sách địa phương năm 2025.",
    "Giao Văn phòng hướng dẫn, kiểm tra việc thực hiện và báo cáo kết quả.",
    "Các đơn vị tổ chức thực hiện nghiêm túc, đúng tiến độ và báo cáo định kỳ hằng quý.",
    "Trường hợp có vướng mắc, các cơ quan phản ánh kịp thời để xem xét, giải quyết.",
    "Công chức tư pháp - hộ tịch ghi nội dung vào Sổ hộ tịch và cơ sở dữ liệu điện tử.",
    "Việc thu phí, lệ phí thực hiện theo quy định của Bộ Tài chính.",
    "Điều chỉnh diện tích đất ở tại thửa đất số 125, tờ bản đồ số 18.",
    "Tổ công tác có nhiệm vụ rà soát, đánh giá và đề xuất giải pháp nâng cao chất lượng phục vụ.",
    "Thông tin cá nhân của người nộp hồ sơ được bảo vệ theo quy định của pháp luật.",
    "Cơ quan tiếp nhận trả kết quả cho người yêu cầu đúng thời hạn đã hẹn.",
    "Trong thời gian thực hiện, nếu có phát sinh thì báo cáo cấp có thẩm quyền xem xét.",
    "Ủy ban nhân dân xã chịu trách nhiệm tổ chức triển khai thực hiện trên địa bàn.",
    "Hội đồng thẩm định làm việc theo nguyên tắc tập thể, quyết định theo đa số.",
    "Kết quả giải quyết được gửi qua dịch vụ bưu chính công ích theo yêu cầu.",
]
ARTICLE_TITLES = (
    "Phạm vi điều chỉnh",
    "Đối tượng áp dụng",
    "Giải thích từ ngữ",
    "Nguyên tắc số hóa",
    "Trách nhiệm thi hành",
)
LETTER_SENTENCES = [
    "Con viết thư này để hỏi thăm sức khỏe của bố mẹ và cả nhà.",
    "Dạo này ở quê thời tiết thế nào ạ?",
    "Công việc của con vẫn ổn, cuối tháng con sẽ về thăm nhà.",
    "Cảm ơn anh đã giúp đỡ gia đình em thời gian qua.",
    "Chúng tôi xin thông báo lịch họp tổ dân phố vào tối thứ bảy tuần này.",
    "Kính mong quý khách thông cảm vì sự bất tiện này.",
    "Xin chân thành cảm ơn và trân trọng kính chào.",
    "Cửa hàng mở cửa từ bảy giờ sáng đến chín giờ tối các ngày trong tuần.",
    "Chương trình khuyến mãi áp dụng cho tất cả các sản phẩm trong tháng này.",
    "Hẹn gặp lại mọi người trong buổi liên hoan cuối năm.",
]


def random_name(rng: random.Random, female: bool | None = None) -> str:
    female = rng.random() < 0.5 if female is None else female
    mid = rng.choice(MIDDLE_F if female else MIDDLE_M)
    given = rng.choice(GIVEN_F if female else GIVEN_M)
    parts = [rng.choice(SURNAMES), mid, given]
    if rng.random() < 0.3:
        parts.insert(2, rng.choice(MIDDLE_F if female else MIDDLE_M))
    return " ".join(parts)


def random_address(rng: random.Random) -> str:
    head = (
        f"Số {rng.randint(1, 199)} đường {rng.choice(STREETS)}" if rng.random() < 0.5 else rng.choice(HAMLETS)
    )
    kind = rng.choice(["xã", "phường"])
    return f"{head}, {kind} {rng.choice(COMMUNES)}, tỉnh {rng.choice(PROVINCES_2025)}"


def random_date(rng: random.Random, start: int, end: int) -> date:
    d0 = date(start, 1, 1)
    return d0 + timedelta(days=rng.randrange((date(end, 12, 31) - d0).days))


def random_cccd(rng: random.Random, birth: date, female: bool) -> str:
    province = rng.choice(sorted(PROVINCES))
    century = (birth.year - 1900) // 100
    return f"{province}{2 * century + int(female)}{birth.year % 100:02d}{rng.randrange(10**6):06d}"


# --- page canvas ------------------------------------------------------------------------------------


@dataclass
class Canvas:
    """An RGB page with a text cursor; sizes in millimetres are converted at ``dpi``."""

    width_mm: float
    height_mm: float
    dpi: int
    family: str
    font_pt: float
    paper: tuple[int, int, int] = (252, 251, 247)
    ink: tuple[int, int, int] = INK
    margins_mm: tuple[float, float, float, float] = (25.0, 15.0, 15.0, 15.0)  # left, top, right, bottom
    image: Image.Image = field(init=False)
    draw: ImageDraw.ImageDraw = field(init=False)
    y: int = field(init=False)

    def __post_init__(self) -> None:
        self.image = Image.new("RGB", (self.px(self.width_mm), self.px(self.height_mm)), self.paper)
        self.draw = ImageDraw.Draw(self.image)
        self.y = self.px(self.margins_mm[1])

    def px(self, mm: float) -> int:
        return round(mm / 25.4 * self.dpi)

    def size(self, pt: float | None = None) -> int:
        return round((pt or self.font_pt) / 72 * self.dpi)

    def font(self, style: str = "regular", pt: float | None = None) -> ImageFont.FreeTypeFont:
        return face(self.family, style, self.size(pt))

    @property
    def left(self) -> int:
        return self.px(self.margins_mm[0])

    @property
    def right(self) -> int:
        return self.image.width - self.px(self.margins_mm[2])

    @property
    def line_h(self) -> int:
        return round(self.size() * 1.5)

    def width(self, text: str, font: ImageFont.FreeTypeFont) -> float:
        return float(self.draw.textlength(text, font=font))

    def put(
        self,
        x: float,
        text: str,
        font: ImageFont.FreeTypeFont,
        fill: tuple[int, int, int] | None = None,
        y: int | None = None,
    ) -> tuple[int, int, int, int]:
        text = _nfc(text)
        yy = self.y if y is None else y
        self.draw.text((x, yy), text, font=font, fill=fill or self.ink)
        x0, y0, x1, y1 = self.draw.textbbox((x, yy), text, font=font)
        return int(x0), int(y0), int(x1) + 1, int(y1) + 1

    def centred(
        self,
        text: str,
        font: ImageFont.FreeTypeFont,
        cx: float | None = None,
        *,
        underline: bool = False,
        fill: tuple[int, int, int] | None = None,
    ) -> tuple[int, int, int, int]:
        cx = (self.left + self.right) / 2 if cx is None else cx
        box = self.put(cx - self.width(text, font) / 2, text, font, fill)
        if underline:
            uy = box[3] + max(2, self.size() // 6)
            w = (box[2] - box[0]) * 0.6
            self.draw.line(
                [(cx - w / 2, uy), (cx + w / 2, uy)], fill=fill or self.ink, width=max(1, self.dpi // 100)
            )
        return box

    def newline(self, factor: float = 1.0) -> None:
        self.y += round(self.line_h * factor)

    def wrap(
        self, text: str, font: ImageFont.FreeTypeFont, width: float, first_width: float | None = None
    ) -> list[str]:
        words = text.split()
        lines: list[str] = []
        cur: list[str] = []
        limit = first_width if first_width is not None else width
        for w in words:
            trial = " ".join([*cur, w])
            if cur and self.width(trial, font) > limit:
                lines.append(" ".join(cur))
                cur = [w]
                limit = width
            else:
                cur.append(w)
        if cur:
            lines.append(" ".join(cur))
        return lines

    def paragraph(
        self, text: str, font: ImageFont.FreeTypeFont, *, indent_mm: float = 10.0, justify: bool = True
    ) -> None:
        indent = self.px(indent_mm)
        width = self.right - self.left
        lines = self.wrap(text, font, width, width - indent)
        for i, line in enumerate(lines):
            x0 = self.left + (indent if i == 0 else 0)
            avail = self.right - x0
            words = line.split()
            if justify and i < len(lines) - 1 and len(words) > 1:
                gap = (avail - sum(self.width(w, font) for w in words)) / (len(words) - 1)
                x = float(x0)
                for w in words:
                    self.put(x, w, font)
                    x += self.width(w, font) + gap
            else:
                self.put(x0, line, font)
            self.newline()

    def checkbox(self, x: float, font: ImageFont.FreeTypeFont, checked: bool = False) -> float:
        s = round(font.size * 0.7)
        top = self.y + round(font.size * 0.3)
        self.draw.rectangle([x, top, x + s, top + s], outline=self.ink, width=max(1, self.dpi // 100))
        if checked:
            self.draw.line([(x + 2, top + 2), (x + s - 2, top + s - 2)], fill=self.ink, width=2)
            self.draw.line([(x + s - 2, top + 2), (x + 2, top + s - 2)], fill=self.ink, width=2)
        return x + s

    def dots(self, x0: float, x1: float, font: ImageFont.FreeTypeFont) -> None:
        dw = self.width(".", font)
        n = int((x1 - x0) / dw)
        if n > 0:
            self.put(x0, "." * n, font)

    def to_bgr(self) -> np.ndarray:
        return cv2.cvtColor(np.asarray(self.image), cv2.COLOR_RGB2BGR)


def _static_line(cv: Canvas, style: str, text: str) -> None:
    f_reg, f_bold, f_it = cv.font(), cv.font("bold"), cv.font("italic")
    half = (cv.left + cv.right) / 2
    if style == "motto":
        cv.centred(text, f_bold)
        cv.newline(0.9)
    elif style == "motto2":
        cv.centred(text, f_bold, underline=True)
        cv.newline(1.6)
    elif style == "title":
        cv.centred(text, cv.font("bold", cv.font_pt + 2))
        cv.newline(1.5)
    elif style == "formcode":
        f = cv.font("italic", cv.font_pt - 2)
        cv.put(cv.right - cv.width(text, f), text, f)
        cv.newline(1.0)
    elif style == "bold":
        cv.paragraph(text, f_bold, indent_mm=0, justify=False)
    elif style == "italic":
        cv.paragraph(text, f_it, indent_mm=0, justify=False)
    elif style == "signdate":
        cv.newline(0.3)
        cv.centred(text, f_it, cx=half + (cv.right - half) / 2 - cv.px(10))
        cv.newline()
    elif style == "sign":
        cv.centred(text, f_bold, cx=half + (cv.right - half) / 2 - cv.px(10))
        cv.newline()
    elif style == "signnote":
        cv.centred(text, f_it, cx=half + (cv.right - half) / 2 - cv.px(10))
        cv.newline(3.0)
    elif style == "table":
        _table(cv, text.split("|"), rows=2)
    elif "[ ]" in text:
        x = float(cv.left)
        for i, part in enumerate(text.split("[ ]")):
            if i:
                x = cv.checkbox(x + cv.width(" ", f_reg), f_reg) + cv.width(" ", f_reg)
            cv.put(x, part.strip(), f_reg)
            x += cv.width(part.strip(), f_reg)
        cv.newline()
    else:
        cv.paragraph(text, f_reg, indent_mm=10, justify=True)


def _table(cv: Canvas, headers: list[str], rows: int) -> None:
    f = cv.font("bold", cv.font_pt - 2)
    width = cv.right - cv.left
    weights = [0.5] + [1.0] * (len(headers) - 1)
    total = sum(weights)
    xs = [cv.left]
    for wgt in weights:
        xs.append(xs[-1] + round(width * wgt / total))
    head_lines = [cv.wrap(h, f, xs[i + 1] - xs[i] - cv.px(2)) for i, h in enumerate(headers)]
    head_h = max(len(hl) for hl in head_lines) * round(f.size * 1.3) + cv.px(3)
    top = cv.y
    lw = max(2, cv.dpi // 90)
    y_rows = [top, top + head_h] + [top + head_h + (r + 1) * cv.px(8) for r in range(rows)]
    for y in y_rows:
        cv.draw.line([(xs[0], y), (xs[-1], y)], fill=cv.ink, width=lw)
    for x in xs:
        cv.draw.line([(x, y_rows[0]), (x, y_rows[-1])], fill=cv.ink, width=lw)
    for i, hl in enumerate(head_lines):
        for j, line in enumerate(hl):
            cx = (xs[i] + xs[i + 1]) / 2
            cv.put(cx - cv.width(line, f) / 2, line, f, y=top + cv.px(1.5) + j * round(f.size * 1.3))
    cv.y = y_rows[-1] + cv.px(4)


# --- application forms ------------------------------------------------------------------------------


@dataclass
class RenderedPaper:
    """A rendered paper (BGR), its resolution, and ground truth: boxes of field values by key (forms),
    the MRZ lines (card backs), and free-form truth values."""

    image: np.ndarray
    dpi: int
    kind: str
    boxes: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    truth: dict[str, str] = field(default_factory=dict)


def _field_row(
    cv: Canvas,
    form: FormDefinition,
    keys: Sequence[str],
    values: dict[str, str],
    boxes: dict[str, tuple[int, int, int, int]],
) -> None:
    f = cv.font()
    width = cv.right - cv.left
    gap = cv.width("  ", f)
    x = float(cv.left)
    n = len(keys)
    for i, key in enumerate(keys):
        fd = form.field(key)
        stop = cv.left + width * i / n
        if x < stop:
            x = stop
        elif i:
            x += gap
        cv.put(x, fd.label, f)
        x += cv.width(fd.label + " ", f)
        value = values.get(key, "")
        col_end = cv.right if i == n - 1 else cv.left + width * (i + 1) / n - gap
        if fd.boxes:
            x = _digit_boxes(cv, x, value, fd.boxes, f, boxes, key)
            continue
        if not value:
            cv.dots(x, col_end, f)
            x = col_end
            continue
        first_room = (cv.right - x) if i == n - 1 else max(col_end - x, cv.width(value, f))
        parts = cv.wrap(value, f, cv.right - cv.left, first_room)
        vbox: list[tuple[int, int, int, int]] = []
        for j, part in enumerate(parts):
            if j:
                cv.newline()
                x = float(cv.left)
            vbox.append(cv.put(x, part, f))
            x += cv.width(part, f)
        boxes[key] = (
            min(b[0] for b in vbox),
            min(b[1] for b in vbox),
            max(b[2] for b in vbox),
            max(b[3] for b in vbox),
        )
        end = cv.right if i == n - 1 or len(parts) > 1 else col_end
        if end - x > cv.width("...", f):
            cv.dots(x + cv.width(" ", f) * 0.3, end, f)
        x = max(x, end)
    cv.newline()


def _digit_boxes(
    cv: Canvas,
    x: float,
    value: str,
    n: int,
    f: ImageFont.FreeTypeFont,
    boxes: dict[str, tuple[int, int, int, int]],
    key: str,
) -> float:
    bw, bh = cv.px(6.0), cv.px(8.0)
    top = cv.y - round((bh - f.size) / 2) + round(f.size * 0.1)
    lw = max(2, cv.dpi // 90)
    for i in range(n):
        x0 = x + i * bw
        cv.draw.rectangle([x0, top, x0 + bw, top + bh], outline=cv.ink, width=lw)
        if i < len(value):
            ch = value[i]
            cv.put(x0 + (bw - cv.width(ch, f)) / 2, ch, f, y=top + round((bh - f.size * 1.15) / 2))
    boxes[key] = (round(x), top, round(x + n * bw), top + bh)
    return x + n * bw


def render_form(
    form: FormDefinition | str,
    values: dict[str, str],
    *,
    dpi: int = 200,
    family: str = "noto-serif",
    font_pt: float = 13.0,
    cover: Sequence[str] = (),
    crop: bool = True,
    width_mm: float = 210.0,
) -> RenderedPaper:
    """A filled form as printed and typed: each field is 'label value.....' (dotted leaders fill the rest of
    the column), long values wrap to the next lines, ID numbers in digit boxes where the form has them.
    ``cover`` lists fields whose value is blotted out with dark ink. With ``crop`` the page is cut below
    the last printed line (smaller images OCR faster)."""
    if isinstance(form, str):
        form = load_forms()[form]
    cv = Canvas(width_mm, 297.0, dpi, family, font_pt, margins_mm=(20.0, 15.0, 15.0, 15.0))
    boxes: dict[str, tuple[int, int, int, int]] = {}
    for line in form.layout:
        if line.style == "fields":
            _field_row(cv, form, line.fields, values, boxes)
        else:
            _static_line(cv, line.style, line.text)
    for key in cover:
        if key in boxes:
            x0, y0, x1, y1 = boxes[key]
            pad = max(3, dpi // 60)
            cv.draw.rectangle([x0 - pad, y0 - pad, x1 + pad, y1 + pad], fill=(45, 40, 50))
    img = cv.to_bgr()
    if crop:
        img = img[: min(img.shape[0], cv.y + cv.px(5))]
    return RenderedPaper(img, dpi, "application_form", boxes, dict(values))


def random_form_values(
    form: FormDefinition, rng: random.Random, *, empty_rate: float = 0.0
) -> dict[str, str]:
    """Plausible values for every field of ``form`` (people, places, dates, consistent CCCD numbers)."""
    values: dict[str, str] = {}
    births: dict[str, date] = {}
    today = date.today()
    for fd in form.fields:
        if not fd.required and rng.random() < empty_rate:
            continue
        values[fd.key] = _random_value(fd, rng, values, births, today)
    return values


def _random_value(
    fd: FieldDef, rng: random.Random, values: dict[str, str], births: dict[str, date], today: date
) -> str:
    key = fd.key
    if fd.type == "name":
        female = "mother" in key or (rng.random() < 0.5 and "father" not in key)
        name = random_name(rng, female)
        return name.upper() if rng.random() < 0.6 else name
    if fd.type in ("date", "date_or_year"):
        if key.startswith("child"):
            d = random_date(rng, today.year - 1, today.year - 1) if today.year > 2001 else date(2000, 1, 1)
        elif "period_to" in key:
            d = random_date(rng, 2021, today.year - 1)
        elif "period_from" in key:
            d = random_date(rng, 2005, 2019)
        else:
            d = random_date(rng, 1960, 2004)
        births[key] = d
        if fd.type == "date_or_year" and rng.random() < 0.4:
            return str(d.year)
        return d.strftime("%d/%m/%Y")
    if fd.type == "date_words":
        ref = births.get(fd.matches_date or "")
        return date_to_words(ref) if ref else ""
    if fd.type == "cccd":
        ref = births.get(fd.birth_date_field or "") or random_date(rng, 1965, 2004)
        return random_cccd(rng, ref, rng.random() < 0.5)
    if fd.type == "enum":
        if fd.choices:
            return rng.choice(fd.choices)
        from kiosk.extract.forms import vocabularies

        vocab = vocabularies()[fd.vocabulary or ""]
        return vocab[0] if rng.random() < 0.7 else rng.choice(vocab)
    if fd.type == "phone":
        return "0" + rng.choice("3579") + "".join(rng.choice("0123456789") for _ in range(8))
    if fd.type == "email":
        return f"{rng.choice(['an', 'binh', 'lan', 'mai', 'hung'])}{rng.randint(1, 99)}@example.vn"
    if key == "authority":
        return f"Ủy ban nhân dân {rng.choice(['xã', 'phường'])} {rng.choice(COMMUNES)}"
    if "relation_to_householder" in key:
        return rng.choice(HOUSE_RELATIONS)
    if "relationship" in key:
        return rng.choice(RELATIONS)
    if "marital" in key:
        return rng.choice(MARITAL)
    if "purpose" in key:
        return rng.choice(PURPOSES)
    if key == "request":
        return rng.choice(CT01_REQUESTS)
    if "birthplace" in key:
        return f"Bệnh viện Đa khoa tỉnh {rng.choice(PROVINCES_2025)}"
    return random_address(rng)


def _generic_form(rng: random.Random, dpi: int, family: str) -> np.ndarray:
    """An application form of no particular template: title 'ĐƠN ...' or 'TỜ KHAI ...', dotted label lines,
    checkboxes, a signature block."""
    cv = Canvas(210, 297, dpi, family, rng.choice([12, 13, 14]), margins_mm=(20, 15, 15, 15))
    _static_line(cv, "motto", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    _static_line(cv, "motto2", "Độc lập - Tự do - Hạnh phúc")
    title = rng.choice(["ĐƠN ĐỀ NGHỊ", "TỜ KHAI", "ĐƠN XIN", "PHIẾU ĐĂNG KÝ", "ĐƠN ĐĂNG KÝ"])
    title += " " + rng.choice(
        [
            "CẤP GIẤY PHÉP",
            "HỖ TRỢ",
            "XÁC NHẬN",
            "THAY ĐỔI THÔNG TIN",
            "CẤP BẢN SAO",
            "TRỢ CẤP XÃ HỘI",
            "BIẾN ĐỘNG ĐẤT ĐAI",
        ]
    )
    _static_line(cv, "title", title)
    labels = [
        "Họ và tên:",
        "Ngày sinh:",
        "Số định danh cá nhân:",
        "Địa chỉ:",
        "Nơi cư trú:",
        "Số điện thoại:",
        "Nghề nghiệp:",
        "Lý do:",
        "Nội dung đề nghị:",
        "Kính gửi:",
        "Giới tính:",
        "Quốc tịch:",
        "Nơi làm việc:",
        "Thửa đất số:",
        "Diện tích:",
        "Mục đích sử dụng:",
    ]
    f = cv.font()
    for _ in range(rng.randint(8, 15)):
        label = rng.choice(labels)
        cv.put(cv.left, label, f)
        x = cv.left + cv.width(label + " ", f)
        if rng.random() < 0.5:
            val = rng.choice([random_name(rng).upper(), random_address(rng), "15/03/1988", "Nông dân"])
            val = cv.wrap(val, f, cv.right - x)[0]
            cv.put(x, val, f)
            x += cv.width(val + " ", f)
        cv.dots(x, cv.right, f)
        cv.newline()
        if rng.random() < 0.2:
            x = float(cv.left)
            for opt in rng.sample(["Có", "Không", "Lần đầu", "Cấp lại", "Trực tiếp", "Bưu chính"], 3):
                x = cv.checkbox(x, f, rng.random() < 0.3) + cv.width(" ", f)
                cv.put(x, opt, f)
                x += cv.width(opt + "    ", f)
            cv.newline()
        if cv.y > cv.image.height * 0.75:
            break
    _static_line(cv, "text", rng.choice(SENTENCES))
    _static_line(cv, "signdate", "........, ngày ..... tháng ..... năm ......")
    _static_line(cv, "sign", rng.choice(["Người làm đơn", "Người khai", "Người đề nghị"]))
    _static_line(cv, "signnote", "(Ký, ghi rõ họ tên)")
    _signature(cv, rng, (cv.left + cv.right) / 2 + (cv.right - cv.left) / 4 - cv.px(10), cv.y - cv.line_h * 2)
    return cv.to_bgr()


def application_form(rng: random.Random, dpi: int = 100, family: str | None = None) -> np.ndarray:
    family = family or rng.choice(TRAIN_FONTS)
    if rng.random() < 0.55:
        form = rng.choice(list(load_forms().values()))
        values = random_form_values(form, rng, empty_rate=rng.choice([0.0, 0.3, 1.0]))
        return render_form(
            form, values, dpi=dpi, family=family, font_pt=rng.choice([12, 13]), crop=False
        ).image
    return _generic_form(rng, dpi, family)


# --- decisions and certificates ---------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionSpec:
    """What a rendered decision says (ground truth for the metadata proposal)."""

    agency_parent: str  # first line of the agency block, e.g. "ỦY BAN NHÂN DÂN"
    agency: str  # second line, e.g. "XÃ TÂN HÒA"
    number: str  # "Số: 125/QĐ-UBND"
    place: str
    issued: date
    title: str  # "QUYẾT ĐỊNH"
    subject: str  # "Về việc ..."
    body: tuple[str, ...]
    signer_role: str = "CHỦ TỊCH"
    signer: str = "Nguyễn Văn An"
    valid_until: date | None = None


def random_decision(rng: random.Random, sentences: Sequence[str] = SENTENCES) -> DecisionSpec:
    commune = rng.choice(COMMUNES)
    issued = random_date(rng, 2019, 2025)
    body = tuple(rng.sample(list(sentences), k=min(len(sentences), rng.randint(4, 7))))
    return DecisionSpec(
        "ỦY BAN NHÂN DÂN",
        f"{rng.choice(['XÃ', 'PHƯỜNG'])} {commune.upper()}",
        f"Số: {rng.randint(1, 999)}/QĐ-UBND",
        commune,
        issued,
        "QUYẾT ĐỊNH",
        rng.choice(SUBJECTS),
        body,
        signer=random_name(rng),
    )


def _seal(cv: Canvas, rng: random.Random, cx: float, cy: float, text: str) -> None:
    r = cv.px(rng.uniform(16, 20))
    col = (rng.randint(185, 225), rng.randint(20, 60), rng.randint(30, 70))
    overlay = Image.new("RGBA", cv.image.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    lw = max(2, cv.px(0.8))
    alpha = rng.randint(150, 220)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(*col, alpha), width=lw)
    d.ellipse([cx - r * 0.7, cy - r * 0.7, cx + r * 0.7, cy + r * 0.7], outline=(*col, alpha), width=lw)
    f = face("noto-sans", "bold", max(8, round(r * 0.16)))
    chars = list(text.upper())
    for i, ch in enumerate(chars):
        ang = -math.pi / 2 + 2 * math.pi * i / max(len(chars), 1)
        x = cx + r * 0.85 * math.cos(ang)
        y = cy + r * 0.85 * math.sin(ang)
        d.text((x, y), ch, font=f, fill=(*col, alpha), anchor="mm")
    star = [
        (
            cx + r * 0.3 * math.cos(-math.pi / 2 + k * 4 * math.pi / 5),
            cy + r * 0.3 * math.sin(-math.pi / 2 + k * 4 * math.pi / 5),
        )
        for k in range(5)
    ]
    d.polygon(star, fill=(*col, alpha))
    cv.image.paste(Image.alpha_composite(cv.image.convert("RGBA"), overlay).convert("RGB"))
    cv.draw = ImageDraw.Draw(cv.image)


def _signature(cv: Canvas, rng: random.Random, cx: float, cy: float) -> None:
    pts = []
    x = cx - cv.px(15)
    for _ in range(rng.randint(12, 24)):
        x += cv.px(rng.uniform(0.5, 2.2))
        pts.append((x, cy + cv.px(rng.uniform(-5, 5))))
    col = rng.choice([(30, 40, 140), (25, 25, 30), (20, 60, 160)])
    cv.draw.line(pts, fill=col, width=max(1, cv.px(0.4)), joint="curve")


def render_decision(
    spec: DecisionSpec,
    *,
    dpi: int = 200,
    family: str = "liberation-serif",
    font_pt: float = 13,
    seal: bool = True,
    rng: random.Random | None = None,
) -> RenderedPaper:
    """Page 1 of an administrative decision (Decree 30/2020 layout): agency block top left, national motto
    top right, number and place-date line, title, "Về việc ...", body, recipients, signature and seal."""
    rng = rng or random.Random(0)
    cv = Canvas(210, 297, dpi, family, font_pt, margins_mm=(30, 20, 15, 20))
    f_b, f_r, f_i = cv.font("bold"), cv.font(), cv.font("italic")
    lcx = cv.left + cv.px(32)
    rcx = cv.right - cv.px(55)
    top = cv.y
    cv.centred(spec.agency_parent, f_r, cx=lcx)
    cv.centred("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", cv.font("bold", font_pt - 1), cx=rcx)
    cv.newline(0.9)
    cv.centred(spec.agency, f_b, cx=lcx, underline=True)
    cv.centred("Độc lập - Tự do - Hạnh phúc", f_b, cx=rcx, underline=True)
    cv.newline(1.6)
    cv.centred(spec.number, f_r, cx=lcx)
    cv.centred(
        f"{spec.place}, ngày {spec.issued.day:02d} tháng {spec.issued.month:02d} năm {spec.issued.year}",
        f_i,
        cx=rcx,
    )
    cv.newline(2.0)
    _ = top
    cv.centred(spec.title, cv.font("bold", font_pt + 1))
    cv.newline(1.0)
    cv.centred(spec.subject, f_b)
    cv.newline(1.0)
    cv.centred(f"{spec.signer_role} ỦY BAN NHÂN DÂN {spec.agency}", f_b)
    cv.newline(1.5)
    for s in spec.body[:2]:
        cv.paragraph(s, f_i if s.startswith("Căn cứ") else f_r)
    cv.centred("QUYẾT ĐỊNH:", f_b)
    cv.newline(1.2)
    for i, s in enumerate(spec.body[2:], 1):
        cv.paragraph(f"Điều {i}. {s}", f_r)
        if cv.y > cv.image.height * 0.68:
            break
    if spec.valid_until:
        cv.paragraph(f"Quyết định này có giá trị đến ngày {spec.valid_until.strftime('%d/%m/%Y')}.", f_r)
    cv.newline(0.5)
    y_sig = cv.y
    small_b, small = cv.font("bold", font_pt - 2), cv.font("regular", font_pt - 2)
    cv.put(cv.left, "Nơi nhận:", cv.font("italic", font_pt - 1))
    for j, rcp in enumerate(["- Như Điều 3;", "- Lưu: VT."]):
        cv.put(cv.left, rcp, small, y=cv.y + (j + 1) * round(small.size * 1.4))
    cv.centred(f"TM. {spec.agency_parent}", f_b, cx=rcx)
    cv.newline()
    cv.centred(spec.signer_role, f_b, cx=rcx)
    cv.y = y_sig + cv.px(38)
    if seal:
        _seal(cv, rng, rcx - cv.px(14), y_sig + cv.px(24), f"{spec.agency_parent} {spec.agency}")
    _signature(cv, rng, rcx, y_sig + cv.px(26))
    cv.centred(spec.signer, f_b, cx=rcx)
    _ = small_b
    return RenderedPaper(
        cv.to_bgr(),
        dpi,
        "decision_or_certificate",
        truth={
            "title": spec.title,
            "subject": spec.subject,
            "issued": spec.issued.isoformat(),
            "agency": f"{spec.agency_parent} {spec.agency}",
        },
    )


def render_certificate(rng: random.Random, *, dpi: int = 100, family: str | None = None) -> np.ndarray:
    """A certificate or extract (Giấy khai sinh, Giấy chứng nhận ..., Trích lục ...): frame, emblem,
    motto, title, filled lines, signature and seal."""
    family = family or rng.choice(TRAIN_FONTS)
    landscape = rng.random() < 0.3
    cv = Canvas(
        297 if landscape else 210,
        210 if landscape else 297,
        dpi,
        family,
        rng.choice([12, 13, 14]),
        paper=rng.choice([(252, 251, 247), (250, 246, 232), (246, 250, 246)]),
        margins_mm=(25, 18, 20, 18),
    )
    if rng.random() < 0.7:
        col = rng.choice([(150, 40, 40), (40, 90, 60), (40, 60, 140), (120, 90, 40)])
        for k, inset in enumerate((6, 9)):
            cv.draw.rectangle(
                [cv.px(inset), cv.px(inset), cv.image.width - cv.px(inset), cv.image.height - cv.px(inset)],
                outline=col,
                width=max(2, cv.px(1.2 - 0.6 * k)),
            )
    if rng.random() < 0.6:
        r = cv.px(9)
        cx = cv.left + cv.px(12)
        cy = cv.y + r
        cv.draw.ellipse(
            [cx - r, cy - r, cx + r, cy + r], fill=(205, 40, 40), outline=(190, 150, 40), width=cv.px(1)
        )
        cv.draw.regular_polygon((cx, cy, r * 0.5), 5, fill=(240, 200, 40))
    _static_line(cv, "motto", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM")
    _static_line(cv, "motto2", "Độc lập - Tự do - Hạnh phúc")
    title = rng.choice(
        [
            "GIẤY KHAI SINH",
            "GIẤY CHỨNG NHẬN KẾT HÔN",
            "TRÍCH LỤC KHAI TỬ",
            "GIẤY CHỨNG NHẬN QUYỀN SỬ DỤNG ĐẤT",
            "GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN",
            "GIẤY CHỨNG NHẬN ĐĂNG KÝ HỘ KINH DOANH",
            "GIẤY CHỨNG SINH",
        ]
    )
    cv.centred(title, cv.font("bold", cv.font_pt + 5), fill=rng.choice([INK, (170, 30, 30), (30, 50, 120)]))
    cv.newline(1.3)
    cv.centred(f"Số: {rng.randint(1, 9999)}/{rng.choice(['KS', 'KH', 'CN', 'TLKT'])}", cv.font("italic"))
    cv.newline(1.5)
    f = cv.font()
    fb = cv.font("bold")
    pairs = [
        ("Họ, chữ đệm, tên:", random_name(rng).upper()),
        ("Ngày, tháng, năm sinh:", "12/08/2019"),
        ("Giới tính:", rng.choice(["Nam", "Nữ"])),
        ("Dân tộc:", "Kinh"),
        ("Quốc tịch:", "Việt Nam"),
        ("Nơi sinh:", random_address(rng)),
        ("Quê quán:", random_address(rng)),
        ("Nơi cư trú:", random_address(rng)),
        ("Số định danh cá nhân:", "001219012345"),
        ("Nơi đăng ký:", f"Ủy ban nhân dân xã {rng.choice(COMMUNES)}"),
    ]
    for label, value in rng.sample(pairs, rng.randint(5, len(pairs))):
        cv.put(cv.left, label, f)
        x = cv.left + cv.width(label + " ", f)
        cv.put(x, cv.wrap(value, fb, cv.right - x)[0], fb)
        cv.newline()
        if cv.y > cv.image.height * 0.68:
            break
    cv.newline(0.5)
    rcx = cv.right - (cv.right - cv.left) / 4
    cv.centred(
        f"{rng.choice(COMMUNES)}, ngày {rng.randint(1, 28)} tháng {rng.randint(1, 12)} năm 2024",
        cv.font("italic"),
        cx=rcx,
    )
    cv.newline()
    cv.centred(rng.choice(["CHỦ TỊCH", "GIÁM ĐỐC", "NGƯỜI KÝ GIẤY KHAI SINH", "TRƯỞNG PHÒNG"]), fb, cx=rcx)
    y_sig = cv.y
    if rng.random() < 0.9:
        _seal(cv, rng, rcx - cv.px(12), y_sig + cv.px(18), f"ỦY BAN NHÂN DÂN {rng.choice(COMMUNES)}")
    _signature(cv, rng, rcx, y_sig + cv.px(20))
    cv.y = y_sig + cv.px(32)
    cv.centred(random_name(rng), fb, cx=rcx)
    return cv.to_bgr()


def decision_or_certificate(
    rng: random.Random, dpi: int = 100, family: str | None = None, sentences: Sequence[str] = SENTENCES[:12]
) -> np.ndarray:
    family = family or rng.choice(TRAIN_FONTS)
    if rng.random() < 0.55:
        spec = random_decision(rng, sentences)
        if rng.random() < 0.2:
            spec = DecisionSpec(
                spec.agency_parent,
                spec.agency,
                spec.number,
                spec.place,
                spec.issued,
                rng.choice(["THÔNG BÁO", "CÔNG VĂN", "KẾ HOẠCH", "BÁO CÁO"]),
                spec.subject,
                spec.body,
                signer=spec.signer,
            )
        return render_decision(
            spec, dpi=dpi, family=family, font_pt=rng.choice([12, 13, 14]), seal=rng.random() < 0.9, rng=rng
        ).image
    return render_certificate(rng, dpi=dpi, family=family)


# --- ID cards ---------------------------------------------------------------------------------------


def render_passport_page(
    mrz: Sequence[str], p: CardPerson, number: str, *, dpi: int = 300, rng: random.Random | None = None
) -> np.ndarray:
    """A SPECIMEN passport data page (ID-3, 125 x 88 mm): header, photo box, fields, 2-line MRZ."""
    rng = rng or random.Random(0)
    cv = Canvas(
        125.0,
        88.0,
        dpi,
        "noto-sans",
        7.0,
        paper=(rng.randint(232, 245), rng.randint(236, 248), 240),
        margins_mm=(5, 4, 5, 4),
    )
    fb = face("noto-sans", "bold", cv.size(7))
    f = face("noto-sans", "regular", cv.size(6))
    cv.put(cv.px(30), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM / SOCIALIST REPUBLIC OF VIET NAM", fb, y=cv.px(4))
    cv.put(cv.px(30), "HỘ CHIẾU / PASSPORT", fb, y=cv.px(8))
    shade = rng.randint(130, 190)
    cv.draw.rectangle([cv.px(5), cv.px(14), cv.px(32), cv.px(50)], fill=(shade, shade + 8, shade + 20))
    rows = [
        ("Loại / Type: P", f"Số hộ chiếu / Passport No.: {number}"),
        ("Họ và tên / Full name:", ascii_name(p.name)),
        ("Quốc tịch / Nationality:", "VIỆT NAM"),
        ("Ngày sinh / Date of birth:", p.birth.strftime("%d/%m/%Y")),
        ("Giới tính / Sex:", "F" if p.female else "M"),
        ("Có giá trị đến / Date of expiry:", p.expiry.strftime("%d/%m/%Y")),
    ]
    y = cv.px(14)
    for label, value in rows:
        cv.put(cv.px(36), label, f, y=y)
        cv.put(cv.px(36), value, fb, y=y + cv.px(3))
        y += cv.px(7)
    mono = _font(MONO_FONT, round(2.54 / 0.6 / 25.4 * dpi))
    x0 = (cv.image.width - 44 * cv.width("<", mono)) / 2
    for i, line in enumerate(mrz):
        cv.put(x0, line, mono, y=cv.px(71 + i * 6.0))
    return cv.to_bgr()


def vn_passport_mrz(p: CardPerson, number: str) -> list[str]:
    parts = ascii_name(p.name).split()
    return td3_lines(
        document_number=number,
        birth=p.birth,
        sex="F" if p.female else "M",
        expiry=p.expiry,
        surname=parts[0],
        given=" ".join(parts[1:]),
        personal_number=p.cccd,
    )


def ascii_name(text: str) -> str:
    t = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in t if not unicodedata.combining(c)).upper()


@dataclass(frozen=True)
class CardPerson:
    name: str
    birth: date
    female: bool
    cccd: str
    expiry: date


def random_person(rng: random.Random) -> CardPerson:
    female = rng.random() < 0.5
    birth = random_date(rng, 1960, 2006)
    cccd = random_cccd(rng, birth, female)
    return CardPerson(
        random_name(rng, female),
        birth,
        female,
        cccd,
        date(birth.year + rng.choice([25, 40, 60]), birth.month, min(birth.day, 28)),
    )


def cccd_mrz(p: CardPerson, *, cccd_check: bool = False) -> list[str]:
    parts = ascii_name(p.name).split()
    return td1_lines(
        document_number=p.cccd[3:],
        birth=p.birth,
        sex="F" if p.female else "M",
        expiry=p.expiry,
        surname=parts[0],
        given=" ".join(parts[1:]),
        optional1=p.cccd,
        cccd_check=cccd_check,
    )


def render_card_back(mrz: Sequence[str], *, dpi: int = 300, rng: random.Random | None = None) -> np.ndarray:
    """The back of a chip ID card (85.6 x 54 mm, BGR): chip, personal-features text, fingerprint boxes,
    issue line, and the 3-line MRZ in a monospace face in the bottom third."""
    rng = rng or random.Random(0)
    cv = Canvas(
        85.6,
        54.0,
        dpi,
        "noto-sans",
        6.0,
        paper=(rng.randint(228, 242), rng.randint(232, 246), 248),
        margins_mm=(4, 3, 4, 3),
    )
    f = face("noto-sans", "regular", cv.size(5.5))
    cv.draw.rounded_rectangle(
        [cv.px(4), cv.px(5), cv.px(15), cv.px(13)],
        radius=cv.px(1.5),
        fill=(200, 170, 90),
        outline=(150, 120, 60),
    )
    cv.put(cv.px(18), "Đặc điểm nhân dạng: Nốt ruồi C:2cm trên", f, y=cv.px(4))
    cv.put(cv.px(18), "sau đuôi mắt trái", f, y=cv.px(7))
    cv.put(
        cv.px(18), f"Ngày, tháng, năm: {rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/2022", f, y=cv.px(11)
    )
    cv.put(cv.px(18), "CỤC TRƯỞNG CỤC CẢNH SÁT QUẢN LÝ", face("noto-sans", "bold", cv.size(5)), y=cv.px(15))
    cv.put(cv.px(18), "HÀNH CHÍNH VỀ TRẬT TỰ XÃ HỘI", face("noto-sans", "bold", cv.size(5)), y=cv.px(18))
    for k in range(2):
        x0 = cv.px(58 + k * 13)
        cv.draw.rectangle([x0, cv.px(4), x0 + cv.px(11), cv.px(19)], outline=(120, 120, 130), width=2)
        for j in range(8):
            cv.draw.arc(
                [x0 + cv.px(1 + j * 0.5), cv.px(6 + j * 0.6), x0 + cv.px(10 - j * 0.5), cv.px(17 - j * 0.4)],
                200,
                340,
                fill=(140, 140, 150),
            )
    _signature(cv, rng, cv.px(36), cv.px(25))
    # OCR-B at 10 characters per inch: 30 characters span 76 mm; DejaVu Sans Mono's advance is 0.6 em
    mono = _font(MONO_FONT, round(2.54 / 0.6 / 25.4 * dpi))
    char_w = cv.width("<", mono)
    mx0 = (cv.image.width - 30 * char_w) / 2
    for i, line in enumerate(mrz):
        cv.put(mx0, line, mono, y=cv.px(35.5 + i * 5.0))
    return cv.to_bgr()


def render_card_front(
    p: CardPerson, *, dpi: int = 300, rng: random.Random | None = None, family: str = "noto-sans"
) -> np.ndarray:
    """The front of a SPECIMEN chip ID card: emblem, titles, photo box, QR-like block, fields."""
    rng = rng or random.Random(0)
    cv = Canvas(
        85.6,
        54.0,
        dpi,
        family,
        6.0,
        paper=(rng.randint(225, 245), rng.randint(230, 248), rng.randint(238, 252)),
        margins_mm=(3, 3, 3, 3),
    )
    for k in range(rng.randint(0, 24)):  # guilloche: faint wavy security lines
        amp, period, y0 = cv.px(rng.uniform(1, 4)), cv.px(rng.uniform(8, 30)), cv.px(rng.uniform(0, 54))
        pts = [(x, y0 + amp * math.sin(2 * math.pi * x / period + k)) for x in range(0, cv.image.width, 4)]
        cv.draw.line(pts, fill=tuple(max(0, c - rng.randint(12, 30)) for c in cv.paper), width=1)
    variant_b = rng.random() < 0.5  # QR top right, larger centred titles (the 2021 chip card)
    r = cv.px(7 if variant_b else 5)
    cv.draw.ellipse(
        [cv.px(4), cv.px(3), cv.px(4) + 2 * r, cv.px(3) + 2 * r],
        fill=(200, 40, 40),
        outline=(200, 160, 40),
        width=max(1, cv.px(0.4)),
    )
    cv.draw.regular_polygon((cv.px(4) + r, cv.px(3) + r, r * 0.5), 5, fill=(240, 200, 40))
    fb = face(family, "bold", cv.size(6.5 if variant_b else 6))
    cv.put(cv.px(17), "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", fb, y=cv.px(3))
    cv.put(cv.px(24), "Độc lập - Tự do - Hạnh phúc", face(family, "bold", cv.size(5)), y=cv.px(6.3))
    cv.put(cv.px(22), "CĂN CƯỚC CÔNG DÂN", face(family, "bold", cv.size(8)), fill=(180, 30, 30), y=cv.px(9.5))
    shade = rng.randint(120, 190)
    cv.draw.rectangle([cv.px(4), cv.px(16), cv.px(23), cv.px(41)], fill=(shade, shade + 10, shade + 25))
    cv.draw.ellipse(
        [cv.px(8.5), cv.px(19), cv.px(18.5), cv.px(30)], fill=(shade + 40, shade + 35, shade + 30)
    )
    cv.draw.ellipse([cv.px(6), cv.px(30), cv.px(21), cv.px(46)], fill=(shade - 40, shade - 35, shade - 20))
    cv.draw.rectangle([cv.px(4), cv.px(41), cv.px(23), cv.px(51)], fill=cv.paper)
    q0, qy = (cv.px(66), cv.px(3)) if variant_b else (cv.px(68), cv.px(14))
    cell = cv.px(0.65 if variant_b else 0.6)
    cv.draw.rectangle([q0 - cell, qy - cell, q0 + 22 * cell, qy + 22 * cell], fill=(250, 250, 250))
    for i in range(21):
        for j in range(21):
            if rng.random() < 0.5 or (i < 7 and j < 7) or (i < 7 and j > 13) or (i > 13 and j < 7):
                cv.draw.rectangle(
                    [q0 + j * cell, qy + i * cell, q0 + (j + 1) * cell - 1, qy + (i + 1) * cell - 1],
                    fill=(20, 20, 20),
                )
    f = face(family, "regular", cv.size(5.5))
    fv = face(family, "bold", cv.size(6.5))
    rows = [
        ("Số / No.:", p.cccd),
        ("Họ và tên / Full name:", p.name.upper()),
        ("Ngày sinh / Date of birth:", p.birth.strftime("%d/%m/%Y")),
        ("Giới tính / Sex:", "Nữ" if p.female else "Nam"),
        ("Quốc tịch / Nationality:", "Việt Nam"),
        ("Có giá trị đến:", p.expiry.strftime("%d/%m/%Y")),
    ]
    y = cv.px(15)
    for label, value in rows:
        cv.put(cv.px(26), label, f, y=y)
        cv.put(cv.px(26), value, fv, y=y + cv.px(2.4))
        y += cv.px(5.6)
    cv.put(cv.px(5), "MẪU / SPECIMEN", face(family, "bold", cv.size(5)), fill=(180, 30, 30), y=cv.px(47))
    if rng.random() < 0.4:  # a translucent diagonal SPECIMEN stamp across the face
        layer = Image.new("RGBA", cv.image.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).text(
            (cv.px(22), cv.px(20)),
            "MẪU / SPECIMEN",
            font=face(family, "bold", cv.size(14)),
            fill=(220, 40, 50, 110),
        )
        layer = layer.rotate(-20, center=(cv.image.width / 2, cv.image.height / 2))
        cv.image = Image.alpha_composite(cv.image.convert("RGBA"), layer).convert("RGB")
    return cv.to_bgr()


def round_corners(card: np.ndarray, dpi: int) -> np.ndarray:
    """Alpha mask (uint8) of an ID-1 card with 3.18 mm corner radius."""
    h, w = card.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    r = round(3.18 / 25.4 * dpi)
    cv2.rectangle(mask, (r, 0), (w - r, h), 255, -1)
    cv2.rectangle(mask, (0, r), (w, h - r), 255, -1)
    for cx, cy in ((r, r), (w - r, r), (r, h - r), (w - r, h - r)):
        cv2.circle(mask, (cx, cy), r, 255, -1)
    return mask


def photo_of(
    obj: np.ndarray,
    rng: random.Random,
    *,
    frame: tuple[int, int] = (1600, 1200),
    fill: float = 0.6,
    max_rot: float = 8.0,
    max_persp: float = 0.04,
    mask: np.ndarray | None = None,
    background: str | None = None,
) -> np.ndarray:
    """``obj`` photographed: placed on a textured background with rotation, mild perspective, lighting
    gradient, blur, noise and JPEG compression."""
    from kiosk.synth.camera import background as make_bg

    fw, fh = frame
    nrng = np.random.default_rng(rng.randrange(2**32))
    bg = make_bg(background or rng.choice(["wood", "desk", "cloth", "stone"]), (fw, fh), nrng)
    h, w = obj.shape[:2]
    scale = math.sqrt(fill * fw * fh / (w * h))
    scale = min(scale, 0.95 * fw / w, 0.95 * fh / h) if max_rot < 30 else scale
    ang = math.radians(rng.uniform(-max_rot, max_rot))
    cx, cy = fw / 2 + rng.uniform(-0.1, 0.1) * fw, fh / 2 + rng.uniform(-0.1, 0.1) * fh
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    dst = []
    for x, y in corners:
        dx, dy = (x - w / 2) * scale, (y - h / 2) * scale
        px_ = cx + dx * math.cos(ang) - dy * math.sin(ang) + rng.uniform(-max_persp, max_persp) * w * scale
        py_ = cy + dx * math.sin(ang) + dy * math.cos(ang) + rng.uniform(-max_persp, max_persp) * h * scale
        dst.append([px_, py_])
    d = np.array(dst, np.float32)
    margin = 0.02 * min(fw, fh)  # keep the whole object in frame
    d[:, 0] += max(0.0, margin - d[:, 0].min()) - max(0.0, d[:, 0].max() - (fw - margin))
    d[:, 1] += max(0.0, margin - d[:, 1].min()) - max(0.0, d[:, 1].max() - (fh - margin))
    hm = cv2.getPerspectiveTransform(corners, d)
    warped = cv2.warpPerspective(obj, hm, (fw, fh), flags=cv2.INTER_AREA)
    m = mask if mask is not None else np.full((h, w), 255, np.uint8)
    alpha = cv2.warpPerspective(m, hm, (fw, fh), flags=cv2.INTER_LINEAR).astype(np.float32)[..., None] / 255.0
    out = bg.astype(np.float32) * (1 - alpha) + warped.astype(np.float32) * alpha
    return _camera_effects(out, rng)


def _camera_effects(img: np.ndarray, rng: random.Random) -> np.ndarray:
    h, w = img.shape[:2]
    gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    light = (
        1.0
        + rng.uniform(-0.25, 0.1) * (gx * rng.uniform(-1, 1) + gy * rng.uniform(-1, 1))
        - rng.uniform(0, 0.2) * (gx**2 + gy**2)
    )
    out: np.ndarray = img * light[..., None] * rng.uniform(0.75, 1.05)
    if rng.random() < 0.6:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.4)))
    out = out + np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(1, 6), out.shape)
    return jpeg(np.clip(out, 0, 255).astype(np.uint8), rng.randint(55, 92))


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return np.asarray(out) if out is not None else img


def id_card(rng: random.Random, dpi: int = 200, family: str | None = None) -> np.ndarray:
    """A card (front, or back with MRZ) photographed on a table, or lying on a flatbed scanner, or a tight
    crop of the card."""
    p = random_person(rng)
    card = (
        render_card_front(p, dpi=dpi, rng=rng, family=family or rng.choice(["noto-sans", "dejavu-sans"]))
        if rng.random() < 0.6
        else render_card_back(cccd_mrz(p), dpi=dpi, rng=rng)
    )
    mask = round_corners(card, dpi)
    mode = rng.random()
    if mode < 0.6:  # photographed on a table: dark or light surface, the card small or filling the frame
        fw = rng.choice([1600, 1280, 1920, 2400])
        light = rng.random() < 0.4
        return photo_of(
            card,
            rng,
            frame=(fw, round(fw * rng.choice([0.5625, 0.75, 0.667]))),
            fill=rng.uniform(0.45, 0.85) if light else rng.uniform(0.25, 0.75),
            mask=mask,
            background="white" if light else None,
            max_rot=rng.choice([4.0, 8.0]),
        )
    if mode < 0.82:  # on a flatbed: a small card on a white A4 area
        page = np.full(
            (round(297 / 25.4 * dpi / 2), round(210 / 25.4 * dpi / 2), 3), rng.randint(235, 252), np.uint8
        )
        small = cv2.resize(card, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        sm = cv2.resize(mask, None, fx=0.5, fy=0.5)
        y0 = rng.randint(10, page.shape[0] - small.shape[0] - 10)
        x0 = rng.randint(10, page.shape[1] - small.shape[1] - 10)
        a = sm.astype(np.float32)[..., None] / 255.0
        roi = page[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]].astype(np.float32)
        page[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = (roi * (1 - a) + small * a).astype(
            np.uint8
        )
        return scan_of(page, rng)
    return scan_of(card, rng)


# --- other papers -----------------------------------------------------------------------------------


def render_text_page(
    rng: random.Random, dpi: int = 100, family: str | None = None, sentences: Sequence[str] = SENTENCES[:12]
) -> np.ndarray:
    """A continuation page of plain text: optional bold centred heading (one to four upper-case lines),
    justified paragraphs, bold article titles and list items, as in the later pages of a regulation."""
    family = family or rng.choice(TRAIN_FONTS)
    cv = Canvas(
        210,
        297,
        dpi,
        family,
        rng.choice([12, 12.5, 13, 13.5, 14]),
        margins_mm=(rng.uniform(28, 35), rng.uniform(18, 25), rng.uniform(15, 20), 20),
    )
    if rng.random() < 0.7:
        head = rng.choice(
            [
                "Chương II",
                "QUY ĐỊNH",
                "Mục 1",
                "PHỤ LỤC",
                "HƯỚNG DẪN",
                "Điều 5. Trách nhiệm",
                "QUY ĐỊNH VỀ SỐ HÓA HỒ SƠ, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TRONG TIẾP NHẬN, "
                "GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI BỘ PHẬN MỘT CỬA CẤP XÃ",
                "NHỮNG QUY ĐỊNH CHUNG",
                "TỔ CHỨC THỰC HIỆN",
            ]
        )
        fb = cv.font("bold", cv.font_pt + rng.choice([0, 0.5, 1]))
        for line in cv.wrap(head, fb, (cv.right - cv.left) * rng.uniform(0.75, 1.0))[: rng.randint(1, 4)]:
            cv.centred(line, fb)
            cv.newline()
        cv.newline(0.5)
    article = rng.randint(1, 9)
    while cv.y < cv.image.height * rng.uniform(0.45, 0.9):
        r = rng.random()
        if r < 0.15:
            cv.paragraph(
                f"Điều {article}. {rng.choice(ARTICLE_TITLES)}",
                cv.font("bold"),
            )
            article += 1
        elif r < 0.3:
            for _ in range(rng.randint(2, 5)):
                cv.paragraph("- " + rng.choice(list(sentences)).rstrip("."), cv.font(), justify=False)
        else:
            text = " ".join(rng.sample(list(sentences), k=rng.randint(1, 4)))
            cv.paragraph(text, cv.font(), justify=rng.random() < 0.8)
    return cv.to_bgr()


def render_letter(rng: random.Random, dpi: int = 100, family: str | None = None) -> np.ndarray:
    family = family or rng.choice(TRAIN_FONTS)
    cv = Canvas(210, 297, dpi, family, rng.choice([12, 13, 14]), margins_mm=(25, 25, 20, 20))
    f = cv.font()
    cv.put(
        cv.right - cv.px(70),
        f"{rng.choice(COMMUNES)}, ngày {rng.randint(1, 28)} tháng {rng.randint(1, 12)}",
        cv.font("italic"),
    )
    cv.newline(2)
    cv.put(
        cv.left,
        rng.choice(["Bố mẹ kính mến,", "Chị Lan thân mến,", "Kính gửi quý khách hàng,", "Thân gửi các bạn,"]),
        f,
    )
    cv.newline(1.5)
    for _ in range(rng.randint(2, 5)):
        cv.paragraph(" ".join(rng.sample(LETTER_SENTENCES, k=rng.randint(2, 4))), f, justify=False)
    cv.newline()
    cv.put(cv.right - cv.px(60), rng.choice(["Con của bố mẹ", "Thân mến", "Trân trọng"]), f)
    _signature(cv, rng, cv.right - cv.px(40), cv.y + cv.px(15))
    return cv.to_bgr()


def render_receipt(rng: random.Random, dpi: int = 100) -> np.ndarray:
    w_mm = rng.choice([58, 80])
    lines = rng.randint(15, 35)
    cv = Canvas(w_mm, 30 + lines * 5.5, dpi, "dejavu-sans", 8, paper=(248, 248, 246), margins_mm=(4, 5, 4, 5))
    mono = _font(MONO_FONT, cv.size(8))
    cv.centred(
        rng.choice(["CỬA HÀNG TIỆN LỢI", "SIÊU THỊ MINI", "NHÀ THUỐC AN KHANG", "QUÁN CÀ PHÊ"]),
        face("dejavu-sans", "bold", cv.size(9)),
    )
    cv.newline()
    cv.centred("HÓA ĐƠN BÁN LẺ", mono)
    cv.newline(1.2)
    for _ in range(lines):
        item = rng.choice(["Nước suối", "Bánh mì", "Sữa tươi", "Mì gói", "Cà phê", "Khăn giấy", "Thuốc"])
        cv.put(cv.left, f"{item[:12]:<12} {rng.randint(1, 5)} x {rng.randint(5, 90)}.000", mono)
        cv.newline(0.8)
        if cv.y > cv.image.height - cv.px(15):
            break
    cv.put(cv.left, f"TỔNG CỘNG: {rng.randint(50, 900)}.000 đ", mono)
    return cv.to_bgr()


def texture_photo(rng: random.Random) -> np.ndarray:
    from kiosk.synth.camera import background as make_bg

    fw = rng.choice([1280, 1600])
    fh = round(fw * rng.choice([0.75, 0.5625, 1.33]))
    img = make_bg(
        rng.choice(["wood", "desk", "cloth", "stone"]), (fw, fh), np.random.default_rng(rng.randrange(2**32))
    )
    return _camera_effects(img.astype(np.float32), rng)


def other_paper(
    rng: random.Random, dpi: int = 100, family: str | None = None, sentences: Sequence[str] = SENTENCES[:12]
) -> np.ndarray:
    """A flat 'other' paper: plain text page, letter or till receipt."""
    r = rng.random()
    if r < 0.45:
        return render_text_page(rng, dpi, family, sentences)
    if r < 0.75:
        return render_letter(rng, dpi, family)
    return render_receipt(rng, dpi)


# --- augmentation -----------------------------------------------------------------------------------


def scan_of(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A flatbed-like version: small rotation with a grey lid tone around, blur, noise, sometimes grey,
    JPEG."""
    h, w = img.shape[:2]
    ang = rng.uniform(-3, 3)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
    lid = rng.randint(200, 235)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(lid, lid, lid)).astype(
        np.float32
    )
    out *= rng.uniform(0.85, 1.05)
    if rng.random() < 0.5:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, 1.0)), np.float32)
    out += np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(0.5, 4), out.shape)
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out8 = np.asarray(cv2.cvtColor(cv2.cvtColor(out8, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR), np.uint8)
    return jpeg(out8, rng.randint(60, 95))


def augment_page(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """A page as the kiosk may see it: a clean flat capture, a flatbed scan, or (less often) a camera
    photo with the background still around it."""
    r = rng.random()
    if r < 0.25:
        return jpeg(img, rng.randint(75, 95))
    if r < 0.8:
        return scan_of(img, rng)
    sideways = rng.random() < 0.5
    frame = (1600, 900) if sideways else (1200, 1600)
    obj = (
        cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE if rng.random() < 0.5 else cv2.ROTATE_90_COUNTERCLOCKWISE)
        if sideways
        else img
    )
    return photo_of(obj, rng, frame=frame, fill=rng.uniform(0.45, 0.8), max_rot=5)


def generate(kind: str, rng: random.Random, *, heldout: bool = False, dpi: int = 100) -> np.ndarray:
    """One image of paper ``kind`` as the kiosk would capture it. ``heldout`` draws fonts and sentences
    from the pools kept apart from training."""
    fonts = HELDOUT_FONTS if heldout else TRAIN_FONTS
    sentences = SENTENCES[12:] if heldout else SENTENCES[:12]
    family = rng.choice(fonts)
    if kind == "id_card":
        return id_card(rng, dpi=2 * dpi, family="liberation-sans" if heldout and rng.random() < 0.5 else None)
    if kind == "application_form":
        return augment_page(application_form(rng, dpi, family), rng)
    if kind == "decision_or_certificate":
        return augment_page(decision_or_certificate(rng, dpi, family, sentences), rng)
    if kind == "other":
        if rng.random() < 0.15:
            return texture_photo(rng)
        return augment_page(other_paper(rng, dpi, family, sentences), rng)
    raise ValueError(f"unknown kind {kind}")
