"""Verify a dossier package (or a single sealed PDF) and name every failed check.

Package checks: manifest present, JSON, valid against the schema; ``manifest.json.p7s`` a valid, trusted
detached signature over the exact manifest bytes, by the certificate whose fingerprint the manifest names;
no files in ``papers/`` that the manifest does not list; per paper: the file exists, its size and SHA-256
match the manifest, then the PDF checks below, its page count equals the manifest's (``page_count`` and
the number of ``pages``), its XMP storage code equals the manifest's, and its seal is by the device
certificate.

PDF checks: at least one signature; every signature intact, valid, trusted (against ``trust_roots``),
later changes allowed by the certification, signature time-stamps valid when present; the last signature
covers the whole file; PDF/A-2b markers and rules (:func:`kiosk.dossier.pdfa.check_pdfa`); the number of
pages in the XMP equals the PDF's.

Staff review (``kiosk.dossier.review.review_checks``): a reviewed package carries the officer's signature
over the manifest and, when confirmed, a countersignature on every paper by the same officer.

Failure names look like ``manifest.schema: papers/0/size: ...``, ``paper[<storage code>].sha256`` or
``paper[<code>].signature[KioskSeal].digest_mismatch``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from kiosk.dossier import manifest as mf
from kiosk.dossier.keys import fingerprint
from kiosk.dossier.pdfa import check_pdfa, page_count, xmp_of
from kiosk.dossier.review import STAFF_SIGNATURE_NAME, review_checks
from kiosk.dossier.signing import SEAL_FIELD, validate_signatures


@dataclass
class VerifyReport:
    path: str
    kind: str                                  # "package" or "pdf"
    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)   # every check that ran, passed or not
    papers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def check(self, name: str, passed: bool) -> bool:
        self.checks.append(name)
        if not passed:
            self.failures.append(name)
        return passed

    def fail(self, name: str) -> None:
        self.checks.append(name)
        self.failures.append(name)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "ok": self.ok, "failures": self.failures,
                "checks": len(self.checks), "papers": self.papers}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def _pdf_checks(report: VerifyReport, prefix: str, data: bytes, trust_roots: list[x509.Certificate]
                ) -> dict[str, Any]:
    info: dict[str, Any] = {"signatures": []}
    try:
        n_pages = page_count(data)
    except Exception:
        report.fail(f"{prefix}.unreadable")
        return info
    info["pages"] = n_pages
    sigs = validate_signatures(data, trust_roots)
    info["signatures"] = [s.to_dict() for s in sigs]
    if report.check(f"{prefix}.signed", bool(sigs)):
        for i, s in enumerate(sigs):
            base = f"{prefix}.signature[{s.field_name}]"
            if report.check(f"{base}.digest_mismatch", s.intact):  # the rest follows from a mismatch
                report.check(f"{base}.invalid", s.valid)
                report.check(f"{base}.untrusted", s.trusted)
            report.check(f"{base}.modifications_not_allowed", s.modifications_ok)
            if s.timestamp_ok is not None:
                report.check(f"{base}.timestamp_invalid", s.timestamp_ok)
            if i == len(sigs) - 1:
                report.check(f"{base}.not_whole_document", s.covers_whole_file)
    for name in check_pdfa(data):
        report.fail(f"{prefix}.{name}")
    xmp = xmp_of(data)
    info["xmp"] = {"storage_code": xmp.get("kd", {}).get("storageCode"), "pages": xmp.get("kd_pages")}
    report.check(f"{prefix}.xmp_page_count", xmp.get("kd_pages") == n_pages)
    return info


def verify_pdf(path: Path, trust_roots: list[x509.Certificate]) -> VerifyReport:
    report = VerifyReport(str(path), "pdf")
    try:
        data = Path(path).read_bytes()
    except OSError:
        report.fail("pdf.missing")
        return report
    report.papers.append({"file": Path(path).name, **_pdf_checks(report, "pdf", data, trust_roots)})
    return report


def _paper_checks(report: VerifyReport, root: Path, entry: dict[str, Any], index: int, device_fp: str | None,
                  trust_roots: list[x509.Certificate]) -> None:
    code = entry.get("storage_code") if isinstance(entry.get("storage_code"), str) else f"#{index}"
    prefix = f"paper[{code}]"
    rel = entry.get("file")
    if not isinstance(rel, str):
        report.fail(f"{prefix}.file_not_named")
        return
    target = (root / rel).resolve()
    papers_dir = (root / mf.PAPERS_DIR).resolve()
    if target.parent != papers_dir:
        report.fail(f"{prefix}.file_outside_papers")
        return
    if not report.check(f"{prefix}.missing", target.is_file()):
        return
    data = target.read_bytes()
    report.check(f"{prefix}.size", len(data) == entry.get("size"))
    report.check(f"{prefix}.sha256", hashlib.sha256(data).hexdigest() == entry.get("sha256"))
    info = _pdf_checks(report, prefix, data, trust_roots)
    pages = entry.get("pages")
    if "pages" in info:
        report.check(f"{prefix}.page_count", info["pages"] == entry.get("page_count")
                     and isinstance(pages, list) and len(pages) == info["pages"])
    xmp_code = info.get("xmp", {}).get("storage_code")
    report.check(f"{prefix}.xmp_storage_code", xmp_code == entry.get("storage_code"))
    seal = next((s for s in info["signatures"] if s["field"] == SEAL_FIELD), None)
    if report.check(f"{prefix}.seal_missing", seal is not None) and device_fp is not None:
        report.check(f"{prefix}.seal_not_by_device", _seal_fp(data) == device_fp)
    report.papers.append({"storage_code": code, "file": rel, **info})


def _seal_fp(data: bytes) -> str | None:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from kiosk.dossier.keys import from_asn1

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    for sig in reader.embedded_regular_signatures:
        if sig.field_name == SEAL_FIELD:
            return fingerprint(from_asn1(sig.signer_cert))
    return None


def verify_package(path: Path, trust_roots: list[x509.Certificate]) -> VerifyReport:
    """Verify a package directory, or a single PDF when ``path`` is a file."""
    path = Path(path)
    if path.is_file():
        return verify_pdf(path, trust_roots)
    report = VerifyReport(str(path), "package")
    if not report.check("package.missing", path.is_dir()):
        return report
    mpath = path / mf.MANIFEST_NAME
    if not report.check("manifest.missing", mpath.is_file()):
        return report
    raw = mpath.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        report.fail("manifest.not_json")
        return report
    errors = mf.schema_errors(manifest)
    report.check("manifest.schema", not errors)
    for e in errors:
        report.failures.append(f"manifest.schema: {e}")
    spath = path / mf.SIGNATURE_NAME
    signer_fp: str | None = None
    if report.check("manifest.signature.missing", spath.is_file()):
        fails, cert = mf.verify_signature(raw, spath.read_bytes(), trust_roots)
        report.checks.append("manifest.signature")
        report.failures.extend(fails)
        if cert is not None:
            signer_fp = fingerprint(cert)
    device_fp = manifest.get("device_certificate_sha256") if isinstance(manifest, dict) else None
    report.check("manifest.device_certificate_mismatch", signer_fp is not None and signer_fp == device_fp)
    papers = manifest.get("papers") if isinstance(manifest, dict) else None
    if not isinstance(papers, list):
        report.fail("manifest.no_papers")
        return report
    listed: set[str] = set()
    for i, entry in enumerate(papers):
        if not isinstance(entry, dict):
            report.fail(f"paper[#{i}].not_an_object")
            continue
        if isinstance(entry.get("file"), str):
            listed.add(Path(entry["file"]).name)
        _paper_checks(report, path, entry, i, device_fp if isinstance(device_fp, str) else None, trust_roots)
    if isinstance(manifest, dict):
        review_checks(report, path, manifest, raw, trust_roots)
    papers_dir = path / mf.PAPERS_DIR
    extra = sorted(p.name for p in papers_dir.iterdir()) if papers_dir.is_dir() else []
    for name in extra:
        if name not in listed:
            report.fail(f"package.unlisted_file[{name}]")
    others = sorted(p.name for p in path.iterdir() if p.name not in (mf.MANIFEST_NAME, mf.SIGNATURE_NAME,
                                                                     STAFF_SIGNATURE_NAME, mf.PAPERS_DIR))
    for name in others:
        report.fail(f"package.unexpected_file[{name}]")
    return report
