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

Admission (:func:`manifest_checks` and :func:`file_checks`) is the part that needs only the bytes and
their hashes: manifest JSON, schema and signature, and the file set and per-file size and SHA-256 against
the manifest. The receiver runs it, on the hashes it computed while the package streamed in, before its
receipt, and ``verify_package`` runs the same functions before the PDF checks.

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
from kiosk.dossier.review import STAFF_SIGNATURE_NAME, review_checks, signer_fingerprints
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


def _paper_deep_checks(report: VerifyReport, root: Path, entry: dict[str, Any], index: int,
                       device_fp: str | None, trust_roots: list[x509.Certificate]) -> None:
    """The PDF checks of one paper whose file passed the admission checks' presence test."""
    code = _paper_code(entry, index)
    prefix = f"paper[{code}]"
    rel = entry["file"]
    data = (root / rel).read_bytes()
    info = _pdf_checks(report, prefix, data, trust_roots)
    pages = entry.get("pages")
    if "pages" in info:
        report.check(f"{prefix}.page_count", info["pages"] == entry.get("page_count")
                     and isinstance(pages, list) and len(pages) == info["pages"])
    xmp_code = info.get("xmp", {}).get("storage_code")
    report.check(f"{prefix}.xmp_storage_code", xmp_code == entry.get("storage_code"))
    info["signers"] = signer_fingerprints(data)  # field -> signer certificate SHA-256, oldest first
    seal = next((s for s in info["signatures"] if s["field"] == SEAL_FIELD), None)
    if report.check(f"{prefix}.seal_missing", seal is not None) and device_fp is not None:
        report.check(f"{prefix}.seal_not_by_device", info["signers"].get(SEAL_FIELD) == device_fp)
    report.papers.append({"storage_code": code, "file": rel, **info})


# ---- admission: the checks that need only the bytes and their hashes (shared with the receiver) ----------

#: Files a back end adds to a stored package (``kiosk.receiver``): ``verify_package`` ignores them;
#: admission refuses them in a package as sent.
RECEIVER_FILES = ("validation.json",)

Digest = tuple[int, str]  # (size, SHA-256 hex) of a regular file


def _paper_code(entry: dict[str, Any], index: int) -> str:
    code = entry.get("storage_code")
    return code if isinstance(code, str) else f"#{index}"


def manifest_checks(report: VerifyReport, raw: bytes, signature: bytes | None,
                    trust_roots: list[x509.Certificate]) -> dict[str, Any] | None:
    """Admission, part 1: ``manifest.json`` is JSON and valid against its schema; ``signature`` (the
    bytes of ``manifest.json.p7s``, None when absent) is a valid detached signature over ``raw`` chaining
    to ``trust_roots``, by the certificate whose fingerprint the manifest names. Returns the parsed
    manifest (None when it is not JSON)."""
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        report.fail("manifest.not_json")
        return None
    errors = mf.schema_errors(manifest)
    report.check("manifest.schema", not errors)
    for e in errors:
        report.failures.append(f"manifest.schema: {e}")
    signer_fp: str | None = None
    if report.check("manifest.signature.missing", signature is not None):
        assert signature is not None
        fails, cert = mf.verify_signature(raw, signature, trust_roots)
        report.checks.append("manifest.signature")
        report.failures.extend(fails)
        if cert is not None:
            signer_fp = fingerprint(cert)
    device_fp = manifest.get("device_certificate_sha256") if isinstance(manifest, dict) else None
    report.check("manifest.device_certificate_mismatch", signer_fp is not None and signer_fp == device_fp)
    return manifest if isinstance(manifest, dict) else {}


