"""Receipt printer interface: status (paper out, cover open, ...) and printing 1-bit images.

``print_receipt`` renders the receipt (``kiosk.devices.receipt``) at the printer's width and prints it.
The printer's state is read before printing (a printer without paper is not sent anything) and again
after; a failure on either side sets the device status (event ``fault``), emits ``print_failed`` and
raises ``DeviceError`` with a plain message key, so the session can tell the citizen and the
maintenance screen can tell staff. The device manager's ``PrintQueue`` keeps a failed receipt and prints
it once the printer is back.
"""

from __future__ import annotations

import logging
import threading
from abc import abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image

from kiosk.devices.base import (
    Device,
    DeviceError,
    DeviceKind,
    DeviceLost,
    DeviceStatus,
    EventKind,
    SelfTest,
)
from kiosk.devices.receipt import DEFAULT_WIDTH, Receipt, render_receipt

log = logging.getLogger("kiosk.devices.printer")


@dataclass(frozen=True)
class PrinterState:
    online: bool = True
    paper_out: bool = False
    paper_near_end: bool = False
    cover_open: bool = False
    error: bool = False

    def device_status(self) -> DeviceStatus:
        if self.cover_open:
            return DeviceStatus.COVER_OPEN
        if self.paper_out:
            return DeviceStatus.PAPER_OUT
        if self.error or not self.online:
            return DeviceStatus.ERROR
        return DeviceStatus.OK

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


_FAULT_KEYS = {
    DeviceStatus.COVER_OPEN: "device.printer_cover_open",
    DeviceStatus.PAPER_OUT: "device.printer_paper_out",
    DeviceStatus.ERROR: "device.printer_error",
    DeviceStatus.DISCONNECTED: "device.printer_lost",
}


def prepare_image(image: Image.Image, width_px: int) -> Image.Image:
    """A mode "1" image exactly ``width_px`` wide: thresholded (not dithered), cropped or padded white."""
    if image.mode != "1":
        image = image.convert("L").point(lambda v: 255 if v >= 128 else 0, mode="1")
    if image.width != width_px:
        canvas = Image.new("1", (width_px, image.height), 1)
        canvas.paste(image.crop((0, 0, min(width_px, image.width), image.height)), (0, 0))
        image = canvas
    return image


class Printer(Device):
    """Base of receipt printers. Backends implement ``query_state`` and ``_print_raster``."""

    kind = DeviceKind.PRINTER

    def __init__(self, name: str | None = None, *, width_px: int = DEFAULT_WIDTH) -> None:
        super().__init__(name)
        self.width_px = width_px
        self._print_lock = threading.RLock()
        self._near_end_reported = False
        self.printed_count = 0

    @abstractmethod
    def query_state(self) -> PrinterState:
        """Ask the printer for its state; DeviceLost when it does not answer."""

    @abstractmethod
    def _print_raster(self, image: Image.Image) -> None:
        """Send a prepared 1-bit image (``width_px`` wide) and cut; raise DeviceError on failure."""

    def _state_status(self, state: PrinterState) -> DeviceStatus:
        if state.paper_near_end and not state.paper_out and not self._near_end_reported:
            self._near_end_reported = True
            self.emit(EventKind.WARNING, "device.printer_paper_near_end", status=state.device_status())
        elif not state.paper_near_end:
            self._near_end_reported = False
        return state.device_status()

    def _probe(self) -> DeviceStatus:
        if not self._print_lock.acquire(blocking=False):
            return self.status  # printing: the print reports its own result
        try:
            return self._state_status(self.query_state())
        finally:
            self._print_lock.release()

    def _fail(self, status: DeviceStatus, key: str, *, stage: str) -> DeviceError:
        if status == DeviceStatus.DISCONNECTED:
            self._close()
        self.set_status(status, _FAULT_KEYS.get(status, key))
        self.emit(EventKind.PRINT_FAILED, key, status=status, stage=stage)
        if status == DeviceStatus.DISCONNECTED:
            return DeviceLost(key, device=self.name)
        return DeviceError(key, device=self.name, status=status)

    def print_image(self, image: Image.Image) -> None:
        """Print a 1-bit image (other modes are thresholded); check the state before and after."""
        img = prepare_image(image, self.width_px)
        with self._print_lock:
            if not self.is_open:
                try:
                    self.open()
                except DeviceError as exc:
                    key = _FAULT_KEYS.get(exc.status, exc.key)
                    raise self._fail(exc.status, key, stage="before") from exc
            try:
                before = self._state_status(self.query_state())
            except DeviceError as exc:
                raise self._fail(exc.status, "device.printer_lost", stage="before") from exc
            if before != DeviceStatus.OK:
                raise self._fail(before, _FAULT_KEYS[before], stage="before")
            try:
                self._print_raster(img)
            except DeviceError as exc:
                raise self._fail(exc.status, "device.printer_print_incomplete", stage="during") from exc
            try:
                after = self._state_status(self.query_state())
            except DeviceError as exc:
                raise self._fail(exc.status, "device.printer_print_incomplete", stage="after") from exc
            if after != DeviceStatus.OK:
                raise self._fail(after, "device.printer_print_incomplete", stage="after")
            self.printed_count += 1
            self.set_status(DeviceStatus.OK)
            self.emit(EventKind.PRINTED, "device.printer_printed", height=img.height)

    def print_receipt(self, receipt: Receipt) -> None:
        self.print_image(render_receipt(receipt, self.width_px))

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["width_px"] = self.width_px
        return d

    def self_test(self) -> SelfTest:
        """Open the printer and read its state (nothing is printed; ``kiosk printer test`` prints)."""
        result = super().self_test()
        if self.is_open:
            try:
                result.checks["state"] = self.query_state().to_dict()
            except DeviceError:
                pass
        return result
