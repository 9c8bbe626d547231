"""ID-card (MRZ) reader interface and the framing of what MRZ/OCR readers send.

Readers send the MRZ lines as ASCII, each ended by CR or CR LF, sometimes inside STX ... ETX, sometimes
all lines in one burst, sometimes split over several reads, with line noise in between. ``MrzFramer``
turns that byte stream into groups of lines: an MRZ-like line (A-Z, 0-9, '<', within 2 characters of
30, 36 or 44) starts or continues a group; a group is complete with 3 lines (TD1) or 2 (TD2, TD3).
Noise (control bytes, bytes above 0x7E, lines that are not MRZ-like) is dropped and counted. STX and
ETX end lines like CR; a group that stops short (the end of an STX...ETX frame that carried two or more
lines, a line of another format, or a pause longer than ``gap_s``) is reported incomplete.

Complete groups go to ``kiosk.core.mrz.parse_mrz``. Only valid MRZs are handed up (``read()``,
callbacks); invalid ones become ``mrz_invalid`` events with the names of the failed checks, so the
screen can ask the citizen to place the card again. The lines themselves are never logged.
"""

from __future__ import annotations

import logging
import queue
import threading
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kiosk.core.mrz import LENGTH_TOLERANCE, LINE_COUNTS, LINE_LENGTHS, MrzResult, parse_mrz
from kiosk.devices.base import Device, DeviceKind, EventKind
from kiosk.errors import KioskError
from kiosk.timeutil import now_vn

log = logging.getLogger("kiosk.devices.id_reader")

STX, ETX, CR, LF = 0x02, 0x03, 0x0D, 0x0A
MAX_LINE = 64
_MRZ_SET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<")


def line_format(line: str) -> str | None:
    """The MRZ format whose line length ``line`` is within tolerance of, if it looks like an MRZ line
    at all (at least 85 % MRZ characters, case-insensitive, and a filler '<')."""
    if "<" not in line:
        return None
    good = sum(1 for ch in line.upper() if ch in _MRZ_SET)
    if good < 0.85 * len(line):
        return None
    for fmt in ("TD1", "TD2", "TD3"):
        if abs(len(line) - LINE_LENGTHS[fmt]) <= LENGTH_TOLERANCE:
            return fmt
    return None


def _strip_edges(line: str) -> str:
    """Remove spaces and stray symbols at both ends (noise glued to a line)."""
    start, end = 0, len(line)
    while start < end and line[start].upper() not in _MRZ_SET:
        start += 1
    while end > start and line[end - 1].upper() not in _MRZ_SET:
        end -= 1
    return line[start:end]


@dataclass(frozen=True)
class LineGroup:
    """Lines that together should form one MRZ. ``complete``: the number of lines fits the format."""

    lines: tuple[str, ...]
    fmt: str
    complete: bool


@dataclass
class MrzFramer:
    """Byte stream -> groups of MRZ lines. Pure: time comes in as an argument."""

    gap_s: float = 1.0
    noise_bytes: int = 0
    noise_lines: int = 0
    _line: bytearray = field(default_factory=bytearray)
    _group: list[str] = field(default_factory=list)
    _fmt: str | None = None
    _last: float | None = None
    _overflow: bool = False
    _in_frame: bool = False
    _frame_lines: int = 0

    def reset(self) -> None:
        """Forget any partial line or group (e.g. after the port was reopened)."""
        self._line.clear()
        self._group.clear()
        self._fmt = None
        self._overflow = False
        self._in_frame = False
        self._frame_lines = 0

    def _take_group(self, complete: bool) -> list[LineGroup]:
        if not self._group:
            return []
        out = LineGroup(tuple(self._group), self._fmt or "TD1", complete)
        self._group.clear()
        self._fmt = None
        return [out]

    def _end_line(self) -> list[LineGroup]:
        raw = self._line.decode("ascii")
        overflow = self._overflow
        self._line.clear()
        self._overflow = False
        line = _strip_edges(raw)
        if not line:
            return []
        fmt = None if overflow else line_format(line)
        if fmt is None:
            self.noise_lines += 1
            return []
        out: list[LineGroup] = []
        if self._fmt is not None and fmt != self._fmt:
            out += self._take_group(False)
        self._fmt = fmt
        self._group.append(line)
        self._frame_lines += 1
        if len(self._group) == LINE_COUNTS[fmt]:
            out += self._take_group(True)
        return out

    def expire(self, now: float) -> list[LineGroup]:
        """Flush what is pending when nothing arrived for ``gap_s`` seconds (a reader that stopped
        half-way). Call it when a read times out."""
        if self._last is None or now - self._last <= self.gap_s:
            return []
        out: list[LineGroup] = []
        if self._line:
            out += self._end_line()
        out += self._take_group(False)
        self._last = None
        return out

    def feed(self, data: bytes, now: float) -> list[LineGroup]:
        """Consume bytes that arrived at time ``now``; returns the groups they completed."""
        out = self.expire(now) if data else []
        if data:
            self._last = now
        for b in data:
            if b in (STX, ETX):
                # STX/ETX delimit lines. A frame that brought two or more lines holds a whole MRZ:
                # what is still pending at its end is incomplete. (Readers that frame every line
                # separately bring one line per frame; their lines are grouped by count.)
                if self._line:
                    out += self._end_line()
                if self._in_frame and self._frame_lines >= 2:
                    out += self._take_group(False)
                self._in_frame = b == STX
                self._frame_lines = 0
            elif b in (CR, LF):
                if self._line:
                    out += self._end_line()
            elif 0x20 <= b <= 0x7E:
                if len(self._line) >= MAX_LINE:
                    self._overflow = True
                    self.noise_bytes += 1
                else:
                    self._line.append(b)
            else:
                self.noise_bytes += 1
        return out


