"""``kiosk run`` (the touch UI) and ``kiosk staff-pin`` (set the maintenance screen's PIN).

Kivy is imported only inside ``run`` (command discovery imports this module for every ``kiosk``
command). Before that import the environment is set so that Kivy writes nothing to ``$HOME`` (the
service runs with ``ProtectHome=yes``): ``KIVY_HOME`` defaults to ``<data_dir>/kivy``, Kivy's own log
file is off and its log records go through the kiosk's JSON logging, and ``KIVY_NO_ARGS=1``.

SIGTERM (``systemctl stop``) and SIGINT stop the app cleanly: a running session is cancelled and its
data wiped, the devices are closed.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from kiosk.cli import add_data_dir_arg, config_from_args
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.messages import LANGUAGES, t
from kiosk.screens.pin import StaffPin, pin_path

log = logging.getLogger("kiosk.ui")


def kivy_environment(cfg: Config, *, environ: dict[str, str] | None = None) -> Path:
    """Set the environment Kivy reads at import; returns the Kivy home (created, mode 0700)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("KIVY_HOME") or cfg.data_dir / "kivy")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    env["KIVY_HOME"] = str(home)
    env.setdefault("KIVY_NO_ARGS", "1")
    env.setdefault("KIVY_NO_FILELOG", "1")
    env.setdefault("KIVY_LOG_MODE", "PYTHON")
    return home


def build_workflow(cfg: Config) -> tuple[Any, Any, Any]:
    """The real workflow on the configured devices, with the encrypted outbox: (workflow, devices, outbox)."""
    from kiosk.core.catalogue import Catalogue
    from kiosk.devices.manager import DeviceManager
    from kiosk.queue.outbox import Outbox
    from kiosk.workflow import Workflow

    cfg.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    devices = DeviceManager.from_config(cfg)
    devices.start()
    outbox = Outbox(cfg.data_dir, cfg)
    workflow = Workflow(cfg, devices=devices, catalogue=Catalogue.load(), outbox=outbox)
    return workflow, devices, outbox


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    lang = args.lang or cfg.terminal.language
    kivy_environment(cfg)

    from kivy.config import Config as KivyConfig

    width, height = args.size
    KivyConfig.set("graphics", "width", str(width))
    KivyConfig.set("graphics", "height", str(height))
    KivyConfig.set("kivy", "exit_on_escape", "0" if args.fullscreen else "1")
    KivyConfig.set("input", "mouse", "mouse,multitouch_on_demand")
    if args.fullscreen:
        KivyConfig.set("graphics", "fullscreen", "auto")
        KivyConfig.set("graphics", "borderless", "1")
        KivyConfig.set("graphics", "show_cursor", "0")

    from kivy.clock import Clock

    from kiosk.screens.app import KioskApp, KioskUI

    workflow, devices, outbox = build_workflow(cfg)
    staff_pin = StaffPin.load(pin_path(cfg.data_dir))
    app = KioskApp(
        lambda: KioskUI(workflow, lang=lang, staff_pin=staff_pin, agency_name=cfg.terminal.agency_name)
    )

    def stop(signum: int, _frame: Any) -> None:
        log.info("stopping the touch UI", extra={"signal": signum})
        Clock.schedule_once(lambda _dt: app.stop(), 0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "touch UI starting",
        extra={"lang": lang, "fullscreen": args.fullscreen, "staff_pin": staff_pin is not None},
    )
    try:
        app.run()
    finally:
        if workflow.session.state.value not in ("welcome", "end"):
            workflow.session.cancel()
        devices.stop()
        close = getattr(outbox, "close", None)
        if callable(close):
            close()
    log.info("touch UI stopped")
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w < 640 or h < 480:
        raise argparse.ArgumentTypeError("the window must be at least 640x480")
    return w, h


def _staff_pin(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if sys.stdin.isatty():
        first = getpass.getpass(t("ui.staff_enter_pin", "vi") + " ")
        second = getpass.getpass(t("ui.staff_enter_pin", "vi") + " ")
        if first != second:
            raise KioskError("ui.staff_pin_mismatch")
        pin = first
    else:
        pin = sys.stdin.readline().strip()
    path = pin_path(cfg.data_dir)
    StaffPin.create(pin).save(path)
    print(t("ui.staff_pin_set", "vi", path=path), file=sys.stderr)
    return 0


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("run", parents=[parent], help="start the touch UI (Kivy)")
    add_data_dir_arg(p)
    p.add_argument("--fullscreen", action="store_true", help="full screen, no cursor, Esc does not quit")
    p.add_argument("--lang", choices=LANGUAGES, help="start language (default: terminal.language)")
    p.add_argument(
        "--size", type=_size, default=(1280, 800), metavar="WxH", help="window size (default 1280x800)"
    )
    p.set_defaults(func=_run)

    p = sub.add_parser(
        "staff-pin",
        parents=[parent],
        help="set the PIN of the maintenance screen (read from stdin; stored as a PBKDF2 hash)",
    )
    add_data_dir_arg(p)
    p.set_defaults(func=_staff_pin)
