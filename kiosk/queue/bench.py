"""``kiosk bench uplink``: one ~20 MB package end to end on loopback against ``mosquitto_pub``.

Same run, same broker (mutual TLS), same bytes:

* **baseline** - ``mosquitto_pub -q 1 -f ARCHIVE`` with the terminal's certificate, timed from process
  start to exit (it exits after the broker's PUBACK), and the same bytes delivered to a
  ``mosquitto_sub`` (timed until the subscriber has them): "publish" and "delivered" baselines;
* **kiosk** - ``Uplink.run_until_empty`` on the queued package (TLS connect, decrypt, chunk, publish;
  a ``kiosk receiver`` process hashes and untars the chunks as they arrive, admits the package - archive
  and paper hashes, manifest schema and signature, ids, file set - stores it and sends the receipt; the
  outbox purges), timed from the start of the uplink to its return after the purge; also the time until
  the last PUBACK ("uplink only"). Enqueue time (encrypt + fsync) is reported separately, and the
  receiver's own timings from its log: ``tail_s`` (last chunk in -> receipt out), ``admit_s`` and
  ``store_s`` (parts of the tail), ``deep_validation_s`` (verify_package after the receipt).

The receiver's deep validation runs after the receipt, in the background: each kiosk run waits for it
(``validation.json`` in the stored package) before the next measurement, so that it never overlaps a
timed run. Runs alternate baseline and kiosk; figures are medians. ``ratio_*`` = baseline time / kiosk
time (the kiosk's throughput as a fraction of mosquitto_pub's).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kiosk.config import Config, from_dict
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.chunking import archive_bytes
from kiosk.queue.fixtures import build_template, clone_package
from kiosk.queue.outbox import Outbox
from kiosk.queue.tls import ClientTls
from kiosk.queue.uplink import Uplink

MB = 1024 * 1024
TERMINAL = "KIOSK-BENCH-01"


def _tls_args(t: ClientTls) -> list[str]:
    return ["--cafile", str(t.ca_file), "--cert", str(t.cert_file), "--key", str(t.key_file)]


def _baseline(broker: MosquittoBroker, archive: Path, tls_pub: ClientTls, tls_sub: ClientTls
              ) -> tuple[float, float]:
    """(publish-only seconds, delivered-to-subscriber seconds) for one mosquitto_pub of the archive."""
    topic = f"kiosk/v1/{TERMINAL}/status"  # readable by the subscriber, not by the kiosk receiver
    # stdbuf: mosquitto_sub's debug lines must not sit in a pipe buffer, we wait for its SUBACK.
    sub = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port),
                            *_tls_args(tls_sub), "-V", "mqttv5", "-i", "receiver-2", "-q", "1", "-t", topic,
                            "-C", "1", "-R", "-d"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    subscribed = threading.Event()

    def read() -> None:
        assert sub.stdout is not None
        for line in sub.stdout:
            if b"SUBACK" in line:
                subscribed.set()
        subscribed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not subscribed.wait(30) or sub.poll() is not None:
        sub.kill()
        raise RuntimeError("mosquitto_sub did not subscribe")
    t0 = time.perf_counter()
    pub = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), *_tls_args(tls_pub),
                          "-V", "mqttv5", "-i", TERMINAL, "-q", "1", "-t", topic, "-f", str(archive)],
                         capture_output=True)
    t_pub = time.perf_counter() - t0
    if pub.returncode != 0:
        sub.kill()
        raise RuntimeError(f"mosquitto_pub failed: {pub.stderr.decode(errors='replace')[:200]}")
    sub.wait(120)
    t_sub = time.perf_counter() - t0
    reader.join(5)
    return t_pub, t_sub


def _wait_validated(store: Path, sid: str, timeout: float = 120.0) -> None:
    """Wait for the receiver's background deep validation of ``sid`` (its validation.json)."""
    deadline = time.monotonic() + timeout
    while not (store / sid / "validation.json").is_file():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no validation.json for {sid} within {timeout} s")
        time.sleep(0.02)


def _kiosk_run(cfg: Config, template: Path, device: Config, work: Path, store: Path) -> dict[str, float]:
    sid = uuid.uuid4().hex
    pkg = clone_package(template, work / sid, sid, device, terminal_id=TERMINAL)
    with Outbox(cfg.data_dir, cfg) as ob:
        t0 = time.perf_counter()
        entry = ob.enqueue(pkg)
        t_enqueue = time.perf_counter() - t0
        up = Uplink(cfg, ob)
        t1 = time.perf_counter()
        if not up.run_until_empty(timeout=300):
            raise RuntimeError("no receipt within 300 s")
        t_e2e = time.perf_counter() - t1
        state = ob.get(sid)
        if state is None or state.state != "purged":
            raise RuntimeError(f"package not purged: {state}")
    _wait_validated(store, sid)
    return {"enqueue_s": t_enqueue, "e2e_s": t_e2e, "uplink_s": up.stats.acked_at.get(sid, t1 + t_e2e) - t1,
            "bytes": float(entry.size), "chunks": float(entry.chunks)}


