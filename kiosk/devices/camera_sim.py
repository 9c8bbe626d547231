"""Camera simulators: a folder of images (``FolderCamera``) or a video file (``VideoCamera``).

``FolderCamera`` shows each image for ``frames_per_image`` preview frames (0: until ``advance()`` or
``select()``); the preview is the image scaled down to the preview size and a still is the full image,
so the still size is the image size. Without a folder it shows synthetic Vietnamese pages lying on a
desk (rendered by ``kiosk.synth``). It simulates an exposure control (a brightness gain in EV) and an
unplugged camera (``simulate_unplug`` / ``simulate_replug``), so the rest of the firmware can be run
and tested without hardware.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.devices.base import DeviceError, DeviceLost, DeviceStatus
from kiosk.devices.camera import Camera, CameraControl, downscale
from kiosk.devices.camera_v4l2 import OpenCvCamera
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.camera")

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"})


def synthetic_frames(count: int = 3, size: tuple[int, int] = (1920, 1080)) -> list[np.ndarray]:
    """``count`` camera-like stills: a synthetic A4 page (sideways) on a desk, BGR."""
    from kiosk.synth.page import render_page

    w, h = size
    out = []
    for i in range(count):
        page = render_page(dpi=100, seed=i, heading="THÔNG BÁO" if i % 2 == 0 else "TỜ KHAI").image
        arr = cv2.cvtColor(np.asarray(page), cv2.COLOR_RGB2BGR)
        arr = cv2.rotate(arr, cv2.ROTATE_90_COUNTERCLOCKWISE)
        scale = min(0.85 * w / arr.shape[1], 0.85 * h / arr.shape[0])
        arr = cv2.resize(arr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        desk = np.empty((h, w, 3), np.uint8)
        desk[:] = (70, 95, 125)  # brown desk (BGR)
        y0, x0 = (h - arr.shape[0]) // 2, (w - arr.shape[1]) // 2
        desk[y0:y0 + arr.shape[0], x0:x0 + arr.shape[1]] = arr
        out.append(desk)
    return out


class FolderCamera(Camera):
    """Plays the images of a folder (sorted by name), or synthetic pages when ``folder`` is None."""

    backend = "folder"

    def __init__(self, folder: str | Path | None = None, *, frames_per_image: int | None = None,
                 name: str | None = None, preview_size: tuple[int, int] = (960, 540),
                 fps: float = 10.0) -> None:
        super().__init__(name, preview_size=preview_size, fps=fps)
        self.folder = Path(folder) if folder else None
        self.frames_per_image = round(fps * 3) if frames_per_image is None else frames_per_image
        self._paths: list[Path] = []
        self._synthetic: list[np.ndarray] | None = None
        self._index = 0
        self._shown = 0
        self._cache: tuple[int, np.ndarray, np.ndarray] | None = None  # index, full, preview
        self._unplugged = threading.Event()
        self._opened = False
        self._ev = 0.0

    # -- simulation controls --

    def simulate_unplug(self) -> None:
        """Behave like an unplugged camera until ``simulate_replug``."""
        self._unplugged.set()

    def simulate_replug(self) -> None:
        self._unplugged.clear()

    @property
    def count(self) -> int:
        return len(self._synthetic) if self._synthetic is not None else len(self._paths)

    @property
    def index(self) -> int:
        return self._index

    def select(self, index: int) -> None:
        """Show image ``index`` (wraps around)."""
        with self._io:
            n = self.count
            self._index = index % n if n else 0
            self._shown = 0

    def advance(self, step: int = 1) -> None:
        self.select(self._index + step)

    # -- backend --

    def _open(self) -> None:
        if self._unplugged.is_set():
            raise DeviceLost("device.camera_lost", device=self.name)
        if self.folder is None:
            if self._synthetic is None:
                self._synthetic = synthetic_frames()
        else:
            if not self.folder.is_dir():
                raise DeviceError("device.camera_no_source", device=self.name, status=DeviceStatus.ERROR,
                                  source=str(self.folder))
            self._paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._paths:
                raise DeviceError("device.camera_no_source", device=self.name, status=DeviceStatus.ERROR,
                                  source=str(self.folder))
        self._index %= self.count
        self._opened = True

    def _close(self) -> None:
        self._opened = False

    def _probe(self) -> DeviceStatus:
        return DeviceStatus.DISCONNECTED if self._unplugged.is_set() else DeviceStatus.OK

    def _images(self) -> tuple[np.ndarray, np.ndarray]:
        i = self._index
        if self._cache is None or self._cache[0] != i:
            if self._synthetic is not None:
                full = self._synthetic[i]
            else:
                loaded = cv2.imread(str(self._paths[i]), cv2.IMREAD_COLOR)
                if loaded is None:
                    raise DeviceError("device.camera_bad_image", device=self.name, status=DeviceStatus.ERROR,
                                      file=self._paths[i].name)
                full = loaded
            self._cache = (i, full, downscale(full, self.preview_size))
        return self._cache[1], self._cache[2]

    def _exposed(self, img: np.ndarray) -> np.ndarray:
        if self._ev == 0.0:
            return img
        return cv2.convertScaleAbs(img, alpha=2.0 ** self._ev)

    def _read_frame(self) -> np.ndarray | None:
        if self._unplugged.is_set() or not self._opened:
            return None
        _, preview = self._images()
        frame = self._exposed(preview)
        self._shown += 1
        if self.frames_per_image and self._shown >= self.frames_per_image:
            self._index = (self._index + 1) % self.count
            self._shown = 0
        return frame

    def _read_still(self) -> np.ndarray:
        if self._unplugged.is_set() or not self._opened:
            raise DeviceLost("device.camera_lost", device=self.name)
        full, _ = self._images()
        return self._exposed(full).copy()

    @property
    def still_size(self) -> tuple[int, int] | None:
        if not self._opened:
            return None
        full, _ = self._images()
        return full.shape[1], full.shape[0]

    def controls(self) -> dict[str, CameraControl]:
        return {"exposure": CameraControl("exposure", -2.0, 2.0, 0.0, self._ev)}

    def set_control(self, name: str, value: float) -> None:
        if name != "exposure":
            raise KioskError("device.camera_control_unsupported", control=name)
        if not -2.0 <= value <= 2.0:
            raise KioskError("device.camera_control_rejected", control=name)
        self._ev = float(value)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["source"] = str(self.folder) if self.folder else "synthetic"
        d["images"] = self.count
        return d


class VideoCamera(OpenCvCamera):
    """Plays a video file in a loop at the preview rate (frames are skipped to keep real time); a still
    is the frame on show at full resolution."""

    backend = "video"

    def __init__(self, path: str | Path, *, name: str | None = None,
                 preview_size: tuple[int, int] = (960, 540), fps: float = 10.0) -> None:
        super().__init__(str(path), api=cv2.CAP_ANY, loop=True, fresh_still=False, name=name,
                         preview_size=preview_size, fps=fps)
        self._unplugged = threading.Event()

    def simulate_unplug(self) -> None:
        self._unplugged.set()

    def simulate_replug(self) -> None:
        self._unplugged.clear()

    def _open(self) -> None:
        if self._unplugged.is_set():
            raise DeviceLost("device.camera_lost", device=self.name)
        super()._open()

    def _probe(self) -> DeviceStatus:
        return DeviceStatus.DISCONNECTED if self._unplugged.is_set() else DeviceStatus.OK

    def _read_frame(self) -> np.ndarray | None:
        return None if self._unplugged.is_set() else super()._read_frame()

    def _read_still(self) -> np.ndarray:
        if self._unplugged.is_set():
            raise DeviceLost("device.camera_lost", device=self.name)
        return super()._read_still()
