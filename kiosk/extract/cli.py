"""``kiosk extract form | metadata | papertype | forms`` and ``kiosk id photo``: data extraction from the
shell, JSON out (one object per input)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from kiosk.cli import command_group
from kiosk.errors import KioskError
from kiosk.jsonio import emit

log = logging.getLogger("kiosk.extract")


def _load(path: str, dpi: int | None) -> tuple[Any, int]:
    from kiosk.vision.ocr import DEFAULT_DPI, image_dpi, read_image

    image = read_image(path)
    return image, dpi or image_dpi(path) or DEFAULT_DPI


def _configure_ocr(args: argparse.Namespace) -> None:
    from kiosk.cli import config_from_args
    from kiosk.vision import ocr

    ocr.configure_from(config_from_args(args))


def _cmd_form(args: argparse.Namespace) -> int:
    from kiosk.extract.forms import extract_form_image

    _configure_ocr(args)
    image, dpi = _load(args.image, args.dpi)
    result = extract_form_image(image, dpi, args.form, threshold=args.threshold)
    emit({"file": args.image, **result.to_dict()})
    return 0


def _cmd_metadata(args: argparse.Namespace) -> int:
    from kiosk.extract.metadata import propose_metadata
    from kiosk.vision.ocr import ocr_page

    _configure_ocr(args)
    image, dpi = _load(args.image, args.dpi)
    proposal = propose_metadata(ocr_page(image, dpi), applicant_id=args.applicant_id)
    emit({"file": args.image, **proposal.to_dict()})
    return 0


def _cmd_papertype(args: argparse.Namespace) -> int:
    from kiosk.extract.papertype import check_paper_kind, classify
    from kiosk.vision.ocr import read_image

    failed = 0
    for path in args.images:
        try:
            try:
                image = read_image(path)
            except OSError as exc:  # a missing or unreadable file is reported like an undecodable one
                raise KioskError("ocr.unreadable", file=Path(path).name) from exc
            res = (
                check_paper_kind(image, args.expect, first_page=not args.later_page)
                if args.expect
                else classify(image)
            )
            emit({"file": path, "ok": True, **res.to_dict()})
        except KioskError as exc:
            failed += 1
            emit({"file": path, "ok": False, "error": exc.key, "message_en": exc.message("en")})
    if failed:
        print(f"kiosk: {failed} of {len(args.images)} image(s) could not be classified", file=sys.stderr)
        return 1
    return 0


def _cmd_forms(args: argparse.Namespace) -> int:
    from kiosk.extract.forms import load_forms

    for form in load_forms().values():
        emit(
            {
                "form_id": form.id,
                "name": form.name,
                "paper_type_code": form.paper_type_code,
                "instrument": form.instrument,
                "heading": list(form.heading),
                "fields": [
                    {"key": f.key, "label": f.label, "type": f.type, "required": f.required}
                    for f in form.fields
                ],
            }
        )
    return 0


def _cmd_id_photo(args: argparse.Namespace) -> int:
    from kiosk.extract.mrz_photo import read_mrz_from_image
    from kiosk.vision.ocr import read_image

    _configure_ocr(args)
    result = read_mrz_from_image(read_image(args.image))
    if result is None:
        raise KioskError("extract.mrz_not_found")
    emit({"file": args.image, **result.to_dict()})
    return 0


def _dpi(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--dpi", type=int, default=None, help="resolution of the image (default: from the file, else 200)"
    )


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("extract", parents=[parent], help="extract data from captured papers (R5, R9)")
    group = p.add_subparsers(dest="extract_command", metavar="ACTION", required=True)

    q = group.add_parser(
        "form",
        parents=[parent],
        help="OCR a filled application form and extract its fields",
        description="Print one JSON object: form_id, heading_found, needs_confirmation (keys "
        "the citizen must confirm) and fields {key: {value, confidence, needs_confirmation, "
        "box, raw, problem}}. Dates are ISO 8601, ID numbers digits only. Without --form the "
        "form is recognised from its heading (exit 1 when none is).",
    )
    q.add_argument("image", metavar="IMAGE")
    q.add_argument(
        "--form", default=None, metavar="FORM_ID", help="form id or paper-type code (kiosk extract forms)"
    )
    q.add_argument(
        "--threshold", type=float, default=None, help="confidence below which a field needs confirmation"
    )
    _dpi(q)
    q.set_defaults(func=_cmd_form)

    q = group.add_parser(
        "metadata",
        parents=[parent],
        help="propose the R9 metadata of a paper",
        description="OCR page 1 of a paper and print the proposed metadata (paper name, "
        "summary, holder identifier, issue and validity dates, issuing authority) with a "
        "confidence and a source per field.",
    )
    q.add_argument("image", metavar="IMAGE")
    q.add_argument("--applicant-id", default=None, help="identifier of the applicant (fallback holder id)")
    _dpi(q)
    q.set_defaults(func=_cmd_metadata)

    q = group.add_parser(
        "papertype",
        parents=[parent],
        help="classify the kind of paper in images",
        description="Print one JSON object per image: kind (id_card, application_form, "
        "decision_or_certificate, other), confidence, probabilities; with --expect also "
        "matches (false = the kiosk would warn).",
    )
    q.add_argument("images", nargs="+", metavar="IMAGE")
    q.add_argument(
        "--expect",
        default=None,
        choices=["id_card", "application_form", "decision_or_certificate", "other"],
        help="the kind the checklist component expects",
    )
    q.add_argument("--later-page", action="store_true", help="the image is not page 1 (plain text matches)")
    q.set_defaults(func=_cmd_papertype)

    q = group.add_parser(
        "forms",
        parents=[parent],
        help="list the form definitions",
        description="Print one JSON object per form definition with its fields.",
    )
    q.set_defaults(func=_cmd_forms)

    ids = command_group(sub, "id", parent, "identify applicants")
    q = ids.add_parser(
        "photo",
        parents=[parent],
        help="read the MRZ from a photo of an ID card or passport",
        description="Find the machine-readable zone on a photo or scan of the back of a chip ID "
        "card (TD1) or a passport data page (TD3), OCR and parse it; print the fields as "
        "`kiosk id mrz` does. Exit status 1 when no MRZ is found.",
    )
    q.add_argument("image", metavar="IMAGE")
    q.set_defaults(func=_cmd_id_photo)
