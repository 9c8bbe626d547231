"""Key-value extraction from rendered, OCR'd application forms (real Tesseract) and its building blocks."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from kiosk.errors import KioskError
from kiosk.extract import textutil as tu
from kiosk.extract.forms import (
    FORMS_DIR,
    dotted_leaders,
    extract_form,
    get_form,
    load_forms,
    parse_form,
    remove_rules,
    vocabularies,
)
from kiosk.vision.types import OcrPage, OcrWord

if TYPE_CHECKING:
    from conftest import FormCase  # type: ignore[import-not-found]


def _check_exact(case: FormCase) -> None:
    expected = case.expected
    got = {k: f.value for k, f in case.result.fields.items()}
    assert got == expected
    assert case.result.heading_found
    for key, value in expected.items():
        f = case.result.fields[key]
        if value is None:
            assert f.problem == "extract.empty" and not f.needs_confirmation
        else:
            assert f.problem is None, key
            assert 0.0 < f.confidence <= 1.0
            assert f.box is not None
            x0, y0, x1, y1 = f.box
            rx0, ry0, rx1, ry1 = case.rendered.boxes[key]
            assert x0 < rx1 and rx0 < x1 and y0 < ry1 and ry0 < y1, key  # the box is where it was printed


def test_birth_registration_form_every_field_exact(birth_case: FormCase) -> None:
    _check_exact(birth_case)
    assert len(birth_case.result.needs_confirmation()) <= 2  # most fields are read with confidence


def test_marital_status_form_every_field_exact(marital_case: FormCase) -> None:
    _check_exact(marital_case)
    assert len(marital_case.result.needs_confirmation()) <= 2  # most fields are read with confidence


def test_ct01_residence_form_every_field_exact(ct01_case: FormCase) -> None:
    # the two personal ID numbers are printed in rows of 12 digit boxes
    _check_exact(ct01_case)
    assert len(ct01_case.result.needs_confirmation()) <= 2  # most fields are read with confidence


def test_forms_are_recognised_from_their_heading(
    birth_case: FormCase, marital_case: FormCase, ct01_case: FormCase
) -> None:
    assert birth_case.detected.form_id == "TK-KS"
    assert marital_case.detected.form_id == "TK-XNTTHN"
    assert ct01_case.detected.form_id == "CT01"
    assert birth_case.detected.values() == birth_case.result.values()


def test_covered_field_needs_confirmation(covered_case: FormCase) -> None:
    f = covered_case.result.fields["subject_id"]
    assert f.needs_confirmation
    assert f.value != covered_case.expected["subject_id"]
    assert f.problem is not None
    # the fields around it are unaffected
    for key in ("subject_residence", "period_place", "subject_birth_date"):
        assert covered_case.result.fields[key].value == covered_case.expected[key]
    assert "subject_id" in covered_case.result.needs_confirmation()


# --- without OCR: matching, alignment, normalisation -------------------------------------------------


def _page(lines: list[str], conf: float = 95.0) -> OcrPage:
    """An OCR result laid out as printed lines (30 px high, words 12 px per character)."""
    words: list[OcrWord] = []
    for li, line in enumerate(lines):
        x = 100
        for text in line.split():
            w = 12 * len(text)
            words.append(OcrWord(text, (x, 100 + 40 * li, x + w, 130 + 40 * li), conf, li))
            x += w + 12
    return OcrPage("\n".join(lines), conf, words, 1600, 100 + 40 * len(lines) + 100)


def test_label_matching_tolerates_ocr_errors_and_wrapping() -> None:
    form = get_form("TK-XNTTHN")
    page = _page(
        [
            "TỜ KHAI CẤP GIẤY XÁC NHẬN TÌNH TRẠNG HÔN NHÂN",
            "Kinh gùi: (1) Ủy ban nhân dân xã Kim Sơn",
            "Ho, chữ đêm, tên ngưởi yêu cầu: LÊ THỊ MAI",  # tone marks misread
            "Quan hệ với người được cấp Giấy xác nhận tình",  # label wrapped over two lines
            "trạng hôn nhân: Bản thân",
            "Ngày, tháng, năm sinh: 1O/O3/199O",  # O for 0 in a date
            "Giới tính: Nữ Dân tộc: Tảy Quốc tịch: Viet Nam",  # vocabulary snapping
        ]
    )
    res = extract_form(page, form, today=date(2026, 1, 1))
    assert res.fields["authority"].value == "Ủy ban nhân dân xã Kim Sơn"
    assert res.fields["requester_name"].value == "LÊ THỊ MAI"
    assert res.fields["relationship"].value == "Bản thân"
    assert res.fields["subject_birth_date"].value == "1990-03-10"
    assert res.fields["subject_sex"].value == "Nữ"
    assert res.fields["subject_ethnicity"].value == "Tày"
    assert res.fields["subject_nationality"].value == "Việt Nam"
    # fields whose labels are not on this page are reported, not invented
    assert res.fields["purpose"].value is None and res.fields["purpose"].needs_confirmation


def test_repeated_labels_are_told_apart_by_order() -> None:
    page = _page(
        [
            "TỜ KHAI ĐĂNG KÝ KHAI SINH",
            "Họ, chữ đệm, tên người yêu cầu: PHAN VĂN AN",
            "Nơi cư trú: (2) thôn Bắc, xã An Khánh",
            "Họ, chữ đệm, tên: Phan Minh Tú",
            "Họ, chữ đệm, tên người mẹ: Đỗ Thị Lan",
            "Nơi cư trú: (2) xóm Mới, xã An Khánh",
            "Họ, chữ đệm, tên người cha: PHAN VĂN AN",
            "Nơi cư trú: (2) thôn Bắc, xã An Khánh",
        ]
    )
    res = extract_form(page, "TK-KS", today=date(2026, 1, 1))
    v = res.values()
    assert v["requester_residence"] == "thôn Bắc, xã An Khánh"
    assert v["child_name"] == "Phan Minh Tú"
    assert v["mother_name"] == "Đỗ Thị Lan"
    assert v["mother_residence"] == "xóm Mới, xã An Khánh"
    assert v["father_residence"] == "thôn Bắc, xã An Khánh"


def test_validation_marks_inconsistent_values() -> None:
    page = _page(
        [
            "TỜ KHAI ĐĂNG KÝ KHAI SINH",
            "Ngày, tháng, năm sinh: 12/05/1990",
            "Giấy tờ tùy thân: (3) 001095012345",  # CCCD says born 1995, form says 1990
            "Họ, chữ đệm, tên: Vũ An",
            "Ngày, tháng, năm sinh: 30/02/2025 ghi bằng chữ: Ba mươi tháng hai năm hai nghìn",
            "Họ, chữ đệm, tên người mẹ: V3 Thị Hà",  # digit in a name
        ]
    )
    res = extract_form(page, "TK-KS", today=date(2026, 1, 1))
    f = res.fields
    assert (
        f["requester_birth_date"].value == "1990-05-12" and not f["requester_birth_date"].needs_confirmation
    )
    assert f["requester_id"].problem == "id.cccd_birth_year" and f["requester_id"].needs_confirmation
    assert f["child_birth_date"].value is None and f["child_birth_date"].problem == "extract.invalid_date"
    assert f["mother_name"].problem == "extract.invalid_name" and f["mother_name"].needs_confirmation


def test_low_ocr_confidence_needs_confirmation() -> None:
    page = _page(["TỜ KHAI ĐĂNG KÝ KHAI SINH", "Quan hệ với người được khai sinh: Cha"], conf=55.0)
    res = extract_form(page, "TK-KS", today=date(2026, 1, 1))
    f = res.fields["relationship"]
    assert f.value == "Cha" and f.confidence < 0.75 and f.needs_confirmation


def test_date_words_must_agree_with_the_date() -> None:
    page = _page(
        [
            "TỜ KHAI ĐĂNG KÝ KHAI SINH",
            "Họ, chữ đệm, tên: Vũ Minh An",
            "Ngày, tháng, năm sinh: 18/05/2025 ghi bằng chữ: Mười tám tháng năm năm hai nghìn không trăm hai "
            "mươi lăm",
        ]
    )
    res = extract_form(page, "TK-KS", today=date(2026, 1, 1))
    assert res.fields["child_birth_date_words"].problem is None
    page = _page(
        [
            "TỜ KHAI ĐĂNG KÝ KHAI SINH",
            "Họ, chữ đệm, tên: Vũ Minh An",
            "Ngày, tháng, năm sinh: 18/05/2025 ghi bằng chữ: Mười tám tháng sáu năm hai nghìn không trăm hai "
            "mươi lăm",
        ]
    )
    res = extract_form(page, "TK-KS", today=date(2026, 1, 1))
    assert res.fields["child_birth_date_words"].problem == "extract.date_words_mismatch"


@pytest.mark.parametrize(
    "d",
    [
        date(2019, 3, 15),
        date(2005, 4, 1),
        date(1990, 12, 31),
        date(2000, 1, 21),
        date(2024, 11, 25),
        date(2025, 5, 18),
        date(1961, 7, 14),
    ],
)
def test_dates_in_words_round_trip(d: date) -> None:
    assert tu.date_from_words(tu.date_to_words(d)) == d


def test_number_words() -> None:
    assert tu.number_to_words(2025) == "hai nghìn không trăm hai mươi lăm"
    assert tu.number_to_words(1961) == "một nghìn chín trăm sáu mươi mốt"
    assert tu.number_from_words("hai nghin khong tram linh nam".split()) == 2005
    assert tu.number_from_words("muoi bon".split()) == 14


def test_parse_date_formats() -> None:
    assert tu.parse_date("15/O3/199O") == date(1990, 3, 15)
    assert tu.parse_date("ngày 01 tháng 02 năm 2015") == date(2015, 2, 1)
    assert tu.parse_date("01 - 02 - 2015") == date(2015, 2, 1)
    assert tu.parse_date("31/02/2015") is None


def test_form_definitions_load_and_are_consistent() -> None:
    forms = load_forms()
    assert {"TK-KS", "TK-XNTTHN", "CT01"} <= set(forms)
    for form in forms.values():
        placed = [k for line in form.layout if line.style == "fields" for k in line.fields]
        assert placed == form.field_keys()
        assert form.heading and all(f.label for f in form.fields)
    assert "Ê Đê" in vocabularies()["ethnic_groups"] and len(vocabularies()["ethnic_groups"]) == 54
    with pytest.raises(KioskError) as err:
        get_form("NO-SUCH-FORM")
    assert err.value.key == "extract.unknown_form"
    with pytest.raises(ValueError):
        parse_form(
            {
                "id": "X",
                "name": "x",
                "heading": ["X"],
                "fields": [{"key": "a", "label": "A:", "type": "blob"}],
            }
        )
    assert FORMS_DIR.is_dir()


def test_rules_and_dotted_leaders_are_removed() -> None:
    img = np.full((200, 900), 250, np.uint8)
    cv2.rectangle(img, (50, 40), (650, 100), 20, 2)  # a box row
    for x in range(60, 640, 50):
        cv2.line(img, (x, 40), (x, 100), 20, 2)
    for x in range(100, 800, 9):  # a dotted leader
        cv2.circle(img, (x, 160), 1, 20, -1)
    cleaned = remove_rules(img, 200)
    assert (cleaned[40:101, 50:651] < 128).sum() == 0
    mask, boxes = dotted_leaders(cleaned, 200)
    assert len(boxes) == 1 and boxes[0][0] <= 100 and boxes[0][2] >= 790
    assert mask.any()


def test_a_similar_title_of_another_form_is_not_taken_for_a_known_one() -> None:
    from kiosk.extract.forms import detect_form

    assert (
        detect_form(_page(["TỜ KHAI ĐĂNG KÝ LẠI KHAI SINH", "Kính gửi: (1) Ủy ban nhân dân xã An Khánh"]))
        is None
    )
    assert detect_form(_page(["TỜ KHAl ĐĂNG KÝ KHAI SlNH"])).id == "TK-KS"  # type: ignore[union-attr]
