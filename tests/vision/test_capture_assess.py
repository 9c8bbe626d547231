"""Frame assessment on generated camera frames: reasons, corners, dpi, edge cases."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from kiosk.config import VisionConfig
from kiosk.synth.camera import background, make_frame
from kiosk.vision.assess import REASONS, assess_frame, calibrate
from kiosk.vision.geometry import quad_iou


def iou(a: object, b: np.ndarray) -> float:
    assert a is not None
    return quad_iou(np.asarray(a, float), b)


@pytest.mark.parametrize("seed,bg", [(11, "wood"), (12, "desk"), (13, "cloth"), (14, "stone")])
def test_ok_frames_are_ok_with_exact_corners(docs, seed: int, bg: str) -> None:
    f = docs.frame(seed=seed, background_kind=bg)
    assert f.label == "ok"
    a = assess_frame(f.image, still_size=f.still_size)
    assert a.reasons == []
    assert a.ok is True
    assert iou(a.corners, f.corners) >= 0.99
    assert a.dpi_estimate is not None and abs(a.dpi_estimate - f.still_dpi) <= 2.0
    assert a.dpi_estimate >= 200


@pytest.mark.parametrize("defect,reason,seed", [
    ("blur", "blur", 21), ("motion", "blur", 22), ("glare", "glare", 23), ("dark", "dark", 24),
    ("cutoff", "cutoff", 25), ("small", "low_resolution", 26),
])
def test_each_defect_gives_exactly_its_reason(docs, defect: str, reason: str, seed: int) -> None:
    f = docs.frame(seed=seed, defect=defect)
    a = assess_frame(f.image, still_size=f.still_size)
    assert a.reasons == [reason]
    assert a.ok is False
    assert a.corners is not None
    if defect != "cutoff":
        assert iou(a.corners, f.corners) >= 0.98


def test_cutoff_corner_lies_outside_the_frame(docs) -> None:
    f = docs.frame(seed=25, defect="cutoff")
    a = assess_frame(f.image, still_size=f.still_size)
    w, h = 1280, 720
    outside_true = [not (0 <= x < w and 0 <= y < h) for x, y in f.corners]
    assert any(outside_true)
    assert a.scores["margin_px"] is not None and a.scores["margin_px"] < 0
    assert iou(a.corners, f.corners) >= 0.9  # extrapolated from the visible sides


def test_page_filling_the_whole_frame_is_cut_off(docs) -> None:
    f = docs.frame(seed=31, fill=True)
    a = assess_frame(f.image, still_size=f.still_size)
    assert a.reasons == ["cutoff"]
    assert a.corners is None


@pytest.mark.parametrize("bg", ["dark", "white"])
def test_dark_and_white_desks(docs, bg: str) -> None:
    f = docs.frame(seed=40, background_kind=bg)
    a = assess_frame(f.image, still_size=f.still_size)
    assert a.reasons == []
    assert iou(a.corners, f.corners) >= 0.99


def test_page_rotated_45_degrees(docs) -> None:
    f = docs.frame(seed=41, rotation_deg=45.0, coverage=0.3)
    a = assess_frame(f.image, still_size=f.still_size)
    assert iou(a.corners, f.corners) >= 0.99
    assert a.reasons == ["low_resolution"]  # a diagonal A4 is too small in a 16:9 frame
    assert abs(a.dpi_estimate - f.still_dpi) <= 2.0


def test_hand_over_the_page_edge_does_not_move_the_corners(docs) -> None:
    f = docs.frame(seed=42, hand=True, background_kind="stone")
    a = assess_frame(f.image, still_size=f.still_size)
    assert a.reasons == []
    assert iou(a.corners, f.corners) >= 0.99


def test_tiny_id_card_is_low_resolution(docs) -> None:
    f = docs.frame(seed=43, paper="ID1", coverage=0.012)
    a = assess_frame(f.image, still_size=f.still_size, paper="ID-1")
    assert f.still_dpi < 200
    assert a.reasons == ["low_resolution"]
    assert iou(a.corners, f.corners) >= 0.95  # rounded corners: the sides' intersections
    assert abs(a.dpi_estimate - f.still_dpi) <= 0.03 * f.still_dpi


def test_id_card_close_enough_is_ok(docs) -> None:
    f = docs.frame(seed=44, paper="ID1", coverage=0.08)
    a = assess_frame(f.image, still_size=f.still_size, paper="ID-1")
    assert a.reasons == []
    assert iou(a.corners, f.corners) >= 0.98


def test_empty_desk_has_no_document() -> None:
    bg = background("wood", (1280, 720), np.random.default_rng(3))
    a = assess_frame(bg.astype(np.uint8))
    assert a.reasons == ["no_document"]
    assert a.corners is None and a.dpi_estimate is None


def test_still_size_scales_the_dpi(docs) -> None:
    f = docs.frame(seed=11, background_kind="wood")
    own = assess_frame(f.image)  # the frame is its own still
    big = assess_frame(f.image, still_size=(3840, 2160))
    assert big.dpi_estimate == pytest.approx(3 * own.dpi_estimate, rel=0.002)
    assert "low_resolution" in own.reasons and big.reasons == []
    via_cfg = assess_frame(f.image, cfg=VisionConfig(still_width=3840, still_height=2160))
    assert via_cfg.dpi_estimate == big.dpi_estimate


def test_thresholds_come_from_config(docs) -> None:
    f = docs.frame(seed=11, background_kind="wood")
    base = VisionConfig()
    strict = replace(base, blur_threshold=1.01, dark_luma=250.0, min_dpi=600)
    a = assess_frame(f.image, still_size=(3840, 2160), cfg=strict)
    assert a.reasons == ["blur", "dark", "low_resolution"]
    margin = replace(base, edge_margin_px=int(a.scores["margin_px"]) + 5)
    assert assess_frame(f.image, still_size=(3840, 2160), cfg=margin).reasons == ["cutoff"]
    drawing = assess_frame(f.image, still_size=(3840, 2160), drawing=True)
    assert drawing.reasons == (["low_resolution"] if f.still_dpi < 300 else [])


def test_json_shape_and_corner_order(docs) -> None:
    f = docs.frame(seed=12, background_kind="desk")
    a = assess_frame(f.image, still_size=f.still_size)
    j = a.to_json("x.jpg")
    assert list(j) == ["file", "ok", "reasons", "corners", "scores", "dpi_estimate"]
    assert set(j["reasons"]) <= set(REASONS)
    q = np.array(j["corners"])
    assert q.shape == (4, 2)
    # TL nearest the origin, then clockwise as displayed (positive signed area with y down)
    assert int(np.argmin(q.sum(axis=1))) == 0
    area = sum(q[i, 0] * q[(i + 1) % 4, 1] - q[(i + 1) % 4, 0] * q[i, 1] for i in range(4))
    assert area > 0
    for k in ("sharpness", "glare_fraction", "luma", "coverage", "margin_px", "edge_width_px"):
        assert isinstance(j["scores"][k], float) and math.isfinite(j["scores"][k])


def test_messages_are_vietnamese(docs) -> None:
    f = docs.frame(seed=21, defect="blur")
    a = assess_frame(f.image, still_size=f.still_size)
    assert a.messages("vi") == ["Ảnh bị mờ, hãy giữ yên giấy"]
    g = docs.frame(seed=23, defect="glare")
    assert assess_frame(g.image, still_size=g.still_size).messages("vi") == ["Bị chói sáng, hãy nghiêng giấy"]
    c = docs.frame(seed=25, defect="cutoff")
    msg = assess_frame(c.image, still_size=c.still_size).messages("vi")[0]
    assert msg.startswith("Giấy bị cắt mất góc")


def test_calibrate_suggests_thresholds_below_good_frames(docs) -> None:
    frames = [docs.frame(seed=s, background_kind=b) for s, b in ((11, "wood"), (12, "desk"), (13, "cloth"))]
    out = calibrate([f.image for f in frames], still_size=(3840, 2160))
    assert out["pages_found"] == 3
    sug = out["suggested"]
    sharp = [assess_frame(f.image, still_size=(3840, 2160)).scores["sharpness"] for f in frames]
    assert 0 < sug["blur_threshold"] < min(sharp)
    assert sug["dark_luma"] < out["stats"]["luma"]["p5"]
    assert sug["glare_fraction"] >= 0.01
    assert out["toml"].startswith("[vision]\n")
    blurred = make_frame(size=(1280, 720), still_size=(3840, 2160), seed=21, defect="blur")
    cfg = VisionConfig(blur_threshold=sug["blur_threshold"])
    assert "blur" in assess_frame(blurred.image, still_size=(3840, 2160), cfg=cfg).reasons
