"""USB document cameras through OpenCV's V4L2 backend (``/dev/videoN`` or ``/dev/v4l/by-id/...``).

The camera is opened at still resolution (MJPEG when the camera offers it); the preview thread reads
every frame and scales it down, a still is a fresh frame at full resolution. Exposure, gain and focus
are offered when the driver reports them. Prefer ``/dev/v4l/by-id/...`` paths: the index of
``/dev/videoN`` can change when the camera is unplugged and plugged back in.

``OpenCvCamera`` holds the OpenCV capture logic; ``VideoCamera`` (``camera_sim``) reuses it to play
video files.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.devices.base import DeviceLost
from kiosk.devices.camera import Camera, CameraControl
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.camera")

_PROPS = {
    "exposure": cv2.CAP_PROP_EXPOSURE,
    "auto_exposure": cv2.CAP_PROP_AUTO_EXPOSURE,
    "gain": cv2.CAP_PROP_GAIN,
    "focus": cv2.CAP_PROP_FOCUS,
    "autofocus": cv2.CAP_PROP_AUTOFOCUS,
}
# V4L2 exposure_auto menu: 1 = manual, 3 = aperture priority (automatic).
_V4L2_AE_MANUAL, _V4L2_AE_AUTO = 1.0, 3.0


def parse_source(source: str) -> str | int:
    """A device index (``"0"``) as int, anything else (a path) unchanged."""
    return int(source) if source.strip().isdigit() else source


class OpenCvCamera(Camera):
    """A camera read through ``cv2.VideoCapture``. ``fresh_still``: a still is a new frame (live
    cameras) rather than the frame on show (video files). ``loop``: start again at the end (files)."""

    backend = "opencv"

    def __init__(self, source: str | int, *, api: int = cv2.CAP_ANY,
                 still_size: tuple[int, int] | None = None, loop: bool = False, fresh_still: bool = True,
                 name: str | None = None, preview_size: tuple[int, int] = (960, 540),
                 fps: float = 10.0) -> None:
        super().__init__(name, preview_size=preview_size, fps=fps)
        self.source = source
        self.api = api
        self.requested_still_size = still_size
        self.loop = loop
        self.fresh_still = fresh_still
        self._cap: cv2.VideoCapture | None = None
        self._last: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._skip = 1
        self._controls: dict[str, CameraControl] = {}

    def _configure(self, cap: cv2.VideoCapture) -> None:
        """Backend-specific settings after opening (formats, sizes, buffers)."""

    def _open(self) -> None:
        if isinstance(self.source, str) and self.source.startswith("/") and not Path(self.source).exists():
            raise DeviceLost("device.camera_lost", device=self.name)
        cap = cv2.VideoCapture(self.source, self.api)
        if not cap.isOpened():
            cap.release()
            raise DeviceLost("device.camera_lost", device=self.name)
        self._configure(cap)
        ok, img = cap.read()
        if not ok or img is None:
            cap.release()
            raise DeviceLost("device.camera_lost", device=self.name)
        self._cap, self._last = cap, img
        self._size = (img.shape[1], img.shape[0])
        src_fps = cap.get(cv2.CAP_PROP_FPS)
        # A file plays in real time: skip frames when it has more per second than the preview shows.
        live = self.fresh_still
        self._skip = max(1, round(src_fps / self.fps)) if src_fps and src_fps > 0 and not live else 1
        self._controls = self._probe_controls(cap)
        log.info("camera opened", extra={"device": self.name, "still_size": list(self._size),
                                         "backend": self.backend})

    def _probe_controls(self, cap: cv2.VideoCapture) -> dict[str, CameraControl]:
        return {}

    def _close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def _read(self) -> np.ndarray | None:
        cap = self._cap
        if cap is None:
            return None
        for _ in range(self._skip - 1):
            if not cap.grab():
                break
        ok, img = cap.read()
        if (not ok or img is None) and self.loop:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, img = cap.read()
        if not ok or img is None:
            return None
        self._last = img
        return img

    def _read_frame(self) -> np.ndarray | None:
        return self._read()

    def _read_still(self) -> np.ndarray:
        if self._cap is None:
            raise DeviceLost("device.camera_lost", device=self.name)
        if self.fresh_still:
            self._cap.grab()  # drop the frame that may wait in the driver's buffer
            img = self._read()
            if img is None:
                raise DeviceLost("device.camera_lost", device=self.name)
            return img
        if self._last is None:
            raise DeviceLost("device.camera_lost", device=self.name)
        return self._last.copy()

    @property
    def still_size(self) -> tuple[int, int] | None:
        return self._size

    def controls(self) -> dict[str, CameraControl]:
        return dict(self._controls)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["source"] = str(self.source)
        return d


class V4L2Camera(OpenCvCamera):
    """A USB (UVC) document camera on V4L2."""

    backend = "v4l2"

    def __init__(self, source: str | int, *, still_size: tuple[int, int] | None = None,
                 name: str | None = None, preview_size: tuple[int, int] = (960, 540),
                 fps: float = 10.0) -> None:
        super().__init__(source, api=cv2.CAP_V4L2, still_size=still_size, loop=False, fresh_still=True,
                         name=name, preview_size=preview_size, fps=fps)

    def _configure(self, cap: cv2.VideoCapture) -> None:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"MJPG"))
        if self.requested_still_size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.requested_still_size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.requested_still_size[1])
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _probe_controls(self, cap: cv2.VideoCapture) -> dict[str, CameraControl]:
        out: dict[str, CameraControl] = {}
        for name, prop in _PROPS.items():
            value = cap.get(prop)
            if value == -1:
                continue
            if name == "auto_exposure":
                value = 1.0 if value == _V4L2_AE_AUTO else 0.0
                out[name] = CameraControl(name, 0.0, 1.0, None, value)
            elif name == "autofocus":
                out[name] = CameraControl(name, 0.0, 1.0, None, float(value))
            else:
                out[name] = CameraControl(name, None, None, None, float(value))
        return out

    def set_control(self, name: str, value: float) -> None:
        if name not in self._controls or self._cap is None:
            raise KioskError("device.camera_control_unsupported", control=name)
        raw = value
        if name == "auto_exposure":
            raw = _V4L2_AE_AUTO if value else _V4L2_AE_MANUAL
        with self._io:
            if name in ("exposure", "gain"):
                self._cap.set(cv2.CAP_PROP_AUTO_EXPOSURE, _V4L2_AE_MANUAL)
            if name == "focus":
                self._cap.set(cv2.CAP_PROP_AUTOFOCUS, 0)
            if not self._cap.set(_PROPS[name], raw):
                raise KioskError("device.camera_control_rejected", control=name)
            self._controls = self._probe_controls(self._cap)
