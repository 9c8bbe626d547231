"""Generated fixtures for the capture-quality tests: camera frames (kiosk.synth.camera), and page sides
for the blank / sticky / duplicate checks (paper with fibre texture, show-through, punch holes, dust,
hairs, a red seal, a short line, a signature, a sticky note)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kiosk.synth.camera import SynthFrame, make_frame, page_bgr

A4_200 = (1654, 2339)
PX_MM = 200 / 25.4


@cache
def frame(**kw: object) -> SynthFrame:
    """Cached synthetic frame (1280x720 preview of a 3840x2160 still unless told otherwise)."""
    args = {"size": (1280, 720), "still_size": (3840, 2160), **kw}
    return make_frame(**args)  # type: ignore[arg-type]


def paper(seed: int = 0, size: tuple[int, int] = A4_200) -> np.ndarray:
    """Blank paper at 200 dpi: warm tone, fibre texture (fine streaks), slow tone drift, noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    base = np.array([240.0, 246.0, 248.0], np.float32)  # BGR
    fib = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigmaX=3.0, sigmaY=0.6)
    drift = cv2.resize(rng.standard_normal((6, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    img = base[None, None, :] + (4.0 * fib + 3.0 * drift)[..., None]
    img += rng.standard_normal((h, w, 3)).astype(np.float32) * 1.5
    return np.clip(img, 0, 255).astype(np.uint8)


def bleed(seed: int = 0, contrast: float = 0.06) -> np.ndarray:
    """Show-through: a mirrored text page at a few percent contrast, blurred, on paper."""
    p = paper(seed)
    src = cv2.cvtColor(page_bgr(seed=seed, dpi=200), cv2.COLOR_BGR2GRAY).astype(np.float32)
    ink = (255.0 - src) / 255.0
    ink = cv2.GaussianBlur(ink[:, ::-1], (0, 0), 2.5)
    out = p.astype(np.float32) * (1 - contrast * ink[..., None] / max(float(ink.max()), 1e-6))
    return np.clip(out, 0, 255).astype(np.uint8)


def punched(seed: int = 0) -> np.ndarray:
    """Two punch holes (6 mm, 80 mm apart) in the left margin, dust specks and a hair."""
    rng = np.random.default_rng(seed)
    p = paper(seed)
    h, w = p.shape[:2]
    cx = round(12 * PX_MM)
    for cy in (h / 2 - 40 * PX_MM, h / 2 + 40 * PX_MM):
        cv2.circle(p, (cx, round(cy)), round(3 * PX_MM), (40, 40, 40), -1, cv2.LINE_AA)
    for _ in range(30):
        x, y = int(rng.integers(100, w - 100)), int(rng.integers(100, h - 100))
        cv2.circle(p, (x, y), int(rng.integers(1, 3)), (90, 90, 90), -1, cv2.LINE_AA)
    # a hair: a thin smooth arc
    x0, y0 = int(rng.integers(300, w - 500)), int(rng.integers(300, h - 500))
    pts = np.array([[x0 + 3 * t, y0 + 40 * math.sin(t / 40.0)] for t in range(0, 120)], np.int32)
    cv2.polylines(p, [pts], False, (110, 110, 110), 1, cv2.LINE_AA)
    return p


def _font(name: str, px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(f"/usr/share/fonts/truetype/noto/{name}", px)


def draw_seal(img: np.ndarray, centre: tuple[int, int], diameter_mm: float = 40.0) -> None:
    """A red round seal: double ring, text around the ring, a star in the middle."""
    r = round(diameter_mm / 2 * PX_MM)
    red = (40, 40, 200)
    cv2.circle(img, centre, r, red, 6, cv2.LINE_AA)
    cv2.circle(img, centre, r - 22, red, 3, cv2.LINE_AA)
    text = "ỦY BAN NHÂN DÂN XÃ MẪU * TỈNH MẪU * "
    f = _font("NotoSans-Bold.ttf", 26)
    for i, ch in enumerate(text):
        ang = 2 * math.pi * i / len(text) - math.pi / 2
        tile = Image.new("L", (40, 40), 0)
        ImageDraw.Draw(tile).text((8, 2), ch, font=f, fill=255)
        tile = tile.rotate(-math.degrees(ang) - 90, resample=Image.BILINEAR)
        m = np.asarray(tile) > 100
        x = round(centre[0] + (r - 12) * math.cos(ang)) - 20
        y = round(centre[1] + (r - 12) * math.sin(ang)) - 20
        sub = img[y:y + 40, x:x + 40]
        sub[m[:sub.shape[0], :sub.shape[1]]] = red
    star = np.array([[centre[0] + 40 * math.cos(a) * (1 if k % 2 == 0 else 0.4),
                      centre[1] + 40 * math.sin(a) * (1 if k % 2 == 0 else 0.4)]
                     for k, a in enumerate(np.linspace(-math.pi / 2, 1.5 * math.pi, 11)[:-1])], np.int32)
    cv2.fillPoly(img, [star], red, cv2.LINE_AA)


def draw_text(img: np.ndarray, text: str, xy: tuple[int, int], size_px: int = 33,
              colour: tuple[int, int, int] = (20, 20, 20), font: str = "NotoSerif-Regular.ttf") -> None:
    pil = Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    ImageDraw.Draw(pil).text(xy, text, font=_font(font, size_px), fill=colour[::-1])
    img[:] = cv2.cvtColor(np.asarray(pil), cv2.COLOR_RGB2BGR)


def draw_signature(img: np.ndarray, origin: tuple[int, int], seed: int = 0) -> None:
    """A signature scribble: a looping pen stroke in blue ink."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 400)
    x = origin[0] + 320 * t + 30 * np.sin(2 * math.pi * 5 * t + rng.uniform(0, 1))
    y = origin[1] + 45 * np.sin(2 * math.pi * 2.5 * t) * np.cos(2 * math.pi * 7 * t) + 10 * t
    cv2.polylines(img, [np.stack([x, y], axis=1).astype(np.int32)], False, (140, 40, 20), 3, cv2.LINE_AA)


def sticky_page(seed: int = 0, angle: float = 6.0, colour: tuple[int, int, int] = (120, 240, 255)
                ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A text page at 200 dpi with a 75 mm rotated note carrying a few handwritten words; returns the
    page and the note's bounding box [x0, y0, x1, y1) (shadow excluded)."""
    p = page_bgr(seed=seed, dpi=200)
    side = 75 * PX_MM
    c = np.array([800.0, 1200.0])
    a = math.radians(angle)
    rot = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    quad = (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * side / 2) @ rot.T + c
    shadow = np.zeros(p.shape[:2], np.float32)
    cv2.fillConvexPoly(shadow, np.round((quad + 8 - 0.5) * 16).astype(np.int32), 1.0, cv2.LINE_AA, 4)
    shadow = cv2.GaussianBlur(shadow, (0, 0), 6)
    p = (p.astype(np.float32) * (1 - 0.25 * shadow[..., None])).astype(np.uint8)
    cv2.fillConvexPoly(p, np.round((quad - 0.5) * 16).astype(np.int32), colour, cv2.LINE_AA, 4)
    tile = Image.new("L", (500, 140), 0)
    ImageDraw.Draw(tile).text((10, 10), "Bổ sung bản sao", font=_font("NotoSans-Italic.ttf", 60), fill=255)
    m = np.asarray(tile.rotate(angle, expand=False)) > 120
    y0, x0 = round(c[1] - 120), round(c[0] - 250)
    sub = p[y0:y0 + 140, x0:x0 + 500]
    sub[m] = (120, 40, 30)
    x_0, y_0 = np.floor(quad.min(axis=0)).astype(int)
    x_1, y_1 = np.ceil(quad.max(axis=0)).astype(int)
    return p, (int(x_0), int(y_0), int(x_1), int(y_1))


@dataclass
class Docs:
    paper: Callable[..., np.ndarray]
    bleed: Callable[..., np.ndarray]
    punched: Callable[..., np.ndarray]
    draw_seal: Callable[..., None]
    draw_text: Callable[..., None]
    draw_signature: Callable[..., None]
    sticky_page: Callable[..., tuple[np.ndarray, tuple[int, int, int, int]]]
    frame: Callable[..., SynthFrame]


@pytest.fixture(scope="session")
def docs() -> Docs:
    return Docs(paper, bleed, punched, draw_seal, draw_text, draw_signature, sticky_page, frame)
