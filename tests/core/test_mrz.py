"""ICAO 9303 MRZ parsing (TD1, TD2, TD3), Vietnamese ID-card rules, single-character mutations, CLI.

Valid MRZs are built here with a check-digit function written in this file (independent of the code
under test) or taken from the ICAO Doc 9303 specimens.
"""

from __future__ import annotations

import io
import json
import string
import subprocess
import sys
from datetime import date

import pytest

from kiosk.cli import main
from kiosk.core.applicant import IdKind, IdSource
from kiosk.core.mrz import check_digit, parse_mrz, to_party
from kiosk.errors import KioskError

TODAY = date(2026, 11, 25)
ALPHABET = string.ascii_uppercase + string.digits + "<"
VAL = {c: i for i, c in enumerate(string.digits)} | {c: 10 + i for i, c in enumerate(string.ascii_uppercase)}
VAL["<"] = 0

ICAO_TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6",
            "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]
ICAO_TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
VN_CARD = ["IDVNM1950012347070195001234<<8", "9503146F3503144VNM<<<<<<<<<<<2",
           "NGUYEN<<THI<MAI<<<<<<<<<<<<<<<"]


def cd(data: str) -> str:
    return str(sum(VAL[c] * (7, 3, 1)[i % 3] for i, c in enumerate(data)) % 10)


