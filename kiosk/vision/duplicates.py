"""Duplicate pages and page counts (R6: the number of images equals the number of pages, in order).

``page_hash`` is a 256-bit perceptual hash of an upright page image: the page (a 3 % border cut off) is
normalised against its paper tone, reduced to 64 x 64 and transformed (DCT); the 16 x 16 lowest
frequencies (without the DC term) against their median give the bits. It captures the layout of the
text (paragraphs, line lengths, headings), so the same page captured twice - by the camera, the scanner,
a little rotated or shifted, lit differently - lands within a small Hamming distance, while two different
pages of the same form land far apart. ``is_duplicate`` compares two hashes (or images).

``PageCounter`` keeps the hashes of a paper's captured pages and reports duplicates and a mismatch with
the declared page count, as message keys for the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

HASH_BITS = 255
DUPLICATE_MAX_DISTANCE = 48  # of 255 bits


def page_hash(image: np.ndarray) -> int:
    """256-bit (255 used) perceptual hash of a page image (BGR or grey, upright)."""
    g = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = g.shape
    m = int(0.03 * min(h, w))
    g = g[m:h - m, m:w - m]
    f = 256 / max(g.shape)
    if f < 1:
        g = cv2.resize(g, (max(8, round(g.shape[1] * f)), max(8, round(g.shape[0] * f))),
                       interpolation=cv2.INTER_AREA)
    paper = cv2.dilate(g, np.ones((7, 7), np.uint8))
    paper = cv2.medianBlur(paper, 15).astype(np.float32)
    ink = np.clip((paper - g.astype(np.float32)) / np.maximum(paper, 1.0), 0, 1)
    small = cv2.resize(ink, (64, 64), interpolation=cv2.INTER_AREA)
    d = cv2.dct(small.astype(np.float32))[:16, :16].flatten()[1:]
    bits = d > np.median(d)
    out = 0
    for b in bits:
        out = (out << 1) | int(b)
    return out


def hamming(a: int, b: int) -> int:
    return int(bin(a ^ b).count("1"))


def is_duplicate(a: int | np.ndarray, b: int | np.ndarray, max_distance: int = DUPLICATE_MAX_DISTANCE
                 ) -> bool:
    """Are two pages (hashes from ``page_hash``, or images) the same page?"""
    ha = a if isinstance(a, int) else page_hash(a)
    hb = b if isinstance(b, int) else page_hash(b)
    return hamming(ha, hb) <= max_distance


@dataclass
class PageCounter:
    """Captured pages of one paper, in order. ``add`` returns the 1-based number of an earlier page the
    new one duplicates (or None); ``check`` compares with the declared count."""

    declared: int | None = None
    hashes: list[int] = field(default_factory=list)

    def add(self, image_or_hash: np.ndarray | int) -> int | None:
        h = image_or_hash if isinstance(image_or_hash, int) else page_hash(image_or_hash)
        dup = None
        for i, prev in enumerate(self.hashes):
            if is_duplicate(prev, h):
                dup = i + 1
                break
        self.hashes.append(h)
        return dup

    def remove_last(self) -> None:
        if self.hashes:
            self.hashes.pop()

    def duplicates(self) -> list[tuple[int, int]]:
        """Pairs (earlier, later), 1-based, of pages that look the same."""
        out = []
        for j in range(len(self.hashes)):
            for i in range(j):
                if is_duplicate(self.hashes[i], self.hashes[j]):
                    out.append((i + 1, j + 1))
                    break
        return out

    def check(self) -> list[tuple[str, dict[str, int]]]:
        """Problems as (message key, parameters): duplicates and a page-count mismatch."""
        issues: list[tuple[str, dict[str, int]]] = [
            ("capture.duplicate", {"page": j, "other": i}) for i, j in self.duplicates()]
        if self.declared is not None and len(self.hashes) != self.declared:
            issues.append(("capture.page_count_mismatch",
                           {"captured": len(self.hashes), "declared": self.declared}))
        return issues
