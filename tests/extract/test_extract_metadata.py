"""R9 metadata proposal: a rendered decision page OCR'd with Tesseract, and layout rules on OCR pages."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest

from kiosk.core.dossier_model import PaperMetadata
from kiosk.extract.metadata import FALLBACK_CONFIDENCE, ProposedMetadata, propose_metadata
from kiosk.synth.papers import DecisionSpec, render_decision
from kiosk.vision.ocr import ocr_page
from kiosk.vision.types import OcrPage

MakePage = Callable[..., OcrPage]

SPEC = DecisionSpec(
    agency_parent="ỦY BAN NHÂN DÂN",
    agency="XÃ TÂN HÒA",
    number="Số: 125/QĐ-UBND",
    place="Tân Hòa",
    issued=date(2025, 3, 14),
    title="QUYẾT ĐỊNH",
    subject="Về việc giao đất ở cho hộ gia đình",
    body=(
        "Căn cứ Luật Tổ chức chính quyền địa phương ngày 19 tháng 6 năm 2015.",
        "Xét đề nghị của công chức địa chính - xây dựng xã.",
        "Giao cho bà Nguyễn Thị Lan, số định danh cá nhân 064192003517, thửa đất số 125.",
        "Quyết định này có hiệu lực thi hành kể từ ngày ký.",
    ),
    signer="Trần Văn Bình",
    valid_until=date(2030, 12, 31),
)


@dataclass
class Case:
    proposal: ProposedMetadata


@pytest.fixture(scope="module")
def decision() -> Case:
    paper = render_decision(SPEC, dpi=200, rng=random.Random(3))
    ink_rows = np.where((paper.image.min(axis=2) < 128).any(axis=1))[0]
    page = paper.image[: ink_rows.max() + 40]  # crop the empty bottom: faster OCR
    return Case(propose_metadata(ocr_page(page, 200), today=date(2026, 1, 1)))


def test_decision_title_subject_date_agency(decision: Case) -> None:
    p = decision.proposal
    assert isinstance(p, PaperMetadata)
    assert p.paper_name == "Quyết định"
    assert p.extra["title_as_printed"] == "QUYẾT ĐỊNH"
    assert p.summary == "Về việc giao đất ở cho hộ gia đình"
    assert p.issue_date == date(2025, 3, 14)
    assert p.issuing_authority == "ỦY BAN NHÂN DÂN XÃ TÂN HÒA"
    assert p.holder_id == "064192003517" and p.extra["holder_id_kind"] == "cccd"
    assert p.valid_until == date(2030, 12, 31)
    assert p.valid_from == date(2025, 3, 14)  # "có hiệu lực thi hành kể từ ngày ký"
    for key in ("paper_name", "summary", "issue_date", "issuing_authority", "holder_id", "valid_until"):
        assert 0.5 < p.confidence[key] <= 1.0, key
        assert p.source[key] == "paper"
    assert p.plain() == PaperMetadata(
        p.paper_type_code,
        p.paper_name,
        p.holder_id,
        None,
        None,
        p.issue_date,
        p.issuing_authority,
        p.summary,
        p.valid_from,
        p.valid_until,
        None,
        dict(p.extra),
    )


@dataclass(frozen=True)
class Component:
    name: str
    paper_type_code: str


def test_fallbacks_from_component_and_applicant(make_page: MakePage) -> None:
    page = make_page(["Con viết thư này để hỏi thăm sức khỏe của bố mẹ và cả nhà ở quê."])
    p = propose_metadata(
        page,
        component=Component("Văn bản ủy quyền", "VB-UQ"),
        applicant_id="001090012345",
        today=date(2026, 1, 1),
    )
    assert p.paper_name == "Văn bản ủy quyền" and p.source["paper_name"] == "component"
    assert p.confidence["paper_name"] == FALLBACK_CONFIDENCE
    assert p.paper_type_code == "VB-UQ"
    assert p.holder_id == "001090012345" and p.source["holder_id"] == "applicant"
    assert p.summary == "Con viết thư này để hỏi thăm sức khỏe của bố mẹ và cả nhà ở quê."
    assert p.issue_date is None and p.issuing_authority is None


def test_certificate_layout_and_holder_without_id(make_page: MakePage) -> None:
    page = make_page(
        [
            ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"],
            ["Độc lập - Tự do - Hạnh phúc"],
            ["GIẤY XÁC NHẬN"],
            ["TÌNH TRẠNG HÔN NHÂN"],
            "Xét đề nghị của ông Lê Văn Hùng về việc cấp Giấy xác nhận tình trạng hôn nhân cho bản thân.",
            "Họ, chữ đệm, tên: LÊ VĂN HÙNG",
            "Ngày, tháng, năm sinh: 23/07/1985",
            "Giấy này có giá trị sử dụng đến ngày 30/09/2025.",
            ["", "Hòa An, ngày 30 tháng 03 năm 2025"],
        ]
    )
    p = propose_metadata(page, today=date(2026, 1, 1))
    assert p.paper_name == "Giấy xác nhận tình trạng hôn nhân"
    assert p.paper_type_code == "HT-GXNTTHN"  # matched against the catalogue's paper types
    assert p.summary.startswith("Xét đề nghị của ông Lê Văn Hùng")
    assert p.valid_until == date(2025, 9, 30)
    assert p.issue_date == date(2025, 3, 30)
    assert p.holder_id is None
    assert p.holder_name == "LÊ VĂN HÙNG" and p.holder_birth_year == 1985


def test_tax_code_needs_context_and_check_digit(make_page: MakePage) -> None:
    page = make_page(
        ["HỢP ĐỒNG DỊCH VỤ", "Bên B: Công ty ABC, mã số thuế: 0100107518", "Điện thoại: 0912345678"]
    )
    p = propose_metadata(page, today=date(2026, 1, 1))
    assert p.holder_id == "0100107518" and p.extra["holder_id_kind"] == "tax_code"
    page = make_page(["HỢP ĐỒNG DỊCH VỤ", "Điện thoại: 0100107518"])  # a 10-digit number without context
    assert propose_metadata(page, today=date(2026, 1, 1)).holder_id is None


def test_long_summary_is_cut_at_a_word(make_page: MakePage) -> None:
    long = "Tổ chức cá nhân " * 30
    p = propose_metadata(make_page([long.strip() + "."]), today=date(2026, 1, 1))
    assert len(p.summary) <= 201 and p.summary.endswith("…") and not p.summary[:-1].endswith(" ")
