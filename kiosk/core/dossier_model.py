"""The dossier as captured at the kiosk: papers, their page images and their metadata (R6, R9, R10).

Pure data and rules, no I/O: the capture flow (``kiosk.core.session``) fills it, the dossier builder
(``kiosk.dossier``) turns it into one signed PDF/A per paper plus a signed manifest.

- A ``PageCapture`` is one image of one side of one sheet. A page with a sticky note has two captures of
  the same side (``with_note`` and ``without_note``); both are kept (R6).
- ``Paper.page_images_in_order()`` gives the pages of the paper's PDF: by sheet, front before back,
  ``with_note`` before ``without_note``. Blank backs confirmed by the citizen are left out only when
  *every* sheet's back is a confirmed blank (R6: "capture both sides unless every sheet is blank on one
  side"); otherwise every capture is kept, blank or not.
- ``Dossier.assign_storage_codes()`` names each paper ``<account identifier>.<paper-type code>`` (R10),
  unique within the dossier and safe as a file name.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from kiosk.core.applicant import Applicant
from kiosk.timeutil import now_vn
from kiosk.vision.types import OcrPage


class Side(StrEnum):
    FRONT = "front"
    BACK = "back"


class CaptureVariant(StrEnum):
    NORMAL = "normal"
    WITH_NOTE = "with_note"        # sticky note in place (R6: captured twice)
    WITHOUT_NOTE = "without_note"  # same side with the note lifted


class DigitisationClass(StrEnum):
    """Why a paper is digitised (R4, Art. 7)."""

    EARLIER_RESULT = "earlier_result"            # result of an earlier procedure
    SPECIALISED_LAW = "specialised_law"          # required by specialised law
    MANAGEMENT_DECISION = "management_decision"  # required by a provincial/ministerial decision
    ON_REQUEST = "on_request"                    # anything else: at the citizen's request, for a fee


_SIDE_ORDER = {Side.FRONT: 0, Side.BACK: 1}
_VARIANT_ORDER = {CaptureVariant.NORMAL: 0, CaptureVariant.WITH_NOTE: 0, CaptureVariant.WITHOUT_NOTE: 1}


@dataclass
class PageCapture:
    """One image of one side of one sheet."""

    page_no: int                # 1-based sheet number within the paper
    side: Side
    image_path: Path            # the processed (dewarped) page image, PNG or JPEG
    dpi: float                  # effective resolution of the image
    variant: CaptureVariant = CaptureVariant.NORMAL
    blank: bool = False         # detected as blank; kept and flagged, never dropped silently
    blank_confirmed: bool = False  # the citizen confirmed that this side is blank
    quality: dict[str, float] = field(default_factory=dict)  # scores from vision.assess (R13)
    ocr: OcrPage | None = None  # words with boxes in image pixels, for the PDF text layer
    captured_at: datetime = field(default_factory=now_vn)
    device: str = ""            # capture device description


@dataclass
class PaperMetadata:
    """The metadata a digitised paper carries (R9). ``extra`` holds specialised fields (chassis number,
    plate number, certificate number, ...)."""

    paper_type_code: str
    paper_name: str
    holder_id: str | None       # identifier of the person or organisation holding the paper
    holder_name: str | None = None        # R9 (2), when there is no identifier
    holder_birth_year: int | None = None  # R9 (2), when there is no identifier
    issue_date: date | None = None
    issuing_authority: str | None = None
    summary: str = ""           # trích yếu
    valid_from: date | None = None
    valid_until: date | None = None
    validity_scope: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class Paper:
    """One required paper (thành phần hồ sơ) of the dossier with its captured pages."""

    component_id: str
    name: str
    digitisation_class: DigitisationClass
    declared_pages: int         # number of sheets the citizen declared / the catalogue expects
    captures: list[PageCapture]
    metadata: PaperMetadata
    storage_code: str = ""      # assigned by Dossier.assign_storage_codes()

    def sheets(self) -> list[int]:
        """Sheet numbers that have at least one capture, ascending."""
        return sorted({c.page_no for c in self.captures})

    def backs_all_blank(self) -> bool:
        """True when every sheet has a back capture and every back capture is a confirmed blank."""
        sheets = self.sheets()
        if not sheets:
            return False
        for sheet in sheets:
            backs = [c for c in self.captures if c.page_no == sheet and c.side == Side.BACK]
            if not backs or not all(c.blank_confirmed for c in backs):
                return False
        return True

    def _ordered(self) -> list[PageCapture]:
        keyed = sorted(enumerate(self.captures),
                       key=lambda ic: (ic[1].page_no, _SIDE_ORDER[ic[1].side], _VARIANT_ORDER[ic[1].variant],
                                       ic[0]))
        return [c for _, c in keyed]

    def page_images_in_order(self) -> list[PageCapture]:
        """The pages of the paper's PDF in order (see the module docstring for the rule)."""
        drop_backs = self.backs_all_blank()
        return [c for c in self._ordered() if not (drop_backs and c.side == Side.BACK)]

    def omitted_captures(self) -> list[PageCapture]:
        """Captures left out of the PDF (confirmed blank backs when every back is blank), in order."""
        if not self.backs_all_blank():
            return []
        return [c for c in self._ordered() if c.side == Side.BACK]


_CODE_OK = re.compile(r"[^A-Za-z0-9._-]+")


def storage_code_part(text: str) -> str:
    """``text`` made safe for a storage code: Vietnamese letters without diacritics (đ -> d), spaces as
    '_', any other character outside [A-Za-z0-9._-] as '-'."""
    text = unicodedata.normalize("NFD", text.strip()).replace("đ", "d").replace("Đ", "D")
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"\s+", "_", text)
    text = _CODE_OK.sub("-", text)
    return re.sub(r"-{2,}", "-", text).strip("._-")


def new_submission_id() -> str:
    """A fresh submission id: 32 lower-case hex digits (uuid4)."""
    return uuid.uuid4().hex


def short_code(submission_id: str) -> str:
    """The code printed in large type on the receipt and shown to staff: 8 characters of the id."""
    return submission_id[:8].upper()


@dataclass
class Dossier:
    """Everything one citizen session submits."""

    submission_id: str          # uuid4 hex (see new_submission_id), unique per submission
    terminal_id: str
    created_at: datetime
    applicant: Applicant
    procedure_code: str         # national TTHC code d.dddddd
    case_id: str                # trường hợp of the procedure
    papers: list[Paper]

    def assign_storage_codes(self) -> None:
        """R10: ``<account identifier>.<paper-type code>``, unique within the dossier (repeats get
        ``-2``, ``-3``, ...; compared case-insensitively so that the codes are also unique file names on
        any file system), only characters from [A-Za-z0-9._-]."""
        account = storage_code_part(self.applicant.account.identifier.value) or "unknown"
        seen: set[str] = set()
        for paper in self.papers:
            type_part = (storage_code_part(paper.metadata.paper_type_code)
                         or storage_code_part(paper.metadata.paper_name) or "paper")
            base = f"{account}.{type_part}"
            code, n = base, 1
            while code.lower() in seen:
                n += 1
                code = f"{base}-{n}"
            seen.add(code.lower())
            paper.storage_code = code
