"""The device manager: builds the configured devices, watches their health, reconnects them, and passes
their events to the session and the maintenance screen.

Events arrive on ``manager.events`` (a queue) and at the listeners given with ``on_event`` /
``add_listener`` (called in the device's thread: hand them to the UI thread). A monitor thread polls
every ``poll_s`` seconds: devices that reconnect by themselves (a camera with its preview running, an
ID reader with its reader thread) are left alone; the others are probed (printer status, scanner
presence) and reopened with backoff when they are gone.

Nothing is lost when a device goes away in the middle of something:
- ``capture_still`` waits for the camera to come back (events ``capture_paused`` / ``capture_resumed``)
  and then takes the still; the stills taken before stay with the caller;
- ``scan_batch`` returns a ``ScanBatch`` that keeps the pages scanned before a jam and carries on after;
- ``print_receipt`` queues the receipt; one that could not be printed (paper out, cover open,
  unplugged) is printed when the printer is ready again.
"""

from __future__ import annotations

import glob
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.devices.base import (
    Device,
    DeviceError,
    DeviceEvent,
    DeviceKind,
    DeviceLost,
    DeviceStatus,
    EventKind,
    EventListener,
    SelfTest,
)
from kiosk.devices.camera import Camera, Frame
from kiosk.devices.idreader import IdReader
from kiosk.devices.printer import Printer
from kiosk.devices.receipt import Receipt
from kiosk.devices.scanner import ScanBatch, ScannedPage, Scanner, ScanSettings

log = logging.getLogger("kiosk.devices.manager")

def build_camera(cfg: Config) -> Camera:
    d = cfg.devices
    preview = (d.camera_preview_width, d.camera_preview_height)
    still = (cfg.vision.still_width, cfg.vision.still_height) if cfg.vision.still_width else None
    if d.camera == "v4l2":
        from kiosk.devices.camera_v4l2 import V4L2Camera, parse_source

        return V4L2Camera(parse_source(d.camera_source or "0"), still_size=still, preview_size=preview,
                          fps=d.camera_fps)
    if d.camera == "picamera2":
        from kiosk.devices.camera_picamera2 import Picamera2Camera

        return Picamera2Camera(still_size=still, preview_size=preview, fps=d.camera_fps)
    from kiosk.devices.camera_sim import VIDEO_SUFFIXES, FolderCamera, VideoCamera

    # Without a source, the simulator plays the sample photos shipped with the package: full-size
    # document-camera stills, so that captures pass the resolution check as on a real kiosk.
    source = Path(d.camera_source) if d.camera_source else Path(
        str(resources.files("kiosk.data.samples").joinpath("camera")))
    if source.suffix.lower() in VIDEO_SUFFIXES:
        return VideoCamera(source, preview_size=preview, fps=d.camera_fps)
    return FolderCamera(source, preview_size=preview, fps=d.camera_fps)


def build_id_reader(cfg: Config) -> IdReader:
    d = cfg.devices
    if d.id_reader == "serial":
        from kiosk.devices.idreader_serial import SerialIdReader

        return SerialIdReader(d.id_reader_port, d.id_reader_baud)
    from kiosk.devices.idreader_sim import SimulatedIdReader

    return SimulatedIdReader(present_on_read=True)


def build_printer(cfg: Config) -> Printer:
    d = cfg.devices
    if d.printer in ("serial", "usb"):
        from kiosk.devices.printer_escpos import EscposPrinter, transport_for

        return EscposPrinter(transport_for(d.printer_port, d.printer_baud, d.printer_flow_control),
                             width_px=d.printer_width_px)
    from kiosk.devices.printer_file import FilePrinter

    return FilePrinter(cfg.data_dir / "receipts", width_px=d.printer_width_px)


def build_scanner(cfg: Config) -> Scanner | None:
    d = cfg.devices
    if d.scanner == "sane":
        from kiosk.devices.scanner_sane import SaneScanner

        return SaneScanner(d.scanner_device)
    if d.scanner == "simulator":
        from kiosk.devices.scanner_sim import SimulatedScanner

        return SimulatedScanner(d.scanner_source or None)
    return None


def build_devices(cfg: Config) -> dict[str, Device]:
    """The devices the configuration asks for, by name (camera, id_reader, printer, scanner)."""
    devices: dict[str, Device] = {
        "camera": build_camera(cfg),
        "id_reader": build_id_reader(cfg),
        "printer": build_printer(cfg),
    }
    scanner = build_scanner(cfg)
    if scanner is not None:
        devices["scanner"] = scanner
    return devices


