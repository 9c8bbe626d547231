"""The package manifest (``manifest.json``) and its detached CMS signature (``manifest.json.p7s``).

The manifest is UTF-8 JSON (NFC, two-space indent, keys in a fixed order), validated against
``kiosk/data/manifest.schema.json`` when written and when verified. The signature is a detached CMS
SignedData (SHA-256) over the exact bytes of ``manifest.json``, made with the device key, carrying the
device certificate and its chain. ``docs/package.md`` describes every field.
"""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
from asn1crypto import cms
from cryptography import x509
from pyhanko.sign.signers import Signer

from kiosk.core.applicant import Party
from kiosk.dossier.keys import from_asn1, to_asn1
from kiosk.dossier.signing import run_sync
from kiosk.errors import KioskError
from kiosk.jsonio import nfc

MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.p7s"
PAPERS_DIR = "papers"
SCHEMA_VERSION = 1


@cache
def schema() -> dict[str, Any]:
    text = resources.files("kiosk.data").joinpath("manifest.schema.json").read_text("utf-8")
    return json.loads(text)


def schema_errors(manifest: Any) -> list[str]:
    """Every schema violation, as ``path: message`` (empty when valid)."""
    validator = jsonschema.Draft202012Validator(schema(), format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}" for e in errors]


def validate(manifest: dict[str, Any]) -> None:
    errors = schema_errors(manifest)
    if errors:
        raise KioskError("dossier.manifest_invalid", detail=errors[0])


def party_record(p: Party | None) -> dict[str, Any] | None:
    """Applicant or principal: identifier kind and value, name if known, how it was obtained."""
    if p is None:
        return None
    return {
        "id_kind": p.identifier.kind.value,
        "id_value": p.identifier.value,
        "issuing_state": p.identifier.issuing_state,
        "full_name": p.full_name,
        "source": p.source.value,
    }


def encode(manifest: dict[str, Any]) -> bytes:
    """The manifest's bytes (what the signature covers)."""
    return (json.dumps(nfc(manifest), ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def sign(data: bytes, signer: Signer) -> bytes:
    """Detached CMS signature (DER) over ``data``."""
    ci = run_sync(signer.async_sign_general_data(data, "sha256", detached=True))
    return ci.dump()


def verify_signature(data: bytes, p7s: bytes, trust_roots: list[x509.Certificate]
                     ) -> tuple[list[str], x509.Certificate | None]:
    """Check the detached signature over ``data``. Returns (failed checks, signer certificate)."""
    from pyhanko.sign.validation.generic_cms import async_validate_detached_cms
    from pyhanko_certvalidator import ValidationContext

    try:
        ci = cms.ContentInfo.load(p7s)
        signed_data = ci["content"]
        if ci["content_type"].native != "signed_data":
            return ["manifest.signature.not_signed_data"], None
        vc = ValidationContext(trust_roots=[to_asn1(c) for c in trust_roots], allow_fetching=False)
        st = run_sync(async_validate_detached_cms(io.BytesIO(data), signed_data,
                                                  signer_validation_context=vc))
    except Exception as exc:  # malformed DER, unsupported algorithms, ...
        return [f"manifest.signature.unreadable ({type(exc).__name__})"], None
    fails = []
    if not st.intact:  # invalid and untrusted follow from a digest mismatch; name the cause only
        fails.append("manifest.signature.digest_mismatch")
    elif not st.valid:
        fails.append("manifest.signature.invalid")
    elif not st.trusted:
        fails.append("manifest.signature.untrusted")
    cert = from_asn1(st.signing_cert) if st.signing_cert is not None else None
    return fails, cert
