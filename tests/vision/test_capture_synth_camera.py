"""The synthetic camera: corners, homography, defects and labels are what they claim."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.synth.camera import make_frame


def test_homography_maps_page_corners_to_frame_corners(docs) -> None:
    f = docs.frame(seed=11, background_kind="wood")
    pw, ph = f.page_size
    src = np.array([[0, 0, 1], [pw, 0, 1], [pw, ph, 1], [0, ph, 1]], float)
    dst = (f.homography @ src.T).T
    dst = dst[:, :2] / dst[:, 2:]
    assert np.allclose(dst, f.corners, atol=1e-6)
    assert f.image.shape == (720, 1280, 3) and f.image.dtype == np.uint8


def test_ok_frame_geometry_and_dpi(docs) -> None:
    f = docs.frame(seed=12, background_kind="desk")
    assert f.label == "ok"
    assert f.corners[:, 0].min() >= 20 and f.corners[:, 1].min() >= 20
    assert f.corners[:, 0].max() <= 1260 and f.corners[:, 1].max() <= 700
    s = np.linalg.norm(np.roll(f.corners, -1, axis=0) - f.corners, axis=1)
    long_edge = max((s[0] + s[2]) / 2, (s[1] + s[3]) / 2)
    assert f.still_dpi == pytest.approx(3 * long_edge / (297 / 25.4))
    assert f.still_dpi >= 200


def test_defects(docs) -> None:
    small = docs.frame(seed=26, defect="small")
    assert small.label == "small" and small.still_dpi < 200
    cut = docs.frame(seed=25, defect="cutoff")
    out = [(x < -29 or x > 1280 + 29 or y < -29 or y > 720 + 29) for x, y in cut.corners]
    assert 1 <= sum(out) <= 2
    glare = docs.frame(seed=23, defect="glare")
    assert 0.03 <= glare.params["glare_fraction"] <= 0.13
    # the glare core is saturated on the page
    sat = (glare.image.min(axis=2) >= 250).mean()
    assert sat > 0.005
    dark = docs.frame(seed=24, defect="dark")
    assert dark.image.mean() < 60


def test_same_seed_same_frame() -> None:
    a = make_frame(size=(320, 180), seed=5)
    b = make_frame(size=(320, 180), seed=5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.corners, b.corners)