def discover(*, sane: bool = False) -> dict[str, Any]:
    """Hardware visible to this machine: serial ports, V4L2 video nodes, USB printer nodes and (when
    asked, as it can be slow) SANE scanners. Nothing is opened."""
    from serial.tools import list_ports

    out: dict[str, Any] = {
        "serial_ports": [{"port": p.device, "description": p.description, "hwid": p.hwid}
                         for p in sorted(list_ports.comports(), key=lambda p: p.device)],
        "video_devices": sorted(glob.glob("/dev/video*")) + sorted(glob.glob("/dev/v4l/by-id/*")),
        "usb_printers": sorted(glob.glob("/dev/usb/lp*")),
    }
    if sane:
        from kiosk.devices.scanner_sane import SaneScanner

        try:
            out["scanners"] = [i.to_dict() for i in SaneScanner("").list_devices()]
        except Exception as exc:  # SANE missing or failing must not break diagnosis
            out["scanners"] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


@dataclass
class PrintJob:
    id: int
    receipt: Receipt
    printed: bool = False
    attempts: int = 0
    error: str | None = None  # message key of the last failure


@dataclass
class PrintQueue:
    """Receipts waiting for the printer, in order. A receipt that failed stays until it is printed."""

    printer: Printer
    jobs: list[PrintJob] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def pending(self) -> list[PrintJob]:
        return [j for j in self.jobs if not j.printed]

    def submit(self, receipt: Receipt) -> PrintJob:
        """Queue the receipt and try to print everything pending (this one included) now."""
        job = PrintJob(next(self._ids), receipt)
        with self._lock:
            self.jobs.append(job)
        self.flush()
        return job

    def flush(self) -> int:
        """Print pending receipts in order until one fails; returns how many were printed."""
        done = 0
        with self._lock:
            for job in self.pending:
                job.attempts += 1
                try:
                    self.printer.print_receipt(job.receipt)
                except DeviceError as exc:
                    job.error = exc.key
                    break
                job.printed, job.error = True, None
                done += 1
            self.jobs = [j for j in self.jobs if not j.printed] + [j for j in self.jobs if j.printed][-20:]
        return done


