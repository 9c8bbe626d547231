"""Fault drill for the outbox and transport (used by ``benchmarks/fault_outbox.py`` and a slow test).

Real processes throughout: a Mosquitto with mutual TLS, a ``kiosk receiver`` process and a
``kiosk uplink --until-empty`` process. The drill queues N real packages (``kiosk.queue.fixtures``
clones of a package made by ``build_package``), then kills the uplink with SIGKILL at random moments
(restarting it each time) and restarts the broker a few times in between. Finally it lets the uplink
finish and checks: the receiver holds exactly the N submissions, each accepted by ``verify_package`` (and
by the receiver's own deep validation after its receipt: ``validation.json`` says ok);
the outbox holds no payload and every row is ``purged``; the audit log's hash chain is intact.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiosk.config import from_dict
from kiosk.queue.audit import verify_chain
from kiosk.queue.broker import MosquittoBroker
from kiosk.queue.fixtures import build_template, choose_papers, clone_package, template_paper_sizes
from kiosk.queue.outbox import Outbox

MB = 1024 * 1024


@dataclass(frozen=True)
class FaultPlan:
    packages: int = 30
    min_mb: float = 1.0
    max_mb: float = 5.0
    kills: int = 20
    broker_restarts: int = 3
    min_run_s: float = 1.0  # the uplink lives this long at least before a kill ...
    max_run_s: float = 3.0  # ... and at most this long
    chunk_size: int = 128 * 1024
    receipt_timeout_s: int = 5
    seed: int = 1
    timeout_s: float = 600.0


def _toml(d: dict[str, dict[str, Any]]) -> str:
    out = []
    for section, values in d.items():
        out.append(f"[{section}]")
        for k, v in values.items():
            out.append(f"{k} = {json.dumps(v)}")
        out.append("")
    return "\n".join(out)


def _kiosk(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    fh = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "kiosk.cli", args[0], "--log-level", "info", *args[1:]],
                            stdout=fh, stderr=fh, env=env, start_new_session=True)


def _states(kiosk_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{kiosk_dir / 'outbox' / 'outbox.db'}?mode=ro", uri=True, timeout=10)
    try:
        return dict(db.execute("SELECT state, COUNT(*) FROM entries GROUP BY state").fetchall())
    except sqlite3.Error:
        return {}
    finally:
        db.close()


def _wait_state(kiosk_dir: Path, state: str, deadline: float) -> bool:
    while time.monotonic() < deadline:
        if _states(kiosk_dir).get(state, 0) > 0:
            return True
        time.sleep(0.02)
    return False


def run_fault_drill(workdir: Path, plan: FaultPlan) -> dict[str, Any]:
    """Run the drill in ``workdir``; returns a report with ``ok`` and the figures."""
    from kiosk.dossier.verify import verify_package

    rng = random.Random(plan.seed)
    workdir.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    device = from_dict({"terminal": {"id": "KIOSK-FAULT-01"}, "paths": {"data_dir": str(workdir / "device")}})
    pki_dir = device.data_dir / "pki"
    template = build_template(device, workdir / "template")
    sizes = template_paper_sizes(template)
    report: dict[str, Any] = {"plan": asdict(plan)}
    with MosquittoBroker(workdir / "broker", pki_dir) as broker:
        kiosk_dir = workdir / "kiosk"
        broker.provision_terminal(kiosk_dir, device.terminal.id)
        recv_dir = workdir / "receiver"
        rtls = broker.client_tls("receiver-1")
        mqtt = {"broker": broker.url, "chunk_size": plan.chunk_size,
                "receipt_timeout_s": plan.receipt_timeout_s, "reconnect_min_s": 0.2, "reconnect_max_s": 2.0,
                "keepalive_s": 5}
        kconf = workdir / "kiosk.toml"
        kconf.write_text(_toml({"terminal": {"id": device.terminal.id}, "paths": {"data_dir": str(kiosk_dir)},
                                "mqtt": mqtt, "outbox": {"min_free_mb": 64}}))
        rconf = workdir / "receiver.toml"
        rconf.write_text(_toml({"paths": {"data_dir": str(recv_dir)},
                                "mqtt": {**mqtt, "ca_file": str(rtls.ca_file)}}))
        kcfg = from_dict({"terminal": {"id": device.terminal.id}, "paths": {"data_dir": str(kiosk_dir)},
                          "mqtt": mqtt, "outbox": {"min_free_mb": 64}})
        plans = [int(rng.uniform(plan.min_mb, plan.max_mb) * MB) for _ in range(plan.packages)]
        sids: list[str] = []
        total = 0

        def enqueue(count: int) -> None:
            nonlocal total
            with Outbox(kiosk_dir, kcfg) as ob:
                for _ in range(count):
                    n = len(sids)
                    if n >= plan.packages:
                        return
                    sid = f"fault{plan.seed:02d}{n:04d}" + os.urandom(8).hex()
                    pkg = clone_package(template, workdir / "staging" / sid, sid, device,
                                        paper_indices=choose_papers(sizes, plans[n]))
                    total += ob.enqueue(pkg).size
                    sids.append(sid)

        store = workdir / "store"
        receiver = _kiosk(["receiver", "--config", str(rconf), "--store", str(store), "--id", "receiver-1",
                           "--cert", str(rtls.cert_file), "--key", str(rtls.key_file),
                           "--trust-root", str(pki_dir / "ca.pem")], workdir / "receiver.log")
        daemon_args = ["uplink", "--config", str(kconf)]
        restart_rounds = set(rng.sample(range(1, max(2, plan.kills)),
                                        min(plan.broker_restarts, max(1, plan.kills - 1))))
        kills = restarts = mid_transfer = 0
        modes: dict[str, int] = {}
        try:
            # New submissions keep arriving between crashes, so the uplink always has work. Each kill
            # comes at a random moment: while a package is being sent, while receipts are awaited, or
            # simply after a random time.
            for k in range(plan.kills):
                enqueue((k + 1) * plan.packages // plan.kills - len(sids))
                up = _kiosk(daemon_args, workdir / "uplink.log")
                mode = rng.choice(["sending", "sent", "time"])
                if mode == "time":
                    time.sleep(rng.uniform(plan.min_run_s, plan.max_run_s))
                else:
                    _wait_state(kiosk_dir, mode, time.monotonic() + plan.max_run_s + 5)
                    time.sleep(rng.uniform(0, 0.2))
                states = _states(kiosk_dir)
                if up.poll() is None:
                    os.killpg(up.pid, signal.SIGKILL)
                    kills += 1
                    modes[mode] = modes.get(mode, 0) + 1
                    mid_transfer += states.get("sending", 0) > 0
                up.wait()
                if k in restart_rounds and restarts < plan.broker_restarts:
                    broker.restart()
                    restarts += 1
            enqueue(plan.packages)
            while restarts < plan.broker_restarts:
                broker.restart()
                restarts += 1
            up = _kiosk(["uplink", "--config", str(kconf), "--until-empty", "--timeout", str(plan.timeout_s)],
                        workdir / "uplink.log")
            final_rc = up.wait(plan.timeout_s + 30)
            # The receiver's deep validation runs after each receipt: let it finish before stopping it.
            pending = store / ".validate"
            deadline = time.monotonic() + 120
            while pending.is_dir() and any(pending.iterdir()) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            os.killpg(receiver.pid, signal.SIGTERM)
            try:
                receiver.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(receiver.pid, signal.SIGKILL)
                receiver.wait()
        elapsed = time.monotonic() - t_start
        stored = sorted(p.name for p in store.iterdir() if not p.name.startswith("."))
        verified = sum(1 for s in stored if verify_package(store / s, [broker.ca.cert]).ok)
        deep_ok = sum(1 for s in stored if (store / s / "validation.json").is_file()
                      and json.loads((store / s / "validation.json").read_text())["ok"] is True)
        with Outbox(kiosk_dir, kcfg) as ob:
            counts = ob.counts()
            blobs = sorted(p.name for p in ob.blobs.iterdir())
        chain_ok, records = verify_chain(kiosk_dir / "audit" / "outbox-audit.log")
        recv_chain_ok, _ = verify_chain(store / ".audit" / "receiver-audit.log")
        report.update({
            "bytes_queued": total, "kills": kills, "kills_while_sending": mid_transfer, "kill_modes": modes,
            "broker_restarts": restarts, "final_uplink_exit": final_rc,
            "stored": len(stored), "verified": verified, "deep_validated_ok": deep_ok,
            "stored_ids_match": stored == sorted(sids),
            "outbox_counts": counts, "outbox_payloads_left": len(blobs), "audit_chain_intact": chain_ok,
            "audit_records": records, "receiver_audit_intact": recv_chain_ok, "elapsed_s": round(elapsed, 1),
        })
        report["ok"] = (final_rc == 0 and len(stored) == plan.packages and verified == plan.packages
                        and deep_ok == plan.packages and stored == sorted(sids) and not blobs
                        and counts["purged"] == plan.packages and chain_ok and recv_chain_ok)
    return report
