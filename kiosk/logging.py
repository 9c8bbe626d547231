"""Structured JSON logs (to stderr, which systemd sends to journald) with personal data masked.

Logs must never hold ID numbers, names or page images. Code logs keys and counts, not content; as a
second line of defence a filter masks anything that looks like an ID number, tax code, passport number or
MRZ line before the record is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from kiosk.timeutil import VN_TZ

_MASKS: list[tuple[re.Pattern[str], str]] = [
    # MRZ lines: 30 or 44 characters of A-Z, 0-9 and '<' with at least one '<'.
    (re.compile(r"\b(?=[A-Z0-9<]*<)[A-Z0-9<]{28,44}\b"), "<mrz>"),
    # Runs of 9 or more digits (CCCD, old CMND, phone, tax code), keeping the last 3 for correlation.
    (re.compile(r"(?<!\d)\d{6,}(\d{3})(?:-\d{3})?(?!\d)"), r"***\1"),
    # Passport-like numbers: one or two letters followed by 7 or 8 digits.
    (re.compile(r"\b[A-Z]{1,2}\d{7,8}\b"), "<passport>"),
]


def mask(text: str) -> str:
    """Mask identifiers in free text."""
    for pattern, repl in _MASKS:
        text = pattern.sub(repl, text)
    return text


def mask_id(identifier: str) -> str:
    """Masked form of an applicant identifier for logs, receipts and screens: ``*********123``."""
    if len(identifier) <= 3:
        return "*" * len(identifier)
    return "*" * (len(identifier) - 3) + identifier[-3:]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (Vietnam, ISO 8601), level, logger, message, and extra fields."""

    _STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        from datetime import datetime

        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, VN_TZ).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = mask(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup(level: str = "info", stream: Any = None) -> None:
    """Route the root logger to JSON lines on stderr (journald picks them up under systemd)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("pyhanko", "pyhanko_certvalidator", "PIL", "kivy", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
