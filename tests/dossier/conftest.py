"""Fixtures for the dossier tests: a config with a demo PKI, an NSS database trusting the demo CA (for
pdfsig), rendered pages, a local RFC 3161 responder and a SoftHSM2 token."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from dossier_helpers import RenderedWords, free_port, render_words

from kiosk import pki
from kiosk.config import Config, from_dict

SOFTHSM_LIB = "/usr/lib/softhsm/libsofthsm2.so"


# ----------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data directory (with its demo PKI) for the whole session."""
    return tmp_path_factory.mktemp("kiosk-data")


@pytest.fixture(scope="session")
def cfg(data_dir: Path) -> Config:
    return from_dict({"paths": {"data_dir": str(data_dir)}, "vision": {"min_dpi": 150},
                      "terminal": {"id": "KIOSK-TEST-0007", "agency_name": "UBND phường Bến Thành"}})


@pytest.fixture(scope="session")
def ca(cfg: Config) -> pki.Issued:
    return pki.ensure_ca(cfg.data_dir / "pki")


@pytest.fixture(scope="session")
def nssdb(tmp_path_factory: pytest.TempPathFactory, ca: pki.Issued) -> Path:
    d = tmp_path_factory.mktemp("nss")
    ca_pem = d / "ca.pem"
    ca_pem.write_bytes(ca.cert_pem())
    subprocess.run(["certutil", "-N", "-d", f"sql:{d}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{d}", "-n", "Test Root", "-t", "C,C,C", "-i", str(ca_pem)],
                   check=True, capture_output=True)
    return d


@pytest.fixture(scope="session")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[RenderedWords]:
    """Two rendered 150 dpi A4 pages with word ground truth."""
    d = tmp_path_factory.mktemp("pages")
    return [render_words(d / "p1.png", first=0), render_words(d / "p2.png", first=3)]


class _TsaHandler(http.server.BaseHTTPRequestHandler):
    stamper: object = None

    def do_POST(self) -> None:
        from asn1crypto import tsp

        body = self.rfile.read(int(self.headers["Content-Length"]))
        resp = self.stamper.request_tsa_response(tsp.TimeStampReq.load(body))  # type: ignore[attr-defined]
        data = resp.dump()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


@pytest.fixture(scope="session")
def tsa_url(cfg: Config, ca: pki.Issued) -> Iterator[str]:
    """A local RFC 3161 responder: pyHanko's DummyTimeStamper (RSA key, certificate from the demo CA)
    behind http.server on 127.0.0.1."""
    from asn1crypto import keys as asn1_keys
    from cryptography.hazmat.primitives import serialization
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    from kiosk.dossier.keys import to_asn1

    leaf = pki.ensure_leaf(cfg.data_dir / "pki", "tsa", "Test TSA", "tsa", ca, key_kind="rsa")
    key = asn1_keys.PrivateKeyInfo.load(leaf.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    stamper = DummyTimeStamper(tsa_cert=to_asn1(leaf.cert), tsa_key=key,
                               certs_to_embed=SimpleCertificateStore.from_certs([to_asn1(ca.cert)]))
    handler = type("H", (_TsaHandler,), {"stamper": stamper})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    th = threading.Thread(target=server.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class SoftHsm:
    """SoftHSM2 for the whole session: token ``kiosk`` (PIN 1234) holds the device key ``device``;
    token ``can-bo-an`` (PIN 4321) holds an officer's own key ``ky-so``, as their USB token would."""

    pin_file: Path
    device: pki.Issued
    officer: pki.Issued


def _token(label: str, pin: str, leaf: pki.Issued, key_label: str, work: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                    "--so-pin", "5678"], check=True, capture_output=True)
    key_der, cert_der = work / f"{label}.key.der", work / f"{label}.cert.der"
    key_der.write_bytes(leaf.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    cert_der.write_bytes(leaf.cert.public_bytes(serialization.Encoding.DER))
    base = ["pkcs11-tool", "--module", SOFTHSM_LIB, "--token-label", label, "--login", "--pin", pin]
    for obj, kind in ((key_der, "privkey"), (cert_der, "cert")):
        subprocess.run([*base, "--write-object", str(obj), "--type", kind, "--label", key_label,
                        "--id", "01"], check=True, capture_output=True)


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory, ca: pki.Issued) -> Iterator[SoftHsm]:
    """One SoftHSM2 configuration for the session: SoftHSM reads SOFTHSM2_CONF once per process, at the
    first C_Initialize, so every token the tests use is made before that, in one token directory."""
    if not Path(SOFTHSM_LIB).exists() or shutil.which("pkcs11-tool") is None:
        pytest.skip("SoftHSM2 / OpenSC not installed")
    from kiosk.dossier.keys import close_pkcs11_sessions

    work = tmp_path_factory.mktemp("softhsm")
    tokens = work / "tokens"
    tokens.mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    device = pki.issue("KIOSK-HSM-0001", "sign", ca)
    officer = pki.issue("Nguyễn Thị Bình - Bộ phận Một cửa", "sign", ca)
    _token("kiosk", "1234", device, "device", work)
    _token("can-bo-an", "4321", officer, "ky-so", work)
    pin = work / "pin"
    pin.write_text("1234\n")
    try:
        yield SoftHsm(pin, device, officer)
    finally:
        close_pkcs11_sessions()
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved


@pytest.fixture
def softhsm_cfg(softhsm: SoftHsm, cfg: Config) -> Config:
    """A config that takes the device key from the SoftHSM2 token ``kiosk``."""
    return replace(cfg, signing=replace(cfg.signing, pkcs11_module=SOFTHSM_LIB, pkcs11_token_label="kiosk",
                                        pkcs11_key_label="device", pkcs11_pin_file=str(softhsm.pin_file)))


@pytest.fixture
def officer_token(softhsm: SoftHsm, cfg: Config) -> tuple[Config, pki.Issued]:
    """A config in which officers sign with their own token (``can-bo-an``, PIN 4321), and its key."""
    signing = replace(cfg.signing, staff_pkcs11_module=SOFTHSM_LIB, staff_pkcs11_token_label="can-bo-an",
                      staff_pkcs11_key_label="ky-so")
    return replace(cfg, signing=signing), softhsm.officer


@pytest.fixture(autouse=True)
def _tesseract_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_THREAD_LIMIT", os.environ.get("OMP_THREAD_LIMIT", "1"))
