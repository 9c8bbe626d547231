"""``kiosk receiver --store DIR``: the reference back-end receiver."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from kiosk.cli import add_broker_arg, add_data_dir_arg, config_from_args
from kiosk.jsonio import emit


def cmd_receiver(args: argparse.Namespace) -> int:
    from kiosk.queue.tls import ClientTls
    from kiosk.receiver.server import Receiver, load_trust_roots, receiver_tls

    cfg = config_from_args(args)
    stop = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    trust = load_trust_roots(Path(args.trust_root) if args.trust_root else cfg.data_dir / "pki" / "ca.pem")
    tls = receiver_tls(cfg, args.id)
    tls = ClientTls(Path(args.ca) if args.ca else tls.ca_file,
                    Path(args.cert) if args.cert else tls.cert_file,
                    Path(args.key) if args.key else tls.key_file)
    rec = Receiver(cfg, Path(args.store), trust, receiver_id=args.id, tls=tls, group=args.group,
                   strict=args.strict, staging_quota=args.staging_quota_mb << 20)
    stats = rec.serve(stop, max_packages=args.once)
    emit({"receiver": args.id, "stored": stats.stored, "rejected": stats.rejected, "offers": stats.offers,
          "chunks": stats.chunks, "receipts_sent": stats.receipts_sent, "needs_sent": stats.needs_sent,
          "invalid_messages": stats.invalid_messages, "validated": stats.validated,
          "validation_failed": stats.validation_failed, "alerts_sent": stats.alerts_sent,
          "packages": rec.store.stored_ids()})
    return 0


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("receiver", parents=[parent],
                       help="reference back end: reassemble, verify, store once, send receipts")
    p.add_argument("--store", required=True, help="store folder (shared by all receivers of the group)")
    p.add_argument("--once", type=int, metavar="N", help="exit after N packages were stored or rejected")
    p.add_argument("--id", default="receiver-1", help="receiver id = certificate CN = MQTT client id")
    p.add_argument("--group", default="receivers", help="MQTT 5 shared-subscription group")
    p.add_argument("--cert", help="client certificate (default: <data_dir>/pki/<id>.pem)")
    p.add_argument("--key", help="client key (default: <data_dir>/pki/<id>.key)")
    p.add_argument("--ca", help="CA of the broker (default: mqtt.ca_file or <data_dir>/pki/ca.pem)")
    p.add_argument("--strict", action="store_true",
                   help="run the deep validation (PDF seals, PDF/A: verify_package) before the receipt and "
                   "reject on failure; default: admit on hashes and the manifest signature, receipt, then "
                   "validate in the background (validation.json, alert on failure)")
    p.add_argument("--staging-quota-mb", type=int, default=4096, metavar="MB",
                   help="unfinished transfers one terminal may have staged; a new one beyond it waits "
                   "(the kiosk offers it again later) (default 4096)")
    p.add_argument("--trust-root", help="CA(s) that issue device signing certificates, PEM "
                   "(default: <data_dir>/pki/ca.pem)")
    add_data_dir_arg(p)
    add_broker_arg(p)
    p.set_defaults(func=cmd_receiver)
