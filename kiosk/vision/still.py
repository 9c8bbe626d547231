"""Still processing: find the page -> dewarp it to the paper's true aspect ratio at >= 200 dpi (300 for
drawings) -> turn it upright -> blank-side and sticky-note checks.

``process_still`` takes a camera still (BGR). The page's corners come from ``corners_hint`` (e.g. the
preview's corners scaled to the still; refined here at full resolution) or from detection. Without a page
border in view (a page filling the whole still, or a flatbed scan) the whole image is taken as the page
and only deskewed. The output resolution is the page's native resolution in the still, but never below
``min_dpi``; ``native_dpi`` records what the camera really delivered (R8: checked and recorded).

``process_scan`` handles flatbed scans: deskew (text-line angle), orientation, checks.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kiosk.vision.blank import BlankResult, detect_blank
from kiosk.vision.dewarp import Orientation, dewarp, orientation, orientation_osd, page_pixels, rotate, turn
from kiosk.vision.geometry import detect_page, order_corners, paper_mm, refine_quad
from kiosk.vision.sticky import StickyResult, detect_sticky

log = logging.getLogger("kiosk.vision")


@dataclass
class ProcessedPage:
    """A page ready for OCR and the PDF: ``image`` (BGR, upright, true aspect), ``dpi`` (its resolution),
    ``native_dpi`` (the page's resolution in the input), ``rotation`` (clockwise quarter turn applied to
    make the text upright), ``corners`` (the page's own TL, TR, BR, BL in the input image, or None when
    the whole image was taken as the page), ``skew_deg`` (deskew applied to scans), the blank and sticky
    checks, and ``found`` (a page border was found)."""

    image: np.ndarray
    dpi: int
    native_dpi: float
    rotation: int
    corners: list[list[float]] | None
    paper: str
    found: bool
    orientation: Orientation
    blank: BlankResult
    sticky: StickyResult
    skew_deg: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def low_resolution(self) -> bool:
        return self.native_dpi < self.dpi - 0.5

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (no pixels)."""
        h, w = self.image.shape[:2]
        return {
            "width": w,
            "height": h,
            "dpi": self.dpi,
            "native_dpi": round(self.native_dpi, 1),
            "low_resolution": self.low_resolution,
            "rotation": self.rotation,
            "orientation_confidence": self.orientation.confidence,
            "corners": self.corners,
            "page_found": self.found,
            "skew_deg": round(self.skew_deg, 2),
            "blank": self.blank.blank,
            "blank_score": self.blank.score,
            "sticky": self.sticky.sticky,
            "sticky_box": list(self.sticky.box) if self.sticky.box else None,
        }


OSD_MIN_CONFIDENCE = 0.3  # Tesseract orientation_conf / 10


def _finish(img: np.ndarray, *, orient: bool, paper: str, t: dict[str, float]
            ) -> tuple[np.ndarray, Orientation, BlankResult, StickyResult]:
    t0 = time.perf_counter()
    o = orientation(img) if orient else Orientation(0, 0.0, "none")
    if orient and o.method == "none" and not detect_blank(img, paper).blank:
        # Too little running text for the text-line analysis (certificates: a title, a few filled lines,
        # a seal): ask Tesseract's OSD, slower (about 0.5-1 s) but it reads the glyphs themselves.
        osd = orientation_osd(img)
        if osd.method == "osd" and osd.confidence >= OSD_MIN_CONFIDENCE:
            o = osd
    up = turn(img, o.rotation)
    t["orientation"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    blank = detect_blank(up, paper)
    t["blank"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    sticky = detect_sticky(up, page_long_mm=paper_mm(paper)[1])
    t["sticky"] = (time.perf_counter() - t0) * 1e3
    return up, o, blank, sticky


def process_still(image_bgr: np.ndarray, *, corners_hint: np.ndarray | list[list[float]] | None = None,
                  paper: str = "A4", min_dpi: int = 200, dpi: int | None = None, orient: bool = True
                  ) -> ProcessedPage:
    """Find, dewarp, orient and check the page in a camera still (see the module docstring).
    ``dpi`` forces the output resolution (default: native, at least ``min_dpi``)."""
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    h, w = image_bgr.shape[:2]
    q: np.ndarray | None = None
    if corners_hint is not None:
        hint = order_corners(np.asarray(corners_hint, np.float64))
        radius = max(8.0, 0.006 * max(h, w))
        q, _, _, _ = refine_quad(image_bgr, hint, radius)
        q = order_corners(q)
    else:
        found = detect_page(image_bgr, paper=paper)
        if found is not None and found.sides_refined >= 3:
            q = found.corners
    t["find"] = (time.perf_counter() - t0) * 1e3
    _short_mm, long_mm = paper_mm(paper)
    if q is None:
        # no border in view: the whole image is the page (deskewed like a scan)
        page = process_scan(image_bgr, dpi=dpi or min_dpi, paper=paper, orient=orient)
        page.timings_ms = {**t, **page.timings_ms}
        return page
    s = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
    horiz, vert = (s[0] + s[2]) / 2, (s[1] + s[3]) / 2
    landscape = horiz > vert  # the page's long side runs across the image
    native = max(horiz, vert) / (long_mm / 25.4)
    out_dpi = int(dpi or max(min_dpi, math.floor(native + 0.5)))
    t0 = time.perf_counter()
    flat = dewarp(image_bgr, q, page_pixels(paper, out_dpi, landscape))
    t["dewarp"] = (time.perf_counter() - t0) * 1e3
    up, o, blank, sticky = _finish(flat, orient=orient, paper=paper, t=t)
    k = (o.rotation // 90) % 4
    own = np.roll(q, k, axis=0)  # the page's own TL, TR, BR, BL after the turn
    corners = [[round(float(x), 2), round(float(y), 2)] for x, y in own]
    log.debug("still processed", extra={"dpi": out_dpi, "native_dpi": round(native, 1),
                                          "rotation": o.rotation, "timings_ms": t})
    return ProcessedPage(up, out_dpi, float(native), o.rotation, corners, paper, True, o, blank, sticky,
                         0.0, t)


def process_scan(image_bgr: np.ndarray, *, dpi: int = 200, paper: str = "A4", orient: bool = True,
                 max_skew_deg: float = 5.0) -> ProcessedPage:
    """A flatbed scan (or a still whose page fills it): deskew, orientation, blank and sticky checks."""
    from kiosk.vision.dewarp import estimate_skew

    t: dict[str, float] = {}
    t0 = time.perf_counter()
    skew = estimate_skew(image_bgr, max_skew_deg)
    img = rotate(image_bgr, -skew) if abs(skew) >= 0.05 else image_bgr
    t["deskew"] = (time.perf_counter() - t0) * 1e3
    up, o, blank, sticky = _finish(img, orient=orient, paper=paper, t=t)
    return ProcessedPage(up, int(dpi), float(dpi), o.rotation, None, paper, False, o, blank, sticky,
                         float(skew), t)