def run_uplink_bench(workdir: Path | None = None, *, size_mb: float = 20.0, runs: int = 3,
                     chunk_size: int = 0, max_inflight: int = 0) -> dict[str, Any]:
    if shutil.which("mosquitto_pub") is None or shutil.which("mosquitto_sub") is None:
        raise RuntimeError("mosquitto_pub / mosquitto_sub not found (Debian package mosquitto-clients)")
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="kiosk-bench-")
        workdir = Path(tmp.name)
    try:
        return _run(workdir, size_mb, runs, chunk_size, max_inflight)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(workdir: Path, size_mb: float, runs: int, chunk_size: int, max_inflight: int) -> dict[str, Any]:
    device = from_dict({"terminal": {"id": TERMINAL}, "paths": {"data_dir": str(workdir / "device")}})
    # Full-noise A4 pages are about 3.6 MB each as sealed PDF/A; the last one makes up the rest.
    full = max(0, int(size_mb // 3.6))
    rest = (size_mb - full * 3.6) / 3.6
    fractions = [1.0] * full + ([max(0.02, rest)] if rest > 0.01 else [])
    template = build_template(device, workdir / "template", papers=fractions)
    archive = workdir / "archive.tar"
    archive.write_bytes(archive_bytes(template))
    size = archive.stat().st_size
    results: dict[str, list[float]] = {"pub_s": [], "sub_s": [], "e2e_s": [], "uplink_s": [], "enqueue_s": []}
    with MosquittoBroker(workdir / "broker", device.data_dir / "pki") as broker:
        kiosk_dir = workdir / "kiosk"
        tls_pub = broker.provision_terminal(kiosk_dir, TERMINAL)
        tls_sub = broker.client_tls("receiver-2")
        tls_recv = broker.client_tls("receiver-1")
        mqtt: dict[str, Any] = {"broker": broker.url}
        if chunk_size:
            mqtt["chunk_size"] = chunk_size
        if max_inflight:
            mqtt["max_inflight"] = max_inflight
        cfg = from_dict({"terminal": {"id": TERMINAL}, "paths": {"data_dir": str(kiosk_dir)}, "mqtt": mqtt,
                         "outbox": {"min_free_mb": 64}})
        rconf = workdir / "receiver.toml"
        rconf.write_text(f'[mqtt]\nbroker = "{broker.url}"\n')
        receiver = subprocess.Popen(
            [sys.executable, "-m", "kiosk.cli", "receiver", "--log-level", "info", "--config", str(rconf),
             "--data-dir", str(workdir / "recv"), "--store", str(workdir / "store"), "--id", "receiver-1",
             "--cert", str(tls_recv.cert_file), "--key", str(tls_recv.key_file),
             "--ca", str(tls_recv.ca_file),
             "--trust-root", str(device.data_dir / "pki" / "ca.pem")],
            stdout=subprocess.DEVNULL, stderr=(workdir / "receiver.log").open("wb"), start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while "as receiver-1" not in broker.log_file.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            store = workdir / "store"
            _kiosk_run(cfg, template, device, workdir / "work", store)  # warm-up (imports, first connection)
            for _ in range(runs):
                t_pub, t_sub = _baseline(broker, archive, tls_pub, tls_sub)
                results["pub_s"].append(t_pub)
                results["sub_s"].append(t_sub)
                k = _kiosk_run(cfg, template, device, workdir / "work", store)
                for key in ("e2e_s", "uplink_s", "enqueue_s"):
                    results[key].append(k[key])
                chunks = int(k["chunks"])
        finally:
            os.killpg(receiver.pid, signal.SIGTERM)
            receiver.wait(30)
    med = {k: statistics.median(v) for k, v in results.items()}
    steps = _receiver_steps(workdir / "receiver.log")[1:]  # without the warm-up package
    mbs = size / MB

    def rate(seconds: float) -> float:
        return round(mbs / seconds, 1)

    return {
        "bench": "uplink", "bytes": size, "chunk_size": cfg.mqtt.chunk_size, "chunks": chunks,
        "max_inflight": cfg.mqtt.max_inflight, "runs": runs,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "samples_s": {k: [round(x, 3) for x in v] for k, v in results.items()},
        "mb_per_s": {"mosquitto_pub": rate(med["pub_s"]), "mosquitto_pub_to_sub": rate(med["sub_s"]),
                     "kiosk_end_to_end": rate(med["e2e_s"]), "kiosk_uplink_only": rate(med["uplink_s"])},
        "ratio_e2e_vs_pub": round(med["pub_s"] / med["e2e_s"], 3),
        "ratio_e2e_vs_pub_to_sub": round(med["sub_s"] / med["e2e_s"], 3),
        "ratio_uplink_vs_pub": round(med["pub_s"] / med["uplink_s"], 3),
        "receiver_median_s": {k: round(statistics.median(x[k] for x in steps), 4)
                              for k in _STEPS if all(k in x for x in steps)} if steps else {},
        "target": ">= 0.70 of mosquitto_pub",
    }


_STEPS = ("tail_s", "admit_s", "store_s", "deep_validation_s")


def _receiver_steps(log: Path) -> list[dict[str, float]]:
    """The receiver's per-package timings from its JSON log: ``package stored`` (admit_s, store_s),
    ``receipt sent`` (tail_s) and ``package validated`` (duration_s), joined by submission id."""
    per: dict[str, dict[str, float]] = {}
    order: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        sid = rec.get("submission_id")
        if not isinstance(sid, str):
            continue
        if sid not in per:
            per[sid] = {}
            order.append(sid)
        msg = rec.get("msg")
        if msg == "package stored":
            per[sid].update({k: float(rec[k]) for k in ("admit_s", "store_s") if k in rec})
        elif msg == "receipt sent":
            per[sid]["tail_s"] = float(rec["tail_s"])
        elif msg == "package validated":
            per[sid]["deep_validation_s"] = float(rec["duration_s"])
    return [per[s] for s in order if per[s]]
