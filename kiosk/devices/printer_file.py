"""A receipt printer simulator that writes each receipt as a 1-bit PNG into a folder.

It has the state of a real printer, so faults can be simulated: ``set_state(paper_out=True)``,
``set_state(cover_open=True)``, ``simulate_unplug()`` / ``simulate_replug()``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from kiosk.devices.base import DeviceLost, DeviceStatus
from kiosk.devices.printer import Printer, PrinterState
from kiosk.devices.receipt import DEFAULT_WIDTH
from kiosk.timeutil import now_vn

# Printers' resolution, written into the PNG so that it prints at 100 % scale elsewhere.
DOTS_PER_INCH = 203


class FilePrinter(Printer):
    backend = "file"

    def __init__(self, out_dir: str | Path, *, name: str | None = None,
                 width_px: int = DEFAULT_WIDTH) -> None:
        super().__init__(name, width_px=width_px)
        self.out_dir = Path(out_dir)
        self.state = PrinterState()
        self.printed: list[Path] = []
        self._unplugged = threading.Event()
        self._seq = itertools.count(1)

    def set_state(self, **changes: Any) -> None:
        """Change the simulated state, e.g. ``set_state(paper_out=True)``."""
        self.state = replace(self.state, **changes)

    def simulate_unplug(self) -> None:
        self._unplugged.set()

    def simulate_replug(self) -> None:
        self._unplugged.clear()

    def _open(self) -> None:
        if self._unplugged.is_set():
            raise DeviceLost("device.printer_lost", device=self.name)
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def _close(self) -> None:
        pass

    def query_state(self) -> PrinterState:
        if self._unplugged.is_set():
            raise DeviceLost("device.printer_lost", device=self.name)
        return self.state

    def _print_raster(self, image: Image.Image) -> None:
        if self._unplugged.is_set():
            raise DeviceLost("device.printer_lost", device=self.name)
        stamp = now_vn().strftime("%Y%m%dT%H%M%S")
        path = self.out_dir / f"receipt-{stamp}-{next(self._seq):04d}.png"
        tmp = path.with_suffix(".tmp")
        image.save(tmp, format="PNG", dpi=(DOTS_PER_INCH, DOTS_PER_INCH))
        tmp.replace(path)
        self.printed.append(path)

    def _probe(self) -> DeviceStatus:
        if self._unplugged.is_set():
            return DeviceStatus.DISCONNECTED
        return super()._probe()

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["out_dir"] = str(self.out_dir)
        return d
