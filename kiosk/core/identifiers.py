"""Parsers for applicant identifiers (R1): CCCD personal ID, passport number, tax code, agency code.

Every parser returns an ``Identifier`` in canonical form or raises ``KioskError("id.<reason>", ...)`` whose
message (Vietnamese and English, in ``kiosk/data/messages.toml``) says exactly what is wrong. Pure code:
no I/O, no logging of the values.

Sources of the rules:
- CCCD / personal ID number (số định danh cá nhân): Decree 137/2015/NĐ-CP Art. 13 and Circular
  07/2016/TT-BCA Art. 7 - 12 digits: 3-digit province code of the birth registration (table in
  ``kiosk.core.provinces``), 1 digit for century and sex (0/1 born 1900-1999 male/female, 2/3 2000-2099,
  4/5 2100-2199, 6/7 2200-2299, 8/9 2300-2399), 2 digits for the last two digits of the birth year and
  6 random digits. There is no check digit.
- Passport number: ICAO Doc 9303 - the document number field holds up to 9 characters A-Z and 0-9 (a
  longer number continues in the optional data, which manual entry does not support). Vietnamese
  passports: one letter and 7 digits (e.g. C1234567, N1234567).
- Tax code (mã số thuế): structure N1N2N3N4N5N6N7N8N9N10 - N11N12N13 from Circular 105/2020/TT-BTC Art. 5,
  kept by Circular 86/2024/TT-BTC: 10 digits, N10 a check digit; dependent units (branches) add a dash and
  a 3-digit serial 001-999. The circulars name N10 the check digit but do not print its formula. The
  formula below is the one public validators implement (we found no official text of it):
  N10 = 10 - (31*N1 + 29*N2 + 23*N3 + 19*N4 + 17*N5 + 13*N6 + 7*N7 + 5*N8 + 3*N9) mod 11, where a result
  of 10 cannot be written as one digit, so we treat such a code as never issued (invalid). It agrees with
  published codes: 0100107518 (Vietnam Airlines), 0100109106 (Viettel), 0300588569 (Vinamilk),
  0101248141 (FPT), 0100112437 (Vietcombank), 0317273020 (remainder 10 -> check digit 0).
  A 13-digit code is only accepted in the official written form with the dash (``0100107518-001``); 13
  digits without the dash are rejected with a message showing the dashed form, because the circular
  defines the dash as part of the code and the bare form is ambiguous with other 13-digit numbers.
  Since 1 July 2025 individuals use their 12-digit personal ID as tax code (Circular 86/2024/TT-BTC);
  such input is identified as a CCCD.
- Agency code (mã định danh điện tử của cơ quan, tổ chức): two written forms are in official use and both
  are accepted (format check only; the catalogue of issued codes is the back end's business):
  the QCVN 102:2016/BTTTT form ``DDD.DD.DD.XDD`` (level 4.3.2.1, unused levels zero, e.g. ``000.00.00.H29``,
  used in document exchange and in TTHC codes such as ``1.000000.000.00.00.H29``), and the Decision
  20/2020/QĐ-TTg form that starts from the level-1 code, ``XDD[.segment...]`` (e.g. ``G01``, ``H55.242``),
  at most 35 characters. The level-1 code is one letter for the group (G ministries, H provincial people's
  committees, ...) and two digits. The decision's own text could not be consulted while writing this; the
  second form and its 35-character limit come from codes seen in use and secondary descriptions, so the
  check on the lower-level segments is deliberately loose (1-10 characters A-Z/0-9 each).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from kiosk.core.applicant import Identifier, IdKind
from kiosk.core.provinces import PROVINCES
from kiosk.errors import KioskError
from kiosk.messages import t

DIGITS = "0123456789"
_WS = re.compile(r"\s+")

# Century and sex digit (digit 4 of the CCCD number): digit // 2 gives the century index from 1900.
CENTURY_STARTS = (1900, 2000, 2100, 2200, 2300)

TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)
AGENCY_MAX_LENGTH = 35
_AGENCY_QCVN = re.compile(r"(\d{3})\.(\d{2})\.(\d{2})\.([A-Z]\d{2})")
_AGENCY_QD20 = re.compile(r"([A-Z]\d{2})((?:\.[A-Z0-9]{1,10})*)")
_VN_PASSPORT = re.compile(r"[A-Z]\d{7}")
PASSPORT_MIN_LENGTH = 5
PASSPORT_MAX_LENGTH = 9


class CausedKioskError(KioskError):
    """A KioskError that wraps a more precise one; the message is "outer: inner" in the same language."""

    def __init__(self, key: str, cause: KioskError, /, **params: Any) -> None:
        self.cause = cause
        super().__init__(key, **params)

    def message(self, lang: str = "vi") -> str:
        return f"{t(self.key, lang, **self.params)}: {self.cause.message(lang)}"

    def log_text(self) -> str:
        return f"{self.key}<-{self.cause.log_text()}"


@dataclass(frozen=True)
class CccdInfo:
    """What the digits of a CCCD number say (no personal data beyond what the number encodes)."""

    province_code: str
    province_name: str
    sex: str            # "M" or "F" (ICAO letters)
    birth_century: int  # first year of the century: 1900 for people born 1900-1999
    birth_year_2d: int  # last two digits of the birth year

    @property
    def birth_year(self) -> int:
        return self.birth_century + self.birth_year_2d


def _compact(text: str) -> str:
    """The input without any whitespace (people type ID numbers in groups: ``079 123 456 789``)."""
    return _WS.sub("", text or "")


def _first_not_in(value: str, allowed: str) -> tuple[int, str] | None:
    for i, ch in enumerate(value, 1):
        if ch not in allowed:
            return i, ch
    return None


# --- CCCD -----------------------------------------------------------------------------------------


def decode_cccd(value: str) -> CccdInfo:
    """Decode a 12-digit CCCD number (whitespace allowed). Raises KioskError when the format is wrong or
    the province code is not in the table."""
    digits = _compact(value)
    if not digits:
        raise KioskError("id.empty")
    bad = _first_not_in(digits, DIGITS)
    if bad:
        raise KioskError("id.cccd_non_digit", position=bad[0], char=bad[1])
    if len(digits) != 12:
        raise KioskError("id.cccd_length", got=len(digits))
    code = digits[:3]
    name = PROVINCES.get(code)
    if name is None:
        raise KioskError("id.cccd_province", code=code)
    gs = int(digits[3])
    return CccdInfo(province_code=code, province_name=name, sex="F" if gs % 2 else "M",
                    birth_century=CENTURY_STARTS[gs // 2], birth_year_2d=int(digits[4:6]))


def parse_cccd(text: str, birth_date: date | None = None, *, today: date | None = None) -> Identifier:
    """A 12-digit personal ID number. With ``birth_date`` the century/sex digit (4) and the birth-year
    digits (5-6) must agree with it; in any case the encoded birth year must not be in the future."""
    digits = _compact(text)
    info = decode_cccd(digits)
    today = today or date.today()
    if birth_date is not None:
        if not info.birth_century <= birth_date.year <= info.birth_century + 99:
            raise KioskError("id.cccd_century", digit=digits[3], first=info.birth_century,
                             last=info.birth_century + 99, birth_date=birth_date.isoformat())
        if birth_date.year % 100 != info.birth_year_2d:
            raise KioskError("id.cccd_birth_year", digits=digits[4:6], year=birth_date.year)
    if info.birth_year > today.year:
        raise KioskError("id.cccd_future_birth", digits=digits[3:6], year=info.birth_year)
    return Identifier(IdKind.CCCD, digits)


# --- Passport -------------------------------------------------------------------------------------


def normalise_state(state: str) -> str:
    """An ICAO 3-letter state code in canonical form (Germany's ``D`` / ``D<<`` -> ``D``)."""
    code = _compact(state).upper().rstrip("<")
    if code == "D" or re.fullmatch(r"[A-Z]{3}", code):
        return code
    raise KioskError("id.passport_state", state=state.strip())


def parse_passport(text: str, issuing_state: str) -> Identifier:
    """A passport number (ICAO document number, 5-9 characters A-Z/0-9, upper-cased) and its state."""
    state = normalise_state(issuing_state) if issuing_state and issuing_state.strip() else None
    if state is None:
        raise KioskError("id.passport_state_required")
    number = _compact(text).upper()
    if not number:
        raise KioskError("id.empty")
    bad = _first_not_in(number, DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    if bad:
        raise KioskError("id.passport_chars", position=bad[0], char=bad[1])
    if not PASSPORT_MIN_LENGTH <= len(number) <= PASSPORT_MAX_LENGTH:
        raise KioskError("id.passport_length", got=len(number), low=PASSPORT_MIN_LENGTH,
                         high=PASSPORT_MAX_LENGTH)
    if state == "VNM" and not _VN_PASSPORT.fullmatch(number):
        raise KioskError("id.passport_vn_format")
    return Identifier(IdKind.PASSPORT, number, issuing_state=state)


# --- Tax code -------------------------------------------------------------------------------------


def tax_check_digit(first9: str) -> int | None:
    """The check digit N10 for the first nine digits, or None when no digit fits (10 - r == 10)."""
    if len(first9) != 9 or _first_not_in(first9, DIGITS):
        raise ValueError("tax_check_digit needs 9 digits")
    r = sum(int(d) * w for d, w in zip(first9, TAX_WEIGHTS, strict=True)) % 11
    check = 10 - r
    return None if check == 10 else check


def parse_tax_code(text: str) -> Identifier:
    """An organisation's tax code: ``NNNNNNNNNN`` or ``NNNNNNNNNN-NNN`` (branch 001-999)."""
    code = _compact(text)
    if not code:
        raise KioskError("id.empty")
    bad = _first_not_in(code, DIGITS + "-")
    if bad:
        raise KioskError("id.tax_code_non_digit", position=bad[0], char=bad[1])
    if "-" in code:
        base, _, branch = code.partition("-")
        if len(base) != 10 or len(branch) != 3 or "-" in branch:
            raise KioskError("id.tax_code_format")
    else:
        if len(code) == 13:
            raise KioskError("id.tax_code_dash", base=code[:10], branch=code[10:])
        if len(code) == 12:
            raise KioskError("id.tax_code_personal")
        if len(code) != 10:
            raise KioskError("id.tax_code_length", got=len(code))
        base, branch = code, ""
    expected = tax_check_digit(base[:9])
    if expected is None:
        raise KioskError("id.tax_code_unassignable")
    if int(base[9]) != expected:
        raise KioskError("id.tax_code_check_digit", got=base[9], expected=expected)
    if branch == "000":
        raise KioskError("id.tax_code_branch", branch=branch)
    return Identifier(IdKind.TAX_CODE, f"{base}-{branch}" if branch else base)


# --- Agency code ----------------------------------------------------------------------------------


def parse_agency_code(text: str) -> Identifier:
    """A state agency's electronic identifier code (format check, see the module docstring)."""
    code = _compact(text).upper()
    if not code:
        raise KioskError("id.empty")
    bad = _first_not_in(code, DIGITS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ.")
    if bad:
        raise KioskError("id.agency_code_chars", position=bad[0], char=bad[1])
    if len(code) > AGENCY_MAX_LENGTH:
        raise KioskError("id.agency_code_length", got=len(code), limit=AGENCY_MAX_LENGTH)
    if _AGENCY_QCVN.fullmatch(code) or _AGENCY_QD20.fullmatch(code):
        return Identifier(IdKind.AGENCY_CODE, code)
    parts = code.split(".")
    if code[0] in DIGITS:  # meant as the QCVN form: the level-1 code is the last part
        if len(parts) == 4 and all(parts[:3]) and not re.fullmatch(r"[A-Z]\d{2}", parts[3]):
            raise KioskError("id.agency_code_level1", got=parts[3])
        raise KioskError("id.agency_code_format")
    if not re.fullmatch(r"[A-Z]\d{2}", parts[0]):
        raise KioskError("id.agency_code_level1", got=parts[0])
    raise KioskError("id.agency_code_format")


def agency_code_levels(value: str) -> dict[str, str]:
    """The level codes of a valid agency code, level 1 first: ``{"level1": "H29", "level2": "00", ...}``."""
    m = _AGENCY_QCVN.fullmatch(value)
    parts = [m.group(4), m.group(3), m.group(2), m.group(1)] if m else value.split(".")
    return {f"level{i}": p for i, p in enumerate(parts, 1)}


# --- Auto-detection for manual entry --------------------------------------------------------------


def parse_any(text: str, *, birth_date: date | None = None, issuing_state: str | None = None,
              today: date | None = None) -> Identifier:
    """Detect the kind of a typed identifier and parse it.

    Digits only: 12 -> CCCD, 10 or 13 -> tax code, 9 -> an old CMND number (rejected with a hint).
    Digits with a dash -> tax code with branch. Containing a dot -> agency code. Letters and digits ->
    passport when ``issuing_state`` is given, agency code when it has the level-1 form (``G01``),
    otherwise the issuing state is asked for."""
    code = _compact(text)
    if not code:
        raise KioskError("id.empty")
    if not _first_not_in(code, DIGITS):
        if len(code) == 12:
            return parse_cccd(code, birth_date, today=today)
        if len(code) in (10, 13):
            return parse_tax_code(code)
        if len(code) == 9:
            raise KioskError("id.cccd_old_cmnd", got=9)
        raise KioskError("id.unrecognised", got=len(code))
    if not _first_not_in(code, DIGITS + "-"):
        return parse_tax_code(code)
    if "." in code:
        return parse_agency_code(code)
    if issuing_state:
        return parse_passport(code, issuing_state)
    if _AGENCY_QD20.fullmatch(code.upper()):
        return parse_agency_code(code)
    if re.fullmatch(r"[A-Za-z0-9]+", code):
        raise KioskError("id.passport_state_required")
    raise KioskError("id.unrecognised", got=len(code))


def describe(identifier: Identifier) -> dict[str, Any]:
    """Decoded information about a valid identifier, for display and the ``kiosk id check`` command."""
    if identifier.kind is IdKind.CCCD:
        info = decode_cccd(identifier.value)
        return {"province_code": info.province_code, "province_name": info.province_name,
                "sex": info.sex, "birth_century": info.birth_century, "birth_year_2d": info.birth_year_2d,
                "birth_year": info.birth_year}
    if identifier.kind is IdKind.TAX_CODE:
        base, _, branch = identifier.value.partition("-")
        return {"base": base, "branch": branch or None, "dependent_unit": bool(branch)}
    if identifier.kind is IdKind.AGENCY_CODE:
        return agency_code_levels(identifier.value)
    return {"issuing_state": identifier.issuing_state}
