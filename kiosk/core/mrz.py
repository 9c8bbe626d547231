"""ICAO Doc 9303 machine-readable zones: TD1 (ID cards, 3 x 30), TD2 (2 x 36) and TD3 (passports, 2 x 44).

``parse_mrz`` never corrects the input: a lowercase letter, a letter O in a numeric field, a wrong line
length or a failing check digit all give ``valid = False`` with the names of the failed checks. It may
add a ``suggestion`` (the positions to change) when a corrected reading would pass every check.

Check digits (Doc 9303 Part 3, 4.9): weights 7, 3, 1 repeating; ``<`` = 0, digits at face value,
A-Z = 10-35; the check digit is the sum modulo 10. Consequences worth knowing:
- a change that alters a character's value by a multiple of 10 is invisible to every check digit
  (``<`` and ``0`` are both 0; ``2``, ``C``, ``M``, ``W`` are 2, 12, 22, 32). In fields that may hold
  letters (document number, optional data) such a change is only caught by field-specific rules, e.g.
  the Vietnamese card's all-digit document number and ID;
- the document code, issuing state, sex, nationality and the names are outside every check digit.

Vietnamese chip ID cards (CCCD, ``IDVNM``): line 1 holds the last 9 digits of the 12-digit personal ID
as document number, then its check digit, then the whole 12-digit ID, two fillers, and in the last
position either a check digit over the 12-digit ID or the filler ``<`` (DESIGN R1). The extra checks
are ``cccd_document_number``, ``cccd_id`` (the ID passes ``parse_cccd`` with the MRZ birth date),
``cccd_check_digit``, ``cccd_optional_data``, ``cccd_sex`` (digit 4 of the ID against the sex field)
and ``cccd_nationality``.

Two-digit years: a birth year YY greater than the current year's YY means 19YY, otherwise 20YY; expiry
years are always 20YY.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date

from kiosk.core.applicant import Identifier, IdKind, IdSource, Party
from kiosk.core.identifiers import decode_cccd, parse_cccd
from kiosk.errors import KioskError

FILLER = "<"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
MRZ_CHARS = frozenset(LETTERS + DIGITS + FILLER)
LINE_LENGTHS = {"TD1": 30, "TD2": 36, "TD3": 44}
LINE_COUNTS = {"TD1": 3, "TD2": 2, "TD3": 2}
# A line this far from its format's length is not read as an MRZ at all (exit 1 in the CLI); closer
# than that it is parsed and reported with the failed check ``line_length``.
LENGTH_TOLERANCE = 2
_WEIGHTS = (7, 3, 1)
# Letters that OCR-B readers and people confuse with digits; only used to build a suggestion for
# positions that must hold a digit.
_DIGIT_LOOKALIKES = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "G": "6",
                     "B": "8"}


def char_value(ch: str) -> int | None:
    """The ICAO value of an MRZ character, or None for a character outside A-Z, 0-9 and '<'."""
    if ch == FILLER:
        return 0
    if ch in DIGITS:
        return ord(ch) - 48
    if ch in LETTERS:
        return ord(ch) - 55
    return None


def check_digit(data: str) -> int | None:
    """The ICAO 9303 check digit of ``data``, or None when it holds a character outside the MRZ set."""
    total = 0
    for i, ch in enumerate(data):
        v = char_value(ch)
        if v is None:
            return None
        total += v * _WEIGHTS[i % 3]
    return total % 10


@dataclass
class MrzResult:
    """A parsed MRZ. Text fields have fillers removed from their ends; in names inner fillers become
    single spaces. Dates are ISO strings (None when unreadable or, for expiry, not given). For TD3 the
    personal number is in ``optional1`` (``optional2`` stays empty)."""

    format: str
    valid: bool = False
    failed_checks: list[str] = field(default_factory=list)
    document_code: str = ""
    issuing_state: str = ""
    document_number: str = ""
    optional1: str = ""
    birth_date: str | None = None
    sex: str | None = None           # "M", "F", "X", or None for '<' (unspecified)
    expiry_date: str | None = None
    nationality: str = ""
    optional2: str = ""
    surname: str = ""
    given_names: str = ""
    personal_id: str | None = None   # 12-digit Vietnamese personal ID from the optional data
    vietnamese_id_card: bool = False
    expired: bool | None = None
    suggestion: str | None = None

    def fail(self, name: str) -> None:
        if name not in self.failed_checks:
            self.failed_checks.append(name)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _trim(value: str) -> str:
    return value.strip(FILLER)


def _names(raw: str) -> tuple[str, str]:
    body = raw.rstrip(FILLER)
    surname, sep, given = body.partition("<<")
    if not sep:
        given = ""

    def clean(part: str) -> str:
        return " ".join(w for w in part.split(FILLER) if w)

    return clean(surname), clean(given)


def _birth_year(yy: int, today: date) -> int:
    return 1900 + yy if yy > today.year % 100 else 2000 + yy


def _date(raw: str, *, birth: bool, today: date) -> date | None:
    if len(raw) != 6 or any(c not in DIGITS for c in raw):
        return None
    yy, mm, dd = int(raw[:2]), int(raw[2:4]), int(raw[4:6])
    year = _birth_year(yy, today) if birth else 2000 + yy
    try:
        return date(year, mm, dd)
    except ValueError:
        return None


class _Parser:
    """One parse of one MRZ reading; collects failed checks into ``self.r``."""

    def __init__(self, fmt: str, lines: list[str], today: date) -> None:
        self.fmt = fmt
        self.raw = lines
        self.today = today
        n = LINE_LENGTHS[fmt]
        self.r = MrzResult(format=fmt)
        if any(len(line) != n for line in lines):
            self.r.fail("line_length")
        if any(ch not in MRZ_CHARS for line in lines for ch in line):
            self.r.fail("charset")
        # Fields are read at their fixed positions; a short line is padded so that a reading with a
        # length defect still shows what it can (it is reported invalid above).
        self.lines = [(line + FILLER * n)[:n] for line in lines]

    # -- generic field checks --

    def check(self, name: str, data: str, cd: str) -> None:
        expected = check_digit(data)
        if expected is None or cd not in DIGITS or int(cd) != expected:
            self.r.fail(name)

    def document_code(self, code: str, first_allowed: str) -> None:
        self.r.document_code = _trim(code)
        if code[0] not in first_allowed or not (code[1] in LETTERS or code[1] == FILLER):
            self.r.fail("document_code")

    def state(self, name: str, raw: str) -> str:
        if raw[0] not in LETTERS or any(c not in LETTERS + FILLER for c in raw) or FILLER in raw.rstrip(
                FILLER):
            self.r.fail(name)
        return _trim(raw)

    def document_number(self, number: str, cd: str, extension: str | None) -> str:
        """Check the document number; ``extension`` is the optional data that continues a long number
        (TD1/TD2 when the check-digit position holds '<'). Returns the part of ``extension`` used."""
        used = ""
        if cd == FILLER and extension is not None and FILLER not in number:
            run = extension.split(FILLER, 1)[0]
            if not run:
                self.r.fail("document_number")
            else:
                used = run
                number, cd = number + run[:-1], run[-1]
        body = number.rstrip(FILLER)
        if not body or any(c not in LETTERS + DIGITS for c in body):
            self.r.fail("document_number_format")
        self.r.document_number = body
        self.check("document_number", number, cd)
        return used

    def dates_and_sex(self, birth: str, birth_cd: str, sex: str, expiry: str, expiry_cd: str) -> None:
        bd = _date(birth, birth=True, today=self.today)
        if bd is None:
            self.r.fail("birth_date_format")
        self.r.birth_date = bd.isoformat() if bd else None
        self.check("birth_date", birth, birth_cd)
        if sex not in "MFX<":
            self.r.fail("sex")
        self.r.sex = None if sex == FILLER else sex
        if expiry == FILLER * 6 and expiry_cd in (FILLER, "0"):
            self.r.expiry_date = None
        else:
            ed = _date(expiry, birth=False, today=self.today)
            if ed is None:
                self.r.fail("expiry_date_format")
            else:
                self.r.expiry_date = ed.isoformat()
                self.r.expired = ed < self.today
            self.check("expiry_date", expiry, expiry_cd)

    def names(self, raw: str) -> None:
        if any(c not in LETTERS + FILLER for c in raw) or not raw.strip(FILLER):
            self.r.fail("names")
        self.r.surname, self.r.given_names = _names(raw)

    # -- formats --

    def td1(self) -> MrzResult:
        l1, l2, l3 = self.lines
        self.document_code(l1[0:2], "ACI")
        self.r.issuing_state = self.state("issuing_state", l1[2:5])
        used = self.document_number(l1[5:14], l1[14], l1[15:30])
        self.r.optional1 = _trim(l1[15 + len(used):30])
        self.dates_and_sex(l2[0:6], l2[6], l2[7], l2[8:14], l2[14])
        self.r.nationality = self.state("nationality", l2[15:18])
        self.r.optional2 = _trim(l2[18:29])
        self.check("composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])
        self.names(l3)
        if l1[0] == "I" and l1[2:5] == "VNM":
            self.vietnamese_card(l1, l2)
        return self.r

    def vietnamese_card(self, l1: str, l2: str) -> None:
        r = self.r
        r.vietnamese_id_card = True
        doc, opt = l1[5:14], l1[15:30]
        pid, fillers, last = opt[0:12], opt[12:14], opt[14]
        pid_ok = all(c in DIGITS for c in pid)
        if pid_ok:
            r.personal_id = pid
        else:
            r.fail("cccd_id")
        if any(c not in DIGITS for c in doc) or l1[14] not in DIGITS or (pid_ok and doc != pid[3:]):
            r.fail("cccd_document_number")
        if fillers != FILLER * 2:
            r.fail("cccd_optional_data")
        if last != FILLER and (last not in DIGITS or not pid_ok or int(last) != check_digit(pid)):
            r.fail("cccd_check_digit")
        if l2[15:18] != "VNM":
            r.fail("cccd_nationality")
        if pid_ok:
            birth = date.fromisoformat(r.birth_date) if r.birth_date else None
            try:
                parse_cccd(pid, birth, today=self.today)
                if decode_cccd(pid).sex != l2[7]:
                    r.fail("cccd_sex")
            except KioskError:
                r.fail("cccd_id")

    def td2_td3(self) -> MrzResult:
        l1, l2 = self.lines
        n = LINE_LENGTHS[self.fmt]
        self.document_code(l1[0:2], "P" if self.fmt == "TD3" else "ACIPV")
        self.r.issuing_state = self.state("issuing_state", l1[2:5])
        self.names(l1[5:n])
        opt_end = 42 if self.fmt == "TD3" else 35
        extension = l2[28:opt_end] if self.fmt == "TD2" else None
        used = self.document_number(l2[0:9], l2[9], extension)
        self.r.nationality = self.state("nationality", l2[10:13])
        self.dates_and_sex(l2[13:19], l2[19], l2[20], l2[21:27], l2[27])
        self.r.optional1 = _trim(l2[28 + len(used):opt_end])
        if self.fmt == "TD3":
            personal, pcd = l2[28:42], l2[42]
            if personal == FILLER * 14 and pcd in (FILLER, "0"):
                pass
            else:
                self.check("optional_data", personal, pcd)
            self.check("composite", l2[0:10] + l2[13:20] + l2[21:43], l2[43])
            self.vietnamese_passport(l2)
        else:
            self.check("composite", l2[0:10] + l2[13:20] + l2[21:35], l2[35])
        return self.r

    def vietnamese_passport(self, l2: str) -> None:
        r = self.r
        if r.issuing_state == "VNM" and not (len(r.document_number) == 8 and r.document_number[0] in LETTERS
                                             and r.document_number[1:].isdigit()):
            r.fail("document_number_format")
        pid = r.optional1
        if r.nationality == "VNM" and len(pid) == 12 and pid.isdigit():
            birth = date.fromisoformat(r.birth_date) if r.birth_date else None
            try:
                parse_cccd(pid, birth, today=self.today)
                r.personal_id = pid
            except KioskError:
                r.fail("cccd_id")


def _lines(text: str | Sequence[str]) -> list[str]:
    raw = text.splitlines() if isinstance(text, str) else list(text)
    return [line.strip() for line in raw if line.strip()]


def detect_format(lines: Sequence[str]) -> str:
    """The MRZ format of the lines, or KioskError ``id.mrz_unreadable*`` if they are not an MRZ."""
    if len(lines) == 3:
        fmt = "TD1"
    elif len(lines) == 2:
        fmt = "TD3" if max(len(line) for line in lines) > (36 + 44) / 2 else "TD2"
    else:
        raise KioskError("id.mrz_unreadable", lines=len(lines))
    want = LINE_LENGTHS[fmt]
    for i, line in enumerate(lines, 1):
        if abs(len(line) - want) > LENGTH_TOLERANCE:
            raise KioskError("id.mrz_unreadable_length", line=i, got=len(line), expected=want, format=fmt)
    return fmt


def _numeric_positions(fmt: str, lines: list[str]) -> set[tuple[int, int]]:
    """(line, index) positions that must hold a digit, for building suggestions."""
    if fmt == "TD1":
        pos = {(1, i) for i in [*range(0, 7), *range(8, 15), 29]}
        if lines[0][14:15] != FILLER:
            pos.add((0, 14))
        if lines[0][0:1] == "I" and lines[0][2:5].upper() == "VNM":
            pos |= {(0, i) for i in [*range(5, 14), *range(15, 27)]}
        return pos
    end = 43 if fmt == "TD3" else 35
    return {(1, i) for i in [9, *range(13, 20), *range(21, 28), end]}


def _suggest(fmt: str, lines: list[str], today: date) -> str | None:
    numeric = _numeric_positions(fmt, lines)
    changes: list[str] = []
    fixed: list[str] = []
    for li, line in enumerate(lines):
        chars = list(line)
        for ci, ch in enumerate(chars):
            new = ch.upper() if ch.islower() else ch
            if (li, ci) in numeric and new in _DIGIT_LOOKALIKES:
                new = _DIGIT_LOOKALIKES[new]
            if new != ch:
                changes.append(f"line {li + 1} position {ci + 1}: '{ch}' -> '{new}'")
                chars[ci] = new
        fixed.append("".join(chars))
    if not changes or not _parse(fmt, fixed, today).valid:
        return None
    return "; ".join(changes)


def _parse(fmt: str, lines: list[str], today: date) -> MrzResult:
    p = _Parser(fmt, lines, today)
    r = p.td1() if fmt == "TD1" else p.td2_td3()
    r.valid = not r.failed_checks
    return r


def parse_mrz(text: str | Sequence[str], *, today: date | None = None) -> MrzResult:
    """Parse an MRZ given as text (lines separated by newlines) or as a sequence of lines.

    Raises KioskError ``id.mrz_unreadable`` / ``id.mrz_unreadable_length`` when the input is not an MRZ
    at all (not 2 or 3 lines, or a line far from the format's length); otherwise returns a result whose
    ``valid`` is False when any check fails."""
    today = today or date.today()
    lines = _lines(text)
    fmt = detect_format(lines)
    result = _parse(fmt, lines, today)
    if not result.valid:
        result.suggestion = _suggest(fmt, lines, today)
    return result


def to_party(result: MrzResult) -> Party:
    """The applicant identified by a valid MRZ: a Vietnamese ID card gives the CCCD (source CHIP_MRZ);
    a passport gives the passport number and state, or for a Vietnamese citizen whose passport carries
    the personal ID, the CCCD (source PASSPORT_MRZ). Other ID cards are not accepted for an account."""
    if not result.valid:
        raise KioskError("id.mrz_invalid", checks=", ".join(result.failed_checks))
    birth = date.fromisoformat(result.birth_date) if result.birth_date else None
    name = " ".join(p for p in (result.surname, result.given_names) if p) or None
    if result.format == "TD1" and result.vietnamese_id_card and result.personal_id:
        ident, source = Identifier(IdKind.CCCD, result.personal_id), IdSource.CHIP_MRZ
    elif result.format == "TD3":
        source = IdSource.PASSPORT_MRZ
        if result.nationality == "VNM" and result.personal_id:
            ident = Identifier(IdKind.CCCD, result.personal_id)
        else:
            ident = Identifier(IdKind.PASSPORT, result.document_number, issuing_state=result.issuing_state)
    else:
        raise KioskError("id.mrz_unsupported_document", code=result.document_code,
                         state=result.issuing_state)
    return Party(identifier=ident, full_name=name, birth_date=birth, sex=result.sex, source=source)


# --- composing (the inverse of parsing): simulators, test cards, synthetic papers -------------------


def _name_field(surname: str, given: str) -> str:
    """The MRZ name: surname, ``<<``, given names, spaces as ``<`` (padding is the caller's)."""
    return surname.replace(" ", "<") + "<<" + given.replace(" ", "<")


def td1_lines(
    *,
    document_number: str,
    birth: date,
    sex: str,
    expiry: date,
    surname: str,
    given: str,
    state: str = "VNM",
    nationality: str = "VNM",
    optional1: str = "",
    optional2: str = "",
    cccd_check: bool = False,
) -> list[str]:
    """ICAO 9303 TD1 lines (3 x 30) with correct check digits. For a Vietnamese card pass the 12-digit
    personal ID as ``optional1`` (and the last 9 digits as ``document_number``)."""
    doc = document_number.ljust(9, "<")[:9]
    opt1 = optional1
    if cccd_check and len(opt1) == 12:
        opt1 = opt1 + "<<" + str(check_digit(opt1))
    opt1 = opt1.ljust(15, "<")[:15]
    l1 = f"I{'D' if state == 'VNM' else '<'}{state}{doc}{check_digit(doc)}{opt1}"
    b = birth.strftime("%y%m%d")
    e = expiry.strftime("%y%m%d")
    opt2 = optional2.ljust(11, "<")[:11]
    l2_core = f"{b}{check_digit(b)}{sex}{e}{check_digit(e)}{nationality}{opt2}"
    composite = l1[5:30] + l2_core[0:7] + l2_core[8:15] + l2_core[18:29]
    l2 = l2_core + str(check_digit(composite))
    name = _name_field(surname, given)
    l3 = name.ljust(30, "<")[:30]
    return [l1, l2, l3]


def td3_lines(
    *,
    document_number: str,
    birth: date,
    sex: str,
    expiry: date,
    surname: str,
    given: str,
    state: str = "VNM",
    nationality: str = "VNM",
    personal_number: str = "",
) -> list[str]:
    """ICAO 9303 TD3 (passport) lines, 2 x 44, with correct check digits."""
    name = _name_field(surname, given)
    l1 = f"P<{state}{name}".ljust(44, "<")[:44]
    doc = document_number.ljust(9, "<")[:9]
    b = birth.strftime("%y%m%d")
    e = expiry.strftime("%y%m%d")
    pn = personal_number.ljust(14, "<")[:14]
    pcd = "<" if not personal_number else str(check_digit(pn))
    core = f"{doc}{check_digit(doc)}{nationality}{b}{check_digit(b)}{sex}{e}{check_digit(e)}{pn}{pcd}"
    composite = core[0:10] + core[13:20] + core[21:43]
    return [l1, core + str(check_digit(composite))]
