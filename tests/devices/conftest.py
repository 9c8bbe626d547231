"""Fixtures for the device tests: socat pty pairs, an ESC/POS printer peer, a SANE config folder with the
test backend, an event log. Everything is started and stopped here."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from device_testkit import EscposPeer, EventLog, SocatPair


def _missing(reason: str) -> None:
    """A tool the set-up script installs is missing: a failure in CI (never a silent skip), a skip on a
    developer's machine without it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (scripts/setup.sh installs it)")
    pytest.skip(reason)


@pytest.fixture
def events() -> EventLog:
    return EventLog()


@pytest.fixture
def socat(tmp_path: Path) -> Iterator[SocatPair]:
    if shutil.which("socat") is None:
        _missing("socat is not installed")
    pair = SocatPair(tmp_path)
    pair.start()
    yield pair
    pair.stop()


@pytest.fixture
def escpos_peer(socat: SocatPair) -> Iterator[EscposPeer]:
    peer = EscposPeer(socat.b)
    yield peer
    peer.close()


@pytest.fixture(scope="session")
def sane_test_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A SANE config folder that enables only the ``test`` backend (devices test:0, test:1)."""
    try:
        import sane  # noqa: F401
    except ImportError:
        _missing("python-sane is not installed")
    folder = tmp_path_factory.mktemp("sane.d")
    (folder / "dll.conf").write_text("test\n")
    system = Path("/etc/sane.d/test.conf")
    if system.exists():
        shutil.copy(system, folder / "test.conf")
    else:
        (folder / "test.conf").write_text("number_of_devices 2\n")
    old = os.environ.get("SANE_CONFIG_DIR")
    os.environ["SANE_CONFIG_DIR"] = str(folder)
    from kiosk.devices.scanner_sane import sane_reinit

    sane_reinit()
    from kiosk.devices.scanner_sane import SaneScanner

    if not any(i.name == "test:0" for i in SaneScanner("test:0").list_devices()):
        _missing("the SANE test backend is not available")
    yield folder
    if old is None:
        os.environ.pop("SANE_CONFIG_DIR", None)
    else:
        os.environ["SANE_CONFIG_DIR"] = old

