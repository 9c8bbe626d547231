"""Read the machine-readable zone from a photo of the back of a chip ID card (TD1) or a passport data page
(TD3), for the identification step when there is no serial MRZ reader (DESIGN R1).

1. Find the MRZ band with OpenCV morphology: a black-hat transform brings out dark text on the light card,
   a horizontal gradient and a wide closing join characters into text lines and the lines into a band;
   bands are ranked by width, fill, aspect ratio and their place low in the card.
2. Straighten the band (minimum-area rectangle), scale it to about 40 px per character height, and OCR it
   with Tesseract ``eng`` restricted to ``A-Z0-9<`` in single-block mode. No OCR-B model ships with Debian's
   tesseract-ocr; ``eng`` with the whitelist is what ``benchmarks/eval_extract.py`` measures.
3. Normalise the lines to the format's length (OCR often drops or adds a ``<`` in long filler runs: the
   variants are tried and the check digits decide), map letters that look like digits (O/0, I/1, B/8,
   S/5, Z/2, G/6, Q/D/0) in the positions that must hold digits, and accept a repair only when the check
   digits then pass. Letters-only fields (state, nationality, names) get the reverse mapping, which no
   check digit covers: those fields are validated by format only.
4. Parse with ``kiosk.core.mrz.parse_mrz``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass
from itertools import product

import cv2
import numpy as np

from kiosk.core.mrz import LINE_LENGTHS, MrzResult, parse_mrz
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.extract")

WHITELIST = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"
TO_DIGIT = str.maketrans(
    {
        "O": "0",
        "Q": "0",
        "D": "0",
        "U": "0",
        "I": "1",
        "L": "1",
        "T": "1",
        "Z": "2",
        "S": "5",
        "G": "6",
        "B": "8",
        "A": "4",
    }
)
TO_LETTER = str.maketrans({"0": "O", "1": "I", "2": "Z", "5": "S", "6": "G", "8": "B", "4": "A"})


@dataclass(frozen=True)
class Band:
    """A candidate MRZ band: its rotated rectangle in work-image pixels and a plausibility score."""

    rect: tuple[tuple[float, float], tuple[float, float], float]
    score: float


def _to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _bands_at(grey: np.ndarray) -> list[Band]:
    """Candidate bands in a grey image scaled so that MRZ characters are roughly 8-20 px tall (the
    kernel sizes are tuned for that)."""
    h, w = grey.shape
    blur = cv2.GaussianBlur(grey, (3, 3), 0)
    rect_k = cv2.getStructuringElement(cv2.MORPH_RECT, (13, 5))
    blackhat = cv2.morphologyEx(blur, cv2.MORPH_BLACKHAT, rect_k)
    grad = np.abs(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    grad = (255 * (grad - grad.min()) / max(1e-6, float(grad.max() - grad.min()))).astype(np.uint8)
    grad = cv2.morphologyEx(grad, cv2.MORPH_CLOSE, rect_k)
    _, th = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    th = cv2.morphologyEx(th, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (21, 21)))
    th = cv2.erode(th, np.ones((3, 3), np.uint8), iterations=2)
    contours, _ = cv2.findContours(th, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    bands: list[Band] = []
    for c in contours:
        (cx, cy), (rw, rh), ang = cv2.minAreaRect(c)
        if rw < rh:
            rw, rh = rh, rw
            ang += 90
        ang = (ang + 45) % 90 - 45
        if rh < 6 or rw < w * 0.12:
            continue
        aspect = rw / rh
        if not 2.5 <= aspect <= 25:
            continue
        fill = cv2.contourArea(c) / max(1.0, rw * rh)
        score = (rw / w) * min(1.0, fill / 0.8) * (0.6 + 0.4 * cy / h) * (1.0 if 3.0 <= aspect <= 14 else 0.7)
        bands.append(Band(((cx, cy), (rw, rh), ang), score))
    return bands


def _merge_stacked(bands: list[Band]) -> list[Band]:
    """Join bands that are lines of one MRZ (stacked, same width and angle) into one band."""
    out: list[Band] = []
    used = [False] * len(bands)
    order = sorted(range(len(bands)), key=lambda i: bands[i].rect[0][1])
    for a in order:
        if used[a]:
            continue
        group = [a]
        used[a] = True
        for b in order:
            if used[b]:
                continue
            (ax, ay), (aw, ah), aang = bands[group[-1]].rect
            (bx, by), (bw, bh), bang = bands[b].rect
            if (
                abs(ax - bx) < 0.15 * aw
                and abs(aw - bw) < 0.2 * aw
                and abs(aang - bang) < 4
                and 0 < by - ay < 2.6 * max(ah, bh)
            ):
                group.append(b)
                used[b] = True
        if len(group) == 1:
            out.append(bands[a])
            continue
        pts = np.concatenate([cv2.boxPoints(bands[i].rect) for i in group])
        (cx, cy), (rw, rh), ang = cv2.minAreaRect(pts)
        if rw < rh:
            rw, rh = rh, rw
            ang += 90
        ang = (ang + 45) % 90 - 45
        out.append(Band(((cx, cy), (rw, rh), ang), sum(bands[i].score for i in group)))
    return out


def find_bands(grey: np.ndarray, max_bands: int = 4) -> list[Band]:
    """Candidate MRZ bands in a grey image (coordinates of ``grey``), best first. The search runs at three
    scales because the card may fill the photo or be a small part of it."""
    w = grey.shape[1]
    found: list[Band] = []
    for width in (480, 800, 1300):
        s = width / w
        small = cv2.resize(
            grey, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        )
        for b in _merge_stacked(_bands_at(small)):
            (cx, cy), (rw, rh), ang = b.rect
            found.append(Band(((cx / s, cy / s), (rw / s, rh / s), ang), b.score))
    found.sort(key=lambda b: -b.score)
    kept: list[Band] = []
    for b in found:  # drop near-duplicates found at another scale
        (cx, cy), (rw, rh), _ = b.rect
        if all(
            abs(cx - k.rect[0][0]) > 0.1 * rw
            or abs(cy - k.rect[0][1]) > 0.5 * max(rh, k.rect[1][1])
            or abs(rw - k.rect[1][0]) > 0.2 * rw
            or abs(rh - k.rect[1][1]) > 0.3 * rh
            for k in kept
        ):
            kept.append(b)
    return kept[:max_bands]


def _crop_band(grey: np.ndarray, band: Band) -> np.ndarray:
    """The band straightened and cut out with a wide margin, then trimmed to its ink (the morphology may
    trim or shift the ends of the lines)."""
    (cx, cy), (rw, rh), ang = band.rect
    m = cv2.getRotationMatrix2D((cx, cy), ang, 1.0)
    rot = cv2.warpAffine(
        grey, m, (grey.shape[1], grey.shape[0]), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    bw, bh = rw * 1.5, rh * 1.6
    x0, y0 = max(0, int(cx - bw / 2)), max(0, int(cy - bh / 2))
    x1, y1 = min(grey.shape[1], int(cx + bw / 2)), min(grey.shape[0], int(cy + bh / 2))
    big = rot[y0:y1, x0:x1]
    if big.size == 0:
        return big
    _, ink = cv2.threshold(big, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    # the band's own rows and columns: inside the original band, text rows/columns have some ink but are
    # not solid (a dark background beside the card is solid)
    ry0, ry1 = int(cy - y0 - rh / 2), int(cy - y0 + rh / 2)
    rows = ink[max(0, ry0) : max(1, ry1)]
    col = rows.mean(axis=0)
    textcol = (col > 0.02) & (col < 0.6)
    centre = int(cx - x0)
    gap = max(4, int(rh * 0.6))
    left = right = min(max(centre, 0), len(textcol) - 1)
    last = left
    i = left
    while i > 0 and last - i <= gap:  # extend left while ink columns keep coming
        i -= 1
        if textcol[i]:
            last = i
    left = last
    last = right
    i = right
    while i < len(textcol) - 1 and i - last <= gap:
        i += 1
        if textcol[i]:
            last = i
    right = last
    strip = ink[:, left : right + 1]
    row = strip.mean(axis=1)
    textrow = (row > 0.01) & (row < 0.7)
    top, bottom = max(0, ry0), min(len(textrow) - 1, ry1)
    while top > 0 and textrow[top - 1]:
        top -= 1
    while bottom < len(textrow) - 1 and textrow[bottom + 1]:
        bottom += 1
    pad = max(4, int(rh * 0.12))
    return big[max(0, top - pad) : bottom + pad, max(0, left - pad) : right + pad]


def _tesseract_lines(
    image: np.ndarray, *, psm: int = 6, timeout_s: float = 30.0, whitelist: bool = True
) -> list[str]:
    """One Tesseract call (``eng``, whitelist A-Z0-9<) on the band; the text of each line, top to bottom.
    Runs the binary directly: the kiosk's page OCR (``kiosk.vision.ocr``) is tuned for Vietnamese pages."""
    from kiosk.vision.ocr import tesseract_env

    exe = shutil.which("tesseract")
    if exe is None:
        raise KioskError("ocr.no_tesseract")
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise KioskError("ocr.bad_image")
    cmd = [
        exe,
        "stdin",
        "stdout",
        "-l",
        "eng",
        "--dpi",
        "300",
        "--psm",
        str(psm),
        "-c",
        "load_system_dawg=0",
        "-c",
        "load_freq_dawg=0",
    ]
    if whitelist:
        cmd += ["-c", f"tessedit_char_whitelist={WHITELIST}"]
    try:
        proc = subprocess.run(
            cmd, input=buf.tobytes(), capture_output=True, env=tesseract_env(), timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise KioskError("ocr.timeout", seconds=timeout_s) from exc
    if proc.returncode != 0:
        raise KioskError("ocr.failed", code=proc.returncode)
    return [ln.strip() for ln in proc.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]


def _text_lines(crop: np.ndarray, whitelist: bool = True) -> list[str]:
    """OCR the band: one string per text line (spaces removed), whitelist A-Z0-9<."""
    out = []
    for line in _tesseract_lines(crop, whitelist=whitelist):
        text = "".join(ch for ch in line.upper() if ch in WHITELIST)
        if len(text) >= 20:
            out.append(text)
    return out


def _prepare_band(crop: np.ndarray) -> np.ndarray:
    """Scale the band so that a text line is about 45 px tall and normalise its contrast."""
    h = crop.shape[0]
    lines_guess = 3 if crop.shape[1] / max(h, 1) < 8 else 2
    scale = (45 * lines_guess * 1.55) / max(h, 1)
    out = cv2.resize(
        crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    )
    lo, hi = float(out.min()), float(out.max())
    out = np.clip((out.astype(np.float32) - lo) * (255.0 / max(1.0, hi - lo)), 0, 255).astype(np.uint8)
    return out


def numeric_positions(fmt: str, lines: list[str]) -> set[tuple[int, int]]:
    """(line, index) positions that must hold a digit (dates, check digits; for Vietnamese cards the
    document number and the personal ID)."""
    if fmt == "TD1":
        pos = {(1, i) for i in [*range(0, 7), *range(8, 15), 29]} | {(0, 14)}
        if lines[0][2:5] == "VNM":
            pos |= {(0, i) for i in [*range(5, 14), *range(15, 27)]}
        return pos
    end = 43 if fmt == "TD3" else 35
    return {(1, i) for i in [9, *range(13, 20), *range(21, 28), end]}


def letter_positions(fmt: str) -> set[tuple[int, int]]:
    """Positions that hold letters or fillers only: document code, states, nationality, sex, names."""
    if fmt == "TD1":
        return (
            {(0, i) for i in range(0, 5)}
            | {(1, i) for i in range(15, 18)}
            | {(1, 7)}
            | {(2, i) for i in range(30)}
        )
    n = LINE_LENGTHS[fmt]
    return {(0, i) for i in range(n)} | {(1, i) for i in (10, 11, 12, 20)}


def _length_variants(line: str, n: int, limit: int = 12) -> list[str]:
    """Ways to bring ``line`` to length ``n`` by growing or shrinking one run of fillers."""
    if len(line) == n:
        return [line]
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(line):
        if line[i] == "<":
            j = i
            while j < len(line) and line[j] == "<":
                j += 1
            runs.append((i, j))
            i = j
        else:
            i += 1
    out: list[str] = []
    diff = n - len(line)
    for a, b in sorted(runs, key=lambda r: -(r[1] - r[0])):
        if diff > 0:
            out.append(line[:b] + "<" * diff + line[b:])
        elif b - a >= -diff:
            out.append(line[:a] + "<" * (b - a + diff) + line[b:])
    if diff > 0:
        out.append(line + "<" * diff)
    elif not out:
        out.append(line[:n])
    return out[:limit]


def _repair(lines: list[str], fmt: str) -> list[str]:
    numeric = numeric_positions(fmt, lines)
    letters = letter_positions(fmt)
    fixed = []
    for li, line in enumerate(lines):
        chars = list(line)
        for ci, ch in enumerate(chars):
            if (li, ci) in numeric:
                chars[ci] = ch.translate(TO_DIGIT)
            elif (li, ci) in letters:
                chars[ci] = ch.translate(TO_LETTER)
        fixed.append("".join(chars))
    return fixed


def _name_line(fmt: str) -> int:
    return 2 if fmt == "TD1" else 0


def _fix_name_line(line: str, n: int, start: int) -> str:
    """Names hold no digits: an over-long name line first loses digits OCR inserted ('BA0O'), then the
    remaining digits in the name part become the letters they resemble (format rule, not check digits)."""
    chars = list(line)
    i = len(chars) - 1
    while len(chars) > n and i >= start:
        if chars[i].isdigit():
            del chars[i]
        i -= 1
    head, tail = "".join(chars[:start]), "".join(chars[start:])
    return head + tail.translate(TO_LETTER)


def _edit_variants(line: str, n: int, numeric_line: bool) -> list[str]:
    """Single-character insertions (digits or '<') or deletions that bring ``line`` to length ``n``;
    tried only on lines covered by check digits, which then decide."""
    if len(line) == n + 1:
        return [line[:i] + line[i + 1 :] for i in range(len(line))]
    if len(line) == n - 1:
        alphabet = "0123456789<" if numeric_line else WHITELIST
        return [line[:i] + c + line[i:] for i in range(len(line) + 1) for c in alphabet]
    return []


def _good(result: MrzResult) -> bool:
    """Valid, and for a Vietnamese card also yielding the 12-digit personal ID (a reading shifted by one
    position can pass the check digits by chance; the card's own consistency rules catch that)."""
    if not result.valid:
        return False
    if result.document_code.startswith("I") and result.issuing_state == "VNM":
        return result.personal_id is not None
    return True


def _plausibility(result: MrzResult) -> int:
    """Ranks readings that all pass the check digits by what no check digit covers: a document code of
    the usual form, the same issuing state as nationality (the common case), a decoded personal ID."""
    score = 0
    if result.document_code in ("ID", "I", "IP", "IC", "P", "PP", "PN", "PD", "PS", "AC", "C", "V"):
        score += 2
    if result.issuing_state == result.nationality:
        score += 2
    if result.personal_id:
        score += 1
    return score


def _try(readings: list[list[str]]) -> tuple[MrzResult | None, MrzResult | None]:
    """Parse candidate readings; return (the most plausible good one, the first parsed)."""
    first: MrzResult | None = None
    best: tuple[int, MrzResult] | None = None
    for reading in readings:
        try:
            result = parse_mrz(reading)
        except KioskError:
            continue
        first = first or result
        if _good(result):
            score = _plausibility(result)
            if best is None or score > best[0]:
                best = (score, result)
                if score >= 5:
                    break
    return (best[1] if best else None), first


def decode_lines(raw: list[str], *, repair: bool = True) -> MrzResult | None:
    """The best parse of OCR'd MRZ lines: the raw reading if valid, else a repaired reading whose check
    digits pass, else the raw reading's (invalid) parse. None when the lines are not an MRZ. With
    ``repair=False`` the lines are only parsed (for measuring what the repairs add)."""
    if len(raw) >= 3:
        fmt, lines = "TD1", raw[-3:]
    elif len(raw) == 2:
        fmt, lines = ("TD3" if max(map(len, raw)) > 40 else "TD2"), list(raw)
    else:
        return None
    if not repair:
        try:
            return parse_mrz(lines)
        except KioskError:
            return None
    n = LINE_LENGTHS[fmt]
    nl = _name_line(fmt)
    lines = list(lines)
    # OCR shortens long filler runs; the name line ends in fillers, so a short one is padded at its end
    lines[nl] = _fix_name_line(lines[nl], n, 0 if fmt == "TD1" else 5).ljust(n, "<")
    if any(len(line) > n + 6 or (len(line) < n - 6 and "<<<" not in line) for line in lines):
        return None
    # 1. filler runs grown or shrunk to the line length, with and without the digit-lookalike repair
    variants = [_length_variants(line, n) for line in lines]
    combos = [list(c) for c in product(*variants)]
    valid, first = _try([r for c in combos for r in (c, _repair(c, fmt))])
    if valid:
        return valid
    # 2. one character lost or added by OCR in a line that check digits cover
    base = [v[0] for v in variants]
    for li, line in enumerate(lines):
        if (li == nl and fmt == "TD1") or len(line) == n:
            continue
        numeric_line = fmt == "TD1" and li == 1
        cands: list[list[str]] = []
        for edited in _edit_variants(line, n, numeric_line):
            reading = list(base)
            reading[li] = edited
            cands.extend((reading, _repair(reading, fmt)))
        valid, _ = _try(cands)
        if valid:
            return valid
    return first


def read_mrz_from_image(
    image: np.ndarray, *, whitelist: bool = True, repair: bool = True
) -> MrzResult | None:
    """Find, OCR and parse the MRZ on a photo or scan (BGR or grey uint8). Returns the parsed MRZ (check
    ``valid``), or None when no MRZ band could be read. ``whitelist`` and ``repair`` exist to measure what
    they contribute (benchmarks/eval_extract.py); the kiosk uses both."""
    if image is None or image.size == 0:
        raise KioskError("ocr.bad_image")
    grey = _to_grey(image)
    best: MrzResult | None = None
    for band in find_bands(grey):
        crop = _prepare_band(_crop_band(grey, band))
        lines = _text_lines(crop, whitelist)
        result = decode_lines(lines, repair=repair)
        if result is None:
            continue
        if _good(result):
            log.info("mrz read from photo", extra={"format": result.format, "valid": True})
            return result
        if best is None or len(result.failed_checks) < len(best.failed_checks):
            best = result
    log.info("mrz read from photo", extra={"found": best is not None, "valid": False})
    return best
