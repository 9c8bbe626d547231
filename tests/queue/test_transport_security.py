"""Security of the transport against a real Mosquitto: ACLs per terminal, mutual TLS, forged packages."""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from outbox_helpers import RunningReceiver, Terminal, raw, wait_for
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kiosk import pki
from kiosk.queue import protocol as proto
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.chunking import archive_bytes, sha256_hex
from kiosk.queue.receipts import sign_receipt
from kiosk.queue.tls import ClientTls, client_context
from kiosk.queue.uplink import Uplink

TermF = Callable[..., Terminal]
RecvF = Callable[..., RunningReceiver]


def test_a_terminal_cannot_publish_to_another_terminals_topics(broker: MosquittoBroker) -> None:
    with raw(broker.port, "receiver-1", broker.client_tls("receiver-1")) as recv, \
            raw(broker.port, "KIOSK-A", broker.client_tls("KIOSK-A")) as a:
        assert recv.wait_suback(recv.client.subscribe("kiosk/v1/+/up/#", qos=1)[1]) == ["Granted QoS 1"]
        forged = a.client.publish("kiosk/v1/KIOSK-B/up/offer", b"{}", qos=1)
        fake_receipt = a.client.publish("kiosk/v1/KIOSK-B/down/receipt", b"{}", qos=1)
        own = a.client.publish("kiosk/v1/KIOSK-A/up/offer", b"own", qos=1)
        assert a.wait_puback(forged.mid) == "Not authorized"
        assert a.wait_puback(fake_receipt.mid) == "Not authorized"
        assert a.wait_puback(own.mid) == "Success"
        assert wait_for(lambda: bool(recv.messages), 10)
        assert recv.messages == [("kiosk/v1/KIOSK-A/up/offer", b"own")]


def test_a_terminal_cannot_read_another_terminals_receipts(broker: MosquittoBroker) -> None:
    with raw(broker.port, "receiver-1", broker.client_tls("receiver-1")) as recv, \
            raw(broker.port, "KIOSK-A", broker.client_tls("KIOSK-A")) as a, \
            raw(broker.port, "KIOSK-B", broker.client_tls("KIOSK-B")) as b:
        for topic in ("kiosk/v1/KIOSK-B/down/#", "kiosk/v1/#", "#", "$share/x/kiosk/v1/+/down/#"):
            a.wait_suback(a.client.subscribe(topic, qos=1)[1])
        b.wait_suback(b.client.subscribe("kiosk/v1/KIOSK-B/down/#", qos=1)[1])
        info = recv.client.publish("kiosk/v1/KIOSK-B/down/receipt", b"for B", qos=1)
        assert recv.wait_puback(info.mid) == "Success"
        assert wait_for(lambda: bool(b.messages), 10)
        assert b.messages == [("kiosk/v1/KIOSK-B/down/receipt", b"for B")]
        ping = recv.client.publish("kiosk/v1/KIOSK-A/down/receipt", b"for A", qos=1)
        recv.wait_puback(ping.mid)
        assert wait_for(lambda: bool(a.messages), 10)
        assert {t for t, _ in a.messages} == {"kiosk/v1/KIOSK-A/down/receipt"}, "nothing of B's reaches A"


def test_a_terminal_cannot_take_over_another_terminals_session(broker: MosquittoBroker) -> None:
    with raw(broker.port, "KIOSK-B", broker.client_tls("KIOSK-B")) as b:
        # A presents its own certificate but asks for B's client id: the broker uses the certificate's CN.
        with raw(broker.port, "KIOSK-B", broker.client_tls("KIOSK-A")):
            assert wait_for(lambda: "as KIOSK-A" in broker.log_file.read_text(), 10)
            assert b.client.is_connected()


def _tls_connect(port: int, ctx: ssl.SSLContext) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5)
    c.tls_set_context(ctx)
    c.connect("127.0.0.1", port)
    rc = c.loop(timeout=2.0)
    for _ in range(20):
        if rc != mqtt.MQTT_ERR_SUCCESS:
            break
        rc = c.loop(timeout=0.2)
    assert not c.is_connected()
    raise ConnectionError(mqtt.error_string(rc))


