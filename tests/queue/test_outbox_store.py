"""The durable outbox without a broker: encryption at rest, fsync'd enqueue, idempotency, quota,
recovery after crashes, purge, audit log."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from outbox_helpers import make_cfg

from kiosk import pki
from kiosk.errors import KioskError
from kiosk.queue.audit import AuditLog, verify_chain
from kiosk.queue.chunking import archive_bytes
from kiosk.queue.crypto import HEADER, OVERHEAD, SegmentReader, load_or_create_key, trailer_size
from kiosk.queue.fixtures import device_signer
from kiosk.queue.fixtures import make_raw_package as make_package
from kiosk.queue.outbox import Outbox

TID = "KIOSK-T1"


@pytest.fixture
def signer(tmp_path: Path) -> pki.Issued:
    return device_signer(tmp_path / "pki", TID)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    cfg = make_cfg(tmp_path / "data", "mqtts://127.0.0.1:8883", TID)
    ob = Outbox(cfg.data_dir, cfg)
    yield ob
    ob.close()


def _pkg(tmp_path: Path, signer: pki.Issued, sid: str, sizes: list[int] | None = None) -> Path:
    return make_package(tmp_path / "staging" / sid, sid, TID, signer, sizes or [150_000, 90_000])


def _receipt(entry_sid: str, sha: str, status: str = "stored", **extra: object) -> dict[str, object]:
    r: dict[str, object] = {"v": 1, "type": "receipt", "submission_id": entry_sid, "terminal_id": TID,
                            "sha256": sha, "status": status, "received_at": "2026-01-01T00:00:00+07:00",
                            "receiver": "receiver-1"}
    r.update(extra)
    return r


def test_key_is_created_owner_only_and_a_readable_key_is_refused(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "outbox.key"
    key = load_or_create_key(key_path)
    assert len(key) == 32
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert load_or_create_key(key_path) == key
    os.chmod(key_path, 0o640)
    with pytest.raises(KioskError) as err:
        load_or_create_key(key_path)
    assert err.value.key == "outbox.key_mode"


def test_enqueue_encrypts_fsyncs_and_removes_plaintext(tmp_path: Path, outbox: Outbox, signer: pki.Issued
                                                       ) -> None:
    pkg = _pkg(tmp_path, signer, "SUB-0001")
    plain = archive_bytes(pkg)
    paper = next((pkg / "papers").iterdir()).read_bytes()
    entry = outbox.enqueue(pkg)
    assert not pkg.exists(), "the plaintext staging folder must be gone after enqueue"
    assert entry.state == "queued" and entry.size == len(plain)
    assert entry.chunks == -(-len(plain) // (64 * 1024))
    blob = (outbox.blobs / f"{entry.submission_id}.kob").read_bytes()
    assert stat.S_IMODE((outbox.blobs / f"{entry.submission_id}.kob").stat().st_mode) == 0o600
    # Nothing of the content is visible at rest: not the manifest, not a 64-byte run of a paper.
    assert b"SUB-0001" not in blob and b"manifest" not in blob
    assert paper[1000:1064] not in blob
    assert len(blob) == HEADER.size + len(plain) + entry.chunks * OVERHEAD + trailer_size(entry.chunks)
    with outbox.open_payload(entry) as reader:
        assert b"".join(reader.read(i) for i in range(reader.count)) == plain
        # The trailer holds every chunk's SHA-256 (the wire header's chunk_sha256), computed at enqueue.
        cs = 64 * 1024
        assert [reader.chunk_sha256(i) for i in range(reader.count)] == \
            [hashlib.sha256(plain[i * cs:(i + 1) * cs]).hexdigest() for i in range(reader.count)]
    db = sqlite3.connect(outbox.root / "outbox.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_tampered_or_moved_segments_are_detected(tmp_path: Path, outbox: Outbox, signer: pki.Issued) -> None:
    entry = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0002", [200_000]))
    path = outbox.blobs / f"{entry.submission_id}.kob"
    data = bytearray(path.read_bytes())
    seg = entry.chunk_size + OVERHEAD
    # Swap segments 0 and 1: each decrypts only at its own index.
    s0 = data[HEADER.size:HEADER.size + seg]
    s1 = data[HEADER.size + seg:HEADER.size + 2 * seg]
    data[HEADER.size:HEADER.size + seg] = s1
    data[HEADER.size + seg:HEADER.size + 2 * seg] = s0
    path.write_bytes(bytes(data))
    with outbox.open_payload(entry) as reader:
        with pytest.raises(KioskError) as err:
            reader.read(0)
        assert err.value.key == "outbox.blob_corrupt"
    # The right key but another submission id (associated data) fails too (here: the trailer already).
    with pytest.raises(KioskError):
        SegmentReader(path, outbox._key, "SUB-OTHER", entry.size)


def test_chunk_hash_trailer_is_authenticated_and_version_1_blobs_stay_readable(
        tmp_path: Path, outbox: Outbox, signer: pki.Issued) -> None:
    entry = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0012", [150_000]))
    path = outbox.blobs / f"{entry.submission_id}.kob"
    data = bytearray(path.read_bytes())
    with outbox.open_payload(entry) as reader:
        chunks = [reader.read(i) for i in range(reader.count)]
        sums = [reader.chunk_sha256(i) for i in range(reader.count)]
    assert sums == [hashlib.sha256(c).hexdigest() for c in chunks]
    tampered = bytearray(data)
    tampered[-20] ^= 1  # inside the trailer
    path.write_bytes(bytes(tampered))
    with pytest.raises(KioskError) as err:
        outbox.open_payload(entry)
    assert err.value.key == "outbox.blob_corrupt"
    # A version 1 blob (written before the trailer existed): same segments, no trailer.
    v1 = bytearray(data[: len(data) - trailer_size(entry.chunks)])
    v1[4:6] = (1).to_bytes(2, "big")
    path.write_bytes(bytes(v1))
    with outbox.open_payload(entry) as reader:
        assert [reader.read(i) for i in range(reader.count)] == chunks
        assert reader.chunk_sha256(0) is None  # the uplink hashes such chunks itself


def test_enqueue_is_idempotent_and_refuses_a_changed_package(tmp_path: Path, outbox: Outbox,
                                                              signer: pki.Issued) -> None:
    first = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0003"), remove_plaintext=False)
    again = outbox.enqueue(tmp_path / "staging" / "SUB-0003")
    assert again.sha256 == first.sha256 and outbox.counts()["queued"] == 1
    assert not (tmp_path / "staging" / "SUB-0003").exists()
    changed = make_package(tmp_path / "other" / "SUB-0003", "SUB-0003", TID, signer, [10_000], seed=7)
    with pytest.raises(KioskError) as err:
        outbox.enqueue(changed)
    assert err.value.key == "outbox.duplicate_id"
    assert changed.exists(), "a refused package keeps its plaintext (nothing may be lost)"
    assert len(list(outbox.blobs.iterdir())) == 1


def test_enqueue_refuses_another_terminals_package(tmp_path: Path, outbox: Outbox,
                                                   signer: pki.Issued) -> None:
    pkg = make_package(tmp_path / "x", "SUB-0004", "KIOSK-OTHER", signer, [1000])
    with pytest.raises(KioskError) as err:
        outbox.enqueue(pkg)
    assert err.value.key == "outbox.wrong_terminal"
    assert pkg.exists()


def test_bad_packages_are_refused(tmp_path: Path, outbox: Outbox, signer: pki.Issued) -> None:
    pkg = _pkg(tmp_path, signer, "SUB-0005")
    (pkg / "manifest.json.p7s").unlink()
    with pytest.raises(KioskError) as err:
        outbox.enqueue(pkg)
    assert err.value.key == "outbox.bad_package"
    pkg2 = _pkg(tmp_path, signer, "SUB-0006")
    (pkg2 / "papers" / "link.pdf").symlink_to("/etc/passwd")
    with pytest.raises(KioskError):
        outbox.enqueue(pkg2)


def test_receipt_purges_and_rejection_keeps_reason(tmp_path: Path, outbox: Outbox,
                                                   signer: pki.Issued) -> None:
    a = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0007"))
    b = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0008"))
    # A receipt for other content (wrong hash) changes nothing.
    assert outbox.record_receipt(_receipt(a.submission_id, "0" * 64)) == "ignored"
    assert outbox.record_receipt(_receipt(a.submission_id, a.sha256)) == "purged"
    ea = outbox.get(a.submission_id)
    assert ea is not None and ea.state == "purged" and ea.blob is None and ea.purged_at
    assert not (outbox.blobs / f"{a.submission_id}.kob").exists()
    assert outbox.record_receipt(_receipt(a.submission_id, a.sha256)) == "ignored"  # duplicate receipt
    rej = _receipt(b.submission_id, b.sha256, "rejected", reason="verification_failed",
                   failures=["manifest signature invalid"])
    assert outbox.record_receipt(rej) == "rejected"
    eb = outbox.get(b.submission_id)
    assert eb is not None and eb.state == "rejected"
    assert eb.reason == "verification_failed: manifest signature invalid"
    assert outbox.pending() == []
    outbox.retry(b.submission_id)
    assert outbox.get(b.submission_id).state == "queued"  # type: ignore[union-attr]


def test_recovery_after_crashes(tmp_path: Path, outbox: Outbox, signer: pki.Issued) -> None:
    cfg = outbox.cfg
    e = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0009"))
    # Crash 1: blob renamed into place but the row was never committed -> orphan, deleted on open.
    (outbox.blobs / "SUB-ORPHAN.kob").write_bytes(b"x" * 100)
    (outbox.blobs / "SUB-HALF.part").write_bytes(b"x" * 10)
    # Crash 2: receipt committed, blob not yet unlinked.
    with outbox._tx() as db:
        db.execute("UPDATE entries SET state='receipted' WHERE submission_id=?", (e.submission_id,))
    outbox.close()
    ob2 = Outbox(cfg.data_dir, cfg)
    try:
        assert sorted(p.name for p in ob2.blobs.iterdir()) == []
        assert ob2.get(e.submission_id).state == "purged"  # type: ignore[union-attr]
    finally:
        ob2.close()


def test_back_pressure_quota_and_free_space(tmp_path: Path, signer: pki.Issued) -> None:
    cfg = make_cfg(tmp_path / "data", "mqtts://127.0.0.1:8883", TID)
    cfg = replace(cfg, outbox=replace(cfg.outbox, quota_mb=1, min_free_mb=1))
    with Outbox(cfg.data_dir, cfg) as ob:
        assert ob.accepting_new_sessions() == (True, "")
        ob.enqueue(_pkg(tmp_path, signer, "SUB-0010", [600_000]))
        assert ob.accepting_new_sessions() == (True, "")
        ob.enqueue(_pkg(tmp_path, signer, "SUB-0011", [600_000]))
        assert ob.accepting_new_sessions() == (False, "outbox.quota_full")
    huge = replace(cfg, outbox=replace(cfg.outbox, quota_mb=10_000, min_free_mb=10**9))
    with Outbox(huge.data_dir, huge) as ob:
        assert ob.accepting_new_sessions() == (False, "outbox.disk_low")


def test_audit_log_has_metadata_only_and_a_hash_chain(tmp_path: Path, outbox: Outbox, signer: pki.Issued
                                                      ) -> None:
    e = outbox.enqueue(_pkg(tmp_path, signer, "SUB-0012"))
    outbox.record_receipt(_receipt(e.submission_id, e.sha256))
    log_path = outbox.audit.path
    events = [r["event"] for r in outbox.audit.records()]
    assert events == ["enqueued", "plaintext_removed", "receipted", "purged"]
    for r in outbox.audit.records():
        assert r["actor"] == TID and r["time"].endswith("+07:00")
        assert set(r) <= {"time", "actor", "event", "prev", "submission_id", "sha256", "size", "chunks",
                          "receiver"}
    assert verify_chain(log_path) == (True, 4)
    with pytest.raises(ValueError):
        AuditLog(log_path, TID).append("enqueued", full_name="x")
    lines = log_path.read_bytes().splitlines(keepends=True)
    edited = json.loads(lines[1])
    edited["event"] = "something_else"
    lines[1] = json.dumps(edited, sort_keys=True).encode() + b"\n"
    log_path.write_bytes(b"".join(lines))
    assert verify_chain(log_path) == (False, 3)
