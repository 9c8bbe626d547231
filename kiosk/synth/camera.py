"""Synthetic document-camera frames with known page corners, for tests, benchmarks and the demo.

``make_frame`` places a page (by default a ``kiosk.synth.page.render_page`` render, or an ID-1 card from
``render_card``) into a frame under a random perspective, on a procedural background (wood, desk, cloth,
stone, a white or a dark desk), with a smooth lighting gradient and vignetting, a soft drop shadow, an
optional soft shadow edge across the frame and sensor noise; then applies at most one defect:

* ``blur`` (Gaussian, sigma 2.5-5 px at 1920 px width) or ``motion`` (linear, 9-21 px),
* ``glare`` (a saturated ellipse with a soft halo, 3-12 % of the page, centred on the page's text),
* ``dark`` (gain down to a mean page luminance below 60, plus noise),
* ``cutoff`` (one or two corners 30-200 px outside the frame),
* ``small`` (the page comes out below 200 dpi in the still).

Extras for edge cases: ``hand`` (a skin-coloured blob from the frame border over the page edge),
``fill`` (the page fills the whole frame, its edges outside), ``rotation_deg`` (in-plane direction of the
page's x axis, degrees counter-clockwise as displayed).

Coordinates follow the dev data's convention: a pixel (i, j) covers [i, i+1) x [j, j+1); corners are the
page's own TL, TR, BR, BL (the top edge is the one above the heading), in frame pixels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from kiosk.synth.page import PAPER_MM, font, render_page

BACKGROUNDS = ("wood", "desk", "cloth", "stone", "white", "dark")
DEFECTS = ("blur", "motion", "glare", "dark", "cutoff", "small")


@dataclass
class SynthFrame:
    image: np.ndarray  # BGR uint8
    corners: np.ndarray  # 4x2 float, page TL, TR, BR, BL in frame pixels
    homography: np.ndarray  # page pixel (corner-origin) -> frame pixel (corner-origin)
    page_size: tuple[int, int]  # width, height of the page image that was placed
    label: str  # "ok" or the defect
    still_size: tuple[int, int]
    still_dpi: float
    params: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ pages


@functools.lru_cache(maxsize=16)
def _page_cached(seed: int, dpi: int, paper: str) -> np.ndarray:
    rp = render_page(dpi=dpi, paper=paper, seed=seed)
    return cv2.cvtColor(np.asarray(rp.image), cv2.COLOR_RGB2BGR)


def page_bgr(seed: int = 0, dpi: int = 100, paper: str = "A4") -> np.ndarray:
    """A rendered Vietnamese text page as a BGR array (renders are cached; the array is a copy)."""
    return _page_cached(seed % 8, dpi, paper).copy()


def render_card(dpi: int = 300, seed: int = 0) -> np.ndarray:
    """A SPECIMEN ID-1 card face (85.6 x 54 mm, landscape) as BGR: light tinted face, a photo box and a
    few lines of text. ``make_frame`` rounds its corners (3 mm) when it places it."""
    rng = np.random.default_rng(seed)
    w, h = round(85.6 / 25.4 * dpi), round(54.0 / 25.4 * dpi)
    from PIL import Image, ImageDraw

    tint = (int(rng.integers(225, 245)), int(rng.integers(232, 248)), int(rng.integers(238, 252)))
    img = Image.new("RGB", (w, h), tint)
    d = ImageDraw.Draw(img)
    px = dpi / 25.4
    d.rectangle([round(4 * px), round(14 * px), round(24 * px), round(40 * px)], fill=(170, 180, 195),
                outline=(120, 130, 150))
    d.text((round(30 * px), round(4 * px)), "CĂN CƯỚC CÔNG DÂN", font=font("sans-bold", round(3.2 * px)),
           fill=(180, 30, 30))
    lines = ["Số / No.: 001099012345", "Họ và tên: NGUYỄN VĂN MẪU", "Ngày sinh: 01/01/1990",
             "Giới tính: Nam  Quốc tịch: Việt Nam", "MẪU / SPECIMEN"]
    for i, text in enumerate(lines):
        d.text((round(28 * px), round((12 + 6.5 * i) * px)), text, font=font("sans", round(2.6 * px)),
               fill=(30, 30, 40))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


# ------------------------------------------------------------------------------------ backgrounds


def _noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise in [-1, 1] with features about ``scale`` pixels across."""
    h, w = shape
    sh, sw = max(2, int(h / scale) + 2), max(2, int(w / scale) + 2)
    small = rng.standard_normal((sh, sw)).astype(np.float32)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return big / (np.abs(big).max() + 1e-6)


