"""Auto-capture: take the still when the page has been steady and the frame ok for a window of frames.

``AutoCapture.update(assessment)`` is called for every assessed preview frame. Progress grows by one
step per consecutive frame that is ok and whose corners moved less than ``tolerance`` (a fraction of the
page's long edge, per corner) since the previous frame; a bad frame or a move resets it. When the window
is full, ``fire`` is True once; the next shot needs the page to be taken away (a frame without a
document) or moved to a clearly different place, so one sheet is not captured twice by accident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kiosk.config import VisionConfig
from kiosk.vision.assess import Assessment


@dataclass(frozen=True)
class AutoCaptureState:
    """``progress`` 0..1 towards the shot (for the on-screen ring), ``fire`` True on the frame to
    capture, ``stable`` the number of consecutive steady ok frames, ``reasons`` of the last frame."""

    progress: float
    fire: bool
    stable: int = 0
    reasons: tuple[str, ...] = ()
    armed: bool = True


class AutoCapture:
    def __init__(self, window: int = 8, tolerance: float = 0.01, rearm_move: float = 0.15) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self.window = window
        self.tolerance = tolerance
        self.rearm_move = rearm_move
        self._prev: np.ndarray | None = None
        self._stable = 0
        self._armed = True
        self._fired_at: np.ndarray | None = None

    @classmethod
    def from_config(cls, cfg: VisionConfig) -> AutoCapture:
        """Window and tolerance from ``[vision] autocapture_frames / autocapture_tolerance``."""
        return cls(window=cfg.autocapture_frames, tolerance=cfg.autocapture_tolerance)

    def captured(self, corners: list[list[float]] | np.ndarray | None) -> None:
        """A still was taken (by the shutter or on ``fire``): wait until the page moves away (or is
        taken away) before firing again, so the sheet still under the camera is not captured again as
        the next step before the citizen has turned it over."""
        self._stable = 0
        if corners is None:
            self._armed = True
            self._fired_at = None
            return
        self._armed = False
        self._fired_at = np.asarray(corners, np.float64)

    def reset(self) -> None:
        self._prev = None
        self._stable = 0
        self._armed = True
        self._fired_at = None

    @staticmethod
    def _scale(q: np.ndarray) -> float:
        s = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
        return float(max(s.max(), 1.0))

    def update(self, assessment: Assessment) -> AutoCaptureState:
        reasons = tuple(assessment.reasons)
        if assessment.corners is None:
            # no page: the next page may be captured
            self._prev = None
            self._stable = 0
            if "no_document" in reasons:
                self._armed = True
                self._fired_at = None
            return AutoCaptureState(0.0, False, 0, reasons, self._armed)
        q = np.asarray(assessment.corners, np.float64)
        size = self._scale(q)
        if not self._armed and self._fired_at is not None:
            moved = float(np.abs(q - self._fired_at).max()) / size
            if moved >= self.rearm_move:
                self._armed = True
                self._fired_at = None
        steady = self._prev is not None and float(np.abs(q - self._prev).max()) <= self.tolerance * size
        self._prev = q
        if not assessment.ok:
            self._stable = 0
        elif steady or self.window == 1:
            self._stable = min(self.window, self._stable + 1)
        else:
            self._stable = 1 if self.window > 1 else 0
        # progress counts steady transitions: the first ok frame starts the window
        progress = min(1.0, self._stable / self.window) if self._armed else 0.0
        fire = self._armed and self._stable >= self.window
        if fire:
            self._armed = False
            self._fired_at = q
            self._stable = 0
        return AutoCaptureState(1.0 if fire else progress, fire, self._stable, reasons, self._armed)
