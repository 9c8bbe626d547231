"""JSON output for the command line: UTF-8, NFC text, snake_case keys, one object per line."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any, TextIO


def nfc(obj: Any) -> Any:
    """Normalise every string in a JSON-like structure to NFC."""
    if isinstance(obj, str):
        return unicodedata.normalize("NFC", obj)
    if isinstance(obj, dict):
        return {nfc(k): nfc(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [nfc(v) for v in obj]
    return obj


def dumps(obj: Any, *, indent: int | None = None) -> str:
    return json.dumps(nfc(obj), ensure_ascii=False, indent=indent, sort_keys=False)


def emit(obj: Any, stream: TextIO | None = None) -> None:
    """Print one JSON object on one line."""
    out = stream or sys.stdout
    out.write(dumps(obj) + "\n")
    out.flush()
