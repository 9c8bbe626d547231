"""Signed application receipts (R14): the back end's signed statement that it holds a submission.

The kiosk deletes its copy of a citizen's dossier on a receipt, so a receipt must come from a receiver and
say exactly what it says. Each receipt carries the receiver's certificate (``signer_certificate``, base64
DER) and a signature (``signature``, base64) made with the receiver's key over the receipt's canonical
bytes: the JSON object without those two keys, keys sorted, no spaces, UTF-8. ECDSA P-256 with SHA-256,
deterministic (RFC 6979), so a receipt sent again for a duplicate is byte for byte the same (or RSA PKCS#1
v1.5 with SHA-256 for an RSA key).

The kiosk accepts a receipt only when the certificate was issued by a CA it trusts for MQTT (the
receivers' TLS client certificates come from it), is valid now, names the receiver of the receipt as its
common name, and is not the kiosk's own; and the signature verifies. The outbox keeps the signed receipt
after the purge: it proves who took the dossier over, and when.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

SIGNATURE_KEYS = ("signature", "signer_certificate")


def canonical(receipt: dict[str, Any]) -> bytes:
    """The bytes a receipt's signature covers."""
    body = {k: v for k, v in receipt.items() if k not in SIGNATURE_KEYS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign_receipt(receipt: dict[str, Any], key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
                 cert: x509.Certificate) -> dict[str, Any]:
    """The receipt with the signer's certificate and signature added."""
    data = canonical(receipt)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(data, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    else:
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return {**{k: v for k, v in receipt.items() if k not in SIGNATURE_KEYS},
            "signer_certificate": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
            "signature": base64.b64encode(sig).decode()}


def _common_name(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else None


def verify_receipt(receipt: dict[str, Any], trust_roots: list[x509.Certificate], *, own_id: str,
                   now: datetime | None = None) -> str | None:
    """None when the receipt is signed by a trusted receiver, else the reason it is not."""
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(receipt["signer_certificate"], validate=True))
        sig = base64.b64decode(receipt["signature"], validate=True)
    except (KeyError, TypeError, ValueError, binascii.Error):
        return "unsigned or unreadable signature"
    issuer = None
    for ca in trust_roots:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        issuer = ca
        break
    if issuer is None:
        return "signer certificate not issued by a trusted CA"
    when = now or datetime.now(UTC)
    if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        return "signer certificate not valid now"
    cn = _common_name(cert)
    if cn is None or cn != receipt.get("receiver") or cn == own_id:
        return "signer is not the receiver the receipt names"
    public = cert.public_key()
    data = canonical(receipt)
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public, rsa.RSAPublicKey):
            public.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            return "unsupported signer key"
    except InvalidSignature:
        return "signature does not match the receipt"
    return None
