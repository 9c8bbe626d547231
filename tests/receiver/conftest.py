"""Fixtures for the receiver tests: a real Mosquitto with mutual TLS per test, a real template package,
receivers on threads (strict or not), and a bare MQTT client that plays the kiosk chunk by chunk.

The broker, PKI and package helpers are the transport tests' (``tests/queue/outbox_helpers.py``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "queue"))

from outbox_helpers import Factory, RunningReceiver, Terminal, make_factory, new_terminal, receivers

from kiosk.queue.broker import MosquittoBroker


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Factory:
    return make_factory(tmp_path_factory.mktemp("rfactory"), "KIOSK-R1", papers=[0.0, 0.2, 0.1])


@pytest.fixture
def broker(tmp_path: Path, factory: Factory) -> Iterator[MosquittoBroker]:
    with MosquittoBroker(tmp_path / "broker", factory.pki_dir) as b:
        yield b


@pytest.fixture
def terminal(tmp_path: Path, broker: MosquittoBroker, factory: Factory) -> Iterator[Terminal]:
    t = new_terminal(tmp_path, broker, factory, "KIOSK-R1", tmp_path / "work", chunk_size=16 * 1024)
    yield t
    t.outbox.close()


@pytest.fixture
def receiver_factory(tmp_path: Path, broker: MosquittoBroker, factory: Factory
                     ) -> Iterator[Callable[..., RunningReceiver]]:
    with receivers(tmp_path, broker, factory) as start:
        yield start
