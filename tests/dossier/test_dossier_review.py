"""Staff review of a whole package (R11, R12): confirm (every paper countersigned, manifest refreshed and
signed again by the device and by the officer) or return with a reason; checked with pdfsig, OpenSSL and
``verify_package``; tampering with the review is detected."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dossier_helpers import RenderedWords, front, make_dossier, make_paper, pdfsig

from kiosk import cli, pki
from kiosk.config import Config
from kiosk.dossier import manifest as mf
from kiosk.dossier.keys import device_signer, fingerprint, signer_certificate, staff_signer, trust_roots
from kiosk.dossier.package import build_package
from kiosk.dossier.review import STAFF_SIGNATURE_NAME, review_package
from kiosk.dossier.signing import SEAL_FIELD, STAFF_FIELD
from kiosk.dossier.verify import verify_package
from kiosk.errors import KioskError


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _manifest(pkg: Path) -> dict[str, Any]:
    m: dict[str, Any] = json.loads((pkg / mf.MANIFEST_NAME).read_text("utf-8"))
    return m


def _tree(pkg: Path) -> dict[str, str]:
    return {str(p.relative_to(pkg)): _sha(p) for p in sorted(pkg.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def package(pages: list[RenderedWords], cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    papers = [make_paper([front(pages[0], 1), front(pages[1], 2)], code="KS"),
              make_paper([front(pages[1], 1)], code="HK", name="Sổ hộ khẩu")]
    out = tmp_path_factory.mktemp("review") / "package"
    return build_package(make_dossier(papers), out, cfg)


@pytest.fixture(scope="module")
def confirmed(package: Path, cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = _tree(package)
    out = review_package(package, tmp_path_factory.mktemp("confirmed") / "pkg", cfg)
    assert _tree(package) == before  # the source package is never edited
    return out


def test_confirmed_package_verifies_and_records_the_review(package: Path, confirmed: Path, cfg: Config
                                                          ) -> None:
    report = verify_package(confirmed, trust_roots(cfg))
    assert report.ok, report.failures
    assert any(c == "staff_review.signature" for c in report.checks)
    old, new = _manifest(package), _manifest(confirmed)
    staff_fp = fingerprint(signer_certificate(staff_signer(cfg)))
    review = new["staff_review"]
    assert review["decision"] == "confirmed" and review["reason"] is None
    assert review["staff_certificate_sha256"] == staff_fp
    assert review["previous_manifest_sha256"] == _sha(package / mf.MANIFEST_NAME)
    assert mf.schema_errors(new) == []
    # the review's records carry exactly the keys the schema lists, all required
    defs = mf.schema()["$defs"]
    assert set(review) == set(defs["staff_review"]["required"]) == set(defs["staff_review"]["properties"])
    cs_keys = set(defs["countersignature"]["required"])
    assert cs_keys == set(defs["countersignature"]["properties"])
    assert all(set(p["countersignature"]) == cs_keys for p in new["papers"])
    for o, n in zip(old["papers"], new["papers"], strict=True):
        data = (confirmed / n["file"]).read_bytes()
        assert data.startswith((package / o["file"]).read_bytes())  # incremental update of the sealed PDF
        assert n["sha256"] == hashlib.sha256(data).hexdigest() != o["sha256"] and n["size"] == len(data)
        assert n["countersignature"]["field"] == STAFF_FIELD
        assert n["countersignature"]["staff_certificate_sha256"] == staff_fp
        assert n["seal"] == o["seal"] and n["pages"] == o["pages"]
    assert {k: v for k, v in new.items() if k not in ("papers", "staff_review")} == \
        {k: v for k, v in old.items() if k != "papers"}


def test_pdfsig_sees_the_seal_and_the_countersignature(confirmed: Path, nssdb: Path) -> None:
    for pdf in sorted((confirmed / mf.PAPERS_DIR).iterdir()):
        r = pdfsig(pdf, nssdb)
        assert r.fields == [SEAL_FIELD, STAFF_FIELD], r.text
        assert r.valid == [True, True] and r.total == [False, True], r.text


def test_both_manifest_signatures_verify_with_openssl(confirmed: Path, ca: pki.Issued, cfg: Config,
                                                     tmp_path: Path) -> None:
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(ca.cert_pem())
    subjects = []
    for sig in (mf.SIGNATURE_NAME, STAFF_SIGNATURE_NAME):
        signer = tmp_path / f"{sig}.signer.pem"
        r = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER",
                            "-in", str(confirmed / sig), "-content", str(confirmed / mf.MANIFEST_NAME),
                            "-CAfile", str(ca_pem),
                            "-purpose", "any", "-signer", str(signer), "-out", "/dev/null"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        subjects.append(subprocess.run(["openssl", "x509", "-noout", "-subject", "-in", str(signer)],
                                       capture_output=True, text=True, check=True).stdout)
    assert cfg.terminal.id in subjects[0] and "officer" in subjects[1]


def test_returned_package_keeps_papers_and_needs_a_reason(package: Path, cfg: Config, tmp_path: Path) -> None:
    with pytest.raises(KioskError) as e:
        review_package(package, tmp_path / "r0", cfg, decision="returned")
    assert e.value.key == "dossier.review_reason_required"
    assert not (tmp_path / "r0").exists()
    out = review_package(package, tmp_path / "r1", cfg, decision="returned",
                         reason="Thiếu bản gốc giấy khai sinh để đối chiếu")
    report = verify_package(out, trust_roots(cfg))
    assert report.ok, report.failures
    new = _manifest(out)
    assert new["staff_review"]["decision"] == "returned"
    assert new["staff_review"]["reason"] == "Thiếu bản gốc giấy khai sinh để đối chiếu"
    for p in new["papers"]:
        assert "countersignature" not in p
        assert _sha(out / p["file"]) == _sha(package / p["file"])


def test_refuses_a_tampered_or_already_reviewed_source(package: Path, confirmed: Path, cfg: Config,
                                                      tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(package, bad)
    pdf = next((bad / mf.PAPERS_DIR).iterdir())
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    with pytest.raises(KioskError) as e:
        review_package(bad, tmp_path / "out1", cfg)
    assert e.value.key == "dossier.review_source_invalid"
    with pytest.raises(KioskError) as e:
        review_package(confirmed, tmp_path / "out2", cfg)
    assert e.value.key == "dossier.review_already_done"
    assert not (tmp_path / "out1").exists() and not (tmp_path / "out2").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad"]  # no partial directories left


def test_tampering_with_the_review_is_detected(package: Path, confirmed: Path, cfg: Config, tmp_path: Path
                                              ) -> None:
    roots = trust_roots(cfg)

    def variant(name: str) -> Path:
        d = tmp_path / name
        shutil.copytree(confirmed, d)
        return d

    d = variant("no_staff_sig")
    (d / STAFF_SIGNATURE_NAME).unlink()
    assert "staff_review.signature.missing" in verify_package(d, roots).failures

    d = variant("device_as_staff")  # a valid, trusted signature, but not by the officer the review names
    shutil.copy(d / mf.SIGNATURE_NAME, d / STAFF_SIGNATURE_NAME)
    assert verify_package(d, roots).failures == ["staff_review.signer_mismatch"]

    d = variant("uncountersigned_paper")  # a countersigned paper swapped back for the sealed original
    first = _manifest(d)["papers"][0]["file"]
    shutil.copy(package / first, d / first)
    fails = verify_package(d, roots).failures
    assert any(f.endswith(".sha256") for f in fails)
    assert any(f.endswith(".countersignature_field_missing") for f in fails)

    d = variant("stray_staff_sig")  # an unreviewed package must not carry a staff signature
    shutil.rmtree(d)
    shutil.copytree(package, d)
    shutil.copy(confirmed / STAFF_SIGNATURE_NAME, d / STAFF_SIGNATURE_NAME)
    assert verify_package(d, roots).failures == ["staff_review.signature_without_review"]

    d = variant("device_resigned_without_officer")  # the kiosk alone cannot fake a confirmation
    m = _manifest(d)
    m["staff_review"]["reviewed_at"] = "2030-01-01T00:00:00+07:00"
    data = mf.encode(m)
    (d / mf.MANIFEST_NAME).write_bytes(data)
    (d / mf.SIGNATURE_NAME).write_bytes(mf.sign(data, device_signer(cfg)))
    assert verify_package(d, roots).failures == ["staff_review.signature.digest_mismatch"]


def test_cli_countersign_package_then_verify(package: Path, cfg: Config, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    dd = ["--data-dir", str(cfg.data_dir)]
    assert cli.main(["dossier", "countersign", *dd, str(package), "-o", str(tmp_path / "c")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "confirmed" and len(out["papers"]) == 2
    assert out["manifest_sha256"] == _sha(tmp_path / "c" / mf.MANIFEST_NAME)
    assert cli.main(["dossier", "verify", *dd, str(tmp_path / "c")]) == 0
    capsys.readouterr()
    code = cli.main(["dossier", "countersign", *dd, str(package), "-o", str(tmp_path / "r"),
                     "--decision", "returned"])
    assert code != 0
    assert "dossier.review_reason_required" in capsys.readouterr().err


def test_the_officer_signs_with_their_own_token_and_pin(
        package: Path, officer_token: tuple[Config, pki.Issued], tmp_path: Path, nssdb: Path) -> None:
    cfg, leaf = officer_token
    with pytest.raises(KioskError) as e:
        review_package(package, tmp_path / "nopin", cfg)
    assert e.value.key == "dossier.staff_pin_required"
    with pytest.raises(KioskError) as e:
        review_package(package, tmp_path / "badpin", cfg, pin="0000")
    assert e.value.key == "dossier.staff_pin_wrong"
    assert not (tmp_path / "nopin").exists() and not (tmp_path / "badpin").exists()
    out = review_package(package, tmp_path / "ok", cfg, pin="4321")
    report = verify_package(out, trust_roots(cfg))
    assert report.ok, report.failures
    officer_fp = fingerprint(leaf.cert)
    m = _manifest(out)
    assert m["staff_review"]["staff_certificate_sha256"] == officer_fp
    assert all(p["countersignature"]["staff_certificate_sha256"] == officer_fp for p in m["papers"])
    pdf = next((out / mf.PAPERS_DIR).iterdir())
    r = pdfsig(pdf, nssdb)
    assert r.valid == [True, True] and "Nguyễn Thị Bình" in r.text
