"""What every device has in common: status, events, errors, reconnect backoff and self-test results.

A device is a thin adapter (camera, scanner, ID reader, receipt printer) behind a small interface, with
the real adapter and a simulator behind each. Devices report what happens to them as ``DeviceEvent``s
(unplugged, back again, paper out, jam, an unreadable ID card, ...); the device manager forwards them to
the session and the maintenance screen. Every event carries a message key of ``kiosk/data/messages.toml``
so the screen can say it plainly in Vietnamese (or English). Events never carry personal data.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from kiosk.errors import KioskError
from kiosk.messages import catalogue, t
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.devices")


class DeviceKind(StrEnum):
    CAMERA = "camera"
    SCANNER = "scanner"
    ID_READER = "id_reader"
    PRINTER = "printer"


class DeviceStatus(StrEnum):
    """The state a device is in, as the maintenance screen shows it."""

    CLOSED = "closed"              # not opened yet, or closed on purpose
    OK = "ok"                      # ready
    BUSY = "busy"                  # in use by another program, try again
    DISCONNECTED = "disconnected"  # unplugged or not answering; the kiosk reconnects by itself
    PAPER_OUT = "paper_out"        # printer: no paper
    COVER_OPEN = "cover_open"      # printer or scanner cover open
    JAMMED = "jammed"              # scanner: paper jam in the feeder
    FEEDER_EMPTY = "feeder_empty"  # scanner: no paper in the document feeder
    ERROR = "error"                # any other fault; see the event's message


# Statuses in which the device is present and answering but needs a person to act.
ATTENTION = frozenset({DeviceStatus.PAPER_OUT, DeviceStatus.COVER_OPEN, DeviceStatus.JAMMED,
                       DeviceStatus.FEEDER_EMPTY})


class EventKind(StrEnum):
    CONNECTED = "connected"          # opened for the first time
    LOST = "lost"                    # unplugged / stopped answering
    RESTORED = "restored"            # back after LOST
    FAULT = "fault"                  # paper out, jam, cover open, empty feeder, I/O error
    CLEARED = "cleared"              # the fault is gone
    WARNING = "warning"              # still working, but someone should act soon (paper near end)
    MRZ_INVALID = "mrz_invalid"      # ID reader: an MRZ was read but fails its checks
    MRZ_INCOMPLETE = "mrz_incomplete"  # ID reader: only part of an MRZ arrived
    PRINT_FAILED = "print_failed"    # printer: a receipt did not come out (completely)
    PRINTED = "printed"              # printer: a receipt was printed
    CAPTURE_PAUSED = "capture_paused"    # a capture waits for its device to come back
    CAPTURE_RESUMED = "capture_resumed"  # ... and goes on


@dataclass(frozen=True)
class DeviceEvent:
    """Something happened to a device. ``detail`` holds message parameters and diagnostics that are not
    personal data (counts, check names, status codes)."""

    kind: str
    device: str
    status: DeviceStatus
    message_key: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    time: datetime = field(default_factory=now_vn)

    def message(self, lang: str = "vi") -> str:
        return t(self.message_key, lang, **dict(self.detail))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), "device": self.device, "status": self.status.value,
                "message_key": self.message_key, "message": self.message("vi"),
                "detail": dict(self.detail), "time": iso(self.time)}


EventListener = Callable[[DeviceEvent], None]


class DeviceError(KioskError):
    """A device failed; ``status`` is the state it is in now (e.g. PAPER_OUT, JAMMED)."""

    def __init__(self, key: str, /, *, device: str, status: DeviceStatus, **params: Any) -> None:
        self.device = device
        self.status = status
        super().__init__(key, **params)


class DeviceLost(DeviceError):
    """The device is unplugged or does not answer; it may come back (the kiosk reconnects)."""

    def __init__(self, key: str, /, *, device: str, **params: Any) -> None:
        super().__init__(key, device=device, status=DeviceStatus.DISCONNECTED, **params)


class Backoff:
    """Exponential backoff for reconnect attempts: ``initial``, doubling up to ``maximum`` seconds."""

    def __init__(self, initial: float = 0.25, maximum: float = 5.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._next = initial
        self._due = 0.0

    def reset(self) -> None:
        self._next = self.initial
        self._due = 0.0

    def next_delay(self) -> float:
        """The delay before the next attempt, and grow the one after it."""
        delay = self._next
        self._next = min(self.maximum, self._next * self.factor)
        return delay

    def due(self, now: float | None = None) -> bool:
        """Whether an attempt may be made now (for pollers that must not sleep)."""
        return (time.monotonic() if now is None else now) >= self._due

    def schedule(self, now: float | None = None) -> float:
        """Record a failed attempt; returns the delay until the next one is due."""
        delay = self.next_delay()
        self._due = (time.monotonic() if now is None else now) + delay
        return delay


@dataclass
class SelfTest:
    """The result of a device self-test, as ``kiosk devices --json`` prints it."""

    device: str
    kind: DeviceKind
    backend: str
    ok: bool
    status: DeviceStatus
    message_key: str
    checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "kind": self.kind.value, "backend": self.backend, "ok": self.ok,
                "status": self.status.value, "message_key": self.message_key,
                "message": t(self.message_key, "vi"), "checks": self.checks}


# Event and message key when a device enters a status (the device-kind part is filled in by the device).
_STATUS_MESSAGES: dict[DeviceStatus, str] = {
    DeviceStatus.OK: "ok",
    DeviceStatus.BUSY: "busy",
    DeviceStatus.DISCONNECTED: "lost",
    DeviceStatus.PAPER_OUT: "paper_out",
    DeviceStatus.COVER_OPEN: "cover_open",
    DeviceStatus.JAMMED: "jammed",
    DeviceStatus.FEEDER_EMPTY: "feeder_empty",
    DeviceStatus.ERROR: "error",
    DeviceStatus.CLOSED: "closed",
}


class Device(ABC):
    """Base of every device adapter and simulator.

    Subclasses implement ``_open``, ``_close`` and ``_probe``; the base keeps the status, emits events on
    every status change, and provides ``reconnect``. All methods are thread-safe.
    """

    kind: DeviceKind
    backend: str = "?"

    def __init__(self, name: str | None = None) -> None:
        self.name = name or self.kind.value
        self._status = DeviceStatus.CLOSED
        self._listeners: list[EventListener] = []
        self._state_lock = threading.RLock()
        self._ever_open = False
        self.backoff = Backoff()

    # -- events --

    def subscribe(self, listener: EventListener) -> None:
        with self._state_lock:
            if listener not in self._listeners:
                self._listeners.append(listener)

    def unsubscribe(self, listener: EventListener) -> None:
        with self._state_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def emit(self, kind: str, message_key: str, /, *, status: DeviceStatus | None = None,
             **detail: Any) -> DeviceEvent:
        event = DeviceEvent(kind=kind, device=self.name, status=status or self._status,
                            message_key=message_key, detail=detail)
        with self._state_lock:
            listeners = list(self._listeners)
        log.info("device event", extra={"device": self.name, "event": str(kind), "status": event.status.value,
                                        "message_key": message_key})
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not take the device down
                log.exception("device event listener failed", extra={"device": self.name})
        return event

    def message_key(self, suffix: str) -> str:
        """``device.<kind>_<suffix>`` when the catalogue has it, else the generic ``device.<suffix>``."""
        specific = f"device.{self.kind.value}_{suffix}"
        return specific if specific in catalogue() else f"device.{suffix}"

    @property
    def status(self) -> DeviceStatus:
        return self._status

    def set_status(self, status: DeviceStatus, message_key: str | None = None, /, **detail: Any) -> bool:
        """Move to ``status``; emits the matching event when it changes. Returns whether it changed."""
        with self._state_lock:
            old = self._status
            if old == status:
                return False
            self._status = status
            first_open = status == DeviceStatus.OK and not self._ever_open
            if status == DeviceStatus.OK:
                self._ever_open = True
        key = message_key or self.message_key(_STATUS_MESSAGES[status])
        if status == DeviceStatus.OK:
            if first_open or old == DeviceStatus.CLOSED:
                kind = EventKind.CONNECTED
            elif old == DeviceStatus.DISCONNECTED:
                kind = EventKind.RESTORED
            else:
                kind = EventKind.CLEARED
        elif status == DeviceStatus.DISCONNECTED:
            kind = EventKind.LOST
        elif status == DeviceStatus.CLOSED:
            return True  # closing on purpose is not news for the session
        else:
            kind = EventKind.FAULT
        self.emit(kind, key, status=status, **detail)
        return True

    # -- lifecycle --

    @abstractmethod
    def _open(self) -> None:
        """Open the underlying device; raise DeviceError (or OSError) when it is not there."""

    @abstractmethod
    def _close(self) -> None:
        """Release the underlying device; must not raise."""

    def _probe(self) -> DeviceStatus:
        """A cheap health check of an open device (default: OK, it opened). Raise DeviceError or
        OSError, or return a status, when something is wrong."""
        return DeviceStatus.OK

    def open(self) -> None:
        """Open the device (nothing to do when it is open). Raises DeviceError when it is not
        available (status DISCONNECTED)."""
        if self.is_open:
            return
        self._open_now()

    def _open_now(self) -> None:
        try:
            self._open()
        except DeviceError as exc:
            self._close()
            self.set_status(exc.status)
            raise
        except OSError as exc:
            self._close()
            self.set_status(DeviceStatus.DISCONNECTED)
            raise DeviceLost(self.message_key("lost"), device=self.name) from exc
        self.backoff.reset()
        self.set_status(self._probe_safely())

    def close(self) -> None:
        self._close()
        self.set_status(DeviceStatus.CLOSED)

    def _probe_safely(self) -> DeviceStatus:
        try:
            return self._probe()
        except DeviceError as exc:
            return exc.status
        except OSError:
            return DeviceStatus.DISCONNECTED

    def check(self) -> DeviceStatus:
        """Probe the device and update its status (emits events on change)."""
        if self._status == DeviceStatus.CLOSED:
            return self._status
        status = self._probe_safely()
        if status == DeviceStatus.DISCONNECTED:
            self._close()
        self.set_status(status)
        return status

    def reconnect(self) -> bool:
        """Close and open again; True when the device is back (any status but DISCONNECTED)."""
        self._close()
        try:
            self._open_now()
        except (DeviceError, OSError):
            return False
        return self._status != DeviceStatus.DISCONNECTED

    @property
    def self_healing(self) -> bool:
        """True when the device reconnects by itself (a running reader or preview thread), so the
        manager must not reconnect it as well."""
        return False

    @property
    def is_open(self) -> bool:
        return self._status not in (DeviceStatus.CLOSED, DeviceStatus.DISCONNECTED)

    def describe(self) -> dict[str, Any]:
        """Non-personal facts for diagnosis: backend, port or source, sizes."""
        return {"name": self.name, "kind": self.kind.value, "backend": self.backend,
                "status": self._status.value}

    def self_test(self) -> SelfTest:
        """Open the device if needed and check it; subclasses add kind-specific checks."""
        checks: dict[str, Any] = {}
        try:
            if not self.is_open:
                self.open()
            status = self.check()
        except DeviceError as exc:
            return SelfTest(self.name, self.kind, self.backend, False, exc.status, exc.key, checks)
        ok = status == DeviceStatus.OK
        key = self.message_key("ok" if ok else _STATUS_MESSAGES[status])
        return SelfTest(self.name, self.kind, self.backend, ok, status, key, checks)

    def __enter__(self) -> Device:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
