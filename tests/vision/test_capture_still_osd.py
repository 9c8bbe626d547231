"""A certificate (title, a few filled lines, emblem and seal: little running text) photographed sideways
comes out of the still pipeline upright: the text-line analysis is unsure, and OSD decides."""

from __future__ import annotations

import random

from kiosk.synth.camera import make_frame
from kiosk.synth.papers import render_certificate
from kiosk.vision.ocr import ocr_page
from kiosk.vision.still import process_still


def test_sideways_certificate_is_turned_upright() -> None:
    page = render_certificate(random.Random(0), dpi=300)  # portrait, titled GIẤY CHỨNG SINH
    assert page.shape[0] > page.shape[1]
    frame = make_frame(size=(3840, 2160), still_size=(3840, 2160), page=page, seed=5, rotation_deg=90.0,
                       coverage=0.62, tilt=0.05, soft_shadow=False, background_kind="desk")
    out = process_still(frame.image)
    assert out.found
    h, w = out.image.shape[:2]
    assert h > w, "the A4 certificate must come out portrait"
    assert out.orientation.method == "osd"
    text = ocr_page(out.image, out.dpi).text
    assert "GIẤY CHỨNG SINH" in text
