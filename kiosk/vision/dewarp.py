"""Perspective dewarp, deskew and 0/90/180/270 orientation of page images.

* ``dewarp``: maps the page quad to a rectangle of the paper's true aspect ratio at a chosen resolution.
* ``estimate_skew`` / ``deskew``: small-angle skew of a flatbed scan from its text lines (projection
  profiles of the ink pixels over candidate angles, refined to 0.05 degrees).
* ``orientation``: which quarter turn makes the text upright, from the page's own text lines:
  horizontal vs vertical lines from the row and column ink profiles; upright vs upside down from where
  the ink sits around each line's x-height band (ascenders, capitals and Vietnamese tone marks above the
  band outweigh descenders and the dot below), with the wider left margin of administrative papers as a
  second cue. ``orientation_osd`` runs Tesseract's OSD for comparison (``benchmarks/eval_vision.py``
  measures both).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.geometry import paper_mm


def page_pixels(paper: str, dpi: float, landscape: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of a paper format at ``dpi``."""
    short_mm, long_mm = paper_mm(paper)
    a, b = round(short_mm / 25.4 * dpi), round(long_mm / 25.4 * dpi)
    return (b, a) if landscape else (a, b)


def dewarp(image: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp the quad ``corners`` (TL, TR, BR, BL of the page, corner-origin pixel coordinates) of
    ``image`` onto a ``size`` = (width, height) rectangle."""
    w, h = size
    src = np.asarray(corners, np.float64).reshape(4, 2)
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    hm = cv2.getPerspectiveTransform(src.astype(np.float32), dst.astype(np.float32)).astype(np.float64)
    # corner-origin -> cv2 pixel-centre convention
    t_in = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    t_out = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    hc = t_out @ hm @ t_in
    # downscaling by more than ~1.5x: smooth first so the warp does not alias
    src_long = max(np.linalg.norm(src[1] - src[0]), np.linalg.norm(src[2] - src[1]),
                   np.linalg.norm(src[3] - src[2]), np.linalg.norm(src[0] - src[3]))
    ratio = src_long / max(w, h)
    img = image
    if ratio > 1.5:
        img = cv2.GaussianBlur(image, (0, 0), float(0.4 * ratio))
    return cv2.warpPerspective(img, hc, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------------------------- ink


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image


def ink_mask(image: np.ndarray, long_side: int = 1400) -> tuple[np.ndarray, float]:
    """Binary ink (1 = dark stroke) of a page at about ``long_side`` px, with the scale factor used.
    Adaptive threshold: robust to lighting gradients; the offset keeps paper noise out."""
    g = _grey(image)
    f = long_side / max(g.shape)
    if f < 1.0:
        g = cv2.resize(g, (max(8, round(g.shape[1] * f)), max(8, round(g.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
    else:
        f = 1.0
    block = max(15, (int(max(g.shape) / 40) // 2) * 2 + 1)
    ink = cv2.adaptiveThreshold(g, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 18)
    # drop the page's own border zone (edges, shadows left by the dewarp)
    m = max(2, int(0.02 * min(g.shape)))
    ink[:m, :] = 0
    ink[-m:, :] = 0
    ink[:, :m] = 0
    ink[:, -m:] = 0
    return ink, f


# -------------------------------------------------------------------------------------------- skew


def _profile_score(xs: np.ndarray, ys: np.ndarray, angle_deg: float, bins: int) -> float:
    a = math.radians(angle_deg)
    # row coordinate after rotating the content by -angle (counter-clockwise positive as displayed)
    yr = ys * math.cos(a) + xs * math.sin(a)
    hist = np.bincount(((yr - yr.min()) / 2.0).astype(np.int64), minlength=bins)
    return float(np.dot(hist, hist))


def _skew_of_points(xs: np.ndarray, ys: np.ndarray, extent: int, max_deg: float) -> float:
    """Angle (counter-clockwise positive as displayed) of text lines through ink points centred on 0."""
    bins = int(extent * 1.5 / 2) + 8

    def best_in(angles: np.ndarray) -> float:
        scores = [_profile_score(xs, ys, float(a), bins) for a in angles]
        i = int(np.argmax(scores))
        if 0 < i < len(angles) - 1:  # parabolic refinement
            y0, y1, y2 = scores[i - 1], scores[i], scores[i + 1]
            den = y0 - 2 * y1 + y2
            if den < 0:
                return float(angles[i] + 0.5 * (y0 - y2) / den * (angles[1] - angles[0]))
        return float(angles[i])

    coarse = best_in(np.arange(-max_deg, max_deg + 1e-9, 0.5))
    return best_in(np.arange(coarse - 0.5, coarse + 0.5 + 1e-9, 0.05))


def _points(ink: np.ndarray, limit: int = 60000) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(ink)
    if len(xs) > limit:
        sel = np.random.default_rng(0).choice(len(xs), limit, replace=False)
        xs, ys = xs[sel], ys[sel]
    return xs.astype(np.float64) - ink.shape[1] / 2, ys.astype(np.float64) - ink.shape[0] / 2


def estimate_skew(image: np.ndarray, max_deg: float = 5.0) -> float:
    """Angle in degrees (counter-clockwise positive as displayed) of the text lines in ``image``;
    rotating the image by -angle about its centre straightens it. 0 when there is no text."""
    ink, _ = ink_mask(image, long_side=1000)
    xs, ys = _points(ink)
    if len(xs) < 200:
        return 0.0
    return _skew_of_points(xs, ys, max(ink.shape), max_deg)


def rotate(image: np.ndarray, angle_deg: float, fill: tuple[int, int, int] | int | None = None
           ) -> np.ndarray:
    """Rotate about the centre by ``angle_deg`` counter-clockwise, same size; the uncovered area is
    filled with the image's border tone (the median of its outer rows) unless ``fill`` is given."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, 1.0)
    border: tuple[int, ...]
    if fill is None:
        tail = image.shape[2:]
        edge = np.concatenate([image[:4].reshape(-1, *tail), image[-4:].reshape(-1, *tail)])
        border = tuple(int(v) for v in np.atleast_1d(np.median(edge, axis=0)))
    elif isinstance(fill, tuple):
        border = fill
    else:
        border = (int(fill),) * 3
    if len(border) == 1:
        border = border * 3
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=tuple(float(v) for v in border))