def background(kind: str, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A procedural background texture, float32 BGR 0..255."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "wood":
        warp = _noise((h, w), w / 6, rng) * 25 + _noise((h, w), w / 30, rng) * 4
        ang = rng.uniform(0, math.pi)
        u = xx * math.cos(ang) + yy * math.sin(ang)
        grain = np.sin((u + warp) * rng.uniform(0.08, 0.15))
        base = np.array([rng.uniform(50, 80), rng.uniform(100, 130), rng.uniform(160, 200)], np.float32)
        img = base[None, None, :] * (1 + 0.12 * grain[..., None] + 0.06 * _noise((h, w), 40, rng)[..., None])
    elif kind == "cloth":
        weave = np.sin(xx * 1.3) * np.sin(yy * 1.3) * 0.5 + np.sin((xx + yy) * 0.21) * 0.2
        base = np.array([rng.uniform(110, 150), rng.uniform(60, 80), rng.uniform(30, 50)], np.float32)
        img = base[None, None, :] * (1 + 0.15 * weave[..., None] + 0.1 * _noise((h, w), 60, rng)[..., None])
    elif kind == "stone":
        speck = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.2)
        g = rng.uniform(45, 70)
        img = np.repeat((g + 12 * speck + 8 * _noise((h, w), 80, rng))[..., None], 3, axis=2)
    elif kind == "desk":
        g = rng.uniform(85, 140)
        base = np.array([g * 0.97, g, g * 0.95], np.float32)
        img = base[None, None, :] * (1 + 0.03 * _noise((h, w), 200, rng)[..., None])
    elif kind == "white":
        g = rng.uniform(215, 230)
        img = np.full((h, w, 3), g, np.float32) * (1 + 0.02 * _noise((h, w), 150, rng)[..., None])
    elif kind == "dark":
        g = rng.uniform(12, 22)
        img = np.full((h, w, 3), g, np.float32) * (1 + 0.1 * _noise((h, w), 100, rng)[..., None])
    else:
        raise ValueError(f"unknown background {kind!r}")
    return np.clip(img, 0, 255).astype(np.float32)


# ---------------------------------------------------------------------------------------- geometry


def _corner_to_centre(hm: np.ndarray) -> np.ndarray:
    """Homography in corner-origin coordinates -> the same map for cv2's pixel-centre coordinates."""
    t_in = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]], np.float64)
    t_out = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], np.float64)
    return t_out @ hm @ t_in


def _place(page_wh: tuple[int, int], frame_wh: tuple[int, int], long_px: float, rot_deg: float,
           tilt: float, rng: np.random.Generator) -> np.ndarray:
    """Frame corners (TL, TR, BR, BL of the page) for a page whose long side is ``long_px``, its x axis
    at ``rot_deg`` (counter-clockwise as displayed), perturbed in perspective by up to ``tilt`` of its
    size, centred in the frame (the caller shifts it)."""
    pw, ph = page_wh
    s = long_px / max(pw, ph)
    hw, hh = pw * s / 2, ph * s / 2
    base = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
    a = math.radians(rot_deg)
    # counter-clockwise as displayed (y down): x' = x cos + y sin, y' = -x sin + y cos
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    pts = base @ rot.T
    pts += rng.uniform(-tilt, tilt, size=(4, 2)) * min(hw, hh)
    # keep the mean length of the long sides at long_px (it sets the dpi)
    s = np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1)
    long_now = max((s[0] + s[2]) / 2, (s[1] + s[3]) / 2)
    pts *= long_px / long_now
    return pts + np.array(frame_wh) / 2.0


def _shift_inside(pts: np.ndarray, frame_wh: tuple[int, int], margin: float, rng: np.random.Generator
                  ) -> np.ndarray:
    w, h = frame_wh
    lo = np.array([margin, margin]) - pts.min(axis=0)
    hi = np.array([w - margin, h - margin]) - pts.max(axis=0)
    if np.any(lo > hi):
        return pts  # does not fit: the caller sees it as cut off
    return pts + rng.uniform(lo, hi)


