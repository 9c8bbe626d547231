"""Helpers for the device tests (imported by conftest.py and the test modules): socat pseudo-terminal
pairs, a serial peer, an ESC/POS printer peer that decodes what it receives back into images, an event
log. Nothing outside the test's tmp folder is touched."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import serial
from PIL import Image

from kiosk.devices.base import DeviceEvent
from kiosk.devices.scanner_sane import SaneScanner

WAIT = 20.0  # upper bound for waiting on background threads; never a speed requirement


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


class EventLog:
    """Collects device events (listener) and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[DeviceEvent] = []
        self._cond = threading.Condition()

    def __call__(self, event: DeviceEvent) -> None:
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()

    def kinds(self) -> list[str]:
        return [str(e.kind) for e in self.events]

    def wait_for(self, kind: str, *, key: str | None = None, after: int = 0,
                 timeout: float = WAIT) -> DeviceEvent:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for e in self.events[after:]:
                    if e.kind == kind and (key is None or e.message_key == key):
                        return e
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {kind} event ({key}); got {self.kinds()}")
                self._cond.wait(remaining)


# -- socat -----------------------------------------------------------------------------------------


class SocatPair:
    """Two linked pseudo-terminals at DIR/ttyA (the device under test) and DIR/ttyB (the test peer).
    ``stop()`` is an unplug: both ends go away; ``start()`` again is plugging back in."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.a = str(folder / "ttyA")
        self.b = str(folder / "ttyB")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None
        self.proc = subprocess.Popen(
            ["socat", "-d", "-d", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_until(lambda: os.path.exists(self.a) and os.path.exists(self.b)), "socat did not start"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for link in (self.a, self.b):
            if os.path.lexists(link):
                os.unlink(link)

    def restart(self) -> None:
        self.stop()
        self.start()


class SerialPeer:
    """The far end of a socat pair, acting as the device (an MRZ reader sends; we write)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.ser = serial.Serial(path, 9600, timeout=0.1)

    def send(self, data: bytes, *, pause: float = 0.0) -> None:
        self.ser.write(data)
        self.ser.flush()
        if pause:
            time.sleep(pause)

    def close(self) -> None:
        self.ser.close()


# -- ESC/POS printer peer ------------------------------------------------------------------------------

DLE, EOT, ESC, GS = 0x10, 0x04, 0x1B, 0x1D
XON, XOFF = 0x11, 0x13


def status_bytes(paper_out: bool, cover_open: bool, near_end: bool, offline: bool) -> dict[int, int]:
    """Answers to DLE EOT 1, 2, 4 as an Epson TM printer gives them."""
    n1 = 0x12 | (0x08 if offline or paper_out or cover_open else 0)
    n2 = 0x12 | (0x04 if cover_open else 0) | (0x20 if paper_out else 0)
    n4 = 0x12 | (0x0C if near_end else 0) | (0x60 if paper_out else 0)
    return {1: n1, 2: n2, 4: n4}


