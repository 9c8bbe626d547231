"""Sticky-note detection (R6: a page with a sticky note is captured twice, with and without the note).

A sticky note is a large, evenly coloured, saturated square or rectangle lying on the page. The page is
brought to about 4 px/mm; pixels that are saturated and bright (HSV S >= 60, V >= 110) form a colour mask,
closed over 3 mm so the writing on the note does not cut it up. A blob is a note when:

* both sides of its minimum-area rectangle are 25-130 mm and the blob fills that rectangle (>= 85 %),
* before the closing, the note colour covers most of the rectangle (>= 60 %): a red seal is a ring of
  strokes with paper inside, so its colour covers a small part of its box, and it is round,
* its hue is consistent (one colour, not a colour photo).

``box`` is the axis-aligned bounding box of the note ([x0, y0, x1, y1], x1/y1 exclusive, input pixels);
``quad`` its four corners. Coloured paper (the whole page tinted) is not a note: its tint is the
background, and a note must be clearly more saturated than the page around it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

WORK_PX_PER_MM = 4.0
MIN_SIDE_MM = 25.0
MAX_SIDE_MM = 130.0


@dataclass(frozen=True)
class StickyResult:
    """``sticky``: a note was found; ``box``: its bounding box [x0, y0, x1, y1] (exclusive) in input pixels
    or None; ``quad``: its corners (4 x [x, y]) or None; ``hue_deg``: its colour."""

    sticky: bool
    box: tuple[int, int, int, int] | None
    quad: list[list[float]] | None = None
    hue_deg: float | None = None


def detect_sticky(image: np.ndarray, *, page_long_mm: float = 297.0) -> StickyResult:
    """Find a sticky note on a page image (BGR; a dewarped page or a scan of any resolution).
    ``page_long_mm`` is the paper's long side, to convert pixels to millimetres."""
    if image.ndim != 3:
        return StickyResult(False, None)
    h, w = image.shape[:2]
    f = min(1.0, WORK_PX_PER_MM * page_long_mm / max(h, w))
    small = cv2.resize(image, (max(16, round(w * f)), max(16, round(h * f))), interpolation=cv2.INTER_AREA)
    fx, fy = small.shape[1] / w, small.shape[0] / h
    pxmm = max(small.shape[:2]) / page_long_mm
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    s_ch = hsv[:, :, 1]
    v_ch = hsv[:, :, 2]
    # saturated against the page around it (tinted paper is not a note)
    page_sat = float(np.median(s_ch))
    colour = ((s_ch.astype(np.int16) >= max(60.0, page_sat + 40)) & (v_ch >= 110)).astype(np.uint8)
    k = max(3, round(3 * pxmm) | 1)
    closed = cv2.morphologyEx(colour, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    closed = cv2.morphologyEx(closed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    cnts, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best: tuple[float, np.ndarray, float] | None = None
    for c in cnts:
        area = cv2.contourArea(c)
        if area < (MIN_SIDE_MM * pxmm) ** 2:
            continue
        (cx, cy), (rw, rh), ang = cv2.minAreaRect(c)
        if not (MIN_SIDE_MM * pxmm <= min(rw, rh) and max(rw, rh) <= MAX_SIDE_MM * pxmm):
            continue
        if max(rw, rh) / max(min(rw, rh), 1.0) > 2.0:
            continue
        if area / (rw * rh) < 0.85:
            continue
        pts = cv2.boxPoints(((cx, cy), (rw, rh), ang))
        mask = np.zeros(colour.shape, np.uint8)
        cv2.fillConvexPoly(mask, np.round(pts).astype(np.int32), 1)
        inside = mask > 0
        cover = float(colour[inside].mean())
        if cover < 0.6:
            continue
        hues = hsv[:, :, 0][inside & (colour > 0)].astype(np.float64) * 2 * math.pi / 180
        # circular spread of the hue
        r = math.hypot(float(np.cos(hues).mean()), float(np.sin(hues).mean()))
        if r < 0.9:
            continue
        hue = math.degrees(math.atan2(float(np.sin(hues).mean()), float(np.cos(hues).mean()))) % 360
        if best is None or area > best[0]:
            best = (area, pts, hue)
    if best is None:
        return StickyResult(False, None)
    _, pts, hue = best
    # box points are pixel-centre coordinates of the small image; back to input corner-origin pixels
    full = np.stack([(pts[:, 0] + 0.5) / fx, (pts[:, 1] + 0.5) / fy], axis=1)
    x0 = max(0, math.floor(full[:, 0].min()))
    y0 = max(0, math.floor(full[:, 1].min()))
    x1 = min(w, math.ceil(full[:, 0].max()))
    y1 = min(h, math.ceil(full[:, 1].max()))
    from kiosk.vision.geometry import order_corners

    quad = [[round(float(x), 1), round(float(y), 1)] for x, y in order_corners(full)]
    return StickyResult(True, (x0, y0, x1, y1), quad, round(hue, 1))
