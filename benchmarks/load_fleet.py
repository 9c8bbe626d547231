"""Fleet load: many simulated terminals against one Mosquitto and two receivers (shared subscription).

    .venv/bin/python benchmarks/load_fleet.py [--terminals 200] [--packages 1] [--workers 2]
                                              [--mode burst|steady] [--rate 5] [--duration 60]

Each simulated terminal is the real kiosk code: its own data dir, TLS client certificate (CN = terminal
id), encrypted outbox and ``Uplink`` (one thread each; the terminals are spread over ``--workers``
processes). Two ``kiosk receiver`` processes share the load through ``$share/receivers/...`` and one store.
Packages are clones of one real package (a ~200 kB sealed PDF/A paper), verified with verify_package.

* ``burst``: every terminal starts with ``--packages`` queued packages at once (connection storm
  included); latency = receipt time - start.
* ``steady``: the terminals connect first; then packages arrive as a Poisson process at ``--rate``
  packages/s in total for ``--duration`` s; latency = receipt time - enqueue time.

Prints JSON: receipts/s, latency p50/p95/max (seconds), connection time, stored and verified counts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
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

TEMPLATE_PAPERS = [0.0]


def _terminal_cfg(data_dir: Path, tid: str, url: str) -> Config:
    return from_dict({"terminal": {"id": tid}, "paths": {"data_dir": str(data_dir)},
                      "mqtt": {"broker": url, "receipt_timeout_s": 30, "reconnect_min_s": 0.5,
                               "reconnect_max_s": 10.0},
                      "outbox": {"min_free_mb": 64}})


def worker(spec_path: Path) -> int:
    """Run the uplinks of some terminals; print one JSON line per settled package."""
    from kiosk.queue.fixtures import clone_package
    from kiosk.queue.outbox import Outbox
    from kiosk.queue.uplink import Uplink

    spec = json.loads(spec_path.read_text())
    device = from_dict({"terminal": {"id": "KIOSK-FLEET-DEV"}, "paths": {"data_dir": spec["device_dir"]}})
    template = Path(spec["template"])
    rng = random.Random(spec["seed"])
    stop = threading.Event()
    lock = threading.Lock()
    enqueued: dict[str, float] = {}
    uplinks: list[tuple[Uplink, Outbox]] = []
    for tid in spec["terminals"]:
        cfg = _terminal_cfg(Path(spec["root"]) / tid, tid, spec["url"])
        ob = Outbox(cfg.data_dir, cfg)
        uplinks.append((Uplink(cfg, ob), ob))

    def enqueue(ob: Outbox, tid: str) -> None:
        sid = uuid.uuid4().hex
        pkg = clone_package(template, Path(spec["root"]) / "staging" / sid, sid, device, terminal_id=tid)
        with lock:
            ob.enqueue(pkg)
            enqueued[sid] = time.perf_counter()

    if spec["mode"] == "burst":
        for up, ob in uplinks:
            for _ in range(spec["packages"]):
                enqueue(ob, up.tid)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # the "go" line from the coordinator
    t0 = time.perf_counter()
    if spec["mode"] == "burst":
        enqueued = dict.fromkeys(enqueued, t0)
    threads = [threading.Thread(target=up.run, args=(stop,), daemon=True) for up, _ in uplinks]
    for th in threads:
        th.start()
    connected_at = []
    for up, _ in uplinks:
        up.link.connected.wait(120)
        connected_at.append(time.perf_counter() - t0)
    if spec["mode"] == "steady":
        end = time.perf_counter() + spec["duration"]
        rate = spec["rate"]
        while time.perf_counter() < end:
            time.sleep(rng.expovariate(rate))
            up, ob = rng.choice(uplinks)
            # The uplink thread owns its Outbox connection; a second connection enqueues (as `kiosk submit`).
            with Outbox(ob.root.parent, up.cfg) as ob2:
                sid = uuid.uuid4().hex
                pkg = clone_package(template, Path(spec["root"]) / "staging" / sid, sid, device,
                                    terminal_id=up.tid)
                ob2.enqueue(pkg)
                with lock:
                    enqueued[sid] = time.perf_counter()
    deadline = time.perf_counter() + spec["timeout"]
    while time.perf_counter() < deadline:
        settled = sum(len(up.stats.settled_at) for up, _ in uplinks)
        if settled >= len(enqueued):
            break
        time.sleep(0.2)
    stop.set()
    for th in threads:
        th.join(30)
    out: dict[str, Any] = {"connect_s": connected_at, "latencies": [], "unsettled": 0,
                           "connections": sum(up.stats.connections for up, _ in uplinks)}
    for up, _ in uplinks:
        for sid, t in up.stats.settled_at.items():
            if sid in enqueued:
                out["latencies"].append(t - enqueued[sid])
    out["unsettled"] = len(enqueued) - len(out["latencies"])
    out["t0"] = t0
    print(json.dumps(out), flush=True)
    for _, ob in uplinks:
        ob.close()
    return 0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def coordinator(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from kiosk.dossier.verify import verify_package
    from kiosk.queue.broker import MosquittoBroker
    from kiosk.queue.fixtures import build_template

    device = from_dict({"terminal": {"id": "KIOSK-FLEET-DEV"}, "paths": {"data_dir": str(root / "device")}})
    template = build_template(device, root / "template", papers=TEMPLATE_PAPERS)
    terminals = [f"KIOSK-{n:04d}" for n in range(1, args.terminals + 1)]
    store = root / "store"
    with MosquittoBroker(root / "broker", device.data_dir / "pki", max_queued=100000) as broker:
        for tid in terminals:
            broker.provision_terminal(root / "fleet" / tid, tid)
        receivers = []
        for rid in ("receiver-1", "receiver-2"):
            tls = broker.client_tls(rid)
            conf = root / f"{rid}.toml"
            conf.write_text(f'[mqtt]\nbroker = "{broker.url}"\n')
            receivers.append(subprocess.Popen(
                [sys.executable, "-m", "kiosk.cli", "receiver", "--config", str(conf),
                 "--data-dir", str(root / rid), "--store", str(store), "--id", rid,
                 "--cert", str(tls.cert_file), "--key", str(tls.key_file), "--ca", str(tls.ca_file),
                 "--trust-root", str(device.data_dir / "pki" / "ca.pem")],
                stdout=subprocess.DEVNULL, stderr=(root / f"{rid}.log").open("wb"), start_new_session=True))
        workers = []
        try:
            for w in range(args.workers):
                spec = {"terminals": terminals[w::args.workers], "root": str(root / "fleet"),
                        "device_dir": str(device.data_dir), "template": str(template), "url": broker.url,
                        "mode": args.mode, "packages": args.packages,
                        "rate": args.rate / args.workers, "duration": args.duration,
                        "timeout": args.timeout, "seed": w}
                sp = root / f"worker{w}.json"
                sp.write_text(json.dumps(spec))
                workers.append(subprocess.Popen([sys.executable, __file__, "--worker", str(sp)],
                                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=(root / f"worker{w}.log").open("wb"), text=True))
            for wp in workers:
                assert wp.stdout is not None
                line = wp.stdout.readline()
                if not line or not json.loads(line).get("ready"):
                    raise RuntimeError("a worker failed to start (see worker*.log)")
            t_go = time.perf_counter()
            for wp in workers:
                assert wp.stdin is not None
                wp.stdin.write("go\n")
                wp.stdin.flush()
            results = []
            for wp in workers:
                out, _ = wp.communicate(timeout=args.timeout + args.duration + 120)
                results.append(json.loads(out.strip().splitlines()[-1]))
            elapsed = time.perf_counter() - t_go
        finally:
            for wp in workers:
                if wp.poll() is None:
                    wp.kill()
            for rp in receivers:
                os.killpg(rp.pid, signal.SIGTERM)
            for rp in receivers:
                rp.wait(30)
    latencies = [x for r in results for x in r["latencies"]]
    connects = [x for r in results for x in r["connect_s"]]
    stored = sorted(p.name for p in store.iterdir() if not p.name.startswith("."))
    sample = stored[:: max(1, len(stored) // 20)]
    verified = sum(1 for s in sample if verify_package(store / s, [broker.ca.cert]).ok)
    active = args.duration if args.mode == "steady" else (max(latencies) if latencies else elapsed)
    return {
        "bench": "load_fleet", "mode": args.mode, "terminals": args.terminals, "workers": args.workers,
        "receivers": 2, "packages_settled": len(latencies),
        "packages_unsettled": sum(r["unsettled"] for r in results), "stored": len(stored),
        "verified_sample": f"{verified}/{len(sample)}",
        "receipts_per_s": round(len(latencies) / active, 2) if active else None,
        "latency_s": {"p50": round(statistics.median(latencies), 3) if latencies else None,
                      "p95": round(_pct(latencies, 0.95), 3),
                      "max": round(max(latencies), 3) if latencies else None},
        "all_connected_s": round(max(connects), 2) if connects else None,
        "mqtt_connections": sum(r["connections"] for r in results),
        "elapsed_s": round(elapsed, 1),
        "paper_bytes": sum(p.stat().st_size for p in (template / "papers").iterdir()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--terminals", type=int, default=200)
    ap.add_argument("--packages", type=int, default=1, help="burst: packages per terminal")
    ap.add_argument("--workers", type=int, default=2, help="processes hosting the simulated terminals")
    ap.add_argument("--mode", choices=["burst", "steady"], default="burst")
    ap.add_argument("--rate", type=float, default=5.0, help="steady: packages per second, whole fleet")
    ap.add_argument("--duration", type=float, default=60.0, help="steady: seconds of arrivals")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--workdir")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(Path(args.worker))
    if args.workdir:
        report = coordinator(args, Path(args.workdir))
    else:
        with tempfile.TemporaryDirectory(prefix="kiosk-fleet-") as tmp:
            report = coordinator(args, Path(tmp))
    print(json.dumps(report, indent=2))
    return 0 if report["packages_unsettled"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
