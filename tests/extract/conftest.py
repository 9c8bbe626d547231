"""Shared fixtures for the extraction tests: forms rendered with known values and OCR'd once per session
(real Tesseract, vie), so that several tests can check the same extraction without paying OCR again."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import date

import pytest

from kiosk.extract.forms import ExtractedForm, extract_form, ocr_form_image
from kiosk.extract.textutil import date_to_words
from kiosk.synth.papers import RenderedPaper, render_form
from kiosk.vision.types import OcrPage, OcrWord

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

DPI = 200

# Values as a citizen writes them on the form (dates dd/mm/yyyy), with the normalised values expected out.
BIRTH_FORM = {
    "authority": "Ủy ban nhân dân xã Tân Hòa",
    "requester_name": "NGUYỄN THỊ HỒNG NHUNG",
    "requester_birth_date": "14/02/1992",
    "requester_residence": "Số 18 đường Lê Lợi, phường Quang Trung, tỉnh Gia Lai",
    "requester_id": "064192003517",
    "relationship": "Mẹ",
    "child_name": "Trần Ngọc Bảo Anh",
    "child_birth_date": "05/10/2025",
    "child_birth_date_words": date_to_words(date(2025, 10, 5)),
    "child_sex": "Nữ",
    "child_ethnicity": "Kinh",
    "child_nationality": "Việt Nam",
    "child_birthplace": "Bệnh viện Đa khoa tỉnh Gia Lai",
    "child_hometown": "xã Tân Hòa, tỉnh Gia Lai",
    "mother_name": "NGUYỄN THỊ HỒNG NHUNG",
    "mother_birth": "14/02/1992",
    "mother_ethnicity": "Kinh",
    "mother_nationality": "Việt Nam",
    "mother_residence": "Số 18 đường Lê Lợi, phường Quang Trung, tỉnh Gia Lai",
    "mother_id": "064192003517",
    "father_name": "TRẦN ĐỨC THẮNG",
    "father_birth": "1989",
    "father_ethnicity": "Ê Đê",
    "father_nationality": "Việt Nam",
    "father_residence": "thôn Đông, xã Tân Hòa, tỉnh Gia Lai",
    "father_id": "064089001234",
}
BIRTH_EXPECTED = {
    **BIRTH_FORM,
    "requester_birth_date": "1992-02-14",
    "child_birth_date": "2025-10-05",
    "mother_birth": "1992-02-14",
}

MARITAL_FORM = {
    "authority": "Ủy ban nhân dân phường Hòa An",
    "requester_name": "Lê Văn Hùng",
    "requester_residence": "Số 7 đường Nguyễn Trãi, phường Hòa An, thành phố Cần Thơ",
    "requester_id": "092085004321",
    "relationship": "Bản thân",
    "subject_name": "LÊ VĂN HÙNG",
    "subject_birth_date": "23/07/1985",
    "subject_sex": "Nam",
    "subject_ethnicity": "Khmer",
    "subject_nationality": "Việt Nam",
    "subject_residence": "Số 7 đường Nguyễn Trãi, phường Hòa An, thành phố Cần Thơ",
    "subject_id": "092085004321",
    "period_place": "ấp Phú Hòa, xã Long Hưng, tỉnh Vĩnh Long",
    "period_from": "01/09/2010",
    "period_to": "30/06/2020",
    "marital_status": "Chưa đăng ký kết hôn với ai",
    "purpose": "Để đăng ký kết hôn",
}
MARITAL_EXPECTED = {
    **MARITAL_FORM,
    "subject_birth_date": "1985-07-23",
    "period_from": "2010-09-01",
    "period_to": "2020-06-30",
}

CT01_FORM = {
    "authority": "Công an phường Thạch Bàn, thành phố Hà Nội",
    "full_name": "PHẠM QUỐC BẢO",
    "birth_date": "09/11/2001",
    "sex": "Nam",
    "personal_id": "001201012345",
    "phone": "0912345678",
    "householder_name": "Phạm Văn Dũng",
    "relation_to_householder": "Con",
    "householder_id": "001072009876",
    "request": "Đăng ký thường trú",
}
# e-mail left blank on purpose: an empty optional field is None and needs no confirmation
CT01_EXPECTED: dict[str, str | None] = {**CT01_FORM, "birth_date": "2001-11-09", "email": None}


@dataclass
class FormCase:
    """A form rendered with known values, OCR'd, extracted with its id and with detection."""

    rendered: RenderedPaper
    result: ExtractedForm
    detected: ExtractedForm
    expected: dict[str, str | None]


def _run(form_id: str, values: dict[str, str], expected: dict[str, str | None], **kw: object) -> FormCase:
    rendered = render_form(form_id, values, dpi=DPI, **kw)  # type: ignore[arg-type]
    fo = ocr_form_image(rendered.image, DPI)
    return FormCase(
        rendered,
        extract_form(fo.page, form_id, leaders=fo.leaders),
        extract_form(fo.page, None, leaders=fo.leaders),
        expected,
    )


@pytest.fixture(scope="session")
def birth_case() -> FormCase:
    return _run("TK-KS", BIRTH_FORM, dict(BIRTH_EXPECTED))


@pytest.fixture(scope="session")
def marital_case() -> FormCase:
    return _run("TK-XNTTHN", MARITAL_FORM, dict(MARITAL_EXPECTED))


@pytest.fixture(scope="session")
def ct01_case() -> FormCase:
    return _run("CT01", CT01_FORM, dict(CT01_EXPECTED))


@pytest.fixture(scope="session")
def covered_case() -> FormCase:
    """The marital-status form with the subject's ID number blotted out with ink."""
    return _run("TK-XNTTHN", MARITAL_FORM, dict(MARITAL_EXPECTED), cover=["subject_id"])


@pytest.fixture()
def rng() -> random.Random:
    return random.Random(7)


def page_from_lines(lines: list[str | list[str]], conf: float = 95.0, width: int = 1600) -> OcrPage:
    """An OCR result laid out as printed lines (30 px high, 12 px per character). A line given as a list
    of strings holds segments: the first starts at the left margin, the last is right-aligned, one
    segment alone is centred if it is upper case."""
    words: list[OcrWord] = []
    for li, line in enumerate(lines):
        segs = [line] if isinstance(line, str) else line
        y0 = 100 + 40 * li
        for si, seg in enumerate(segs):
            w_total = 12 * len(seg)
            if isinstance(line, list) and len(segs) == 1 and seg.upper() == seg:
                x = (width - w_total) // 2
            elif si == 0:
                x = 100
            else:
                x = width - 100 - w_total
            for text in seg.split():
                w = 12 * len(text)
                words.append(OcrWord(text, (x, y0, x + w, y0 + 30), conf, li))
                x += w + 12
    return OcrPage(
        "\n".join(" ".join(s) if isinstance(s, list) else s for s in lines),
        conf,
        words,
        width,
        100 + 40 * len(lines) + 100,
    )


@pytest.fixture()
def make_page() -> object:
    return page_from_lines