def _illumination(frame_wh: tuple[int, int], rng: np.random.Generator, shadow_edge: bool) -> np.ndarray:
    w, h = frame_wh
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gx, gy = rng.uniform(-0.15, 0.15, 2)
    field_ = 1.0 + gx * (xx / w - 0.5) * 2 + gy * (yy / h - 0.5) * 2
    r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
    field_ *= 1.0 - rng.uniform(0.05, 0.15) * r2 / 2
    if shadow_edge:
        ang = rng.uniform(0, 2 * math.pi)
        off = rng.uniform(-0.3, 0.3) * min(w, h)
        d = (xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang) - off
        soft = rng.uniform(20, 60) * w / 1920
        field_ *= 1.0 - rng.uniform(0.15, 0.3) / (1.0 + np.exp(-d / soft))
    return field_.astype(np.float32)


def _motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    k = np.zeros((length + 2, length + 2), np.float32)
    c = (length + 1) / 2
    a = math.radians(angle_deg)
    dx, dy = math.cos(a) * (length - 1) / 2, -math.sin(a) * (length - 1) / 2
    cv2.line(k, (round((c - dx) * 16), round((c - dy) * 16)), (round((c + dx) * 16), round((c + dy) * 16)),
             1.0, 1, cv2.LINE_AA, 4)
    return k / k.sum()


# ------------------------------------------------------------------------------------------ frames


