"""Helpers for the outbox / transport / receiver tests (imported by conftest and tests)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from kiosk import pki
from kiosk.config import Config, from_dict
from kiosk.queue.fixtures import choose_papers, clone_package, device_signer, make_raw_package
from kiosk.queue.outbox import Outbox
from kiosk.queue.tls import ClientTls, client_context
from kiosk.receiver.server import Receiver


def make_cfg(data_dir: Path, url: str, terminal_id: str = "KIOSK-T1", **mqtt_over: Any) -> Config:
    raw_mqtt: dict[str, Any] = {"broker": url, "receipt_timeout_s": 5, "reconnect_min_s": 0.2,
                                "reconnect_max_s": 2.0, "chunk_size": 64 * 1024}
    raw_mqtt.update(mqtt_over)
    return from_dict({"terminal": {"id": terminal_id}, "paths": {"data_dir": str(data_dir)},
                      "mqtt": raw_mqtt, "outbox": {"min_free_mb": 1}})


@dataclass(frozen=True)
class Factory:
    """The session's PKI (one demo CA for TLS and signing, as in the demo) and a real template package."""

    cfg: Config  # the device that seals papers and signs manifests
    pki_dir: Path
    template: Path
    paper_sizes: list[int]

    @property
    def ca_cert(self) -> Any:
        return pki.ensure_ca(self.pki_dir).cert


@dataclass
class Terminal:
    """A provisioned kiosk: data dir with TLS files, config, outbox."""

    id: str
    data_dir: Path
    cfg: Config
    outbox: Outbox
    factory: Factory
    work: Path

    def package(self, papers: list[int] | None = None, *, target_bytes: int | None = None,
                sid: str | None = None) -> Path:
        """A real package (verify_package accepts it) with template papers ``papers`` or the subset
        closest to ``target_bytes``."""
        if target_bytes is not None:
            papers = choose_papers(self.factory.paper_sizes, target_bytes)
        sid = sid or uuid.uuid4().hex
        return clone_package(self.factory.template, self.work / sid, sid, self.factory.cfg,
                             paper_indices=papers if papers is not None else [0], terminal_id=self.id)

    def raw_package(self, sizes: list[int], sid: str | None = None) -> Path:
        """A hand-made package (well-formed, signed, but not a dossier package: verify_package rejects)."""
        sid = sid or uuid.uuid4().hex
        signer = device_signer(self.factory.pki_dir, self.id)
        return make_raw_package(self.work / sid, sid, self.id, signer, sizes)


@dataclass
class RunningReceiver:
    receiver: Receiver
    thread: threading.Thread
    stop: threading.Event

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


@dataclass
class RawClient:
    """A bare paho client for probing the broker's access control."""

    client: mqtt.Client
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    expiry: list[int | None] = field(default_factory=list)  # Message Expiry Interval per message
    pubacks: dict[int, str] = field(default_factory=dict)
    subacks: dict[int, list[str]] = field(default_factory=dict)
    connect_rc: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_puback(self, mid: int, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if mid in self.pubacks:
                    return self.pubacks[mid]
            time.sleep(0.01)
        raise AssertionError(f"no PUBACK for {mid}")

    def wait_suback(self, mid: int, timeout: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if mid in self.subacks:
                    return self.subacks[mid]
            time.sleep(0.01)
        raise AssertionError(f"no SUBACK for {mid}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw_client(port: int, client_id: str, tls: ClientTls | None) -> RawClient:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                    reconnect_on_failure=False)
    rc = RawClient(c)
    if tls is not None:
        c.tls_set_context(client_context(tls))

    def on_message(cl: mqtt.Client, u: Any, m: mqtt.MQTTMessage) -> None:
        with rc.lock:
            rc.messages.append((m.topic, bytes(m.payload)))
            props = getattr(m, "properties", None)
            rc.expiry.append(getattr(props, "MessageExpiryInterval", None) if props is not None else None)

    def on_publish(cl: mqtt.Client, u: Any, mid: int, reason: Any, p: Any) -> None:
        with rc.lock:
            rc.pubacks[mid] = str(reason)

    def on_subscribe(cl: mqtt.Client, u: Any, mid: int, reasons: Any, p: Any) -> None:
        with rc.lock:
            rc.subacks[mid] = [str(r) for r in reasons]

    def on_connect(cl: mqtt.Client, u: Any, f: Any, reason: Any, p: Any) -> None:
        rc.connect_rc.append(str(reason))

    c.on_message = on_message
    c.on_publish = on_publish
    c.on_subscribe = on_subscribe
    c.on_connect = on_connect
    c.connect("127.0.0.1", port)
    c.loop_start()
    deadline = time.monotonic() + 10
    while not c.is_connected() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert c.is_connected(), "raw client did not connect"
    return rc


@contextmanager
def raw(port: int, client_id: str, tls: ClientTls | None) -> Iterator[RawClient]:
    rc = raw_client(port, client_id, tls)
    try:
        yield rc
    finally:
        rc.close()


def wait_for(pred: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()


# ---- shared by the fixtures of tests/queue and tests/receiver ---------------------------------------------

def make_factory(root: Path, terminal_id: str, papers: list[float] | None = None) -> Factory:
    """A device data dir with the demo CA and a real template package (``build_template``)."""
    from kiosk.queue.fixtures import build_template, template_paper_sizes

    cfg = from_dict({"terminal": {"id": terminal_id}, "paths": {"data_dir": str(root / "device")}})
    pki_dir = cfg.data_dir / "pki"
    pki.ensure_ca(pki_dir)
    template = build_template(cfg, root / "template", **({"papers": papers} if papers is not None else {}))
    return Factory(cfg, pki_dir, template, template_paper_sizes(template))


def new_terminal(tmp_path: Path, broker: Any, factory: Factory, terminal_id: str, work: Path,
                 **mqtt_over: Any) -> Terminal:
    """A provisioned kiosk (TLS files from ``broker``, config, outbox); the caller closes its outbox."""
    data = tmp_path / "kiosk" / terminal_id
    broker.provision_terminal(data, terminal_id)
    cfg = make_cfg(data, broker.url, terminal_id, **mqtt_over)
    return Terminal(terminal_id, data, cfg, Outbox(data, cfg), factory, work)


@contextmanager
def receivers(tmp_path: Path, broker: Any, factory: Factory) -> Iterator[Callable[..., RunningReceiver]]:
    """``start(receiver_id="receiver-1", store=None, **Receiver kwargs)``: a receiver serving on a thread,
    subscribed before it is returned; all of them are stopped when the block ends."""
    running: list[RunningReceiver] = []

    def start(receiver_id: str = "receiver-1", store: Path | None = None, **kw: Any) -> RunningReceiver:
        cfg = make_cfg(tmp_path / "recv" / receiver_id, broker.url, "RECV-HOST")
        rec = Receiver(cfg, store or tmp_path / "store", [factory.ca_cert], receiver_id=receiver_id,
                       tls=broker.client_tls(receiver_id), **kw)
        stop = threading.Event()
        th = threading.Thread(target=rec.serve, args=(stop,), daemon=True)
        th.start()
        assert rec.link.connected.wait(10)
        r = RunningReceiver(rec, th, stop)
        running.append(r)
        return r

    try:
        yield start
    finally:
        for r in running:
            r.stop.set()
        for r in running:
            r.thread.join(30)
