"""Still processing: dewarp to the true aspect at >= 200 dpi, orientation, deskew."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kiosk.synth.camera import make_frame, page_bgr
from kiosk.vision.dewarp import estimate_skew, orientation, page_pixels, rotate, turn
from kiosk.vision.geometry import quad_iou
from kiosk.vision.still import process_scan, process_still


@pytest.fixture(scope="module")
def still() -> object:
    # a 2560x1440 still of a 200 dpi page, the page sideways (its top to the left)
    return make_frame(size=(2560, 1440), still_size=(2560, 1440), seed=7, page=page_bgr(seed=1, dpi=200),
                      rotation_deg=88.0, background_kind="wood", soft_shadow=False)


def test_process_still_dewarps_and_turns_upright(still) -> None:
    page = process_still(still.image, paper="A4", min_dpi=200)
    assert page.found is True
    native = still.still_dpi
    assert page.native_dpi == pytest.approx(native, abs=1.5)
    assert page.dpi == max(200, round(page.native_dpi))
    assert page.image.shape[:2] == page_pixels("A4", page.dpi)[::-1]
    # the page's own corners, TL first: orientation found the top
    assert np.abs(np.array(page.corners) - still.corners).max() < 4.0
    assert quad_iou(np.array(page.corners), still.corners) > 0.995
    assert page.rotation in (90, 270)
    assert page.blank.blank is False and page.sticky.sticky is False


def test_upright_output_matches_the_page(still) -> None:
    page = process_still(still.image, dpi=200)
    ref = cv2.cvtColor(page_bgr(seed=1, dpi=200), cv2.COLOR_BGR2GRAY).astype(np.float32)
    out = cv2.cvtColor(page.image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    assert out.shape == ref.shape
    # compare ink layouts at low resolution: the same page, upright
    a = cv2.resize(255 - ref, (83, 117), interpolation=cv2.INTER_AREA)
    b = cv2.resize(255 - out, (83, 117), interpolation=cv2.INTER_AREA)
    corr = float(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    flipped = float(np.corrcoef(a.ravel(), b[::-1, ::-1].ravel())[0, 1])
    assert corr > 0.8 and corr > flipped + 0.3


def test_corners_hint_is_refined(still) -> None:
    rough = still.corners + np.array([[6, -5], [-4, 7], [5, 5], [-6, -4]])
    page = process_still(still.image, corners_hint=rough, dpi=200)
    assert np.abs(np.array(page.corners) - still.corners).max() < 2.0


def test_small_page_is_upsampled_and_flagged() -> None:
    f = make_frame(size=(1280, 720), still_size=(1280, 720), seed=3, background_kind="desk")
    page = process_still(f.image, min_dpi=200)
    assert page.native_dpi < 120
    assert page.dpi == 200 and page.low_resolution is True
    assert page.summary()["low_resolution"] is True


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_orientation_of_quarter_turns(k: int) -> None:
    img = page_bgr(seed=2, dpi=150)
    turned = np.ascontiguousarray(np.rot90(img, k))  # content turned k x 90 counter-clockwise
    o = orientation(turned)
    assert o.method == "text-lines"
    assert o.rotation == (90 * k) % 360
    assert np.array_equal(turn(turned, o.rotation), img)


def test_orientation_of_blank_page_is_left_alone() -> None:
    o = orientation(np.full((600, 420, 3), 245, np.uint8))
    assert (o.rotation, o.method) == (0, "none")


@pytest.mark.parametrize("angle", [1.7, -2.3])
def test_deskew_of_a_scan(angle: float) -> None:
    img = page_bgr(seed=4, dpi=150)
    skewed = rotate(img, angle, fill=(215, 215, 215))
    assert estimate_skew(skewed) == pytest.approx(angle, abs=0.1)
    page = process_scan(skewed, dpi=150)
    assert page.skew_deg == pytest.approx(angle, abs=0.1)
    assert abs(estimate_skew(page.image)) < 0.2
    assert page.rotation == 0 and page.corners is None


def test_blank_back_side_in_a_still_is_flagged(docs) -> None:
    f = make_frame(size=(2560, 1440), still_size=(2560, 1440), seed=2, page=docs.punched(2),
                   background_kind="stone")
    page = process_still(f.image)
    assert page.found is True
    assert page.blank.blank is True and page.blank.ignored["punch_holes"] == 2
    assert page.orientation.method == "none" and page.rotation == 0
    assert page.summary()["blank"] is True
