"""The field-diagnosis commands: ``kiosk devices``, ``kiosk id read``, ``kiosk printer test|status``."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from device_testkit import EscposPeer, SerialPeer, SocatPair, wait_until
from PIL import Image

from kiosk import cli
from kiosk.devices.idreader_sim import cccd_mrz, encode_lines, specimen_cccd_mrz
from kiosk.devices.receipt import render_receipt, test_receipt


@pytest.fixture
def config(tmp_path: Path) -> Path:
    f = tmp_path / "kiosk.toml"
    f.write_text('[terminal]\nid = "KIOSK-CLI-01"\nagency_name = "UBND xã Thử, tỉnh Mẫu"\n'
                 f'[paths]\ndata_dir = "{tmp_path / "data"}"\n', "utf-8")
    return f


def test_devices_json_on_simulators(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["devices", "--json", "--config", str(config)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True
    assert [(d["device"], d["backend"], d["status"]) for d in out["devices"]] == [
        ("camera", "folder", "ok"), ("id_reader", "simulator", "ok"), ("printer", "file", "ok")]
    assert out["devices"][0]["checks"]["still_size"] == [3840, 2160]  # the shipped sample stills
    assert set(out["discovered"]) == {"serial_ports", "video_devices", "usb_printers"}


def test_devices_reports_a_missing_reader(config: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config.write_text(config.read_text("utf-8") + f'[devices]\nid_reader = "serial"\n'
                      f'id_reader_port = "{tmp_path / "ttyNONE"}"\n', "utf-8")
    assert cli.main(["devices", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "LỖI id_reader" in captured.out and "Mất kết nối với đầu đọc thẻ" in captured.out
    assert captured.err.splitlines()[0] == "kiosk: 1 device(s) failed the self-test: id_reader."


def test_id_read_once(socat: SocatPair, capsys: pytest.CaptureFixture[str]) -> None:
    peer = SerialPeer(socat.b)
    rc: list[int] = []
    worker = threading.Thread(target=lambda: rc.append(cli.main(["id", "read", "--port", socat.a, "--once",
                                                                  "--timeout", "30"])))
    worker.start()
    bad = cccd_mrz("079195001234", "TRAN", "THI MAI", "950302", "F", "350302")
    bad[0] = bad[0][:14] + "0" + bad[0][15:]  # wrong document-number check digit
    try:
        # Like a reader with the card left on it: it sends again until somebody listens.
        while worker.is_alive():
            peer.send(b"\x00\xfe" + encode_lines(bad) + encode_lines(specimen_cccd_mrz()), pause=0.1)
    finally:
        worker.join(30)
        peer.close()
    assert rc == [0]
    captured = capsys.readouterr()
    obj = json.loads(captured.out)
    assert obj["valid"] is True and obj["personal_id"] == "001090012345" and obj["format"] == "TD1"
    assert "mrz_invalid" in captured.err and "document_number" in captured.err


def test_id_read_timeout(socat: SocatPair, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["id", "read", "--port", socat.a, "--timeout", "0.3"]) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "kiosk: No card was read within 0.3 seconds."


def test_printer_test_over_serial(socat: SocatPair, escpos_peer: EscposPeer, config: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["printer", "test", "--port", socat.a, "--config", str(config)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["printed"] is True and out["state"]["paper_out"] is False
    assert out["printer"]["port"] == socat.a and out["printer"]["flow_control"] == "xonxoff"
    assert wait_until(lambda: len(escpos_peer.receipts) == 1)
    expected = render_receipt(test_receipt("UBND xã Thử, tỉnh Mẫu", "KIOSK-CLI-01"))
    assert np.array_equal(np.asarray(escpos_peer.receipts[0]), np.asarray(expected))
    escpos_peer.set_state(paper_out=True)
    assert cli.main(["printer", "status", "--port", socat.a, "--config", str(config)]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["status"] == "paper_out" and status["state"]["paper_out"] is True
    assert cli.main(["printer", "test", "--port", socat.a, "--config", str(config)]) == 1
    assert "out of paper" in capsys.readouterr().err


def test_printer_test_to_file(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["printer", "test", "--config", str(config), "--width", "384"]) == 0
    out = json.loads(capsys.readouterr().out)
    path = Path(out["file"])
    assert path.parent == tmp_path / "data" / "receipts"
    with Image.open(path) as img:
        assert img.mode == "1" and img.width == 384
        expected = render_receipt(test_receipt("UBND xã Thử, tỉnh Mẫu", "KIOSK-CLI-01"), 384)
        assert np.array_equal(np.asarray(img), np.asarray(expected))
