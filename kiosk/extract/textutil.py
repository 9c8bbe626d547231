"""Text helpers for extraction: reading order of OCR words, fuzzy label matching, and parsing of dates,
numbers and Vietnamese number words. Pure functions, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from kiosk.core.textnorm import fold
from kiosk.vision.types import OcrWord

# Characters OCR confuses with digits; applied only where a digit is expected.
DIGIT_LOOKALIKES = str.maketrans(
    {
        "O": "0",
        "o": "0",
        "Q": "0",
        "D": "0",
        "U": "0",
        "I": "1",
        "l": "1",
        "|": "1",
        "i": "1",
        "!": "1",
        "L": "1",
        "Z": "2",
        "z": "2",
        "S": "5",
        "s": "5",
        "B": "8",
        "G": "6",
        "b": "6",
        "g": "9",
        "q": "9",
        "T": "7",
    }
)
_LEADER = re.compile(r"^[.…·_:;,\-–—~*'\"`°]+$")
_TRAIL_DOTS = re.compile(r"[.…·_]{2,}")
_KEY_CHARS = re.compile(r"[^0-9a-z:]")


def is_leader(text: str) -> bool:
    """True for a word that is only dotted-leader or punctuation characters ("......", "…", "___")."""
    return bool(_LEADER.match(text.strip()))


def strip_leaders(text: str) -> str:
    """``text`` without runs of leader dots/underscores (a value typed over the dotted line)."""
    return _TRAIL_DOTS.sub(" ", text).strip()


def match_key(text: str) -> str:
    """Accent/case-folded form of one word keeping only a-z, 0-9 and ':' (label matching key)."""
    return _KEY_CHARS.sub("", fold(text))


@lru_cache(maxsize=65536)
def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def similarity(a: str, b: str) -> float:
    """1 - normalised edit distance, in [0, 1]."""
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


# --- reading order ----------------------------------------------------------------------------------


def text_skew(words: list[OcrWord]) -> float:
    """Slope (dy/dx) of the text lines, from the centres of words that Tesseract put on one line (it reads
    a deskewed copy; word boxes are mapped back to the skewed input). 0.0 when there is no evidence."""
    by_line: dict[int, list[OcrWord]] = {}
    for w in words:
        by_line.setdefault(w.line, []).append(w)
    slopes: list[float] = []
    weights: list[float] = []
    for ws in by_line.values():
        if len(ws) < 3:
            continue
        xs = [(w.box[0] + w.box[2]) / 2 for w in ws]
        ys = [(w.box[1] + w.box[3]) / 2 for w in ws]
        span = max(xs) - min(xs)
        if span < 200:
            continue
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        den = sum((x - mx) ** 2 for x in xs)
        slopes.append(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den)
        weights.append(span)
    if not slopes:
        return 0.0
    order = sorted(range(len(slopes)), key=lambda i: slopes[i])
    half, acc = sum(weights) / 2, 0.0
    for i in order:  # weighted median: robust to a line that mixes two printed lines
        acc += weights[i]
        if acc >= half:
            return max(-0.1, min(0.1, slopes[i]))
    return 0.0


def reading_lines(words: list[OcrWord]) -> list[list[OcrWord]]:
    """Group words into visual lines (by vertical overlap) and order them top to bottom, left to right.

    Tesseract's own block/line order can interleave the columns of a form ("Giới tính: ... Dân tộc: ...");
    the geometry gives the order in which a person reads the printed lines. On a skewed scan the words
    are first projected onto the text direction (``text_skew``), so that a line running 3 degrees
    downhill still forms one line.
    """
    k = text_skew(words)
    norm = (1 + k * k) ** 0.5

    def band(w: OcrWord) -> tuple[float, float, float]:
        cx, cy = (w.box[0] + w.box[2]) / 2, (w.box[1] + w.box[3]) / 2
        ry = (cy - k * cx) / norm  # distance across the text direction
        rx = (cx + k * cy) / norm  # position along it
        h = max(1.0, (w.box[3] - w.box[1]) - abs(k) * (w.box[2] - w.box[0]))
        return ry - h / 2, ry + h / 2, rx

    geo = {id(w): band(w) for w in words}
    items = sorted((w for w in words if w.text.strip()), key=lambda w: geo[id(w)][0] + geo[id(w)][1])
    lines: list[tuple[float, float, list[OcrWord]]] = []  # (y0, y1, words) of the line band
    for w in items:
        y0, y1, _ = geo[id(w)]
        h = max(1.0, y1 - y0)
        best = -1
        best_overlap = 0.0
        for i in range(max(0, len(lines) - 4), len(lines)):
            ly0, ly1, _ = lines[i]
            overlap = min(y1, ly1) - max(y0, ly0)
            ratio = overlap / max(1.0, min(h, ly1 - ly0))
            if ratio > best_overlap:
                best, best_overlap = i, ratio
        if best >= 0 and best_overlap >= 0.5:
            ly0, ly1, ws = lines[best]
            ws.append(w)
            # keep the band of the line's typical word, not the union (tall diacritics would merge lines)
            grow = h < (ly1 - ly0) * 1.5
            lines[best] = (min(ly0, y0) if grow else ly0, max(ly1, y1) if grow else ly1, ws)
        else:
            lines.append((y0, y1, [w]))
    ordered = sorted(lines, key=lambda t: (t[0] + t[1]) / 2)
    return [sorted(ws, key=lambda w: geo[id(w)][2]) for _, _, ws in ordered]


def line_text(words: list[OcrWord]) -> str:
    return " ".join(w.text for w in words)


def union_box(words: list[OcrWord]) -> tuple[int, int, int, int] | None:
    if not words:
        return None
    return (
        min(w.box[0] for w in words),
        min(w.box[1] for w in words),
        max(w.box[2] for w in words),
        max(w.box[3] for w in words),
    )


# --- label matching ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One word of the page in reading order, with its matching key."""

    key: str
    word: int  # index into the ordered word list


