"""Build the signed dossier package: one sealed PDF/A per paper and a signed manifest.

Layout of a package directory (``docs/package.md``)::

    manifest.json           the manifest (JSON, schema kiosk/data/manifest.schema.json)
    manifest.json.p7s       detached CMS signature over the exact bytes of manifest.json (device key)
    papers/<storage code>.pdf   one PDF/A-2b per paper, sealed (PAdES) by the device key

The package is written into a hidden sibling directory and renamed into place when complete (files and
directories fsync'ed), so a crash never leaves a half-written package under the final name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
from pyhanko.sign.signers import Signer

from kiosk import __version__
from kiosk.config import Config
from kiosk.core.dossier_model import Dossier, Paper
from kiosk.dossier import manifest as mf
from kiosk.dossier.images import EncodingPolicy
from kiosk.dossier.keys import device_signer, fingerprint, signer_certificate, staff_signer
from kiosk.dossier.metadata import capture_record, metadata_record, page_record
from kiosk.dossier.pdfa import BuiltPage, build_pdfa
from kiosk.dossier.signing import SignResult, countersign_bytes, seal
from kiosk.dossier.xmp import KD_SCHEMA_VERSION, build_xmp
from kiosk.errors import KioskError
from kiosk.fsutil import fsync_dir, write_durable
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.dossier")

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class BuiltPaper:
    data: bytes                     # the sealed PDF
    pages: list[dict[str, Any]]     # page records (manifest/XMP)
    omitted: list[dict[str, Any]]   # capture records of the captures left out (R6)
    seal: SignResult


def _check_paper(paper: Paper, cfg: Config) -> None:
    pages = paper.page_images_in_order()
    if not pages:
        raise KioskError("dossier.no_pages", paper=paper.name)
    for c in pages:
        if not Path(c.image_path).is_file():
            raise KioskError("dossier.image_missing", file=Path(c.image_path).name)
        if c.dpi < cfg.vision.min_dpi:
            raise KioskError("dossier.low_dpi", sheet=c.page_no, dpi=round(c.dpi), min_dpi=cfg.vision.min_dpi)


def paper_record(paper: Paper, terminal_id: str, pages: list[dict[str, Any]],
                 omitted: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the XMP's kiosk namespace holds for a paper."""
    return {
        **metadata_record(paper.metadata),
        "schema_version": KD_SCHEMA_VERSION,
        "storage_code": paper.storage_code or None,
        "component_id": paper.component_id,
        "digitisation_class": paper.digitisation_class.value,
        "terminal_id": terminal_id,
        "declared_sheets": paper.declared_pages,
        "page_count": len(pages),
        "pages": pages,
        "omitted_pages": omitted,
    }


def build_paper(paper: Paper, cfg: Config, signer: Any, *, policy: EncodingPolicy | None = None
                ) -> BuiltPaper:
    """Build and seal the PDF/A of one paper (in memory)."""
    _check_paper(paper, cfg)
    captures = paper.page_images_in_order()
    omitted = [capture_record(c) for c in paper.omitted_captures()]
    records: list[dict[str, Any]] = []

    def xmp_for(built: list[BuiltPage]) -> bytes:
        records.extend(page_record(i, b.capture, b.width_px, b.height_px, b.encoding)
                       for i, b in enumerate(built, 1))
        title = paper.metadata.paper_name or paper.name
        return build_xmp(paper_record(paper, cfg.terminal.id, records, omitted), title=title,
                         created=now_vn(), producer=f"kiosk {__version__} (pikepdf {pikepdf.__version__})",
                         creator_tool=f"kiosk {__version__}")

    data, _built = build_pdfa(captures, xmp_for, policy=policy)
    sealed = seal(data, cfg, signer)
    log.info("paper sealed", extra={"pages": len(records), "omitted": len(omitted), "level": sealed.level,
                                    "bytes": len(sealed.data)})
    return BuiltPaper(sealed.data, records, omitted, sealed)




def make_paper_pdf(paper: Paper, out_path: Path, cfg: Config, signer: Any) -> Path:
    """Build one sealed PDF/A for ``paper`` at ``out_path``; ``signer`` is a pyHanko signer, e.g.
    :func:`kiosk.dossier.keys.device_signer`."""
    built = build_paper(paper, cfg, signer)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex[:8]}.tmp")
    write_durable(tmp, built.data)
    os.replace(tmp, out_path)
    return out_path


