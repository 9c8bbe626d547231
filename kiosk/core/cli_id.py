"""``kiosk id mrz | qr | check``: identify applicants from the shell (JSON out, one object per input)."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from typing import Any

from kiosk.cli import command_group
from kiosk.core.cccd_qr import parse_cccd_qr
from kiosk.core.identifiers import (
    describe,
    parse_agency_code,
    parse_any,
    parse_cccd,
    parse_passport,
    parse_tax_code,
)
from kiosk.core.mrz import parse_mrz
from kiosk.errors import KioskError
from kiosk.jsonio import emit

log = logging.getLogger("kiosk.core.id")

MRZ_HELP = """\
Reads the 2 (passport, TD3; or TD2) or 3 (ID card, TD1) MRZ lines from standard input and prints one
JSON object: format, valid, failed_checks, the fields (dates ISO 8601), personal_id for Vietnamese
cards, and a suggestion when a corrected reading would pass.

Exit status: 0 when the input was read as an MRZ, whether valid is true or false (check "valid");
1 when it cannot be read as an MRZ at all (not 2 or 3 lines, or a line more than 2 characters away
from its format's length), with the reason on stderr."""


def _error_obj(exc: KioskError) -> dict[str, Any]:
    return {"error": exc.key, "message_vi": exc.message("vi"), "message_en": exc.message("en")}


def _mrz(args: argparse.Namespace) -> int:
    result = parse_mrz(sys.stdin.read())
    log.info("mrz parsed", extra={"format": result.format, "valid": result.valid,
                                  "failed_checks": result.failed_checks})
    emit(result.to_dict())
    return 0


def _qr_one(path: str) -> dict[str, Any]:
    from kiosk.vision.qr import decode_qr, read_image  # OpenCV only when needed

    try:
        payloads = decode_qr(read_image(path))
        if not payloads:
            raise KioskError("id.qr_not_found")
        first_error: KioskError | None = None
        for payload in payloads:
            try:
                return {"file": path, "ok": True, **parse_cccd_qr(payload).to_dict()}
            except KioskError as exc:
                first_error = first_error or exc
        assert first_error is not None
        raise first_error
    except KioskError as exc:
        return {"file": path, "ok": False, **_error_obj(exc)}


def _qr(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.images:
        obj = _qr_one(path)
        failed += not obj["ok"]
        log.info("qr read", extra={"ok": obj["ok"], "error": obj.get("error")})
        emit(obj)
    if failed:
        print(f"kiosk: {failed} of {len(args.images)} image(s) gave no valid ID-card QR code",
              file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    birth: date | None = args.birth_date
    try:
        if args.kind == "cccd":
            ident = parse_cccd(args.value, birth)
        elif args.kind == "passport":
            ident = parse_passport(args.value, args.state or "")
        elif args.kind == "tax_code":
            ident = parse_tax_code(args.value)
        elif args.kind == "agency_code":
            ident = parse_agency_code(args.value)
        else:
            ident = parse_any(args.value, birth_date=birth, issuing_state=args.state)
    except KioskError as exc:
        emit({"kind": args.kind, **_error_obj(exc)})
        print(f"kiosk: {exc.message('en')}", file=sys.stderr)
        return 1
    out: dict[str, Any] = {"kind": ident.kind.value, "value": ident.value}
    if ident.issuing_state:
        out["issuing_state"] = ident.issuing_state
    out["info"] = describe(ident)
    emit(out)
    return 0


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    group = command_group(sub, "id", parent, "identify applicants")

    p = group.add_parser("mrz", parents=[parent], help="parse ICAO 9303 MRZ lines read from stdin",
                         description=MRZ_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=_mrz)

    p = group.add_parser("qr", parents=[parent], help="read the QR code of Vietnamese ID cards in images",
                         description="Decode the QR code on the ID card in each image and print one JSON "
                         "object per image: the parsed fields (dates ISO 8601) with ok=true, or ok=false "
                         "with error (message key), message_vi and message_en. Exit status 1 when any "
                         "image fails.")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=_qr)

    p = group.add_parser("check", parents=[parent], help="validate a typed identifier",
                         description="Validate a typed identifier and print JSON: kind, canonical value "
                         "and decoded info; or the error in Vietnamese and English (exit status 1). "
                         "Without --kind the kind is detected from the input.")
    p.add_argument("value", metavar="VALUE")
    p.add_argument("--kind", choices=["cccd", "passport", "tax_code", "agency_code"], default=None)
    p.add_argument("--birth-date", type=_iso_date, default=None, metavar="YYYY-MM-DD",
                   help="date of birth, to cross-check a CCCD number")
    p.add_argument("--state", default=None, metavar="XXX", help="ICAO code of a passport's issuing state")
    p.set_defaults(func=_check)
