"""Band splitting for concurrent OCR of one page (kiosk.vision.ocr_bands) and the page scheduler.

Generated 200 dpi pages: cuts fall only on blank rows between lines (also for lines whose tone marks and
dots are detached from the letters), never through a vertical rule or a table; blank and tiny images
give one band. With real Tesseract: a page read as 2 bands gives the same text, words, line numbers and
(within a few px) boxes as the 1-band run, in input pixels, also for a skewed input.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kiosk.config import from_dict
from kiosk.errors import ConfigError
from kiosk.synth.page import SAMPLE_PARAGRAPHS, RenderedPage, render_page
from kiosk.vision import ocr
from kiosk.vision.ocr import CharInfo, RawWord, ocr_page_banded, ocr_pages_banded
from kiosk.vision.ocr_bands import Band, band_image, find_bands, ink_mask, merge_band_words
from kiosk.vision.ocr_metrics import char_error_rate
from kiosk.vision.types import OcrPage

DPI = 200
PX_MM = DPI / 25.4
DEJAVU = "/usr/share/fonts/truetype/dejavu/"


def _grey(page: RenderedPage) -> np.ndarray:
    return cv2.cvtColor(np.asarray(page.image), cv2.COLOR_RGB2GRAY)


def _assert_partition(bands: list[Band], height: int) -> None:
    assert bands[0].y0 == 0 and bands[-1].y1 == height
    for a, b in itertools.pairwise(bands):
        assert a.y1 == b.y0
    assert all(b.height > 0 for b in bands)


def _cuts(bands: list[Band]) -> list[int]:
    return [b.y0 for b in bands[1:]]


@dataclass
class Drawn:
    """A page drawn with PIL: grey image and the ink boxes [x0, y0, x1, y1) of its text lines and
    other objects."""

    grey: np.ndarray
    lines: list[tuple[int, int, int, int]] = field(default_factory=list)
    objects: list[tuple[int, int, int, int]] = field(default_factory=list)


class Canvas:
    def __init__(self, width_mm: float = 210, height_mm: float = 297) -> None:
        self.img = Image.new("L", (round(width_mm * PX_MM), round(height_mm * PX_MM)), 250)
        self.draw = ImageDraw.Draw(self.img)
        self.out = Drawn(np.zeros(0, np.uint8))

    def text(self, xy: tuple[int, int], text: str, size_pt: float = 12, font: str = "DejaVuSerif.ttf"
             ) -> tuple[int, int, int, int]:
        f = ImageFont.truetype(DEJAVU + font, round(size_pt / 72 * DPI))
        self.draw.text(xy, text, font=f, fill=20)
        x0, y0, x1, y1 = self.draw.textbbox(xy, text, font=f)
        box = (int(x0), int(y0), int(x1) + 1, int(y1) + 1)
        self.out.lines.append(box)
        return box

    def paragraph(self, y: int, n: int, pitch: int, text: str = "", x: int = 240) -> int:
        words = (text or " ".join(SAMPLE_PARAGRAPHS)).split()
        for i in range(n):
            self.text((x, y), " ".join(words[i * 9:(i + 1) * 9]))
            y += pitch
        return y

    def done(self) -> Drawn:
        self.out.grey = np.asarray(self.img).copy()
        return self.out


def _inside(y: int, boxes: list[tuple[int, int, int, int]]) -> bool:
    return any(b[1] <= y < b[3] for b in boxes)


# ------------------------------------------------------------------ band finder


@pytest.fixture(scope="module")
def a4() -> RenderedPage:
    return render_page(dpi=DPI, seed=4)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_cuts_fall_on_blank_rows_between_lines(a4: RenderedPage, n: int) -> None:
    grey = _grey(a4)
    bands = find_bands(grey, DPI, n)
    assert len(bands) == n
    _assert_partition(bands, grey.shape[0])
    for y in _cuts(bands):
        assert not _inside(y, [ln.box for ln in a4.lines]), y
        assert grey[y].min() >= 240  # the cut row itself is paper only, across the full width
        above = [ln for ln in a4.lines if ln.box[3] <= y]
        below = [ln for ln in a4.lines if ln.box[1] > y]
        assert len(above) + len(below) == len(a4.lines)
    # the ink is balanced: each band holds about 1/n of the text lines' ink
    mask, _ = ink_mask(grey, DPI)
    rows = mask.sum(axis=1)
    total = rows.sum()
    fy = grey.shape[0] / mask.shape[0]
    for b in bands:
        share = rows[round(b.y0 / fy):round(b.y1 / fy)].sum() / total
        assert abs(share - 1 / n) <= 0.3 / n + 0.02, (n, share)


def test_detached_tone_marks_and_dots_stay_with_their_line() -> None:
    """Lines without ascenders or descenders: the marks above (ã, ố, ủ) and the dots below (ụ, ạ, ọ)
    are separated from the letters by blank rows; cuts fall only between lines."""
    c = Canvas()
    texts = ["mã số của cơ ưa ô ơ ả ẫ ồ", "rụ sở ạ vũ nọ mẹ rạ ụ ọ ẹ", "ẤN ĐỊNH ÔN ỔN ẢO ỦY ÁN"]
    y = 200
    for i in range(36):
        c.text((240, y), texts[i % 3], size_pt=13, font="DejaVuSans.ttf")
        y += round(13 / 72 * DPI * 1.5)
    d = c.done()
    # the detached marks really leave blank rows inside a line box
    marks_gap = [yy for yy in range(d.lines[0][1], d.lines[0][3]) if d.grey[yy].min() >= 240]
    assert marks_gap
    for n in (2, 3, 4):
        bands = find_bands(d.grey, DPI, n)
        assert len(bands) == n
        for cut in _cuts(bands):
            assert not _inside(cut, d.lines), (n, cut)


def test_full_height_vertical_rule_gives_one_band() -> None:
    c = Canvas()
    c.paragraph(200, 40, 52)
    c.draw.line([(180, 60), (180, c.img.height - 60)], fill=30, width=2)  # a margin rule, top to bottom
    d = c.done()
    for n in (2, 4):
        assert find_bands(d.grey, DPI, n) == [Band(0, d.grey.shape[0])]


def _table(c: Canvas, y: int, rows: int, ruled: bool) -> tuple[int, int, int, int]:
    """A 3-column table from row y; returns its box."""
    x = [240, 620, 1000, 1420]
    row_h = 60
    for r in range(rows):
        for k, cell in enumerate(("Số thứ tự", "Tên giấy tờ", "Bản chính")):
            c.text((x[k] + 15, y + r * row_h + 12), f"{cell} {r + 1}", size_pt=11)
    box = (x[0], y, x[-1], y + rows * row_h)
    if ruled:
        for xx in x:
            c.draw.line([(xx, y), (xx, box[3])], fill=30, width=2)
        for r in range(rows + 1):
            c.draw.line([(x[0], y + r * row_h), (x[-1], y + r * row_h)], fill=30, width=2)
    c.out.objects.append(box)
    return box


@pytest.mark.parametrize("ruled", [True, False])
def test_tables_are_never_cut(ruled: bool) -> None:
    # a table in the middle of text: cuts, if any, fall above or below it
    c = Canvas()
    y = c.paragraph(200, 12, 52)
    box = _table(c, y + 40, 8, ruled)
    c.paragraph(box[3] + 60, 12, 52)
    d = c.done()
    for n in (2, 3, 4):
        bands = find_bands(d.grey, DPI, n)
        _assert_partition(bands, d.grey.shape[0])
        for cut in _cuts(bands):
            assert not box[1] <= cut < box[3], (n, cut, box)
            assert not _inside(cut, d.lines)
    # a table holding most of the page: no clean gap near the balanced position, so one band
    c = Canvas()
    y = c.paragraph(200, 3, 52)
    _table(c, y + 40, 26, ruled)
    d = c.done()
    assert find_bands(d.grey, DPI, 2) == [Band(0, d.grey.shape[0])]


def test_two_column_header_is_not_cut() -> None:
    """The two-column head of an administrative paper (agency left, national motto right)."""
    c = Canvas()
    head = [("UBND XÃ MẪU", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
            ("CÔNG AN XÃ", "Độc lập - Tự do - Hạnh phúc"),
            ("Số: 12/TB-CA", "Mẫu, ngày 01 tháng 3 năm 2026")] * 4
    y = 120
    for left, right in head:
        c.text((200, y), left, size_pt=11)
        c.text((900, y), right, size_pt=11)
        y += 60
    d = c.done()
    top = (d.lines[0][1], d.lines[-1][3])
    # only header: no cut inside it, so no band split at all
    assert find_bands(d.grey, DPI, 2) == [Band(0, d.grey.shape[0])]
    # header then body text: cuts only in the body
    c2 = Canvas()
    c2.img.paste(Image.fromarray(d.grey[:top[1] + 10]), (0, 0))
    c2.paragraph(top[1] + 80, 30, 52)
    d2 = c2.done()
    bands = find_bands(d2.grey, DPI, 3)
    assert len(bands) == 3
    assert all(cut > top[1] for cut in _cuts(bands))


def test_blank_tiny_and_single_band_requests() -> None:
    rng = np.random.default_rng(0)
    blank = np.clip(rng.normal(245, 3, (2339, 1654)), 0, 255).astype(np.uint8)
    assert find_bands(blank, DPI, 4) == [Band(0, 2339)]
    tiny = np.full((60, 300), 250, np.uint8)
    cv2.putText(tiny, "ab", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 0, 2)
    assert find_bands(tiny, DPI, 4) == [Band(0, 60)]
    assert find_bands(np.zeros((0, 10), np.uint8), DPI, 2) == [Band(0, 0)]
    c = Canvas()
    c.paragraph(200, 30, 52)
    d = c.done()
    assert find_bands(d.grey, DPI, 1) == [Band(0, d.grey.shape[0])]
    assert len(find_bands(d.grey, DPI, 2)) == 2
    # two lines of text: bands would be under the minimum height apart, so one band
    c = Canvas(height_mm=60)
    c.paragraph(100, 2, 52)
    d = c.done()
    assert find_bands(d.grey, DPI, 2) == [Band(0, d.grey.shape[0])]


def test_band_image_pads_only_cut_edges() -> None:
    grey = np.arange(100, dtype=np.uint8).reshape(100, 1).repeat(5, axis=1)
    img, off = band_image(grey, Band(0, 40), 7)
    assert img.shape == (47, 5) and off == 0 and (img[40:] == 39).all()
    img, off = band_image(grey, Band(40, 100), 7)
    assert img.shape == (67, 5) and off == 33 and (img[:7] == 40).all() and img[-1, 0] == 99
    img, off = band_image(grey, Band(30, 60), 7)
    assert img.shape == (44, 5) and off == 23 and (img[7:37, 0] == np.arange(30, 60)).all()


def test_merge_shifts_boxes_and_renumbers_lines() -> None:
    ch = CharInfo("a", (1, 2, 3, 4), 90.0, (("a", 90.0), ("ă", 40.0)))
    top = [RawWord("x", (0, 0, 10, 10), 90.0, 0, (ch,)), RawWord("y", (12, 0, 20, 10), 80.0, 0),
           RawWord("z", (0, 30, 10, 40), 70.0, 2)]  # Tesseract skips line 1 (an empty line)
    bottom = [RawWord("u", (5, 24, 9, 30), 60.0, 0, (ch,)), RawWord("v", (5, 44, 9, 50), 50.0, 1)]
    merged = merge_band_words([(0, top), (100, bottom)])
    assert [w.text for w in merged] == ["x", "y", "z", "u", "v"]
    assert [w.line for w in merged] == [0, 0, 1, 2, 3]
    assert [w.box for w in merged] == [(0, 0, 10, 10), (12, 0, 20, 10), (0, 30, 10, 40), (5, 124, 9, 130),
                                       (5, 144, 9, 150)]
    assert merged[0].chars == (ch,)
    assert merged[3].chars == (CharInfo("a", (1, 102, 3, 104), 90.0, (("a", 90.0), ("ă", 40.0))),)
    assert merge_band_words([(0, []), (50, bottom)])[0].line == 0


# ------------------------------------------------------------------ scheduler and config


@pytest.fixture
def settings() -> Iterator[None]:
    saved = ocr._settings
    yield
    ocr._settings = saved


def test_scheduler_shares_cores_between_pages(settings: None) -> None:
    assert ocr.bands_per_page(1, 2) == 2
    assert ocr.bands_per_page(6, 2) == 1
    assert ocr.bands_per_page(2, 4) == 2
    assert ocr.bands_per_page(0, 3) == 3
    # when whole pages would leave cores idle in the last round, pages are cut so the tasks divide evenly
    assert ocr.bands_per_page(3, 2) == 2  # 6 half pages in 3 rounds, not 3 pages in 2 with one core idle
    assert ocr.bands_per_page(3, 4) == 4
    assert ocr.bands_per_page(5, 4) == 4
    assert ocr.bands_per_page(7, 3) == 3
    ocr.configure(max_workers=3)
    assert ocr.available_cores() == 3
    ocr.configure(max_workers=0)
    assert ocr.available_cores() >= 1
    assert from_dict({"ocr": {"max_workers": 4}}).ocr.max_workers == 4
    with pytest.raises(ConfigError):
        from_dict({"ocr": {"max_workers": -1}})


# ------------------------------------------------------------------ with Tesseract

PARAS = [
    "Bộ phận Một cửa có trách nhiệm kiểm tra, tiếp nhận hồ sơ, cập nhật thông tin vào Hệ thống thông tin "
    "giải quyết thủ tục hành chính và chuyển hồ sơ đến cơ quan có thẩm quyền giải quyết.",
    "Tổ chức, cá nhân chịu trách nhiệm về tính hợp pháp của hồ sơ, giấy tờ đã nộp. Thời hạn giải quyết là "
    "ngay trong ngày làm việc.",
]


@pytest.fixture(scope="module")
def small_page() -> tuple[RenderedPage, np.ndarray]:
    page = render_page(PARAS, heading="THÔNG BÁO", paper="A5", dpi=DPI, font_pt=13, max_lines=10, seed=3)
    bottom = max(line.box[3] for line in page.lines) + 40
    return page, cv2.cvtColor(np.asarray(page.image)[:bottom], cv2.COLOR_RGB2BGR)


def _same_words(a: OcrPage, b: OcrPage, tol: int = 3) -> None:
    assert a.text == b.text
    assert (a.width, a.height) == (b.width, b.height)
    assert [(w.text, w.line) for w in a.words] == [(w.text, w.line) for w in b.words]
    for wa, wb in zip(a.words, b.words, strict=True):
        assert max(abs(p - q) for p, q in zip(wa.box, wb.box, strict=True)) <= tol, (wa, wb)


@pytest.fixture(scope="module")
def one_band(small_page: tuple[RenderedPage, np.ndarray]) -> OcrPage:
    res, used = ocr_page_banded(small_page[1], DPI, bands=1)
    assert used == 1
    return res


def test_two_bands_read_the_same_as_one(small_page: tuple[RenderedPage, np.ndarray], one_band: OcrPage
                                        ) -> None:
    page, image = small_page
    two, used = ocr_page_banded(image, DPI, bands=2)
    assert used == 2
    _same_words(one_band, two)
    assert char_error_rate(page.text, two.text).cer <= 0.01, two.text
    assert len(two.text.split("\n")) == len(page.lines)
    # boxes in input pixels: every word lies on its rendered line, lines numbered top to bottom
    for w in two.words:
        cy = (w.box[1] + w.box[3]) / 2
        hits = [i for i, ln in enumerate(page.lines) if ln.box[1] <= cy < ln.box[3]]
        assert hits == [w.line], (w, hits)


def test_two_bands_on_a_skewed_input_map_boxes_to_the_input(small_page: tuple[RenderedPage, np.ndarray]
                                                            ) -> None:
    page, image = small_page
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 1.5, 1.0)
    skewed = cv2.warpAffine(grey, m, (w, h), flags=cv2.INTER_CUBIC, borderValue=250)
    one, _ = ocr_page_banded(skewed, DPI, bands=1)
    two, used = ocr_page_banded(skewed, DPI, bands=2)
    assert used == 2
    _same_words(one, two)
    assert two.width == w and two.height == h
    for word in two.words:
        x0, y0, x1, y1 = page.lines[word.line].box
        quad = cv2.transform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64), m)[0]
        cx, cy = (word.box[0] + word.box[2]) / 2, (word.box[1] + word.box[3]) / 2
        assert cv2.pointPolygonTest(quad.astype(np.float32), (cx, cy), True) >= -4, word


def test_pages_of_one_paper_share_the_cores(small_page: tuple[RenderedPage, np.ndarray], one_band: OcrPage
                                            ) -> None:
    image = small_page[1]
    (single, used), = ocr_pages_banded([(image, DPI)], workers=2)
    assert used == 2
    _same_words(one_band, single)
    results = ocr_pages_banded([(image, DPI), (image, DPI)], workers=2)
    assert [u for _, u in results] == [1, 1]
    for res, _ in results:
        _same_words(one_band, res, tol=0)
