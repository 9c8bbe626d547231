"""Camera interface: a low-resolution preview stream at a steady frame rate and full-resolution stills.

The preview runs in a background thread that keeps only the latest frame: the UI polls ``latest()`` (or
registers a callback, called in the preview thread, which must hand the frame over quickly, e.g. with
Kivy's ``Clock.schedule_once``). Nothing here blocks the UI thread except ``capture_still``, which the
caller runs where it likes. When the camera disappears the preview thread marks it DISCONNECTED and
reopens it with backoff; ``capture_still`` raises ``DeviceLost`` meanwhile.

Frames are BGR ``uint8`` arrays (OpenCV convention, like ``kiosk.vision``). A preview frame is the still
scaled down to fit the preview size, with the same aspect ratio, so that ``kiosk assess --still-size``
can map preview coordinates to the still.

Backends: ``FolderCamera`` / ``VideoCamera`` (simulators, ``camera_sim``), ``V4L2Camera`` (USB document
cameras through OpenCV, ``camera_v4l2``) and ``Picamera2Camera`` (Raspberry Pi, ``camera_picamera2``).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from kiosk.devices.base import (
    Device,
    DeviceError,
    DeviceKind,
    DeviceLost,
    DeviceStatus,
    SelfTest,
)
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.camera")

FrameCallback = Callable[["Frame"], None]


@dataclass(frozen=True)
class Frame:
    """One image from the camera: BGR uint8, a sequence number, a monotonic time stamp."""

    image: np.ndarray
    seq: int
    timestamp: float
    still: bool = False

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        return w, h


@dataclass(frozen=True)
class CameraControl:
    """A control the backend offers. Ranges are None when the backend does not say."""

    name: str
    minimum: float | None = None
    maximum: float | None = None
    default: float | None = None
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "minimum": self.minimum, "maximum": self.maximum,
                "default": self.default, "value": self.value}


# Control names every backend uses (values in the backend's units, documented in docs/devices.md).
CONTROL_NAMES = ("exposure", "auto_exposure", "gain", "focus", "autofocus")


def fit_size(size: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """``size`` scaled down (never up) to fit ``box``, keeping the aspect ratio."""
    w, h = size
    scale = min(1.0, box[0] / w, box[1] / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def downscale(image: np.ndarray, box: tuple[int, int]) -> np.ndarray:
    """The image scaled down to fit ``box`` (area interpolation); unchanged when it already fits."""
    h, w = image.shape[:2]
    tw, th = fit_size((w, h), box)
    if (tw, th) == (w, h):
        return image
    return cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA)


def as_bgr(image: np.ndarray) -> np.ndarray:
    """A 3-channel BGR uint8 image from grey or BGRA input."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class Camera(Device):
    """Base of all cameras: the preview thread, latest-frame store, reconnect and still capture.

    Backends implement ``_open``/``_close`` and ``_read_frame`` (the next frame at preview rate, any
    size; None when the camera is gone) and ``_read_still`` (a full-resolution frame).
    """

    kind = DeviceKind.CAMERA

    def __init__(self, name: str | None = None, *, preview_size: tuple[int, int] = (960, 540),
                 fps: float = 10.0) -> None:
        super().__init__(name)
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.preview_size = preview_size
        self.fps = fps
        self._io = threading.RLock()        # serialises backend access (preview thread vs stills)
        self._cond = threading.Condition()  # guards _latest; notified on every new frame
        self._latest: Frame | None = None
        self._seq = 0
        self._callbacks: list[FrameCallback] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.frames_delivered = 0

    # -- backend hooks --

    @abstractmethod
    def _read_frame(self) -> np.ndarray | None:
        """The next frame for the preview (any size), or None when the camera is gone."""

    @abstractmethod
    def _read_still(self) -> np.ndarray:
        """A full-resolution frame; raise DeviceLost or OSError when the camera is gone."""

    @property
    @abstractmethod
    def still_size(self) -> tuple[int, int] | None:
        """Width and height of the stills (None when not known yet)."""

    def controls(self) -> dict[str, CameraControl]:
        """Exposure/focus controls the backend offers (empty when none)."""
        return {}

    def set_control(self, name: str, value: float) -> None:
        """Set a control from ``controls()``; KioskError ``device.camera_control_unsupported`` otherwise."""
        raise KioskError("device.camera_control_unsupported", control=name)

    # -- preview --

    @property
    def self_healing(self) -> bool:
        """True while the preview thread runs: it reconnects the camera by itself."""
        return self._thread is not None and self._thread.is_alive()

    def add_frame_callback(self, callback: FrameCallback) -> None:
        with self._cond:
            if callback not in self._callbacks:
                self._callbacks.append(callback)

    def remove_frame_callback(self, callback: FrameCallback) -> None:
        with self._cond:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def start_preview(self, callback: FrameCallback | None = None) -> None:
        """Start the preview thread (opening the camera in it if needed). Returns at once."""
        if callback is not None:
            self.add_frame_callback(callback)
        if self.self_healing:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._preview_loop, name=f"preview-{self.name}", daemon=True)
        self._thread.start()

    def stop_preview(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        self._thread = None

    def latest(self) -> Frame | None:
        """The newest preview frame, or None before the first one. Never blocks."""
        return self._latest

    def wait_frame(self, after_seq: int = -1, timeout: float = 5.0) -> Frame | None:
        """Block until a preview frame newer than ``after_seq`` exists (None on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None or self._latest.seq <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return self._latest

    def _next_seq(self) -> int:
        with self._cond:
            self._seq += 1
            return self._seq

    def _publish(self, image: np.ndarray) -> None:
        frame = Frame(downscale(as_bgr(image), self.preview_size), self._next_seq(), time.monotonic())
        with self._cond:
            self._latest = frame
            callbacks = list(self._callbacks)
            self._cond.notify_all()
        self.frames_delivered += 1
        for cb in callbacks:
            try:
                cb(frame)
            except Exception:
                log.exception("frame callback failed", extra={"device": self.name})

    def _mark_lost(self) -> None:
        with self._io:
            self._close()
        self.set_status(DeviceStatus.DISCONNECTED)
        self.backoff.schedule()

    def _preview_loop(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not self._stop.is_set():
            if not self.is_open:
                if not self.backoff.due():
                    self._stop.wait(0.02)
                    continue
                with self._io:
                    back = self.reconnect()
                if not back:
                    self.backoff.schedule()
                    continue
                next_t = time.monotonic()
            try:
                with self._io:
                    image = self._read_frame() if self.is_open else None
            except (DeviceError, OSError, cv2.error, RuntimeError):
                log.warning("camera read failed", extra={"device": self.name}, exc_info=True)
                image = None
            if image is None:
                if self.is_open:
                    self._mark_lost()
                continue
            self._publish(image)
            next_t += period
            delay = next_t - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            else:
                next_t = time.monotonic()  # behind: do not try to catch up with a burst

    # -- stills --

    def capture_still(self) -> Frame:
        """A full-resolution frame. Raises DeviceLost when the camera is unplugged (it reconnects)."""
        if not self.is_open:
            raise DeviceLost("device.camera_lost", device=self.name)
        try:
            with self._io:
                image = self._read_still()
        except (DeviceLost, OSError, cv2.error, RuntimeError) as exc:
            self._mark_lost()
            raise DeviceLost("device.camera_lost", device=self.name) from exc
        return Frame(as_bgr(image), self._next_seq(), time.monotonic(), still=True)

    def close(self) -> None:
        self.stop_preview()
        with self._io:
            super().close()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"preview_size": list(self.preview_size), "fps": self.fps,
                  "still_size": list(self.still_size) if self.still_size else None,
                  "controls": sorted(self.controls()) if self.is_open else []})
        return d

    def self_test(self) -> SelfTest:
        """Open the camera, take a still and check it is a non-empty colour image of ``still_size``."""
        result = super().self_test()
        if not result.ok:
            return result
        try:
            still = self.capture_still()
        except DeviceError as exc:
            result.ok, result.status, result.message_key = False, exc.status, exc.key
            return result
        result.checks["still_size"] = list(still.size)
        result.checks["preview_size"] = list(fit_size(still.size, self.preview_size))
        result.checks["still_mean"] = round(float(still.image.mean()), 1)
        if still.image.size == 0 or float(still.image.std()) == 0.0:
            result.ok, result.status = False, DeviceStatus.ERROR
            result.message_key = "device.camera_blank"
        return result