def test_clients_without_a_valid_certificate_cannot_connect(broker: MosquittoBroker, tmp_path: Path) -> None:
    # 1. No client certificate at all.
    ctx = ssl.create_default_context(cafile=str(broker.ca_file))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        _tls_connect(broker.port, ctx)
    # 2. A certificate from another CA, with a terminal's name.
    rogue_ca = pki.ensure_ca(tmp_path / "rogue", "Rogue CA")
    pki.ensure_leaf(tmp_path / "rogue", "KIOSK-A", "KIOSK-A", "tls_client", rogue_ca)
    ctx2 = client_context(ClientTls(broker.ca_file, tmp_path / "rogue" / "KIOSK-A.pem",
                                    tmp_path / "rogue" / "KIOSK-A.key"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        _tls_connect(broker.port, ctx2)
    # 3. Plain MQTT on the TLS port.
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    with pytest.raises((ConnectionError, OSError, AssertionError)):
        c.connect("127.0.0.1", broker.port)
        c.loop(timeout=2.0)
        c.loop(timeout=2.0)
        assert c.is_connected(), "refused"
    # The broker never accepted any of them.
    log = broker.log_file.read_text()
    assert "as KIOSK-A" not in log and "as intruder" not in log and "as plain" not in log


def _publish_package(client: mqtt.Client, terminal: str, sid: str, archive: bytes, chunk_size: int = 65536
                     ) -> None:
    sha = sha256_hex(archive)
    chunks = max(1, -(-len(archive) // chunk_size))
    for i in range(chunks):
        data = archive[i * chunk_size:(i + 1) * chunk_size]
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = proto.ChunkHeader(sid, sha, len(archive), chunk_size, chunks, i,
                                               sha256_hex(data)).to_properties()
        client.publish(proto.topic(terminal, "up/chunk"), data, qos=1, properties=props).wait_for_publish(10)


def _receipts(messages: list[tuple[str, bytes]]) -> list[dict[str, object]]:
    return [json.loads(p) for t, p in messages if t.endswith("/down/receipt")]


def test_altered_and_forged_packages_are_rejected_and_reported(terminal_factory: TermF,
                                                               receiver_factory: RecvF,
                                                               tmp_path: Path) -> None:
    t = terminal_factory()
    receiver_factory()
    # Altered after signing: one byte of a paper flipped.
    altered = t.package([0])
    paper = next((altered / "papers").iterdir())
    data = bytearray(paper.read_bytes())
    data[len(data) // 2] ^= 0x01
    paper.write_bytes(bytes(data))
    # Forged: a well-formed manifest signed with a key from a CA the back end does not trust.
    forged = t.package([0])
    rogue = pki.ensure_ca(tmp_path / "rogue", "Rogue CA")
    rogue_signer = pki.ensure_leaf(tmp_path / "rogue", "dev", t.id, "sign", rogue)
    from kiosk.queue.fixtures import sign_manifest

    (forged / "manifest.json.p7s").write_bytes(sign_manifest((forged / "manifest.json").read_bytes(),
                                                             rogue_signer))
    e_alt = t.outbox.enqueue(altered)
    e_forged = t.outbox.enqueue(forged)
    assert Uplink(t.cfg, t.outbox).run_until_empty(timeout=60)
    alt = t.outbox.get(e_alt.submission_id)
    fog = t.outbox.get(e_forged.submission_id)
    assert alt is not None and alt.state == "rejected"
    assert alt.reason is not None and alt.reason.startswith("verification_failed: ")
    assert ".sha256" in alt.reason
    assert fog is not None and fog.state == "rejected" and fog.reason is not None
    assert fog.reason.startswith("verification_failed: ")
    assert sorted(p.name for p in (tmp_path / "store").iterdir() if not p.name.startswith(".")) == []


def test_a_terminal_cannot_submit_a_package_in_another_terminals_name(
        terminal_factory: TermF, receiver_factory: RecvF, broker: MosquittoBroker, tmp_path: Path) -> None:
    """The manifest names KIOSK-T2 (and is validly signed), but KIOSK-T1 sends it on its own topics: the
    receiver binds the package to the authenticated sender and refuses."""
    t1 = terminal_factory("KIOSK-T1")
    t2 = terminal_factory("KIOSK-T2")
    receiver_factory()
    pkg = t2.package([0])
    archive = archive_bytes(pkg)
    with raw(broker.port, t1.id, broker.client_tls(t1.id)) as k1:
        k1.wait_suback(k1.client.subscribe(proto.topic(t1.id, "down/#"), qos=1)[1])
        _publish_package(k1.client, t1.id, pkg.name, archive)
        assert wait_for(lambda: bool(_receipts(k1.messages)), 30)
        r = _receipts(k1.messages)[0]
    assert r["status"] == "rejected" and r["reason"] == "terminal_mismatch"
    assert sorted(p.name for p in (tmp_path / "store").iterdir() if not p.name.startswith(".")) == []


def test_a_stored_submission_id_cannot_be_overwritten(terminal_factory: TermF, receiver_factory: RecvF,
                                                      broker: MosquittoBroker, tmp_path: Path) -> None:
    t = terminal_factory()
    receiver_factory()
    pkg = t.package([0])
    sid = pkg.name
    e = t.outbox.enqueue(pkg)
    assert Uplink(t.cfg, t.outbox).run_until_empty(timeout=60)
    before = (tmp_path / "store" / sid / "manifest.json").read_bytes()
    other = t.package([1], sid=sid)  # same id, other content
    with raw(broker.port, t.id, broker.client_tls(t.id)) as k:
        k.wait_suback(k.client.subscribe(proto.topic(t.id, "down/#"), qos=1)[1])
        _publish_package(k.client, t.id, sid, archive_bytes(other))
        assert wait_for(lambda: bool(_receipts(k.messages)), 30)
        r = _receipts(k.messages)[0]
    assert r["status"] == "rejected" and r["reason"] == "id_conflict" and r["sha256"] != e.sha256
    assert (tmp_path / "store" / sid / "manifest.json").read_bytes() == before


def test_only_a_receipt_signed_by_the_receiver_it_names_purges(
        terminal_factory: TermF, broker: MosquittoBroker, tmp_path: Path) -> None:
    """A receiver connection may publish receipts, but the kiosk deletes a dossier only on a receipt signed
    by a trusted receiver's key that names that receiver; anything else is ignored and the package kept."""
    t = terminal_factory(receipt_timeout_s=1)
    e = t.outbox.enqueue(t.package([0]))
    tls2 = broker.client_tls("receiver-2")
    good = pki.load_pem(tls2.cert_file, tls2.key_file)
    rogue_ca = pki.ensure_ca(tmp_path / "rogue", "Rogue CA")
    rogue = pki.ensure_leaf(tmp_path / "rogue", "receiver-2", "receiver-2", "tls_client", rogue_ca)
    base = {"v": 1, "type": "receipt", "submission_id": e.submission_id, "terminal_id": t.id,
            "sha256": e.sha256, "status": "stored", "received_at": "2026-11-25T10:00:00+07:00",
            "receiver": "receiver-2"}
    altered = sign_receipt(base, good.key, good.cert)
    altered["received_at"] = "2026-11-25T10:00:01+07:00"  # changed after signing
    bad = [
        sign_receipt(base, rogue.key, rogue.cert),  # a certificate from a CA the kiosk does not trust
        sign_receipt({**base, "receiver": "receiver-1"}, good.key, good.cert),  # names another receiver
        altered,
    ]
    with raw(broker.port, "receiver-2", tls2) as spy:
        spy.wait_suback(spy.client.subscribe("kiosk/v1/+/up/#", qos=1)[1])
        up = Uplink(t.cfg, t.outbox)
        assert up.run(once=True, timeout=15) is False  # sent; nobody has answered yet
        for r in bad:
            info = spy.client.publish(proto.topic(t.id, "down/receipt"), proto.encode("receipt", r), qos=1)
            assert spy.wait_puback(info.mid) == "Success"
        assert up.run(once=True, timeout=3) is False
        assert up.stats.invalid_receipts == 3 and up.stats.receipts == 0
        entry = t.outbox.get(e.submission_id)
        assert entry is not None and entry.state in ("sending", "sent") and entry.blob is not None
        signed = sign_receipt(base, good.key, good.cert)
        info = spy.client.publish(proto.topic(t.id, "down/receipt"), proto.encode("receipt", signed), qos=1)
        assert spy.wait_puback(info.mid) == "Success"
        assert up.run_until_empty(timeout=30)
    entry = t.outbox.get(e.submission_id)
    assert entry is not None and entry.state == "purged" and entry.blob is None
    assert t.outbox.receipt(e.submission_id) == signed  # the signed receipt is kept as proof
