"""The reference back-end receiver: MQTT 5 shared subscription, reassembly, verification, receipts.

Several receivers (each with its own certificate, CN = receiver id) join the share group ``receivers``
and split the terminals' traffic; they must share one store folder (as back-end workers would share a
database), because chunks of one package may reach different receivers. See ``store.PackageStore``.

Threads: paho's network thread only parses and validates each message and hands it to the worker of its
package (one thread per (terminal, submission, hash) in progress, so hashing and writing never stall the
network thread; a bounded queue pushes back on it when a worker falls behind). The worker applies the
message to the store and publishes the answer (``need`` / ``receipt``). A worker idle while its package
is incomplete polls the staging journal (another receiver may hold the missing chunks) and ends after
``WORKER_IDLE_S``, releasing the package. One more thread runs the deep validation of stored packages
after their receipt, writes ``validation.json`` and publishes an alert on ``fleet/v1/alerts/<receiver>``
when a stored package fails it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.logging import mask
from kiosk.queue import protocol as proto
from kiosk.queue.receipts import sign_receipt
from kiosk.queue.tls import ClientTls, parse_url
from kiosk.queue.transport import Backoff, Incoming, MqttLink, NotConnected
from kiosk.receiver.store import Outcome, PackageStore, Verifier
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.receiver.server")

_TERMINAL_RE = re.compile(r"[A-Za-z0-9-]{3,64}")
STAGING_MAX_AGE_S = 14 * 24 * 3600
WORKER_IDLE_S = 30.0  # a package worker with nothing to do ends after this long
POLL_S = 0.02  # how often an idle worker of an incomplete package looks for chunks staged by others
QUEUE_BYTES = 64 << 20  # chunk bytes queued per package before the network thread waits


def load_trust_roots(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (the CA(s) that issue device signing certificates)."""
    if not path.is_file():
        raise KioskError("outbox.trust_root_missing", path=str(path))
    return x509.load_pem_x509_certificates(path.read_bytes())


