"""End to end against a real Mosquitto (mutual TLS): outbox -> uplink -> receivers -> receipt -> purge.

Nothing of the transport is mocked; the receiver verifies with kiosk.dossier.verify.verify_package."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from outbox_helpers import RunningReceiver, Terminal, raw, wait_for

from kiosk import pki
from kiosk.dossier.verify import verify_package
from kiosk.queue import protocol as proto
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.chunking import sha256_hex
from kiosk.queue.outbox import Outbox
from kiosk.queue.receipts import sign_receipt
from kiosk.queue.uplink import Uplink

TermF = Callable[..., Terminal]
RecvF = Callable[..., RunningReceiver]


def _file_hashes(pkg: Path) -> dict[str, str]:
    """The package's files and their hashes (without the receiver's validation.json)."""
    return {p.relative_to(pkg).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(pkg.rglob("*")) if p.is_file() and p.name != "validation.json"}


def _stored(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if not p.name.startswith("."))


def test_packages_are_stored_once_verified_and_purged(terminal_factory: TermF, receiver_factory: RecvF,
                                                      broker: MosquittoBroker, tmp_path: Path) -> None:
    t = terminal_factory()
    r = receiver_factory()
    pkgs = [t.package([0]), t.package([1, 2]), t.package([3])]
    expected = {p.name: _file_hashes(p) for p in pkgs}
    entries = [t.outbox.enqueue(p) for p in pkgs]
    assert all(not p.exists() for p in pkgs)
    up = Uplink(t.cfg, t.outbox)
    assert up.run_until_empty(timeout=60)
    store = tmp_path / "store"
    assert _stored(store) == sorted(expected)
    for sid, hashes in expected.items():
        assert _file_hashes(store / sid) == hashes, "stored exactly as sent"
        assert verify_package(store / sid, [t.factory.ca_cert]).ok
    for e in entries:
        now = t.outbox.get(e.submission_id)
        assert now is not None and now.state == "purged" and now.blob is None
        receipt = t.outbox.receipt(e.submission_id)
        assert receipt is not None and receipt["status"] == "stored" and receipt["sha256"] == e.sha256
    assert list(t.outbox.blobs.iterdir()) == []
    assert r.receiver.stats.stored == 3 and up.stats.receipts == 3
    # Nothing was resent: each chunk went out once.
    assert up.stats.chunks == sum(e.chunks for e in entries)
    # The retained presence topic says the terminal went offline (clean shutdown).
    with raw(broker.port, "receiver-2", broker.client_tls("receiver-2")) as probe:
        probe.client.subscribe(proto.topic(t.id, "status"), qos=1)
        assert wait_for(lambda: bool(probe.messages), 10)
        status = json.loads(probe.messages[0][1])
        assert status["online"] is False and status["terminal_id"] == t.id


def test_nothing_is_deleted_on_puback_only_on_receipt(terminal_factory: TermF, receiver_factory: RecvF,
                                                      tmp_path: Path) -> None:
    t = terminal_factory(receipt_timeout_s=1)
    e = t.outbox.enqueue(t.package([1]))
    up = Uplink(t.cfg, t.outbox)
    assert up.run(once=True, timeout=20) is False  # no receiver: every chunk PUBACKed, no receipt
    assert up.stats.chunks == e.chunks
    now = t.outbox.get(e.submission_id)
    assert now is not None and now.state == "sent"
    assert (t.outbox.blobs / f"{e.submission_id}.kob").exists()
    receiver_factory()
    up2 = Uplink(t.cfg, t.outbox)
    assert up2.run_until_empty(timeout=60)
    assert t.outbox.get(e.submission_id).state == "purged"  # type: ignore[union-attr]
    assert _stored(tmp_path / "store") == [e.submission_id]


def test_a_resent_submission_gets_the_same_receipt_and_is_stored_once(
        terminal_factory: TermF, receiver_factory: RecvF, tmp_path: Path) -> None:
    t = terminal_factory()
    r = receiver_factory()
    pkg = t.package([0, 1])
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(pkg, copy)
    e = t.outbox.enqueue(pkg)
    assert Uplink(t.cfg, t.outbox).run_until_empty(timeout=60)
    first = t.outbox.receipt(e.submission_id)
    # The same submission again from a kiosk that lost its outbox row (e.g. restored from backup).
    other = Outbox(tmp_path / "kiosk2", t.cfg)
    try:
        e2 = other.enqueue(copy)
        assert e2.sha256 == e.sha256
        assert Uplink(t.cfg, other).run_until_empty(timeout=60)
        assert other.receipt(e.submission_id) == first
        assert other.get(e.submission_id).state == "purged"  # type: ignore[union-attr]
    finally:
        other.close()
    assert _stored(tmp_path / "store") == [e.submission_id]
    assert r.receiver.stats.stored == 1


def test_transfer_resumes_after_broker_restart(terminal_factory: TermF, receiver_factory: RecvF,
                                               broker: MosquittoBroker, tmp_path: Path) -> None:
    t = terminal_factory(chunk_size=32 * 1024)
    r = receiver_factory()
    e = t.outbox.enqueue(t.package([0, 1, 2, 3]))  # ~5.5 MB, ~170 chunks
    up = Uplink(t.cfg, t.outbox)
    result: list[bool] = []
    th = threading.Thread(target=lambda: result.append(up.run_until_empty(timeout=120)))
    th.start()
    store = r.receiver.store
    assert wait_for(lambda: len(store.present_chunks(t.id, e.submission_id, e.sha256)) >= 20, 60)
    broker.restart()
    th.join(150)
    assert result == [True]
    assert up.stats.connections >= 2
    assert _stored(tmp_path / "store") == [e.submission_id]
    assert up.link.max_inflight_seen <= up.link.window
    # Resumed, not restarted: fewer chunk sends than two full passes.
    assert up.stats.chunks < 2 * e.chunks


def test_receiver_restart_keeps_staged_progress(terminal_factory: TermF, receiver_factory: RecvF,
                                                broker: MosquittoBroker, tmp_path: Path) -> None:
    t = terminal_factory(chunk_size=32 * 1024)
    r1 = receiver_factory()
    e = t.outbox.enqueue(t.package([2, 3]))
    # Send once with the receiver stopping mid-way; staged chunks stay on disk.
    store = r1.receiver.store

    def staged() -> int:
        return len(store.present_chunks(t.id, e.submission_id, e.sha256))

    up = Uplink(t.cfg, t.outbox)
    stopper = threading.Thread(target=lambda: wait_for(lambda: staged() >= 10, 60) and r1.halt())
    stopper.start()
    up.run(once=True, timeout=10)
    stopper.join(60)
    have_before = staged()
    assert 10 <= have_before < e.chunks
    r2 = receiver_factory()
    up2 = Uplink(t.cfg, t.outbox)
    assert up2.run_until_empty(timeout=60)
    assert _stored(tmp_path / "store") == [e.submission_id]
    # Staged chunks were not sent again: the restarted receiver got the rest from its persistent session
    # (queued by the broker while it was away) and/or on request. At most the broker's in-flight window
    # (messages delivered to the first receiver but not yet acknowledged) arrives twice.
    assert up2.stats.chunks <= e.chunks - have_before
    assert r2.receiver.stats.chunks <= e.chunks - have_before + up2.stats.chunks + broker.max_inflight


def test_duplicate_chunks_with_new_packet_ids_are_harmless(terminal_factory: TermF, receiver_factory: RecvF,
                                                           broker: MosquittoBroker, tmp_path: Path) -> None:
    """paho may send a message twice after a reconnect (old id with DUP, and a new id): the receivers
    see every chunk twice here, on purpose, and still store the package once."""
    t = terminal_factory()
    r = receiver_factory()
    e = t.outbox.enqueue(t.package([1]))
    with raw(broker.port, t.id, broker.client_tls(t.id)) as kiosk:
        kiosk.client.subscribe(proto.topic(t.id, "down/#"), qos=1)
        with t.outbox.open_payload(e) as reader:
            chunks = [reader.read(i) for i in range(e.chunks)]
        for _round in range(2):
            for i, data in enumerate(chunks):
                h = proto.ChunkHeader(e.submission_id, e.sha256, e.size, e.chunk_size, e.chunks, i,
                                      sha256_hex(data))
                from paho.mqtt.packettypes import PacketTypes
                from paho.mqtt.properties import Properties

                props = Properties(PacketTypes.PUBLISH)
                props.UserProperty = h.to_properties()
                info = kiosk.client.publish(proto.topic(t.id, "up/chunk"), data, qos=1, properties=props)
                assert kiosk.wait_puback(info.mid) == "Success"
        assert wait_for(lambda: len(kiosk.messages) >= 2, 30)
        receipts = [json.loads(m[1]) for m in kiosk.messages if m[0].endswith("/down/receipt")]
    assert r.receiver.stats.stored == 1
    assert _stored(tmp_path / "store") == [e.submission_id]
    assert len(receipts) == 2 and receipts[0] == receipts[1], "a duplicate gets the same receipt again"
    assert t.outbox.record_receipt(receipts[0]) == "purged"


def test_in_flight_window_follows_the_brokers_receive_maximum(terminal_factory: TermF,
                                                              receiver_factory: RecvF,
                                                              broker: MosquittoBroker) -> None:
    broker.max_inflight = 4
    broker.restart()
    t = terminal_factory(chunk_size=16 * 1024, max_inflight=50)
    receiver_factory()
    e = t.outbox.enqueue(t.package([1]))
    up = Uplink(t.cfg, t.outbox)
    assert up.run_until_empty(timeout=60)
    assert up.link.window == 4
    assert 1 <= up.link.max_inflight_seen <= 4
    assert e.chunks > 20


def test_two_receivers_share_the_load_through_a_shared_subscription(
        terminal_factory: TermF, receiver_factory: RecvF, tmp_path: Path) -> None:
    t1 = terminal_factory("KIOSK-T1")
    t2 = terminal_factory("KIOSK-T2")
    r1 = receiver_factory("receiver-1")
    r2 = receiver_factory("receiver-2")
    sids = []
    for t in (t1, t2):
        for papers in ([0], [1], [0, 2]):
            sids.append(t.outbox.enqueue(t.package(papers)).submission_id)
    done: list[bool] = []
    threads = [threading.Thread(target=lambda t=t: done.append(Uplink(t.cfg, t.outbox).run_until_empty(90)))
               for t in (t1, t2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert done == [True, True]
    assert _stored(tmp_path / "store") == sorted(sids)
    s1, s2 = r1.receiver.stats, r2.receiver.stats
    assert s1.chunks > 0 and s2.chunks > 0, "both receivers took part"
    assert s1.stored + s2.stored == 6


def test_rejected_package_is_reported_with_reason(terminal_factory: TermF, receiver_factory: RecvF,
                                                  tmp_path: Path) -> None:
    t = terminal_factory()
    receiver_factory()
    e = t.outbox.enqueue(t.raw_package([30_000, 20_000]))  # signed, but not a valid dossier package
    assert Uplink(t.cfg, t.outbox).run_until_empty(timeout=60)
    now = t.outbox.get(e.submission_id)
    assert now is not None and now.state == "rejected"
    assert now.reason is not None and now.reason.startswith("verification_failed: ")
    assert "manifest.schema" in now.reason
    assert _stored(tmp_path / "store") == []
    assert (t.outbox.blobs / f"{e.submission_id}.kob").exists(), "kept (encrypted) for the operator"
    db = sqlite3.connect(t.outbox.root / "outbox.db")
    assert db.execute("SELECT state FROM entries").fetchall() == [("rejected",)]
    db.close()


def test_demo_recipe_one_data_dir_one_ca(tmp_path: Path) -> None:
    """What the demo does: one data dir, its demo CA for TLS and signatures, build_package, defaults."""
    from dataclasses import replace

    from kiosk.config import from_dict
    from kiosk.errors import KioskError
    from kiosk.queue.fixtures import build_template
    from kiosk.receiver.server import Receiver

    data = tmp_path / "data"
    cfg = from_dict({"terminal": {"id": "KIOSK-DEMO-0001"}, "paths": {"data_dir": str(data)}})
    pkg = build_template(cfg, tmp_path / "pkg", papers=[0.0])  # dossier.package.build_package
    with MosquittoBroker(tmp_path / "broker", data / "pki") as broker:
        broker.provision_terminal(data, cfg.terminal.id)
        broker.provision_receiver(data, "receiver-1")
        cfg = replace(cfg, mqtt=replace(cfg.mqtt, broker=broker.url))
        with Outbox(cfg.data_dir, cfg) as outbox:
            entry = outbox.enqueue(pkg)
            receiver = Receiver(cfg, tmp_path / "store", None)
            stop = threading.Event()
            th = threading.Thread(target=receiver.serve, args=(stop,))
            th.start()
            try:
                # the receiver holds its shared subscription (SUBACK) before the kiosk sends: what is
                # published to a share group nobody holds yet is dropped by the broker (then only the
                # resume after receipt_timeout_s would deliver it)
                assert receiver.link.connected.wait(30)
                assert Uplink(cfg, outbox).run_until_empty(timeout=60)
            finally:
                stop.set()
                th.join(30)
            assert outbox.get(entry.submission_id).state == "purged"  # type: ignore[union-attr]
        assert _stored(tmp_path / "store") == [entry.submission_id]
        # A data dir that holds another CA (with its key) is not silently mixed with the broker's.
        other = tmp_path / "other"
        from kiosk import pki

        pki.ensure_ca(other / "pki", "Another CA")
        try:
            broker.provision_terminal(other, "KIOSK-X")
            raise AssertionError("expected outbox.pki_conflict")
        except KioskError as exc:
            assert exc.key == "outbox.pki_conflict"


def test_persistent_session_delivers_a_receipt_sent_while_the_kiosk_was_offline(
        terminal_factory: TermF, broker: MosquittoBroker) -> None:
    t = terminal_factory(receipt_timeout_s=1)
    e = t.outbox.enqueue(t.package([0]))
    with raw(broker.port, "receiver-2", broker.client_tls("receiver-2")) as spy:
        spy.wait_suback(spy.client.subscribe("kiosk/v1/+/up/#", qos=1)[1])
        assert Uplink(t.cfg, t.outbox).run(once=True, timeout=15) is False  # sent; nobody answers
        assert wait_for(lambda: len(spy.messages) == 1 + e.chunks, 10)
        # Every offer and chunk carries the configured Message Expiry (the broker passes on what is left).
        assert all(x is not None and t.cfg.mqtt.message_expiry_s - 60 <= x <= t.cfg.mqtt.message_expiry_s
                   for x in spy.expiry)
        receipt = {"v": 1, "type": "receipt", "submission_id": e.submission_id, "terminal_id": t.id,
                   "sha256": e.sha256, "status": "stored", "received_at": "2026-11-25T10:00:00+07:00",
                   "receiver": "receiver-2"}
        tls2 = broker.client_tls("receiver-2")
        signer = pki.load_pem(tls2.cert_file, tls2.key_file)
        receipt = sign_receipt(receipt, signer.key, signer.cert)
        info = spy.client.publish(proto.topic(t.id, "down/receipt"), proto.encode("receipt", receipt), qos=1)
        assert spy.wait_puback(info.mid) == "Success"  # the kiosk is offline: its session holds it
    up = Uplink(t.cfg, t.outbox)
    assert up.run_until_empty(timeout=30)
    assert up.link.session_present is True
    assert up.stats.receipts == 1 and up.stats.chunks == 0
    assert t.outbox.receipt(e.submission_id) == receipt
