"""Applicant identifiers: province table, CCCD, passport, tax code, agency code, auto-detection, CLI."""

from __future__ import annotations

import json
import unicodedata
from datetime import date

import pytest

from kiosk.cli import main
from kiosk.core.applicant import IdKind
from kiosk.core.identifiers import (
    decode_cccd,
    describe,
    parse_agency_code,
    parse_any,
    parse_cccd,
    parse_passport,
    parse_tax_code,
    tax_check_digit,
)
from kiosk.core.provinces import PROVINCES, province_name
from kiosk.errors import KioskError

TODAY = date(2026, 11, 25)

# The annex of Circular 07/2016/TT-BCA, written out independently of the module under test.
ANNEX = """001 Hà Nội|002 Hà Giang|004 Cao Bằng|006 Bắc Kạn|008 Tuyên Quang|010 Lào Cai|011 Điện Biên|
012 Lai Châu|014 Sơn La|015 Yên Bái|017 Hòa Bình|019 Thái Nguyên|020 Lạng Sơn|022 Quảng Ninh|024 Bắc Giang|
025 Phú Thọ|026 Vĩnh Phúc|027 Bắc Ninh|030 Hải Dương|031 Hải Phòng|033 Hưng Yên|034 Thái Bình|035 Hà Nam|
036 Nam Định|037 Ninh Bình|038 Thanh Hóa|040 Nghệ An|042 Hà Tĩnh|044 Quảng Bình|045 Quảng Trị|
046 Thừa Thiên Huế|048 Đà Nẵng|049 Quảng Nam|051 Quảng Ngãi|052 Bình Định|054 Phú Yên|056 Khánh Hòa|
058 Ninh Thuận|060 Bình Thuận|062 Kon Tum|064 Gia Lai|066 Đắk Lắk|067 Đắk Nông|068 Lâm Đồng|070 Bình Phước|
072 Tây Ninh|074 Bình Dương|075 Đồng Nai|077 Bà Rịa - Vũng Tàu|079 Hồ Chí Minh|080 Long An|082 Tiền Giang|
083 Bến Tre|084 Trà Vinh|086 Vĩnh Long|087 Đồng Tháp|089 An Giang|091 Kiên Giang|092 Cần Thơ|093 Hậu Giang|
094 Sóc Trăng|095 Bạc Liêu|096 Cà Mau"""


def _annex() -> dict[str, str]:
    items = [s.strip() for s in ANNEX.replace("\n", "").split("|")]
    return {s[:3]: s[4:] for s in items}


