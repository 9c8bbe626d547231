"""The command line: kiosk submit / uplink / outbox list / receiver, as separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from outbox_helpers import Terminal, raw, wait_for

from kiosk.queue import protocol as proto
from kiosk.queue.broker import MosquittoBroker

TermF = Callable[..., Terminal]


def _kiosk(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KIOSK_CONFIG", "KIOSK_DATA_DIR")}
    p = subprocess.run([sys.executable, "-m", "kiosk.cli", *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def _config(path: Path, t: Terminal, url: str) -> Path:
    path.write_text(
        f'[terminal]\nid = "{t.id}"\n\n'
        f'[mqtt]\nbroker = "{url}"\nchunk_size = 65536\nreceipt_timeout_s = 5\nreconnect_min_s = 0.2\n'
        f'reconnect_max_s = 2.0\n\n[outbox]\nmin_free_mb = 1\n')
    return path


def test_submit_uplink_receiver_and_list(terminal_factory: TermF, broker: MosquittoBroker, tmp_path: Path
                                         ) -> None:
    t = terminal_factory()
    t.outbox.close()
    conf = _config(tmp_path / "kiosk.toml", t, broker.url)
    good = t.package([0, 1])
    bad = t.raw_package([20_000])
    out = _kiosk("submit", str(good), str(bad), "--config", str(conf), "--data-dir", str(t.data_dir))
    entries = [json.loads(line) for line in out.stdout.splitlines()]
    assert [e["state"] for e in entries] == ["queued", "queued"]
    assert not good.exists() and not bad.exists()
    status = json.loads(_kiosk("outbox", "status", "--config", str(conf), "--data-dir",
                               str(t.data_dir)).stdout)
    assert status["accepting_new_sessions"] is True and status["counts"]["queued"] == 2

    rtls = broker.client_tls("receiver-1")
    store = tmp_path / "store"
    receiver = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "receiver", "--config", str(conf),
         "--data-dir", str(tmp_path / "r"), "--store", str(store), "--once", "2",
         "--cert", str(rtls.cert_file), "--key", str(rtls.key_file),
         "--ca", str(rtls.ca_file), "--trust-root", str(t.factory.pki_dir / "ca.pem")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: "as receiver-1" in broker.log_file.read_text(), 30)
        up = _kiosk("uplink", "--until-empty", "--timeout", "90", "--config", str(conf),
                    "--data-dir", str(t.data_dir))
        summary = json.loads(up.stdout)
        assert summary["empty"] is True and summary["receipts"] == 2 and summary["rejected"] == 1
        rout, rerr = receiver.communicate(timeout=60)
    finally:
        if receiver.poll() is None:
            receiver.kill()
    assert receiver.returncode == 0, rerr
    rsum = json.loads(rout)
    assert rsum["stored"] == 1 and rsum["rejected"] == 1 and rsum["packages"] == [entries[0]["submission_id"]]

    listed = _kiosk("outbox", "list", "--json", "--config", str(conf), "--data-dir", str(t.data_dir))
    rows = {r["submission_id"]: r for r in map(json.loads, listed.stdout.splitlines())}
    assert rows[entries[0]["submission_id"]]["state"] == "purged"
    assert rows[entries[0]["submission_id"]]["has_payload"] is False
    rejected = rows[entries[1]["submission_id"]]
    assert rejected["state"] == "rejected" and rejected["reason"].startswith("verification_failed: ")
    table = _kiosk("outbox", "list", "--config", str(conf), "--data-dir", str(t.data_dir)).stdout
    assert "rejected" in table and "verification_failed" in table
    audit = json.loads(_kiosk("outbox", "audit", "--config", str(conf), "--data-dir", str(t.data_dir)).stdout)
    assert audit["intact"] is True


def test_last_will_marks_a_killed_uplink_offline(terminal_factory: TermF, broker: MosquittoBroker,
                                                tmp_path: Path) -> None:
    t = terminal_factory()
    t.outbox.close()
    conf = _config(tmp_path / "kiosk.toml", t, broker.url)
    with raw(broker.port, "receiver-2", broker.client_tls("receiver-2")) as probe:
        probe.wait_suback(probe.client.subscribe(proto.topic(t.id, "status"), qos=1)[1])
        up = subprocess.Popen([sys.executable, "-m", "kiosk.cli", "uplink", "--config", str(conf),
                               "--data-dir", str(t.data_dir)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            assert wait_for(lambda: any(json.loads(p)["online"] for _t, p in probe.messages), 30)
        finally:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        assert wait_for(lambda: json.loads(probe.messages[-1][1])["online"] is False, 30)
        last = json.loads(probe.messages[-1][1])
        assert last == {"v": 1, "type": "status", "terminal_id": t.id, "online": False}  # the Last Will


def test_plain_mqtt_is_refused_off_loopback(tmp_path: Path) -> None:
    p = _kiosk("uplink", "--once", "--broker", "mqtt://192.0.2.10:1883", "--data-dir", str(tmp_path),
               check=False)
    assert p.returncode == 1
    first = p.stderr.splitlines()[0]
    assert first == "kiosk: Unencrypted MQTT is allowed on loopback only: mqtt://192.0.2.10:1883"


def test_plain_loopback_listener_works_for_tests(terminal_factory: TermF,
                                                 receiver_factory: Callable[..., object],
                                                 broker: MosquittoBroker, tmp_path: Path) -> None:
    assert broker.plain_url is not None
    t = terminal_factory()
    t.outbox.close()
    conf = _config(tmp_path / "kiosk.toml", t, broker.plain_url)
    receiver_factory()
    _kiosk("submit", str(t.package([0])), "--config", str(conf), "--data-dir", str(t.data_dir))
    up = json.loads(_kiosk("uplink", "--until-empty", "--timeout", "60", "--config", str(conf),
                           "--data-dir", str(t.data_dir)).stdout)
    assert up["empty"] is True and up["receipts"] == 1
