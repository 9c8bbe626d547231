"""Deployment files: the systemd units call commands that exist, the example config validates, the image
build scripts parse, and the generated references in docs/ are current."""

from __future__ import annotations

import configparser
import shlex
import subprocess
from pathlib import Path

import pytest

from kiosk.cli import build_parser
from kiosk.cli_docs import markdown as cli_markdown
from kiosk.config import docs_markdown, load

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("unit", sorted((ROOT / "systemd").glob("*.service")), ids=lambda p: p.name)
def test_systemd_units_run_existing_commands(unit: Path) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(unit)
    service = parser["Service"]
    for key in ("ExecStartPre", "ExecStart"):
        if key not in service:
            continue
        argv = shlex.split(service[key])
        assert argv[0].endswith("/kiosk")
        build_parser().parse_args(argv[1:])  # SystemExit on an unknown command or option
    assert service["User"] == "kiosk"
    assert "ProtectSystem" in service and service["UMask"] == "0077"


def test_example_config_is_valid() -> None:
    cfg = load(ROOT / "image-build" / "kiosk.toml.example")
    assert cfg.devices.camera == "picamera2" and cfg.mqtt.broker.startswith("mqtts://")


@pytest.mark.parametrize("script", ["image-build/install-kiosk.sh",
                                    "image-build/stage-kiosk/00-kiosk/00-run.sh",
                                    "scripts/setup.sh", "scripts/test.sh", "scripts/demo.sh", ".ci/run"])
def test_shell_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(ROOT / script)], check=True)


def test_config_reference_is_current() -> None:
    assert (ROOT / "docs" / "config.md").read_text("utf-8").strip() == docs_markdown().strip()


def test_cli_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text("utf-8") == cli_markdown()
