"""Signing identities: the kiosk's device seal and the staff countersignature (R11).

The device key comes, in this order, from a PKCS#11 token (``signing.pkcs11_module``), a PKCS#12 file
(``signing.pkcs12_file``) or, when neither is configured, a demo PKI in ``<data_dir>/pki/`` created on
first use and kept for later runs: ``ca.pem``/``ca.key`` (the demo CA, also the trust root for
``kiosk dossier verify``), ``device-sign.pem``/``.key`` (CN = terminal id) and ``staff-sign.pem``/``.key``.
The staff key comes from ``signing.staff_pkcs12_file`` or the demo PKI.

Passwords and PINs are read from the files named in the config (first line, without the newline); they
are never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from pyhanko.sign import signers
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from kiosk import pki
from kiosk.config import Config
from kiosk.errors import KioskError

log = logging.getLogger("kiosk.dossier")

DEVICE_NAME = "device-sign"
STAFF_NAME = "staff-sign"
_P11_LOCK = threading.Lock()
_P11_SESSIONS: dict[tuple[str, str], object] = {}


def pki_dir(cfg: Config) -> Path:
    return cfg.data_dir / "pki"


def _secret(path: str) -> str | None:
    if not path:
        return None
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except OSError as exc:
        raise KioskError("dossier.secret_unreadable", path=path) from exc
    return lines[0] if lines else ""


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def from_asn1(cert: asn1_x509.Certificate) -> x509.Certificate:
    return x509.load_der_x509_certificate(cert.dump())


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint of the DER certificate, lower-case hex."""
    return cert.fingerprint(hashes.SHA256()).hex()


def signer_certificate(signer: Signer) -> x509.Certificate:
    if signer.signing_cert is None:
        raise KioskError("dossier.no_certificate")
    return from_asn1(signer.signing_cert)


