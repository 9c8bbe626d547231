"""A local Mosquitto broker for tests, benchmarks and the demo: mutual TLS, per-terminal ACLs.

Usage (the demo: one demo CA for TLS and for package signatures, i.e. ``pki_dir = <data_dir>/pki``)::

    with MosquittoBroker(workdir, data_dir / "pki") as broker:
        broker.provision_terminal(data_dir, cfg.terminal.id)   # <data_dir>/pki/terminal.pem + .key
        broker.provision_receiver(data_dir, "receiver-1")      # <data_dir>/pki/receiver-1.pem + .key
        cfg = replace(cfg, mqtt=replace(cfg.mqtt, broker=broker.url))   # "mqtts://127.0.0.1:<port>"
        Outbox(cfg.data_dir, cfg).enqueue(package_dir)
        Receiver(cfg, store_dir, None).serve(stop)   # trust roots default: <data_dir>/pki/ca.pem
        Uplink(cfg, outbox).run_until_empty(timeout=60)

With a ``pki_dir`` elsewhere, ``provision_*`` copy the CA certificate into ``<data_dir>/pki/ca.pem``; they
refuse (``outbox.pki_conflict``) when a different CA with its key already lives there.

What it writes into ``workdir``: ``mosquitto.conf``, ``acl``, ``data/`` (persistence), ``mosquitto.log``.
The PKI comes from ``kiosk.pki``: the CA in ``pki_dir`` (``ensure_ca``), a server certificate with SANs
127.0.0.1 and localhost, and client certificates whose CN is the terminal or receiver id.

Broker settings: a TLS listener on 127.0.0.1 (free port unless given) with ``require_certificate true``,
``use_identity_as_username true`` (the certificate CN is the MQTT user name) and
``use_username_as_clientid true`` (a client cannot take over another's session); ``allow_anonymous
false``; ACLs:

* every user (pattern with %u): write ``kiosk/v1/%u/up/#`` and ``kiosk/v1/%u/status``, read
  ``kiosk/v1/%u/down/#`` - a terminal reaches only its own topics;
* each receiver id: read ``kiosk/v1/+/up/#`` (through ``$share/receivers/...``) and
  ``kiosk/v1/+/status``, write ``kiosk/v1/+/down/#``; write its own alerts ``fleet/v1/alerts/<id>`` and
  read everyone's (``fleet/v1/alerts/#``);
* ``extra_acl`` lines are appended (e.g. fleet topics).

Optionally a plain listener on 127.0.0.1 without authentication, for tests and baselines only.
Mosquitto drops privileges to the ``mosquitto`` user; when run as root the config says ``user root``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from kiosk import pki
from kiosk.errors import KioskError
from kiosk.queue.tls import ClientTls

log = logging.getLogger("kiosk.queue.broker")

DEFAULT_RECEIVERS = ("receiver-1", "receiver-2")
_RESERVED = {"ca", "broker", "terminal", "device-sign", "staff-sign"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """Start and stop a Mosquitto with mutual TLS on 127.0.0.1 (context manager)."""

    def __init__(
        self,
        workdir: Path,
        pki_dir: Path,
        *,
        receivers: Iterable[str] = DEFAULT_RECEIVERS,
        port: int = 0,
        plain: bool = False,
        plain_port: int = 0,
        persistence: bool = True,
        max_inflight: int = 20,
        max_queued: int = 10000,
        extra_acl: str = "",
        executable: str = "mosquitto",
    ) -> None:
        self.workdir = Path(workdir)
        self.pki_dir = Path(pki_dir)
        self.receivers = tuple(receivers)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.plain_port = (plain_port or free_port()) if plain else None
        self.persistence = persistence
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.extra_acl = extra_acl
        self.executable = shutil.which(executable) or executable
        self._proc: subprocess.Popen[bytes] | None = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ca = pki.ensure_ca(self.pki_dir)
        pki.ensure_leaf(self.pki_dir, "broker", "localhost", "tls_server", self.ca, dns=["localhost"],
                        ips=["127.0.0.1"])

    # ---- addresses and credentials ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``mqtts://127.0.0.1:<port>`` (the TLS listener)."""
        return f"mqtts://{self.host}:{self.port}"

    @property
    def plain_url(self) -> str | None:
        """``mqtt://127.0.0.1:<port>`` of the unauthenticated loopback listener, if enabled."""
        return f"mqtt://{self.host}:{self.plain_port}" if self.plain_port else None

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.pem"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def client_tls(self, name: str) -> ClientTls:
        """A client certificate with CN ``name`` (terminal or receiver id), issued by the broker's CA:
        ``<pki_dir>/<name>.pem`` and ``.key`` (created on first use, reused after)."""
        if name in _RESERVED or not re.fullmatch(r"[A-Za-z0-9-]{3,64}", name):
            raise ValueError(f"not a usable client name: {name!r}")
        pki.ensure_leaf(self.pki_dir, name, name, "tls_client", self.ca)
        return ClientTls(self.ca_file, self.pki_dir / f"{name}.pem", self.pki_dir / f"{name}.key")

    def _install_ca(self, data_dir: Path) -> Path:
        dest = Path(data_dir) / "pki"
        dest.mkdir(parents=True, exist_ok=True)
        if dest.resolve() == self.pki_dir.resolve():
            return dest
        existing = dest / "ca.pem"
        if (dest / "ca.key").exists() and existing.read_bytes() != self.ca_file.read_bytes():
            # Another CA lives there (e.g. the dossier's demo CA): never pair its key with our certificate.
            raise KioskError("outbox.pki_conflict", path=str(dest))
        shutil.copyfile(self.ca_file, existing)
        return dest

    def provision_terminal(self, data_dir: Path, terminal_id: str) -> ClientTls:
        """Install the CA and a fresh client certificate for ``terminal_id`` where the kiosk looks by
        default: ``<data_dir>/pki/ca.pem``, ``terminal.pem``, ``terminal.key``."""
        dest = self._install_ca(data_dir)
        leaf = pki.issue(terminal_id, "tls_client", self.ca)
        leaf.write(dest / "terminal.pem", dest / "terminal.key")
        return ClientTls(dest / "ca.pem", dest / "terminal.pem", dest / "terminal.key")

    def provision_receiver(self, data_dir: Path, receiver_id: str = "receiver-1") -> ClientTls:
        """Install the CA and a client certificate for a receiver where ``kiosk receiver`` looks by
        default: ``<data_dir>/pki/ca.pem``, ``<receiver_id>.pem``, ``<receiver_id>.key``."""
        if receiver_id not in self.receivers:
            raise ValueError(f"{receiver_id!r} has no ACL entry; pass it in receivers=")
        dest = self._install_ca(data_dir)
        src = self.client_tls(receiver_id)
        if dest.resolve() != self.pki_dir.resolve():
            shutil.copyfile(src.cert_file, dest / f"{receiver_id}.pem")
            pki.write_private(dest / f"{receiver_id}.key", src.key_file.read_bytes())
        return ClientTls(dest / "ca.pem", dest / f"{receiver_id}.pem", dest / f"{receiver_id}.key")

    # ---- configuration ------------------------------------------------------------------------------

    def acl_text(self) -> str:
        lines = [
            "# Terminals (and every other user): only their own topics. %u is the certificate CN.",
            "pattern write kiosk/v1/%u/up/#",
            "pattern write kiosk/v1/%u/status",
            "pattern read kiosk/v1/%u/down/#",
            "",
        ]
        for r in self.receivers:
            lines += [f"user {r}", "topic read kiosk/v1/+/up/#", "topic read kiosk/v1/+/status",
                      "topic write kiosk/v1/+/down/#", f"topic write fleet/v1/alerts/{r}",
                      "topic read fleet/v1/alerts/#", ""]
        if self.extra_acl:
            lines += [self.extra_acl.rstrip("\n"), ""]
        return "\n".join(lines)

    def config_text(self) -> str:
        data = self.workdir / "data"
        lines = [
            "# Generated by kiosk.queue.broker",
            "per_listener_settings true",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {data}/",
            "autosave_interval 5",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"max_inflight_messages {self.max_inflight}",
            f"max_queued_messages {self.max_queued}",
            "",
            f"listener {self.port} {self.host}",
            f"cafile {self.ca_file}",
            f"certfile {self.pki_dir / 'broker.pem'}",
            f"keyfile {self.pki_dir / 'broker.key'}",
            "tls_version tlsv1.2",
            "require_certificate true",
            "use_identity_as_username true",
            "use_username_as_clientid true",
            "allow_anonymous false",
            f"acl_file {self.workdir / 'acl'}",
        ]
        if os.geteuid() == 0:
            lines.insert(1, "user root")
        if self.plain_port:
            lines += ["", f"listener {self.plain_port} {self.host}", "allow_anonymous true"]
        return "\n".join(lines) + "\n"

    def write_config(self) -> Path:
        (self.workdir / "data").mkdir(parents=True, exist_ok=True)
        (self.workdir / "acl").write_text(self.acl_text())
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        return conf

    # ---- process ------------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self, timeout: float = 10.0) -> None:
        """Start Mosquitto and wait until its listeners accept connections."""
        if self.running:
            return
        conf = self.write_config()
        self._proc = subprocess.Popen([self.executable, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        ports = [self.port] + ([self.plain_port] if self.plain_port else [])
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
                self._proc = None
                raise KioskError("outbox.broker_failed", detail=(err + tail).strip()[-500:])
            if all(_port_open(self.host, p) for p in ports):
                log.info("mosquitto started", extra={"port": self.port, "pid": self._proc.pid})
                return
            time.sleep(0.05)
        self.stop()
        raise KioskError("outbox.broker_failed", detail=f"not listening after {timeout} s")

    def stop(self, *, kill: bool = False, timeout: float = 10.0) -> None:
        """Stop Mosquitto: SIGTERM (it saves its persistence file) or, with ``kill``, SIGKILL."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
