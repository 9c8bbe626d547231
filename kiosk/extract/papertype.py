"""On-device paper-type classifier (DESIGN R2, R5): tells an ID card, an application form, a decision or
certificate, and any other paper apart, so that the kiosk can warn when the captured paper does not match
the checklist component it asked for.

Two stages, the same in training (``scripts/train_papertype.py``) and at run time:

1. ``features(image)`` (OpenCV, a few milliseconds): a 32 x 32 thumbnail of the whole image, ink densities
   on coarse grids of the page and of its top quarter (agency block, motto, title), row and column ink
   profiles, dotted-leader and checkbox evidence (forms), red-ink evidence (seals, emblems), aspect ratio,
   brightness, saturation and edge statistics.
2. A small multilayer perceptron (standardisation folded into the first layer, ReLU, softmax), shipped as a
   LiteRT flatbuffer ``kiosk/data/models/papertype.tflite`` and run with ``ai_edge_litert``. Its labels,
   input size, training data and measured accuracy are in ``papertype.json`` next to it.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.errors import KioskError

log = logging.getLogger("kiosk.extract")

MODEL_DIR = Path(__file__).resolve().parent.parent / "data" / "models"
MODEL_PATH = MODEL_DIR / "papertype.tflite"
INFO_PATH = MODEL_DIR / "papertype.json"
KINDS = ("id_card", "application_form", "decision_or_certificate", "other")
THUMB = 32
WORK_LONG = 1000
FEATURE_VERSION = 3
# A mismatch is reported only when the model is this sure of another kind and gives the expected kind
# less than MISMATCH_MAX_EXPECTED: an unsure model never makes the citizen retake a paper.
MISMATCH_MIN_CONFIDENCE = 0.6
MISMATCH_MAX_EXPECTED = 0.2


def _grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _grid(mask: np.ndarray, rows: int, cols: int) -> np.ndarray:
    small = cv2.resize(mask.astype(np.float32), (cols, rows), interpolation=cv2.INTER_AREA)
    return small.reshape(-1)


def _profile(values: np.ndarray, bins: int) -> np.ndarray:
    return cv2.resize(
        values.astype(np.float32).reshape(-1, 1), (1, bins), interpolation=cv2.INTER_AREA
    ).reshape(-1)


def _leader_features(ink: np.ndarray) -> tuple[float, float, float]:
    """Dotted leaders and checkboxes in a binary ink image about 1000 px on its long side: number of dot
    chains (>= 5 small dots on a baseline, regular pitch), their total length relative to the width, and
    the number of small hollow squares."""
    n, _, stats, cent = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return 0.0, 0.0, 0.0
    w = stats[1:, cv2.CC_STAT_WIDTH]
    h = stats[1:, cv2.CC_STAT_HEIGHT]
    area = stats[1:, cv2.CC_STAT_AREA]
    small = np.where((w <= 4) & (h <= 4) & (area >= 1))[0] + 1
    chains = 0
    length = 0.0
    if len(small):
        order = small[np.lexsort((cent[small, 0], np.round(cent[small, 1] / 3)))]
        run = [order[0]]
        for i in order[1:]:
            prev = run[-1]
            if abs(cent[i, 1] - cent[prev, 1]) <= 2 and 1 <= cent[i, 0] - cent[prev, 0] <= 9:
                run.append(i)
                continue
            if len(run) >= 5:
                chains += 1
                length += cent[run[-1], 0] - cent[run[0], 0]
            run = [i]
        if len(run) >= 5:
            chains += 1
            length += cent[run[-1], 0] - cent[run[0], 0]
    # checkboxes: square components 8-30 px whose inside is mostly empty
    sq = np.where((w >= 8) & (w <= 30) & (np.abs(w - h) <= 2) & (area < 0.45 * w * h) & (area > 1.5 * w))[0]
    return float(chains), float(length / max(1, ink.shape[1])), float(len(sq))


def _thin_line_features(ink: np.ndarray) -> tuple[float, float, float]:
    """Horizontal thin lines (dotted or solid leaders, underlines, table rules) in a binary ink image about
    1000 px on its long side: dots and dashes are joined by a short horizontal closing, text lines are
    removed because they are thicker than 5 px. Returns the number of thin segments 3-70 % of the width
    long, their total length in widths, and the number of longer ones (frames, table borders)."""
    wd = ink.shape[1]
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 1)))
    seg = cv2.getStructuringElement(cv2.MORPH_RECT, (max(10, wd // 35), 1))
    opened = cv2.morphologyEx(closed, cv2.MORPH_OPEN, seg)
    thick = cv2.morphologyEx(opened, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, 5)))
    thin = cv2.subtract(opened, cv2.dilate(thick, np.ones((3, 3), np.uint8)))
    thin = cv2.morphologyEx(thin, cv2.MORPH_OPEN, seg)
    n, _, st, _ = cv2.connectedComponentsWithStats(thin)
    if n <= 1:
        return 0.0, 0.0, 0.0
    lens = st[1:, cv2.CC_STAT_WIDTH] / wd
    hs = st[1:, cv2.CC_STAT_HEIGHT]
    mid = (lens >= 0.03) & (lens < 0.7) & (hs <= 6)
    return float(mid.sum()), float(lens[mid].sum()), float((lens >= 0.7).sum())


def _text_runs_vertically(view: np.ndarray) -> bool:
    """True when the text lines of ``view`` run top to bottom: closing the ink along the lines joins the
    characters into long thin bars, so count bars after a horizontal and after a vertical closing."""
    g = _grey(view)
    h, w = g.shape
    t = 600 / max(h, w)
    g = cv2.resize(g, (max(8, round(w * t)), max(8, round(h * t))), interpolation=cv2.INTER_AREA)
    ink = cv2.adaptiveThreshold(g, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 12)

    def bars(kernel: tuple[int, int], along_x: bool) -> int:
        closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
        _, _, st, _ = cv2.connectedComponentsWithStats(closed)
        bw, bh = st[1:, cv2.CC_STAT_WIDTH], st[1:, cv2.CC_STAT_HEIGHT]
        long_ = (bw > 5 * bh) if along_x else (bh > 5 * bw)
        return int((long_ & (np.maximum(bw, bh) > 25)).sum())

    return bars((1, 9), along_x=False) > 1.5 * max(3, bars((9, 1), along_x=True))


def normalise_view(bgr: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Crop a photo to the paper lying in it and turn sideways text upright-ish.

    The paper is the largest bright region (Otsu on a small copy) when it covers 12-92 % of the image and
    fills its bounding box well; flat captures and scans are left whole. A crop whose text runs vertically
    (``_text_runs_vertically``) is turned by 90 degrees. Returns the view,
    the fraction of the image it covers and whether it was turned."""
    h, w = bgr.shape[:2]
    s = 400 / max(h, w)
    small = cv2.resize(_grey(bgr), (max(4, round(w * s)), max(4, round(h * s))), interpolation=cv2.INTER_AREA)
    _, bright = cv2.threshold(cv2.GaussianBlur(small, (5, 5), 0), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    bright = cv2.morphologyEx(bright, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(bright)
    view, frac = bgr, 1.0
    if n > 1:
        i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        x, y, bw, bh, area = (int(v) for v in stats[i])
        frac = area / float(small.shape[0] * small.shape[1])
        if 0.12 <= frac <= 0.92 and area >= 0.6 * bw * bh:
            pad = 2
            x0, y0 = max(0, x - pad), max(0, y - pad)
            x1, y1 = min(small.shape[1], x + bw + pad), min(small.shape[0], y + bh + pad)
            view = bgr[round(y0 / s) : round(y1 / s), round(x0 / s) : round(x1 / s)]
        else:
            frac = 1.0
    turned = False
    vh, vw = view.shape[:2]
    if vw > vh and _text_runs_vertically(view):
        view = cv2.rotate(view, cv2.ROTATE_90_CLOCKWISE)
        turned = True
    return view, frac, turned


def features(image: np.ndarray) -> np.ndarray:
    """The classifier's input vector (float32) for a BGR, BGRA or grey uint8 image of any size."""
    if image is None or image.size == 0 or image.dtype != np.uint8:
        raise KioskError("ocr.bad_image")
    bgr, _, _ = normalise_view(_bgr(image))
    grey = _grey(bgr)
    h, w = grey.shape
    s = WORK_LONG / max(h, w)
    work = cv2.resize(grey, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
    wbgr = cv2.resize(bgr, (work.shape[1], work.shape[0]), interpolation=cv2.INTER_AREA)
    lo, hi = np.percentile(work, (2, 98))
    norm = np.clip((work.astype(np.float32) - lo) / max(1.0, hi - lo), 0, 1)
    thumb = 1.0 - cv2.resize(norm, (THUMB, THUMB), interpolation=cv2.INTER_AREA).reshape(-1)
    block = max(15, (min(work.shape) // 30) | 1)
    ink = cv2.adaptiveThreshold(work, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)
    hsv = cv2.cvtColor(wbgr, cv2.COLOR_BGR2HSV)
    b, g, r = (wbgr[..., i].astype(np.int16) for i in range(3))
    red = ((r > 120) & (r - g > 50) & (r - b > 40)).astype(np.uint8)
    blue = ((b > 90) & (b - r > 40) & (b - g > 20)).astype(np.uint8)
    bright = (work > 170).astype(np.uint8)
    sat = hsv[..., 1].astype(np.float32) / 255.0
    lap = np.abs(cv2.Laplacian(work, cv2.CV_32F))
    ry = np.where(red.any(axis=1))[0]
    red_y = float(ry.mean() / work.shape[0]) if len(ry) else 0.0
    chains, lead_len, boxes = _leader_features(ink)
    thin_n, thin_len, long_lines = _thin_line_features(ink * 255)
    top = ink[: max(1, ink.shape[0] // 4)]
    rows_profile = _profile(ink.mean(axis=1), 24)
    cols_profile = _profile(ink.mean(axis=0), 12)
    line_rows = (ink.mean(axis=1) > 0.02).astype(np.float32)
    transitions = float(np.abs(np.diff(line_rows)).sum()) / 2.0
    scalars = np.array(
        [
            np.log(w / h),
            float(w > h),
            float(ink.mean()),
            float(red.mean()) * 20,
            red_y,
            float(blue.mean()) * 10,
            float(bright.mean()),
            float(sat.mean()),
            float(np.median(work)) / 255.0,
            float(work.std()) / 128.0,
            float(lap.mean()) / 20.0,
            float((lap > 30).mean()) * 5,
            min(chains, 60.0) / 20.0,
            min(lead_len, 40.0) / 10.0,
            min(boxes, 40.0) / 10.0,
            transitions / 40.0,
            float((ink.mean(axis=0) > 0.02).mean()),
            min(thin_n, 100.0) / 30.0,
            min(thin_len, 15.0) / 4.0,
            min(long_lines, 10.0) / 3.0,
        ],
        np.float32,
    )
    vec = np.concatenate(
        [
            thumb,
            _grid(ink, 8, 6),
            _grid(top, 3, 6),
            rows_profile,
            cols_profile,
            _grid(red, 4, 4) * 10,
            _grid(bright, 4, 4),
            _grid(sat, 4, 4),
            scalars,
        ]
    )
    return vec.astype(np.float32)


def feature_size() -> int:
    return THUMB * THUMB + 48 + 18 + 24 + 12 + 16 * 3 + 20


# --- inference ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperKindCheck:
    """The classifier's answer for one image: the most likely ``kind``, its probability, whether the
    paper ``matches`` the expected kind (see ``check_paper_kind``), and the probability of every kind."""

    kind: str
    confidence: float
    matches: bool
    expected: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)

    def warning(self) -> str | None:
        """Message key to show when the paper does not match (None when it does)."""
        return None if self.matches else "extract.paper_kind_mismatch"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "confidence": round(self.confidence, 4),
            "expected": self.expected,
            "matches": self.matches,
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
        }


class PaperTypeModel:
    """The LiteRT model with its label list; ``predict`` is thread-safe."""

    def __init__(self, path: Path = MODEL_PATH, info_path: Path = INFO_PATH) -> None:
        from ai_edge_litert.interpreter import Interpreter

        if not path.exists():
            raise KioskError("extract.no_model", path=str(path))
        self.info: dict[str, Any] = (
            json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
        )
        self.labels: tuple[str, ...] = tuple(self.info.get("labels", KINDS))
        self._interp = Interpreter(model_path=str(path), num_threads=1)
        self._interp.allocate_tensors()
        self._in = self._interp.get_input_details()[0]
        self._out = self._interp.get_output_details()[0]
        n = int(self._in["shape"][-1])
        if n != feature_size() or int(self.info.get("feature_version", FEATURE_VERSION)) != FEATURE_VERSION:
            raise KioskError("extract.model_mismatch", got=n, expected=feature_size())
        self._lock = threading.Lock()

    def predict_features(self, vec: np.ndarray) -> np.ndarray:
        with self._lock:
            self._interp.set_tensor(self._in["index"], vec.reshape(1, -1).astype(np.float32))
            self._interp.invoke()
            return np.array(self._interp.get_tensor(self._out["index"])[0], dtype=np.float64)

    def predict(self, image: np.ndarray) -> dict[str, float]:
        probs = self.predict_features(features(image))
        return {k: float(p) for k, p in zip(self.labels, probs, strict=True)}


@cache
def default_model() -> PaperTypeModel:
    return PaperTypeModel()


def classify(image: np.ndarray, model: PaperTypeModel | None = None) -> PaperKindCheck:
    """The most likely paper kind of ``image`` (no expectation)."""
    probs = (model or default_model()).predict(image)
    kind = max(probs, key=lambda k: probs[k])
    return PaperKindCheck(kind, probs[kind], True, None, probs)


def check_paper_kind(
    image: np.ndarray, expected_kind: str, *, first_page: bool = True, model: PaperTypeModel | None = None
) -> PaperKindCheck:
    """Classify ``image`` and compare with the kind the checklist component expects.

    ``matches`` is False only when the model is confident (>= 0.6) of another kind and gives the expected
    kind < 0.2. Pages after the first of a decision or form are often plain text: with
    ``first_page=False`` the kind 'other' also matches those components."""
    if expected_kind not in KINDS:
        raise KioskError("extract.unknown_kind", kind=expected_kind, known=", ".join(KINDS))
    probs = (model or default_model()).predict(image)
    kind = max(probs, key=lambda k: probs[k])
    confident_other = probs[kind] >= MISMATCH_MIN_CONFIDENCE and probs[expected_kind] < MISMATCH_MAX_EXPECTED
    matches = kind == expected_kind or not confident_other
    if (
        not first_page
        and kind == "other"
        and expected_kind in ("application_form", "decision_or_certificate")
    ):
        matches = True
    log.info(
        "paper kind checked",
        extra={
            "kind": kind,
            "expected": expected_kind,
            "matches": matches,
            "confidence": round(probs[kind], 3),
        },
    )
    return PaperKindCheck(kind, probs[kind], matches, expected_kind, probs)
