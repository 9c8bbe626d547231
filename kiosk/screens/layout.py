"""Geometry of the camera preview: where the frame is drawn and where its page outline goes (pure)."""

from __future__ import annotations

from typing import Any


def map_corners(
    corners: Any, frame_size: tuple[int, int], rect: tuple[float, float, float, float]
) -> list[float]:
    """Frame-pixel corners (origin top left) -> flat widget points (origin bottom left) inside ``rect``
    (x, y, w, h) where the frame is drawn."""
    fw, fh = frame_size
    x, y, w, h = rect
    sx, sy = w / fw, h / fh
    points: list[float] = []
    for cx, cy in corners:
        points += [x + float(cx) * sx, y + (fh - float(cy)) * sy]
    return points


def fit_rect(
    frame_size: tuple[int, int], box: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    """The largest rectangle with the frame's aspect ratio centred in ``box`` (x, y, w, h)."""
    fw, fh = frame_size
    bx, by, bw, bh = box
    if fw <= 0 or fh <= 0 or bw <= 0 or bh <= 0:
        return bx, by, 0.0, 0.0
    scale = min(bw / fw, bh / fh)
    w, h = fw * scale, fh * scale
    return bx + (bw - w) / 2, by + (bh - h) / 2, w, h
