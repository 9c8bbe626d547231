"""A simulated MRZ reader: hands out configured MRZ lines (by default a SPECIMEN CCCD) on demand.

``present()`` is a citizen placing a card on the reader: the lines go through the same framing and
parsing as bytes from a serial reader (optionally in a given byte form, to replay captures). With
``present_on_read`` a ``read()`` that finds nothing waiting presents the next configured record, so
the demo runs without anybody touching it. ``simulate_unplug`` / ``simulate_replug`` behave like a
reader being pulled out and plugged back in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from kiosk.core.mrz import td1_lines
from kiosk.devices.base import DeviceLost, DeviceStatus
from kiosk.devices.idreader import IdReader, MrzRead


def cccd_mrz(personal_id: str, surname: str, given_names: str, birth: str, sex: str, expiry: str,
             *, id_check_digit: bool = True) -> list[str]:
    """The three TD1 lines of a Vietnamese chip ID card (CCCD). ``birth``/``expiry`` are YYMMDD,
    names are in MRZ form without diacritics (``NGUYEN``, ``VAN MAU``)."""
    return td1_lines(document_number=personal_id[3:], birth=_yymmdd(birth), sex=sex,
                     expiry=_yymmdd(expiry), surname=surname, given=given_names, optional1=personal_id,
                     cccd_check=id_check_digit)


def _yymmdd(text: str) -> date:
    return datetime.strptime(text, "%y%m%d").date()  # the century is irrelevant: only YYMMDD is written


def specimen_cccd_mrz() -> list[str]:
    """A fictitious SPECIMEN card: ID 001090012345 (Hà Nội, male, born 1990), NGUYEN VAN MAU."""
    return cccd_mrz("001090012345", "NGUYEN", "VAN MAU", "900115", "M", "350115")


def encode_lines(lines: Sequence[str], *, framing: str = "crlf") -> bytes:
    """Bytes as a reader sends them: ``crlf``, ``cr`` (lines ended by CR or CR LF) or ``stx`` (STX,
    lines ended by CR, ETX)."""
    if framing == "cr":
        return "".join(f"{line}\r" for line in lines).encode("ascii")
    if framing == "stx":
        return b"\x02" + "".join(f"{line}\r" for line in lines).encode("ascii") + b"\x03"
    return "".join(f"{line}\r\n" for line in lines).encode("ascii")


class SimulatedIdReader(IdReader):
    backend = "simulator"

    def __init__(self, records: Sequence[Sequence[str]] | None = None, *, present_on_read: bool = False,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.records = [list(r) for r in (records if records is not None else [specimen_cccd_mrz()])]
        self.present_on_read = present_on_read
        self._next = 0
        self._unplugged = threading.Event()
        self._started = False
        self._lock = threading.Lock()

    # -- simulation --

    def present(self, lines: Sequence[str] | None = None, *, raw: bytes | None = None,
                final: bool = True) -> None:
        """A card is placed: the next configured record (or ``lines``, or ``raw`` bytes) is read.
        ``final=False`` leaves a partial transmission pending (the next call continues it)."""
        if self._unplugged.is_set() or not self.is_open:
            raise DeviceLost("device.id_reader_lost", device=self.name)
        if raw is None:
            if lines is None:
                lines = self.records[self._next % len(self.records)]
                self._next += 1
            raw = encode_lines(lines)
        with self._lock:
            self._feed(raw, time.monotonic())
            if final:  # the reader went quiet: whatever is still pending is incomplete
                self._expire(time.monotonic() + self.framer.gap_s + 1)

    def simulate_unplug(self) -> None:
        self._unplugged.set()
        self._close()
        self.set_status(DeviceStatus.DISCONNECTED)

    def simulate_replug(self) -> None:
        self._unplugged.clear()
        if self._started:
            self.reconnect()

    # -- device --

    def _open(self) -> None:
        if self._unplugged.is_set():
            raise DeviceLost("device.id_reader_lost", device=self.name)
        self.framer.reset()

    def _close(self) -> None:
        pass

    def _probe(self) -> DeviceStatus:
        return DeviceStatus.DISCONNECTED if self._unplugged.is_set() else DeviceStatus.OK

    @property
    def self_healing(self) -> bool:
        return self._started

    def start(self) -> None:
        if not self._started:
            self._started = True
            if not self.is_open and not self._unplugged.is_set():
                self.open()

    def stop(self) -> None:
        self._started = False

    def close(self) -> None:
        self.stop()
        super().close()

    def read(self, timeout: float | None = None) -> MrzRead | None:
        self.start()
        if self.present_on_read and self._reads.empty() and self.is_open:
            self.present()
        return super().read(timeout)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["records"] = len(self.records)
        return d
