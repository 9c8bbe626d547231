"""ESC/POS receipt printers on a serial port, a USB printer-class port (``/dev/usb/lpN``) or USB through
python-escpos (pyusb), printing raster images.

What goes over the wire:
- ``ESC @`` (initialise) at the start of every receipt;
- ``DLE EOT n`` real-time status queries, n = 1 (printer: bit 3 offline), 2 (offline cause: bit 2
  cover open, bit 5 stopped at paper end, bit 6 error), 4 (paper roll sensor: bits 2-3 near end, bits
  5-6 paper end). Every status byte has bit 0 = 0, bit 1 = 1, bit 4 = 1, bit 7 = 0, so it can never be
  mistaken for XON (0x11) or XOFF (0x13);
- the image in bands of ``band_rows`` rows, each ``GS v 0 m xL xH yL yH d1...dk`` (m = 0, normal
  density; bit 7 of each byte is the leftmost dot, 1 = black);
- ``ESC d n`` (feed n lines) and ``GS V 66 0`` (feed to the cutter and partial cut).

Flow control: with ``xonxoff`` the printer's XOFF/XON bytes are handled here (the port itself does no
software flow control, so status bytes reach us): data goes out in chunks of ``chunk_size`` bytes, and
after an XOFF nothing more is sent until XON. A healthy printer holds the host for a fraction of a
second; one that holds it for ``hold_query_s`` is asked for its state once a second (real-time
queries, answered even with a full buffer): paper out or an open cover ends the job with that error,
and after ``stall_timeout`` the job fails as stalled. ``rtscts`` and ``dsrdtr`` are hardware flow
control done by the serial driver. A printer that does not answer a status query within
``status_timeout`` is DISCONNECTED; the port is reopened when it is back.

A job that ends inside a raster command (the printer ran out of paper half-way through a band) leaves
the printer expecting the rest of that band; before anything else is sent, the band is completed with
white dots, so that the next status query or receipt is read as commands again.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import serial
from PIL import Image

from kiosk.devices.base import DeviceError, DeviceLost, DeviceStatus
from kiosk.devices.printer import Printer, PrinterState
from kiosk.devices.receipt import DEFAULT_WIDTH

log = logging.getLogger("kiosk.devices.printer")

ESC, GS, DLE, EOT = 0x1B, 0x1D, 0x10, 0x04
XON, XOFF = 0x11, 0x13
FLOW_CONTROLS = ("none", "xonxoff", "rtscts", "dsrdtr")


# -- byte encoding (pure) --------------------------------------------------------------------------


def cmd_init() -> bytes:
    return bytes([ESC, 0x40])


def cmd_status(n: int) -> bytes:
    return bytes([DLE, EOT, n])


def cmd_feed(lines: int) -> bytes:
    return bytes([ESC, 0x64, max(0, min(255, lines))])


def cmd_cut() -> bytes:
    return bytes([GS, 0x56, 66, 0])


def raster_rows(image: Image.Image) -> np.ndarray:
    """The image's rows packed 8 dots per byte, MSB = leftmost, 1 = black (ESC/POS raster format)."""
    black = np.asarray(image.convert("1"), dtype=bool) == 0
    return np.packbits(black, axis=1)


def raster_bands(image: Image.Image, band_rows: int = 24) -> Iterator[bytes]:
    """``GS v 0`` commands printing the image in bands of ``band_rows`` rows."""
    rows = raster_rows(image)
    width_bytes = rows.shape[1]
    for y in range(0, rows.shape[0], band_rows):
        band = rows[y:y + band_rows]
        h = band.shape[0]
        head = bytes([GS, 0x76, 0x30, 0, width_bytes & 0xFF, width_bytes >> 8, h & 0xFF, h >> 8])
        yield head + band.tobytes()


def is_status_byte(b: int) -> bool:
    return (b & 0x93) == 0x12


def parse_status(printer: int, offline: int, paper: int) -> PrinterState:
    """PrinterState from the answers to DLE EOT 1, 2 and 4."""
    return PrinterState(
        online=not printer & 0x08,
        paper_out=bool(paper & 0x60) or bool(offline & 0x20),
        paper_near_end=bool(paper & 0x0C),
        cover_open=bool(offline & 0x04),
        error=bool(offline & 0x40),
    )


# -- transports ------------------------------------------------------------------------------------


