"""Append-only audit log: who (terminal), what (event), when, and the package hash - never content.

One JSON object per line in ``audit.log``. Each record carries ``prev``, the SHA-256 of the previous line,
so that deleting, reordering or editing a line breaks the chain (``verify_chain``). Writers on several
processes (``kiosk submit`` and ``kiosk uplink``) serialise through an exclusive ``flock``; every record
is fsynced before ``append`` returns. The file is opened with O_APPEND and never rewritten.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from kiosk.timeutil import iso, now_vn

GENESIS = "0" * 64
ALLOWED_FIELDS = {"submission_id", "sha256", "size", "reason", "receiver", "chunks", "status", "terminal",
                  "previous_sha256"}


def _line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _last_line(fd: int) -> bytes | None:
    end = os.lseek(fd, 0, os.SEEK_END)
    if end == 0:
        return None
    block = 4096
    pos = end
    data = b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        data = os.pread(fd, step, pos) + data
        stripped = data.rstrip(b"\n")
        nl = stripped.rfind(b"\n")
        if nl >= 0:
            return stripped[nl + 1:]
    return data.rstrip(b"\n") or None


class AuditLog:
    """The audit log at ``path`` for events by ``actor`` (the terminal id or the receiver id)."""

    def __init__(self, path: Path, actor: str) -> None:
        self.path = path
        self.actor = actor
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record. Only metadata fields are accepted (see ALLOWED_FIELDS)."""
        unknown = set(fields) - ALLOWED_FIELDS
        if unknown:
            raise ValueError(f"audit fields not allowed: {sorted(unknown)}")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            rfd = os.open(self.path, os.O_RDONLY)
            try:
                last = _last_line(rfd)
            finally:
                os.close(rfd)
            record: dict[str, Any] = {"time": iso(now_vn()), "actor": self.actor, "event": event}
            record.update({k: v for k, v in fields.items() if v is not None})
            record["prev"] = _line_hash(last) if last else GENESIS
            line = json.dumps(record, ensure_ascii=False, sort_keys=True).encode() + b"\n"
            os.write(fd, line)
            os.fsync(fd)
            return record
        finally:
            os.close(fd)  # closing releases the lock

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_bytes().splitlines() if line.strip()]


def verify_chain(path: Path) -> tuple[bool, int]:
    """Check the hash chain; returns (intact, number of the first bad line, or of records when intact)."""
    prev = GENESIS
    lines = [ln for ln in path.read_bytes().splitlines() if ln.strip()] if path.exists() else []
    for n, line in enumerate(lines, start=1):
        try:
            rec = json.loads(line)
        except ValueError:
            return False, n
        if rec.get("prev") != prev:
            return False, n
        prev = _line_hash(line)
    return True, len(lines)
