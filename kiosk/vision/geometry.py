"""Page and card corner detection in camera frames and scans.

The per-frame path works on a downscaled copy (long side about 400 px): a "paper-likeness" map (bright and
neutral, text removed by a morphological closing) is thresholded (Otsu), the largest region becomes a
polygon, its straight edges become four lines (edges that run along the frame border are dropped, so a page
that sticks out of the frame still gives four lines whose intersections lie outside the frame), and each
line is then refined at full resolution from short intensity profiles across the edge, sampled with
``cv2.remap`` (no full-resolution copy of the frame is made). The profiles also give the width of the
page's edge, a blur measure that does not depend on the page's content.

Corners are returned TL, TR, BR, BL as seen in the image (clockwise, starting with the corner nearest the
image origin); the page's own top is found later, from its text (``kiosk.vision.dewarp``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Paper formats: (short, long) side in millimetres.
PAPER_MM: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "A3": (297.0, 420.0),
    "ID1": (53.98, 85.6),
}
_PAPER_ALIASES = {"ID-1": "ID1", "CARD": "ID1", "ID": "ID1"}

WORK_LONG_SIDE = 300  # smallest long side of the downscaled working copy, pixels


def paper_mm(paper: str) -> tuple[float, float]:
    """(short, long) side in mm of a paper format name (A4, A5, A3, ID1/ID-1)."""
    key = paper.upper()
    key = _PAPER_ALIASES.get(key, key)
    if key not in PAPER_MM:
        raise ValueError(f"unknown paper format {paper!r}; known: {', '.join(PAPER_MM)}, ID-1")
    return PAPER_MM[key]


@dataclass(frozen=True)
class PageQuad:
    """A detected page: ``corners`` (4x2, float, TL TR BR BL in image pixels; they may lie outside the
    image when the page is cut off), the fraction of the image the visible page covers, the median width in
    pixels of the page's edge profile per side (``edge_widths``, NaN where a side was not measurable), the
    median luminance step across the edge (``edge_contrast``) and how many of the four sides were visible
    and refined (``sides_refined``)."""

    corners: np.ndarray
    coverage: float
    edge_widths: tuple[float, float, float, float]
    edge_contrast: float
    sides_refined: int

    def as_list(self) -> list[list[float]]:
        return [[round(float(x), 2), round(float(y), 2)] for x, y in self.corners]


# ---------------------------------------------------------------------------------------------- helpers


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Order four points clockwise (as displayed, y down) starting at the one nearest the image origin."""
    p = np.asarray(pts, dtype=np.float64).reshape(4, 2)
    c = p.mean(axis=0)
    ang = np.arctan2(p[:, 1] - c[1], p[:, 0] - c[0])
    p = p[np.argsort(ang)]  # increasing angle = clockwise on screen
    start = int(np.argmin(p[:, 0] + p[:, 1]))
    return np.roll(p, -start, axis=0)


def quad_area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two convex quadrilaterals."""
    pa = cv2.convexHull(np.asarray(a, np.float32).reshape(-1, 1, 2))
    pb = cv2.convexHull(np.asarray(b, np.float32).reshape(-1, 1, 2))
    inter, _ = cv2.intersectConvexConvex(pa, pb)
    ua = quad_area(pa.reshape(-1, 2).astype(np.float64)) + quad_area(pb.reshape(-1, 2).astype(np.float64))
    union = ua - inter
    return float(inter / union) if union > 0 else 0.0


def side_lengths(q: np.ndarray) -> np.ndarray:
    """Lengths of the sides q0q1, q1q2, q2q3, q3q0."""
    return np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)


def long_edge_px(q: np.ndarray) -> float:
    """Mean length of the two longer opposite sides (the page's long edges)."""
    s = side_lengths(q)
    return float(max((s[0] + s[2]) / 2.0, (s[1] + s[3]) / 2.0))


def corner_angle_dev(q: np.ndarray) -> float:
    """Largest deviation of a corner angle from 90 degrees."""
    dev = 0.0
    for i in range(4):
        a = q[i - 1] - q[i]
        b = q[(i + 1) % 4] - q[i]
        cosv = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))
        dev = max(dev, abs(math.degrees(math.acos(max(-1.0, min(1.0, cosv)))) - 90.0))
    return dev


