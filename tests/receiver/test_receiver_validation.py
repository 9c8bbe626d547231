"""Two-stage verification against a real Mosquitto: admission (hashes, manifest schema and signature, ids,
file set) before the receipt; the deep validation (PDF seals, PDF/A) after it, recorded in validation.json,
the audit log and an alert - or before it with --strict."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from outbox_helpers import RunningReceiver, Terminal, raw, wait_for
from receiver_helpers import Kiosk, Wire, break_seal, reseal_manifest

from kiosk.dossier.verify import verify_package
from kiosk.queue import protocol as proto
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.chunking import archive_bytes, sha256_hex
from kiosk.queue.protocol import ChunkHeader
from kiosk.queue.uplink import Uplink
from kiosk.receiver.store import PackageStore

RecvF = Callable[..., RunningReceiver]


def _stored(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if not p.name.startswith("."))


def _audit(store: Path) -> list[dict[str, object]]:
    path = store / ".audit" / "receiver-audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _broken_seal_package(t: Terminal) -> Path:
    """A package whose manifest is validly signed by the device and lists the papers' real hashes, but
    one paper's PAdES seal no longer matches its bytes."""
    pkg = t.package([0, 1])
    break_seal(next((pkg / "papers").iterdir()))
    reseal_manifest(pkg, t.factory.cfg)
    return pkg


def test_a_wrong_paper_hash_is_rejected_before_any_stored_receipt(terminal: Terminal, receiver_factory: RecvF,
                                                                  broker: MosquittoBroker,
                                                                  tmp_path: Path) -> None:
    r = receiver_factory()
    pkg = terminal.package([0, 1])
    paper = sorted((pkg / "papers").iterdir())[1]
    data = bytearray(paper.read_bytes())
    data[len(data) // 3] ^= 0x01  # changed after the manifest was signed
    paper.write_bytes(bytes(data))
    w = Wire.of(pkg, terminal.id)
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, range(w.chunks))
        receipt = k.wait("receipt")[0]
        k.offer(w, resume=True, attempt=2)  # asking again gets the same rejection
        again = k.wait("receipt", 2)
    assert receipt["status"] == "rejected" and receipt["reason"] == "verification_failed"
    assert receipt["failures"] == [f"paper[{paper.stem}].sha256"]
    assert all(x["status"] == "rejected" for x in again)
    assert _stored(tmp_path / "store") == [] and r.receiver.stats.stored == 0
    assert not any((tmp_path / "store" / ".validate").iterdir())
    assert [e["event"] for e in _audit(tmp_path / "store")] == ["rejected"]


def test_admission_refuses_an_extra_file_and_a_file_the_manifest_lists_but_the_archive_lacks(
        terminal: Terminal, receiver_factory: RecvF, broker: MosquittoBroker, tmp_path: Path) -> None:
    receiver_factory()
    extra = terminal.package([0])
    (extra / "validation.json").write_text('{"ok": true}')  # a kiosk cannot pre-empt the receiver's record
    missing = terminal.package([0, 1])
    gone = sorted((missing / "papers").iterdir())[1]
    gone.unlink()
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        for pkg in (extra, missing):
            w = Wire.of(pkg, terminal.id)
            k.send(w, range(w.chunks))
        receipts = {r["submission_id"]: r for r in k.wait("receipt", 2)}
    assert receipts[extra.name]["failures"] == ["package.unexpected_file[validation.json]"]
    assert receipts[missing.name]["failures"] == [f"paper[{gone.stem}].missing"]
    assert {r["reason"] for r in receipts.values()} == {"verification_failed"}
    assert _stored(tmp_path / "store") == []


def test_a_broken_seal_is_stored_receipted_then_flagged_with_an_alert(terminal: Terminal,
                                                                       receiver_factory: RecvF,
                                                                       broker: MosquittoBroker,
                                                                       tmp_path: Path) -> None:
    r = receiver_factory()
    pkg = _broken_seal_package(terminal)
    sid = pkg.name
    with raw(broker.port, "receiver-2", broker.client_tls("receiver-2")) as ops:
        ops.wait_suback(ops.client.subscribe(f"{proto.ALERTS}/#", qos=1)[1])
        e = terminal.outbox.enqueue(pkg)
        up = Uplink(terminal.cfg, terminal.outbox)
        assert up.run_until_empty(timeout=60)
        # Admitted and receipted: the kiosk purged its copy.
        receipt = terminal.outbox.receipt(sid)
        assert receipt is not None and receipt["status"] == "stored" and receipt["validation"] == "deferred"
        assert terminal.outbox.get(sid).state == "purged"  # type: ignore[union-attr]
        assert wait_for(lambda: bool(ops.messages), 60), "an alert"
        topic, payload = ops.messages[0]
    assert topic == proto.alert_topic("receiver-1")
    alert = proto.decode("alert", payload)
    assert alert["kind"] == "validation_failed" and alert["severity"] == "error"
    assert alert["submission_id"] == sid and alert["sha256"] == e.sha256
    assert alert["terminal_id"] == terminal.id
    assert any(f.endswith(".signature[KioskSeal].digest_mismatch") for f in alert["failures"])
    assert all("001099000001" not in f for f in alert["failures"]), "identifiers are masked in alerts"
    # The package is stored as sent; validation.json holds the verdict, unmasked, next to it.
    store = tmp_path / "store"
    assert _stored(store) == [sid]
    v = json.loads((store / sid / "validation.json").read_text())
    assert proto.validate("validation", v) and v["ok"] is False and v["mode"] == "deferred"
    paper = next(p.stem for p in (store / sid / "papers").iterdir())
    assert f"paper[{paper}].signature[KioskSeal].digest_mismatch" in v["failures"]
    assert v["failures"] == verify_package(store / sid, [terminal.factory.ca_cert]).failures
    assert [x["event"] for x in _audit(store)] == ["stored", "validation_failed"]
    assert wait_for(lambda: r.receiver.stats.alerts_sent == 1, 10)
    assert r.receiver.stats.validation_failed == 1
    assert not any((store / ".validate").iterdir())


