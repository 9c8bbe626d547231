"""Streaming reassembly against a real Mosquitto: chunks in order, out of order, repeated, missing, a
receiver restart in the middle of a package, two receivers sharing one package, damaged staging."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path

from outbox_helpers import RunningReceiver, Terminal, raw, wait_for
from receiver_helpers import Kiosk, Wire

from kiosk.queue.broker import MosquittoBroker
from kiosk.receiver.assembly import DATA, JOURNAL

RecvF = Callable[..., RunningReceiver]


def _files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "validation.json"}


def _stored(store: Path) -> list[str]:
    return sorted(p.name for p in store.iterdir() if not p.name.startswith("."))


def _check_stored(store: Path, package: Path, receipt: dict[str, object]) -> None:
    assert receipt["status"] == "stored" and receipt["validation"] == "deferred"
    assert _stored(store) == [package.name]
    assert _files(store / package.name) == _files(package), "stored byte for byte as sent"
    staging = store / ".staging" / "KIOSK-R1" / package.name
    assert wait_for(lambda: not staging.exists() or not any(staging.iterdir()), 10), "staging cleaned up"


def test_in_order_chunks_are_untarred_as_they_arrive(terminal: Terminal, receiver_factory: RecvF,
                                                     broker: MosquittoBroker, tmp_path: Path) -> None:
    r = receiver_factory()
    pkg = terminal.package([0, 1, 2])
    w = Wire.of(pkg, terminal.id)
    assert w.chunks > 20
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, range(w.chunks - 1))
        # Everything but the last chunk is in: the files before it are already extracted and hashed.
        stage = tmp_path / "store" / ".staging" / terminal.id / w.sid / w.sha
        assert wait_for(lambda: r.receiver.store.present_chunks(terminal.id, w.sid, w.sha)
                        == set(range(w.chunks - 1)), 20)
        assert wait_for(lambda: len(list((stage / "pkg").rglob("*.pdf"))) == 3, 10)
        assert (stage / "pkg" / "manifest.json").is_file()
        assert not k.answers("receipt")
        k.send(w, [w.chunks - 1])
        receipt = k.wait("receipt")[0]
    _check_stored(tmp_path / "store", pkg, receipt)
    assert r.receiver.wait_validated(60)
    v = r.receiver.store.validation(w.sid)
    assert v is not None and v["ok"] is True and v["mode"] == "deferred" and v["failures"] == []


def test_out_of_order_and_repeated_chunks(terminal: Terminal, receiver_factory: RecvF,
                                          broker: MosquittoBroker, tmp_path: Path) -> None:
    r = receiver_factory()
    pkg = terminal.package([0, 2])
    w = Wire.of(pkg, terminal.id)
    order = list(range(w.chunks))
    random.Random(5).shuffle(order)
    order = order[: len(order) // 2] + order + order[::3]  # every chunk at least once, many twice
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.send(w, order)  # no offer at all: chunks are self-describing
        receipts = k.wait("receipt")
    # Repeats that came after the package was stored are answered with the same receipt.
    assert all(x == receipts[0] for x in receipts)
    _check_stored(tmp_path / "store", pkg, receipts[0])
    assert r.receiver.stats.stored == 1 and not k.answers("need")


def test_missing_chunks_are_asked_for_exactly(terminal: Terminal, receiver_factory: RecvF,
                                              broker: MosquittoBroker, tmp_path: Path) -> None:
    receiver_factory()
    pkg = terminal.package([1])
    w = Wire.of(pkg, terminal.id)
    dropped = [0, 3, 4, w.chunks - 1]
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, [i for i in range(w.chunks) if i not in dropped])
        k.offer(w, resume=True, attempt=2)
        need = k.wait("need")[0]
        assert need["missing"] == dropped and need["sha256"] == w.sha
        assert not k.answers("receipt")
        k.send(w, dropped[::-1])
        receipt = k.wait("receipt")[0]
    _check_stored(tmp_path / "store", pkg, receipt)


def test_a_receiver_restart_mid_package_keeps_the_staged_chunks(terminal: Terminal, receiver_factory: RecvF,
                                                                broker: MosquittoBroker,
                                                                tmp_path: Path) -> None:
    r1 = receiver_factory()
    pkg = terminal.package([0, 1, 2])
    w = Wire.of(pkg, terminal.id)
    half = w.chunks // 2
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, range(half))
        store = r1.receiver.store
        assert wait_for(lambda: len(store.present_chunks(terminal.id, w.sid, w.sha)) == half, 20)
        r1.halt()
        r2 = receiver_factory()  # the receiver again, a new process on the same store and staging
        k.offer(w, resume=True, attempt=2)
        need = k.wait("need")[0]
        assert need["missing"] == list(range(half, w.chunks))
        k.send(w, need["missing"])
        receipt = k.wait("receipt")[0]
    _check_stored(tmp_path / "store", pkg, receipt)
    assert r2.receiver.stats.chunks == w.chunks - half, "nothing was sent twice"
    log = (tmp_path / "store" / ".audit" / "receiver-audit.log").read_text()
    assert log.count('"event": "stored"') == 1


def test_two_receivers_assemble_one_package_together(terminal: Terminal, receiver_factory: RecvF,
                                                     broker: MosquittoBroker, tmp_path: Path) -> None:
    """The broker deals one package's chunks out to both receivers of the share group: one of them
    assembles it (reading the other's chunks from the shared staging), it is stored once."""
    r1 = receiver_factory("receiver-1")
    r2 = receiver_factory("receiver-2")
    pkg = terminal.package([0, 1, 2])
    w = Wire.of(pkg, terminal.id)
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, range(w.chunks))
        receipt = k.wait("receipt")[0]
        assert wait_for(lambda: r1.receiver.stats.chunks + r2.receiver.stats.chunks == w.chunks, 10)
    assert r1.receiver.stats.chunks > 0 and r2.receiver.stats.chunks > 0, "both receivers got chunks"
    assert r1.receiver.stats.stored + r2.receiver.stats.stored == 1
    _check_stored(tmp_path / "store", pkg, receipt)
    assert len(k.answers("receipt")) == 1


