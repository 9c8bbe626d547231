"""Dossier package: PDF/A per paper, archive metadata, PAdES seal, countersignature, signed manifest.

Public API (imported lazily, so that ``kiosk --help`` does not load pyHanko)::

    build_package(dossier, out_dir, cfg) -> Path            # kiosk.dossier.package
    make_paper_pdf(paper, out_path, cfg, signer) -> Path    # kiosk.dossier.package
    countersign(in_pdf, out_pdf, cfg) -> Path               # kiosk.dossier.package
    verify_package(path, trust_roots) -> VerifyReport       # kiosk.dossier.verify
    device_signer(cfg), staff_signer(cfg), trust_roots(cfg) # kiosk.dossier.keys

The package format and the XMP namespace are specified in ``docs/package.md``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "build_package": "kiosk.dossier.package",
    "make_paper_pdf": "kiosk.dossier.package",
    "countersign": "kiosk.dossier.package",
    "verify_package": "kiosk.dossier.verify",
    "VerifyReport": "kiosk.dossier.verify",
    "device_signer": "kiosk.dossier.keys",
    "staff_signer": "kiosk.dossier.keys",
    "trust_roots": "kiosk.dossier.keys",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kiosk.dossier' has no attribute {name!r}")
    return getattr(import_module(module), name)
