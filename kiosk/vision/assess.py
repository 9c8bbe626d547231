"""Live frame assessment: the per-frame hot path run on the camera's preview stream (R6, R8, R13).

``assess_frame`` finds the page's corners and scores the frame:

* ``sharpness`` (0..1, higher is sharper) combines two measures. The width of the page's edge, measured
  from the corner refinement's profiles across the page border (a sharp border steps within 2-3 px; blur
  and motion widen it); the second-widest side is used, so that one side disturbed by a glare halo or a
  hand does not decide alone. And the slope of text strokes on a few small full-resolution patches inside
  the page: the 99.5th percentile of the directional derivative, divided by the patch's ink-to-paper
  range, taken in the worst of four directions (motion blur smears one direction only).
* ``glare_fraction``: fraction of page pixels with every channel >= 250 (a saturated highlight).
* ``luma``: mean page luminance; ``coverage``: fraction of the frame the page quad covers;
  ``margin_px``: smallest distance of a corner inside the frame border (negative when outside).
* ``dpi_estimate``: the page's resolution in the still, from the mean length of its two long edges and the
  paper format.

Reasons: ``no_document``, ``blur``, ``glare``, ``dark``, ``cutoff``, ``low_resolution``. The thresholds come
from ``[vision]`` in the config (0 = the built-in defaults below) and can be calibrated for a camera with
``kiosk vision calibrate FRAMES...``.

Cost: everything but the corner refinement and the text patches works on a copy halved (2x2 area
average) until its long side is about 300-600 px; the refinement samples about 5,000 points along the
page edges with ``cv2.remap`` and the text patches are nine squares of at most 64 px. No full-resolution
copy of the frame is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from kiosk.config import VisionConfig
from kiosk.vision.geometry import (
    PageQuad,
    corner_angle_dev,
    detect_page,
    paper_mm,
    quad_area,
    work_copy,
)

REASONS = ("blur", "glare", "dark", "cutoff", "no_document", "low_resolution")

# Built-in defaults (used when the config value is 0).
DEFAULT_BLUR_THRESHOLD = 0.55  # sharpness below this: blur
DEFAULT_GLARE_FRACTION = 0.01  # saturated share of the page above this: glare
DEFAULT_DARK_LUMA = 75.0  # mean page luminance below this: dark
DEFAULT_EDGE_MARGIN_FRACTION = 0.004  # corner margin, as a fraction of the frame's long side
MIN_EDGE_MARGIN_PX = 4
MIN_PAGE_FRACTION = 0.01  # a "page" smaller than this share of the frame is no document

# Reference values of a sharp frame, for the 0..1 sharpness scale.
SHARP_EDGE_WIDTH_PX = 2.0
SHARP_TEXT_SLOPE = 0.30


@dataclass(frozen=True)
class Thresholds:
    blur: float
    glare_fraction: float
    dark_luma: float
    edge_margin_px: float
    min_dpi: float

    @classmethod
    def from_config(cls, cfg: VisionConfig, frame_size: tuple[int, int], *, drawing: bool = False
                    ) -> Thresholds:
        w, h = frame_size
        margin = float(cfg.edge_margin_px) if cfg.edge_margin_px > 0 else max(
            MIN_EDGE_MARGIN_PX, DEFAULT_EDGE_MARGIN_FRACTION * max(w, h))
        return cls(
            blur=cfg.blur_threshold if cfg.blur_threshold > 0 else DEFAULT_BLUR_THRESHOLD,
            glare_fraction=cfg.glare_fraction if cfg.glare_fraction > 0 else DEFAULT_GLARE_FRACTION,
            dark_luma=cfg.dark_luma if cfg.dark_luma > 0 else DEFAULT_DARK_LUMA,
            edge_margin_px=margin,
            min_dpi=float(cfg.drawing_min_dpi if drawing else cfg.min_dpi),
        )


@dataclass
class Assessment:
    """Result for one frame. ``corners`` are TL, TR, BR, BL in frame pixels (may lie outside the frame when
    the page is cut off) or None; ``scores`` hold the measured values (see the module docstring)."""

    ok: bool
    reasons: list[str]
    corners: list[list[float]] | None
    scores: dict[str, float | None] = field(default_factory=dict)
    dpi_estimate: float | None = None
    frame_size: tuple[int, int] = (0, 0)

    def to_json(self, file: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if file is not None:
            out["file"] = file
        out.update({
            "ok": self.ok,
            "reasons": list(self.reasons),
            "corners": self.corners,
            "scores": {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v)
                       for k, v in self.scores.items()},
            "dpi_estimate": self.dpi_estimate,
        })
        return out

    def messages(self, lang: str = "vi") -> list[str]:
        """What to tell the citizen, one message per reason (from the message catalogue)."""
        from kiosk.messages import t

        return [t(f"capture.{r}", lang) for r in self.reasons]


def _r(x: float, nd: int = 4) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), nd)


def _bilinear(q: np.ndarray, u: float, v: float) -> np.ndarray:
    return (1 - u) * (1 - v) * q[0] + u * (1 - v) * q[1] + u * v * q[2] + (1 - u) * v * q[3]


def text_sharpness(frame: np.ndarray, q: np.ndarray, patch: int) -> float:
    """Worst-direction stroke slope / ink range on up to nine patches inside quad q (median over the
    patches that hold ink); NaN when no patch holds text."""
    h, w = frame.shape[:2]
    tiles: list[np.ndarray] = []
    for u in (0.3, 0.5, 0.7):
        for v in (0.3, 0.5, 0.7):
            cx, cy = _bilinear(q, u, v)
            x0, y0 = round(cx - patch / 2), round(cy - patch / 2)
            if x0 < 0 or y0 < 0 or x0 + patch > w or y0 + patch > h:
                continue
            p = frame[y0:y0 + patch, x0:x0 + patch]
            if p.ndim == 3:
                if float((p.min(axis=2) >= 250).mean()) > 0.02:
                    continue  # glare
                tiles.append(cv2.cvtColor(p, cv2.COLOR_BGR2GRAY))
            else:
                tiles.append(p)
    if not tiles:
        return math.nan
    k = len(tiles)
    g = np.vstack(tiles).astype(np.float32)  # the patches stacked; borders between them dropped below
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3).reshape(k, patch, patch)[:, 1:-1, 1:-1] / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3).reshape(k, patch, patch)[:, 1:-1, 1:-1] / 8.0
    lo_hi = np.percentile(g.reshape(k, -1), (1, 99), axis=1)
    rng = lo_hi[1] - lo_hi[0]
    dirs = np.stack([gx, gy, (gx + gy) * 0.70710678, (gx - gy) * 0.70710678], axis=1)
    q995 = np.percentile(np.abs(dirs).reshape(k, 4, -1), 99.5, axis=2)  # (k, 4)
    inked = rng >= 20
    if not inked.any():
        return math.nan
    return float(np.median(q995[inked].min(axis=1) / rng[inked]))


def _edge_width(page: PageQuad) -> float:
    ws = sorted((w for w in page.edge_widths if not math.isnan(w)), reverse=True)
    if not ws:
        return math.nan
    return ws[1] if len(ws) >= 2 else ws[0]


def sharpness_score(edge_width: float, text_slope: float) -> float:
    """0..1 sharpness from the page-edge width and the text stroke slope (either may be NaN)."""
    parts: list[tuple[float, float]] = []
    if not math.isnan(edge_width):
        parts.append((min(1.0, SHARP_EDGE_WIDTH_PX / max(edge_width, 1e-3)), 0.6))
    if not math.isnan(text_slope):
        parts.append((min(1.0, max(text_slope, 1e-3) / SHARP_TEXT_SLOPE), 0.4))
    if not parts:
        return math.nan
    wsum = sum(w for _, w in parts)
    return float(math.exp(sum(w * math.log(max(s, 1e-3)) for s, w in parts) / wsum))


def estimate_dpi(corners: np.ndarray, frame_size: tuple[int, int], still_size: tuple[int, int] | None,
                 paper: str = "A4") -> float:
    """Resolution of the page in the still: mean length of its two long edges (in still pixels, the
    preview scaled to the still in each axis) over the paper's long side in inches."""
    w, h = frame_size
    sw, sh = still_size if still_size else frame_size
    q = np.asarray(corners, np.float64) * np.array([sw / w, sh / h])
    s = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
    long_px = max((s[0] + s[2]) / 2.0, (s[1] + s[3]) / 2.0)
    return float(long_px / (paper_mm(paper)[1] / 25.4))