def _intersect(l1: tuple[np.ndarray, np.ndarray], l2: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    """Intersection of two lines given as (point, unit direction)."""
    p, d = l1
    q, e = l2
    den = d[0] * e[1] - d[1] * e[0]
    if abs(den) < 1e-6:
        return None
    t = ((q[0] - p[0]) * e[1] - (q[1] - p[1]) * e[0]) / den
    return p + t * d


def _fit_line(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Total-least-squares line through points: (centroid, unit direction)."""
    c = pts.mean(axis=0)
    x = pts[:, 0] - c[0]
    y = pts[:, 1] - c[1]
    sxx, syy, sxy = float(x @ x), float(y @ y), float(x @ y)
    theta = 0.5 * math.atan2(2.0 * sxy, sxx - syy)  # direction of largest spread
    return c, np.array([math.cos(theta), math.sin(theta)])


def _robust_line(pts: np.ndarray, tol: float = 1.0) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Line fit that drops outliers (residual > max(tol, 3 MAD)) twice; returns the line and inlier mask."""
    keep = np.ones(len(pts), bool)
    line = _fit_line(pts)
    for _ in range(3):
        c, d = line
        n = np.array([-d[1], d[0]])
        r = np.abs((pts - c) @ n)
        med = float(np.median(r[keep])) if keep.any() else 0.0
        thr = max(tol, 3.0 * 1.4826 * med)
        new = r <= thr
        if new.sum() < max(4, len(pts) // 4):
            break
        keep = new
        line = _fit_line(pts[keep])
    return line, keep


# ------------------------------------------------------------------------------------ coarse detection


def work_copy(img: np.ndarray, long_side: int = WORK_LONG_SIDE) -> tuple[np.ndarray, float]:
    """Downscaled copy by repeated exact halving (INTER_AREA on 2x2 blocks, the fast path) while the long
    side stays at or above ``long_side``; returns it and the scale factor full/small (a power of 2)."""
    f = 1
    small = img
    while max(small.shape[:2]) // 2 >= long_side:
        h2, w2 = small.shape[0] // 2, small.shape[1] // 2
        small = cv2.resize(small[: 2 * h2, : 2 * w2], (w2, h2), interpolation=cv2.INTER_AREA)
        f *= 2
    return small, float(f)


def paper_map(small_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Luminance and paper-likeness (luminance minus chroma, text closed away) of a small BGR image."""
    if small_bgr.ndim == 2:
        luma = small_bgr
        chroma = np.zeros_like(luma)
    else:
        luma = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY)
        mx = cv2.max(cv2.max(small_bgr[:, :, 0], small_bgr[:, :, 1]), small_bgr[:, :, 2])
        mn = cv2.min(cv2.min(small_bgr[:, :, 0], small_bgr[:, :, 1]), small_bgr[:, :, 2])
        chroma = cv2.subtract(mx, mn)
    feat = cv2.subtract(luma, chroma)
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    feat = cv2.morphologyEx(feat, cv2.MORPH_CLOSE, k)
    feat = cv2.GaussianBlur(feat, (3, 3), 0)
    return luma, feat


def _largest_region(mask: np.ndarray, min_frac: float) -> np.ndarray | None:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=4)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    i = int(np.argmax(areas)) + 1
    if stats[i, cv2.CC_STAT_AREA] < min_frac * mask.size:
        return None
    return (lab == i).astype(np.uint8)


def _contour_lines(cnt: np.ndarray, w: int, h: int, max_lines: int = 4
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Straight sides of a region's outline: up to ``max_lines`` lines (point, unit direction, inlier
    points), longest first, found by sequential consensus on the outline points that are not on the image
    border. Notches (shadows, glare halos, a hand) do not bend the lines: they are outliers."""
    pts = cnt.reshape(-1, 2).astype(np.float64)
    keep = (pts[:, 0] > 1) & (pts[:, 0] < w - 2) & (pts[:, 1] > 1) & (pts[:, 1] < h - 2)
    pts = pts[keep]
    if len(pts) > 400:
        pts = pts[:: math.ceil(len(pts) / 400)]
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for _ in range(max_lines):
        n = len(pts)
        if n < 12:
            break
        step = max(1, n // 64)
        idx = np.arange(0, n, step)
        cands = []
        for k in (max(3, n // 60), max(4, n // 25)):
            a = pts[idx]
            b = pts[(idx + k) % n]
            d = b - a
            ln = np.linalg.norm(d, axis=1)
            ok = ln > 2.5
            cands.append((a[ok], d[ok] / ln[ok, None]))
        a = np.concatenate([c[0] for c in cands])
        d = np.concatenate([c[1] for c in cands])
        if len(a) == 0:
            break
        nrm = np.stack([-d[:, 1], d[:, 0]], axis=1)
        # residuals of every point to every candidate line
        r = np.abs((pts[None, :, 0] - a[:, None, 0]) * nrm[:, None, 0]
                   + (pts[None, :, 1] - a[:, None, 1]) * nrm[:, None, 1])
        counts = (r < 1.2).sum(axis=1)
        best = int(np.argmax(counts))
        inl = r[best] < 1.2
        if inl.sum() < 8:
            break
        c, dd = _fit_line(pts[inl])
        nn = np.array([-dd[1], dd[0]])
        res = np.abs((pts - c) @ nn)
        inl = res < 1.5
        if inl.sum() >= 8:
            c, dd = _fit_line(pts[inl])
            nn = np.array([-dd[1], dd[0]])
            inl = np.abs((pts - c) @ nn) < 1.5
        out.append((c, dd, pts[inl]))
        pts = pts[np.abs((pts - c) @ nn) >= 2.0]
    return out


def _angle_between(d1: np.ndarray, d2: np.ndarray) -> float:
    """Angle in degrees (0..90) between two undirected unit directions."""
    return math.degrees(math.acos(min(1.0, abs(float(np.dot(d1, d2))))))


def _lines_quad(lines: list[tuple[np.ndarray, np.ndarray, np.ndarray]], centre: np.ndarray,
                min_support: float, aspect: float) -> np.ndarray | None:
    """A quadrilateral from 4 side lines, or from 3 when the fourth side lies (almost) wholly outside the
    image: then a short visible piece of it is used if there is one, else the paper's aspect ratio."""

    def support(ln: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        t = (ln[2] - ln[0]) @ ln[1]
        return float(t.max() - t.min()) if len(t) else 0.0

    good = [ln for ln in lines if support(ln) >= min_support]
    weak = [ln for ln in lines if 4.0 <= support(ln) < min_support]
    if len(good) == 2:
        return _two_sides_quad(good, aspect)
    if len(good) < 3:
        return None
    good = good[:4]

    def side_angle(ln: tuple[np.ndarray, np.ndarray, np.ndarray]) -> float:
        v = ln[2].mean(axis=0) - centre
        return math.atan2(v[1], v[0])

    good.sort(key=side_angle)
    if len(good) == 4:
        for i in range(4):
            if _angle_between(good[i][1], good[(i + 1) % 4][1]) < 45:
                return None
        if _angle_between(good[0][1], good[2][1]) > 40 or _angle_between(good[1][1], good[3][1]) > 40:
            return None
        return _corners_of(good)
    # three sides A, B, C with the missing side (opposite B) in the largest angular gap
    ang = np.array([side_angle(g) for g in good])
    gaps = np.diff(np.concatenate([ang, [ang[0] + 2 * math.pi]]))
    k = int(np.argmax(gaps))
    good = good[k + 1:] + good[: k + 1]
    (pa, da, ia), (pb, db, _), (pc, dc, ic) = good
    if _angle_between(da, dc) > 40 or _angle_between(da, db) < 45 or _angle_between(db, dc) < 45:
        return None
    nb = np.array([-db[1], db[0]])
    visible = np.concatenate([ia, ic])
    if float(np.mean((visible - pb) @ nb)) < 0:
        nb = -nb
    reach = float(np.max((visible - pb) @ nb))  # the far side lies beyond every visible point of A and C
    for ln in weak:
        dist = float(np.mean((ln[2] - pb) @ nb))
        if _angle_between(ln[1], db) < 20 and dist > 0.9 * reach:
            return _corners_of([good[0], good[1], good[2], ln])
    ab = _intersect((pa, da), (pb, db))
    bc = _intersect((pb, db), (pc, dc))
    if ab is None or bc is None:
        return None
    lb = float(np.linalg.norm(bc - ab))
    # the far side lies beyond the visible reach; perspective bends the aspect ratio, so a candidate a
    # little short of the reach is pushed just past it rather than doubled
    short, long_ = sorted((lb * aspect, lb / aspect))
    if short >= 0.8 * reach:
        dist = max(short, 1.02 * reach)
    elif long_ >= 0.8 * reach:
        dist = max(long_, 1.02 * reach)
    else:
        return None
    p_far = pb + nb * dist
    return _corners_of([good[0], good[1], good[2], (p_far, db, p_far[None, :])])


def _two_sides_quad(sides: list[tuple[np.ndarray, np.ndarray, np.ndarray]], aspect: float
                    ) -> np.ndarray | None:
    """Only one corner of the page is in the image: a rough quad from the two visible sides, each made
    long enough to reach past its visible part, in the paper's aspect ratio."""
    (p1, d1, i1), (p2, d2, i2) = sides
    if _angle_between(d1, d2) < 45:
        return None
    corner = _intersect((p1, d1), (p2, d2))
    if corner is None:
        return None
    if float(np.mean((i1 - corner) @ d1)) < 0:
        d1 = -d1
    if float(np.mean((i2 - corner) @ d2)) < 0:
        d2 = -d2
    e1 = float(np.max((i1 - corner) @ d1))
    e2 = float(np.max((i2 - corner) @ d2))
    # smallest page (short side a, long side a*aspect) that covers both visible extents
    a1 = max(e1, e2 / aspect)  # side 1 short
    a2 = max(e1 / aspect, e2)  # side 1 long
    l1, l2 = (a1, a1 * aspect) if a1 * aspect <= a2 * aspect else (a2 * aspect, a2)
    return np.array([corner, corner + d1 * l1, corner + d1 * l1 + d2 * l2, corner + d2 * l2])


def _corners_of(sides: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray | None:
    q = []
    for i in range(4):
        p = _intersect(sides[i - 1][:2], sides[i][:2])
        if p is None:
            return None
        q.append(p)
    return np.array(q)


def _edge_support(luma: np.ndarray, q: np.ndarray) -> list[float]:
    """Median luminance step (absolute) across each visible side of the quad, on the small image."""
    h, w = luma.shape
    c = q.mean(axis=0)
    steps = []
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        d = b - a
        ln = float(np.linalg.norm(d))
        if ln < 4:
            return []
        d /= ln
        n = np.array([-d[1], d[0]])
        if np.dot((a + b) / 2 - c, n) < 0:
            n = -n
        ts = np.linspace(0.1, 0.9, 24)
        p = a[None, :] + ts[:, None] * (b - a)[None, :]
        pin = p - 3 * n
        pout = p + 3 * n
        ok = ((pin[:, 0] >= 0) & (pin[:, 0] < w) & (pin[:, 1] >= 0) & (pin[:, 1] < h)
              & (pout[:, 0] >= 0) & (pout[:, 0] < w) & (pout[:, 1] >= 0) & (pout[:, 1] < h))
        if ok.sum() < 3:
            continue
        vi = luma[pin[ok, 1].astype(int), pin[ok, 0].astype(int)].astype(np.float64)
        vo = luma[pout[ok, 1].astype(int), pout[ok, 0].astype(int)].astype(np.float64)
        steps.append(float(np.median(np.abs(vi - vo))))
    return steps


def _flatten_illumination(feat: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """Divide out a smooth (quadratic) illumination fitted to the log paper-likeness inside ``region``:
    lighting gradients, vignetting and broad shadows then no longer cut the page in two."""
    h, w = feat.shape
    ys, xs = np.nonzero(cv2.erode(region, np.ones((5, 5), np.uint8)))
    if len(xs) < 50:
        return None
    stride = max(1, len(xs) // 3000)
    xs, ys = xs[::stride], ys[::stride]
    logf = np.log(feat.astype(np.float32) + 4.0)
    v = logf[ys, xs].astype(np.float64)
    u = xs / w - 0.5
    t = ys / h - 0.5
    A = np.stack([np.ones_like(u), u, t, u * u, u * t, t * t], axis=1)
    keep = np.ones(len(v), bool)
    coef = np.zeros(6)
    for _ in range(3):
        ak = A[keep]
        coef = np.linalg.solve(ak.T @ ak + 1e-9 * np.eye(6), ak.T @ v[keep])
        r = v - A @ coef
        sd = 1.4826 * float(np.median(np.abs(r[keep]))) + 1e-3
        keep = np.abs(r) < 2.5 * sd
    gu, gt = np.meshgrid((np.arange(w) + 0.5) / w - 0.5, (np.arange(h) + 0.5) / h - 0.5)
    surf = (coef[0] + coef[1] * gu + coef[2] * gt + coef[3] * gu * gu + coef[4] * gu * gt
            + coef[5] * gt * gt)
    fitted = A @ coef
    surf = np.clip(surf, float(fitted.min()) - 0.3, float(fitted.max()) + 0.3)
    norm = np.exp(logf - surf.astype(np.float32))  # about 1 on the page
    return np.clip(norm * 160.0, 0, 255).astype(np.uint8)


def _region_quad(feat: np.ndarray, thr: float, aspect: float, min_frac: float
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    _h, _w = feat.shape
    mask = cv2.morphologyEx((feat > thr).astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    region = _largest_region(mask, min_frac)
    if region is None:
        return None
    return _quad_of_region(region, aspect, min_frac)


def _quad_of_region(region: np.ndarray, aspect: float, min_frac: float
                    ) -> tuple[np.ndarray, np.ndarray] | None:
    h, w = region.shape
    cnts, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cnt = max(cnts, key=cv2.contourArea)
    lines = _contour_lines(cnt, w, h, max_lines=5)
    m = cv2.moments(cnt)
    if m["m00"] <= 0:
        return None
    centre = np.array([m["m10"] / m["m00"], m["m01"] / m["m00"]])
    q = _lines_quad(lines, centre, 0.15 * math.sqrt(m["m00"]), aspect)
    if q is None or not np.all(np.isfinite(q)):
        return None
    area = quad_area(q)
    if area < min_frac * w * h or area > 4 * w * h:
        return None
    return q, region


def coarse_quad(small_bgr: np.ndarray, aspect: float = 297 / 210, min_frac: float = 0.01
                ) -> tuple[np.ndarray, float, float] | None:
    """Page quad in small-image pixels, the fraction of the image the page region covers, and a
    detection score (weakest side's contrast times how well the region fills the quad); None if no page.

    Several masks are tried in turn (Otsu on paper-likeness, the same after dividing out a smooth
    illumination, lower thresholds for pages partly in shadow) until one gives a quad whose sides all
    have a clear step; the best scoring one is kept."""
    luma, feat = paper_map(small_bgr)
    h, w = feat.shape
    best: tuple[np.ndarray, float, float] | None = None
    thr, _ = cv2.threshold(feat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    below = feat[feat <= thr]
    bg = float(np.median(below)) if below.size else 0.0

    def consider(found: tuple[np.ndarray, np.ndarray] | None) -> bool:
        nonlocal best
        if found is None:
            return False
        q, region = found
        fill = float(region.sum()) / max(1.0, _visible_area(q, w, h))
        steps = _edge_support(luma, q)
        if fill < 0.7 or len(steps) < 2:
            return False
        score = min(steps) * min(fill, 1.0 / fill)
        if best is None or score > best[2]:
            best = (q, float(region.sum()) / (w * h), score)
        return 0.93 <= fill <= 1.07 and min(steps) >= 0.5 * max(steps) and min(steps) >= 4.0

    first = _region_quad(feat, thr, aspect, min_frac)
    if consider(first):
        return best
    region0 = first[1] if first is not None else _largest_region((feat > thr).astype(np.uint8), min_frac)
    if region0 is not None:
        flat = _flatten_illumination(feat, region0)
        if flat is not None:
            thr2, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
            if consider(_region_quad(flat, thr2, aspect, min_frac)):
                return best
    for k in (0.6, 0.35):
        if consider(_region_quad(feat, bg + k * (thr - bg), aspect, min_frac)):
            return best
    # low contrast (a white desk) or a shadow across the page: regions enclosed by crisp edges
    for found in _edge_regions(feat, aspect, min_frac):
        if consider(found):
            return best
    return best


def _edge_regions(feat: np.ndarray, aspect: float, min_frac: float
                  ) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Candidate quads from the largest regions enclosed by Canny edges of the paper-likeness map. Soft
    shadow edges give no Canny edge; the page's border, even at low contrast, does."""
    h, w = feat.shape
    gx = cv2.Sobel(feat, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(feat, cv2.CV_32F, 0, 1)
    mag = cv2.magnitude(gx, gy)
    hi = max(24.0, float(np.percentile(mag, 96)))
    edges = cv2.Canny(feat, hi / 2, hi, L2gradient=True)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    free = (edges == 0).astype(np.uint8)
    _n, lab, stats, _ = cv2.connectedComponentsWithStats(free, connectivity=4)
    order = np.argsort(-stats[1:, cv2.CC_STAT_AREA])[:3] + 1
    out: list[tuple[np.ndarray, np.ndarray] | None] = []
    for i in order:
        if stats[i, cv2.CC_STAT_AREA] < min_frac * h * w:
            break
        region = cv2.dilate((lab == i).astype(np.uint8), np.ones((3, 3), np.uint8))
        out.append(_quad_of_region(region, aspect, min_frac))
    return out


def _visible_area(q: np.ndarray, w: int, h: int) -> float:
    frame = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32).reshape(-1, 1, 2)
    inter, _ = cv2.intersectConvexConvex(frame, q.astype(np.float32).reshape(-1, 1, 2))
    return float(inter)


# --------------------------------------------------------------------------------------- refinement

_LUMA_W = np.array([0.114, 0.587, 0.299], np.float32)  # B, G, R


def _sample_luma(img: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Bilinear luminance samples at float coordinates (pixel-centre convention of cv2.remap)."""
    mx = xs.astype(np.float32)
    my = ys.astype(np.float32)
    v = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if v.ndim == 3:
        return (v.astype(np.float32) @ _LUMA_W).astype(np.float32)
    return v.astype(np.float32)


def _refine_pass(img: np.ndarray, sides: list[tuple[np.ndarray, np.ndarray, np.ndarray]], radius: float,
                 n_samples: int) -> list[tuple[tuple[np.ndarray, np.ndarray] | None, float, float]]:
    """One refinement pass over several sides at once (one ``cv2.remap`` for all profiles).

    ``sides`` are (a, b, outward normal) in corner-origin full-resolution coordinates (pixel (i, j)
    covers [i, i+1) x [j, j+1)). For each side: the refined line (point, direction) or None, the median
    edge width (step height / peak slope, pixels) and the median step height."""
    h, w = img.shape[:2]
    k = len(sides)
    offs = np.arange(-radius, radius + 0.5, 1.0)
    m = len(offs)
    tang = np.array([-1.5, -0.5, 0.5, 1.5])
    ts = np.linspace(0.05, 0.95, n_samples)
    a = np.array([s_[0] for s_ in sides])  # (k, 2)
    b = np.array([s_[1] for s_ in sides])
    nrm = np.array([s_[2] / (np.linalg.norm(s_[2]) + 1e-12) for s_ in sides])
    length = np.linalg.norm(b - a, axis=1)
    d = (b - a) / np.maximum(length, 1e-9)[:, None]
    centres = a[:, None, :] + ts[None, :, None] * (b - a)[:, None, :]  # (k, N, 2)
    margin = radius + 3
    valid = ((centres[..., 0] > margin) & (centres[..., 0] < w - margin)
             & (centres[..., 1] > margin) & (centres[..., 1] < h - margin) & (length[:, None] >= 8))
    # grid (side, sample, tangential, offset)
    px = (centres[:, :, None, None, 0] + tang[None, None, :, None] * d[:, None, None, None, 0]
          + offs[None, None, None, :] * nrm[:, None, None, None, 0]) - 0.5
    py = (centres[:, :, None, None, 1] + tang[None, None, :, None] * d[:, None, None, None, 1]
          + offs[None, None, None, :] * nrm[:, None, None, None, 1]) - 0.5
    rows = k * n_samples * 4
    prof = _sample_luma(img, px.reshape(rows, m), py.reshape(rows, m))
    prof = prof.reshape(k, n_samples, 4, m).mean(axis=2)
    der = np.zeros_like(prof)
    der[..., 1:-1] = (prof[..., 2:] - prof[..., :-2]) / 2.0
    q4 = max(1, m // 4)
    diff = prof[..., :q4].mean(axis=-1) - prof[..., -q4:].mean(axis=-1)  # inside minus outside
    out: list[tuple[tuple[np.ndarray, np.ndarray] | None, float, float]] = []
    idx = np.arange(n_samples)
    for i in range(k):
        v = valid[i]
        if v.sum() < 6:
            out.append((None, math.nan, math.nan))
            continue
        sgn = 1.0 if float(np.median(diff[i][v])) >= 0 else -1.0
        sc = -sgn * der[i]  # positive at the paper edge
        sc[:, :2] = -1e9
        sc[:, -2:] = -1e9
        j = np.argmax(sc, axis=1)
        y0 = sc[idx, j - 1]
        y1 = sc[idx, j]
        y2 = sc[idx, j + 1]
        den = y0 - 2 * y1 + y2
        safe = np.where(np.abs(den) > 1e-6, den, -1.0)
        sub = np.clip(np.where(np.abs(den) > 1e-6, 0.5 * (y0 - y2) / safe, 0.0), -0.5, 0.5)
        pos = offs[j] + sub
        lo = np.clip(j - 8, 0, m - 1)
        hi = np.clip(j + 8, 0, m - 1)
        step = sgn * (prof[i, idx, lo] - prof[i, idx, hi])
        good = v & (y1 > 0) & (step > 2.0)
        if good.sum() < 6:
            out.append((None, math.nan, math.nan))
            continue
        pts = centres[i][good] + pos[good, None] * nrm[i][None, :]
        line, keep = _robust_line(pts, tol=1.0)
        widths = step[good][keep] / np.maximum(y1[good][keep], 1e-6)
        out.append((line, float(np.median(widths)), float(np.median(step[good][keep]))))
    return out


def refine_quad(img: np.ndarray, q: np.ndarray, radius: float
                ) -> tuple[np.ndarray, tuple[float, float, float, float], float, int]:
    """Refine all four sides of quad q (full-resolution pixels) against the image: a wide pass, then a
    tight pass around the refined lines. Returns the quad, per-side edge widths, the median step across
    the edges and how many sides were refined."""
    c = q.mean(axis=0)
    sides = []
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        d = (b - a) / (np.linalg.norm(b - a) + 1e-12)
        n = np.array([-d[1], d[0]])
        if np.dot((a + b) / 2 - c, n) < 0:
            n = -n
        sides.append((a, b, n))
    first = _refine_pass(img, sides, radius, 32)
    second_sides = []
    for (a, b, n), (line, _, _) in zip(sides, first, strict=True):
        if line is None:
            second_sides.append((a, b, n))
        else:
            p, dd = line
            second_sides.append((p + np.dot(a - p, dd) * dd, p + np.dot(b - p, dd) * dd, n))
    second = _refine_pass(img, second_sides, max(6.0, radius / 3), 40)
    lines: list[tuple[np.ndarray, np.ndarray]] = []
    widths: list[float] = []
    steps: list[float] = []
    refined = 0
    for i in range(4):
        line, wd, st = first[i]
        if line is not None:
            refined += 1
            line2, wd2, st2 = second[i]
            if line2 is not None:
                line, wd, st = line2, wd2, st2
            lines.append(line)
        else:
            a, b, _ = sides[i]
            lines.append((a, (b - a) / (np.linalg.norm(b - a) + 1e-12)))
        widths.append(wd)
        steps.append(st)
    out = []
    for i in range(4):
        hit = _intersect(lines[i - 1], lines[i])
        out.append(q[i] if hit is None else hit)
    res = np.array(out)
    # a refinement that moved a corner far from the coarse estimate is not trusted
    if np.max(np.linalg.norm(res - q, axis=1)) > 3 * radius:
        res = q
    st_ok = [s_ for s_ in steps if not math.isnan(s_)]
    contrast = float(np.median(st_ok)) if st_ok else 0.0
    return res, (widths[0], widths[1], widths[2], widths[3]), contrast, refined


def detect_page(img: np.ndarray, *, paper: str = "A4", refine: bool = True,
                work_long: int = WORK_LONG_SIDE, small: tuple[np.ndarray, float] | None = None
                ) -> PageQuad | None:
    """Find the page (or card) in a BGR or grey image; None when there is no page-like region.
    ``small`` is an already made ``work_copy(img)`` (image, factor)."""
    short_mm, long_mm = paper_mm(paper)
    small_img, f = small if small is not None else work_copy(img, work_long)
    found = coarse_quad(small_img, aspect=long_mm / short_mm)
    if found is None:
        return None
    qs, cov, _ = found
    # small-pixel corner coordinates (pixel-centre based) to full-resolution corner-origin coordinates
    q = (qs + 0.5) * f
    q = order_corners(q)
    widths: tuple[float, float, float, float] = (math.nan,) * 4
    contrast = 0.0
    refined = 0
    if refine:
        q, widths, contrast, refined = refine_quad(img, q, radius=max(8.0, 2.5 * f + 4))
        q = order_corners(q)
    return PageQuad(q, cov, widths, contrast, refined)