def file_checks(report: VerifyReport, manifest: dict[str, Any], files: dict[str, Digest | None], *,
                ignore: tuple[str, ...] = ()) -> list[tuple[int, dict[str, Any]]]:
    """Admission, part 2: the package's files are exactly the manifest, its signature(s) and the papers
    the manifest lists, each with the listed size and SHA-256.

    ``files`` maps each entry's relative POSIX path (``manifest.json``, ``papers/<name>``, ...) to its
    (size, SHA-256), or to None for what is not a regular file. Names in ``ignore`` may also sit at the
    root. Returns the papers (index, entry) whose file is present, for the PDF checks."""
    papers = manifest.get("papers")
    if not isinstance(papers, list):
        report.fail("manifest.no_papers")
        return []
    present: list[tuple[int, dict[str, Any]]] = []
    listed: set[str] = set()
    for i, entry in enumerate(papers):
        if not isinstance(entry, dict):
            report.fail(f"paper[#{i}].not_an_object")
            continue
        prefix = f"paper[{_paper_code(entry, i)}]"
        rel = entry.get("file")
        if not isinstance(rel, str):
            report.fail(f"{prefix}.file_not_named")
            continue
        listed.add(rel.rsplit("/", 1)[-1])
        parts = rel.split("/")
        if len(parts) != 2 or parts[0] != mf.PAPERS_DIR or parts[1] in ("", ".", ".."):
            report.fail(f"{prefix}.file_outside_papers")
            continue
        digest = files.get(rel)
        if not report.check(f"{prefix}.missing", digest is not None):
            continue
        assert digest is not None
        report.check(f"{prefix}.size", digest[0] == entry.get("size"))
        report.check(f"{prefix}.sha256", digest[1] == entry.get("sha256"))
        present.append((i, entry))
    in_papers = sorted({k.split("/", 1)[1].split("/")[0] for k in files if k.startswith(mf.PAPERS_DIR + "/")})
    for name in in_papers:
        if name not in listed:
            report.fail(f"package.unlisted_file[{name}]")
    expected = {mf.MANIFEST_NAME, mf.SIGNATURE_NAME, STAFF_SIGNATURE_NAME, mf.PAPERS_DIR, *ignore}
    for name in sorted({k.split("/")[0] for k in files} - expected):
        report.fail(f"package.unexpected_file[{name}]")
    return present


def _disk_files(path: Path) -> dict[str, Digest | None]:
    """``files`` for :func:`file_checks` from a package folder: digests of the regular files in
    ``papers/`` (symbolic links do not count), None for everything else."""
    out: dict[str, Digest | None] = {p.name: None for p in path.iterdir()}
    papers_dir = path / mf.PAPERS_DIR
    if papers_dir.is_dir() and not papers_dir.is_symlink():
        for p in papers_dir.iterdir():
            digest: Digest | None = None
            if p.is_file() and not p.is_symlink():
                h = hashlib.sha256()
                size = 0
                with p.open("rb") as fh:
                    while block := fh.read(1 << 20):
                        h.update(block)
                        size += len(block)
                digest = (size, h.hexdigest())
            out[f"{mf.PAPERS_DIR}/{p.name}"] = digest
    return out


def verify_package(path: Path, trust_roots: list[x509.Certificate]) -> VerifyReport:
    """Verify a package directory, or a single PDF when ``path`` is a file.

    The admission checks (:func:`manifest_checks`, :func:`file_checks`), then per paper the PDF checks,
    then the staff review. Files in :data:`RECEIVER_FILES` at the root are ignored."""
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
    spath = path / mf.SIGNATURE_NAME
    manifest = manifest_checks(report, raw, spath.read_bytes() if spath.is_file() else None, trust_roots)
    if manifest is None:
        return report
    device_fp = manifest.get("device_certificate_sha256")
    present = file_checks(report, manifest, _disk_files(path), ignore=RECEIVER_FILES)
    if not isinstance(manifest.get("papers"), list):
        return report
    for i, entry in present:
        _paper_deep_checks(report, path, entry, i, device_fp if isinstance(device_fp, str) else None,
                           trust_roots)
    review_checks(report, path, manifest, raw, trust_roots)
    return report
