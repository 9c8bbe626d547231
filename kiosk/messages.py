"""The one message catalogue for user-facing text (Vietnamese first, English available).

All text shown to a citizen, staff member or operator comes from ``kiosk/data/messages.toml``:
``t("capture.blur")`` gives the Vietnamese text, ``t("capture.blur", "en")`` the English one.
Text is returned in Unicode NFC.
"""

from __future__ import annotations

import tomllib
import unicodedata
from functools import cache
from importlib import resources
from typing import Any

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Flattened catalogue: ``{"section.key": {"vi": ..., "en": ...}}``."""
    raw = tomllib.loads(resources.files("kiosk.data").joinpath("messages.toml").read_text("utf-8"))
    out: dict[str, dict[str, str]] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        if "vi" in node and isinstance(node["vi"], str):
            out[prefix] = {k: unicodedata.normalize("NFC", v) for k, v in node.items()}
            return
        for k, v in node.items():
            if isinstance(v, dict):
                walk(f"{prefix}.{k}" if prefix else k, v)

    walk("", raw)
    return out


def t(key: str, lang: str = DEFAULT_LANGUAGE, /, **params: Any) -> str:
    """Text for ``key`` in ``lang``, formatted with ``params``. Unknown keys raise KeyError."""
    entry = catalogue()[key]
    text = entry.get(lang) or entry[DEFAULT_LANGUAGE]
    return text.format(**params) if params else text
