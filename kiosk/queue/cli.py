"""Commands: ``kiosk submit``, ``kiosk uplink``, ``kiosk outbox list|status|retry|discard|audit``,
``kiosk broker`` (a local Mosquitto for development) and ``kiosk bench uplink``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from kiosk.cli import add_broker_arg, add_data_dir_arg, command_group, config_from_args
from kiosk.errors import KioskError
from kiosk.jsonio import emit


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_submit(args: argparse.Namespace) -> int:
    from kiosk.queue.outbox import Outbox

    cfg = config_from_args(args)
    with Outbox(cfg.data_dir, cfg) as ob:
        for pkg in args.package:
            entry = ob.enqueue(Path(pkg), remove_plaintext=not args.keep)
            emit(entry.to_json())
    return 0


def cmd_uplink(args: argparse.Namespace) -> int:
    from kiosk.queue.outbox import Outbox
    from kiosk.queue.uplink import Uplink

    cfg = config_from_args(args)
    stop = _stop_on_signals()
    with Outbox(cfg.data_dir, cfg) as ob:
        up = Uplink(cfg, ob)
        empty = up.run(stop, until_empty=args.until_empty, once=args.once, timeout=args.timeout)
        counts = ob.counts()
        s = up.stats
        emit({"empty": empty, "counts": counts, "offers": s.offers, "chunks": s.chunks, "bytes": s.bytes,
              "receipts": s.receipts, "rejected": s.rejected, "connections": s.connections,
              "invalid_messages": s.invalid_messages})
        if args.until_empty and not empty:
            raise KioskError("outbox.not_empty", pending=len(ob.pending()))
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from kiosk.queue.outbox import STATES, Outbox

    cfg = config_from_args(args)
    with Outbox(cfg.data_dir, cfg) as ob:
        entries = ob.entries(tuple(args.state) if args.state else STATES)
        if args.json:
            for e in entries:
                emit(e.to_json())
            return 0
        print(f"{'submission_id':<36} {'state':<10} {'size':>10} {'updated_at':<26} reason")
        for e in entries:
            print(f"{e.submission_id:<36} {e.state:<10} {e.size:>10} {e.updated_at:<26} {e.reason or ''}")
    return 0


def cmd_outbox_status(args: argparse.Namespace) -> int:
    from kiosk.messages import t
    from kiosk.queue.outbox import Outbox

    cfg = config_from_args(args)
    with Outbox(cfg.data_dir, cfg) as ob:
        ok, reason = ob.accepting_new_sessions()
        emit({"accepting_new_sessions": ok, "reason": reason, "message": t(reason, "en") if reason else "",
              "counts": ob.counts(), "queued_bytes": ob.queued_bytes()})
    return 0


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    from kiosk.queue.outbox import Outbox

    cfg = config_from_args(args)
    with Outbox(cfg.data_dir, cfg) as ob:
        if args.discard:
            ob.discard(args.submission_id)
        else:
            ob.retry(args.submission_id)
        entry = ob.get(args.submission_id)
        if entry is None:
            raise KioskError("outbox.not_found", submission_id=args.submission_id)
        emit(entry.to_json())
    return 0


def cmd_outbox_audit(args: argparse.Namespace) -> int:
    from kiosk.queue.audit import verify_chain

    cfg = config_from_args(args)
    path = Path(args.file) if args.file else cfg.data_dir / "audit" / "outbox-audit.log"
    intact, n = verify_chain(path)
    emit({"file": str(path), "intact": intact, "records" if intact else "first_bad_line": n})
    return 0 if intact else 1


def cmd_broker(args: argparse.Namespace) -> int:
    from kiosk.queue.broker import MosquittoBroker

    stop = _stop_on_signals()
    with MosquittoBroker(Path(args.workdir), Path(args.pki_dir), port=args.port, plain=args.plain) as b:
        for tid in args.terminal or []:
            b.provision_terminal(Path(args.provision_dir or args.workdir) / tid, tid)
        emit({"url": b.url, "plain_url": b.plain_url, "ca_file": str(b.ca_file), "pid": b.pid,
              "log_file": str(b.log_file)})
        sys.stdout.flush()
        while not stop.wait(0.5):
            if not b.running:
                return 1
    return 0


def cmd_bench_uplink(args: argparse.Namespace) -> int:
    from kiosk.queue.bench import run_uplink_bench

    result = run_uplink_bench(Path(args.workdir) if args.workdir else None, size_mb=args.size_mb,
                              runs=args.runs, chunk_size=args.chunk_size, max_inflight=args.max_inflight)
    emit(result)
    return 0


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("submit", parents=[parent],
                       help="queue a package (encrypts it, removes the plaintext)")
    p.add_argument("package", nargs="+", help="package folder made by 'kiosk dossier build'")
    p.add_argument("--keep", action="store_true", help="do not delete the plaintext folder (testing)")
    add_data_dir_arg(p)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("uplink", parents=[parent], help="send queued packages, apply receipts, purge")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true",
                      help="one pass: send what is pending, wait up to receipt_timeout_s for receipts, exit")
    mode.add_argument("--until-empty", action="store_true",
                      help="exit when every package is receipted or rejected (exit 1 on --timeout)")
    p.add_argument("--timeout", type=float, help="give up after this many seconds")
    add_data_dir_arg(p)
    add_broker_arg(p)
    p.set_defaults(func=cmd_uplink)

    p = sub.add_parser("outbox", parents=[parent], help="inspect and manage the outbox")
    osub = p.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    q = osub.add_parser("list", parents=[parent], help="list entries with state and rejection reason")
    q.add_argument("--json", action="store_true", help="one JSON object per entry")
    q.add_argument("--state", action="append", help="only this state (repeatable)")
    add_data_dir_arg(q)
    q.set_defaults(func=cmd_outbox_list)
    q = osub.add_parser("status", parents=[parent],
                        help="counts, queued bytes, whether new sessions are accepted")
    add_data_dir_arg(q)
    q.set_defaults(func=cmd_outbox_status)
    q = osub.add_parser("retry", parents=[parent], help="queue a rejected entry again (--discard: delete it)")
    q.add_argument("submission_id")
    q.add_argument("--discard", action="store_true", help="delete the rejected entry's payload instead")
    add_data_dir_arg(q)
    q.set_defaults(func=cmd_outbox_retry)
    q = osub.add_parser("audit", parents=[parent], help="check the audit log's hash chain")
    q.add_argument("--file", help="audit log (default: <data_dir>/audit/outbox-audit.log)")
    add_data_dir_arg(q)
    q.set_defaults(func=cmd_outbox_audit)

    p = sub.add_parser("broker", parents=[parent], help="run a local Mosquitto with mutual TLS (development)")
    p.add_argument("--workdir", required=True, help="folder for config, persistence and log")
    p.add_argument("--pki-dir", required=True, help="CA folder (ca.pem/ca.key are created if absent)")
    p.add_argument("--port", type=int, default=0, help="TLS port (default: a free one)")
    p.add_argument("--plain", action="store_true", help="also an unauthenticated loopback listener")
    p.add_argument("--terminal", action="append", help="provision this terminal id (repeatable)")
    p.add_argument("--provision-dir", help="terminal data dirs go to DIR/<id> (default: workdir)")
    p.set_defaults(func=cmd_broker)

    bench = command_group(sub, "bench", parent, "benchmarks")
    p = bench.add_parser("uplink", parents=[parent], help="20 MB package end to end vs mosquitto_pub")
    p.add_argument("--size-mb", type=float, default=20.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--chunk-size", type=int, default=0, help="bytes per chunk (default: mqtt.chunk_size)")
    p.add_argument("--max-inflight", type=int, default=0,
                   help="unacknowledged publishes at a time (default: mqtt.max_inflight)")
    p.add_argument("--workdir", help="scratch folder (default: a temporary one)")
    p.set_defaults(func=cmd_bench_uplink)