@dataclass(frozen=True)
class MrzRead:
    """A valid MRZ from the reader. Holds personal data: never log it."""

    lines: tuple[str, ...]
    result: MrzResult
    time: datetime = field(default_factory=now_vn)

    def __repr__(self) -> str:  # keep personal data out of tracebacks and debug logs
        return f"MrzRead(format={self.result.format}, valid={self.result.valid})"


ReadCallback = Callable[[MrzRead], None]


class IdReader(Device):
    """Base of ID readers: framing, parsing, the queue of valid reads and the events.

    ``read(timeout)`` returns the next valid MRZ (or None); ``add_read_callback`` delivers them in the
    reader's thread. Backends feed raw bytes to ``_feed`` (or call ``_handle_group``).
    """

    kind = DeviceKind.ID_READER

    def __init__(self, name: str | None = None, *, gap_s: float = 1.0) -> None:
        super().__init__(name)
        self.framer = MrzFramer(gap_s=gap_s)
        self._reads: queue.Queue[MrzRead] = queue.Queue()
        self._read_callbacks: list[ReadCallback] = []
        self._cb_lock = threading.Lock()
        self.valid_reads = 0
        self.invalid_reads = 0

    def add_read_callback(self, callback: ReadCallback) -> None:
        with self._cb_lock:
            if callback not in self._read_callbacks:
                self._read_callbacks.append(callback)

    def remove_read_callback(self, callback: ReadCallback) -> None:
        with self._cb_lock:
            if callback in self._read_callbacks:
                self._read_callbacks.remove(callback)

    @abstractmethod
    def start(self) -> None:
        """Start reading in the background (opening the device, reconnecting when it goes away)."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the background reader."""

    def read(self, timeout: float | None = None) -> MrzRead | None:
        """The next valid MRZ, waiting up to ``timeout`` seconds (None: forever). Starts the reader."""
        self.start()
        try:
            return self._reads.get(timeout=timeout)
        except queue.Empty:
            return None

    def clear(self) -> None:
        """Drop reads nobody has taken (e.g. at the start of a new citizen session)."""
        while True:
            try:
                self._reads.get_nowait()
            except queue.Empty:
                return

    def _feed(self, data: bytes, now: float) -> None:
        for group in self.framer.feed(data, now):
            self._handle_group(group)

    def _expire(self, now: float) -> None:
        for group in self.framer.expire(now):
            self._handle_group(group)

    def _handle_group(self, group: LineGroup) -> None:
        if not group.complete:
            self.invalid_reads += 1
            self.emit(EventKind.MRZ_INCOMPLETE, "device.id_reader_mrz_incomplete", format=group.fmt,
                      lines=len(group.lines))
            return
        self._handle_lines(group.lines)

    def _handle_lines(self, lines: Sequence[str]) -> None:
        try:
            result = parse_mrz(list(lines))
        except KioskError as exc:
            self.invalid_reads += 1
            self.emit(EventKind.MRZ_INVALID, "device.id_reader_mrz_invalid", failed_checks=exc.key,
                      format="")
            return
        if not result.valid:
            self.invalid_reads += 1
            self.emit(EventKind.MRZ_INVALID, "device.id_reader_mrz_invalid",
                      failed_checks=", ".join(result.failed_checks), format=result.format)
            return
        read = MrzRead(tuple(lines), result)
        self.valid_reads += 1
        log.info("mrz read", extra={"device": self.name, "format": result.format})
        self._reads.put(read)
        with self._cb_lock:
            callbacks = list(self._read_callbacks)
        for cb in callbacks:
            try:
                cb(read)
            except Exception:
                log.exception("mrz read callback failed", extra={"device": self.name})
