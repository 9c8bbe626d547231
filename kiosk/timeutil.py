"""Time in Vietnam (UTC+07:00, no daylight saving) and ISO 8601 formatting used in JSON and PDFs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

VN_TZ = timezone(timedelta(hours=7), "ICT")


def now_vn() -> datetime:
    """The current time in Vietnam, with offset +07:00, to the second."""
    return datetime.now(UTC).astimezone(VN_TZ).replace(microsecond=0)


def iso(dt: datetime) -> str:
    """ISO 8601 with offset, e.g. ``2026-11-25T20:18:52+07:00``; naive times are taken as Vietnam time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=VN_TZ)
    return dt.isoformat()
