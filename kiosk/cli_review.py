"""``kiosk review list | confirm | return``: the staff review desk (R12) without the touch screen.

The same desk as the staff screen (``kiosk.staffreview.ReviewDesk``) over the kiosk's outbox, for a
maintenance session or a back-office script. The officer's key is ``signing.staff_pkcs12_file``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from kiosk.cli import add_data_dir_arg, command_group, config_from_args
from kiosk.jsonio import emit
from kiosk.staffreview import RETURN_REASONS


def _held_record(held: Any) -> dict[str, Any]:
    d = asdict(held)
    d["papers"] = [{"name": p["name"], "pages": p["pages"]} for p in d["papers"]]
    return d


def _cmd_list(args: argparse.Namespace) -> int:
    from kiosk.queue.outbox import Outbox
    from kiosk.staffreview import ReviewDesk

    cfg = config_from_args(args)
    with Outbox(cfg.data_dir, cfg) as ob:
        for held in ReviewDesk(cfg, ob).held():
            emit(_held_record(held))
    return 0


def _decide(args: argparse.Namespace, reason: str | None) -> int:
    import sys

    from kiosk.queue.outbox import Outbox
    from kiosk.staffreview import ReviewDesk

    cfg = config_from_args(args)
    pin = sys.stdin.readline().strip() if args.pin_stdin else None
    with Outbox(cfg.data_dir, cfg) as ob:
        desk = ReviewDesk(cfg, ob)
        if reason is None:
            desk.confirm(args.submission_id, pin)
        else:
            desk.return_submission(args.submission_id, reason, args.note or "", pin)
        entry = ob.get(args.submission_id)
        assert entry is not None
        emit({"submission_id": entry.submission_id, "decision": "confirmed" if reason is None else "returned",
              "state": entry.state, "sha256": entry.sha256})
    return 0


def _cmd_confirm(args: argparse.Namespace) -> int:
    return _decide(args, None)


def _cmd_return(args: argparse.Namespace) -> int:
    return _decide(args, args.reason)


def _pin_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pin-stdin", action="store_true",
                   help="read the PIN of the officer's token (signing.staff_pkcs11_module) from stdin")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    g = command_group(sub, "review", parent, "staff review of held submissions (R12)")

    p = g.add_parser("list", parents=[parent], help="the submissions held for staff review (JSON lines)")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_list)

    p = g.add_parser("confirm", parents=[parent],
                     help="confirm a held submission: countersign its papers, sign the decision, queue it")
    p.add_argument("submission_id", metavar="SUBMISSION_ID")
    _pin_arg(p)
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_confirm)

    p = g.add_parser("return", parents=[parent],
                     help="return a held submission with a reason (signed decision), and queue it")
    p.add_argument("submission_id", metavar="SUBMISSION_ID")
    p.add_argument("--reason", required=True, choices=RETURN_REASONS)
    p.add_argument("--note", metavar="TEXT", help="free text added after the reason")
    _pin_arg(p)
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_return)
