"""JSON-ready records of a paper's metadata (R9) and of its pages, shared by the XMP and the manifest.

Every record always has all its keys (``None`` when unknown), so the manifest's JSON Schema can list
them exactly. Dates are ISO 8601 (``YYYY-MM-DD``), times ISO 8601 with +07:00, text NFC.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

from kiosk.core.dossier_model import PageCapture, PaperMetadata
from kiosk.timeutil import iso


def _nfc(v: str | None) -> str | None:
    return None if v is None else unicodedata.normalize("NFC", v)


def _d(v: date | None) -> str | None:
    return None if v is None else v.isoformat()


def metadata_record(m: PaperMetadata) -> dict[str, Any]:
    """The R9 record: (1) type code, (2) holder identifier or name + birth year + issue date and
    authority, (3) name, (4) summary, (5) validity period, (6) validity scope, plus specialised fields."""
    return {
        "paper_type_code": _nfc(m.paper_type_code),
        "paper_name": _nfc(m.paper_name),
        "holder_id": _nfc(m.holder_id),
        "holder_name": _nfc(m.holder_name),
        "holder_birth_year": m.holder_birth_year,
        "issue_date": _d(m.issue_date),
        "issuing_authority": _nfc(m.issuing_authority),
        "summary": _nfc(m.summary) or "",
        "valid_from": _d(m.valid_from),
        "valid_until": _d(m.valid_until),
        "validity_scope": _nfc(m.validity_scope),
        "extra": {str(_nfc(k)): str(_nfc(v)) for k, v in sorted(m.extra.items())},
    }


def capture_record(c: PageCapture) -> dict[str, Any]:
    """What was captured for one image, whether or not it is a page of the PDF."""
    return {
        "sheet": c.page_no,
        "side": c.side.value,
        "variant": c.variant.value,
        "dpi": round(float(c.dpi), 2),
        "blank": bool(c.blank),
        "blank_confirmed": bool(c.blank_confirmed),
        "quality": {str(k): round(float(v), 4) for k, v in sorted(c.quality.items())},
        "captured_at": iso(c.captured_at),
        "device": _nfc(c.device) or "",
    }


def page_record(index: int, c: PageCapture, width_px: int, height_px: int, compression: dict[str, Any]
                ) -> dict[str, Any]:
    """A page of the PDF: its capture record plus its position, pixel size, compression and OCR."""
    return {
        "index": index,
        **capture_record(c),
        "width_px": width_px,
        "height_px": height_px,
        "compression": {
            "filter": compression["filter"],
            "method": compression["method"],
            "lossless": compression["lossless"],
            "jpeg_quality": compression["jpeg_quality"],
            "subsampling": compression["subsampling"],
            "source_format": compression["source_format"],
        },
        "ocr_words": len(c.ocr.words) if c.ocr is not None else 0,
        "ocr_confidence": round(float(c.ocr.confidence), 2) if c.ocr is not None else None,
    }
