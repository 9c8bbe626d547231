"""Fixtures for the outbox / transport / receiver tests: a real Mosquitto with mutual TLS per test,
terminal data dirs, signed packages, receivers on threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from outbox_helpers import Factory, RunningReceiver, Terminal, make_cfg

from kiosk import pki
from kiosk.config import from_dict
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.fixtures import build_template, template_paper_sizes
from kiosk.queue.outbox import Outbox
from kiosk.receiver.server import Receiver


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Factory:
    root = tmp_path_factory.mktemp("factory")
    cfg = from_dict({"terminal": {"id": "KIOSK-T1"}, "paths": {"data_dir": str(root / "device")}})
    pki_dir = cfg.data_dir / "pki"
    pki.ensure_ca(pki_dir)
    template = build_template(cfg, root / "template")
    return Factory(cfg, pki_dir, template, template_paper_sizes(template))


@pytest.fixture
def pki_dir(factory: Factory) -> Path:
    return factory.pki_dir


@pytest.fixture
def broker(tmp_path: Path, factory: Factory) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", factory.pki_dir, plain=True) as b:
        yield b


@pytest.fixture
def terminal_factory(tmp_path: Path, broker: MosquittoBroker, factory: Factory
                     ) -> Iterator[Callable[..., Terminal]]:
    made: list[Terminal] = []

    def make(terminal_id: str = "KIOSK-T1", **mqtt_over: Any) -> Terminal:
        data = tmp_path / "kiosk" / terminal_id
        broker.provision_terminal(data, terminal_id)
        cfg = make_cfg(data, broker.url, terminal_id, **mqtt_over)
        t = Terminal(terminal_id, data, cfg, Outbox(data, cfg), factory, tmp_path / "work" / terminal_id)
        made.append(t)
        return t

    yield make
    for t in made:
        t.outbox.close()


@pytest.fixture
def receiver_factory(tmp_path: Path, broker: MosquittoBroker, factory: Factory
                     ) -> Iterator[Callable[..., RunningReceiver]]:
    running: list[RunningReceiver] = []

    def start(receiver_id: str = "receiver-1", store: Path | None = None) -> RunningReceiver:
        cfg = make_cfg(tmp_path / "recv" / receiver_id, broker.url, "RECV-HOST")
        rec = Receiver(cfg, store or tmp_path / "store", [factory.ca_cert],
                       receiver_id=receiver_id, tls=broker.client_tls(receiver_id))
        stop = threading.Event()
        th = threading.Thread(target=rec.serve, args=(stop,), daemon=True)
        th.start()
        assert rec.link.connected.wait(10)
        r = RunningReceiver(rec, th, stop)
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop.set()
    for r in running:
        r.thread.join(30)