class Transport(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def read(self, n: int, timeout: float) -> bytes: ...
    def flush(self) -> None: ...
    def describe(self) -> dict[str, Any]: ...


class SerialTransport:
    """A serial port (pyserial). Errors become OSError so that the printer marks itself lost."""

    def __init__(self, port: str, baud: int = 19200, flow: str = "xonxoff",
                 write_timeout: float = 30.0) -> None:
        if flow not in FLOW_CONTROLS:
            raise ValueError(f"flow control must be one of {FLOW_CONTROLS}")
        self.port, self.baud, self.flow, self.write_timeout = port, baud, flow, write_timeout
        self._ser: serial.Serial | None = None

    def open(self) -> None:
        try:
            self._ser = serial.Serial(self.port, self.baud, timeout=0.05, write_timeout=self.write_timeout,
                                      rtscts=self.flow == "rtscts", dsrdtr=self.flow == "dsrdtr",
                                      xonxoff=False, exclusive=True)
        except (serial.SerialException, ValueError) as exc:
            raise OSError(str(exc)) from exc

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def _port(self) -> serial.Serial:
        if self._ser is None:
            raise OSError("port closed")
        return self._ser

    def write(self, data: bytes) -> None:
        try:
            self._port().write(data)
        except (serial.SerialException, TypeError, AttributeError) as exc:
            raise OSError(str(exc)) from exc

    def flush(self) -> None:
        try:
            self._port().flush()
        except (serial.SerialException, termios_error(), TypeError, AttributeError) as exc:
            raise OSError(str(exc)) from exc

    def read(self, n: int, timeout: float) -> bytes:
        ser = self._port()
        try:
            if timeout <= 0:
                waiting = ser.in_waiting
                return bytes(ser.read(min(n, waiting))) if waiting else b""
            deadline = time.monotonic() + timeout
            while True:
                data = ser.read(max(1, min(n, ser.in_waiting)))
                if data or time.monotonic() >= deadline:
                    return bytes(data)
        except (serial.SerialException, TypeError, AttributeError) as exc:
            raise OSError(str(exc)) from exc

    def describe(self) -> dict[str, Any]:
        return {"transport": "serial", "port": self.port, "baud": self.baud, "flow_control": self.flow}


def termios_error() -> type[Exception]:
    import termios

    return termios.error


class UsbLpTransport:
    """A USB printer-class device node (``/dev/usb/lp0``, Linux usblp driver): reads and writes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def open(self) -> None:
        self._fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY)

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass

    def _fileno(self) -> int:
        if self._fd is None:
            raise OSError("port closed")
        return self._fd

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fileno(), view):]

    def flush(self) -> None:
        return None

    def read(self, n: int, timeout: float) -> bytes:
        fd = self._fileno()
        ready, _, _ = select.select([fd], [], [], max(0.0, timeout))
        return os.read(fd, n) if ready else b""

    def describe(self) -> dict[str, Any]:
        return {"transport": "usblp", "port": self.path}


class EscposUsbTransport:
    """USB through python-escpos's ``Usb`` printer (needs pyusb and access to the USB device)."""

    def __init__(self, vendor_id: int, product_id: int) -> None:
        self.vendor_id, self.product_id = vendor_id, product_id
        self._dev: Any = None

    def open(self) -> None:
        try:
            from escpos.printer import Usb
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise OSError("python-escpos USB support needs pyusb") from exc
        try:
            dev = Usb(self.vendor_id, self.product_id, timeout=5000)
            dev.open()
        except Exception as exc:  # USBNotFoundError, usb.core.USBError, DeviceNotFoundError
            raise OSError(str(exc)) from exc
        self._dev = dev

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            try:
                dev.close()
            except Exception:
                pass

    def write(self, data: bytes) -> None:
        if self._dev is None:
            raise OSError("port closed")
        try:
            self._dev._raw(data)
        except Exception as exc:
            raise OSError(str(exc)) from exc

    def flush(self) -> None:
        return None

    def read(self, n: int, timeout: float) -> bytes:
        if self._dev is None or self._dev.device is None:
            raise OSError("port closed")
        try:
            data = self._dev.device.read(self._dev.in_ep, n, max(1, int(timeout * 1000)))
        except Exception as exc:
            if "timeout" in type(exc).__name__.lower() or "timed out" in str(exc).lower():
                return b""  # nothing to read
            raise OSError(str(exc)) from exc
        return bytes(data)

    def describe(self) -> dict[str, Any]:
        return {"transport": "usb", "vendor_id": f"{self.vendor_id:04x}",
                "product_id": f"{self.product_id:04x}"}


def transport_for(port: str, baud: int = 19200, flow: str = "xonxoff") -> Transport:
    """``usb:VVVV:PPPP`` (python-escpos), ``/dev/usb/lpN`` (usblp), anything else a serial port."""
    if port.startswith("usb:"):
        _, vid, pid = port.split(":")
        return EscposUsbTransport(int(vid, 16), int(pid, 16))
    if port.startswith("/dev/usb/lp"):
        return UsbLpTransport(port)
    return SerialTransport(port, baud, flow)


# -- printer ---------------------------------------------------------------------------------------


class EscposPrinter(Printer):
    """An ESC/POS printer behind a transport. ``hold_query_s``: after being held by XOFF this long, ask
    the printer why (paper out, cover open end the job); ``stall_timeout``: give up after this long."""

    backend = "escpos"

    def __init__(self, transport: Transport, *, name: str | None = None, width_px: int = DEFAULT_WIDTH,
                 band_rows: int = 24, chunk_size: int = 256, status_timeout: float = 1.0,
                 hold_query_s: float = 2.0, stall_timeout: float = 60.0, feed_lines: int = 3,
                 software_flow: bool | None = None) -> None:
        super().__init__(name, width_px=width_px)
        self.transport = transport
        self.band_rows = band_rows
        self.chunk_size = chunk_size
        self.status_timeout = status_timeout
        self.hold_query_s = hold_query_s
        self.stall_timeout = stall_timeout
        self.feed_lines = feed_lines
        if software_flow is None:
            software_flow = getattr(transport, "flow", "none") == "xonxoff"
        self.software_flow = software_flow
        self._io = threading.RLock()
        self._held = False
        self.held = threading.Event()  # set while the printer holds us with XOFF
        self._unsent = 0               # bytes of a raster command cut short by a failed job
        self.bytes_sent = 0            # every byte written, status queries included
        self.flow_pauses = 0

    # -- lifecycle --

    def _open(self) -> None:
        with self._io:
            self.transport.open()
            self._held = False
            self.held.clear()

    def _close(self) -> None:
        with self._io:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        self.transport.write(data)
        self.bytes_sent += len(data)

    # -- input --

    def _take(self, data: bytes, replies: bytearray | None) -> None:
        for b in data:
            if self.software_flow and b == XOFF:
                if not self._held:
                    self.flow_pauses += 1
                self._held = True
                self.held.set()
            elif self.software_flow and b == XON:
                self._held = False
                self.held.clear()
            elif replies is not None:
                replies.append(b)

    def _pump(self, timeout: float, replies: bytearray | None = None) -> None:
        self._take(self.transport.read(256, timeout), replies)

    def _status_byte(self, n: int) -> int:
        self._pump(0)  # drop stale bytes, note XON/XOFF
        self._write(cmd_status(n))
        deadline = time.monotonic() + self.status_timeout
        replies = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceLost("device.printer_lost", device=self.name)
            self._pump(min(remaining, 0.05), replies)
            for b in replies:
                if is_status_byte(b):
                    return b
            replies.clear()

    def query_state(self) -> PrinterState:
        """DLE EOT 1, 2 and 4 (real-time: answered even while the printer is offline or full)."""
        with self._io:
            try:
                self._pump(0)
                if self._unsent:
                    # Recovering from a job cut short: an XON may be on its way (paper just loaded).
                    deadline = time.monotonic() + self.status_timeout
                    while self._held and time.monotonic() < deadline:
                        self._pump(0.02)
                    if not self._held:
                        self._resync()
                return parse_status(self._status_byte(1), self._status_byte(2), self._status_byte(4))
            except OSError as exc:
                raise DeviceLost("device.printer_lost", device=self.name) from exc

    def _resync(self) -> None:
        """The last job stopped inside a raster command: complete it with white dots, so that the
        printer reads what follows as commands again."""
        self._send(bytes(self._unsent))

    # -- output --

    def _wait_release(self) -> None:
        """Wait for XON. A printer that holds us for ``hold_query_s`` is asked for its state once a
        second: paper out or an open cover ends the job; after ``stall_timeout`` we give up."""
        started = time.monotonic()
        last_query = 0.0
        while self._held:
            self._pump(0.05)
            now = time.monotonic()
            if self._held and now - started >= self.hold_query_s and now - last_query >= 1.0:
                last_query = now
                status = self.query_state().device_status()
                if status != DeviceStatus.OK:
                    raise DeviceError("device.printer_print_incomplete", device=self.name, status=status)
            if self._held and now - started > self.stall_timeout:
                raise DeviceError("device.printer_stalled", device=self.name, status=DeviceStatus.ERROR)

    def _send(self, data: bytes) -> None:
        """Send one command in chunks, honouring XON/XOFF between chunks."""
        view = memoryview(data)
        self._unsent = len(view)
        for i in range(0, len(view), self.chunk_size):
            if self.software_flow:
                self._pump(0)
                if self._held:
                    self._wait_release()
            chunk = bytes(view[i:i + self.chunk_size])
            self._write(chunk)
            self.transport.flush()
            self._unsent -= len(chunk)

    def _print_raster(self, image: Image.Image) -> None:
        with self._io:
            try:
                if self._unsent:
                    self._resync()
                self._send(cmd_init())
                for band in raster_bands(image, self.band_rows):
                    self._send(band)
                self._send(cmd_feed(self.feed_lines) + cmd_cut())
            except OSError as exc:
                raise DeviceLost("device.printer_lost", device=self.name) from exc
        log.info("receipt sent", extra={"device": self.name, "rows": image.height})

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(self.transport.describe())
        d["band_rows"] = self.band_rows
        return d