def deskew(image: np.ndarray, max_deg: float = 5.0) -> tuple[np.ndarray, float]:
    """Straighten a flatbed scan; returns the image and the skew angle that was removed."""
    angle = estimate_skew(image, max_deg)
    if abs(angle) < 0.05:
        return image, angle
    return rotate(image, -angle), angle


# ------------------------------------------------------------------------------------- orientation


MIN_ORIENTATION_CONFIDENCE = 0.2


@dataclass(frozen=True)
class Orientation:
    """``rotation``: degrees (0, 90, 180, 270) to turn the image clockwise so its text is upright;
    ``confidence`` 0..1; ``method`` 'text-lines', 'osd' or 'none' (no text: left as it is)."""

    rotation: int
    confidence: float
    method: str


def turn(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn an image clockwise by 0, 90, 180 or 270 degrees."""
    k = (rotation // 90) % 4
    if k == 0:
        return image
    code = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}[k]
    return cv2.rotate(image, code)


def _line_bands(rows: np.ndarray) -> list[tuple[int, int]]:
    """Text-line bands [start, end) from a row ink profile."""
    if rows.max() <= 0:
        return []
    thr = 0.08 * float(np.percentile(rows[rows > 0], 90))
    on = rows > thr
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0]
    bands = list(zip(starts.tolist(), ends.tolist(), strict=True))
    if not bands:
        return []
    heights = np.array([b - a for a, b in bands])
    med = float(np.median(heights[heights >= 4])) if np.any(heights >= 4) else 0.0
    return [(a, b) for a, b in bands if 0.5 * med <= b - a <= 2.2 * med and b - a >= 4]


def _updown_evidence(rows: np.ndarray) -> tuple[float, int]:
    """log(ink above the x-height band / ink below it) over the text lines of a row profile (positive:
    upright), and the number of lines used."""
    above = below = 0.0
    used = 0
    for a, b in _line_bands(rows):
        prof = rows[a:b]
        core = np.nonzero(prof >= 0.5 * float(prof.max()))[0]
        c0, c1 = int(core[0]), int(core[-1]) + 1
        above += float(prof[:c0].sum())
        below += float(prof[c1:].sum())
        used += 1
    if used == 0:
        return 0.0, 0
    return math.log((above + 1.0) / (below + 1.0)), used


def _margin_evidence(cols: np.ndarray) -> float:
    """log(left margin / right margin) of the text block from a column ink profile: administrative
    papers have the wider margin on the left (positive: upright)."""
    if cols.max() <= 0:
        return 0.0
    nz = np.nonzero(cols > 0.02 * cols.max())[0]
    if len(nz) < 2:
        return 0.0
    return math.log((float(nz[0]) + 1.0) / (float(len(cols) - nz[-1]) + 1.0))


def _contrast(p: np.ndarray) -> float:
    p = np.convolve(p.astype(np.float64), np.ones(3) / 3, mode="same")
    nz = np.nonzero(p > 0)[0]
    if len(nz) < 4:
        return 0.0
    p = p[nz[0]:nz[-1] + 1]
    return float(p.var() / (p.mean() ** 2 + 1e-9))


def _lines_horizontal(ink: np.ndarray) -> float:
    """Positive when text lines run horizontally: log ratio of the row profile's normalised variance
    to the column profile's."""
    return math.log((_contrast(ink.sum(axis=1)) + 1e-6) / (_contrast(ink.sum(axis=0)) + 1e-6))


def orientation(image: np.ndarray) -> Orientation:
    """Which clockwise quarter turn makes the page's text upright (own text-line analysis)."""
    ink, _ = ink_mask(image, long_side=1400)
    if int(ink.sum()) < 300:
        return Orientation(0, 0.0, "none")
    horiz = _lines_horizontal(ink)
    base = ink if horiz >= 0 else np.ascontiguousarray(np.rot90(ink, -1))  # turned clockwise
    xs, ys = _points(base)
    skew = _skew_of_points(xs, ys, max(base.shape), 5.0)
    a = math.radians(skew)
    # straighten: coordinates along and across the (skewed) lines
    yr = ys * math.cos(a) + xs * math.sin(a)
    xr = xs * math.cos(a) - ys * math.sin(a)
    rows = np.bincount((yr - yr.min()).astype(np.int64)).astype(np.float64)
    cols = np.bincount((xr - xr.min()).astype(np.int64)).astype(np.float64)
    ev, used = _updown_evidence(rows)
    if used < 2:
        return Orientation(0, 0.0, "none")
    # margins are measured against the page, not the ink's extent
    left = float(xr.min() + base.shape[1] / 2)
    right = float(base.shape[1] / 2 - xr.max())
    margin = math.log((max(left, 0.0) + 1.0) / (max(right, 0.0) + 1.0)) if cols.size else 0.0
    total = ev + 0.25 * margin
    rotation = (0 if horiz >= 0 else 90) + (180 if total < 0 else 0)
    conf = float(min(1.0, abs(horiz)) * min(1.0, abs(total) / 0.6))
    if conf < MIN_ORIENTATION_CONFIDENCE:
        # too little text to tell (dust, a seal, a line): leave the page as it is
        return Orientation(0, round(conf, 3), "none")
    return Orientation(rotation % 360, round(conf, 3), "text-lines")


def orientation_osd(image: np.ndarray) -> Orientation:
    """Tesseract OSD (``pytesseract.image_to_osd``); its 'Rotate' is the clockwise turn to apply."""
    import pytesseract

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    g = _grey(image)
    try:
        out = pytesseract.image_to_osd(g, config="--psm 0", output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError:
        return Orientation(0, 0.0, "none")
    conf = float(out.get("orientation_conf", 0.0))
    return Orientation(int(out.get("rotate", 0)) % 360, round(min(1.0, conf / 10.0), 3), "osd")