class EscposPeer(threading.Thread):
    """A receipt printer on the far end of a socat pair. It decodes ESC @, DLE EOT n (answered from its
    state), GS v 0 raster bands (stacked into an image), ESC d and GS V (the cut ends a receipt).

    Faults: ``paper_out_after_bands=k`` runs out of paper after the k-th band (it sends XOFF and
    stops printing); ``hold_after_bands=k`` sends XOFF after the k-th band until ``release()``. While
    it holds the host (XOFF sent), it recognises real-time DLE EOT queries even inside raster data, as
    real printers do, and drops them from the data."""

    def __init__(self, path: str) -> None:
        super().__init__(daemon=True)
        self.ser = serial.Serial(path, 19200, timeout=0.02)
        self.paper_out = False
        self.cover_open = False
        self.near_end = False
        self.offline = False
        self.paper_out_after_bands: int | None = None
        self.hold_after_bands: int | None = None
        self.holding = False
        self.receipts: list[Image.Image] = []
        self.incomplete: list[Image.Image] = []
        self.queries: list[int] = []
        self.inits = 0
        self.bytes_received = 0
        self.bands_total = 0
        self.errors: list[str] = []
        self._rows: list[np.ndarray] = []
        self._printing = True
        self._buf = bytearray()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self.start()

    # -- test controls --

    def set_state(self, **kw: bool) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, v)

    def load_paper(self) -> None:
        """Paper back in: online again, XON."""
        with self._lock:
            self.paper_out = False
            self._printing = True
            self.holding = False
            self.ser.write(bytes([XON]))

    def release(self) -> None:
        with self._lock:
            self.holding = False
            self.ser.write(bytes([XON]))

    def close(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.ser.close()

    # -- decoding --

    def _answer(self, n: int) -> None:
        self.queries.append(n)
        st = status_bytes(self.paper_out, self.cover_open, self.near_end, self.offline)
        self.ser.write(bytes([st.get(n, 0x12)]))

    def _finish(self, complete: bool) -> None:
        if self._rows:
            rows = np.concatenate(self._rows, axis=0)
            grey = np.where(rows, 0, 255).astype(np.uint8)
            img = Image.fromarray(grey).point(lambda v: 255 if v else 0, mode="1")
            (self.receipts if complete else self.incomplete).append(img)
        self._rows = []

    def _parse(self) -> None:
        b = self._buf
        while b:
            c = b[0]
            if c == 0x00:  # NUL: padding, ignored
                del b[0]
            elif c == DLE:
                if len(b) < 3:
                    return
                if b[1] == EOT:
                    self._answer(b[2])
                else:
                    self.errors.append(f"DLE {b[1]:#x}")
                del b[:3]
            elif c == ESC:
                if len(b) < 2:
                    return
                if b[1] == 0x40:  # ESC @: initialise (a receipt cut short is dropped)
                    self.inits += 1
                    self._finish(False)
                    self._printing = not self.paper_out
                    del b[:2]
                elif b[1] == 0x64:  # ESC d n
                    if len(b) < 3:
                        return
                    del b[:3]
                else:
                    self.errors.append(f"ESC {b[1]:#x}")
                    del b[:2]
            elif c == GS:
                if len(b) < 2:
                    return
                if b[1] == 0x76:  # GS v 0 m xL xH yL yH d...
                    if len(b) < 8:
                        return
                    if b[2] != 0x30 or b[3] != 0:
                        self.errors.append("GS v: bad header")
                    wb, h = b[4] | b[5] << 8, b[6] | b[7] << 8
                    if self.holding:
                        self._strip_realtime(8, 8 + wb * h)
                    if len(b) < 8 + wb * h:
                        return
                    data = np.frombuffer(bytes(b[8:8 + wb * h]), np.uint8).reshape(h, wb)
                    del b[:8 + wb * h]
                    self._band(np.unpackbits(data, axis=1).astype(bool))
                elif b[1] == 0x56:  # GS V 66 n: feed and cut
                    if len(b) < 4:
                        return
                    del b[:4]
                    self._finish(self._printing)
                else:
                    self.errors.append(f"GS {b[1]:#x}")
                    del b[:2]
            else:
                self.errors.append(f"byte {c:#x}")
                del b[0]

    def _strip_realtime(self, start: int, end: int) -> None:
        """While holding the host: answer and remove DLE EOT n found in the raster data received."""
        b = self._buf
        i = start
        while i + 2 < min(end, len(b)):
            if b[i] == DLE and b[i + 1] == EOT and b[i + 2] in (1, 2, 3, 4):
                self._answer(b[i + 2])
                del b[i:i + 3]
            else:
                i += 1

    def _band(self, black: np.ndarray) -> None:
        self.bands_total += 1
        self._rows.append(black)  # after paper-out they belong to a receipt recorded as incomplete
        if self.paper_out_after_bands is not None and self.bands_total == self.paper_out_after_bands:
            self.paper_out = True
            self._printing = False
            self.holding = True
            self.ser.write(bytes([XOFF]))
        if self.hold_after_bands is not None and self.bands_total == self.hold_after_bands:
            self.holding = True
            self.ser.write(bytes([XOFF]))

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                data = self.ser.read(4096)
            except (serial.SerialException, OSError, TypeError):
                return
            if data:
                with self._lock:
                    self.bytes_received += len(data)
                    self._buf += data
                    self._parse()


# -- SANE test backend -------------------------------------------------------------------------------


# -- SANE test backend ---------------------------------------------------------------------------


def reset_test_device(sane: SaneScanner) -> None:
    """The test backend keeps option values and its feeder count across open/close: start clean."""
    sane.set_raw_option("read_return_value", "Default")
    drain_test_feeder(sane)


def drain_test_feeder(sane: SaneScanner) -> None:
    """Empty the test backend's simulated feeder (it refills after reporting empty): 10 sheets next."""
    sane.set_raw_option("source", "Automatic Document Feeder")
    dev = sane._dev
    for _ in range(11):
        try:
            dev.start()
        except Exception as exc:
            assert str(exc) == "Document feeder out of documents"
            break
        finally:
            dev.cancel()
    sane.set_raw_option("source", "Flatbed")
