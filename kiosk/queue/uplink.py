"""The sender: publishes queued packages, resumes interrupted ones, applies receipts, purges.

Per package (see docs/protocol.md for the messages)::

    first send:   offer(resume=false), chunk 0..n-1, all PUBACKed -> state sent, wait for the receipt
    resume:       offer(resume=true) -> receivers answer `need` (missing chunk indices) or a receipt;
                  the kiosk sends exactly the missing chunks
    receipt:      stored   -> outbox.record_receipt -> receipted -> blob deleted -> purged
                  rejected -> state rejected with the receiver's reason

A resume happens after every (re)connect for packages in ``sending``/``sent`` (so a killed uplink or a
dropped connection continues where the receivers are), and whenever no receipt came within
``mqtt.receipt_timeout_s``. PUBACK only means "the broker has it": nothing is deleted before the
application-level receipt.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.queue import protocol as proto
from kiosk.queue.chunking import sha256_hex
from kiosk.queue.outbox import Entry, Outbox
from kiosk.queue.receipts import verify_receipt
from kiosk.queue.tls import ClientTls, parse_url, terminal_tls
from kiosk.queue.transport import Backoff, Incoming, MqttLink, NotConnected, Will
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.queue.uplink")


def _load_roots(ca_file: Path) -> list[x509.Certificate]:
    """The CA certificates receipts must chain to (none when the file is missing: every receipt is then
    refused and the condition logged)."""
    try:
        return x509.load_pem_x509_certificates(Path(ca_file).read_bytes())
    except (OSError, ValueError):
        log.error("no CA to check receipts against: receipts will be refused", extra={"path": str(ca_file)})
        return []


@dataclass
class UplinkStats:
    offers: int = 0
    chunks: int = 0
    bytes: int = 0
    receipts: int = 0
    rejected: int = 0
    needs: int = 0
    connections: int = 0
    invalid_messages: int = 0
    invalid_receipts: int = 0  # well-formed receipts not signed by a trusted receiver: ignored
    publish_refused: int = 0
    results: dict[str, str] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)  # perf_counter when every chunk was PUBACKed
    settled_at: dict[str, float] = field(default_factory=dict)  # perf_counter when the receipt was applied


class Uplink:
    """Delivers the outbox of one terminal. ``run_until_empty`` for the demo and tests; ``run`` for the
    daemon. Not thread-safe: one thread drives it (paho's network thread only feeds ``events``)."""

    def __init__(self, cfg: Config, outbox: Outbox, *, tls: ClientTls | None = None) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.tid = cfg.terminal.id
        self.url = parse_url(cfg.mqtt.broker)
        self.events: queue.Queue[Incoming] = queue.Queue()
        offline = proto.encode("status", {"v": 1, "type": "status", "terminal_id": self.tid, "online": False})
        tls = tls or terminal_tls(cfg)
        self.receipt_roots = _load_roots(tls.ca_file)  # receivers' certificates come from the MQTT CA
        self.link = MqttLink(
            self.url, self.tid, tls if self.url.tls else None,
            keepalive=cfg.mqtt.keepalive_s, session_expiry_s=cfg.mqtt.session_expiry_s,
            subscriptions=proto.terminal_subscriptions(self.tid), on_message=self.events.put,
            will=Will(proto.topic(self.tid, "status"), offline), max_inflight=cfg.mqtt.max_inflight,
        )
        self.backoff = Backoff(cfg.mqtt.reconnect_min_s, cfg.mqtt.reconnect_max_s)
        self.stats = UplinkStats()
        self._todo: dict[str, set[int]] = {}  # chunks to send now, per submission
        self._offer_due: set[str] = set()  # submissions that need a resume offer
        self._deadline: dict[str, float] = {}  # when to re-offer if no receipt came
        self._offers: dict[str, int] = {}  # offers made per submission in this process
        self._sent_once: set[str] = set()  # for --once: entries handled in this pass
        self._receipted: set[str] = set()  # receipts applied (purged or rejected) since their last send

    # ---- incoming -----------------------------------------------------------------------------------

    def _handle(self, msg: Incoming) -> None:
        try:
            tid, leaf = proto.split_topic(msg.topic)
            if tid != self.tid:
                raise proto.ProtocolError("message for another terminal")
            if leaf == "down/receipt":
                self._on_receipt(proto.decode("receipt", msg.payload))
            elif leaf == "down/need":
                self._on_need(proto.decode("need", msg.payload))
            else:
                raise proto.ProtocolError(f"unexpected topic {msg.topic}")
        except proto.ProtocolError as exc:
            self.stats.invalid_messages += 1
            log.warning("invalid message ignored", extra={"topic": msg.topic, "error": str(exc)})

    def _on_receipt(self, r: dict[str, object]) -> None:
        if r["terminal_id"] != self.tid:
            raise proto.ProtocolError("receipt for another terminal")
        sid = str(r["submission_id"])
        problem = verify_receipt(r, self.receipt_roots, own_id=self.tid)
        if problem is not None:  # nothing is deleted on the word of an unknown signer
            self.stats.invalid_receipts += 1
            log.warning("receipt ignored: not signed by a trusted receiver",
                        extra={"submission_id": sid, "error": problem})
            return
        result = self.outbox.record_receipt(r)
        if result != "ignored":
            self.stats.receipts += 1
            self.stats.rejected += result == "rejected"
            self.stats.results[sid] = result
            self.stats.settled_at[sid] = time.perf_counter()
            self._receipted.add(sid)
            self._forget(sid)

    def _on_need(self, n: dict[str, object]) -> None:
        sid = str(n["submission_id"])
        entry = self.outbox.get(sid)
        if entry is None or entry.state not in ("sending", "sent") or entry.sha256 != n["sha256"]:
            return
        self.stats.needs += 1
        missing = [i for i in n["missing"] if isinstance(i, int) and i < entry.chunks]  # type: ignore[attr-defined]
        if missing:
            self._todo.setdefault(sid, set()).update(missing)
        self._deadline[sid] = time.monotonic() + self.cfg.mqtt.receipt_timeout_s

    def _forget(self, sid: str) -> None:
        self._todo.pop(sid, None)
        self._offer_due.discard(sid)
        self._deadline.pop(sid, None)

    def _drain(self, block_s: float = 0.0) -> None:
        try:
            msg = self.events.get(timeout=block_s) if block_s > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        self._handle(msg)
        while True:
            try:
                self._handle(self.events.get_nowait())
            except queue.Empty:
                return

    # ---- outgoing -----------------------------------------------------------------------------------

    def _on_connected(self) -> None:
        self.stats.connections += 1
        self._todo.clear()
        pending = self.outbox.pending()
        for e in pending:
            if e.state in ("sending", "sent"):
                self._offer_due.add(e.submission_id)
        status = {"v": 1, "type": "status", "terminal_id": self.tid, "online": True, "time": iso(now_vn()),
                  "pending": len(pending)}
        self.link.publish(proto.topic(self.tid, "status"), proto.encode("status", status), retain=True)

    def _offer(self, e: Entry, *, resume: bool) -> None:
        n = self._offers.get(e.submission_id, 0) + 1
        self._offers[e.submission_id] = n
        offer = {"v": 1, "type": "offer", "submission_id": e.submission_id, "terminal_id": self.tid,
                 "sha256": e.sha256, "size": e.size, "chunk_size": e.chunk_size, "chunks": e.chunks,
                 "resume": resume, "attempt": n, "sent_at": iso(now_vn())}
        self.link.publish(proto.topic(self.tid, "up/offer"), proto.encode("offer", offer),
                          expiry_s=self.cfg.mqtt.message_expiry_s, content_type="application/json")
        self.stats.offers += 1
        self._deadline[e.submission_id] = time.monotonic() + self.cfg.mqtt.receipt_timeout_s

    def _send_chunks(self, e: Entry) -> None:
        todo = self._todo.setdefault(e.submission_id, set())
        self._receipted.discard(e.submission_id)
        refused_before = len(self.link.publish_failures)
        topic = proto.topic(self.tid, "up/chunk")
        with self.outbox.open_payload(e) as reader:
            while todo:
                i = min(todo)
                data = reader.read(i)
                header = proto.ChunkHeader(e.submission_id, e.sha256, e.size, e.chunk_size, e.chunks, i,
                                           reader.chunk_sha256(i) or sha256_hex(data))
                self.link.publish(topic, data, expiry_s=self.cfg.mqtt.message_expiry_s,
                                  user_properties=header.to_properties(),
                                  content_type="application/octet-stream")
                todo.discard(i)
                self.stats.chunks += 1
                self.stats.bytes += len(data)
                self._drain()
                if e.submission_id in self._receipted:  # a receipt came (e.g. for a duplicate of a
                    self._todo.pop(e.submission_id, None)  # stored package) while sending
                    return
        while not self.link.wait_acked(1.0):
            self._drain()
        self._todo.pop(e.submission_id, None)
        refused = len(self.link.publish_failures) - refused_before
        if refused:
            self.stats.publish_refused += refused
            log.error("broker refused chunks", extra={"submission_id": e.submission_id, "count": refused})
        else:
            self.stats.acked_at[e.submission_id] = time.perf_counter()
            self.outbox.mark_sent(e.submission_id)
        self._deadline[e.submission_id] = time.monotonic() + self.cfg.mqtt.receipt_timeout_s

    def _step(self, *, once: bool) -> bool:
        """Do one piece of work; False when there was nothing to do."""
        pending = {e.submission_id: e for e in self.outbox.pending()}
        for sid in list(self._offer_due):
            self._offer_due.discard(sid)
            if sid in pending:
                self._offer(pending[sid], resume=True)
                self._sent_once.add(sid)
                return True
        for sid in sorted(self._todo, key=lambda s: pending[s].created_at if s in pending else ""):
            if sid in pending and self._todo[sid]:
                self._send_chunks(pending[sid])
                return True
            self._todo.pop(sid, None)
        for e in pending.values():
            if e.state == "queued":
                self.outbox.mark_sending(e.submission_id)
                self._sent_once.add(e.submission_id)
                self._offer(e, resume=False)
                self._todo[e.submission_id] = set(range(e.chunks))
                self._send_chunks(e)
                return True
        if not once:
            now = time.monotonic()
            for sid, e in pending.items():
                if e.state in ("sending", "sent") and self._deadline.get(sid, 0.0) <= now:
                    if sid in self._deadline:
                        log.info("no receipt in time, asking the receivers", extra={"submission_id": sid})
                    self._offer(e, resume=True)
                    return True
        return False

    def run(self, stop: threading.Event | None = None, *, until_empty: bool = False, once: bool = False,
            timeout: float | None = None) -> bool:
        """Deliver until ``stop`` is set; with ``until_empty`` until nothing is pending (True), with
        ``once`` one pass (send what is pending, wait up to receipt_timeout_s for receipts). Returns True
        if the outbox has nothing pending at the end. ``timeout`` bounds the whole run."""
        stop = stop or threading.Event()
        deadline = time.monotonic() + timeout if timeout is not None else None
        guard = threading.Event()  # set when stop is set or the deadline passes

        def watchdog() -> None:
            while not stop.is_set() and not guard.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                stop.wait(0.2)
            guard.set()

        watcher = threading.Thread(target=watchdog, name="uplink-watchdog", daemon=True)
        watcher.start()
        once_until: float | None = None
        try:
            while not guard.is_set():
                if until_empty and not self.outbox.pending():
                    return True
                if not self.link.connected.is_set():
                    if not self.link.connect(guard, self.backoff):
                        break
                    try:
                        self._on_connected()
                    except NotConnected:
                        continue
                try:
                    self._drain()
                    if until_empty and not self.outbox.pending():
                        continue  # the last receipt just came: done, without waiting in _drain below
                    if self._step(once=once):
                        continue
                    if once:
                        waiting = [e for e in self.outbox.pending() if e.submission_id in self._sent_once]
                        if not waiting:
                            break
                        if once_until is None:
                            once_until = time.monotonic() + self.cfg.mqtt.receipt_timeout_s
                        if time.monotonic() >= once_until:
                            break
                    self._drain(block_s=0.3)
                except NotConnected:
                    log.info("connection dropped; will resume after reconnect")
            return not self.outbox.pending()
        finally:
            guard.set()
            self.close()

    def run_until_empty(self, timeout: float) -> bool:
        """Deliver everything pending; True when every package is receipted (purged) or rejected."""
        return self.run(until_empty=True, timeout=timeout)

    def close(self) -> None:
        offline = proto.encode("status", {"v": 1, "type": "status", "terminal_id": self.tid, "online": False,
                                          "time": iso(now_vn())})
        try:
            self.link.close(final=(proto.topic(self.tid, "status"), offline))
        except KioskError:
            pass
