"""The reference back-end receiver: MQTT 5 shared subscription, reassembly, verification, receipts.

Several receivers (each with its own certificate, CN = receiver id) join the share group ``receivers``
and split the terminals' traffic; they must share one store folder (as back-end workers would share a
database), because chunks of one package may reach different receivers. See ``store.PackageStore``.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.queue import protocol as proto
from kiosk.queue.tls import ClientTls, parse_url
from kiosk.queue.transport import Backoff, Incoming, MqttLink, NotConnected
from kiosk.receiver.store import Outcome, PackageStore, Verifier

log = logging.getLogger("kiosk.receiver.server")

_TERMINAL_RE = re.compile(r"[A-Za-z0-9-]{3,64}")
STAGING_MAX_AGE_S = 14 * 24 * 3600


def load_trust_roots(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (the CA(s) that issue device signing certificates)."""
    if not path.is_file():
        raise KioskError("outbox.trust_root_missing", path=str(path))
    return x509.load_pem_x509_certificates(path.read_bytes())


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


class Receiver:
    """``Receiver(cfg, store_dir, trust_roots).serve(stop_event)``."""

    def __init__(self, cfg: Config, store_dir: Path, trust_roots: list[x509.Certificate] | None = None, *,
                 receiver_id: str = "receiver-1", tls: ClientTls | None = None,
                 group: str = proto.SHARE_GROUP, verifier: Verifier | None = None) -> None:
        self.cfg = cfg
        self.receiver_id = receiver_id
        if trust_roots is None:
            trust_roots = load_trust_roots(cfg.data_dir / "pki" / "ca.pem")
        self.store = PackageStore(Path(store_dir), trust_roots, receiver_id=receiver_id, verifier=verifier)
        url = parse_url(cfg.mqtt.broker)
        self.link = MqttLink(url, receiver_id, (tls or receiver_tls(cfg, receiver_id)) if url.tls else None,
                             keepalive=cfg.mqtt.keepalive_s, session_expiry_s=cfg.mqtt.session_expiry_s,
                             subscriptions=proto.receiver_subscriptions(group), on_message=self._on_message,
                             max_inflight=cfg.mqtt.max_inflight)
        self.stats = ReceiverStats()
        self._max_packages: int | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def _on_message(self, msg: Incoming) -> None:
        try:
            tid, leaf = proto.split_topic(msg.topic)
            if not _TERMINAL_RE.fullmatch(tid):
                raise proto.ProtocolError("bad terminal id in topic")
            if leaf == "up/offer":
                self.stats.offers += 1
                offer = proto.decode("offer", msg.payload)
                ids = (offer["submission_id"], offer["sha256"])
                outcome = self.store.on_offer(tid, offer)
            elif leaf == "up/chunk":
                self.stats.chunks += 1
                header = proto.ChunkHeader.from_properties(msg.user_properties)
                ids = (header.submission_id, header.sha256)
                outcome = self.store.on_chunk(tid, header, msg.payload)
            else:
                raise proto.ProtocolError(f"unexpected topic {msg.topic}")
        except proto.ProtocolError as exc:
            self.stats.invalid_messages += 1
            log.warning("invalid message dropped", extra={"topic": msg.topic, "error": str(exc)})
            return
        self._answer(tid, ids, outcome)

    def _answer(self, tid: str, ids: tuple[str, str], outcome: Outcome) -> None:
        try:
            if outcome.need:
                need = {"v": 1, "type": "need", "submission_id": ids[0], "sha256": ids[1],
                        "missing": outcome.need, "receiver": self.receiver_id}
                self.link.publish(proto.topic(tid, "down/need"), proto.encode("need", need),
                                  expiry_s=self.cfg.mqtt.message_expiry_s, wait=False)
                self.stats.needs_sent += 1
            if outcome.receipt is not None:
                self.link.publish(proto.topic(tid, "down/receipt"), proto.encode("receipt", outcome.receipt),
                                  expiry_s=self.cfg.mqtt.message_expiry_s, content_type="application/json",
                                  wait=False)
                self.stats.receipts_sent += 1
        except NotConnected:
            log.warning("could not answer: connection down (the terminal will ask again)")
        with self._lock:
            self.stats.stored += outcome.stored
            self.stats.rejected += outcome.rejected
            done = self.stats.stored + self.stats.rejected
        if self._max_packages is not None and done >= self._max_packages:
            self._done.set()

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
        try:
            while not guard.is_set():
                if not self.link.connected.is_set() and not self.link.connect(guard, backoff):
                    break
                guard.wait(0.2)
        finally:
            guard.set()
            self.link.close()
        return self.stats
