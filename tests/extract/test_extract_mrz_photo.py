"""MRZ read from a photo of a card back / passport page (generated, real Tesseract), and the repairs."""

from __future__ import annotations

import random
from datetime import date

import pytest

from kiosk.core.mrz import check_digit
from kiosk.extract.mrz_photo import _length_variants, decode_lines, find_bands, read_mrz_from_image
from kiosk.synth.papers import (
    CardPerson,
    cccd_mrz,
    photo_of,
    render_card_back,
    render_passport_page,
    round_corners,
    vn_passport_mrz,
)

PERSON = CardPerson(
    name="Đặng Thị Thu Hà",
    birth=date(1994, 8, 17),
    female=True,
    cccd="048194005678",
    expiry=date(2034, 8, 17),
)


@pytest.mark.parametrize("cccd_check", [False, True])
def test_card_back_photo(cccd_check: bool) -> None:
    rng = random.Random(11 if cccd_check else 12)
    lines = cccd_mrz(PERSON, cccd_check=cccd_check)
    card = render_card_back(lines, dpi=300, rng=rng)
    photo = photo_of(card, rng, frame=(1600, 1200), fill=0.55, max_rot=5, mask=round_corners(card, 300))
    r = read_mrz_from_image(photo)
    assert r is not None and r.valid, r
    assert r.format == "TD1" and r.vietnamese_id_card
    assert r.document_code == "ID" and r.issuing_state == "VNM" and r.nationality == "VNM"
    assert r.document_number == "194005678"
    assert r.personal_id == "048194005678"
    assert r.birth_date == "1994-08-17" and r.expiry_date == "2034-08-17" and r.sex == "F"
    assert (r.surname, r.given_names) == ("DANG", "THI THU HA")


def test_passport_page_photo() -> None:
    rng = random.Random(5)
    lines = vn_passport_mrz(PERSON, "C1234567")
    page = render_passport_page(lines, PERSON, "C1234567", dpi=300, rng=rng)
    r = read_mrz_from_image(photo_of(page, rng, frame=(1600, 1200), fill=0.6, max_rot=4))
    assert r is not None and r.valid, r
    assert r.format == "TD3" and r.document_number == "C1234567" and r.personal_id == "048194005678"
    assert (r.surname, r.given_names) == ("DANG", "THI THU HA")


def test_no_mrz_on_a_blank_photo() -> None:
    import numpy as np

    assert read_mrz_from_image(np.full((600, 800, 3), 200, np.uint8)) is None
    assert find_bands(np.full((600, 800), 200, np.uint8)) == []


GOOD = cccd_mrz(PERSON)


def test_digit_lookalikes_repaired_only_where_check_digits_confirm() -> None:
    bad = [GOOD[0].replace("048194005678", "O48194OO5678"), GOOD[1].replace("9408", "94O8", 1), GOOD[2]]
    r = decode_lines(bad)
    assert r is not None and r.valid and r.personal_id == "048194005678" and r.birth_date == "1994-08-17"
    # a digit misread as another digit cannot be confirmed: the result stays invalid
    wrong = [GOOD[0].replace("048194005678", "048194005679"), GOOD[1], GOOD[2]]
    r = decode_lines(wrong)
    assert r is not None and not r.valid


def test_lost_and_extra_characters() -> None:
    # OCR dropped fillers in the name line and added a stray character at the start of line 1
    lines = ["T" + GOOD[0], GOOD[1], GOOD[2].rstrip("<")]
    r = decode_lines(lines)
    assert r is not None and r.valid and r.personal_id == "048194005678"
    # a digit inserted into a name (no check digit covers names) is removed by the format rule
    name = GOOD[2].replace("THU", "TH0U")[:31]
    r = decode_lines([GOOD[0], GOOD[1], name])
    assert r is not None and r.valid and r.given_names == "THI THU HA"


def test_length_variants_grow_or_shrink_filler_runs() -> None:
    assert _length_variants("AB<<C", 6)[0] == "AB<<<C"
    assert "AB<C" in _length_variants("AB<<C", 4)
    assert check_digit("<<<") == 0
