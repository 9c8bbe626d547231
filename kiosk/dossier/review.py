"""Staff review of a signed package (R11, R12): confirm it or return it with a reason.

R12: one-stop staff check a digitised dossier against the originals, then confirm it (signed) or return it
with a reason. R11: on confirmation the officer adds a second signature to every paper as an incremental
update, which leaves the kiosk's seal valid.

A review turns a package into a new package (never edited in place; written beside the target and renamed
into place, like :func:`kiosk.dossier.package.build_package`):

* **confirmed**: each paper gets the staff countersignature (``StaffSignature``); its manifest entry gets
  the new size and SHA-256 and a ``countersignature`` record (field, level, time, staff certificate);
* **returned**: the papers are kept byte for byte, and the reason is recorded;
* either way the manifest gets a ``staff_review`` record (decision, reason, time, staff certificate, SHA-256
  of the manifest that was reviewed), the device signs the new manifest again (``manifest.json.p7s``: the
  kiosk still vouches for the package it sends), and the officer signs the same manifest bytes
  (``manifest.json.staff.p7s``): the decision itself is signed by the person who took it.

The source package must verify before a review: staff never sign what the kiosk would not vouch for.
:func:`review_checks` is the verification side (called by ``kiosk.dossier.verify.verify_package``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from pyhanko.sign.signers import Signer

from kiosk.config import Config
from kiosk.dossier import manifest as mf
from kiosk.dossier.keys import device_signer, fingerprint, officer_signer, signer_certificate
from kiosk.errors import KioskError
from kiosk.fsutil import write_durable
from kiosk.timeutil import iso, now_vn

if TYPE_CHECKING:
    from kiosk.dossier.verify import VerifyReport

log = logging.getLogger("kiosk.dossier.review")

STAFF_SIGNATURE_NAME = "manifest.json.staff.p7s"
DECISIONS = ("confirmed", "returned")
MAX_REASON = 500




def review_package(src: Path, out: Path, cfg: Config, *, decision: str = "confirmed",
                   reason: str | None = None, staff: Signer | None = None, device: Signer | None = None,
                   when: datetime | None = None, trust: list[x509.Certificate] | None = None,
                   pin: str | None = None) -> Path:
    """Write the reviewed copy of package ``src`` to ``out`` (which must not exist or be empty).

    The officer's signer is ``staff``, else their own token (``signing.staff_pkcs11_module``, unlocked
    with ``pin`` for this decision only), else the kiosk's staff key (``signing.staff_pkcs12_file``)."""
    from kiosk.dossier.keys import trust_roots
    from kiosk.dossier.verify import verify_package

    src, out = Path(src), Path(out)
    if decision not in DECISIONS:
        raise KioskError("dossier.review_bad_decision", decision=decision)
    reason = (reason or "").strip() or None
    if decision == "returned" and reason is None:
        raise KioskError("dossier.review_reason_required")
    if reason is not None and len(reason) > MAX_REASON:
        raise KioskError("dossier.review_reason_too_long", limit=MAX_REASON)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise KioskError("dossier.package_exists", path=str(out))
    report = verify_package(src, trust if trust is not None else trust_roots(cfg))
    if not report.ok:
        log.warning("review refused: source package does not verify",
                    extra={"failures": report.failures[:5]})
        raise KioskError("dossier.review_source_invalid", check=report.failures[0])
    raw = (src / mf.MANIFEST_NAME).read_bytes()
    manifest: dict[str, Any] = json.loads(raw.decode("utf-8"))
    if "staff_review" in manifest:
        raise KioskError("dossier.review_already_done")

    device = device or device_signer(cfg)
    when = when or now_vn()
    with contextlib.ExitStack() as stack:
        if staff is None:
            staff = stack.enter_context(officer_signer(cfg, pin))
        _write_review(src, out, cfg, manifest, raw, decision, reason, staff, device, when)
    log.info("package reviewed", extra={"decision": decision, "papers": len(manifest["papers"]),
                                        "submission": str(manifest.get("submission_id", ""))[:8]})
    return out


