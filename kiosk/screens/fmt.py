"""Formatting and parsing of what the screens show and the keypads type (pure, no Kivy)."""

from __future__ import annotations

from datetime import date

from kiosk.core.applicant import IdKind
from kiosk.errors import KioskError


def group_digits(text: str, kind: IdKind) -> str:
    """How the typed number is displayed: CCCD in groups of three ('079 095 001 234')."""
    if kind == IdKind.CCCD:
        return " ".join(text[i : i + 3] for i in range(0, len(text), 3))
    return text


def format_date_digits(digits: str) -> str:
    """'0105199' -> '01/05/199' (what has been typed of DD/MM/YYYY)."""
    parts = [digits[:2], digits[2:4], digits[4:8]]
    return "/".join(p for p in parts if p)


def parse_date_digits(digits: str) -> date:
    """DDMMYYYY typed on the keypad -> date; KioskError('ui.bad_date') when it is not a real date."""
    if len(digits) != 8 or not digits.isdigit():
        raise KioskError("ui.bad_date")
    try:
        return date(int(digits[4:8]), int(digits[2:4]), int(digits[0:2]))
    except ValueError:
        raise KioskError("ui.bad_date") from None


def format_vnd(amount: int) -> str:
    """12000 -> '12.000' (Vietnamese thousands separator)."""
    return f"{amount:,}".replace(",", ".")