def _from_issued(leaf: pki.Issued, chain: list[x509.Certificate]) -> Signer:
    key = asn1_keys.PrivateKeyInfo.load(leaf.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return signers.SimpleSigner(
        signing_cert=to_asn1(leaf.cert), signing_key=key,
        cert_registry=SimpleCertificateStore.from_certs([to_asn1(c) for c in chain]),
    )


def _from_pkcs12(path: str, password_file: str) -> Signer:
    p = Path(path)
    if not p.is_file():
        raise KioskError("dossier.key_missing", path=path)
    password = _secret(password_file)
    signer = signers.SimpleSigner.load_pkcs12(str(p), passphrase=password.encode() if password else None)
    if signer is None:
        raise KioskError("dossier.key_unreadable", path=path)
    return signer


def _pkcs11_session(module: str, token_label: str, pin: str | None) -> object:
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    key = (module, token_label)
    with _P11_LOCK:
        session = _P11_SESSIONS.get(key)
        if session is None:
            try:
                session = open_pkcs11_session(module, token_criteria=TokenCriteria(label=token_label or None),
                                              user_pin=pin)
            except Exception as exc:
                raise KioskError("dossier.token_unavailable", module=module) from exc
            _P11_SESSIONS[key] = session
        return session


def close_pkcs11_sessions() -> None:
    """Close the cached PKCS#11 sessions (tests, shutdown)."""
    with _P11_LOCK:
        for session in _P11_SESSIONS.values():
            try:
                session.close()  # type: ignore[attr-defined]
            except Exception:  # the token may be gone already
                log.warning("closing a PKCS#11 session failed")
        _P11_SESSIONS.clear()


def _from_pkcs11(cfg: Config, chain: list[x509.Certificate]) -> Signer:
    s = cfg.signing
    session = _pkcs11_session(s.pkcs11_module, s.pkcs11_token_label, _secret(s.pkcs11_pin_file))
    return _token_signer(session, s.pkcs11_key_label, chain)


def _token_signer(session: Any, key_label: str, chain: list[x509.Certificate]) -> Signer:
    """The signer for the key and certificate labelled ``key_label`` in an open PKCS#11 session."""
    from pyhanko.sign.pkcs11 import PKCS11Signer

    label = key_label or None
    ca_chain = [to_asn1(c) for c in chain]
    try:
        signer = PKCS11Signer(session, cert_label=label, key_label=label, ca_chain=ca_chain)
        if signer.signing_cert.public_key.algorithm == "ec":
            # hash here, sign with raw CKM_ECDSA: tokens (SoftHSM2 among them) often lack CKM_ECDSA_SHA256
            signer = PKCS11Signer(session, cert_label=label, key_label=label, ca_chain=ca_chain,
                                  use_raw_mechanism=True)
    except Exception as exc:
        raise KioskError("dossier.token_key_missing", label=label or "") from exc
    return signer


def demo_ca(cfg: Config) -> pki.Issued:
    return pki.ensure_ca(pki_dir(cfg))


def _demo_leaf(cfg: Config, name: str, cn: str) -> tuple[pki.Issued, pki.Issued]:
    ca = demo_ca(cfg)
    return pki.ensure_leaf(pki_dir(cfg), name, cn, "sign", ca), ca


def _chain_file(cfg: Config) -> list[x509.Certificate]:
    """The demo CA certificate, when present, for embedding in signatures made with configured keys."""
    ca = pki_dir(cfg) / "ca.pem"
    return [x509.load_pem_x509_certificate(ca.read_bytes())] if ca.is_file() else []


def device_signer(cfg: Config) -> Signer:
    """The kiosk's sealing identity (PKCS#11 token, PKCS#12 file, or the demo certificate)."""
    s = cfg.signing
    if s.pkcs11_module:
        return _from_pkcs11(cfg, _chain_file(cfg))
    if s.pkcs12_file:
        return _from_pkcs12(s.pkcs12_file, s.pkcs12_password_file)
    leaf, ca = _demo_leaf(cfg, DEVICE_NAME, cfg.terminal.id)
    return _from_issued(leaf, [ca.cert])


def officer_token_configured(cfg: Config) -> bool:
    """Whether officers sign with their own PKCS#11 token (and so must type its PIN)."""
    return bool(cfg.signing.staff_pkcs11_module)


@contextmanager
def officer_signer(cfg: Config, pin: str | None = None) -> Iterator[Signer]:
    """The signer of a staff review: the officer's own token (``signing.staff_pkcs11_module``, logged in
    with ``pin`` for this one decision and logged out after it), else :func:`staff_signer`."""
    s = cfg.signing
    if not s.staff_pkcs11_module:
        yield staff_signer(cfg)
        return
    if not pin:
        raise KioskError("dossier.staff_pin_required")
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import open_pkcs11_session

    try:
        session = open_pkcs11_session(s.staff_pkcs11_module,
                                      token_criteria=TokenCriteria(label=s.staff_pkcs11_token_label or None),
                                      user_pin=pin)
    except Exception as exc:
        text = f"{type(exc).__name__} {exc}".upper()
        if "PIN" in text:
            log.warning("officer token: wrong PIN or PIN locked")
            raise KioskError("dossier.staff_pin_wrong") from exc
        raise KioskError("dossier.token_unavailable", module=s.staff_pkcs11_module) from exc
    try:
        yield _token_signer(session, s.staff_pkcs11_key_label, _chain_file(cfg))
    finally:
        try:
            session.close()
        except Exception:  # the token may have been pulled out
            log.warning("closing the officer's token session failed")


def staff_signer(cfg: Config) -> Signer:
    """The one-stop officer's identity for countersignatures (PKCS#12 file or the demo certificate)."""
    s = cfg.signing
    if s.staff_pkcs12_file:
        return _from_pkcs12(s.staff_pkcs12_file, s.staff_pkcs12_password_file)
    leaf, ca = _demo_leaf(cfg, STAFF_NAME, f"Demo one-stop officer {cfg.terminal.id}")
    return _from_issued(leaf, [ca.cert])


def trust_roots(cfg: Config, extra: list[Path] | None = None) -> list[x509.Certificate]:
    """Trust roots for verification: the certificates in the ``extra`` PEM files, else the demo CA of the
    data directory (``pki/ca.pem``) if there is one, else none."""
    roots: list[x509.Certificate] = []
    for p in extra or []:
        try:
            roots.extend(x509.load_pem_x509_certificates(Path(p).read_bytes()))
        except (OSError, ValueError) as exc:
            raise KioskError("dossier.bad_trust_root", path=str(p)) from exc
    return roots or _chain_file(cfg)
