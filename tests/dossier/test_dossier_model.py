"""The dossier model: page order (R6) and storage codes (R10)."""

from __future__ import annotations

from pathlib import Path

from kiosk.core.applicant import Applicant, Identifier, IdKind, Party
from kiosk.core.dossier_model import (
    CaptureVariant,
    DigitisationClass,
    Dossier,
    PageCapture,
    Paper,
    PaperMetadata,
    Side,
    new_submission_id,
    storage_code_part,
)
from kiosk.timeutil import now_vn


def cap(sheet: int, side: Side, name: str, **kw: object) -> PageCapture:
    return PageCapture(sheet, side, Path(name), 200.0, **kw)  # type: ignore[arg-type]


def paper(captures: list[PageCapture], code: str = "KS", name: str = "Giấy khai sinh") -> Paper:
    return Paper("c1", name, DigitisationClass.ON_REQUEST, 2, captures, PaperMetadata(code, name, "1"))


def names(caps: list[PageCapture]) -> list[str]:
    return [str(c.image_path) for c in caps]


def test_order_by_sheet_front_back_and_sticky_note_variants() -> None:
    p = paper([
        cap(2, Side.BACK, "2b"),
        cap(1, Side.BACK, "1b"),
        cap(2, Side.FRONT, "2f-without", variant=CaptureVariant.WITHOUT_NOTE),
        cap(1, Side.FRONT, "1f"),
        cap(2, Side.FRONT, "2f-with", variant=CaptureVariant.WITH_NOTE),
    ])
    assert names(p.page_images_in_order()) == ["1f", "1b", "2f-with", "2f-without", "2b"]
    assert p.omitted_captures() == []


def test_blank_backs_dropped_only_when_every_back_is_confirmed_blank() -> None:
    caps = [cap(1, Side.FRONT, "1f"), cap(1, Side.BACK, "1b", blank=True, blank_confirmed=True),
            cap(2, Side.FRONT, "2f"), cap(2, Side.BACK, "2b", blank=True, blank_confirmed=True)]
    p = paper(caps)
    assert names(p.page_images_in_order()) == ["1f", "2f"]
    assert names(p.omitted_captures()) == ["1b", "2b"]

    caps[3] = cap(2, Side.BACK, "2b", blank=True, blank_confirmed=False)  # detected, not confirmed
    p = paper(caps)
    assert names(p.page_images_in_order()) == ["1f", "1b", "2f", "2b"]
    assert p.omitted_captures() == []

    caps[3] = cap(2, Side.BACK, "2b")  # sheet 2 has a written back: every blank back is kept (flagged)
    p = paper(caps)
    assert names(p.page_images_in_order()) == ["1f", "1b", "2f", "2b"]


def test_sheet_without_back_capture_keeps_backs() -> None:
    p = paper([cap(1, Side.FRONT, "1f"), cap(1, Side.BACK, "1b", blank=True, blank_confirmed=True),
               cap(2, Side.FRONT, "2f")])
    assert names(p.page_images_in_order()) == ["1f", "1b", "2f"]


def dossier(papers: list[Paper], account: str = "001099012345", principal: str | None = None) -> Dossier:
    sub = Party(Identifier(IdKind.CCCD, account))
    prin = Party(Identifier(IdKind.TAX_CODE, principal)) if principal else None
    return Dossier(new_submission_id(), "KIOSK-1", now_vn(), Applicant(sub, prin), "1.000001", "", papers)


def test_storage_codes_unique_safe_and_under_the_account() -> None:
    papers = [paper([], "KS"), paper([], "ks"), paper([], "KS"), paper([], "GCN/QSDĐ 01"),
              paper([], "", name="Sổ hộ khẩu")]
    d = dossier(papers, principal="0312345678-001")
    d.assign_storage_codes()
    assert [p.storage_code for p in papers] == [
        "0312345678-001.KS", "0312345678-001.ks-2", "0312345678-001.KS-3", "0312345678-001.GCN-QSDD_01",
        "0312345678-001.So_ho_khau"]
    d.assign_storage_codes()  # idempotent
    assert papers[2].storage_code == "0312345678-001.KS-3"


def test_storage_code_part() -> None:
    assert storage_code_part(" Giấy chứng nhận đăng ký xe ") == "Giay_chung_nhan_dang_ky_xe"
    assert storage_code_part("../etc/passwd") == "etc-passwd"
    assert storage_code_part("KQ.001.2") == "KQ.001.2"
    assert len(new_submission_id()) == 32
