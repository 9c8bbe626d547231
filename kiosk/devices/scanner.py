"""Scanner interface: list devices, capabilities, scan pages (flatbed, ADF, duplex) at 200/300 dpi.

Pages come one by one from ``scan()`` as BGR (colour) or grey uint8 arrays with their resolution, so
pages already scanned are never lost when the feeder jams half-way. ``ScanBatch`` collects the pages
of one run; a fault (jam, cover open, unplugged) pauses it, and ``resume()`` continues after the
citizen has cleared it.

SANE reports problems as status strings (``sane_strstatus``); ``map_sane_error`` turns them into a
device status and a message key with a plain Vietnamese text.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from kiosk.devices.base import (
    Device,
    DeviceError,
    DeviceKind,
    DeviceStatus,
    EventKind,
    SelfTest,
)
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.scanner")


class ScanSource(StrEnum):
    FLATBED = "flatbed"
    ADF = "adf"        # automatic document feeder, front sides
    DUPLEX = "duplex"  # feeder, both sides


class ColorMode(StrEnum):
    COLOR = "Color"
    GRAY = "Gray"


COMMON_DPI = (150, 200, 300, 400, 600)


@dataclass(frozen=True)
class ScanSettings:
    dpi: int = 200
    mode: ColorMode = ColorMode.COLOR
    source: ScanSource = ScanSource.FLATBED
    area_mm: tuple[float, float] | None = None  # width, height from the top-left corner; None = all


@dataclass(frozen=True)
class ScannedPage:
    """One scanned side: BGR (colour) or grey uint8, at ``dpi``; ``sheet`` counts from 1 in a run."""

    image: np.ndarray
    dpi: int
    mode: ColorMode
    sheet: int = 1
    side: str = "front"

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.image.shape[:2]
        return w, h

    def to_pil(self) -> Image.Image:
        if self.image.ndim == 2:
            return Image.fromarray(self.image, "L")
        return Image.fromarray(cv2.cvtColor(self.image, cv2.COLOR_BGR2RGB), "RGB")

    def save(self, path: str | Path) -> None:
        """Save (PNG, JPEG, TIFF by suffix) with the resolution in the file's metadata."""
        self.to_pil().save(str(path), dpi=(self.dpi, self.dpi))


@dataclass(frozen=True)
class ScannerInfo:
    name: str
    vendor: str
    model: str
    type: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "vendor": self.vendor, "model": self.model, "type": self.type}


@dataclass(frozen=True)
class ScannerCaps:
    resolutions: tuple[int, ...]
    modes: tuple[ColorMode, ...]
    sources: tuple[ScanSource, ...]
    max_area_mm: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"resolutions": list(self.resolutions), "modes": [m.value for m in self.modes],
                "sources": [s.value for s in self.sources],
                "max_area_mm": list(self.max_area_mm) if self.max_area_mm else None}


# sane_strstatus() texts (sane-backends 1.x) -> status and message suffix.
_SANE_STATUS: dict[str, tuple[DeviceStatus, str]] = {
    "document feeder jammed": (DeviceStatus.JAMMED, "jammed"),
    "document feeder out of documents": (DeviceStatus.FEEDER_EMPTY, "feeder_empty"),
    "scanner cover is open": (DeviceStatus.COVER_OPEN, "cover_open"),
    "device busy": (DeviceStatus.BUSY, "busy"),
    "error during device i/o": (DeviceStatus.DISCONNECTED, "lost"),
    "out of memory": (DeviceStatus.ERROR, "error"),
    "access to resource has been denied": (DeviceStatus.ERROR, "access_denied"),
    "operation was cancelled": (DeviceStatus.OK, "cancelled"),
    "operation was canceled": (DeviceStatus.OK, "cancelled"),
    "invalid argument": (DeviceStatus.ERROR, "error"),
    "operation not supported": (DeviceStatus.ERROR, "error"),
    "scanner warming up": (DeviceStatus.BUSY, "busy"),
    "hardware locked": (DeviceStatus.BUSY, "busy"),
}


def map_sane_error(message: str) -> tuple[DeviceStatus, str]:
    """Device status and message key for a SANE status text; unknown texts are ERROR."""
    status, suffix = _SANE_STATUS.get(message.strip().lower().rstrip("."), (DeviceStatus.ERROR, "error"))
    return status, f"device.scanner_{suffix}"


def resample(image: np.ndarray, src_dpi: float, dpi: int) -> np.ndarray:
    """An image scanned at ``src_dpi`` as if scanned at ``dpi`` (size scaled by dpi / src_dpi)."""
    if abs(src_dpi - dpi) < 1e-6:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * dpi / src_dpi)), max(1, round(h * dpi / src_dpi)))
    interp = cv2.INTER_AREA if dpi < src_dpi else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interp)


def to_mode(image: np.ndarray, mode: ColorMode) -> np.ndarray:
    if mode == ColorMode.GRAY:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


