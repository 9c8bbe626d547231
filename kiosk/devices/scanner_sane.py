"""Scanners through SANE (python-sane): flatbed, ADF and duplex, 200/300 dpi, colour or grey.

``SANE_CONFIG_DIR`` is read once, by ``sane.init()``; set it before the first scanner is opened
(``sane_reinit()`` restarts SANE, e.g. after changing it). Option names and values differ between
backends: modes are matched by name ("Color", "Colour", "24bit Color" are colour; "Gray", "Grey",
"Grayscale" are grey), sources by words ("Flatbed"; "ADF", "Automatic Document Feeder"; anything with
"Duplex"). SANE status errors are mapped by ``kiosk.devices.scanner.map_sane_error``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from kiosk.devices.base import ATTENTION, DeviceError, DeviceLost, DeviceStatus
from kiosk.devices.scanner import (
    COMMON_DPI,
    ColorMode,
    ScannedPage,
    Scanner,
    ScannerCaps,
    ScannerInfo,
    ScanSettings,
    ScanSource,
    map_sane_error,
)
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.devices.scanner")

_init_lock = threading.Lock()
_initialised = False


def sane_init() -> None:
    """Initialise SANE once per process."""
    global _initialised
    import sane

    with _init_lock:
        if not _initialised:
            sane.init()
            _initialised = True


def sane_reinit() -> None:
    """Shut SANE down and start it again (re-reads SANE_CONFIG_DIR and the backend configs)."""
    global _initialised
    import sane

    with _init_lock:
        if _initialised:
            sane.exit()
        sane.init()
        _initialised = True


def _sane_error_type() -> type[Exception]:
    import _sane

    error: type[Exception] = _sane.error
    return error


def _on_step(value: float, lo: float, quant: float) -> bool:
    if not quant:
        return True
    steps = (value - lo) / quant
    return abs(steps - round(steps)) < 1e-6


def _mode_of(value: str) -> ColorMode | None:
    v = value.lower()
    if "colo" in v:
        return ColorMode.COLOR
    if "gray" in v or "grey" in v:
        return ColorMode.GRAY
    return None


def _source_of(value: str) -> ScanSource | None:
    v = value.lower()
    if "duplex" in v:
        return ScanSource.DUPLEX
    if "adf" in v or "feeder" in v or "automatic" in v:
        return ScanSource.ADF
    if "flatbed" in v or "normal" in v or "glass" in v:
        return ScanSource.FLATBED
    return None


class SaneScanner(Scanner):
    backend = "sane"

    def __init__(self, device_name: str, *, name: str | None = None) -> None:
        super().__init__(name)
        self.device_name = device_name
        self._dev: Any = None
        self._io = threading.RLock()

    # -- discovery --

    def list_devices(self) -> list[ScannerInfo]:
        import sane

        sane_init()
        return [ScannerInfo(*map(str, d)) for d in sane.get_devices()]

    # -- lifecycle --

    def _open(self) -> None:
        import sane

        if not self.device_name:
            raise DeviceError("device.scanner_not_configured", device=self.name, status=DeviceStatus.ERROR)
        sane_init()
        try:
            self._dev = sane.open(self.device_name)
        except _sane_error_type() as exc:
            status, key = map_sane_error(str(exc))
            if status == DeviceStatus.ERROR:  # "Invalid argument": no such device (unplugged)
                raise DeviceLost("device.scanner_lost", device=self.name) from exc
            raise DeviceError(key, device=self.name, status=status) from exc

    def _close(self) -> None:
        with self._io:
            dev, self._dev = self._dev, None
            if dev is not None:
                try:
                    dev.close()
                except Exception:
                    log.warning("sane close failed", extra={"device": self.name}, exc_info=True)

    def _probe(self) -> DeviceStatus:
        import sane

        if self._dev is None:
            return DeviceStatus.DISCONNECTED
        if not self._io.acquire(blocking=False):
            return self.status  # scanning: it is there
        try:
            present = any(d[0] == self.device_name for d in sane.get_devices(True))
        finally:
            self._io.release()
        if not present:
            return DeviceStatus.DISCONNECTED
        # A jam or an open cover shows only on the next scan: keep reporting it until then.
        return self.status if self.status in ATTENTION else DeviceStatus.OK

    # -- options --

    def _opt(self, name: str) -> Any:
        dev = self._dev
        return dev.opt.get(name) if dev is not None else None

    def set_raw_option(self, name: str, value: Any) -> None:
        """Set a backend-specific SANE option (diagnosis and tests), e.g. ``read_return_value``."""
        with self._io:
            if self._dev is None:
                raise DeviceLost("device.scanner_lost", device=self.name)
            setattr(self._dev, name.replace("-", "_"), value)

    def raw_option(self, name: str) -> Any:
        with self._io:
            if self._dev is None:
                raise DeviceLost("device.scanner_lost", device=self.name)
            return getattr(self._dev, name.replace("-", "_"))

    def capabilities(self) -> ScannerCaps:
        with self._io:
            if self._dev is None:
                raise DeviceLost("device.scanner_lost", device=self.name)
            res = self._opt("resolution")
            resolutions: tuple[int, ...] = ()
            if res is not None:
                c = res.constraint
                if isinstance(c, tuple):
                    lo, hi, quant = c
                    resolutions = tuple(d for d in COMMON_DPI if lo <= d <= hi and _on_step(d, lo, quant))
                elif isinstance(c, list):
                    resolutions = tuple(d for d in COMMON_DPI if any(abs(float(v) - d) < 1e-6 for v in c))
            mode = self._opt("mode")
            modes = tuple(dict.fromkeys(m for v in (mode.constraint if mode is not None else []) or []
                                        if (m := _mode_of(str(v))) is not None))
            src = self._opt("source")
            sources = tuple(dict.fromkeys(s for v in (src.constraint if src is not None else []) or []
                                          if (s := _source_of(str(v))) is not None)) or (ScanSource.FLATBED,)
            area: tuple[float, float] | None = None
            bx, by = self._opt("br_x"), self._opt("br_y")
            if bx is not None and by is not None and isinstance(bx.constraint, tuple):
                area = (float(bx.constraint[1]), float(by.constraint[1]))
        return ScannerCaps(resolutions, modes, sources, area)

    def _set(self, name: str, value: Any) -> None:
        opt = self._opt(name)
        if opt is None or not opt.is_active() or not opt.is_settable():
            return
        setattr(self._dev, name, value)

    def _apply(self, settings: ScanSettings) -> None:
        dev = self._dev
        mode_opt, src_opt = self._opt("mode"), self._opt("source")
        if mode_opt is not None:
            raw_mode = next(str(v) for v in mode_opt.constraint if _mode_of(str(v)) == settings.mode)
            self._set("mode", raw_mode)
        if self._opt("depth") is not None:
            self._set("depth", 8)
        if src_opt is not None:
            candidates = [str(v) for v in src_opt.constraint if _source_of(str(v)) == settings.source]
            self._set("source", candidates[0])
        self._set("resolution", settings.dpi)
        caps_area = self.capabilities().max_area_mm
        if caps_area is not None:
            w, h = settings.area_mm or caps_area
            self._set("tl_x", 0.0)
            self._set("tl_y", 0.0)
            self._set("br_x", float(min(w, caps_area[0])))
            self._set("br_y", float(min(h, caps_area[1])))
        actual = float(dev.resolution)
        if abs(actual - settings.dpi) > 1e-6:
            raise KioskError("device.scanner_unsupported", setting="dpi", value=str(settings.dpi),
                             offered=f"{actual:g}")

    # -- scanning --

    def _page(self, settings: ScanSettings, sheet: int, side: str) -> ScannedPage:
        pil = self._dev.snap(no_cancel=settings.source != ScanSource.FLATBED)
        arr = np.asarray(pil)
        if arr.ndim == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        if settings.mode == ColorMode.GRAY and arr.ndim == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2GRAY)
        return ScannedPage(np.ascontiguousarray(arr), settings.dpi, settings.mode, sheet, side)

    def _fault(self, exc: Exception) -> DeviceError:
        status, key = map_sane_error(str(exc))
        if status == DeviceStatus.DISCONNECTED:
            return DeviceLost(key, device=self.name)
        return DeviceError(key, device=self.name, status=status)

    def _scan(self, settings: ScanSettings, first_sheet: int) -> Iterator[ScannedPage]:
        err = _sane_error_type()
        with self._io:
            if self._dev is None:
                raise DeviceLost("device.scanner_lost", device=self.name)
            try:
                self._apply(settings)
            except err as exc:
                raise self._fault(exc) from exc
            log.info("scan", extra={"device": self.name, "dpi": settings.dpi, "mode": settings.mode.value,
                                    "source": settings.source.value})
            sheet = first_sheet
            fed = 0
            try:
                while True:
                    sides = ("front", "back") if settings.source == ScanSource.DUPLEX else ("front",)
                    for side in sides:
                        try:
                            self._dev.start()
                        except err as exc:
                            fault = self._fault(exc)
                            if fault.status == DeviceStatus.FEEDER_EMPTY and (fed or side == "back"):
                                return  # the feeder ran empty after at least one sheet: done
                            raise fault from exc
                        try:
                            page = self._page(settings, sheet, side)
                        except err as exc:
                            raise self._fault(exc) from exc
                        except RuntimeError as exc:  # "Scanner returned no data"
                            raise DeviceError("device.scanner_error", device=self.name,
                                              status=DeviceStatus.ERROR) from exc
                        yield page
                    fed += 1
                    sheet += 1
                    if settings.source == ScanSource.FLATBED:
                        return
            finally:
                if self._dev is not None:
                    try:
                        self._dev.cancel()
                    except err:
                        pass

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["device_name"] = self.device_name
        return d
