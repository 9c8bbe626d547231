"""Split a prepared page image into horizontal bands for concurrent OCR, and merge the bands' words.

A single Tesseract process uses one core, so one page on a 2-4 core kiosk leaves the other cores idle.
:func:`find_bands` cuts the page along full-width whitespace rows into ``n`` bands of about equal ink, so
that ``n`` Tesseract processes can read one page at once; :func:`merge_band_words` puts their words back
together as if one process had read the whole page.

How cuts are chosen (on a copy downscaled to about 100 dpi):

* **Ink.** The background is estimated by a grey closing wider than any stroke (so paper tone, shading,
  the scanner lid around a deskewed page and large dark areas such as punch holes count as background),
  and a pixel is ink when it is darker than that background by more than a threshold (at least 25 grey
  levels, and at least 40% of the page's strong ink contrast), so faint show-through and noise are not ink.
* **Candidates.** A cut may only lie in a run of rows without a single ink pixel across the full width,
  at least ``min_gap_mm`` high; the cut is the middle of the run. A vertical rule or a ruled table
  therefore never gets cut (its rows are never blank). Tone marks above a line without ascenders
  (``mã số của``) and dots below one without descenders (``Trụ sở tại``) are separated from their
  letters by blank rows too, but those gaps are thin (0.1-0.4 mm) and so is the row of marks: no cut is
  made next to an ink run lower than ``min(thin_mm, half the median ink run)``. Nor is a multi-column
  block (a borderless table, the two-column header of an administrative paper) cut: a gap whose nearest
  text line above AND below both have a wide interior gap at overlapping columns is refused, because
  cutting there would change Tesseract's column-wise reading order.
* **Balance.** Cut ``i`` of ``n`` goes to the candidate whose cumulative ink share is closest to ``i/n``,
  within ``tolerance / n``, keeping every band at least ``min_band_mm`` high. When no such candidate
  exists, fewer bands are tried, down to one band (the whole page).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import cv2
import numpy as np

from kiosk.vision.ocr import CharInfo, RawWord, run_tesseract_hocr

WORK_DPI = 100  # band finding runs on a copy at about this resolution


@dataclass(frozen=True)
class BandOptions:
    """``min_band_mm``: lowest band height. ``min_gap_mm``: lowest height of a blank run that may hold a
    cut. ``thin_mm``: ink runs lower than this (and than half the median run) are marks or rules, never
    cut next to. ``column_gap_mm``: an interior horizontal gap this wide in a text line marks a multi-column
    line. ``tolerance``: how far (as a share of the ink, times ``1/n``) a cut may sit from the balanced
    position. ``pad_mm``: blank rows added above/below a cut edge before Tesseract reads the band."""

    min_band_mm: float = 20.0
    min_gap_mm: float = 0.8
    thin_mm: float = 1.5
    column_gap_mm: float = 8.0
    tolerance: float = 0.3
    pad_mm: float = 3.0


DEFAULT_OPTIONS = BandOptions()


@dataclass(frozen=True)
class Band:
    """Rows ``y0 .. y1`` (exclusive) of the page image."""

    y0: int
    y1: int

    @property
    def height(self) -> int:
        return self.y1 - self.y0


def _mm(mm: float, dpi: float) -> int:
    return max(1, round(mm / 25.4 * dpi))


def ink_mask(grey: np.ndarray, dpi: int) -> tuple[np.ndarray, float]:
    """Binary ink mask (uint8 0/1) of ``grey`` downscaled to about WORK_DPI, and the row scale factor
    (page rows per mask row)."""
    h, w = grey.shape[:2]
    f = dpi / WORK_DPI if dpi > WORK_DPI else 1.0
    small = grey if f == 1.0 else cv2.resize(grey, (max(1, round(w / f)), max(1, round(h / f))),
                                             interpolation=cv2.INTER_AREA)
    sdpi = dpi / f
    k = _mm(4.0, sdpi) | 1  # wider than any stroke: the closing removes the ink, keeps the background
    bg = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)),
                          borderType=cv2.BORDER_REPLICATE)
    diff = cv2.subtract(bg, small)
    strong = float(np.percentile(diff, 99.5)) if diff.size else 0.0
    thr = max(25.0, 0.4 * strong)
    mask = (diff > thr).astype(np.uint8)
    return mask, h / small.shape[0]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Runs [a, b) of True values."""
    padded = np.concatenate([[False], flags.astype(bool), [False]])
    d = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(d[::2], d[1::2], strict=True)]


def _interior_gaps(cols: np.ndarray, min_w: int) -> list[tuple[int, int]]:
    """Blank column runs at least ``min_w`` wide strictly between the first and last ink column."""
    ink = np.flatnonzero(cols)
    if ink.size == 0:
        return []
    lo, hi = int(ink[0]), int(ink[-1]) + 1
    return [(a + lo, b + lo) for a, b in _runs(cols[lo:hi] == 0) if b - a >= min_w]


def _multi_column(mask: np.ndarray, above: tuple[int, int], below: tuple[int, int], min_w: int) -> bool:
    """Both text lines (row ranges of the mask) have a wide interior gap, at overlapping columns."""
    ga = _interior_gaps(np.asarray(mask[above[0]:above[1]].any(axis=0)), min_w)
    gb = _interior_gaps(np.asarray(mask[below[0]:below[1]].any(axis=0)), min_w)
    return any(a0 < b1 and b0 < a1 for a0, a1 in ga for b0, b1 in gb)


