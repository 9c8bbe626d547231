"""OCR on generated Vietnamese pages: text accuracy, word boxes on the rendered lines, NFC, confidences,
deskew with boxes mapped back to the input, and the `kiosk ocr` / `kiosk bench ocr` commands."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from kiosk.cli import main
from kiosk.synth.page import RenderedPage, render_page
from kiosk.vision.cli_ocr import is_photo
from kiosk.vision.ocr import image_dpi, ocr_image_file, ocr_page
from kiosk.vision.ocr_metrics import char_error_rate
from kiosk.vision.types import OcrPage

PARAS = [
    "Bộ phận Một cửa có trách nhiệm kiểm tra, tiếp nhận hồ sơ, cập nhật thông tin vào Hệ thống thông tin "
    "giải quyết thủ tục hành chính và chuyển hồ sơ đến cơ quan có thẩm quyền giải quyết.",
    "Tổ chức, cá nhân chịu trách nhiệm về tính hợp pháp của hồ sơ, giấy tờ đã nộp.",
]


@pytest.fixture(scope="module")
def page() -> RenderedPage:
    return render_page(PARAS, heading="THÔNG BÁO", paper="A5", dpi=200, font_pt=13, max_lines=7, seed=3)


def _crop(page: RenderedPage) -> np.ndarray:
    """The page rows down to just below the last line (same coordinates, less to OCR)."""
    bottom = max(line.box[3] for line in page.lines) + 40
    rgb = np.asarray(page.image)[:bottom]
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def ocr_bgr(page: RenderedPage) -> OcrPage:
    return ocr_page(_crop(page), 200)


def test_clean_render_is_read_accurately(page: RenderedPage, ocr_bgr: OcrPage) -> None:
    r = char_error_rate(page.text, ocr_bgr.text)
    assert r.ref_chars > 200
    assert r.cer <= 0.01, (r.cer, ocr_bgr.text)
    assert len(ocr_bgr.text.split("\n")) == len(page.lines)


def test_output_is_nfc_with_confidences_and_size(page: RenderedPage, ocr_bgr: OcrPage) -> None:
    crop = _crop(page)
    assert ocr_bgr.width == crop.shape[1] and ocr_bgr.height == crop.shape[0]
    assert ocr_bgr.text == unicodedata.normalize("NFC", ocr_bgr.text)
    assert 50.0 <= ocr_bgr.confidence <= 100.0
    assert ocr_bgr.words
    for w in ocr_bgr.words:
        assert w.text == unicodedata.normalize("NFC", w.text) and w.text.strip() == w.text and w.text
        assert 0.0 <= w.confidence <= 100.0
    # the text is the words joined by spaces, lines by newlines
    lines: dict[int, list[str]] = {}
    for w in ocr_bgr.words:
        lines.setdefault(w.line, []).append(w.text)
    assert ocr_bgr.text == "\n".join(" ".join(v) for _, v in sorted(lines.items()))


def test_word_boxes_lie_on_the_rendered_lines(page: RenderedPage, ocr_bgr: OcrPage) -> None:
    tol = 6
    used_lines = set()
    for w in ocr_bgr.words:
        x0, y0, x1, y1 = w.box
        assert x0 < x1 and y0 < y1
        cy = (y0 + y1) / 2
        hits = [i for i, ln in enumerate(page.lines) if ln.box[1] <= cy < ln.box[3]]
        assert len(hits) == 1, (w, hits)
        lx0, ly0, lx1, ly1 = page.lines[hits[0]].box
        assert lx0 - tol <= x0 and x1 <= lx1 + tol, (w, page.lines[hits[0]])
        assert ly0 - tol <= y0 and y1 <= ly1 + tol, (w, page.lines[hits[0]])
        used_lines.add(hits[0])
    assert used_lines == set(range(len(page.lines)))
    # line numbers follow the rendered lines top to bottom
    per_line = {w.line: (w.box[1] + w.box[3]) / 2 for w in ocr_bgr.words}
    ys = [per_line[k] for k in sorted(per_line)]
    assert ys == sorted(ys)


def test_grey_input_and_skewed_input_map_boxes_back(page: RenderedPage) -> None:
    crop = cv2.cvtColor(_crop(page), cv2.COLOR_BGR2GRAY)
    h, w = crop.shape
    angle = 1.8  # content rotated counter-clockwise, as on a flatbed
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    skewed = cv2.warpAffine(crop, m, (w, h), flags=cv2.INTER_CUBIC, borderValue=250)
    res = ocr_page(skewed, 200)
    assert res.width == w and res.height == h
    assert char_error_rate(page.text, res.text).cer <= 0.02, res.text
    # every word box centre lies inside its rendered line's box moved by the same rotation
    for word in res.words:
        cx, cy = (word.box[0] + word.box[2]) / 2, (word.box[1] + word.box[3]) / 2
        inside = False
        for ln in page.lines:
            x0, y0, x1, y1 = ln.box
            quad = cv2.transform(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]], np.float64), m)[0]
            if cv2.pointPolygonTest(quad.astype(np.float32), (cx, cy), True) >= -4:
                inside = True
                break
        assert inside, word


def test_image_file_dpi_from_metadata(tmp_path: Path, page: RenderedPage) -> None:
    path = tmp_path / "page.png"
    Image.fromarray(cv2.cvtColor(_crop(page), cv2.COLOR_BGR2RGB)).save(path, dpi=(200, 200))
    assert image_dpi(path) == 200
    res = ocr_image_file(path)
    assert char_error_rate(page.text, res.text).cer <= 0.01
    bare = tmp_path / "bare.jpg"
    cv2.imwrite(str(bare), _crop(page))
    assert image_dpi(bare) is None


def test_photo_or_flat_page_guess() -> None:
    assert is_photo(np.zeros((2160, 3840, 3), np.uint8))
    assert is_photo(np.zeros((1080, 1920), np.uint8))
    assert not is_photo(np.zeros((2339, 1654, 3), np.uint8))  # A4 at 200 dpi
    assert not is_photo(np.zeros((1654, 2339), np.uint8))


def test_cli_ocr_and_bench(tmp_path: Path, page: RenderedPage, capsys: pytest.CaptureFixture[str]) -> None:
    img = tmp_path / "p1.png"
    cv2.imwrite(str(img), _crop(page))
    (tmp_path / "p1.txt").write_text(page.text + "\n", "utf-8")
    assert main(["ocr", "--dpi", "200", str(img)]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert set(out) == {"file", "text", "confidence"}
    assert out["file"] == str(img)
    assert char_error_rate(page.text, out["text"]).cer <= 0.01
    assert 0 <= out["confidence"] <= 100
    assert main(["bench", "ocr", str(tmp_path)]) == 0
    bench = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert bench["images"] == 1 and bench["cer"] <= 0.01
    assert bench["cer"] == pytest.approx(bench["tone_cer"] + bench["base_cer"], abs=1e-5)
    assert bench["seconds_per_page_median"] > 0


def test_cli_unreadable_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    assert main(["ocr", str(bad)]) == 1
    assert "x.png" in capsys.readouterr().err


def test_camera_still_goes_through_the_still_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    """A 3840x2160 still with the page lying sideways in perspective on a textured background."""
    page = render_page(PARAS[:1], heading="THÔNG BÁO", paper="A4", dpi=200, font_pt=14, max_lines=6, seed=3)
    src = cv2.cvtColor(np.asarray(page.image), cv2.COLOR_RGB2BGR)
    h, w = src.shape[:2]
    big_w, big_h = 3840, 2160
    rng = np.random.default_rng(1)
    bg = (rng.normal(0, 12, (big_h, big_w, 3)) + np.array([60, 90, 120])).clip(0, 255).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 3)
    quad = np.array([[700, 2050], [760, 120], [3100, 160], [3150, 2000]], np.float32)  # page TL, TR, BR, BL
    m = cv2.getPerspectiveTransform(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32), quad)
    warped = cv2.warpPerspective(src, m, (big_w, big_h), flags=cv2.INTER_AREA)
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (big_w, big_h))
    still = np.where(inside[..., None] > 0, warped, bg)
    path = tmp_path / "still.jpg"
    cv2.imwrite(str(path), still, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert main(["ocr", str(path)]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert char_error_rate(page.text, out["text"]).cer <= 0.01, out["text"]