@dataclass(frozen=True)
class Match:
    """A label found in the token stream: tokens ``start``..``end`` (inclusive)."""

    start: int
    end: int
    score: float


def label_keys(label: str) -> list[str]:
    return [k for k in (match_key(t) for t in label.split()) if k]


def find_label(
    tokens: list[Token], label: str, *, min_score: float = 0.75, short_min_score: float = 0.86
) -> list[Match]:
    """Every place where ``label`` (as printed) occurs in the token stream, tolerant of OCR errors, lost or
    extra punctuation, and words split or merged by OCR. Overlapping hits keep the best one."""
    keys = label_keys(label)
    if not keys:
        return []
    target = "".join(keys)
    threshold = short_min_score if len(target) <= 8 else min_score
    n = len(keys)
    first = keys[0]
    second = keys[1] if n > 1 else None
    hits: list[Match] = []
    for i in range(len(tokens)):
        tk = tokens[i].key
        plausible = similarity(first, tk[: len(first) + 1]) >= 0.5 or (
            second is not None and i + 1 < len(tokens) and similarity(second, tokens[i + 1].key) >= 0.6
        )
        if not plausible:
            continue
        best: Match | None = None
        for k in (n - 1, n, n + 1):
            if k < 1 or i + k > len(tokens):
                continue
            cand = "".join(t.key for t in tokens[i : i + k])
            if abs(len(cand) - len(target)) > max(3, len(target) // 3):
                continue
            s = similarity(target, cand)
            if best is None or s > best.score:
                best = Match(i, i + k - 1, s)
        if best is not None and best.score >= threshold:
            hits.append(best)
    hits.sort(key=lambda m: -m.score)
    kept: list[Match] = []
    for m in hits:
        if all(m.end < o.start or m.start > o.end for o in kept):
            kept.append(m)
    return sorted(kept, key=lambda m: m.start)


def align_anchors(candidates: list[list[Match]]) -> list[Match | None]:
    """Choose at most one match per anchor so that the chosen matches appear in anchor order without
    overlapping, maximising the total score (anchors are the printed labels in reading order; a label
    printed several times - "Nơi cư trú:", "Dân tộc:" - is resolved by its position)."""
    # frontier of states: (end token, total score, chosen matches); pruned to a Pareto front
    frontier: list[tuple[int, float, tuple[Match | None, ...]]] = [(-1, 0.0, ())]
    for cands in candidates:
        new: list[tuple[int, float, tuple[Match | None, ...]]] = [
            (e, s, (*ch, None)) for e, s, ch in frontier
        ]
        for m in cands:
            best: tuple[int, float, tuple[Match | None, ...]] | None = None
            for e, s, ch in frontier:
                if e < m.start and (best is None or s > best[1]):
                    best = (e, s, ch)
            if best is not None:
                new.append((m.end, best[1] + m.score, best[2] + (m,)))
        new.sort(key=lambda t: (t[0], -t[1]))
        pruned: list[tuple[int, float, tuple[Match | None, ...]]] = []
        for st in new:
            if not pruned or st[1] > pruned[-1][1] + 1e-12:
                pruned.append(st)
        frontier = pruned
    best_state = max(frontier, key=lambda t: t[1])
    return list(best_state[2])


# --- dates and numbers ------------------------------------------------------------------------------

_DATE_NUM = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})")
_DATE_WORDS = re.compile(r"(?:ngay\s*)?(\d{1,2})\s*(?:,\s*)?thang\s*(\d{1,2})\s*(?:,\s*)?nam\s*(\d{4})")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def digits_repaired(text: str) -> str:
    """``text`` with letters that OCR confuses with digits turned into digits (numeric fields only)."""
    return text.translate(DIGIT_LOOKALIKES)


