"""Image preparation before Tesseract. Each step is optional and was measured on the benchmark
(``benchmarks/eval_ocr.py --variants ...``; figures in docs/ocr.md); the defaults keep only what helped.

The prepared image can be rotated (deskew) and scaled (upscale) relative to the input; ``Prepared.to_input``
is the 2x3 affine map from prepared-image pixels back to input pixels so that word boxes refer to the
input image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.dewarp import estimate_skew
from kiosk.vision.ocr import to_grey


@dataclass(frozen=True)
class PreprocessOptions:
    """``deskew``: estimate the text skew (up to ``max_skew_deg``) and rotate it away.
    ``target_dpi``: upscale images below this resolution to it (0: never).
    ``background``: divide by a smoothed background (flattens lighting gradients and paper tone).
    ``binarize``: 'none', 'otsu' or 'sauvola'-like adaptive threshold.
    ``contrast``: stretch the grey levels between the 1st and 99th percentiles.
    """

    deskew: bool = True
    max_skew_deg: float = 5.0
    target_dpi: int = 0
    background: bool = False
    binarize: str = "none"
    contrast: bool = False


@dataclass(frozen=True)
class Prepared:
    """The image handed to Tesseract, the resolution to tell it, and the map back to input pixels."""

    image: np.ndarray
    dpi: int
    to_input: np.ndarray  # 2x3 affine: prepared pixel -> input pixel
    skew_deg: float = 0.0

    @property
    def scale(self) -> float:
        return float(np.hypot(self.to_input[0, 0], self.to_input[1, 0])) ** -1


# Measured (docs/ocr.md): deskew helps a lot on flatbed scans; upscaling helps below 200 dpi and hurts at
# 200 dpi and above; binarisation (Otsu, adaptive) hurts; background flattening and contrast stretching
# make no measurable difference. So: deskew, and bring pages below 200 dpi up to 200 dpi.
DEFAULT = PreprocessOptions(deskew=True, target_dpi=200)

VARIANTS: dict[str, PreprocessOptions] = {
    "default": DEFAULT,
    "none": PreprocessOptions(deskew=False),
    "deskew": PreprocessOptions(deskew=True),  # no upscaling
    "up300": PreprocessOptions(deskew=True, target_dpi=300),
    "up200": PreprocessOptions(deskew=True, target_dpi=200),
    "up250": PreprocessOptions(deskew=True, target_dpi=250),
    "up400": PreprocessOptions(deskew=True, target_dpi=400),
    "background": PreprocessOptions(deskew=True, background=True),
    "contrast": PreprocessOptions(deskew=True, contrast=True),
    "otsu": PreprocessOptions(deskew=True, binarize="otsu"),
    "adaptive": PreprocessOptions(deskew=True, binarize="adaptive"),
    "bg_otsu": PreprocessOptions(deskew=True, background=True, binarize="otsu"),
}


def _background_normalise(grey: np.ndarray, dpi: int) -> np.ndarray:
    k = max(3, int(dpi / 10) | 1)  # a closing wider than strokes removes the ink
    bg = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.GaussianBlur(bg, (0, 0), k / 2)
    out = cv2.divide(grey.astype(np.float32), np.maximum(bg.astype(np.float32), 1.0), scale=255.0)
    return np.clip(out, 0, 255).astype(np.uint8)


def _stretch(grey: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(grey, (1, 99))
    if hi - lo < 10:
        return grey
    out = (grey.astype(np.float32) - lo) * (255.0 / (hi - lo))
    return np.clip(out, 0, 255).astype(np.uint8)


def prepare(image: np.ndarray, dpi: int, options: PreprocessOptions | None = None) -> Prepared:
    opt = options or DEFAULT
    grey = to_grey(image)
    to_input = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    skew = 0.0
    if opt.deskew:
        skew = estimate_skew(grey, opt.max_skew_deg)  # the still pipeline's estimator (one for both)
        if abs(skew) >= 0.05:
            h, w = grey.shape
            # rotate by -skew about the centre, into a canvas large enough to keep every pixel
            m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), -skew, 1.0)
            cos, sin = abs(m[0, 0]), abs(m[0, 1])
            nw, nh = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
            m[0, 2] += nw / 2.0 - w / 2.0
            m[1, 2] += nh / 2.0 - h / 2.0
            border = int(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))
            grey = cv2.warpAffine(grey, m, (nw, nh), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT,
                                  borderValue=border)
            to_input = cv2.invertAffineTransform(m)
    if opt.target_dpi and dpi < opt.target_dpi:
        f = opt.target_dpi / dpi
        grey = cv2.resize(grey, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        to_input = to_input @ np.array([[1 / f, 0.0, 0.0], [0.0, 1 / f, 0.0], [0.0, 0.0, 1.0]])
        dpi = opt.target_dpi
    if opt.background:
        grey = _background_normalise(grey, dpi)
    if opt.contrast:
        grey = _stretch(grey)
    if opt.binarize == "otsu":
        _, grey = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    elif opt.binarize == "adaptive":
        block = max(3, int(dpi / 4) | 1)
        grey = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 15)
    return Prepared(grey, int(dpi), to_input, skew)


def box_to_input(prep: Prepared, box: tuple[int, int, int, int], width: int, height: int
                 ) -> tuple[int, int, int, int]:
    """Axis-aligned box (x0, y0, x1, y1) in prepared pixels -> bounding box in input pixels, clipped."""
    x0, y0, x1, y1 = box
    pts = np.array([[x0, y0, 1.0], [x1, y0, 1.0], [x1, y1, 1.0], [x0, y1, 1.0]])
    mapped = pts @ prep.to_input.T
    bx0 = int(np.floor(mapped[:, 0].min()))
    by0 = int(np.floor(mapped[:, 1].min()))
    bx1 = int(np.ceil(mapped[:, 0].max()))
    by1 = int(np.ceil(mapped[:, 1].max()))
    return (min(max(bx0, 0), width), min(max(by0, 0), height),
            min(max(bx1, 0), width), min(max(by1, 0), height))