def test_damaged_staged_chunks_are_asked_for_again(terminal: Terminal, receiver_factory: RecvF,
                                                   broker: MosquittoBroker, tmp_path: Path) -> None:
    """A chunk whose staged bytes were damaged (e.g. power loss before the page cache was written) and a
    journal line torn by a crash: both count as missing after a restart, and the package is complete
    only with good bytes."""
    r1 = receiver_factory()
    pkg = terminal.package([0, 1])
    w = Wire.of(pkg, terminal.id)
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, range(w.chunks - 1))
        store = r1.receiver.store
        assert wait_for(lambda: len(store.present_chunks(terminal.id, w.sid, w.sha)) == w.chunks - 1, 20)
        r1.halt()
        stage = tmp_path / "store" / ".staging" / terminal.id / w.sid / w.sha
        fd = os.open(stage / DATA, os.O_RDWR)
        os.pwrite(fd, b"\0" * 100, 2 * w.chunk_size + 10)  # chunk 2 damaged
        os.close(fd)
        with (stage / JOURNAL).open("ab") as j:
            j.write(b"7 3f")  # a torn line; the next receiver's line lands after it
        r2 = receiver_factory()  # restarted
        k.send(w, [w.chunks - 1])  # the last chunk: the receiver reads the rest back, finds chunk 2 bad
        need = k.wait("need")[0]
        assert need["missing"] == [2]
        k.send(w, [2])
        receipt = k.wait("receipt")[0]
    _check_stored(tmp_path / "store", pkg, receipt)
    assert r2.receiver.store.present_chunks(terminal.id, w.sid, w.sha) == set()


def test_corrupt_chunk_bytes_are_asked_for_again(terminal: Terminal, receiver_factory: RecvF,
                                                 broker: MosquittoBroker, tmp_path: Path) -> None:
    """Bytes that do not match their chunk hash (a faulty sender): caught by the archive hash at the end
    when the chunk was consumed in order, at once otherwise; asked for again, then stored."""
    receiver_factory()
    pkg = terminal.package([1])
    w = Wire.of(pkg, terminal.id)
    bad = bytes(b ^ 0xFF for b in w.chunk(1))
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w, resume=False)
        k.send(w, range(w.chunks), payload={1: bad})
        need = k.wait("need")[0]
        assert need["missing"] == [1] and not k.answers("receipt")
        k.send(w, [5], payload={5: bad[: w.chunk_size]})  # out of order: refused at once
        assert k.wait("need", 2)[1]["missing"] == [5]
        k.send(w, [1])
        receipt = k.wait("receipt")[0]
    _check_stored(tmp_path / "store", pkg, receipt)


def test_a_terminal_over_its_staging_quota_waits(terminal: Terminal, receiver_factory: RecvF,
                                                 broker: MosquittoBroker, tmp_path: Path) -> None:
    """One terminal's unfinished transfers may take at most the staging quota: a new transfer beyond it
    gets no answer and stages nothing (the kiosk offers it again later); the staged one goes on, and once
    it is stored the waiting one is accepted."""
    first, second = terminal.package([0]), terminal.package([1])
    w1, w2 = Wire.of(first, terminal.id), Wire.of(second, terminal.id)
    r = receiver_factory(staging_quota=len(w1.archive) + len(w2.archive) - 1)
    staging = tmp_path / "store" / ".staging" / terminal.id
    with raw(broker.port, terminal.id, broker.client_tls(terminal.id)) as c:
        k = Kiosk(c, terminal.id)
        k.offer(w1, resume=False)
        k.send(w1, range(w1.chunks - 1))  # first transfer staged, unfinished
        k.offer(w2, resume=False)
        k.send(w2, range(w2.chunks))
        k.offer(w2, resume=True, attempt=2)
        assert wait_for(lambda: r.receiver.stats.chunks >= w1.chunks - 1 + w2.chunks, 20)
        assert not (staging / w2.sid).exists(), "nothing of the transfer over quota is staged"
        assert not k.answers("receipt") and not k.answers("need")
        assert r.receiver.store.staged_bytes(terminal.id) == len(w1.archive)
        k.send(w1, [w1.chunks - 1])
        assert k.wait("receipt")[0]["submission_id"] == w1.sid
        assert wait_for(lambda: r.receiver.store.staged_bytes(terminal.id) == 0, 10)  # staging cleaned up
        k.offer(w2, resume=True, attempt=3)  # as the kiosk does after receipt_timeout_s
        assert k.wait("need")[-1]["missing"] == list(range(w2.chunks))
        k.send(w2, range(w2.chunks))
        receipts = k.wait("receipt", 2)
    assert [x["submission_id"] for x in receipts] == [w1.sid, w2.sid]
    assert _stored(tmp_path / "store") == sorted([w1.sid, w2.sid])
