"""The QR code on the Vietnamese chip ID card (CCCD): its text payload.

Layout (UTF-8 text, fields separated by ``|``)::

    <12-digit ID>|<old ID or empty>|<full name>|<DOB ddmmyyyy>|<Nam|Nữ>|<address>|<issue date ddmmyyyy>

Cards are also read in the field with 6 fields: the old-ID field is then absent altogether
(``<ID>|<name>|<DOB>|<sex>|<address>|<issue date>``); this is the form public readers handle, and it is
the one accepted here. The old ID is the 9-digit CMND number, or a 12-digit one for the 12-digit CMND
cards issued before the CCCD. Every field is checked; a malformed payload raises ``KioskError("id.qr_...")``
saying which field is wrong and why. The ID must pass ``parse_cccd`` with the date of birth, and the sex
digit of the ID must agree with the sex field.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from kiosk.core.applicant import Identifier, IdKind, IdSource, Party
from kiosk.core.identifiers import CausedKioskError, decode_cccd, parse_cccd
from kiosk.errors import KioskError

SEPARATOR = "|"
SEXES = {"Nam": "M", "Nữ": "F"}


@dataclass(frozen=True)
class CccdQr:
    """The parsed payload. ``sex`` is as printed on the card (``Nam`` / ``Nữ``)."""

    id: str
    old_id: str
    name: str
    dob: date
    sex: str
    address: str
    issue_date: date

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields with ISO dates."""
        return {"id": self.id, "old_id": self.old_id, "name": self.name, "dob": self.dob.isoformat(),
                "sex": self.sex, "address": self.address, "issue_date": self.issue_date.isoformat()}

    def to_party(self) -> Party:
        return to_party(self)


def _date(raw: str, key: str) -> date:
    if len(raw) != 8 or not raw.isascii() or not raw.isdigit():
        raise KioskError(key)
    try:
        return date(int(raw[4:8]), int(raw[2:4]), int(raw[0:2]))
    except ValueError:
        raise KioskError(key) from None


def parse_cccd_qr(payload: str, *, today: date | None = None) -> CccdQr:
    """Parse and check a CCCD QR payload (6 or 7 fields, see the module docstring)."""
    today = today or date.today()
    text = unicodedata.normalize("NFC", payload or "").strip()
    if not text:
        raise KioskError("id.qr_empty")
    fields = [f.strip() for f in text.split(SEPARATOR)]
    if len(fields) == 7:
        pid, old_id, name, dob_s, sex, address, issue_s = fields
    elif len(fields) == 6:
        pid, name, dob_s, sex, address, issue_s = fields
        old_id = ""
    else:
        raise KioskError("id.qr_field_count", got=len(fields))
    if old_id and not (old_id.isascii() and old_id.isdigit() and len(old_id) in (9, 12)):
        raise KioskError("id.qr_old_id", got_length=len(old_id))
    if not name or any(c.isdigit() for c in name):
        raise KioskError("id.qr_name")
    dob = _date(dob_s, "id.qr_dob")
    if dob > today:
        raise KioskError("id.qr_dob_future")
    if sex not in SEXES:
        raise KioskError("id.qr_sex")
    if not address:
        raise KioskError("id.qr_address")
    issue = _date(issue_s, "id.qr_issue_date")
    if issue < dob or issue > today:
        raise KioskError("id.qr_issue_date_range")
    try:
        ident = parse_cccd(pid, dob, today=today)
    except KioskError as exc:
        raise CausedKioskError("id.qr_id", exc) from exc
    if decode_cccd(ident.value).sex != SEXES[sex]:
        raise KioskError("id.qr_sex_mismatch", digit=ident.value[3], sex=sex)
    return CccdQr(id=ident.value, old_id=old_id, name=name, dob=dob, sex=sex, address=address,
                  issue_date=issue)


def to_party(data: CccdQr) -> Party:
    """The applicant read from the card's QR code (sex as ICAO letters M/F, like the MRZ path)."""
    return Party(identifier=Identifier(IdKind.CCCD, data.id), full_name=data.name, birth_date=data.dob,
                 sex=SEXES[data.sex], source=IdSource.CARD_QR)
