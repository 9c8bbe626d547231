"""PAdES seal (B-B and B-T), staff countersignature, PKCS#11 and PKCS#12 keys, checked with poppler's
pdfsig (NSS database trusting the demo CA) and pyHanko's validator."""

from __future__ import annotations

import io
import re
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pikepdf
import pytest
from dossier_helpers import RenderedWords, front, make_paper, pdf_words, pdfsig

from kiosk import pki
from kiosk.config import Config
from kiosk.dossier.keys import device_signer, signer_certificate, staff_signer, trust_roots
from kiosk.dossier.package import build_paper, countersign
from kiosk.dossier.pdfa import check_pdfa
from kiosk.dossier.signing import SEAL_FIELD, validate_signatures
from kiosk.timeutil import VN_TZ


@pytest.fixture(scope="module")
def sealed(pages: list[RenderedWords], cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    b = build_paper(make_paper([front(pages[0])], storage_code="001099012345.KS"), cfg, device_signer(cfg))
    out = tmp_path_factory.mktemp("sig") / "sealed.pdf"
    out.write_bytes(b.data)
    return out


def test_seal_is_valid_for_pdfsig_and_pyhanko(sealed: Path, cfg: Config, nssdb: Path) -> None:
    r = pdfsig(sealed, nssdb)
    assert r.fields == [SEAL_FIELD] and r.valid == [True] and r.total == [True], r.text
    assert "Certificate is Trusted." in r.text and "ETSI.CAdES.detached" in r.text
    (s,) = validate_signatures(sealed.read_bytes(), trust_roots(cfg))
    assert s.ok and s.covers_whole_file and s.timestamp_ok is None
    assert "KIOSK-TEST-0007" in s.signer_subject
    assert check_pdfa(sealed.read_bytes()) == []


def test_visible_mark_top_right_of_page_one(sealed: Path, cfg: Config) -> None:
    with pikepdf.open(sealed) as pdf:
        page = pdf.pages[0]
        pw, ph = (float(v) for v in page.MediaBox[2:])
        (annot,) = page.Annots
        x1, y1, x2, y2 = (float(v) for v in annot.Rect)
        assert annot.FT == pikepdf.Name.Sig and int(annot.F) & 4
        assert pw - 20 < x2 <= pw and ph - 20 < y2 <= ph and x1 > pw / 2 and y1 > ph * 0.8
        ap = annot.AP.N.read_bytes()
        assert re.search(rb"/F\w+ 10 Tf", ap) and b"/Tx BMC" in ap
        signed_m = str(pdf.Root.AcroForm.Fields[0].V.M)
    words = [w for w in pdf_words(sealed, 1) if w[0] >= x1 - 1 and w[2] <= x2 + 1 and w[1] >= ph - y2 - 1
             and w[3] <= ph - y1 + 1]
    text = " ".join(w[4] for w in words)
    assert text.startswith(f"{cfg.signing.copy_type} {cfg.terminal.agency_name} ")
    stamp_time = words[-1][4]
    t = datetime.fromisoformat(stamp_time)
    assert stamp_time.endswith("+07:00") and t.utcoffset() == VN_TZ.utcoffset(None)
    assert signed_m.startswith("D:" + t.strftime("%Y%m%d%H%M%S") + "+07'00")  # the mark shows /M


def test_countersignature_keeps_seal_valid(sealed: Path, cfg: Config, nssdb: Path, tmp_path: Path) -> None:
    with pikepdf.open(sealed) as pdf:
        before = pdf.Root.Metadata.read_bytes()
    out = countersign(sealed, tmp_path / "cs.pdf", cfg)
    data = out.read_bytes()
    assert data.startswith(sealed.read_bytes())  # incremental update
    r = pdfsig(out, nssdb)
    assert r.fields == [SEAL_FIELD, "StaffSignature"] and r.valid == [True, True] and r.total == [False, True]
    seal, staff = validate_signatures(data, trust_roots(cfg))
    assert seal.ok and not seal.covers_whole_file and seal.modifications_ok
    assert staff.ok and staff.covers_whole_file and "officer" in staff.signer_subject
    with pikepdf.open(out) as pdf:
        assert pdf.Root.Metadata.read_bytes() == before  # XMP untouched by signing
    assert check_pdfa(data) == []
    again = countersign(out, out, cfg)  # in place, second staff signature gets its own field
    r = pdfsig(again, nssdb)
    assert r.fields[-1] == "StaffSignature-2" and all(r.valid) and r.total[-1]


def test_tampered_byte_is_detected(sealed: Path, cfg: Config, nssdb: Path, tmp_path: Path) -> None:
    data = bytearray(sealed.read_bytes())
    pos = data.index(b"/Subtype /Image")  # inside the first signed byte range
    data[pos + 1] ^= 0x01
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(bytes(data))
    r = pdfsig(bad, nssdb)
    assert r.valid == [False] and ("Digest Mismatch" in r.text or "Signature is Invalid" in r.text), r.text
    (s,) = validate_signatures(bytes(data), trust_roots(cfg))
    assert not s.intact and not s.ok


def test_untrusted_root_is_reported(sealed: Path) -> None:
    other = pki.issue("Other CA", "ca")
    (s,) = validate_signatures(sealed.read_bytes(), [other.cert])
    assert s.intact and s.valid and not s.trusted and not s.ok


def test_seal_b_t_with_local_time_stamp_authority(pages: list[RenderedWords], cfg: Config, tsa_url: str,
                                                  nssdb: Path, tmp_path: Path) -> None:
    tcfg = replace(cfg, signing=replace(cfg.signing, tsa_url=tsa_url))
    b = build_paper(make_paper([front(pages[1])]), tcfg, device_signer(tcfg))
    assert b.seal.level == "B-T"
    out = tmp_path / "bt.pdf"
    out.write_bytes(b.data)
    r = pdfsig(out, nssdb)
    assert r.valid == [True] and r.total == [True], r.text
    (s,) = validate_signatures(b.data, trust_roots(cfg))
    assert s.ok and s.timestamp_ok is True
    cs = countersign(out, tmp_path / "bt-cs.pdf", tcfg)
    assert all(x.ok and x.timestamp_ok for x in validate_signatures(cs.read_bytes(), trust_roots(cfg)))


def test_device_key_on_pkcs11_token(softhsm_cfg: Config, pages: list[RenderedWords], nssdb: Path,
                                    tmp_path: Path) -> None:
    signer = device_signer(softhsm_cfg)
    assert signer_certificate(signer).subject.rfc4514_string().startswith("CN=KIOSK-HSM-0001")
    b = build_paper(make_paper([front(pages[0])]), softhsm_cfg, signer)
    out = tmp_path / "hsm.pdf"
    out.write_bytes(b.data)
    r = pdfsig(out, nssdb)
    assert r.valid == [True] and r.total == [True] and "KIOSK-HSM-0001" in r.text, r.text
    (s,) = validate_signatures(b.data, trust_roots(softhsm_cfg))
    assert s.ok


def test_keys_from_pkcs12_files(cfg: Config, ca: pki.Issued, pages: list[RenderedWords], nssdb: Path,
                                tmp_path: Path) -> None:
    dev = pki.issue("KIOSK-P12-0001", "sign", ca)
    staff = pki.issue("Cán bộ Trần Thị Bình", "sign", ca)
    (tmp_path / "dev.p12").write_bytes(dev.pkcs12("dev", b"s3cret", [ca.cert]))
    (tmp_path / "staff.p12").write_bytes(staff.pkcs12("staff", None, [ca.cert]))
    (tmp_path / "pw").write_text("s3cret\n")
    pcfg = replace(cfg, signing=replace(cfg.signing, pkcs12_file=str(tmp_path / "dev.p12"),
                                        pkcs12_password_file=str(tmp_path / "pw"),
                                        staff_pkcs12_file=str(tmp_path / "staff.p12")))
    assert signer_certificate(staff_signer(pcfg)).subject == staff.cert.subject
    b = build_paper(make_paper([front(pages[0])]), pcfg, device_signer(pcfg))
    (tmp_path / "p.pdf").write_bytes(b.data)
    out = countersign(tmp_path / "p.pdf", tmp_path / "p-cs.pdf", pcfg)
    r = pdfsig(out, nssdb)
    assert r.valid == [True, True] and "KIOSK-P12-0001" in r.text and r.total == [False, True], r.text


def test_demo_pki_created_once_and_reused(tmp_path: Path, cfg: Config) -> None:
    fresh = replace(cfg, paths=replace(cfg.paths, data_dir=str(tmp_path / "d")))
    first = signer_certificate(device_signer(fresh))
    names = sorted(p.name for p in (tmp_path / "d" / "pki").iterdir())
    assert names == ["ca.key", "ca.pem", "device-sign.key", "device-sign.pem"]
    assert signer_certificate(device_signer(fresh)) == first
    assert first.subject.rfc4514_string().startswith(f"CN={fresh.terminal.id}")
    staff_signer(fresh)
    assert (tmp_path / "d" / "pki" / "staff-sign.pem").is_file()
    assert ((tmp_path / "d" / "pki" / "device-sign.key").stat().st_mode & 0o777) == 0o600
    assert trust_roots(fresh)[0].subject == trust_roots(fresh)[0].issuer  # the demo CA


def test_pdfsig_cli_agrees_on_openssl_extracted_chain(sealed: Path) -> None:
    # the CMS in the seal carries the device certificate and the CA: openssl can parse it
    with pikepdf.open(sealed) as pdf:
        contents = bytes(pdf.Root.AcroForm.Fields[0].V.Contents).rstrip(b"\0")
    out = subprocess.run(["openssl", "cms", "-cmsout", "-print", "-inform", "DER"], input=contents,
                         capture_output=True, check=True).stdout
    assert b"KIOSK-TEST-0007" in out and b"One-stop kiosk demo CA" in out
    assert io.BytesIO(contents).read(1) == b"\x30"