def _write_review(src: Path, out: Path, cfg: Config, manifest: dict[str, Any], raw: bytes, decision: str,
                  reason: str | None, staff: Signer, device: Signer, when: datetime) -> None:
    from kiosk.dossier.package import package_writer, write_manifest
    from kiosk.dossier.signing import countersign_bytes

    staff_fp = fingerprint(signer_certificate(staff))
    with package_writer(out, "review") as tmp:
        for entry in manifest["papers"]:
            data = (src / entry["file"]).read_bytes()
            if decision == "confirmed":
                result = countersign_bytes(data, cfg, staff, when=when)
                data = result.data
                entry["countersignature"] = {"field": result.field_name, "level": result.level,
                                             "signed_at": iso(result.signed_at),
                                             "staff_certificate_sha256": staff_fp}
                entry["size"] = len(data)
                entry["sha256"] = hashlib.sha256(data).hexdigest()
            write_durable(tmp / entry["file"], data)
        manifest["staff_review"] = {"decision": decision, "reason": reason, "reviewed_at": iso(when),
                                    "staff_certificate_sha256": staff_fp,
                                    "previous_manifest_sha256": hashlib.sha256(raw).hexdigest()}
        write_manifest(tmp, manifest, device, (STAFF_SIGNATURE_NAME, staff))


# ------------------------------------------------------------------------------------------ verification
def signer_fingerprints(pdf: bytes) -> dict[str, str]:
    """SHA-256 fingerprint of the signer certificate of every signature field in a PDF."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    from kiosk.dossier.keys import from_asn1

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    return {s.field_name: fingerprint(from_asn1(s.signer_cert)) for s in reader.embedded_regular_signatures}


def review_checks(report: VerifyReport, root: Path, manifest: dict[str, Any], raw: bytes,
                  trust_roots: list[x509.Certificate]) -> None:
    """The staff-review checks of a package, added to ``report``.

    Without ``staff_review``: no paper carries a countersignature record and there is no staff signature
    file. With it: ``manifest.json.staff.p7s`` is a valid, trusted detached signature over the manifest
    by the certificate the review names; a confirmed review has a countersignature on every paper, by
    that certificate, and it is the paper's last signature; a returned one has a reason and no
    countersignatures. Runs after the paper checks and uses the signer certificates they read
    (``signers`` of ``report.papers``).
    """
    review = manifest.get("staff_review")
    papers = [p for p in manifest.get("papers") or [] if isinstance(p, dict)]
    spath = root / STAFF_SIGNATURE_NAME
    if not isinstance(review, dict):
        report.check("staff_review.signature_without_review", not spath.exists())
        for p in papers:
            report.check(f"paper[{p.get('storage_code')}].countersignature_without_review",
                         "countersignature" not in p)
        return
    staff_fp = review.get("staff_certificate_sha256")
    # the signer certificates of each paper, as the paper checks read them (one parse per file)
    signers = {str(info.get("storage_code")): info["signers"] for info in report.papers if "signers" in info}
    if report.check("staff_review.signature.missing", spath.is_file()):
        fails, cert = mf.verify_signature(raw, spath.read_bytes(), trust_roots)
        report.checks.append("staff_review.signature")
        report.failures.extend(f.replace("manifest.signature", "staff_review.signature", 1) for f in fails)
        report.check("staff_review.signer_mismatch", cert is not None and fingerprint(cert) == staff_fp)
    confirmed = review.get("decision") == "confirmed"
    if not confirmed:
        report.check("staff_review.reason_missing", bool(review.get("reason")))
    for p in papers:
        prefix = f"paper[{p.get('storage_code')}]"
        cs = p.get("countersignature")
        if not confirmed:
            report.check(f"{prefix}.countersignature_on_returned", cs is None)
            continue
        if not report.check(f"{prefix}.countersignature_missing", isinstance(cs, dict)):
            continue
        assert isinstance(cs, dict)
        fps = signers.get(str(p.get("storage_code")))
        if fps is None:
            continue  # the paper's file was missing or unreadable: reported by the paper checks
        names = list(fps)
        field = cs.get("field")
        if report.check(f"{prefix}.countersignature_field_missing", field in fps):
            report.check(f"{prefix}.countersignature_not_last", names[-1] == field)
            report.check(f"{prefix}.countersignature_signer_mismatch",
                         fps[str(field)] == cs.get("staff_certificate_sha256") == staff_fp)
