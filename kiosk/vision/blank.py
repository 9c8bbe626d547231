"""Blank-side detection (R6): is this side of a sheet blank?

The page is brought to about 4 px/mm (long side taken as the paper's long side), the paper tone is
estimated locally (closing + median), and "ink" is what is clearly darker than the local paper (relative
darkness >= 0.15) or clearly more coloured than it (a red seal, blue ink). A 3 % border is ignored (scanner
edge strips, shadows of the page edge). Show-through from the other side stays far below the darkness
threshold (it is faint and blurred), and paper texture and noise do not reach it.

The connected ink blobs are then sorted:

* punch holes: filled round blobs 4-9 mm across near a page edge - ignored;
* dust specks: blobs under 1.5 mm^2 with no other blob within 4 mm - ignored;
* hairs: isolated thin (< 0.45 mm) strokes that run straight or in a smooth curve (their outline is not
  much longer than twice their extent) - ignored;
* everything else is content: text, a seal, a signature (a scribble's outline is long for its extent),
  even a single short line such as "- 2 -".

``score`` is the content ink area in mm^2; the side is blank when it is below 1 mm^2. A blank side is only
ever *flagged*: the session asks the citizen to confirm and keeps the image (R6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from kiosk.vision.geometry import paper_mm

WORK_PX_PER_MM = 3.94  # ~100 dpi
BLANK_MAX_MM2 = 1.0
DARKNESS = 0.15
CHROMA_EXCESS = 50


@dataclass(frozen=True)
class BlankResult:
    """``blank``: no content found; ``score``: content ink area in mm^2 (0 for a clean side);
    ``ignored``: counts of blobs set aside as punch holes, dust and hairs."""

    blank: bool
    score: float
    ignored: dict[str, int]


def _work(image: np.ndarray, paper: str) -> tuple[np.ndarray, float]:
    long_mm = paper_mm(paper)[1]
    f = WORK_PX_PER_MM * long_mm / max(image.shape[:2])
    interp = cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR
    small = cv2.resize(image, (max(16, round(image.shape[1] * f)), max(16, round(image.shape[0] * f))),
                       interpolation=interp)
    return small, max(small.shape[:2]) / long_mm


def ink_map(image: np.ndarray, paper: str = "A4") -> tuple[np.ndarray, float]:
    """Binary ink mask at about 4 px/mm (border zone cleared) and its px/mm."""
    small, pxmm = _work(image, paper)
    if small.ndim == 3:
        g = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        mx = cv2.max(cv2.max(small[:, :, 0], small[:, :, 1]), small[:, :, 2])
        mn = cv2.min(cv2.min(small[:, :, 0], small[:, :, 1]), small[:, :, 2])
        chroma = cv2.subtract(mx, mn)
    else:
        g = small
        chroma = np.zeros_like(g)
    k = max(3, round(2 * pxmm) | 1)
    paper_tone = cv2.medianBlur(cv2.morphologyEx(g, cv2.MORPH_CLOSE, np.ones((k, k), np.uint8)), 31)
    pt = paper_tone.astype(np.float32)
    dark = (pt - g.astype(np.float32)) / np.maximum(pt, 1.0)
    bg_chroma = cv2.medianBlur(chroma, 31)
    ink = (dark >= DARKNESS) | (cv2.subtract(chroma, bg_chroma) >= CHROMA_EXCESS)
    m = max(2, int(0.03 * min(g.shape)))
    ink[:m, :] = False
    ink[-m:, :] = False
    ink[:, :m] = False
    ink[:, -m:] = False
    return ink.astype(np.uint8), pxmm


def detect_blank(image: np.ndarray, paper: str = "A4") -> BlankResult:
    """Blank-side check of a page image (a dewarped still or a scan, any resolution)."""
    ink, pxmm = ink_map(image, paper)
    h, w = ink.shape
    n, lab, stats, _cents = cv2.connectedComponentsWithStats(ink, connectivity=8)
    mm2 = pxmm * pxmm
    ignored = {"punch_holes": 0, "dust": 0, "hairs": 0}
    if n <= 1:
        return BlankResult(True, 0.0, ignored)
    idx = np.arange(1, n)
    areas = stats[idx, cv2.CC_STAT_AREA].astype(np.float64)
    x0 = stats[idx, cv2.CC_STAT_LEFT].astype(np.float64)
    y0 = stats[idx, cv2.CC_STAT_TOP].astype(np.float64)
    bw = stats[idx, cv2.CC_STAT_WIDTH].astype(np.float64)
    bh = stats[idx, cv2.CC_STAT_HEIGHT].astype(np.float64)
    keep = np.ones(len(idx), bool)

    # punch holes: round, filled, 4-9 mm, within 25 mm of an edge
    edge_mm = 25 * pxmm
    for i in range(len(idx)):
        d_w, d_h = bw[i] / pxmm, bh[i] / pxmm
        if 4 <= d_w <= 9 and 4 <= d_h <= 9 and 0.75 <= d_w / d_h <= 1.33:
            fill = areas[i] / (math.pi / 4 * bw[i] * bh[i])
            cx, cy = x0[i] + bw[i] / 2, y0[i] + bh[i] / 2
            near_edge = min(cx, w - cx, cy, h - cy) <= edge_mm
            if fill >= 0.8 and near_edge:
                keep[i] = False
                ignored["punch_holes"] += 1

    # isolation: no substantial blob (>= 1 mm^2; dust specks do not count) within 4 mm. Dilating the
    # substantial blobs by 2 mm joins those closer than 4 mm into one cluster.
    substantial = keep & (areas >= 1.0 * mm2)
    sub_mask = np.isin(lab, idx[substantial]).astype(np.uint8)
    r = max(1, round(2 * pxmm))
    grown = cv2.dilate(sub_mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    _, clus = cv2.connectedComponents(grown, connectivity=8)
    # the cluster of each blob (at one of its pixels) and how many substantial blobs each cluster holds
    ys, xs = np.nonzero(lab)
    first = np.full(n, -1, np.int64)
    first[lab[ys, xs][::-1]] = np.arange(len(ys))[::-1]
    at = np.maximum(first[idx], 0)
    blob_clus = np.where(first[idx] >= 0, clus[ys[at], xs[at]], 0)
    per_cluster = np.bincount(blob_clus[substantial], minlength=int(clus.max()) + 1)
    isolated = np.where(substantial, per_cluster[blob_clus] <= 1, blob_clus == 0)
    kept = np.nonzero(keep)[0]

    score = 0.0
    for i in kept.tolist():
        a_mm2 = areas[i] / mm2
        if isolated[i] and a_mm2 < 1.5:
            ignored["dust"] += 1
            continue
        if isolated[i]:
            sub = lab[int(y0[i]):int(y0[i] + bh[i]), int(x0[i]):int(x0[i] + bw[i])]
            comp = (sub == idx[i]).astype(np.uint8)
            cnts, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            perim = sum(cv2.arcLength(c, True) for c in cnts)
            width_mm = 2 * areas[i] / max(perim, 1.0) / pxmm
            extent = math.hypot(bw[i], bh[i])
            if width_mm < 0.45 and perim / 2 <= 1.6 * extent:
                ignored["hairs"] += 1
                continue
        score += a_mm2
        if score >= 50 * BLANK_MAX_MM2:
            break  # clearly not blank
    return BlankResult(bool(score < BLANK_MAX_MM2), round(float(score), 3), ignored)