def _page_stats(small: np.ndarray, q_small: np.ndarray) -> tuple[float, float]:
    """Mean luminance and saturated fraction of the page, on the small copy."""
    h, w = small.shape[:2]
    mask: np.ndarray = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(mask, np.round(q_small * 16).astype(np.int32), 1, lineType=cv2.LINE_8, shift=4)
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
    n = int(mask.sum())
    if n == 0:
        return math.nan, math.nan
    if small.ndim == 3:
        luma = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        mn = cv2.min(cv2.min(small[:, :, 0], small[:, :, 1]), small[:, :, 2])
    else:
        luma = small
        mn = small
    mean_luma = float(cv2.mean(luma, mask)[0])
    sat = float(np.count_nonzero((mn >= 250) & (mask > 0))) / n
    return mean_luma, sat


def fills_frame(small: np.ndarray, dark_luma: float = DEFAULT_DARK_LUMA) -> bool:
    """Does a page fill the whole (small) frame? Bright, neutral, even paper across the frame with dark
    thin strokes (text) in most of a 4 x 4 grid of cells."""
    if small.ndim == 3:
        luma = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        mx = cv2.max(cv2.max(small[:, :, 0], small[:, :, 1]), small[:, :, 2])
        mn = cv2.min(cv2.min(small[:, :, 0], small[:, :, 1]), small[:, :, 2])
        chroma = float(np.median(cv2.subtract(mx, mn)))
    else:
        luma, chroma = small, 0.0
    paper = cv2.morphologyEx(luma, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    med = float(np.median(paper))
    if chroma > 30 or med < max(dark_luma, 90):
        return False
    lo, hi = np.percentile(paper, (10, 90))
    if (hi - lo) > 0.5 * med:
        return False
    ink = luma.astype(np.int16) < paper.astype(np.int16) * 0.6
    h, w = luma.shape
    cells = 0
    for i in range(4):
        for j in range(4):
            c = ink[i * h // 4:(i + 1) * h // 4, j * w // 4:(j + 1) * w // 4]
            if 0.002 <= float(c.mean()) <= 0.3:
                cells += 1
    return cells >= 6


def assess_frame(frame_bgr: np.ndarray, *, still_size: tuple[int, int] | None = None,
                 cfg: VisionConfig | None = None, paper: str = "A4", drawing: bool = False) -> Assessment:
    """Assess one preview frame. ``still_size`` (width, height) is the size of the camera's stills when
    the frame is a smaller preview (None: ``cfg.still_width/height`` if set, else the frame itself)."""
    cfg = cfg or VisionConfig()
    h, w = frame_bgr.shape[:2]
    if still_size is None and cfg.still_width > 0 and cfg.still_height > 0:
        still_size = (cfg.still_width, cfg.still_height)
    th = Thresholds.from_config(cfg, (w, h), drawing=drawing)
    small, f = work_copy(frame_bgr)
    page = detect_page(frame_bgr, paper=paper, small=(small, f))
    scores: dict[str, float | None] = {}
    if page is None or quad_area(page.corners) < MIN_PAGE_FRACTION * w * h:
        luma = float(cv2.mean(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small)[0])
        scores["luma"] = _r(luma, 1)
        # a page so close that it fills the frame has no border to find: its edges are cut off
        why = ["cutoff"] if fills_frame(small, th.dark_luma) else ["no_document"]
        if luma < th.dark_luma:
            why.append("dark")
        return Assessment(False, why, None, scores, None, (w, h))

    q = page.corners
    mean_luma, sat = _page_stats(small, q / f - 0.5)
    long_px = float(max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1])))
    patch = int(min(64, max(24, long_px / 16)))
    slope = text_sharpness(frame_bgr, q, patch)
    ew = _edge_width(page)
    sharp = sharpness_score(ew, slope)
    margin = float(min(q[:, 0].min(), q[:, 1].min(), w - q[:, 0].max(), h - q[:, 1].max()))
    frame_quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
    inter, _ = cv2.intersectConvexConvex(frame_quad, q.astype(np.float32).reshape(-1, 1, 2))
    dpi = estimate_dpi(q, (w, h), still_size, paper)
    scores.update({
        "sharpness": _r(sharp),
        "edge_width_px": _r(ew, 2),
        "text_sharpness": _r(slope),
        "glare_fraction": _r(sat),
        "luma": _r(mean_luma, 1),
        "coverage": _r(float(inter) / (w * h)),
        "margin_px": _r(margin, 1),
        "corner_angle_dev_deg": _r(corner_angle_dev(q), 2),
    })
    reasons: list[str] = []
    if not math.isnan(sharp) and sharp < th.blur:
        reasons.append("blur")
    if not math.isnan(sat) and sat > th.glare_fraction:
        reasons.append("glare")
    if not math.isnan(mean_luma) and mean_luma < th.dark_luma:
        reasons.append("dark")
    if margin < th.edge_margin_px:
        reasons.append("cutoff")
    if dpi < th.min_dpi:
        reasons.append("low_resolution")
    corners = [[round(float(x), 2), round(float(y), 2)] for x, y in q]
    return Assessment(not reasons, reasons, corners, scores, round(dpi, 1), (w, h))