class DeviceManager:
    def __init__(self, devices: Mapping[str, Device], *, on_event: EventListener | None = None,
                 poll_s: float = 2.0) -> None:
        self.devices: dict[str, Device] = dict(devices)
        self.poll_s = poll_s
        self.events: queue.Queue[DeviceEvent] = queue.Queue()
        self._listeners: list[EventListener] = [on_event] if on_event else []
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        for dev in self.devices.values():
            dev.subscribe(self._on_event)
        printer = self.devices.get("printer")
        self.print_queue = PrintQueue(printer) if isinstance(printer, Printer) else None

    @classmethod
    def from_config(cls, cfg: Config, *, on_event: EventListener | None = None,
                    poll_s: float = 2.0) -> DeviceManager:
        return cls(build_devices(cfg), on_event=on_event, poll_s=poll_s)

    # -- events --

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def _on_event(self, event: DeviceEvent) -> None:
        self.events.put(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("event listener failed")
        with self._changed:
            self._changed.notify_all()

    def drain_events(self) -> list[DeviceEvent]:
        out: list[DeviceEvent] = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    # -- access --

    def _get(self, name: str, kind: DeviceKind) -> Device:
        dev = self.devices.get(name)
        if dev is None or dev.kind != kind:
            raise KeyError(f"no {kind.value} named {name!r}")
        return dev

    def get_camera(self, name: str = "camera") -> Camera:
        dev = self._get(name, DeviceKind.CAMERA)
        assert isinstance(dev, Camera)
        return dev

    def get_scanner(self, name: str = "scanner") -> Scanner:
        dev = self._get(name, DeviceKind.SCANNER)
        assert isinstance(dev, Scanner)
        return dev

    @property
    def camera(self) -> Camera:
        return self.get_camera()

    @property
    def id_reader(self) -> IdReader:
        dev = self._get("id_reader", DeviceKind.ID_READER)
        assert isinstance(dev, IdReader)
        return dev

    @property
    def printer(self) -> Printer:
        dev = self._get("printer", DeviceKind.PRINTER)
        assert isinstance(dev, Printer)
        return dev

    @property
    def scanner(self) -> Scanner | None:
        dev = self.devices.get("scanner")
        return dev if isinstance(dev, Scanner) else None

    # -- lifecycle --

    def start(self, *, preview: bool = True, id_reader: bool = True) -> None:
        """Open every device (those that are missing are retried by the monitor), start the camera
        preview and the ID reader if asked, and start the monitor thread."""
        self._started = True
        for dev in self.devices.values():
            if isinstance(dev, Camera) and preview:
                dev.start_preview()
            elif isinstance(dev, IdReader) and id_reader:
                dev.start()
            else:
                try:
                    dev.open()
                except DeviceError:
                    dev.backoff.schedule()
        self._stop.clear()
        self._thread = threading.Thread(target=self._monitor, name="device-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        for dev in self.devices.values():
            try:
                dev.close()
            except Exception:
                log.exception("closing device failed", extra={"device": dev.name})
        self._started = False

    def __enter__(self) -> DeviceManager:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _monitor(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("device monitor pass failed")
            self._stop.wait(self.poll_s)

    def _reconnect_if_due(self, dev: Device) -> None:
        if dev.backoff.due():
            if dev.reconnect():
                log.info("device reconnected", extra={"device": dev.name})
            else:
                dev.backoff.schedule()

    def poll(self) -> None:
        """One monitor pass: probe or reconnect every device, print queued receipts when possible."""
        for dev in self.devices.values():
            if dev.self_healing:
                continue
            gone = dev.status == DeviceStatus.DISCONNECTED
            if gone or (dev.status == DeviceStatus.CLOSED and self._started):
                self._reconnect_if_due(dev)
            elif dev.status != DeviceStatus.CLOSED:
                dev.check()
        pq = self.print_queue
        if pq is not None and pq.pending and pq.printer.status == DeviceStatus.OK:
            pq.flush()

    def wait_status(self, name: str, statuses: set[DeviceStatus] | DeviceStatus, timeout: float) -> bool:
        """Wait until device ``name`` is in one of ``statuses`` (or ``timeout`` seconds pass)."""
        want = {statuses} if isinstance(statuses, DeviceStatus) else statuses
        dev = self.devices[name]
        deadline = time.monotonic() + timeout
        with self._changed:
            while dev.status not in want:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True

    # -- diagnosis --

    def health(self) -> list[dict[str, Any]]:
        return [dev.describe() for dev in self.devices.values()]

    def self_test(self) -> list[SelfTest]:
        return [dev.self_test() for dev in self.devices.values()]

    # -- work that survives a device going away --

    def capture_still(self, name: str = "camera", *, timeout: float | None = None,
                      should_continue: Callable[[], bool] | None = None) -> Frame:
        """A still from the camera. If the camera is gone, emit ``capture_paused``, wait until it is
        back (reconnecting it unless its preview thread does), emit ``capture_resumed`` and take the
        still. Raises DeviceLost after ``timeout`` seconds or when ``should_continue()`` says stop."""
        cam = self.get_camera(name)
        deadline = None if timeout is None else time.monotonic() + timeout
        paused = False
        while True:
            if cam.is_open:
                try:
                    frame = cam.capture_still()
                except DeviceLost:
                    pass
                else:
                    if paused:
                        cam.emit(EventKind.CAPTURE_RESUMED, "device.capture_resumed")
                    return frame
            if not paused:
                paused = True
                cam.emit(EventKind.CAPTURE_PAUSED, "device.capture_paused", status=DeviceStatus.DISCONNECTED)
            if (deadline is not None and time.monotonic() >= deadline) or (
                    should_continue is not None and not should_continue()):
                raise DeviceLost("device.camera_lost", device=cam.name)
            if not cam.self_healing:
                self._reconnect_if_due(cam)
            with self._changed:
                if not cam.is_open:
                    self._changed.wait(0.05)

    def scan_batch(self, settings: ScanSettings, name: str = "scanner",
                   on_page: Callable[[ScannedPage], None] | None = None) -> ScanBatch:
        """A scan run; call ``run()`` on it, and ``resume()`` after a pause."""
        return ScanBatch(self.get_scanner(name), settings, on_page)

    def print_receipt(self, receipt: Receipt) -> PrintJob:
        """Print now, or keep the receipt until the printer is ready (``job.printed`` tells which)."""
        if self.print_queue is None:
            raise KeyError("no printer")
        return self.print_queue.submit(receipt)

    def describe(self) -> dict[str, Any]:
        return {"devices": self.health(), "kinds": [d.kind.value for d in self.devices.values()]}
