"""The UI's pure parts (no Kivy): Vietnamese typing, formatting, preview geometry, auto-capture, staff PIN,
staff status, and the ``kiosk staff-pin`` / ``kiosk run`` commands."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import unicodedata
from datetime import date
from pathlib import Path

import pytest

from kiosk.config import from_dict
from kiosk.core.applicant import IdKind
from kiosk.errors import KioskError
from kiosk.messages import catalogue, t
from kiosk.screens import vnkeys
from kiosk.screens.cli import kivy_environment
from kiosk.screens.fmt import format_date_digits, format_vnd, group_digits, parse_date_digits
from kiosk.screens.layout import fit_rect, map_corners
from kiosk.screens.pin import StaffPin, pin_path
from kiosk.screens.status import device_status, outbox_status

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ Vietnamese typing
@pytest.mark.parametrize(
    ("typed", "tone", "expected"),
    [
        ("Nguyên", "tilde", "Nguyễn"),
        ("hoang", "grave", "hoàng"),
        ("tiêng", "acute", "tiếng"),
        ("ngươi", "grave", "người"),
        ("Hoa", "grave", "Hòa"),
        ("thuy", "hook", "thủy"),
        ("quy", "acute", "quý"),
        ("gia", "grave", "già"),
        ("gi", "grave", "gì"),
        ("giưa", "tilde", "giữa"),
        ("khuyu", "hook", "khuỷu"),
        ("Trần Văn", "acute", "Trần Vắn"),
        ("BINH", "grave", "BÌNH"),
        ("TRÂN", "grave", "TRẦN"),
    ],
)
def test_tone_goes_on_the_right_vowel(typed: str, tone: str, expected: str) -> None:
    out = vnkeys.apply_tone(typed, tone)
    assert out == expected
    assert unicodedata.is_normalized("NFC", out)


def test_tone_key_replaces_or_removes_a_tone() -> None:
    assert vnkeys.apply_tone("Nguyễn", "acute") == "Nguyến"
    assert vnkeys.apply_tone("Nguyễn", "tilde") == "Nguyên"
    assert vnkeys.apply_tone("bcd", "acute") == "bcd"
    assert vnkeys.apply_tone("", "dot") == ""


def test_typing_and_backspace_keep_nfc() -> None:
    text = vnkeys.type_char("Nguy", "ê")
    text = vnkeys.type_char(text, "n")
    assert vnkeys.apply_tone(text, "tilde") == "Nguyễn"
    assert vnkeys.backspace("Nguyễn") == "Nguyễ"
    assert vnkeys.backspace("") == ""


# ------------------------------------------------------------------------------ formatting
def test_identifier_and_date_formatting() -> None:
    assert group_digits("079095001234", IdKind.CCCD) == "079 095 001 234"
    assert group_digits("0100107518-001", IdKind.TAX_CODE) == "0100107518-001"
    assert format_date_digits("0105199") == "01/05/199"
    assert format_date_digits("") == ""
    assert parse_date_digits("29021996") == date(1996, 2, 29)
    for bad in ("29021995", "3112199", "32011990", "0113199x"):
        with pytest.raises(KioskError) as err:
            parse_date_digits(bad)
        assert err.value.key == "ui.bad_date"
    assert format_vnd(2000) == "2.000"
    assert format_vnd(1234567) == "1.234.567"
    assert format_vnd(0) == "0"


# ------------------------------------------------------------------------------ preview geometry
def test_frame_fits_the_box_and_corners_follow() -> None:
    # a 16:9 frame in a 800x600 box at (10, 20): full width, letterboxed vertically
    rect = fit_rect((1280, 720), (10.0, 20.0, 800.0, 600.0))
    assert rect == (10.0, 20.0 + (600 - 450) / 2, 800.0, 450.0)
    # corners are top-left based in the frame, bottom-left based on screen
    pts = map_corners([[0, 0], [1280, 0], [1280, 720], [0, 720]], (1280, 720), rect)
    assert pts == [10.0, 545.0, 810.0, 545.0, 810.0, 95.0, 10.0, 95.0]
    assert fit_rect((0, 0), (0.0, 0.0, 10.0, 10.0)) == (0.0, 0.0, 0.0, 0.0)


# ------------------------------------------------------------------------------ staff PIN
def test_staff_pin_is_stored_as_a_salted_hash(tmp_path: Path) -> None:
    pin = StaffPin.create("24681357", iterations=1000)
    path = pin_path(tmp_path)
    pin.save(path)
    text = path.read_text("utf-8")
    assert "24681357" not in text
    assert path.stat().st_mode & 0o777 == 0o600
    loaded = StaffPin.load(path)
    assert loaded == pin
    assert loaded.verify("24681357") is True
    assert loaded.verify("24681358") is False
    other = StaffPin.create("24681357", iterations=1000)
    assert other.salt != pin.salt and other.digest != pin.digest


@pytest.mark.parametrize("bad", ["12345", "1234567890123", "12a456", "１２３４５６", ""])
def test_staff_pin_format(bad: str) -> None:
    with pytest.raises(KioskError) as err:
        StaffPin.create(bad, iterations=1000)
    assert err.value.message("vi") == t("ui.staff_pin_format", minimum=6, maximum=12)


def test_missing_or_malformed_pin_file_means_locked(tmp_path: Path) -> None:
    assert StaffPin.load(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", "utf-8")
    assert StaffPin.load(bad) is None
    bad.write_text(json.dumps({"algorithm": "md5", "salt": "00", "hash": "00", "iterations": 1}), "utf-8")
    assert StaffPin.load(bad) is None


# ------------------------------------------------------------------------------ staff status
class Devices:
    def health(self) -> list[dict[str, object]]:
        return [
            {"name": "camera", "kind": "camera", "backend": "folder", "status": "ok"},
            {"name": "printer", "kind": "printer", "backend": "file", "status": "cover_open"},
        ]


class Outbox:
    def counts(self) -> dict[str, int]:
        return {"queued": 2, "sent": 1}

    def queued_bytes(self) -> int:
        return 3 * 1024 * 1024 + 512 * 1024

    def accepting_new_sessions(self) -> tuple[bool, str]:
        return False, "outbox.quota_full"


class Workflow:
    devices = Devices()
    outbox = Outbox()


def test_status_from_device_manager_and_outbox() -> None:
    assert device_status(Workflow()) == [
        {"name": "camera", "kind": "camera", "backend": "folder", "status": "ok", "ok": True},
        {"name": "printer", "kind": "printer", "backend": "file", "status": "cover_open", "ok": False},
    ]
    assert outbox_status(Workflow()) == {
        "queued": 2,
        "sent": 1,
        "queued_mb": 3.5,
        "accepting_new_sessions": False,
        "not_accepting_reason": "outbox.quota_full",
    }
    assert device_status(object()) == []
    assert outbox_status(object()) == {}


def test_every_device_status_and_outbox_state_has_a_label() -> None:
    from kiosk.devices.base import DeviceStatus
    from kiosk.queue.outbox import STATES

    cat = catalogue()
    for status in DeviceStatus:
        assert f"ui.device_status_{status.value}" in cat
    for state in STATES:
        assert f"ui.outbox_{state}" in cat


def test_ui_messages_have_both_languages_in_nfc() -> None:
    entries = {k: v for k, v in catalogue().items() if k.startswith("ui.")}
    assert len(entries) > 150
    for key, entry in entries.items():
        assert entry["vi"] and entry["en"], key
        assert unicodedata.is_normalized("NFC", entry["vi"]), key


# ------------------------------------------------------------------------------ commands
def test_kivy_home_defaults_to_the_data_dir(tmp_path: Path) -> None:
    cfg = from_dict({"paths": {"data_dir": str(tmp_path / "data")}})
    env: dict[str, str] = {}
    home = kivy_environment(cfg, environ=env)
    assert home == tmp_path / "data" / "kivy"
    assert home.is_dir() and home.stat().st_mode & 0o777 == 0o700
    assert env == {
        "KIVY_HOME": str(home),
        "KIVY_NO_ARGS": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_LOG_MODE": "PYTHON",
    }
    env = {"KIVY_HOME": str(tmp_path / "elsewhere")}
    assert kivy_environment(cfg, environ=env) == tmp_path / "elsewhere"


def kiosk(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiosk.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def base_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HOME": str(tmp_path / "home"), "KIOSK_CONFIG": os.devnull, "PYTHONPATH": str(REPO)})
    env.pop("KIVY_HOME", None)
    (tmp_path / "home").mkdir()
    return env


def test_staff_pin_command(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    data = tmp_path / "data"
    done = kiosk("staff-pin", "--data-dir", str(data), env=env, stdin="13572468\n")
    assert done.returncode == 0, done.stderr
    stored = StaffPin.load(pin_path(data))
    assert stored is not None and stored.verify("13572468")
    bad = kiosk("staff-pin", "--data-dir", str(data), env=env, stdin="123\n")
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[0] == f"kiosk: {t('ui.staff_pin_format', 'en', minimum=6, maximum=12)}"
    assert StaffPin.load(pin_path(data)) == stored  # unchanged


def test_kiosk_run_starts_and_stops_on_sigterm(xdisplay: str, tmp_path: Path) -> None:
    """``kiosk run`` on the simulated devices: the window comes up, SIGTERM stops it with status 0, Kivy's
    files are under <data_dir>/kivy and nothing is written to $HOME."""
    env = base_env(tmp_path)
    env.update(
        {"DISPLAY": xdisplay, "XDG_CACHE_HOME": str(tmp_path / "cache"), "MESA_SHADER_CACHE_DISABLE": "true"}
    )
    env.pop("SDL_VIDEODRIVER", None)
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk.cli", "run", "--data-dir", str(data), "--log-level", "info"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "Start application main loop" in line:
                break
        assert any("Start application main loop" in ln for ln in lines), "".join(lines[-20:])
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += err.splitlines(keepends=True)
    assert proc.returncode == 0, "".join(lines[-20:])
    records = [json.loads(ln) for ln in lines if ln.startswith("{")]
    messages = [r["msg"] for r in records if r["logger"] == "kiosk.ui"]
    assert messages == ["touch UI starting", "stopping the touch UI", "touch UI stopped"]
    assert (data / "kivy" / "config.ini").is_file()
    assert list((tmp_path / "home").iterdir()) == []