def test_strict_receiver_rejects_a_broken_seal_and_validates_good_packages_before_the_receipt(
        terminal: Terminal, receiver_factory: RecvF, broker: MosquittoBroker, tmp_path: Path) -> None:
    r = receiver_factory(strict=True)
    bad = _broken_seal_package(terminal)
    good = terminal.package([1])
    e_bad = terminal.outbox.enqueue(bad)
    e_good = terminal.outbox.enqueue(good)
    assert Uplink(terminal.cfg, terminal.outbox).run_until_empty(timeout=60)
    rejected = terminal.outbox.get(e_bad.submission_id)
    assert rejected is not None and rejected.state == "rejected"
    assert rejected.reason is not None and rejected.reason.startswith("verification_failed: ")
    assert "signature[KioskSeal].digest_mismatch" in rejected.reason
    receipt = terminal.outbox.receipt(e_good.submission_id)
    assert receipt is not None and receipt["status"] == "stored" and receipt["validation"] == "passed"
    store = tmp_path / "store"
    assert _stored(store) == [e_good.submission_id]
    v = json.loads((store / e_good.submission_id / "validation.json").read_text())
    assert v["ok"] is True and v["mode"] == "strict" and v["failures"] == []
    assert r.receiver.stats.alerts_sent == 0
    assert sorted(x["event"] for x in _audit(store)) == ["rejected", "stored"]


def test_a_validation_left_pending_is_done_by_the_next_receiver(terminal: Terminal, receiver_factory: RecvF,
                                                                tmp_path: Path) -> None:
    """A receiver stores a package and stops before its deep validation ran (here: the store used alone,
    as a process that died right after the receipt would leave it); the next receiver on that store
    validates it when it starts."""
    store_dir = tmp_path / "store"
    pkg = terminal.package([2])
    archive = archive_bytes(pkg)
    sha = sha256_hex(archive)
    store = PackageStore(store_dir, [terminal.factory.ca_cert], receiver_id="receiver-9")
    size, cs = len(archive), 64 * 1024
    n = -(-size // cs)
    outcome = None
    for i in range(n):
        data = archive[i * cs:(i + 1) * cs]
        header = ChunkHeader(pkg.name, sha, size, cs, n, i, sha256_hex(data))
        outcome = store.on_chunk(terminal.id, header, data)
    assert outcome is not None and outcome.stored and outcome.validate == pkg.name
    store.cleanup(outcome)
    store.close()
    assert store.pending_validations() == [pkg.name] and store.validation(pkg.name) is None
    r = receiver_factory(store=store_dir)
    assert r.receiver.wait_validated(60)
    v = r.receiver.store.validation(pkg.name)
    assert v is not None and v["ok"] is True and v["receiver"] == "receiver-1"
    assert r.receiver.store.pending_validations() == []


def test_a_package_the_officer_confirmed_gets_a_dossier_code(terminal: Terminal, receiver_factory: RecvF,
                                                             tmp_path: Path) -> None:
    """R15: the dossier code (agency code-YYMMDD-sequence) is assigned at reception to confirmed packages
    only, numbered per agency and day, and comes back in the signed receipt."""
    from kiosk.dossier.review import review_package
    from kiosk.timeutil import now_vn

    receiver_factory()
    cfg = terminal.factory.cfg
    plain = terminal.package([0])
    first = review_package(terminal.package([0]), tmp_path / "rev" / "a", cfg)
    second = review_package(terminal.package([0]), tmp_path / "rev" / "b", cfg)
    returned = review_package(terminal.package([0]), tmp_path / "rev" / "c", cfg, decision="returned",
                              reason="Thiếu bản gốc")
    sids = {}
    for name, pkg in (("plain", plain), ("first", first), ("second", second), ("returned", returned)):
        sids[name] = terminal.outbox.enqueue(pkg).submission_id
    assert Uplink(terminal.cfg, terminal.outbox).run_until_empty(timeout=90)
    codes = {name: (terminal.outbox.receipt(sid) or {}).get("dossier_code") for name, sid in sids.items()}
    day = now_vn().strftime("%y%m%d")
    assert codes["plain"] is None and codes["returned"] is None
    assert sorted([codes["first"], codes["second"]]) == [f"{cfg.terminal.agency_code}-{day}-0001",
                                                          f"{cfg.terminal.agency_code}-{day}-0002"]
    assert terminal.outbox.issued_dossier_codes() == sorted(
        [(sids["first"], codes["first"]), (sids["second"], codes["second"])], key=lambda x: x[1])[::-1]
