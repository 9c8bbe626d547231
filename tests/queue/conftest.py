"""Fixtures for the outbox / transport / receiver tests: a real Mosquitto with mutual TLS per test,
terminal data dirs, signed packages, receivers on threads."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from outbox_helpers import Factory, RunningReceiver, Terminal, make_factory, new_terminal, receivers

from kiosk.queue.broker import MosquittoBroker


@pytest.fixture(scope="session")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Factory:
    return make_factory(tmp_path_factory.mktemp("factory"), "KIOSK-T1")


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
        t = new_terminal(tmp_path, broker, factory, terminal_id, tmp_path / "work" / terminal_id, **mqtt_over)
        made.append(t)
        return t

    yield make
    for t in made:
        t.outbox.close()


@pytest.fixture
def receiver_factory(tmp_path: Path, broker: MosquittoBroker, factory: Factory
                     ) -> Iterator[Callable[..., RunningReceiver]]:
    with receivers(tmp_path, broker, factory) as start:
        yield start