class Scanner(Device):
    """Base of scanners. Backends implement ``list_devices``, ``capabilities`` and ``_scan``."""

    kind = DeviceKind.SCANNER

    @abstractmethod
    def list_devices(self) -> list[ScannerInfo]:
        """Scanners this backend can see."""

    @abstractmethod
    def capabilities(self) -> ScannerCaps:
        """What the open device offers."""

    @abstractmethod
    def _scan(self, settings: ScanSettings, first_sheet: int) -> Iterator[ScannedPage]:
        """Yield pages; raise DeviceError on faults (FEEDER_EMPTY only when no sheet was fed)."""

    def validate(self, settings: ScanSettings) -> None:
        caps = self.capabilities()
        if settings.dpi not in caps.resolutions:
            raise KioskError("device.scanner_unsupported", setting="dpi", value=str(settings.dpi),
                             offered=", ".join(map(str, caps.resolutions)))
        if settings.mode not in caps.modes:
            raise KioskError("device.scanner_unsupported", setting="mode", value=settings.mode.value,
                             offered=", ".join(m.value for m in caps.modes))
        if settings.source not in caps.sources:
            raise KioskError("device.scanner_unsupported", setting="source", value=settings.source.value,
                             offered=", ".join(s.value for s in caps.sources))

    def scan(self, settings: ScanSettings, *, first_sheet: int = 1) -> Generator[ScannedPage, None, None]:
        """Scan with ``settings``: one page from the flatbed, or every sheet in the feeder (two pages
        per sheet in duplex). Faults raise DeviceError after the pages already yielded; the status
        changes (and its event is emitted) at the same time."""
        if not self.is_open:
            self.open()
        self.validate(settings)
        try:
            for page in self._scan(settings, first_sheet):
                self.set_status(DeviceStatus.OK)  # a page came through: any earlier fault is gone
                yield page
        except DeviceError as exc:
            if exc.status == DeviceStatus.DISCONNECTED:
                self._close()
            # An empty feeder is not a fault of the device; report it but keep the device usable.
            self.set_status(exc.status, exc.key)
            if exc.status == DeviceStatus.FEEDER_EMPTY:
                self.set_status(DeviceStatus.OK)
            raise
        self.set_status(DeviceStatus.OK)

    def scan_one(self, settings: ScanSettings) -> ScannedPage:
        """The first page of a scan (the flatbed page, or the first sheet from the feeder)."""
        gen = self.scan(settings)
        try:
            return next(gen)
        except StopIteration:
            raise DeviceError("device.scanner_feeder_empty", device=self.name,
                              status=DeviceStatus.FEEDER_EMPTY) from None
        finally:
            gen.close()

    def self_test(self) -> SelfTest:
        """Open the scanner and scan a small flatbed area at the lowest supported resolution."""
        result = super().self_test()
        if not result.ok:
            return result
        try:
            caps = self.capabilities()
            result.checks["capabilities"] = caps.to_dict()
            if ScanSource.FLATBED in caps.sources and caps.resolutions:
                page = self.scan_one(ScanSettings(dpi=min(caps.resolutions), mode=ColorMode.GRAY,
                                                  source=ScanSource.FLATBED, area_mm=(20.0, 20.0)))
                result.checks["test_scan_size"] = list(page.size)
        except DeviceError as exc:
            result.ok, result.status, result.message_key = False, exc.status, exc.key
        except KioskError as exc:
            result.ok, result.status, result.message_key = False, DeviceStatus.ERROR, exc.key
        return result


class BatchState(StrEnum):
    READY = "ready"
    PAUSED = "paused"
    DONE = "done"


@dataclass
class ScanBatch:
    """The pages of one scan run. ``run()`` scans until the feeder is empty (or the flatbed page is
    in); a fault pauses the batch (``state`` PAUSED, ``error`` the fault) and keeps the pages; after the
    citizen clears the fault, ``resume()`` carries on with the next sheet. Nothing scanned is lost."""

    scanner: Scanner
    settings: ScanSettings
    on_page: Callable[[ScannedPage], None] | None = None  # called after each page (e.g. show it)
    pages: list[ScannedPage] = field(default_factory=list)
    state: BatchState = BatchState.READY
    error: DeviceError | None = None

    def _next_sheet(self) -> int:
        return (self.pages[-1].sheet + 1) if self.pages else 1

    def run(self) -> BatchState:
        was_paused = self.state == BatchState.PAUSED
        if self.state == BatchState.DONE:
            return self.state
        if was_paused:
            self.scanner.emit(EventKind.CAPTURE_RESUMED, "device.capture_resumed", pages=len(self.pages))
            if not self.scanner.is_open and not self.scanner.reconnect():
                self.error = DeviceError("device.scanner_lost", device=self.scanner.name,
                                         status=DeviceStatus.DISCONNECTED)
                self.scanner.emit(EventKind.CAPTURE_PAUSED, "device.capture_paused", pages=len(self.pages))
                return self.state
        self.error = None
        settings = self.settings
        if settings.source == ScanSource.FLATBED and self.pages:
            self.state = BatchState.DONE
            return self.state
        try:
            for page in self.scanner.scan(settings, first_sheet=self._next_sheet()):
                self.pages.append(page)
                if self.on_page is not None:
                    self.on_page(page)
                if settings.source == ScanSource.FLATBED:
                    break
        except DeviceError as exc:
            self.error = exc
            self.state = BatchState.PAUSED
            self.scanner.emit(EventKind.CAPTURE_PAUSED, "device.capture_paused", pages=len(self.pages),
                              reason=exc.key)
            log.info("scan batch paused", extra={"pages": len(self.pages), "reason": exc.key})
            return self.state
        self.state = BatchState.DONE
        return self.state

    def resume(self, settings: ScanSettings | None = None) -> BatchState:
        """Continue after a pause (optionally with other settings, e.g. after switching to flatbed)."""
        if settings is not None:
            self.settings = settings
        return self.run()

    def with_settings(self, **changes: Any) -> ScanSettings:
        return replace(self.settings, **changes)
