"""``kiosk config``: check a configuration file, print the effective config, print the reference."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from kiosk import jsonio
from kiosk.cli import add_data_dir_arg, config_from_args


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("config", parents=[parent], help="check and show the configuration")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    c = csub.add_parser("check", parents=[parent], help="validate the config and print it as JSON")
    add_data_dir_arg(c)
    c.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    jsonio.emit(asdict(config_from_args(args)))
    return 0
