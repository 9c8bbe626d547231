"""Auto-capture from the live assessments (pure, no Kivy): shoot when the page has been good and still.

Progress grows with each consecutive preview frame that passes the assessment and whose page corners
moved less than ``still_tol`` (a fraction of the frame diagonal) since the previous frame; it is 1.0
after ``frames_needed`` such frames (about 0.7 s at 12 fps). A bad frame or a moving page starts again.

After a capture the tracker is disarmed until the page changes: a frame without a page, or corners that
moved more than ``rearm_move`` of the diagonal from where they were at the capture. Otherwise the sheet
still lying under the camera would be captured again as the next step (its back side) before the
citizen has turned it over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Corners = Sequence[Sequence[float]]


def corner_shift(a: Corners, b: Corners) -> float:
    """The largest distance between matching corners of two quadrilaterals, in pixels."""
    return max(
        math.dist((float(p[0]), float(p[1])), (float(q[0]), float(q[1]))) for p, q in zip(a, b, strict=True)
    )


class AutoCapture:
    def __init__(self, frames_needed: int = 8, still_tol: float = 0.01, rearm_move: float = 0.10) -> None:
        if frames_needed < 1:
            raise ValueError("frames_needed must be >= 1")
        self.frames_needed = frames_needed
        self.still_tol = still_tol
        self.rearm_move = rearm_move
        self.streak = 0
        self.armed = True
        self._last: Corners | None = None
        self._captured_at: Corners | None = None

    @property
    def progress(self) -> float:
        return 0.0 if not self.armed else min(self.streak / self.frames_needed, 1.0)

    def reset(self) -> None:
        """Start afresh (new capture screen): armed, no streak."""
        self.streak = 0
        self.armed = True
        self._last = None
        self._captured_at = None

    def update(self, ok: bool, corners: Corners | None, frame_size: tuple[int, int]) -> float:
        """Feed one assessed preview frame; returns the progress (1.0: take the still now)."""
        diagonal = math.hypot(*frame_size) or 1.0
        if not self.armed:
            if corners is None:
                self.armed = True
            elif (
                self._captured_at is not None
                and corner_shift(corners, self._captured_at) > self.rearm_move * diagonal
            ):
                self.armed = True
            if not self.armed:
                self._last = corners
                return 0.0
            self._captured_at = None
            self.streak = 0
        if not ok or corners is None:
            self.streak = 0
        elif self._last is not None and corner_shift(corners, self._last) <= self.still_tol * diagonal:
            self.streak += 1
        else:
            self.streak = 1 if self._last is None else 0
        self._last = corners
        return self.progress

    def captured(self, corners: Corners | None) -> None:
        """A still was taken (by auto-capture or the shutter): wait for the page to change."""
        self.streak = 0
        self.armed = False
        self._captured_at = corners if corners is not None else self._last
        if self._captured_at is None:
            self.armed = True