def make_frame(*, size: tuple[int, int] = (1920, 1080), still_size: tuple[int, int] | None = None,
               page: np.ndarray | None = None, paper: str = "A4", background_kind: str | None = None,
               defect: str | None = None, seed: int = 0, rotation_deg: float | None = None,
               coverage: float | None = None, tilt: float = 0.12, soft_shadow: bool | None = None,
               hand: bool = False, fill: bool = False, noise_sigma: float = 1.0,
               jpeg_quality: int | None = None) -> SynthFrame:
    """One synthetic camera frame; see the module docstring. ``coverage`` is the share of the frame the
    page quad covers (default: random 0.45-0.7, at least enough for 205 dpi in the still, or what the
    defect needs); ``still_size`` is the camera's still size (default 3840 px wide, the frame's
    aspect)."""
    rng = np.random.default_rng(seed)
    w, h = size
    still = still_size or (3840, round(3840 * h / w))
    sx = still[0] / w
    kind = background_kind or str(rng.choice(["wood", "desk", "cloth", "stone"]))
    if page is None:
        page = render_card(dpi=300, seed=seed) if paper.upper() in ("ID1", "ID-1") else page_bgr(seed=seed)
    ph, pw = page.shape[:2]
    key = "ID1" if paper.upper() in ("ID1", "ID-1") else paper.upper()
    long_mm = max(PAPER_MM[key])
    is_card = key == "ID1"
    rotation_given = rotation_deg is not None
    if rotation_deg is None:
        if is_card:
            rotation_deg = float(rng.uniform(-8, 8))
        else:
            rotation_deg = float(rng.choice([90.0, -90.0]) + rng.uniform(-8, 8))
    # size: the page's long side in frame pixels
    aspect = max(pw, ph) / min(pw, ph)
    min_long_ok = 205 * long_mm / 25.4 / sx  # an ok page comes out at >= 200 dpi in the still
    if defect == "small":
        dpi = rng.uniform(150, 190)
        long_px = dpi * long_mm / 25.4 / sx
    elif fill:
        long_px = 1.25 * max(w, h)
    else:
        cov = coverage if coverage is not None else rng.uniform(0.45, 0.7)
        long_px = math.sqrt(cov * w * h * aspect)
        if coverage is None:
            long_px = max(long_px, min_long_ok)
    pts = _place((pw, ph), (w, h), long_px, rotation_deg, tilt, rng)
    # a page meant to fit inside: redraw with less tilt and jitter, then shrink it until it fits
    for attempt in range(40):
        if fill or defect == "cutoff":
            break
        span = pts.max(axis=0) - pts.min(axis=0)
        if span[0] <= w - 50 and span[1] <= h - 50:
            break
        if attempt < 20:
            t_ = tilt * 0.85 ** (attempt + 1)
            quarter = round(rotation_deg / 90) * 90
            jitter = (rotation_deg - quarter) * 0.8 ** (attempt + 1)
            rot = rotation_deg if rotation_given else quarter + jitter
            long_px = max(min_long_ok, long_px * 0.98) if defect != "small" else long_px
            pts = _place((pw, ph), (w, h), long_px, rot, t_, rng)
        else:
            c = pts.mean(axis=0)
            pts = c + (pts - c) * 0.95
    if fill:
        pts = pts - pts.mean(axis=0) + np.array([w / 2, h / 2])
    elif defect == "cutoff":
        pts = _shift_inside(pts, (w, h), 20, rng)
        pts = _push_out(pts, (w, h), int(rng.integers(1, 3)), float(rng.uniform(30, 200)))
    else:
        pts = _shift_inside(pts, (w, h), 25 if not is_card else 20, rng)

    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    hm = cv2.getPerspectiveTransform(src.astype(np.float32), pts.astype(np.float32)).astype(np.float64)
    # pre-shrink the page near its on-frame size (area averaging), so the warp does not alias
    scale = long_px / max(pw, ph)
    pimg = page
    pre = 1.0
    if scale < 0.7:
        pre = min(1.0, scale * 1.4)
        pimg = cv2.resize(page, (max(2, round(pw * pre)), max(2, round(ph * pre))),
                          interpolation=cv2.INTER_AREA)
    hm_pre = hm @ np.diag([pw / pimg.shape[1], ph / pimg.shape[0], 1.0])
    warped = cv2.warpPerspective(pimg, _corner_to_centre(hm_pre), (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    # coverage: bilinear warp of an all-ones page, 0.5 exactly on the page's border
    alpha = cv2.warpPerspective(np.ones(pimg.shape[:2], np.float32), _corner_to_centre(hm_pre), (w, h),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if is_card:  # rounded corners: 3 mm radius
        r_px = 3.0 / long_mm * long_px
        cmask = np.zeros((h, w), np.float32)
        for i in range(4):
            a, b, c = pts[i - 1], pts[i], pts[(i + 1) % 4]
            u1 = (a - b) / np.linalg.norm(a - b)
            u2 = (c - b) / np.linalg.norm(c - b)
            centre = b + (u1 + u2) * r_px
            tri = np.array([b, b + u1 * r_px, centre, b + u2 * r_px])
            cv2.fillConvexPoly(cmask, np.round((tri - 0.5) * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
            cv2.circle(cmask, (round((centre[0] - 0.5) * 16), round((centre[1] - 0.5) * 16)),
                       round(r_px * 16), 0.0, -1, cv2.LINE_AA, 4)
        alpha = np.clip(alpha - cmask, 0, 1)

    bg = background(kind, (w, h), rng)
    # soft drop shadow of the page on the background
    off = rng.uniform(4, 14, 2) * w / 1920
    shift = np.array([[1, 0, off[0]], [0, 1, off[1]]], np.float32)
    sh_mask = cv2.warpAffine(alpha, shift, (w, h))
    sh_mask = cv2.GaussianBlur(sh_mask, (0, 0), 8 * w / 1920)
    bg *= (1 - 0.35 * sh_mask)[..., None]
    img = bg * (1 - alpha[..., None]) + warped * alpha[..., None]
    if hand:
        img = _add_hand(img, pts, (w, h), rng)
    shadow = bool(rng.random() < 0.5) if soft_shadow is None else soft_shadow
    exposure = float(rng.uniform(0.62, 0.85))
    img *= (exposure * _illumination((w, h), rng, shadow))[..., None]
    params: dict[str, Any] = {"background": kind, "rotation_deg": rotation_deg, "soft_shadow": shadow}
    label = defect or "ok"
    s_ = np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1)
    still_dpi = sx * max((s_[0] + s_[2]) / 2, (s_[1] + s_[3]) / 2) / (long_mm / 25.4)
    if label == "ok" and not fill and still_dpi < 200:
        label = "small"  # had to shrink the page to fit it in the frame
    if defect == "glare":
        img, frac = _add_glare(img, pts, alpha, rng)
        params["glare_fraction"] = frac
    if defect == "blur":
        sigma = rng.uniform(2.5, 5.0) * w / 1920
        img = cv2.GaussianBlur(img, (0, 0), sigma)
        params["sigma_px"] = sigma
    elif defect == "motion":
        length = int(rng.integers(9, 22) * w / 1920) | 1
        ang = rng.uniform(0, 180)
        img = np.asarray(cv2.filter2D(img, -1, _motion_kernel(max(length, 5), ang)), np.float32)
        params.update(length_px=length, angle_deg=ang)
    sigma_n = noise_sigma
    if defect == "dark":
        page_luma = float((img @ np.array([0.114, 0.587, 0.299], np.float32))[alpha > 0.5].mean())
        gain = rng.uniform(20, 50) / max(page_luma, 1.0)
        img *= gain
        sigma_n = rng.uniform(2.5, 5.0)
        params["gain"] = gain
    img += rng.standard_normal(size=tuple(img.shape)).astype(np.float32) * sigma_n
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    if jpeg_quality:
        _ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR), np.uint8)
    return SynthFrame(out, pts, hm, (pw, ph), label, still, float(still_dpi), params)


def _push_out(pts: np.ndarray, frame_wh: tuple[int, int], n_out: int, target: float) -> np.ndarray:
    """Shift the page so that ``n_out`` (1 or 2 neighbouring) corners lie ``target`` px or more beyond the
    frame border nearest to them."""
    w, h = frame_wh

    def border_dist(p: np.ndarray) -> tuple[float, str]:
        d = {"l": p[0], "r": w - p[0], "t": p[1], "b": h - p[1]}
        side = min(d, key=lambda k: d[k])
        return d[side], side

    groups = [[i] for i in range(4)] if n_out == 1 else [[i, (i + 1) % 4] for i in range(4)]
    best = min(groups, key=lambda g: border_dist(pts[g].mean(axis=0))[0])
    side = border_dist(pts[best].mean(axis=0))[1]
    out = pts.copy()
    if side == "l":
        out[:, 0] -= pts[best, 0].max() + target
    elif side == "r":
        out[:, 0] += (w - pts[best, 0].min()) + target
    elif side == "t":
        out[:, 1] -= pts[best, 1].max() + target
    else:
        out[:, 1] += (h - pts[best, 1].min()) + target
    return out


def _add_glare(img: np.ndarray, pts: np.ndarray, alpha: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, float]:
    h, w = img.shape[:2]
    area = float(alpha.sum())
    frac = rng.uniform(0.04, 0.12)
    ax_ratio = rng.uniform(0.4, 0.8)
    a = math.sqrt(frac * area / (math.pi * ax_ratio))
    b = a * ax_ratio
    u, v = rng.uniform(0.35, 0.65, 2)
    c = ((1 - u) * (1 - v) * pts[0] + u * (1 - v) * pts[1] + u * v * pts[2] + (1 - u) * v * pts[3])
    ang = rng.uniform(0, 180)
    core = np.zeros((h, w), np.float32)
    cv2.ellipse(core, (round(c[0] * 4), round(c[1] * 4)), (round(a * 4), round(b * 4)), ang, 0, 360, 1.0,
                -1, cv2.LINE_AA, 2)
    halo = cv2.GaussianBlur(core, (0, 0), max(3.0, a * 0.25))
    lift = np.maximum(core, halo * 0.8)
    img = img * (1 - lift[..., None]) + 255.0 * lift[..., None]
    img[core > 0.5] = 255.0
    return img, float(((core > 0.5) & (alpha > 0.5)).sum()) / max(area, 1.0)


def _add_hand(img: np.ndarray, pts: np.ndarray, frame_wh: tuple[int, int], rng: np.random.Generator
              ) -> np.ndarray:
    """A skin-coloured blob (a thumb holding the page) over the middle of the side nearest a border."""
    w, h = frame_wh
    best = None
    for i in range(4):
        mid = (pts[i] + pts[(i + 1) % 4]) / 2
        d = min(mid[0], w - mid[0], mid[1], h - mid[1])
        if best is None or d < best[0]:
            best = (d, mid)
    assert best is not None
    mid = best[1]
    c = pts.mean(axis=0)
    direction = (c - mid) / np.linalg.norm(c - mid)
    size = 0.09 * min(w, h)
    centre = mid + direction * size * 0.6
    mask: np.ndarray = np.zeros((h, w), np.float32)
    ang = math.degrees(math.atan2(direction[1], direction[0]))
    cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(size * 1.6), round(size * 0.7)), ang, 0,
                360,
                1.0, -1, cv2.LINE_AA)
    # the arm continues to the nearest frame border
    end = mid - direction * max(w, h)
    cv2.line(mask, (round(centre[0]), round(centre[1])), (round(end[0]), round(end[1])), 1.0,
             round(size * 1.2), cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), 2)
    skin = np.array([rng.uniform(120, 150), rng.uniform(150, 175), rng.uniform(200, 225)], np.float32)
    shade = 1 + 0.05 * _noise((h, w), 30, rng)
    return img * (1 - mask[..., None]) + (skin[None, None, :] * shade[..., None]) * mask[..., None]
