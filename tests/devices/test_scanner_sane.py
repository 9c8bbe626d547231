"""SANE specifics against the real ``test`` backend: full-page sizes, the feeder, status mapping, the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from device_testkit import reset_test_device
from PIL import Image

from kiosk import cli
from kiosk.devices.base import DeviceStatus
from kiosk.devices.scanner import ColorMode, ScanSettings, ScanSource, map_sane_error
from kiosk.devices.scanner_sane import SaneScanner, _mode_of, _source_of
from kiosk.errors import KioskError


@pytest.fixture
def scanner(sane_test_backend: Path) -> Iterator[SaneScanner]:
    s = SaneScanner("test:1")
    s.open()
    reset_test_device(s)
    yield s
    s.close()


@pytest.mark.parametrize(("dpi", "mode", "shape"), [
    (200, ColorMode.COLOR, (1574, 1574, 3)),   # 200 mm at 200 dpi = 1574.8 dots
    (300, ColorMode.GRAY, (2362, 2362)),       # 200 mm at 300 dpi = 2362.2 dots
])
def test_full_area_scan_size_and_mode(scanner: SaneScanner, dpi: int, mode: ColorMode,
                                      shape: tuple[int, ...]) -> None:
    assert scanner.capabilities().max_area_mm == (200.0, 200.0)
    page = scanner.scan_one(ScanSettings(dpi=dpi, mode=mode))
    assert page.image.shape == shape and page.dpi == dpi and page.mode == mode


def test_the_feeder_gives_ten_sheets(scanner: SaneScanner) -> None:
    pages = list(scanner.scan(ScanSettings(source=ScanSource.ADF, mode=ColorMode.GRAY, area_mm=(20, 20))))
    assert [p.sheet for p in pages] == list(range(1, 11))
    assert scanner.status == DeviceStatus.OK


def test_duplex_is_refused_when_the_device_has_none(scanner: SaneScanner) -> None:
    with pytest.raises(KioskError) as err:
        scanner.scan_one(ScanSettings(source=ScanSource.DUPLEX))
    assert err.value.key == "device.scanner_unsupported"


def test_unknown_device_is_lost(sane_test_backend: Path) -> None:
    result = SaneScanner("test:9").self_test()
    assert not result.ok and result.status == DeviceStatus.DISCONNECTED
    assert SaneScanner("").self_test().message_key == "device.scanner_not_configured"


def test_status_and_option_names() -> None:
    assert map_sane_error("Document feeder jammed") == (DeviceStatus.JAMMED, "device.scanner_jammed")
    assert map_sane_error("Document feeder out of documents") == (DeviceStatus.FEEDER_EMPTY,
                                                                  "device.scanner_feeder_empty")
    assert map_sane_error("Scanner cover is open") == (DeviceStatus.COVER_OPEN, "device.scanner_cover_open")
    assert map_sane_error("Error during device I/O") == (DeviceStatus.DISCONNECTED, "device.scanner_lost")
    assert map_sane_error("Device busy") == (DeviceStatus.BUSY, "device.scanner_busy")
    assert map_sane_error("Something new") == (DeviceStatus.ERROR, "device.scanner_error")
    assert [_mode_of(m) for m in ("Color", "24bit Color", "Gray", "Grayscale", "Lineart")] == [
        ColorMode.COLOR, ColorMode.COLOR, ColorMode.GRAY, ColorMode.GRAY, None]
    assert [_source_of(s) for s in ("Flatbed", "ADF Front", "Automatic Document Feeder", "ADF Duplex")] == [
        ScanSource.FLATBED, ScanSource.ADF, ScanSource.ADF, ScanSource.DUPLEX]


def test_cli_scan(sane_test_backend: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scan.png"
    rc = cli.main(["scan", "--device", "test:0", "--dpi", "300", "--mode", "Gray", "--area", "30x20",
                   "-o", str(out)])
    assert rc == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj == {"file": str(out), "width": 354, "height": 236, "dpi": 300, "mode": "Gray", "sheet": 1,
                   "side": "front"}
    with Image.open(out) as img:
        assert img.size == (354, 236) and img.mode == "L" and round(img.info["dpi"][0]) == 300
    dev = SaneScanner("test:0")
    dev.open()
    reset_test_device(dev)
    dev.close()
    rc = cli.main(["scan", "--device", "test:0", "--source", "adf", "--area", "10x10", "-o", str(out)])
    assert rc == 0
    files = [json.loads(line)["file"] for line in capsys.readouterr().out.splitlines()]
    assert files == [str(tmp_path / f"scan-{i:03d}.png") for i in range(1, 11)]
    assert cli.main(["scan", "--device", "test:0", "--list"]) == 0
    names = [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines()]
    assert names == ["test:0", "test:1"]
