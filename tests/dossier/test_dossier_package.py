"""Signed package: layout, manifest schema (matches the code), detached CMS signature, verification and
tamper detection; the ``kiosk dossier`` commands end to end with Tesseract OCR."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dossier_helpers import RenderedWords, front, make_dossier, make_paper, pdfsig, render_words

from kiosk import cli, pki
from kiosk.config import Config
from kiosk.core.applicant import Applicant, Identifier, IdKind, Party
from kiosk.dossier import manifest as mf
from kiosk.dossier.keys import device_signer, fingerprint, signer_certificate, trust_roots
from kiosk.dossier.package import build_package, countersign
from kiosk.dossier.verify import verify_package
from kiosk.errors import KioskError


@pytest.fixture(scope="module")
def package(pages: list[RenderedWords], cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    papers = [make_paper([front(pages[0], 1), front(pages[1], 2)], code="KS"),
              make_paper([front(pages[1], 1)], code="HK", name="Sổ hộ khẩu")]
    d = make_dossier(papers)
    out = tmp_path_factory.mktemp("pkg") / "package"
    assert build_package(d, out, cfg) == out
    return out


def copy(pkg: Path, tmp: Path) -> Path:
    dst = tmp / "copy"
    shutil.copytree(pkg, dst)
    return dst


def test_layout_manifest_and_signature(package: Path, cfg: Config, ca: pki.Issued, tmp_path: Path) -> None:
    assert sorted(p.name for p in package.iterdir()) == ["manifest.json", "manifest.json.p7s", "papers"]
    assert sorted(p.name for p in (package / "papers").iterdir()) == ["001099012345.HK.pdf",
                                                                      "001099012345.KS.pdf"]
    assert [p.name for p in package.parent.iterdir()] == ["package"]  # no leftover partial dir
    m = json.loads((package / "manifest.json").read_text("utf-8"))
    assert mf.schema_errors(m) == []
    assert m["device_certificate_sha256"] == fingerprint(signer_certificate(device_signer(cfg)))
    assert m["applicant"] == {"id_kind": "cccd", "id_value": "001099012345", "issuing_state": None,
                              "full_name": "Nguyễn Văn An", "source": "chip_mrz"}
    assert m["principal"] is None and m["procedure_code"] == "1.001234" and m["case_id"] == "TH1"
    ks = m["papers"][0]
    assert ks["storage_code"] == "001099012345.KS" and ks["file"] == "papers/001099012345.KS.pdf"
    assert ks["page_count"] == 2 and [p["sheet"] for p in ks["pages"]] == [1, 2]
    assert ks["metadata"]["extra"] == {"số giấy": "123/2020"} and ks["seal"]["level"] == "B-B"
    assert ks["pages"][0]["quality"] == {"glare": 0.0, "sharpness": 0.91}
    # the detached CMS signature verifies with OpenSSL too, over the exact manifest bytes
    ca_pem = tmp_path / "ca.pem"
    ca_pem.write_bytes(ca.cert_pem())
    ok = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                         str(package / "manifest.json.p7s"), "-content", str(package / "manifest.json"),
                         "-CAfile", str(ca_pem), "-purpose", "any", "-out", "/dev/null"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr


def test_verify_accepts_the_package_and_each_pdf(package: Path, cfg: Config, nssdb: Path) -> None:
    report = verify_package(package, trust_roots(cfg))
    assert report.ok, report.failures
    assert len(report.checks) > 30 and json.loads(report.to_json())["ok"] is True
    for pdf in (package / "papers").iterdir():
        assert verify_package(pdf, trust_roots(cfg)).ok
        r = pdfsig(pdf, nssdb)
        assert r.valid == [True] and r.total == [True]


def test_schema_lists_exactly_the_keys_the_code_writes(package: Path) -> None:
    m = json.loads((package / "manifest.json").read_text("utf-8"))
    schema = mf.schema()

    def resolve(s: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in s:
            node: Any = schema
            for part in s["$ref"].lstrip("#/").split("/"):
                node = node[part]
            s = node
        if "oneOf" in s:
            s = next(resolve(o) for o in s["oneOf"] if o.get("type") != "null")
        return s

    def walk(value: Any, s: dict[str, Any], path: str) -> None:
        s = resolve(s)
        if isinstance(value, dict) and "properties" in s:
            # every key written is in the schema; every key in the schema is required, except the two
            # that only a staff review adds (tests/dossier/test_dossier_review.py checks those)
            assert set(value) == set(s["required"]), path
            assert set(s["properties"]) - set(s["required"]) <= {"staff_review", "countersignature"}, path
            assert s["additionalProperties"] is False, path
            for k, v in value.items():
                walk(v, s["properties"][k], f"{path}/{k}")
        elif isinstance(value, list) and "items" in s:
            for i, v in enumerate(value):
                walk(v, s["items"], f"{path}/{i}")

    walk(m, schema, "")
    bad = json.loads(json.dumps(m))
    bad["papers"][0]["pages"][0]["unexpected"] = 1
    assert any("unexpected" in e for e in mf.schema_errors(bad))


def test_tampered_paper_byte_is_detected(package: Path, cfg: Config, tmp_path: Path, nssdb: Path) -> None:
    pkg = copy(package, tmp_path)
    pdf = pkg / "papers" / "001099012345.HK.pdf"
    data = bytearray(pdf.read_bytes())
    data[data.index(b"/Subtype /Image") + 2] ^= 0x20
    pdf.write_bytes(bytes(data))
    report = verify_package(pkg, trust_roots(cfg))
    assert "paper[001099012345.HK].sha256" in report.failures
    assert "paper[001099012345.HK].signature[KioskSeal].digest_mismatch" in report.failures
    assert not any(f.startswith(("paper[001099012345.KS]", "manifest")) for f in report.failures)
    assert pdfsig(pdf, nssdb).valid == [False]


def test_tampered_manifest_field_is_detected(package: Path, cfg: Config, tmp_path: Path) -> None:
    pkg = copy(package, tmp_path)
    m = json.loads((pkg / "manifest.json").read_text("utf-8"))
    m["papers"][0]["metadata"]["summary"] = "Khai sinh cho người khác"
    (pkg / "manifest.json").write_bytes(mf.encode(m))
    report = verify_package(pkg, trust_roots(cfg))
    assert report.failures == ["manifest.signature.digest_mismatch"]


def test_schema_violation_missing_file_and_extra_file(package: Path, cfg: Config, tmp_path: Path) -> None:
    pkg = copy(package, tmp_path)
    m = json.loads((pkg / "manifest.json").read_text("utf-8"))
    m["papers"][1]["page_count"] = 0
    data = mf.encode(m)
    (pkg / "manifest.json").write_bytes(data)
    (pkg / "manifest.json.p7s").write_bytes(mf.sign(data, device_signer(cfg)))  # validly signed, but wrong
    (pkg / "papers" / "001099012345.KS.pdf").rename(pkg / "papers" / "stray.pdf")
    report = verify_package(pkg, trust_roots(cfg))
    assert "manifest.schema" in report.failures
    assert any(f.startswith("manifest.schema: papers/1/page_count") for f in report.failures)
    assert "paper[001099012345.HK].page_count" in report.failures
    assert "paper[001099012345.KS].missing" in report.failures
    assert "package.unlisted_file[stray.pdf]" in report.failures
    assert not any(f.startswith("manifest.signature") for f in report.failures)


def test_foreign_signer_and_countersigned_paper(package: Path, cfg: Config, ca: pki.Issued, tmp_path: Path
                                                ) -> None:
    pkg = copy(package, tmp_path)
    other = pki.issue("Some other kiosk", "sign", ca)
    from kiosk.dossier.keys import _from_issued

    data = (pkg / "manifest.json").read_bytes()
    (pkg / "manifest.json.p7s").write_bytes(mf.sign(data, _from_issued(other, [ca.cert])))
    report = verify_package(pkg, trust_roots(cfg))
    assert report.failures == ["manifest.device_certificate_mismatch"]
    assert not verify_package(package, [pki.issue("Unrelated CA", "ca").cert]).ok

    cs = countersign(package / "papers" / "001099012345.KS.pdf", tmp_path / "cs.pdf", cfg)
    single = verify_package(cs, trust_roots(cfg))
    assert single.ok, single.failures
    assert [s["field"] for s in single.papers[0]["signatures"]] == ["KioskSeal", "StaffSignature"]


def test_build_refuses_existing_package_and_empty_dossier(package: Path, cfg: Config, tmp_path: Path,
                                                          pages: list[RenderedWords]) -> None:
    d = make_dossier([make_paper([front(pages[0])])])
    with pytest.raises(KioskError) as err:
        build_package(d, package, cfg)
    assert err.value.key == "dossier.package_exists"
    with pytest.raises(KioskError) as err:
        build_package(make_dossier([]), tmp_path / "empty", cfg)
    assert err.value.key == "dossier.no_papers"
    rep = make_dossier([make_paper([front(pages[0])])])
    rep.applicant = Applicant(rep.applicant.submitter, Party(Identifier(IdKind.TAX_CODE, "0312345678")))
    rep.papers[0].storage_code = ""
    out = build_package(rep, tmp_path / "rep", cfg)
    m = json.loads((out / "manifest.json").read_text("utf-8"))
    assert m["principal"]["id_value"] == "0312345678" and m["papers"][0]["storage_code"] == "0312345678.KS"


# --------------------------------------------------------------------------------------------- CLI
def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]], str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


@pytest.fixture
def dd(tmp_path: Path, cfg: Config) -> list[str]:
    """--config (minimum resolution 150 dpi, the test terminal) and --data-dir for CLI runs."""
    toml = tmp_path / "kiosk.toml"
    toml.write_text(f'[vision]\nmin_dpi = 150\n[terminal]\nid = "{cfg.terminal.id}"\n', "utf-8")
    return ["--config", str(toml), "--data-dir", str(cfg.data_dir)]


def test_cli_build_verify_countersign_with_real_ocr(tmp_path: Path, dd: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    page = render_words(tmp_path / "page.png", dpi=200, n_paragraphs=2)
    code, (res,), _ = run_cli(["dossier", "build", *dd, "--applicant", "001099012345",
                               "--procedure", "1.001234", "--case", "TH1",
                               "--paper", f"KS={page.path}", "--paper", f"HK={page.path}",
                               "-o", str(tmp_path / "pkg")], capsys)
    assert code == 0 and [p["storage_code"] for p in res["papers"]] == ["001099012345.KS", "001099012345.HK"]
    m = json.loads((tmp_path / "pkg" / "manifest.json").read_text("utf-8"))
    ocr_words = m["papers"][0]["pages"][0]["ocr_words"]
    assert ocr_words >= 0.9 * len(page.ocr.words)
    text = subprocess.run(["pdftotext", str(tmp_path / "pkg" / res["papers"][0]["file"]), "-"],
                          capture_output=True, text=True, check=True).stdout
    truth = page.ocr.text.split()
    found = set(text.split())
    assert sum(w in found for w in truth) / len(truth) >= 0.9  # Tesseract vie on a clean 200 dpi page

    code, (rep,), _ = run_cli(["dossier", "verify", *dd, str(tmp_path / "pkg")], capsys)
    assert code == 0 and rep["ok"] is True and rep["failures"] == []

    pdf = tmp_path / "pkg" / res["papers"][1]["file"]
    code, (cs,), _ = run_cli(["dossier", "countersign", *dd, str(pdf), "-o", str(tmp_path / "cs.pdf")],
                             capsys)
    assert code == 0 and Path(cs["file"]).is_file()
    code, (rep,), _ = run_cli(["dossier", "verify", *dd, cs["file"]], capsys)
    assert code == 0 and rep["kind"] == "pdf"

    shutil.copyfile(tmp_path / "cs.pdf", pdf)  # countersigned paper no longer matches the manifest hash
    code, (rep,), err = run_cli(["dossier", "verify", *dd, str(tmp_path / "pkg")], capsys)
    assert code == 1 and rep["failures"] == ["paper[001099012345.HK].size", "paper[001099012345.HK].sha256"]
    assert err.startswith("kiosk: verification failed: 2 check(s) failed")


def test_cli_make_pdf_with_metadata(tmp_path: Path, cfg: Config, pages: list[RenderedWords], dd: list[str],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"paper_type_code": "GCN.01", "paper_name": "Giấy chứng nhận",
                                "holder_id": "0312345678", "issue_date": "2024-03-01",
                                "summary": "Đăng ký kinh doanh", "extra": {"số chứng nhận": "A-77"}}),
                    "utf-8")
    out = tmp_path / "one.pdf"
    code, (res,), _ = run_cli(["dossier", "make-pdf", *dd, "--no-ocr", "--duplex",
                               "--metadata", str(meta), str(pages[0].path), str(pages[1].path),
                               "-o", str(out)], capsys)
    assert code == 0 and res["pages"] == 2 and res["storage_code"] == "0312345678.GCN.01"
    assert res["compression"] == ["png_passthrough", "png_passthrough"] and res["ocr_words"] == [0, 0]
    assert verify_package(out, trust_roots(cfg)).ok
    from kiosk.dossier.pdfa import xmp_of

    kd = xmp_of(out.read_bytes())["kd"]
    assert kd["issueDate"] == "2024-03-01" and kd["storageCode"] == "0312345678.GCN.01"

    code, _, err = run_cli(["dossier", "make-pdf", *dd, str(tmp_path / "nope.png"),
                            "-o", str(out)], capsys)
    assert code == 1 and "not found" in err
