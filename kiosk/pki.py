"""Small X.509 toolkit on ``cryptography``: a CA, and leaf certificates for document signing (device
seal, staff countersignature) and for TLS (broker server, terminal clients, receivers).

Used for the demo's self-made PKI and by the tests. Keys are EC P-256 unless RSA is asked for (the
RFC 3161 test responder wants RSA). Private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
Usage = Literal["ca", "sign", "tls_server", "tls_client", "tsa"]


@dataclass(frozen=True)
class Issued:
    key: PrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write(self, cert_path: Path, key_path: Path) -> None:
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(self.cert_pem())
        write_private(key_path, self.key_pem())

    def pkcs12(self, name: str, password: bytes | None = None, chain: list[x509.Certificate] | None = None
               ) -> bytes:
        enc: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return pkcs12.serialize_key_and_certificates(name.encode(), self.key, self.cert, chain, enc)


def write_private(path: Path, data: bytes) -> None:
    """Write secret bytes readable by the owner only (created 0600, never world-readable in between)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def new_key(kind: Literal["ec", "rsa"] = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def issue(
    cn: str,
    usage: Usage,
    issuer: Issued | None = None,
    *,
    org: str = "One-stop kiosk demo",
    key_kind: Literal["ec", "rsa"] = "ec",
    days: int = 825,
    dns: list[str] | None = None,
    ips: list[str] | None = None,
) -> Issued:
    """Issue a certificate for ``usage``; without ``issuer`` it is self-signed (for a CA)."""
    key = new_key(key_kind)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    subject = _name(cn, org)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    if usage == "ca":
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=usage == "sign",
                          key_encipherment=usage in ("tls_server", "tls_client") and key_kind == "rsa",
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False), critical=True)
        eku = {
            "sign": [ExtendedKeyUsageOID.EMAIL_PROTECTION],
            "tls_server": [ExtendedKeyUsageOID.SERVER_AUTH],
            "tls_client": [ExtendedKeyUsageOID.CLIENT_AUTH],
            "tsa": [ExtendedKeyUsageOID.TIME_STAMPING],
        }[usage]
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=usage == "tsa")
        alt: list[x509.GeneralName] = [x509.DNSName(d) for d in (dns or [])]
        alt += [x509.IPAddress(ipaddress.ip_address(i)) for i in (ips or [])]
        if alt:
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    signer = issuer.key if issuer else key
    cert = builder.sign(signer, hashes.SHA256())
    return Issued(key=key, cert=cert)


def load_pem(cert_path: Path, key_path: Path) -> Issued:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"unsupported key type in {key_path}")
    return Issued(key=key, cert=x509.load_pem_x509_certificate(cert_path.read_bytes()))


def ensure_ca(pki_dir: Path, cn: str = "One-stop kiosk demo CA") -> Issued:
    """The demo/test CA in ``pki_dir`` (ca.pem, ca.key), created on first use and reused after."""
    cert_path, key_path = pki_dir / "ca.pem", pki_dir / "ca.key"
    if cert_path.exists() and key_path.exists():
        return load_pem(cert_path, key_path)
    ca = issue(cn, "ca", days=3650)
    ca.write(cert_path, key_path)
    return ca


def ensure_leaf(pki_dir: Path, name: str, cn: str, usage: Usage, ca: Issued, *,
                key_kind: Literal["ec", "rsa"] = "ec", dns: list[str] | None = None,
                ips: list[str] | None = None) -> Issued:
    """A leaf certificate ``<name>.pem`` / ``<name>.key`` in ``pki_dir`` issued by ``ca``, created on
    first use and reused after (re-issued if it was not issued by this CA)."""
    cert_path, key_path = pki_dir / f"{name}.pem", pki_dir / f"{name}.key"
    if cert_path.exists() and key_path.exists():
        leaf = load_pem(cert_path, key_path)
        if leaf.cert.issuer == ca.cert.subject:
            return leaf
    leaf = issue(cn, usage, ca, key_kind=key_kind, dns=dns, ips=ips)
    leaf.write(cert_path, key_path)
    return leaf