def td1(*, code: str = "I<", state: str = "UTO", number: str = "D23145890", opt1: str = "",
        birth: str = "740812", sex: str = "F", expiry: str = "120415", nat: str = "UTO", opt2: str = "",
        names: str = "ERIKSSON<<ANNA<MARIA") -> list[str]:
    if len(number) <= 9:
        num = number.ljust(9, "<") + cd(number.ljust(9, "<"))
    else:  # long document number: '<' in the check position, the rest and its check digit in opt1
        num = number[:9] + "<" + number[9:] + cd(number)
    l1 = (code + state + num + opt1).ljust(30, "<")
    l2 = birth + cd(birth) + sex + expiry + cd(expiry) + nat + opt2.ljust(11, "<")
    l2 += cd(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    return [l1, l2, names.ljust(30, "<")]


def vn_card(*, pid: str = "070195001234", number: str | None = None, last: str | None = None,
            birth: str = "950314", sex: str = "F", expiry: str = "350314", nat: str = "VNM",
            names: str = "NGUYEN<<THI<MAI") -> list[str]:
    opt1 = pid + "<<" + (cd(pid) if last is None else last)
    return td1(code="ID", state="VNM", number=number if number is not None else pid[3:], opt1=opt1,
               birth=birth, sex=sex, expiry=expiry, nat=nat, names=names)


def td3(*, state: str = "UTO", names: str = "ERIKSSON<<ANNA<MARIA", number: str = "L898902C3",
        nat: str = "UTO", birth: str = "740812", sex: str = "F", expiry: str = "120415",
        personal: str = "ZE184226B") -> list[str]:
    l1 = ("P<" + state + names).ljust(44, "<")
    num = number.ljust(9, "<")
    pers = personal.ljust(14, "<")
    l2 = (num + cd(num) + nat + birth + cd(birth) + sex + expiry + cd(expiry) + pers
          + (cd(pers) if personal else "<"))
    l2 += cd(l2[0:10] + l2[13:20] + l2[21:43])
    return [l1, l2]


def test_builders_reproduce_the_specimens() -> None:
    assert td1() == ICAO_TD1
    assert td3() == ICAO_TD3
    assert vn_card() == VN_CARD  # the made-up CCCD of the brief is consistent
    assert all(check_digit(s) == int(cd(s)) for s in ("D23145890", "740812", "070195001234", "<<<"))


# --- valid documents ------------------------------------------------------------------------------


def test_icao_td1_specimen() -> None:
    r = parse_mrz("\n".join(ICAO_TD1) + "\n", today=TODAY)
    assert r.valid and r.failed_checks == []
    assert (r.format, r.document_code, r.issuing_state, r.document_number, r.optional1) == (
        "TD1", "I", "UTO", "D23145890", "")
    assert (r.birth_date, r.sex, r.expiry_date, r.nationality, r.optional2) == (
        "1974-08-12", "F", "2012-04-15", "UTO", "")
    assert (r.surname, r.given_names, r.personal_id, r.expired) == ("ERIKSSON", "ANNA MARIA", None, True)


def test_icao_td3_specimen() -> None:
    r = parse_mrz(ICAO_TD3, today=TODAY)
    assert r.valid, r.failed_checks
    assert (r.format, r.document_code, r.issuing_state, r.document_number, r.nationality) == (
        "TD3", "P", "UTO", "L898902C3", "UTO")
    assert (r.birth_date, r.sex, r.expiry_date, r.optional1) == ("1974-08-12", "F", "2012-04-15", "ZE184226B")
    assert (r.surname, r.given_names) == ("ERIKSSON", "ANNA MARIA")


def test_vietnamese_card() -> None:
    r = parse_mrz(VN_CARD, today=TODAY)
    assert r.valid, r.failed_checks
    assert (r.document_code, r.issuing_state, r.document_number, r.personal_id) == (
        "ID", "VNM", "195001234", "070195001234")
    assert (r.birth_date, r.sex, r.expiry_date, r.surname, r.given_names) == (
        "1995-03-14", "F", "2035-03-14", "NGUYEN", "THI MAI")
    assert r.vietnamese_id_card and r.expired is False
    # the last character of line 1 may be the filler instead of the check digit over the ID
    r2 = parse_mrz(vn_card(last="<"), today=TODAY)
    assert r2.valid and r2.optional1 == "070195001234" and r2.personal_id == "070195001234"


def test_two_digit_year_pivot_is_the_current_year() -> None:
    # born 2026 (YY 26 = current YY) and 1927 (YY 27 > 26); expiry always 20YY
    r = parse_mrz(td1(birth="260101", expiry="990101"), today=TODAY)
    assert (r.birth_date, r.expiry_date) == ("2026-01-01", "2099-01-01")
    assert parse_mrz(td1(birth="270101"), today=TODAY).birth_date == "1927-01-01"
    assert parse_mrz(td1(birth="270101"), today=date(2027, 1, 1)).birth_date == "2027-01-01"
    assert parse_mrz(td1(expiry="500101"), today=TODAY).expiry_date == "2050-01-01"


def test_long_document_number_td1_and_td2() -> None:
    r = parse_mrz(td1(number="D23145890123", opt1=""), today=TODAY)
    assert r.valid and r.document_number == "D23145890123" and r.optional1 == ""
    l2 = "AB1234567" + "<"
    l1 = "I<UTOSMITH<<JOHN".ljust(36, "<")
    body = (l2 + "UTO" + "740812" + cd("740812") + "M" + "300101" + cd("300101")
            + ("89" + cd("AB123456789")).ljust(7, "<"))
    line2 = body + cd(body[0:10] + body[13:20] + body[21:35])
    r2 = parse_mrz([l1, line2], today=TODAY)
    assert r2.format == "TD2" and r2.valid, r2.failed_checks
    assert (r2.document_number, r2.surname, r2.given_names, r2.sex) == ("AB123456789", "SMITH", "JOHN", "M")


# --- defects --------------------------------------------------------------------------------------


def test_defects_give_named_checks_and_no_silent_correction() -> None:
    lower = [ICAO_TD1[0], ICAO_TD1[1], "ERIKSSON<<Anna<MARIA<<<<<<<<<<"]
    r = parse_mrz(lower, today=TODAY)
    assert not r.valid and "charset" in r.failed_checks
    assert r.given_names == "Anna MARIA"  # reported as read, not corrected
    assert r.suggestion == "line 3 position 12: 'n' -> 'N'; line 3 position 13: 'n' -> 'N'; " \
                           "line 3 position 14: 'a' -> 'A'"
    assert VN_CARD[1][2] == "0"
    o_for_0 = [VN_CARD[0], VN_CARD[1][:2] + "O" + VN_CARD[1][3:], VN_CARD[2]]
    r = parse_mrz(o_for_0, today=TODAY)
    assert not r.valid and r.failed_checks[0] == "birth_date_format" and r.birth_date is None
    assert r.suggestion == "line 2 position 3: 'O' -> '0'"
    r = parse_mrz([ICAO_TD1[0], ICAO_TD1[1] + "<", ICAO_TD1[2]], today=TODAY)
    assert not r.valid and r.failed_checks == ["line_length"]
    r = parse_mrz([ICAO_TD1[0], ICAO_TD1[1], ICAO_TD1[2][:29]], today=TODAY)
    assert not r.valid and r.failed_checks == ["line_length"]
    bad_cd = [ICAO_TD1[0][:14] + "8" + ICAO_TD1[0][15:], ICAO_TD1[1], ICAO_TD1[2]]
    assert parse_mrz(bad_cd, today=TODAY).failed_checks == ["document_number", "composite"]
    bad_month = td1(birth="741312")
    assert parse_mrz(bad_month, today=TODAY).failed_checks == ["birth_date_format"]


@pytest.mark.parametrize("text", ["", "IDVNM", "\n".join(ICAO_TD1 + ICAO_TD1[:1]),
                                  "\n".join([ICAO_TD1[0], ICAO_TD1[1], "ERIKSSON<<ANNA"])])
def test_not_an_mrz(text: str) -> None:
    with pytest.raises(KioskError) as info:
        parse_mrz(text, today=TODAY)
    assert info.value.key in ("id.mrz_unreadable", "id.mrz_unreadable_length")


def test_vietnamese_rules() -> None:
    def checks(lines: list[str]) -> list[str]:
        return parse_mrz(lines, today=TODAY).failed_checks

    # all check digits consistent, but the document number is not the last 9 digits of the ID
    assert checks(vn_card(number="195001235")) == ["cccd_document_number"]
    assert checks(vn_card(last="7")) == ["cccd_check_digit"]                 # ID check digit is 8
    assert checks(vn_card(pid="003195001234")) == ["cccd_id"]                # no province 003
    assert checks(vn_card(pid="070395001234")) == ["cccd_id"]                # digit 4 = 3: 2000s
    assert checks(vn_card(pid="070196001234")) == ["cccd_id"]                # year digits 96 vs 1995
    assert checks(vn_card(sex="M")) == ["cccd_sex"]                          # digit 4 = 1: female
    assert checks(vn_card(nat="UTO")) == ["cccd_nationality"]
    assert checks(vn_card(pid="07019500123A", number="19500123A")) == [
        "cccd_id", "cccd_document_number", "cccd_check_digit"]


# --- single-character mutations -------------------------------------------------------------------


def _mutate(lines: list[str], li: int, ci: int, ch: str) -> list[str]:
    out = list(lines)
    out[li] = out[li][:ci] + ch + out[li][ci + 1:]
    return out


def _classify(lines: list[str], full: set[tuple[int, int]], alnum: set[tuple[int, int]],
              doc_number: tuple[int, int, int]) -> None:
    """full: every other character is detected; alnum: detected unless the ICAO values differ by a
    multiple of 10 (then invisible to check digits, except '<' inside the document number, which the
    format check catches); everything else: not protected by any check digit."""
    assert parse_mrz(lines, today=TODAY).valid
    unprotected_seen = 0
    for li, line in enumerate(lines):
        for ci, orig in enumerate(line):
            for ch in ALPHABET.replace(orig, ""):
                r = parse_mrz(_mutate(lines, li, ci, ch), today=TODAY)
                where = f"line {li + 1} position {ci + 1}: {orig!r} -> {ch!r}"
                if (li, ci) in full:
                    assert not r.valid and r.failed_checks, where
                elif (li, ci) in alnum:
                    dl, d0, d1 = doc_number
                    inner_filler = (ch == "<" and li == dl and d0 <= ci < d1
                                    and line[ci + 1:d1].strip("<") != "")
                    if (VAL[ch] - VAL[orig]) % 10 and not inner_filler:
                        assert not r.valid and r.failed_checks, where
                    elif not inner_filler:
                        assert r.valid, where  # the documented blind spot of mod-10 check digits
                else:
                    unprotected_seen += r.valid
    assert unprotected_seen > 0


def _cells(line: int, *ranges: range | int) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for r in ranges:
        out |= {(line, i) for i in ([r] if isinstance(r, int) else r)}
    return out


def test_every_position_of_the_td1_specimen() -> None:
    # 1-based: line 1 pos 15; line 2 pos 1-7, 9-15, 30 are fully protected (numeric fields);
    # line 1 pos 6-14 and 16-30, line 2 pos 19-29 are under check digits but hold letters or fillers;
    # line 1 pos 1-5, line 2 pos 8 and 16-18, and line 3 are under no check digit.
    full = _cells(0, 14) | _cells(1, range(0, 7), range(8, 15), 29)
    alnum = _cells(0, range(5, 14), range(15, 30)) | _cells(1, range(18, 29))
    _classify(ICAO_TD1, full, alnum, (0, 5, 14))
    # each unprotected position can indeed change undetected
    for li, ci, ch in [(0, 0, "C"), (0, 1, "D"), (0, 2, "V"), (0, 3, "S"), (0, 4, "A"), (1, 7, "M"),
                       (1, 15, "V"), (1, 16, "N"), (1, 17, "M"), (2, 0, "A"), (2, 29, "X")]:
        assert parse_mrz(_mutate(ICAO_TD1, li, ci, ch), today=TODAY).valid


def test_every_position_of_the_vietnamese_card() -> None:
    # The Vietnamese rules protect every position of line 1 from 6 to 30 and line 2 from 1 to 18 and
    # 30; line 2 pos 19-29 (optional data, fillers) only by the composite; line 1 pos 1-5 and line 3
    # are not protected.
    full = _cells(0, range(5, 30)) | _cells(1, range(0, 18), 29)
    alnum = _cells(1, range(18, 29))
    _classify(VN_CARD, full, alnum, (0, 5, 14))


def test_every_position_of_the_td3_specimen() -> None:
    full = _cells(1, 9, range(13, 20), range(21, 28), 42, 43)
    alnum = _cells(1, range(0, 9), range(28, 42))
    _classify(ICAO_TD3, full, alnum, (1, 0, 9))


# --- applicant ------------------------------------------------------------------------------------


def test_to_party() -> None:
    p = to_party(parse_mrz(VN_CARD, today=TODAY))
    assert (p.identifier.kind, p.identifier.value, p.source) == (
        IdKind.CCCD, "070195001234", IdSource.CHIP_MRZ)
    assert (p.full_name, p.birth_date, p.sex) == ("NGUYEN THI MAI", date(1995, 3, 14), "F")
    p = to_party(parse_mrz(ICAO_TD3, today=TODAY))
    assert (p.identifier.kind, p.identifier.value, p.identifier.issuing_state, p.source) == (
        IdKind.PASSPORT, "L898902C3", "UTO", IdSource.PASSPORT_MRZ)
    vn_pp = td3(state="VNM", nat="VNM", number="C1234567", birth="950314", expiry="350314",
                personal="070195001234", names="NGUYEN<<THI<MAI")
    p = to_party(parse_mrz(vn_pp, today=TODAY))
    assert (p.identifier.kind, p.identifier.value, p.source) == (IdKind.CCCD, "070195001234",
                                                                 IdSource.PASSPORT_MRZ)
    assert parse_mrz(td3(state="VNM", number="C12345678"), today=TODAY).failed_checks == [
        "document_number_format"]
    with pytest.raises(KioskError) as info:
        to_party(parse_mrz(vn_card(sex="M"), today=TODAY))
    assert info.value.key == "id.mrz_invalid" and "cccd_sex" in info.value.message("en")
    with pytest.raises(KioskError) as info:
        to_party(parse_mrz(ICAO_TD1, today=TODAY))
    assert info.value.key == "id.mrz_unsupported_document"


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_mrz(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(VN_CARD) + "\n"))
    assert main(["id", "mrz"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["valid"] is True and obj["failed_checks"] == [] and obj["personal_id"] == "070195001234"
    assert (obj["birth_date"], obj["expiry_date"], obj["given_names"]) == (
        "1995-03-14", "2035-03-14", "THI MAI")
    # an invalid MRZ is still a successful read: exit 0, valid false
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(vn_card(sex="M"))))
    assert main(["id", "mrz"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["valid"] is False and obj["failed_checks"] == ["cccd_sex"]


def test_cli_mrz_unreadable_exit_status() -> None:
    proc = subprocess.run([sys.executable, "-m", "kiosk.cli", "id", "mrz"], input="NOT AN MRZ\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines()[0] == (
        "kiosk: Cannot read an MRZ: expected 3 lines (ID card) or 2 lines (passport), got 1.")
    proc = subprocess.run([sys.executable, "-m", "kiosk.cli", "id", "mrz"], input="\n".join(ICAO_TD3),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["valid"] is True
