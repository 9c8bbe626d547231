"""``kiosk dossier make-pdf | build | countersign | verify`` and ``kiosk bench dossier``."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any

from kiosk.cli import add_data_dir_arg, command_group, config_from_args
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.jsonio import emit

log = logging.getLogger("kiosk.dossier")

_META_DATES = ("issue_date", "valid_from", "valid_until")


def _image_dpi(path: Path, override: float | None) -> float:
    if override:
        return float(override)
    from PIL import Image

    try:
        with Image.open(path) as im:
            dpi = im.info.get("dpi")
    except OSError as exc:
        raise KioskError("dossier.image_unreadable", file=path.name) from exc
    if dpi and float(dpi[0]) >= 50:
        return float(dpi[0])
    raise KioskError("dossier.no_dpi", file=path.name)


def _captures(images: list[Path], dpi: float | None, duplex: bool, ocr: bool, cfg: Config) -> list[Any]:
    """One capture per image, in order: sheet fronts, or front/back pairs with ``duplex``; OCR'd."""
    from kiosk.core.dossier_model import PageCapture, Side

    caps = []
    for i, img in enumerate(images):
        if not img.is_file():
            raise KioskError("dossier.image_missing", file=img.name)
        d = _image_dpi(img, dpi)
        sheet, side = (i // 2 + 1, Side.BACK if i % 2 else Side.FRONT) if duplex else (i + 1, Side.FRONT)
        cap = PageCapture(page_no=sheet, side=side, image_path=img, dpi=d, device="file")
        if ocr:
            from kiosk.vision import ocr as vocr

            vocr.configure_from(cfg)
            cap.ocr = vocr.ocr_page(vocr.read_image(img), round(d), lang=cfg.ocr.language)
        caps.append(cap)
    return caps


def _metadata(path: str | None, default_type: str, default_name: str, holder: str | None
              ) -> tuple[Any, dict[str, Any]]:
    """PaperMetadata from a JSON file (R9 keys of docs/package.md, plus optional component_id,
    digitisation_class, storage_code, name)."""
    from kiosk.core.dossier_model import PaperMetadata

    raw: dict[str, Any] = {}
    if path:
        try:
            raw = json.loads(Path(path).read_text("utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            raise KioskError("dossier.bad_metadata", path=path, detail=str(exc).splitlines()[0]) from exc
    fields: dict[str, Any] = {k: raw[k] for k in ("paper_type_code", "paper_name", "holder_id", "holder_name",
                                  "holder_birth_year", "issue_date", "issuing_authority", "summary",
                                  "valid_from", "valid_until", "validity_scope", "extra") if k in raw}
    try:
        for k in _META_DATES:
            if fields.get(k):
                fields[k] = date.fromisoformat(str(fields[k]))
        fields["extra"] = {str(k): str(v) for k, v in (fields.get("extra") or {}).items()}
    except (ValueError, AttributeError) as exc:
        raise KioskError("dossier.bad_metadata", path=path or "", detail=str(exc)) from exc
    fields.setdefault("paper_type_code", default_type)
    fields.setdefault("paper_name", default_name)
    fields.setdefault("holder_id", holder)
    keys = ("component_id", "digitisation_class", "storage_code", "name")
    extra_keys: dict[str, Any] = {k: raw[k] for k in keys if k in raw}
    return PaperMetadata(**fields), extra_keys


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cmd_make_pdf(args: argparse.Namespace) -> int:
    from kiosk.core.dossier_model import DigitisationClass, Paper, storage_code_part
    from kiosk.dossier.keys import device_signer
    from kiosk.dossier.package import build_paper

    cfg = config_from_args(args)
    images = [Path(p) for p in args.images]
    caps = _captures(images, args.dpi, args.duplex, not args.no_ocr, cfg)
    meta, extra = _metadata(args.metadata, "", images[0].stem, None)
    paper = Paper(component_id=str(extra.get("component_id", "paper")),
                  name=str(extra.get("name", meta.paper_name)),
                  digitisation_class=DigitisationClass(extra.get("digitisation_class", "on_request")),
                  declared_pages=max(c.page_no for c in caps), captures=caps, metadata=meta)
    code = extra.get("storage_code")
    if not code and meta.holder_id and meta.paper_type_code:
        code = f"{storage_code_part(meta.holder_id)}.{storage_code_part(meta.paper_type_code)}"
    paper.storage_code = str(code or "")
    built = build_paper(paper, cfg, device_signer(cfg))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(built.data)
    emit({"file": str(out), "pages": len(built.pages), "size": len(built.data), "sha256": _sha(out),
          "storage_code": paper.storage_code or None, "seal_level": built.seal.level,
          "signed_at": built.seal.signed_at.isoformat(),
          "compression": [p["compression"]["method"] for p in built.pages],
          "ocr_words": [p["ocr_words"] for p in built.pages]})
    return 0


def _parse_paper(arg: str) -> tuple[str, list[Path]]:
    kind, sep, files = arg.partition("=")
    paths = [Path(f) for f in files.split(",") if f]
    if not sep or not kind.strip() or not paths:
        raise KioskError("dossier.bad_paper_arg", arg=arg)
    return kind.strip(), paths


def _cmd_build(args: argparse.Namespace) -> int:
    from kiosk.core.applicant import Applicant, IdSource, Party
    from kiosk.core.dossier_model import DigitisationClass, Dossier, Paper, PaperMetadata, new_submission_id
    from kiosk.core.identifiers import parse_any
    from kiosk.dossier.package import build_package
    from kiosk.timeutil import now_vn

    cfg = config_from_args(args)
    ident = parse_any(args.applicant, issuing_state=args.issuing_state)
    applicant = Applicant(Party(ident, source=IdSource.MANUAL))
    papers = []
    for n, spec in enumerate(args.paper, 1):
        kind, images = _parse_paper(spec)
        caps = _captures(images, args.dpi, args.duplex, not args.no_ocr, cfg)
        meta = PaperMetadata(paper_type_code=kind, paper_name=kind, holder_id=ident.value)
        papers.append(Paper(component_id=f"c{n}", name=kind,
                            digitisation_class=DigitisationClass(args.digitisation_class),
                            declared_pages=max(c.page_no for c in caps), captures=caps, metadata=meta))
    dossier = Dossier(submission_id=new_submission_id(), terminal_id=cfg.terminal.id, created_at=now_vn(),
                      applicant=applicant, procedure_code=args.procedure, case_id=args.case or "",
                      papers=papers)
    dossier.assign_storage_codes()
    out = build_package(dossier, Path(args.output), cfg)
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    emit({"package": str(out), "submission_id": dossier.submission_id,
          "manifest_sha256": _sha(out / "manifest.json"),
          "papers": [{"storage_code": p["storage_code"], "file": p["file"], "pages": p["page_count"],
                      "size": p["size"], "sha256": p["sha256"]} for p in manifest["papers"]]})
    return 0


def _cmd_countersign(args: argparse.Namespace) -> int:
    from kiosk.dossier.package import countersign

    cfg = config_from_args(args)
    src = Path(args.input)
    if src.is_dir():
        from kiosk.dossier.review import review_package

        out = review_package(src, Path(args.output), cfg, decision=args.decision, reason=args.reason)
        manifest = json.loads((out / "manifest.json").read_text("utf-8"))
        emit({"package": str(out), "decision": args.decision,
              "manifest_sha256": _sha(out / "manifest.json"),
              "papers": [{"storage_code": p["storage_code"], "file": p["file"], "size": p["size"],
                          "sha256": p["sha256"]} for p in manifest["papers"]]})
        return 0
    if not src.is_file():
        raise KioskError("dossier.file_missing", path=str(src))
    if args.decision != "confirmed":
        raise KioskError("dossier.review_bad_decision", decision=args.decision)
    out = countersign(src, Path(args.output), cfg)
    emit({"file": str(out), "size": out.stat().st_size, "sha256": _sha(out)})
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from kiosk.dossier.keys import trust_roots
    from kiosk.dossier.verify import verify_package

    cfg = config_from_args(args)
    roots = trust_roots(cfg, [Path(p) for p in args.ca])
    if not roots:
        raise KioskError("dossier.no_trust_roots")
    report = verify_package(Path(args.path), roots)
    emit(report.to_dict())
    if not report.ok:
        print(f"kiosk: verification failed: {len(report.failures)} check(s) failed, first: "
              f"{report.failures[0]}", file=sys.stderr)
        return 1
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from kiosk.dossier.bench import run_bench

    cfg = config_from_args(args)
    emit(run_bench(cfg, pages_dir=Path(args.pages) if args.pages else None, count=args.count,
                   work=Path(args.work) if args.work else None, ocrmypdf=not args.no_ocrmypdf))
    return 0


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    g = command_group(sub, "dossier", parent, "PDF/A papers, signed packages, verification")

    p = g.add_parser("make-pdf", parents=[parent], help="build and seal one paper's PDF/A from page images")
    p.add_argument("images", nargs="+", metavar="PAGE_IMAGE", help="page images (PNG/JPEG), in page order")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf")
    p.add_argument("--metadata", metavar="META.json", help="R9 metadata (see docs/package.md)")
    p.add_argument("--dpi", type=float, help="resolution of the images (default: from the files)")
    p.add_argument("--duplex", action="store_true", help="images are front/back pairs of each sheet")
    p.add_argument("--no-ocr", action="store_true", help="no text layer")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_make_pdf)

    p = g.add_parser("build", parents=[parent], help="build a signed dossier package from page images")
    p.add_argument("--applicant", required=True, metavar="ID", help="CCCD, tax code, agency code or passport")
    p.add_argument("--issuing-state", help="passport issuing state (ICAO code)")
    p.add_argument("--procedure", required=True, metavar="CODE")
    p.add_argument("--case", metavar="ID")
    p.add_argument("--paper", action="append", required=True, metavar="TYPE=IMG[,IMG...]",
                   help="one paper: its type code and page images (repeat for more papers)")
    p.add_argument("--digitisation-class", default="on_request",
                   choices=["earlier_result", "specialised_law", "management_decision", "on_request"])
    p.add_argument("-o", "--output", required=True, metavar="PACKAGE_DIR")
    p.add_argument("--dpi", type=float, help="resolution of the images (default: from the files)")
    p.add_argument("--duplex", action="store_true", help="each paper's images are front/back pairs")
    p.add_argument("--no-ocr", action="store_true", help="no text layer")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_build)

    p = g.add_parser("countersign", parents=[parent],
                     help="staff review: countersign a sealed PDF, or confirm/return a whole package "
                          "(papers countersigned, manifest re-signed by the device and signed by staff)")
    p.add_argument("input", metavar="IN.pdf|PACKAGE_DIR")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf|OUT_DIR")
    p.add_argument("--decision", choices=["confirmed", "returned"], default="confirmed",
                   help="for a package: confirm it (default) or return it with --reason")
    p.add_argument("--reason", metavar="TEXT", help="why the package is returned (required with returned)")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_countersign)

    p = g.add_parser("verify", parents=[parent], help="verify a package directory or a sealed PDF")
    p.add_argument("path", metavar="PATH")
    p.add_argument("--ca", action="append", default=[], metavar="PEM",
                   help="trust root certificate(s) (default: the demo CA in the data directory)")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_verify)

    b = command_group(sub, "bench", parent, "benchmarks")
    p = b.add_parser("dossier", parents=[parent],
                     help="seconds per page to build, OCR-layer and seal, against ocrmypdf")
    p.add_argument("--pages", metavar="DIR", help="page images (default: $KIOSK_TESTDATA/pages or synthetic)")
    p.add_argument("--count", type=int, default=3, help="number of pages (default 3)")
    p.add_argument("--work", metavar="DIR", help="work directory (default: a temporary one)")
    p.add_argument("--no-ocrmypdf", action="store_true", help="skip the ocrmypdf baseline")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_bench)
