"""Raspberry Pi camera modules through picamera2 (libcamera). Only on the Pi (``pip install kiosk[pi]``
with Raspberry Pi OS's ``python3-picamera2``); the import is guarded, so elsewhere opening the camera
fails with ``device.camera_backend_missing`` instead of an ImportError at start-up.

The preview configuration delivers BGR frames (picamera2's "RGB888" is B, G, R in memory) at the
preview size; a still switches to the still configuration for one full-resolution capture and back.
Controls: exposure (µs), auto_exposure, gain (analogue), focus (lens position in dioptres), autofocus
(continuous) where the module has them (e.g. Camera Module 3).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from kiosk.devices.base import DeviceError, DeviceLost, DeviceStatus
from kiosk.devices.camera import Camera, CameraControl
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.camera")

# our control name -> libcamera control name
_CONTROL_MAP = {"exposure": "ExposureTime", "auto_exposure": "AeEnable", "gain": "AnalogueGain",
                "focus": "LensPosition", "autofocus": "AfMode"}
_AF_MANUAL, _AF_CONTINUOUS = 0, 2  # libcamera AfModeEnum


def picamera2_available() -> bool:
    try:
        import picamera2  # noqa: F401
    except Exception:  # ImportError, or libcamera failing to load
        return False
    return True


class Picamera2Camera(Camera):
    backend = "picamera2"

    def __init__(self, camera_num: int = 0, *, still_size: tuple[int, int] | None = None,
                 name: str | None = None, preview_size: tuple[int, int] = (960, 540),
                 fps: float = 10.0) -> None:
        super().__init__(name, preview_size=preview_size, fps=fps)
        self.camera_num = camera_num
        self.requested_still_size = still_size
        self._cam: Any = None
        self._still_cfg: Any = None
        self._size: tuple[int, int] | None = None
        self._values: dict[str, float] = {}

    def _open(self) -> None:
        try:
            from picamera2 import Picamera2
        except Exception as exc:
            raise DeviceError("device.camera_backend_missing", device=self.name, status=DeviceStatus.ERROR,
                              backend=self.backend) from exc
        try:
            cam = Picamera2(self.camera_num)
        except (RuntimeError, IndexError) as exc:
            raise DeviceLost("device.camera_lost", device=self.name) from exc
        try:
            size = self.requested_still_size or tuple(cam.sensor_resolution)
            preview_cfg = cam.create_preview_configuration(
                main={"size": tuple(self.preview_size), "format": "RGB888"},
                controls={"FrameRate": float(self.fps)})
            self._still_cfg = cam.create_still_configuration(main={"size": size, "format": "RGB888"})
            cam.configure(preview_cfg)
            cam.start()
        except RuntimeError as exc:
            cam.close()
            raise DeviceLost("device.camera_lost", device=self.name) from exc
        self._cam = cam
        self._size = (int(size[0]), int(size[1]))

    def _close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
                cam.close()
            except Exception:
                log.warning("picamera2 close failed", extra={"device": self.name}, exc_info=True)

    def _read_frame(self) -> np.ndarray | None:
        if self._cam is None:
            return None
        return np.asarray(self._cam.capture_array("main"))

    def _read_still(self) -> np.ndarray:
        if self._cam is None:
            raise DeviceLost("device.camera_lost", device=self.name)
        return np.asarray(self._cam.switch_mode_and_capture_array(self._still_cfg, "main"))

    @property
    def still_size(self) -> tuple[int, int] | None:
        return self._size

    def controls(self) -> dict[str, CameraControl]:
        if self._cam is None:
            return {}
        available = self._cam.camera_controls  # name -> (min, max, default)
        out: dict[str, CameraControl] = {}
        for ours, theirs in _CONTROL_MAP.items():
            if theirs not in available:
                continue
            lo, hi, default = available[theirs]
            if ours in ("auto_exposure", "autofocus"):
                out[ours] = CameraControl(ours, 0.0, 1.0, None, self._values.get(ours))
            else:
                out[ours] = CameraControl(ours, _num(lo), _num(hi), _num(default), self._values.get(ours))
        return out

    def set_control(self, name: str, value: float) -> None:
        ctl = self.controls().get(name)
        if ctl is None or self._cam is None:
            raise KioskError("device.camera_control_unsupported", control=name)
        if ctl.minimum is not None and ctl.maximum is not None and not ctl.minimum <= value <= ctl.maximum:
            raise KioskError("device.camera_control_rejected", control=name)
        if name == "exposure":
            req: dict[str, Any] = {"AeEnable": False, "ExposureTime": int(value)}
        elif name == "auto_exposure":
            req = {"AeEnable": bool(value)}
        elif name == "gain":
            req = {"AeEnable": False, "AnalogueGain": float(value)}
        elif name == "focus":
            req = {"AfMode": _AF_MANUAL, "LensPosition": float(value)}
        else:
            req = {"AfMode": _AF_CONTINUOUS if value else _AF_MANUAL}
        with self._io:
            self._cam.set_controls(req)
        self._values[name] = float(value)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
