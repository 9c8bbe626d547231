"""Packages for transport tests, benchmarks and load runs (not used in production code paths).

* ``build_template`` makes one real package with ``kiosk.dossier.package.build_package`` (sealed PDF/A
  papers made from synthetic page images whose noisy area sets the size), so that
  ``verify_package`` accepts it.
* ``clone_package`` derives more packages from a template: same sealed papers (any subset), a new
  manifest with another submission id (and terminal id), signed again with the device key through
  ``kiosk.dossier.manifest``. Building PDFs for every one of hundreds of test packages would be slow;
  a clone is exactly what ``build_package`` would write for a dossier with those papers.
* ``make_raw_package`` writes the package layout by hand (papers of random bytes, a detached CMS
  signature made with ``cryptography``). ``verify_package`` rejects such a package: it serves as the
  forged/invalid package in security tests and for byte-level transport tests.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from kiosk import pki
from kiosk.config import Config

A4_200DPI = (1654, 2339)


# ---- real packages (accepted by verify_package) ---------------------------------------------------------

def synthetic_page(path: Path, *, noise_fraction: float, seed: int, size: tuple[int, int] = A4_200DPI
                   ) -> Path:
    """A white A4 page at 200 dpi with dark text-like bars; ``noise_fraction`` of its height is random
    noise, which makes the JPEG (and so the PDF) large: about 0.5 MB per 0.1 at quality 90."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    img = np.full((h, w, 3), 250, dtype=np.uint8)
    for y in range(200, h - 200, 60):  # lines of "text"
        length = int(rng.integers(w // 3, w - 300))
        img[y:y + 18, 150:150 + length] = 30
    band = int(h * max(0.0, min(1.0, noise_fraction)))
    if band:
        img[h - band:, :] = rng.integers(0, 256, size=(band, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, "JPEG", quality=90, dpi=(200, 200))
    return path


def build_template(cfg: Config, out_dir: Path, *, papers: list[float] | None = None, work: Path | None = None
                   ) -> Path:
    """Build a real package for terminal ``cfg.terminal.id`` with one single-page paper per entry of
    ``papers`` (the noise fraction of its page; default ``[0.0, 0.2, 0.4, 0.8]``)."""
    from kiosk.core.applicant import Applicant, Identifier, IdKind, IdSource, Party
    from kiosk.core.dossier_model import (
        DigitisationClass,
        Dossier,
        PageCapture,
        Paper,
        PaperMetadata,
        Side,
        new_submission_id,
    )
    from kiosk.dossier.package import build_package
    from kiosk.timeutil import now_vn

    fractions = papers if papers is not None else [0.0, 0.2, 0.4, 0.8]
    work = work or out_dir.parent / f".{out_dir.name}-images"
    built: list[Paper] = []
    for n, frac in enumerate(fractions, start=1):
        img = synthetic_page(work / f"page{n}.jpg", noise_fraction=frac, seed=n)
        meta = PaperMetadata(paper_type_code=f"TEST{n:02d}", paper_name=f"Giấy tờ thử {n}",
                             holder_id="001099000001", issue_date=date(2024, 1, 2),
                             summary="Dữ liệu thử nghiệm truyền tải")
        built.append(Paper(component_id=f"c{n}", name=f"Giấy tờ thử {n}",
                           digitisation_class=DigitisationClass.ON_REQUEST, declared_pages=1,
                           captures=[PageCapture(1, Side.FRONT, img, 200.0)], metadata=meta))
    applicant = Applicant(Party(Identifier(IdKind.CCCD, "001099000001"), source=IdSource.MANUAL))
    dossier = Dossier(submission_id=new_submission_id(), terminal_id=cfg.terminal.id, created_at=now_vn(),
                      applicant=applicant, procedure_code="1.000000", case_id="", papers=built)
    build_package(dossier, out_dir, cfg)
    shutil.rmtree(work, ignore_errors=True)
    return out_dir


def template_paper_sizes(template: Path) -> list[int]:
    manifest = json.loads((template / "manifest.json").read_text("utf-8"))
    return [int(p["size"]) for p in manifest["papers"]]


def clone_package(template: Path, out_dir: Path, submission_id: str, cfg: Config, *,
                  paper_indices: list[int] | None = None, terminal_id: str | None = None) -> Path:
    """A package with the template's papers ``paper_indices`` (default: all) under a new submission id,
    its manifest signed by the device key of ``cfg`` (the one that sealed the template's papers)."""
    from kiosk.dossier import manifest as mf
    from kiosk.dossier.keys import device_signer
    from kiosk.timeutil import iso, now_vn

    manifest: dict[str, Any] = json.loads((template / mf.MANIFEST_NAME).read_text("utf-8"))
    papers = manifest["papers"]
    chosen = [papers[i] for i in (paper_indices if paper_indices is not None else range(len(papers)))]
    manifest = {**manifest, "submission_id": submission_id,
                "terminal_id": terminal_id or manifest["terminal_id"], "packaged_at": iso(now_vn()),
                "papers": chosen}
    mf.validate(manifest)
    (out_dir / mf.PAPERS_DIR).mkdir(parents=True, exist_ok=True)
    for p in chosen:
        shutil.copyfile(template / p["file"], out_dir / p["file"])
    data = mf.encode(manifest)
    (out_dir / mf.MANIFEST_NAME).write_bytes(data)
    (out_dir / mf.SIGNATURE_NAME).write_bytes(mf.sign(data, device_signer(cfg)))
    return out_dir


def choose_papers(sizes: list[int], target: int) -> list[int]:
    """Indices of papers whose total size is closest to ``target`` bytes (small exhaustive search)."""
    best: tuple[int, list[int]] = (1 << 62, [0])
    n = len(sizes)
    for mask in range(1, 1 << n):
        idx = [i for i in range(n) if mask >> i & 1]
        diff = abs(sum(sizes[i] for i in idx) - target)
        if diff < best[0]:
            best = (diff, idx)
    return best[1]


def template_config(cfg: Config, terminal_id: str) -> Config:
    """``cfg`` for another terminal id (same data dir and keys)."""
    return replace(cfg, terminal=replace(cfg.terminal, id=terminal_id))


# ---- hand-made packages (rejected by verify_package) ----------------------------------------------------

def device_signer(pki_dir: Path, terminal_id: str) -> pki.Issued:
    """A signing certificate (CN = terminal id) from the CA in ``pki_dir``, for hand-made packages."""
    ca = pki.ensure_ca(pki_dir)
    return pki.ensure_leaf(pki_dir, f"raw-device-{terminal_id}", terminal_id, "sign", ca)


def sign_manifest(manifest_bytes: bytes, signer: pki.Issued) -> bytes:
    """Detached CMS (PKCS#7) signature over the manifest bytes, DER."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest_bytes)
        .add_signer(signer.cert, signer.key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def make_raw_package(out_dir: Path, submission_id: str, terminal_id: str, signer: pki.Issued,
                     paper_sizes: list[int], *, seed: int | None = None) -> Path:
    """Write the package layout by hand: one paper of random bytes per entry of ``paper_sizes``."""
    rng = random.Random(seed if seed is not None else submission_id)
    papers_dir = out_dir / "papers"
    papers_dir.mkdir(parents=True, exist_ok=True)
    papers = []
    for n, size in enumerate(paper_sizes, start=1):
        name = f"papers/TEST{n:03d}.{submission_id[-6:]}.pdf"
        head, tail = b"%PDF-1.7\n", b"\n%%EOF\n"
        data = head + rng.randbytes(max(0, size - len(head) - len(tail))) + tail
        (out_dir / name).write_bytes(data)
        papers.append({"file": name, "storage_code": Path(name).stem,
                       "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})
    manifest = {"submission_id": submission_id, "terminal_id": terminal_id, "papers": papers}
    mbytes = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    (out_dir / "manifest.json").write_bytes(mbytes)
    (out_dir / "manifest.json.p7s").write_bytes(sign_manifest(mbytes, signer))
    return out_dir