def calibrate(frames: list[np.ndarray], *, cfg: VisionConfig | None = None, paper: str = "A4",
              still_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Suggest ``[vision]`` thresholds for a camera from frames known to be good (sharp, well lit, page
    wholly in frame, no glare). Each suggestion keeps a safety factor from the worst good frame:
    blur at 65 % of the 5th-percentile sharpness, dark at half the 5th-percentile page luminance, glare
    above the largest saturated share seen. Returns the statistics, the suggestions and a TOML snippet."""
    from kiosk.errors import KioskError

    if not frames:
        raise KioskError("capture.no_frames")
    base = cfg or VisionConfig()
    sharp: list[float] = []
    luma: list[float] = []
    glare: list[float] = []
    widths: list[float] = []
    margins: list[float] = []
    found = 0
    for fr in frames:
        a = assess_frame(fr, still_size=still_size, cfg=base, paper=paper)
        if a.corners is None:
            continue
        found += 1
        s = a.scores
        for key, dst in (("sharpness", sharp), ("luma", luma), ("glare_fraction", glare),
                         ("edge_width_px", widths), ("margin_px", margins)):
            v = s.get(key)
            if v is not None:
                dst.append(float(v))

    def pct(v: list[float], p: float) -> float | None:
        return round(float(np.percentile(v, p)), 4) if v else None

    suggested: dict[str, float] = {}
    if sharp:
        suggested["blur_threshold"] = round(0.65 * float(np.percentile(sharp, 5)), 3)
    if luma:
        suggested["dark_luma"] = round(0.5 * float(np.percentile(luma, 5)), 1)
    if glare:
        suggested["glare_fraction"] = round(max(DEFAULT_GLARE_FRACTION, 2.0 * max(glare) + 0.002), 4)
    toml = "[vision]\n" + "".join(f"{k} = {v}\n" for k, v in suggested.items())
    return {
        "frames": len(frames),
        "pages_found": found,
        "stats": {
            "sharpness": {"p5": pct(sharp, 5), "median": pct(sharp, 50)},
            "edge_width_px": {"median": pct(widths, 50), "p95": pct(widths, 95)},
            "luma": {"p5": pct(luma, 5), "median": pct(luma, 50)},
            "glare_fraction": {"max": round(max(glare), 4) if glare else None},
            "margin_px": {"min": round(min(margins), 1) if margins else None},
        },
        "suggested": suggested,
        "toml": toml,
    }
