"""The ``kiosk`` command. Each feature module registers its own subcommands.

Command modules are found by name (``kiosk/cli_*.py``, ``kiosk/<pkg>/cli.py``, ``kiosk/<pkg>/cli_*.py``).
Each exposes ``register(sub, parent)``: it adds parsers with ``sub.add_parser(name,
parents=[parent], ...)`` and sets ``func=handler`` where ``handler(args) -> int``. ``parent`` gives
every command ``--config``; commands that touch state add ``--data-dir`` with ``add_data_dir_arg`` and
those that talk MQTT add ``--broker`` with ``add_broker_arg``. Handlers get the validated config with
``config_from_args(args)``.

Exit status: 0 on success; 1 with a one-line reason on stderr on failure; 2 for usage and config errors.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

from kiosk import __version__
from kiosk import logging as klog
from kiosk.config import Config, load
from kiosk.errors import ConfigError, KioskError

log = logging.getLogger("kiosk.cli")

_GROUPS: dict[str, Any] = {}


def command_modules() -> list[str]:
    """Every module named ``cli_*.py`` in the kiosk package or ``cli.py``/``cli_*.py`` in a subpackage."""
    import pkgutil

    import kiosk

    names: list[str] = []
    for info in pkgutil.walk_packages(kiosk.__path__, "kiosk."):
        last = info.name.rsplit(".", 1)[-1]
        if info.name == "kiosk.cli":
            continue
        if last.startswith("cli_") or (last == "cli" and info.name.count(".") >= 2):
            names.append(info.name)
    return sorted(names)


def command_group(sub: Any, name: str, parent: argparse.ArgumentParser, help: str) -> Any:
    """The sub-command group ``kiosk NAME ...`` shared by several modules (``id``, ``bench``, ...)."""
    if name not in _GROUPS:
        p = sub.add_parser(name, parents=[parent], help=help)
        _GROUPS[name] = p.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)
    return _GROUPS[name]


def add_data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="state directory (default: KIOSK_DATA_DIR or paths.data_dir)")


def add_broker_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="MQTT broker, mqtt[s]://HOST:PORT (default: mqtt.broker in config)")


def config_from_args(args: argparse.Namespace) -> Config:
    """Load and validate the config named by --config, applying --data-dir and --broker overrides."""
    cfg = load(getattr(args, "config", None), data_dir=getattr(args, "data_dir", None))
    broker = getattr(args, "broker", None)
    if broker:
        from dataclasses import replace

        from kiosk.config import from_dict  # re-validate the override like a file value

        from_dict({"mqtt": {"broker": broker}})
        cfg = replace(cfg, mqtt=replace(cfg.mqtt, broker=broker))
    return cfg


def build_parser() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's copy of these options must not reset a value given before the subcommand.
    parent.add_argument("--config", default=argparse.SUPPRESS,
                        help="configuration file (default: /etc/kiosk/kiosk.toml if present)")
    parent.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["debug", "info", "warning", "error"],
                        help="log level of the JSON logs on stderr (default: warning)")
    parser = argparse.ArgumentParser(prog="kiosk", description="One-stop kiosk firmware", parents=[parent])
    parser.add_argument("--version", action="version", version=f"kiosk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _GROUPS.clear()
    for name in command_modules():
        importlib.import_module(name).register(sub, parent)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    klog.setup(getattr(args, "log_level", "warning"))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"kiosk: {exc.message('en')}", file=sys.stderr)
        return 2
    except KioskError as exc:
        print(f"kiosk: {exc.message('en')}", file=sys.stderr)
        log.error("command failed",
                  extra={"command": getattr(args, "command", None), "error": exc.log_text()})
        return 1
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"kiosk: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        log.exception("command failed", extra={"command": getattr(args, "command", None)})
        return 1


if __name__ == "__main__":
    sys.exit(main())
