"""Fixtures for the receiver tests: a real Mosquitto with mutual TLS per test, a real template package,
receivers on threads (strict or not), and a bare MQTT client that plays the kiosk chunk by chunk.

The broker, PKI and package helpers are the transport tests' (``tests/queue/outbox_helpers.py``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "queue"))

from outbox_helpers import Factory, RunningReceiver, Terminal, make_cfg

from kiosk import pki
from kiosk.config import from_dict
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.fixtures import build_template, template_paper_sizes
from kiosk.queue.outbox import Outbox
from kiosk.receiver.server import Receiver


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Factory:
    root = tmp_path_factory.mktemp("rfactory")
    cfg = from_dict({"terminal": {"id": "KIOSK-R1"}, "paths": {"data_dir": str(root / "device")}})
    pki_dir = cfg.data_dir / "pki"
    pki.ensure_ca(pki_dir)
    template = build_template(cfg, root / "template", papers=[0.0, 0.2, 0.1])
    return Factory(cfg, pki_dir, template, template_paper_sizes(template))


@pytest.fixture
def broker(tmp_path: Path, factory: Factory) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", factory.pki_dir) as b:
        yield b


@pytest.fixture
def terminal(tmp_path: Path, broker: MosquittoBroker, factory: Factory) -> Iterator[Terminal]:
    data = tmp_path / "kiosk" / "KIOSK-R1"
    broker.provision_terminal(data, "KIOSK-R1")
    cfg = make_cfg(data, broker.url, "KIOSK-R1", chunk_size=16 * 1024)
    t = Terminal("KIOSK-R1", data, cfg, Outbox(data, cfg), factory, tmp_path / "work")
    yield t
    t.outbox.close()


@pytest.fixture
def receiver_factory(tmp_path: Path, broker: MosquittoBroker, factory: Factory
                     ) -> Iterator[Callable[..., RunningReceiver]]:
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

    yield start
    for r in running:
        r.stop.set()
    for r in running:
        r.thread.join(30)
