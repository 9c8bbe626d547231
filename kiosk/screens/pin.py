"""The staff PIN: stored only as a PBKDF2-SHA256 hash with a random salt (pure, no Kivy).

``<data_dir>/staff/pin.json`` is written by ``kiosk staff-pin`` (the PIN is read from stdin) and read by
``kiosk run``. Without that file (or with a malformed one) the staff screen stays locked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from kiosk.errors import KioskError

PIN_MIN, PIN_MAX = 6, 12
ITERATIONS = 200_000
MAX_FAILURES = 5
LOCKOUT_S = 60.0


def pin_path(data_dir: Path) -> Path:
    return data_dir / "staff" / "pin.json"


@dataclass(frozen=True)
class StaffPin:
    """A PBKDF2-SHA256 hash of the staff PIN."""

    salt: bytes
    digest: bytes
    iterations: int = ITERATIONS

    @staticmethod
    def check_format(pin: str) -> None:
        if not (pin.isascii() and pin.isdigit() and PIN_MIN <= len(pin) <= PIN_MAX):
            raise KioskError("ui.staff_pin_format", minimum=PIN_MIN, maximum=PIN_MAX)

    @classmethod
    def create(cls, pin: str, *, iterations: int = ITERATIONS) -> StaffPin:
        cls.check_format(pin)
        salt = secrets.token_bytes(16)
        return cls(salt, hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations), iterations)

    def verify(self, pin: str) -> bool:
        candidate = hashlib.pbkdf2_hmac("sha256", pin.encode(), self.salt, self.iterations)
        return hmac.compare_digest(candidate, self.digest)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(".tmp")
        data = {
            "algorithm": "pbkdf2_sha256",
            "iterations": self.iterations,
            "salt": self.salt.hex(),
            "hash": self.digest.hex(),
        }
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> StaffPin | None:
        """The stored hash, or None when no PIN is set. A malformed file counts as no PIN (locked)."""
        try:
            data = json.loads(path.read_text("utf-8"))
            if data.get("algorithm") != "pbkdf2_sha256":
                return None
            return cls(bytes.fromhex(data["salt"]), bytes.fromhex(data["hash"]), int(data["iterations"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
