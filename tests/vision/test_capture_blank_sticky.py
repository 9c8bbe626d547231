"""Blank sides and sticky notes on generated page sides."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.synth.camera import page_bgr
from kiosk.vision.blank import detect_blank
from kiosk.vision.geometry import quad_iou
from kiosk.vision.sticky import detect_sticky


def box_iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    def q(x: tuple[int, int, int, int]) -> np.ndarray:
        return np.array([[x[0], x[1]], [x[2], x[1]], [x[2], x[3]], [x[0], x[3]]], float)
    return quad_iou(q(a), q(b))


def test_plain_paper_with_texture_is_blank(docs) -> None:
    r = detect_blank(docs.paper(1))
    assert r.blank is True and r.score == 0.0


def test_show_through_is_blank(docs) -> None:
    r = detect_blank(docs.bleed(2, contrast=0.08))
    assert r.blank is True and r.score == 0.0


def test_punch_holes_dust_and_hair_are_blank(docs) -> None:
    r = detect_blank(docs.punched(3))
    assert r.blank is True
    assert r.ignored["punch_holes"] == 2
    assert r.ignored["hairs"] == 1
    assert r.ignored["dust"] >= 20


def test_seal_only_is_not_blank(docs) -> None:
    p = docs.paper(4)
    docs.draw_seal(p, (800, 1200))
    r = detect_blank(p)
    assert r.blank is False and r.score > 50


@pytest.mark.parametrize("text,xy", [("Trang 2/2", (760, 2200)), ("- 2 -", (800, 150))])
def test_one_short_printed_line_is_not_blank(docs, text: str, xy: tuple[int, int]) -> None:
    p = docs.paper(5)
    docs.draw_text(p, text, xy)
    r = detect_blank(p)
    assert r.blank is False and r.score >= 1.0


def test_signature_scribble_is_not_blank(docs) -> None:
    p = docs.paper(6)
    docs.draw_signature(p, (900, 1800))
    assert detect_blank(p).blank is False


def test_text_page_is_not_blank() -> None:
    assert detect_blank(page_bgr(seed=1, dpi=200)).blank is False


@pytest.mark.parametrize("seed,angle,colour", [(1, 6.0, (120, 240, 255)), (2, -3.0, (150, 230, 130)),
                                               (3, 8.5, (200, 160, 255))])
def test_sticky_note_found_with_box(docs, seed: int, angle: float, colour: tuple[int, int, int]) -> None:
    page, box = docs.sticky_page(seed, angle=angle, colour=colour)
    r = detect_sticky(page)
    assert r.sticky is True
    assert r.box is not None and box_iou(r.box, box) >= 0.97
    assert r.quad is not None and len(r.quad) == 4


def test_red_seal_is_not_a_sticky_note(docs) -> None:
    p = page_bgr(seed=3, dpi=200)
    docs.draw_seal(p, (1100, 1900))
    r = detect_sticky(p)
    assert r.sticky is False and r.box is None


def test_plain_page_has_no_sticky_note() -> None:
    assert detect_sticky(page_bgr(seed=4, dpi=200)).sticky is False
