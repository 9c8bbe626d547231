"""MRZ/OCR ID-card readers on a serial port (RS-232 or USB-serial, pyserial).

A background thread reads whatever arrives and feeds it to the framer (``kiosk.devices.idreader``).
When the port fails (reader unplugged: the read raises, or the device node is gone) the reader is marked
DISCONNECTED and the port is reopened with exponential backoff until it is back; partial data from
before the loss is dropped. Open the port by a stable name (``/dev/serial/by-id/...``) when the reader
is on USB.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import serial

from kiosk.devices.base import Backoff, DeviceLost, DeviceStatus, SelfTest
from kiosk.devices.idreader import IdReader

log = logging.getLogger("kiosk.devices.id_reader")


class SerialIdReader(IdReader):
    backend = "serial"

    def __init__(self, port: str, baud: int = 9600, *, name: str | None = None, gap_s: float = 1.0,
                 backoff: Backoff | None = None, read_timeout: float = 0.1) -> None:
        super().__init__(name, gap_s=gap_s)
        self.port = port
        self.baud = baud
        self.read_timeout = read_timeout
        if backoff is not None:
            self.backoff = backoff
        self._ser: serial.Serial | None = None
        self._ser_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.opens = 0

    def _open(self) -> None:
        try:
            ser = serial.Serial(self.port, self.baud, timeout=self.read_timeout, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceLost("device.id_reader_lost", device=self.name, port=self.port) from exc
        with self._ser_lock:
            self._ser = ser
        self.framer.reset()
        log.info("id reader opened", extra={"device": self.name, "port": self.port, "baud": self.baud})

    def _close(self) -> None:
        with self._ser_lock:
            ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    @property
    def self_healing(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.self_healing:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=f"idreader-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._thread = None

    def close(self) -> None:
        self.stop()
        super().close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            ser = self._ser
            if ser is None or not self.is_open:
                if not self.backoff.due():
                    self._stop.wait(0.02)
                    continue
                if self.reconnect():
                    self.opens += 1
                else:
                    self.backoff.schedule()
                continue
            try:
                data = ser.read(max(1, ser.in_waiting))
            except (serial.SerialException, OSError, TypeError, AttributeError):
                # TypeError/AttributeError: pyserial after the fd went away under it
                log.warning("id reader port failed", extra={"device": self.name, "port": self.port})
                self._close()
                self.framer.reset()
                self.set_status(DeviceStatus.DISCONNECTED)
                self.backoff.schedule()
                continue
            now = time.monotonic()
            if data:
                self._feed(data, now)
            else:
                self._expire(now)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"port": self.port, "baud": self.baud, "valid_reads": self.valid_reads,
                  "invalid_reads": self.invalid_reads, "noise_bytes": self.framer.noise_bytes,
                  "noise_lines": self.framer.noise_lines})
        return d

    def self_test(self) -> SelfTest:
        """The port opens (a card is needed to test more)."""
        result = super().self_test()
        result.checks.update({"port": self.port, "baud": self.baud})
        return result
