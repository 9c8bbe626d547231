"""The staff review desk (R12) over a real outbox: held submissions are listed but never sent; opening one
decrypts it into a private folder that is wiped on close; confirming or returning swaps in the reviewed,
officer-signed package and queues it; a power cut at any point loses nothing and leaves nothing decrypted."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
from PIL import Image

from kiosk.config import Config, from_dict
from kiosk.dossier.keys import trust_roots
from kiosk.dossier.review import STAFF_SIGNATURE_NAME
from kiosk.dossier.verify import verify_package
from kiosk.errors import KioskError
from kiosk.queue.fixtures import build_template, clone_package
from kiosk.queue.outbox import Outbox
from kiosk.staffreview import RETURN_REASONS, ReviewDesk


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Config:
    data = tmp_path_factory.mktemp("kiosk-review")
    return from_dict({"paths": {"data_dir": str(data)}, "terminal": {"id": "KIOSK-REVIEW-01"},
                      "outbox": {"min_free_mb": 16}, "review": {"hold_for_staff": True}})


@pytest.fixture(scope="module")
def template(cfg: Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(cfg, tmp_path_factory.mktemp("tpl") / "template", papers=[0.02, 0.02])


def held_package(cfg: Config, template: Path, outbox: Outbox, tmp: Path) -> str:
    sid = uuid.uuid4().hex
    pkg = clone_package(template, tmp / sid, sid, cfg)
    outbox.enqueue(pkg, hold=True)
    assert not pkg.exists()  # the plaintext is gone once the encrypted copy is committed
    return sid


def test_held_entries_wait_for_staff_and_are_not_pending(cfg: Config, template: Path, tmp_path: Path) -> None:
    with Outbox(cfg.data_dir / "o1", cfg) as ob:
        sid = held_package(cfg, template, ob, tmp_path)
        assert [e.submission_id for e in ob.held()] == [sid]
        assert ob.pending() == []  # the uplink only ever sees pending entries
        assert ob.counts()["held"] == 1 and ob.queued_bytes() > 0  # held bytes count against the quota
        manifest = ob.read_manifest(sid)
        assert manifest["submission_id"] == sid and len(manifest["papers"]) == 2


def test_confirm_swaps_in_the_countersigned_package(cfg: Config, template: Path, tmp_path: Path) -> None:
    with Outbox(cfg.data_dir / "o2", cfg) as ob:
        sid = held_package(cfg, template, ob, tmp_path)
        before = ob.get(sid)
        assert before is not None
        desk = ReviewDesk(cfg, ob)
        (held,) = desk.held()
        assert held.submission_id == sid and held.short_code == sid[:8].upper()
        assert held.applicant.startswith("*") and held.applicant[-3:].isdigit()
        assert [p.pages for p in held.papers] == [1, 1] and held.papers[0].images == ()

        opened = desk.open(sid)
        shown = [img for p in opened.papers for img in p.images]
        assert len(shown) == 2
        with Image.open(shown[0]) as im:
            assert max(im.size) == 1600
        review_dir = cfg.data_dir / "review"
        assert review_dir.stat().st_mode & 0o777 == 0o700
        desk.close()
        assert list(review_dir.iterdir()) == []  # nothing decrypted is left behind

        desk.confirm(sid)
        after = ob.get(sid)
        assert after is not None and after.state == "queued" and after.sha256 != before.sha256
        assert [e.submission_id for e in ob.pending()] == [sid] and ob.held() == []
        assert sorted(p.name for p in (ob.blobs).iterdir()) == [after.blob]  # the old blob is gone
        assert list(review_dir.iterdir()) == []
        out = ob.extract_package(sid, tmp_path / "check")
        assert (out / STAFF_SIGNATURE_NAME).is_file()
        report = verify_package(out, trust_roots(cfg))
        assert report.ok, report.failures
        m = json.loads((out / "manifest.json").read_text("utf-8"))
        assert m["staff_review"]["decision"] == "confirmed"
        assert all("countersignature" in p for p in m["papers"])
        records = ob.audit.records()
        assert [r["event"] for r in records] == ["enqueued", "plaintext_removed", "reviewed"]
        assert records[0]["status"] == "held" and records[0]["sha256"] == before.sha256
        assert records[2]["previous_sha256"] == before.sha256 and records[2]["sha256"] == after.sha256
        with pytest.raises(KioskError) as e:
            desk.confirm(sid)  # only held submissions can be reviewed
        assert e.value.key == "review.not_held"


def test_return_records_the_reason_in_vietnamese(cfg: Config, template: Path, tmp_path: Path) -> None:
    with Outbox(cfg.data_dir / "o3", cfg) as ob:
        sid = held_package(cfg, template, ob, tmp_path)
        desk = ReviewDesk(cfg, ob)
        with pytest.raises(KioskError) as e:
            desk.return_submission(sid, "because")
        assert e.value.key == "review.bad_reason"
        assert "unreadable" in RETURN_REASONS
        desk.return_submission(sid, "unreadable")
        out = ob.extract_package(sid, tmp_path / "check")
        assert verify_package(out, trust_roots(cfg)).ok
        review = json.loads((out / "manifest.json").read_text("utf-8"))["staff_review"]
        assert review["decision"] == "returned"
        assert review["reason"] == "Ảnh chụp giấy tờ không rõ, không đọc được"


def test_power_cut_during_a_review(cfg: Config, template: Path, tmp_path: Path) -> None:
    """Decrypted copies left by a crash are wiped at start-up; a reviewed blob written but never
    committed is dropped by recovery and the entry is still held with its original package."""
    with Outbox(cfg.data_dir / "o4", cfg) as ob:
        sid = held_package(cfg, template, ob, tmp_path)
        entry = ob.get(sid)
        assert entry is not None
        desk = ReviewDesk(cfg, ob)
        desk.open(sid)  # then the power goes: close() never runs
        leftovers = list((cfg.data_dir / "review").rglob("*.pdf"))
        assert leftovers
        # a crash after the new blob was written, before the row was switched to it
        orphan = ob.blobs / f"{sid}.{os.urandom(4).hex()}.kob"
        orphan.write_bytes(b"partial review")
        # the process dies: the lock on its open review goes with it (the folder stays)
        assert desk._open is not None
        os.close(desk._open[2])
        desk._open = None
    with Outbox(cfg.data_dir / "o4", cfg) as ob:
        ob.recover()
        assert not orphan.exists()
        again = ob.get(sid)
        assert again is not None and again.state == "held" and again.sha256 == entry.sha256
        ReviewDesk(cfg, ob)
        assert list((cfg.data_dir / "review").iterdir()) == []
        assert ob.read_manifest(sid)["submission_id"] == sid


def test_two_desks_side_by_side(cfg: Config, template: Path, tmp_path: Path) -> None:
    """The touch screen has a submission open when ``kiosk review`` starts: its copy is left alone."""
    with Outbox(cfg.data_dir / "o5", cfg) as ob:
        sid = held_package(cfg, template, ob, tmp_path)
        screen = ReviewDesk(cfg, ob)
        opened = screen.open(sid)
        shown = opened.papers[0].images[0]
        ReviewDesk(cfg, ob)  # a second desk starting up
        assert shown.is_file()
        screen.close()
        assert not shown.exists()


def test_review_commands(cfg: Config, template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                         ) -> None:
    from kiosk import cli

    data = tmp_path / "kiosk"
    local = from_dict({"paths": {"data_dir": str(data)}, "terminal": {"id": "KIOSK-REVIEW-01"},
                       "outbox": {"min_free_mb": 16}})
    # the demo PKI of the other data directory signed the template: reuse it so the source verifies
    shutil.copytree(cfg.data_dir / "pki", data / "pki")
    with Outbox(data, local) as ob:
        first = held_package(local, template, ob, tmp_path)
        second = held_package(local, template, ob, tmp_path)
    cfg_file = tmp_path / "kiosk.toml"
    cfg_file.write_text('[terminal]\nid = "KIOSK-REVIEW-01"\n[outbox]\nmin_free_mb = 16\n')
    base = ["--config", str(cfg_file)]
    assert cli.main(["review", "list", *base, "--data-dir", str(data)]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["submission_id"] for r in listed] == [first, second]
    assert listed[0]["papers"] == [{"name": "Giấy tờ thử 1", "pages": 1},
                                   {"name": "Giấy tờ thử 2", "pages": 1}]
    assert cli.main(["review", "confirm", *base, "--data-dir", str(data), first]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decision"] == "confirmed" and out["state"] == "queued"
    assert cli.main(["review", "return", *base, "--data-dir", str(data), second, "--reason", "missing_paper",
                     "--note", "thiếu giấy chứng sinh bản chính"]) == 0
    assert json.loads(capsys.readouterr().out)["decision"] == "returned"
    with Outbox(data, local) as ob:
        pkg = ob.extract_package(second, tmp_path / "returned")
    review = json.loads((pkg / "manifest.json").read_text("utf-8"))["staff_review"]
    assert review["reason"] == "Thiếu thành phần hồ sơ: thiếu giấy chứng sinh bản chính"
    assert cli.main(["review", "confirm", *base, "--data-dir", str(data), first]) != 0
    assert "review.not_held" in capsys.readouterr().err
