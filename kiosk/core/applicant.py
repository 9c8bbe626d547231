"""Who submits a dossier (R1): the submitter and, for an authorised representative, the principal.

An ``Identifier`` is a validated applicant identifier. Build them with the parsers in
``kiosk.core.identifiers`` (which check format, check digits and province codes); this module only holds
the data and the rules between submitter and principal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from kiosk.logging import mask_id


class IdKind(StrEnum):
    CCCD = "cccd"            # 12-digit personal ID number (số định danh cá nhân)
    PASSPORT = "passport"    # foreigner's passport number, with issuing state
    TAX_CODE = "tax_code"    # organisation tax code, 10 digits (+ optional -NNN branch)
    AGENCY_CODE = "agency_code"  # state agency code (mã định danh cơ quan)


class IdSource(StrEnum):
    CHIP_MRZ = "chip_mrz"    # serial MRZ reader
    CARD_QR = "card_qr"      # QR code on the CCCD read by the camera
    PASSPORT_MRZ = "passport_mrz"
    MANUAL = "manual"        # typed on the touch screen, validated


@dataclass(frozen=True)
class Identifier:
    kind: IdKind
    value: str                       # canonical form: digits only for CCCD, upper case for passports
    issuing_state: str | None = None  # ICAO 3-letter code for passports

    def masked(self) -> str:
        return mask_id(self.value)

    def __str__(self) -> str:  # never print an identifier in full by accident
        return f"{self.kind.value}:{self.masked()}"


@dataclass(frozen=True)
class Party:
    """A person or organisation known by an identifier. Personal details are optional (data
    minimisation): only what the identification method supplied and the procedure needs."""

    identifier: Identifier
    full_name: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    source: IdSource = IdSource.MANUAL


@dataclass(frozen=True)
class Applicant:
    """The submitter and, when they act for someone else, the principal whose account receives the
    dossier (R1: an authorised representative submits under the principal's account)."""

    submitter: Party
    principal: Party | None = None

    @property
    def account(self) -> Party:
        """The party whose digital account the dossier belongs to."""
        return self.principal or self.submitter

    @property
    def is_representative(self) -> bool:
        return self.principal is not None and self.principal.identifier != self.submitter.identifier
