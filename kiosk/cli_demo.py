"""``kiosk demo``: the end-to-end demo on simulated devices (see ``kiosk.demo``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kiosk.cli import add_data_dir_arg, config_from_args
from kiosk.errors import KioskError


def _cmd_demo(args: argparse.Namespace) -> int:
    from kiosk.demo import run_demo

    cfg = config_from_args(args)
    try:
        return run_demo(cfg)
    except KioskError as exc:
        print(f"DEMO FAILED: {exc.message('en')} / {exc.message('vi')}", file=sys.stderr)
        return 1


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("demo", parents=[parent],
                       help="run one citizen's visit end to end on simulated devices (headless)")
    add_data_dir_arg(p)
    p.set_defaults(func=_cmd_demo)