def numeric_view(text: str) -> str:
    """Repair lookalikes inside tokens that are mostly digits/separators (keeps 'tháng', 'năm' intact)."""
    out = []
    for tok in text.split():
        core = re.sub(r"[/.\-,]", "", tok)
        digits = sum(c.isdigit() for c in core)
        if core and digits >= max(1, len(core) // 2):
            tok = digits_repaired(tok)
        out.append(tok)
    return " ".join(out)


def parse_date(text: str) -> date | None:
    """A date written dd/mm/yyyy (also '.', '-', spaces around separators) or 'ngày d tháng m năm yyyy'."""
    folded = fold(numeric_view(text))
    m = _DATE_NUM.search(folded) or _DATE_WORDS.search(folded)
    if not m:
        return None
    try:
        return date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
    except ValueError:
        return None


def parse_year(text: str) -> int | None:
    m = _YEAR.search(numeric_view(text))
    return int(m.group(1)) if m else None


_UNITS = {
    "khong": 0,
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "lam": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
}


def number_from_words(words: list[str]) -> int | None:
    """Value of a Vietnamese number written in words (folded, e.g. ['hai', 'nghin', 'khong', 'tram',
    'hai', 'muoi', 'lam'] -> 2025). Understands muoi (mười/mươi), tram, nghin/ngan, linh/le, mot, tu, lam."""
    if not words:
        return None
    total = 0  # thousands, committed
    hundreds = 0  # hundreds of the current group
    current: int | None = None  # units/tens of the current group; None = no number word yet
    for w in words:
        if w in ("nghin", "ngan"):
            group = hundreds + (current or 0)
            total += (group if (hundreds or current is not None) else 1) * 1000
            hundreds, current = 0, None
        elif w == "tram":
            hundreds += (current if current is not None else 1) * 100
            current = None
        elif w == "muoi":  # "mười" (ten) and "mươi" (tens) both fold to "muoi"
            current = (current if current else 1) * 10
        elif w in ("linh", "le"):
            continue
        elif w in _UNITS:
            current = (current or 0) + _UNITS[w]
        else:
            return None
    return total + hundreds + (current or 0)


def date_from_words(text: str) -> date | None:
    """A date written in words: '[Ngày] mười lăm tháng ba năm hai nghìn không trăm hai mươi lăm'."""
    ws = fold(text).replace(",", " ").split()
    if ws and ws[0] == "ngay":
        ws = ws[1:]
    try:
        t = ws.index("thang")
        n = ws.index("nam", t + 2)  # the month has at least one word (and may be "năm", five)
    except ValueError:
        return None
    d, m, y = number_from_words(ws[:t]), number_from_words(ws[t + 1 : n]), number_from_words(ws[n + 1 :])
    if d is None or m is None or y is None:
        return None
    try:
        return date(y, m, d)
    except ValueError:
        return None


_ONES = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def _below_100(n: int, *, in_group: bool) -> str:
    if n < 10:
        return ("linh " + _ONES[n]) if in_group and n else _ONES[n]
    tens, ones = divmod(n, 10)
    head = "mười" if tens == 1 else f"{_ONES[tens]} mươi"
    if ones == 0:
        return head
    if ones == 1 and tens > 1:
        tail = "mốt"
    elif ones == 5:
        tail = "lăm"
    elif ones == 4 and tens > 1:
        tail = "tư"
    else:
        tail = _ONES[ones]
    return f"{head} {tail}"


def number_to_words(n: int) -> str:
    """Vietnamese words for 0 <= n < 1,000,000 (as written in dates: 2025 -> 'hai nghìn không trăm hai
    mươi lăm')."""
    if not 0 <= n < 1_000_000:
        raise ValueError("number out of range")
    if n < 100:
        return _below_100(n, in_group=False)
    parts: list[str] = []
    thousands, rest = divmod(n, 1000)
    if thousands:
        parts.append(number_to_words(thousands) + " nghìn")
    hundreds, below = divmod(rest, 100)
    if thousands or hundreds:
        if hundreds or below:
            parts.append(f"{_ONES[hundreds]} trăm")
        if below:
            parts.append(_below_100(below, in_group=True))
    return " ".join(parts)


def date_to_words(d: date) -> str:
    """The date in words as written on civil-status papers: 'Mười lăm tháng ba năm hai nghìn ...'."""
    text = f"{number_to_words(d.day)} tháng {number_to_words(d.month)} năm {number_to_words(d.year)}"
    if d.month == 4:
        text = text.replace("tháng bốn", "tháng tư")
    return text[0].upper() + text[1:]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)
