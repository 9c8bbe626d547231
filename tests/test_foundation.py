"""Configuration loading and validation, the message catalogue, log masking, JSON output, CLI basics."""

from __future__ import annotations

import io
import json
import logging
import string
import unicodedata
from pathlib import Path

import pytest

from kiosk import cli, jsonio, messages
from kiosk import logging as klog
from kiosk.config import from_dict, load
from kiosk.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_run_on_simulators() -> None:
    cfg = from_dict({})
    assert cfg.devices.camera == "simulator" and cfg.devices.id_reader == "simulator"
    assert cfg.devices.printer == "file"


@pytest.mark.parametrize(
    ("raw", "key", "needle"),
    [
        ({"mqtt": {"keepalive_s": "abc"}}, "config.bad_type", "mqtt.keepalive_s"),
        ({"mqtt": {"brokr": "x"}}, "config.unknown_key", "mqtt.brokr"),
        ({"nope": {}}, "config.unknown_key", "nope"),
        ({"devices": {"camera": "webcam"}}, "config.bad_value", "devices.camera"),
        ({"mqtt": {"broker": "http://x:1"}}, "config.bad_value", "mqtt.broker"),
        ({"terminal": {"id": "a b"}}, "config.bad_value", "terminal.id"),
        ({"session": {"inactivity_wipe_s": 0}}, "config.bad_value", "session.inactivity_wipe_s"),
        ({"vision": {"min_dpi": True}}, "config.bad_type", "vision.min_dpi"),
    ],
)
def test_config_errors_name_the_key(raw: dict[str, object], key: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_dict(raw)  # type: ignore[arg-type]
    assert err.value.key == key
    assert needle in err.value.message("en") and needle in err.value.message("vi")


def test_config_file_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "kiosk.toml"
    f.write_text('[terminal]\nid = "HCM-Q1-007"\n[paths]\ndata_dir = "/srv/k"\n'
                 '[vision]\nblur_threshold = 3\n')
    monkeypatch.delenv("KIOSK_DATA_DIR", raising=False)
    cfg = load(f)
    assert cfg.terminal.id == "HCM-Q1-007" and cfg.data_dir == Path("/srv/k")
    assert cfg.vision.blur_threshold == 3.0
    monkeypatch.setenv("KIOSK_DATA_DIR", str(tmp_path / "env"))
    assert load(f).data_dir == tmp_path / "env"
    assert load(f, data_dir=str(tmp_path / "flag")).data_dir == tmp_path / "flag"
    with pytest.raises(ConfigError) as err:
        load(tmp_path / "missing.toml")
    assert err.value.key == "config.missing_file"
    f.write_text("[terminal\n")
    with pytest.raises(ConfigError) as err:
        load(f)
    assert err.value.key == "config.syntax"


def test_cli_config_error_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.toml"
    f.write_text('[mqtt]\nkeepalive_s = "x"\n')
    assert cli.main(["config", "check", "--config", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mqtt.keepalive_s" in err


def test_cli_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("kiosk ")


def test_message_catalogue_complete_and_nfc() -> None:
    cat = messages.catalogue()
    assert len(cat) > 10
    for key, entry in cat.items():
        assert set(entry) >= {"vi", "en"}, key
        for lang in ("vi", "en"):
            text = entry[lang]
            assert text.strip(), key
            assert unicodedata.is_normalized("NFC", text), key
        fields_vi = {f for _, f, _, _ in string.Formatter().parse(entry["vi"]) if f}
        fields_en = {f for _, f, _, _ in string.Formatter().parse(entry["en"]) if f}
        assert fields_vi == fields_en, key
    assert messages.t("config.missing_file", "vi", path="/x") == "Không tìm thấy tệp cấu hình /x"


def test_logs_are_json_and_mask_identifiers() -> None:
    buf = io.StringIO()
    klog.setup("info", stream=buf)
    logging.getLogger("kiosk.test").info(
        "read card 079095001234 mrz IDVNM1950012347070195001234<<8 tax 0101245486-001 pp C1234567",
        extra={"who": "079095001234", "pages": 3},
    )
    entry = json.loads(buf.getvalue())
    assert entry["level"] == "info" and entry["pages"] == 3 and entry["time"].endswith("+07:00")
    text = buf.getvalue()
    for secret in ("079095001234", "IDVNM195001234", "0101245486", "C1234567"):
        assert secret not in text
    assert entry["who"] == "***234"
    assert klog.mask_id("079095001234") == "*********234"


def test_json_output_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Đăng ký khai sinh")
    out = io.StringIO()
    jsonio.emit({"name": decomposed}, out)
    assert json.loads(out.getvalue())["name"] == "Đăng ký khai sinh"