def _receipt_signer(tls: ClientTls) -> tuple[Any, x509.Certificate]:
    """The key and certificate that sign receipts: the receiver's own TLS client identity (its CN is the
    receiver id; kiosks check it against the CA they trust for MQTT, ``kiosk.queue.receipts``)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        cert = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
        key = load_pem_private_key(tls.key_file.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise KioskError("receiver.no_signing_key", path=str(tls.cert_file)) from exc
    return key, cert


def receiver_tls(cfg: Config, receiver_id: str) -> ClientTls:
    """Default TLS files of a receiver: ``<data_dir>/pki/ca.pem`` (or mqtt.ca_file) and
    ``<data_dir>/pki/<receiver_id>.pem`` / ``.key``."""
    pki = cfg.data_dir / "pki"
    ca = Path(cfg.mqtt.ca_file) if cfg.mqtt.ca_file else pki / "ca.pem"
    return ClientTls(ca, pki / f"{receiver_id}.pem", pki / f"{receiver_id}.key")


@dataclass
class ReceiverStats:
    offers: int = 0
    chunks: int = 0
    stored: int = 0
    rejected: int = 0
    receipts_sent: int = 0
    needs_sent: int = 0
    invalid_messages: int = 0
    validated: int = 0
    validation_failed: int = 0
    alerts_sent: int = 0


@dataclass(frozen=True)
class _Work:
    kind: str  # "offer" | "chunk"
    terminal: str
    payload: Any  # the offer dict, or (ChunkHeader, bytes)
    size: int = 0
    received: float = 0.0  # time.perf_counter() when the network thread got it


class _PackageWorker:
    """Applies the messages of one package to the store, in arrival order, on its own thread."""

    def __init__(self, owner: Receiver, key: tuple[str, str, str], predecessor: _PackageWorker | None = None
                 ) -> None:
        self.owner = owner
        self.key = key
        self.predecessor = predecessor  # a retired worker of the same package, still releasing it
        self.inbox: queue.Queue[_Work] = queue.Queue()
        self.queued_bytes = 0
        self.cond = threading.Condition()
        self.done = False
        self.thread = threading.Thread(target=self._run, name=f"pkg-{key[1][:12]}", daemon=True)

    def put(self, work: _Work) -> bool:
        """Queue ``work``; False if this worker has retired (the caller starts a new one)."""
        with self.cond:
            while self.queued_bytes + work.size > QUEUE_BYTES and self.queued_bytes and not self.done:
                self.cond.wait(1.0)  # back-pressure on the network thread
            if self.done:
                return False
            self.queued_bytes += work.size
            self.inbox.put(work)
        return True

    def retire(self) -> bool:
        """End this idle worker (True), unless a message came in meanwhile."""
        with self.cond:
            if not self.inbox.empty():
                return False
            self.done = True
            return True

    def _run(self) -> None:
        store = self.owner.store
        terminal, sid, sha = self.key
        idle = 0.0
        if self.predecessor is not None:
            self.predecessor.thread.join()
            self.predecessor = None
        try:
            while not self.owner.stopping.is_set():
                incomplete = store.has_incomplete_assembly(terminal, sid, sha)
                wait = POLL_S if incomplete else 0.5
                try:
                    work = self.inbox.get(timeout=wait)
                except queue.Empty:
                    idle += wait
                    if incomplete:
                        self.owner.poll(self.key)
                    if idle >= WORKER_IDLE_S and self.retire():
                        return
                    continue
                idle = 0.0
                with self.cond:
                    self.queued_bytes -= work.size
                    self.cond.notify_all()
                self.owner.handle(work, self.key)
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()
            store.release(terminal, sid, sha)
            self.owner.forget(self)


class Receiver:
    """``Receiver(cfg, store_dir, trust_roots).serve(stop_event)``."""

    def __init__(self, cfg: Config, store_dir: Path, trust_roots: list[x509.Certificate] | None = None, *,
                 receiver_id: str = "receiver-1", tls: ClientTls | None = None,
                 group: str = proto.SHARE_GROUP, verifier: Verifier | None = None,
                 strict: bool = False, staging_quota: int = 4 << 30) -> None:
        self.cfg = cfg
        self.receiver_id = receiver_id
        self.strict = strict
        if trust_roots is None:
            trust_roots = load_trust_roots(cfg.data_dir / "pki" / "ca.pem")
        self.store = PackageStore(Path(store_dir), trust_roots, receiver_id=receiver_id, verifier=verifier,
                                  strict=strict, staging_quota=staging_quota)
        url = parse_url(cfg.mqtt.broker)
        tls = tls or receiver_tls(cfg, receiver_id)
        self._sign_key, self._sign_cert = _receipt_signer(tls)
        self.link = MqttLink(url, receiver_id, tls if url.tls else None,
                             keepalive=cfg.mqtt.keepalive_s, session_expiry_s=cfg.mqtt.session_expiry_s,
                             subscriptions=proto.receiver_subscriptions(group), on_message=self._on_message,
                             max_inflight=cfg.mqtt.max_inflight)
        self.stats = ReceiverStats()
        self.stopping = threading.Event()
        self._max_packages: int | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._workers: dict[tuple[str, str, str], _PackageWorker] = {}
        self._validate: queue.Queue[str] = queue.Queue()
        self._alerts: list[dict[str, Any]] = []  # alerts not published yet (connection down)

    # ---- network thread -----------------------------------------------------------------------------

    def _on_message(self, msg: Incoming) -> None:
        try:
            tid, leaf = proto.split_topic(msg.topic)
            if not _TERMINAL_RE.fullmatch(tid):
                raise proto.ProtocolError("bad terminal id in topic")
            if leaf == "up/offer":
                offer = proto.decode("offer", msg.payload)
                work = _Work("offer", tid, offer, received=time.perf_counter())
                key = (tid, offer["submission_id"], offer["sha256"])
            elif leaf == "up/chunk":
                header = proto.ChunkHeader.from_properties(msg.user_properties)
                work = _Work("chunk", tid, (header, msg.payload), len(msg.payload), time.perf_counter())
                key = (tid, header.submission_id, header.sha256)
            else:
                raise proto.ProtocolError(f"unexpected topic {msg.topic}")
        except proto.ProtocolError as exc:
            with self._lock:
                self.stats.invalid_messages += 1
            log.warning("invalid message dropped", extra={"topic": msg.topic, "error": str(exc)})
            return
        while True:
            with self._lock:
                worker = self._workers.get(key)
                if worker is None or worker.done:
                    worker = _PackageWorker(self, key, worker)
                    self._workers[key] = worker
                    worker.thread.start()
            if worker.put(work):
                return

    # ---- package workers ----------------------------------------------------------------------------

    def forget(self, worker: _PackageWorker) -> None:
        with self._lock:
            if self._workers.get(worker.key) is worker:
                del self._workers[worker.key]

    def handle(self, work: _Work, key: tuple[str, str, str]) -> None:
        try:
            if work.kind == "offer":
                with self._lock:
                    self.stats.offers += 1
                outcome = self.store.on_offer(work.terminal, work.payload)
            else:
                with self._lock:
                    self.stats.chunks += 1
                header, data = work.payload
                outcome = self.store.on_chunk(work.terminal, header, data)
        except Exception:
            log.exception("package message failed", extra={"submission_id": key[1], "terminal": key[0]})
            return
        self.answer(work.terminal, (key[1], key[2]), outcome, received=work.received)

    def poll(self, key: tuple[str, str, str]) -> None:
        """Let an idle worker's package continue with chunks that other receivers staged."""
        try:
            outcome = self.store.poll(*key)
        except Exception:
            log.exception("package poll failed", extra={"submission_id": key[1], "terminal": key[0]})
            return
        self.answer(key[0], (key[1], key[2]), outcome)

    def answer(self, tid: str, ids: tuple[str, str], outcome: Outcome, *, received: float | None = None
               ) -> None:
        """Publish the outcome's need / receipt, then clean up and queue the deep validation.
        ``received``: when the message that led to it arrived (for the "receipt sent" timing)."""
        try:
            if outcome.need:
                need = {"v": 1, "type": "need", "submission_id": ids[0], "sha256": ids[1],
                        "missing": outcome.need, "receiver": self.receiver_id}
                self.link.publish(proto.topic(tid, "down/need"), proto.encode("need", need),
                                  expiry_s=self.cfg.mqtt.message_expiry_s, wait=False)
                with self._lock:
                    self.stats.needs_sent += 1
            if outcome.receipt is not None:
                signed = sign_receipt(outcome.receipt, self._sign_key, self._sign_cert)
                self.link.publish(proto.topic(tid, "down/receipt"), proto.encode("receipt", signed),
                                  expiry_s=self.cfg.mqtt.message_expiry_s, content_type="application/json",
                                  wait=False)
                with self._lock:
                    self.stats.receipts_sent += 1
                if outcome.stored and received is not None:
                    log.info("receipt sent", extra={"submission_id": ids[0], "terminal": tid,
                                                    "tail_s": round(time.perf_counter() - received, 4)})
        except NotConnected:
            log.warning("could not answer: connection down (the terminal will ask again)")
        self.store.cleanup(outcome)
        if outcome.validate is not None:
            self._validate.put(outcome.validate)
        with self._lock:
            self.stats.stored += outcome.stored
            self.stats.rejected += outcome.rejected
            done = self.stats.stored + self.stats.rejected
        if self._max_packages is not None and done >= self._max_packages:
            self._done.set()

    # ---- deep validation after the receipt ----------------------------------------------------------

    def _validator(self) -> None:
        for sid in self.store.pending_validations():  # left over from before a restart
            self._validate.put(sid)
        while not self.stopping.is_set():
            try:
                sid = self._validate.get(timeout=0.5)
            except queue.Empty:
                self._flush_alerts()
                continue
            try:
                record = self.store.validate_stored(sid)
            except Exception:
                log.exception("deep validation failed to run", extra={"submission_id": sid})
                record = None
            finally:
                self._validate.task_done()
            if record is None:
                continue
            with self._lock:
                self.stats.validated += 1
                self.stats.validation_failed += not record["ok"]
            if not record["ok"]:
                self._alerts.append(self._alert(record))
            self._flush_alerts()

    def _alert(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"v": 1, "type": "alert", "severity": "error", "kind": "validation_failed",
                "source": self.receiver_id, "terminal_id": record["terminal_id"],
                "submission_id": record["submission_id"], "sha256": record["sha256"],
                "failures": [mask(f)[:500] for f in record["failures"][:50]], "time": iso(now_vn())}

    def _flush_alerts(self) -> None:
        while self._alerts:
            alert = self._alerts[0]
            try:
                self.link.publish(proto.alert_topic(self.receiver_id), proto.encode("alert", alert),
                                  expiry_s=self.cfg.mqtt.message_expiry_s, content_type="application/json",
                                  wait=False)
            except NotConnected:
                return  # try again later; validation.json and the audit log hold the result meanwhile
            self._alerts.pop(0)
            with self._lock:
                self.stats.alerts_sent += 1

    def wait_validated(self, timeout: float) -> bool:
        """Wait until no deep validation is queued or pending in the store (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._validate.unfinished_tasks == 0 and not self.store.pending_validations():
                return True
            time.sleep(0.02)
        return False

    # ---- main loop ----------------------------------------------------------------------------------

    def serve(self, stop: threading.Event | None = None, *, max_packages: int | None = None) -> ReceiverStats:
        """Receive until ``stop`` is set (or ``max_packages`` were stored or rejected by this receiver)."""
        stop = stop or threading.Event()
        self._max_packages = max_packages
        removed = self.store.gc_staging(STAGING_MAX_AGE_S)
        if removed:
            log.info("abandoned staging removed", extra={"count": removed})
        backoff = Backoff(self.cfg.mqtt.reconnect_min_s, self.cfg.mqtt.reconnect_max_s)
        guard = threading.Event()

        def watch() -> None:
            while not stop.is_set() and not self._done.is_set():
                stop.wait(0.2)
            guard.set()

        threading.Thread(target=watch, name="receiver-watch", daemon=True).start()
        validator = threading.Thread(target=self._validator, name="receiver-validate", daemon=True)
        validator.start()
        try:
            while not guard.is_set():
                if not self.link.connected.is_set() and not self.link.connect(guard, backoff):
                    break
                guard.wait(0.2)
        finally:
            guard.set()
            self.link.close()
            self.stopping.set()
            with self._lock:
                workers = list(self._workers.values())
            for w in workers:
                w.thread.join(10)
            validator.join(30)  # finishes the validation in progress; the rest stays pending on disk
            self.store.close()
        return self.stats
