"""A simulated scanner that serves the images of a folder (or synthetic Vietnamese pages).

Each image is taken as a sheet scanned at its own resolution (the file's dpi, else ``source_dpi``) and
resampled to the requested one, in the requested colour mode. The flatbed serves the images in turn;
the feeder holds ``feeder_sheets`` sheets (default: one per image) and is refilled with
``load_feeder()``. Faults are simulated with ``simulate_fault(DeviceStatus.JAMMED)`` (the sheet stays in
the feeder until ``clear_fault()``), ``simulate_unplug()`` / ``simulate_replug()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from kiosk.devices.base import ATTENTION, DeviceError, DeviceLost, DeviceStatus
from kiosk.devices.camera_sim import IMAGE_SUFFIXES
from kiosk.devices.scanner import (
    COMMON_DPI,
    ColorMode,
    ScannedPage,
    Scanner,
    ScannerCaps,
    ScannerInfo,
    ScanSettings,
    ScanSource,
    resample,
    to_mode,
)

A4_MM = (210.0, 297.0)


class SimulatedScanner(Scanner):
    backend = "simulator"

    def __init__(self, folder: str | Path | None = None, *, source_dpi: int = 200,
                 feeder_sheets: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.folder = Path(folder) if folder else None
        self.source_dpi = source_dpi
        self._paths: list[Path] = []
        self._next = 0
        self._feeder = feeder_sheets
        self._fault: DeviceStatus | None = None
        self._unplugged = threading.Event()
        self._opened = False
        self.scans = 0

    @property
    def device_name(self) -> str:
        return f"sim:{self.folder}" if self.folder else "sim:synthetic"

    # -- simulation --

    def simulate_fault(self, status: DeviceStatus) -> None:
        """Every scan fails with ``status`` (JAMMED, COVER_OPEN, BUSY, ERROR) until ``clear_fault``."""
        self._fault = status

    def clear_fault(self) -> None:
        self._fault = None

    def simulate_unplug(self) -> None:
        self._unplugged.set()

    def simulate_replug(self) -> None:
        self._unplugged.clear()

    def load_feeder(self, sheets: int) -> None:
        self._feeder = sheets

    @property
    def feeder(self) -> int:
        return self._feeder if self._feeder is not None else self._count()

    # -- device --

    def _count(self) -> int:
        return len(self._paths) if self.folder else 3

    def list_devices(self) -> list[ScannerInfo]:
        return [ScannerInfo(self.device_name, "Kiosk", "Simulated scanner", "virtual device")]

    def _open(self) -> None:
        if self._unplugged.is_set():
            raise DeviceLost("device.scanner_lost", device=self.name)
        if self.folder is not None:
            if not self.folder.is_dir():
                raise DeviceError("device.scanner_no_source", device=self.name, status=DeviceStatus.ERROR,
                                  source=str(self.folder))
            self._paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._paths:
                raise DeviceError("device.scanner_no_source", device=self.name, status=DeviceStatus.ERROR,
                                  source=str(self.folder))
        if self._feeder is None:
            self._feeder = self._count()
        self._opened = True

    def _close(self) -> None:
        self._opened = False

    def _probe(self) -> DeviceStatus:
        if self._unplugged.is_set():
            return DeviceStatus.DISCONNECTED
        return self.status if self.status in ATTENTION else DeviceStatus.OK

    def capabilities(self) -> ScannerCaps:
        return ScannerCaps(COMMON_DPI, (ColorMode.COLOR, ColorMode.GRAY),
                           (ScanSource.FLATBED, ScanSource.ADF, ScanSource.DUPLEX), A4_MM)

    def _image(self, i: int, dpi: int) -> np.ndarray:
        """Image ``i`` (BGR) resampled to ``dpi``."""
        if self.folder is None:
            from kiosk.synth.page import render_page

            page = render_page(dpi=dpi, seed=i % self._count())
            return cv2.cvtColor(np.asarray(page.image), cv2.COLOR_RGB2BGR)
        path = self._paths[i % len(self._paths)]
        with Image.open(path) as im:
            src_dpi = float(im.info.get("dpi", (self.source_dpi, self.source_dpi))[0]) or self.source_dpi
            rgb = np.asarray(im.convert("RGB"))
        return resample(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), src_dpi, dpi)

    def _sheet(self, settings: ScanSettings, sheet: int, side: str) -> ScannedPage:
        img = self._image(self._next, settings.dpi)
        self._next += 1
        if settings.area_mm is not None:
            w = round(settings.area_mm[0] / 25.4 * settings.dpi)
            h = round(settings.area_mm[1] / 25.4 * settings.dpi)
            img = img[:h, :w]
        self.scans += 1
        return ScannedPage(np.ascontiguousarray(to_mode(img, settings.mode)), settings.dpi, settings.mode,
                           sheet, side)

    def _check(self) -> None:
        if self._unplugged.is_set() or not self._opened:
            raise DeviceLost("device.scanner_lost", device=self.name)
        if self._fault is not None:
            raise DeviceError(f"device.scanner_{self._fault.value}", device=self.name, status=self._fault)

    def _scan(self, settings: ScanSettings, first_sheet: int) -> Iterator[ScannedPage]:
        self._check()
        if settings.source == ScanSource.FLATBED:
            yield self._sheet(settings, first_sheet, "front")
            return
        if self.feeder <= 0:
            raise DeviceError("device.scanner_feeder_empty", device=self.name,
                              status=DeviceStatus.FEEDER_EMPTY)
        sheet = first_sheet
        while self.feeder > 0:
            self._check()
            front = self._sheet(settings, sheet, "front")
            back = self._sheet(settings, sheet, "back") if settings.source == ScanSource.DUPLEX else None
            self._feeder = self.feeder - 1
            yield front
            if back is not None:
                yield back
            sheet += 1

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["device_name"] = self.device_name
        return d