def _paper_entry(paper: Paper, built: BuiltPaper) -> dict[str, Any]:
    return {
        "component_id": paper.component_id,
        "name": paper.name,
        "digitisation_class": paper.digitisation_class.value,
        "storage_code": paper.storage_code,
        "file": f"{mf.PAPERS_DIR}/{paper.storage_code}.pdf",
        "size": len(built.data),
        "sha256": hashlib.sha256(built.data).hexdigest(),
        "metadata": metadata_record(paper.metadata),
        "declared_sheets": paper.declared_pages,
        "page_count": len(built.pages),
        "pages": built.pages,
        "omitted_pages": built.omitted,
        "seal": {"field": built.seal.field_name, "level": built.seal.level,
                 "signed_at": iso(built.seal.signed_at)},
    }


def manifest_for(dossier: Dossier, cfg: Config, device_cert_sha256: str,
                 papers: list[dict[str, Any]]) -> dict[str, Any]:
    applicant = dossier.applicant
    return {
        "schema_version": mf.SCHEMA_VERSION,
        "submission_id": dossier.submission_id,
        "terminal_id": dossier.terminal_id,
        "agency_code": cfg.terminal.agency_code,
        "software_version": __version__,
        "created_at": iso(dossier.created_at),
        "packaged_at": iso(now_vn()),
        "applicant": mf.party_record(applicant.submitter),
        "principal": mf.party_record(applicant.principal),
        "procedure_code": dossier.procedure_code,
        "case_id": dossier.case_id,
        "device_certificate_sha256": device_cert_sha256,
        "papers": papers,
    }


def build_package(dossier: Dossier, out_dir: Path, cfg: Config) -> Path:
    """Build the signed package for ``dossier`` in ``out_dir`` (which must not exist or be empty)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise KioskError("dossier.package_exists", path=str(out_dir))
    if not dossier.papers:
        raise KioskError("dossier.no_papers")
    if any(not p.storage_code for p in dossier.papers):
        dossier.assign_storage_codes()
    codes = [p.storage_code.lower() for p in dossier.papers]
    if len(set(codes)) != len(codes) or not all(_CODE.match(p.storage_code) for p in dossier.papers):
        raise KioskError("dossier.bad_storage_codes")
    for paper in dossier.papers:
        _check_paper(paper, cfg)

    signer = device_signer(cfg)
    cert_fp = fingerprint(signer_certificate(signer))
    with package_writer(out_dir, "partial") as tmp:
        entries = []
        for paper in dossier.papers:
            built = build_paper(paper, cfg, signer)
            write_durable(tmp / mf.PAPERS_DIR / f"{paper.storage_code}.pdf", built.data)
            entries.append(_paper_entry(paper, built))
        manifest = manifest_for(dossier, cfg, cert_fp, entries)
        write_manifest(tmp, manifest, signer)
    log.info("package built", extra={"papers": len(entries), "submission": dossier.submission_id[:8]})
    return out_dir


@contextmanager
def package_writer(out_dir: Path, tag: str) -> Iterator[Path]:
    """A hidden sibling folder (with ``papers/``) to write a package into; when the block ends normally
    the files and folders are fsynced and the folder is renamed to ``out_dir`` (which must not exist or
    be empty), otherwise it is removed. So no half-written package ever carries the final name."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.{tag}-{uuid.uuid4().hex[:8]}"
    (tmp / mf.PAPERS_DIR).mkdir(parents=True)
    try:
        yield tmp
        fsync_dir(tmp / mf.PAPERS_DIR)
        fsync_dir(tmp)
        if out_dir.exists():
            out_dir.rmdir()
        os.rename(tmp, out_dir)
        fsync_dir(out_dir.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_manifest(folder: Path, manifest: dict[str, Any], device: Signer, *extra: tuple[str, Signer]
                   ) -> bytes:
    """Validate and write ``manifest.json`` and its device signature (plus ``(file name, signer)`` pairs
    for further detached signatures over the same bytes); returns the manifest's bytes."""
    mf.validate(manifest)
    data = mf.encode(manifest)
    write_durable(folder / mf.MANIFEST_NAME, data)
    write_durable(folder / mf.SIGNATURE_NAME, mf.sign(data, device))
    for name, signer in extra:
        write_durable(folder / name, mf.sign(data, signer))
    return data


def countersign(in_pdf: Path, out_pdf: Path, cfg: Config) -> Path:
    """Add the staff countersignature to a sealed PDF (incremental update); ``out_pdf`` may be
    ``in_pdf``."""
    data = Path(in_pdf).read_bytes()
    result = countersign_bytes(data, cfg, staff_signer(cfg))
    out_pdf = Path(out_pdf)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_pdf.with_name(f".{out_pdf.name}.{uuid.uuid4().hex[:8]}.tmp")
    write_durable(tmp, result.data)
    os.replace(tmp, out_pdf)
    return out_pdf
