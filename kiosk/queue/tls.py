"""Broker URLs and TLS client contexts (mutual TLS with a certificate per terminal or receiver)."""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import Config
from kiosk.errors import KioskError

_URL = re.compile(r"(mqtts?)://([^:/\s]+):(\d{1,5})")


@dataclass(frozen=True)
class BrokerUrl:
    scheme: str  # "mqtt" or "mqtts"
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "mqtts"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


@dataclass(frozen=True)
class ClientTls:
    """The files a TLS client needs: the CA that signed the broker, and its own certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_url(url: str) -> BrokerUrl:
    """Parse ``mqtt[s]://HOST:PORT``. Plain ``mqtt://`` is refused unless HOST is loopback."""
    m = _URL.fullmatch(url.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise KioskError("outbox.bad_broker_url", url=url)
    b = BrokerUrl(m.group(1), m.group(2), int(m.group(3)))
    if not b.tls and not is_loopback(b.host):
        raise KioskError("outbox.plain_not_loopback", url=url)
    return b


def terminal_tls(cfg: Config) -> ClientTls:
    """The terminal's TLS files from [mqtt] (defaults under ``<data_dir>/pki/``)."""
    pki = cfg.data_dir / "pki"
    return ClientTls(
        ca_file=Path(cfg.mqtt.ca_file) if cfg.mqtt.ca_file else pki / "ca.pem",
        cert_file=Path(cfg.mqtt.cert_file) if cfg.mqtt.cert_file else pki / "terminal.pem",
        key_file=Path(cfg.mqtt.key_file) if cfg.mqtt.key_file else pki / "terminal.key",
    )


def client_context(tls: ClientTls) -> ssl.SSLContext:
    """A TLS 1.2+ client context that verifies the broker against ``ca_file`` (including its host name)
    and presents the client certificate."""
    for p in (tls.ca_file, tls.cert_file, tls.key_file):
        if not Path(p).is_file():
            raise KioskError("outbox.tls_file_missing", path=str(p))
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return ctx