def _err(fn: object, *args: object, **kwargs: object) -> KioskError:
    with pytest.raises(KioskError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


# --- provinces ------------------------------------------------------------------------------------


def test_province_table_is_the_annex() -> None:
    assert dict(PROVINCES) == _annex()
    assert len(PROVINCES) == 63
    assert all(unicodedata.is_normalized("NFC", n) for n in PROVINCES.values())
    assert province_name("079") == "Hồ Chí Minh"
    for missing in ("000", "003", "005", "097", "099"):
        assert province_name(missing) is None


# --- CCCD -----------------------------------------------------------------------------------------


def test_cccd_valid_with_spaces_and_decoding() -> None:
    ident = parse_cccd(" 079 082 346 942 ", date(1982, 6, 12), today=TODAY)
    assert ident.kind is IdKind.CCCD and ident.value == "079082346942"
    info = decode_cccd("079082346942")
    assert (info.province_code, info.province_name, info.sex) == ("079", "Hồ Chí Minh", "M")
    assert (info.birth_century, info.birth_year_2d, info.birth_year) == (1900, 82, 1982)


@pytest.mark.parametrize(("digit", "century", "sex"), [
    ("0", 1900, "M"), ("1", 1900, "F"), ("2", 2000, "M"), ("3", 2000, "F"), ("4", 2100, "M"),
    ("5", 2100, "F"), ("6", 2200, "M"), ("7", 2200, "F"), ("8", 2300, "M"), ("9", 2300, "F")])
def test_century_sex_digit(digit: str, century: int, sex: str) -> None:
    info = decode_cccd(f"001{digit}05123456")
    assert (info.birth_century, info.sex) == (century, sex)


def test_cccd_errors_say_exactly_what_is_wrong() -> None:
    e = _err(parse_cccd, "07908234694")
    assert e.key == "id.cccd_length" and e.params == {"got": 11}
    assert "12" in e.message("vi") and "11" in e.message("vi")
    e = _err(parse_cccd, "0790823469a2")
    assert e.key == "id.cccd_non_digit" and e.params == {"position": 11, "char": "a"}
    e = _err(parse_cccd, "003082346942")
    assert e.key == "id.cccd_province" and "003" in e.message("vi") and "003" in e.message("en")
    # digit 4 = 2 means born 2000-2099, but the birth date is in 1982
    e = _err(parse_cccd, "079282346942", date(1982, 6, 12), today=TODAY)
    assert e.key == "id.cccd_century"
    assert e.message("en") == "Digit 4 is 2, meaning born in 2000-2099, but the date of birth is 1982-06-12."
    e = _err(parse_cccd, "079083346942", date(1982, 6, 12), today=TODAY)
    assert e.key == "id.cccd_birth_year" and e.params == {"digits": "83", "year": 1982}
    e = _err(parse_cccd, "079227346942", today=TODAY)  # born 2027: not yet
    assert e.key == "id.cccd_future_birth" and e.params["year"] == 2027
    assert parse_cccd("079226346942", today=TODAY).value == "079226346942"
    assert _err(parse_cccd, "   ").key == "id.empty"
    for err in (_err(parse_cccd, "003082346942"), _err(parse_cccd, "0790823469a2")):
        assert unicodedata.is_normalized("NFC", err.message("vi"))


# --- passport -------------------------------------------------------------------------------------


def test_passport() -> None:
    p = parse_passport("c 1234567", "vnm")
    assert (p.kind, p.value, p.issuing_state) == (IdKind.PASSPORT, "C1234567", "VNM")
    assert parse_passport("L898902C3", "UTO").value == "L898902C3"
    assert parse_passport("C01X00T47", "D<<").issuing_state == "D"
    assert _err(parse_passport, "C12345678", "VNM").key == "id.passport_vn_format"
    assert _err(parse_passport, "1234567A", "VNM").key == "id.passport_vn_format"
    e = _err(parse_passport, "L898902C3X", "UTO")
    assert e.key == "id.passport_length" and e.params["got"] == 10
    e = _err(parse_passport, "L8989-02C", "UTO")
    assert e.key == "id.passport_chars" and e.params == {"position": 6, "char": "-"}
    assert _err(parse_passport, "L898902C3", "VN").key == "id.passport_state"
    assert _err(parse_passport, "L898902C3", "").key == "id.passport_state_required"


# --- tax code -------------------------------------------------------------------------------------


def _mst_check(first9: str) -> int | None:
    """Independent statement of the check-digit formula (see identifiers.py for the source)."""
    w = [31, 29, 23, 19, 17, 13, 7, 5, 3]
    c = 10 - sum(int(d) * k for d, k in zip(first9, w, strict=True)) % 11
    return None if c == 10 else c


@pytest.mark.parametrize("code", ["0100107518", "0100109106", "0300588569", "0101248141", "0100112437",
                                  "0317273020"])
def test_published_tax_codes_are_valid(code: str) -> None:
    assert parse_tax_code(code).value == code
    assert tax_check_digit(code[:9]) == int(code[9])


def test_tax_check_digit_matches_formula_on_many_prefixes() -> None:
    unassignable = 0
    for n in range(0, 10**9, 7_919_137):
        prefix = f"{n:09d}"
        assert tax_check_digit(prefix) == _mst_check(prefix)
        valid = [d for d in range(10) if _ok(prefix + str(d))]
        expected = _mst_check(prefix)
        assert valid == ([] if expected is None else [expected])
        unassignable += expected is None
    assert unassignable > 0  # the sample does contain prefixes for which no code exists


def _ok(code: str) -> bool:
    try:
        parse_tax_code(code)
        return True
    except KioskError:
        return False


def test_tax_code_errors() -> None:
    assert parse_tax_code("0100107518-001").value == "0100107518-001"
    assert parse_tax_code(" 0100107518 - 999 ").value == "0100107518-999"
    e = _err(parse_tax_code, "0100107519")
    assert e.key == "id.tax_code_check_digit" and e.params == {"got": "9", "expected": 8}
    e = _err(parse_tax_code, "0100107518001")
    assert e.key == "id.tax_code_dash" and "0100107518-001" in e.message("vi")
    assert _err(parse_tax_code, "0100107518-000").key == "id.tax_code_branch"
    assert _err(parse_tax_code, "0100107518-01").key == "id.tax_code_format"
    assert _err(parse_tax_code, "010010751-8001").key == "id.tax_code_format"
    assert _err(parse_tax_code, "010010751").params == {"got": 9}
    assert _err(parse_tax_code, "079082346942").key == "id.tax_code_personal"
    e = _err(parse_tax_code, "01001O7518")
    assert e.key == "id.tax_code_non_digit" and e.params == {"position": 6, "char": "O"}
    prefix = next(f"{n:09d}" for n in range(10**6) if _mst_check(f"{n:09d}") is None)
    for d in "0123456789":
        assert _err(parse_tax_code, prefix + d).key == "id.tax_code_unassignable"


# --- agency code ----------------------------------------------------------------------------------


def test_agency_code() -> None:
    for code in ("000.00.00.H29", "000.00.04.G14", "001.01.01.G01", "G01", "H55.242", "g01.xxx"):
        ident = parse_agency_code(code)
        assert ident.kind is IdKind.AGENCY_CODE and ident.value == code.upper()
    assert describe(parse_agency_code("000.00.31.H29")) == {"level1": "H29", "level2": "31", "level3": "00",
                                                             "level4": "000"}
    assert describe(parse_agency_code("H55.242")) == {"level1": "H55", "level2": "242"}
    assert _err(parse_agency_code, "000.00.00.29").key == "id.agency_code_level1"
    assert _err(parse_agency_code, "000.00.00.HH9").params == {"got": "HH9"}
    assert _err(parse_agency_code, "0000.00.00.H29").key == "id.agency_code_format"
    assert _err(parse_agency_code, "H29..01").key == "id.agency_code_format"
    assert _err(parse_agency_code, "GG1.01").key == "id.agency_code_level1"
    assert _err(parse_agency_code, "G01/01").params == {"position": 4, "char": "/"}
    assert _err(parse_agency_code, "G01." + "1" * 40).key == "id.agency_code_length"


# --- auto-detection -------------------------------------------------------------------------------


def test_parse_any_detects_the_kind() -> None:
    assert parse_any("079082346942", today=TODAY).kind is IdKind.CCCD
    assert parse_any("0100107518").kind is IdKind.TAX_CODE
    assert parse_any("0100107518-001").kind is IdKind.TAX_CODE
    assert parse_any("000.00.00.H29").kind is IdKind.AGENCY_CODE
    assert parse_any("G01").kind is IdKind.AGENCY_CODE
    assert parse_any("C1234567", issuing_state="VNM").kind is IdKind.PASSPORT
    assert _err(parse_any, "C1234567").key == "id.passport_state_required"
    assert _err(parse_any, "012345678").key == "id.cccd_old_cmnd"
    assert _err(parse_any, "0100107518001").key == "id.tax_code_dash"
    assert _err(parse_any, "12345").key == "id.unrecognised"
    assert _err(parse_any, "079282346942", birth_date=date(1982, 6, 12), today=TODAY).key == "id.cccd_century"
    assert _err(parse_any, "").key == "id.empty"


# --- CLI ------------------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    rc = main(["id", "check", *argv])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 1
    return rc, json.loads(lines[0]), err


def test_cli_check(capsys: pytest.CaptureFixture[str]) -> None:
    rc, obj, _ = _run(capsys, "079 082 346 942", "--birth-date", "1982-06-12")
    assert rc == 0
    assert obj == {"kind": "cccd", "value": "079082346942",
                   "info": {"province_code": "079", "province_name": "Hồ Chí Minh", "sex": "M",
                            "birth_century": 1900, "birth_year_2d": 82, "birth_year": 1982}}
    rc, obj, _ = _run(capsys, "c1234567", "--kind", "passport", "--state", "VNM")
    assert (rc, obj["value"], obj["issuing_state"]) == (0, "C1234567", "VNM")
    rc, obj, err = _run(capsys, "0100107519", "--kind", "tax_code")
    assert rc == 1 and obj["error"] == "id.tax_code_check_digit"
    assert obj["message_vi"] == (
        "Mã số thuế sai chữ số kiểm tra: chữ số thứ 10 là 9, theo 9 chữ số đầu phải là 8.")
    assert obj["message_en"] == "Wrong tax code check digit: digit 10 is 9, the first 9 digits require 8."
    assert err.strip().splitlines()[-1] == f"kiosk: {obj['message_en']}"
    rc, obj, _ = _run(capsys, "079282346942", "--kind", "cccd", "--birth-date", "1982-06-12")
    assert rc == 1 and obj["error"] == "id.cccd_century"
    rc, obj, _ = _run(capsys, "000.00.00.H29", "--kind", "agency_code")
    assert rc == 0 and obj["info"]["level1"] == "H29"  # type: ignore[index]