@dataclass(frozen=True)
class _Cut:
    y: int  # page row
    share: float  # ink share above the cut


def _candidates(mask: np.ndarray, fy: float, dpi: int, opt: BandOptions) -> tuple[list[_Cut], int]:
    rows = mask.sum(axis=1)
    total = int(rows.sum())
    if total == 0:
        return [], 0
    sdpi = dpi / fy
    blank = rows == 0
    ink_runs = _runs(~blank)  # text lines (and other ink) as row ranges
    min_gap = _mm(opt.min_gap_mm, sdpi)
    col_gap = _mm(opt.column_gap_mm, sdpi)
    heights = [b - a for a, b in ink_runs]
    thin = min(opt.thin_mm / 25.4 * sdpi, 0.5 * float(np.median(heights)))
    cum = np.concatenate([[0], np.cumsum(rows)])
    out: list[_Cut] = []
    for i in range(len(ink_runs) - 1):
        a, b = ink_runs[i][1], ink_runs[i + 1][0]  # the blank run between two ink runs
        if b - a < min_gap or heights[i] < thin or heights[i + 1] < thin:
            continue
        if _multi_column(mask, ink_runs[i], ink_runs[i + 1], col_gap):
            continue
        out.append(_Cut(round((a + b) / 2 * fy), float(cum[a]) / total))
    return out, total


def _choose(cands: list[_Cut], n: int, height: int, min_h: int, tol: float) -> list[int] | None:
    cuts: list[int] = []
    prev = 0
    for i in range(1, n):
        target = i / n
        ok = [c for c in cands if abs(c.share - target) <= tol / n and c.y - prev >= min_h
              and height - c.y >= min_h * (n - i)]
        if not ok:
            return None
        best = min(ok, key=lambda c: (abs(c.share - target), c.y))
        cuts.append(best.y)
        prev = best.y
    return cuts


def find_bands(grey: np.ndarray, dpi: int, n: int, options: BandOptions | None = None) -> list[Band]:
    """Up to ``n`` horizontal bands covering ``grey`` (a 2-D uint8 page image at ``dpi``), top to bottom,
    cut only along clean full-width whitespace runs (see the module docstring). Always at least one band;
    one band (the whole image) for ``n <= 1``, a blank or tiny image, or when no clean gap lies near a
    balanced position."""
    opt = options or DEFAULT_OPTIONS
    h = int(grey.shape[0])
    whole = [Band(0, h)]
    min_h = _mm(opt.min_band_mm, dpi)
    n = min(n, h // min_h) if min_h > 0 else n
    if n <= 1 or grey.size == 0:
        return whole
    mask, fy = ink_mask(grey, dpi)
    cands, total = _candidates(mask, fy, dpi, opt)
    if total == 0 or not cands:
        return whole
    for k in range(n, 1, -1):
        cuts = _choose(cands, k, h, min_h, opt.tolerance)
        if cuts is not None:
            edges = [0, *cuts, h]
            return [Band(a, b) for a, b in itertools.pairwise(edges)]
    return whole


def band_image(grey: np.ndarray, band: Band, pad: int) -> tuple[np.ndarray, int]:
    """The band's rows with ``pad`` replicated blank rows added at each edge that is a cut (not at the
    image's own top or bottom); returns the image and the page row of its first row."""
    h = grey.shape[0]
    top = pad if band.y0 > 0 else 0
    bottom = pad if band.y1 < h else 0
    crop = grey[band.y0:band.y1]
    if top or bottom:
        crop = cv2.copyMakeBorder(crop, top, bottom, 0, 0, cv2.BORDER_REPLICATE)
    return crop, band.y0 - top


def _shift(box: tuple[int, int, int, int], dy: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (x0, y0 + dy, x1, y1 + dy)


def merge_band_words(bands: Sequence[tuple[int, Sequence[RawWord]]]) -> list[RawWord]:
    """Words of the bands (each with the page row of its image's first row), top band first, as one
    page: word and character boxes shifted into page rows, lines renumbered 0, 1, ... in reading order
    (band by band, in each band Tesseract's order). Character alternatives are kept."""
    out: list[RawWord] = []
    next_line = 0
    for offset, words in bands:
        numbers = {ln: next_line + i for i, ln in enumerate(sorted({w.line for w in words}))}
        for w in words:
            chars = tuple(CharInfo(c.text, _shift(c.box, offset), c.confidence, c.choices) for c in w.chars)
            out.append(replace(w, box=_shift(w.box, offset), line=numbers[w.line], chars=chars))
        next_line += len(numbers)
    return out


def recognise(grey: np.ndarray, dpi: int, lang: str, n: int, options: BandOptions | None = None
              ) -> tuple[list[RawWord], list[Band]]:
    """Tesseract words of the whole page image ``grey`` (boxes in its pixels, lines numbered in reading
    order), read as up to ``n`` bands by concurrent Tesseract processes; and the bands used."""
    opt = options or DEFAULT_OPTIONS
    bands = find_bands(grey, dpi, n, opt)
    if len(bands) == 1:
        return run_tesseract_hocr(grey, dpi, lang), bands
    pad = _mm(opt.pad_mm, dpi)
    crops = [band_image(grey, b, pad) for b in bands]
    with ThreadPoolExecutor(max_workers=len(crops), thread_name_prefix="ocr-band") as pool:
        futures = [pool.submit(run_tesseract_hocr, img, dpi, lang) for img, _ in crops]
        results = [f.result() for f in futures]
    return merge_band_words([(off, words) for (_, off), words in zip(crops, results, strict=True)]), bands
