"""Domain errors that carry a message-catalogue key, so the UI can show them in Vietnamese or English.

Code raises ``KioskError("id.cccd_length", got=11)``; the screen calls ``err.message("vi")`` and the
log gets ``err.log_text()`` (the key and the parameters that are not personal data).
"""

from __future__ import annotations

from typing import Any

from kiosk.messages import t


class KioskError(Exception):
    """An error with a message key from ``kiosk/data/messages.toml`` and its parameters."""

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(self.message("en"))

    def message(self, lang: str = "vi") -> str:
        return t(self.key, lang, **self.params)

    def log_text(self) -> str:
        """A log-safe description: the key only; parameters may hold personal data."""
        return self.key


class ConfigError(KioskError):
    """The configuration file is missing, malformed, or a key has a wrong value."""
