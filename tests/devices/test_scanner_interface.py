"""The same scanner test suite for SANE (the real ``test`` backend of sane-backends) and the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from device_testkit import EventLog, reset_test_device
from PIL import Image

from kiosk.devices.base import ATTENTION, DeviceError, DeviceLost, DeviceStatus, EventKind
from kiosk.devices.manager import DeviceManager
from kiosk.devices.scanner import BatchState, ColorMode, ScannedPage, Scanner, ScanSettings, ScanSource
from kiosk.devices.scanner_sane import SaneScanner
from kiosk.devices.scanner_sim import SimulatedScanner

AREA = (50.0, 40.0)  # mm: small scans keep the suite fast


@dataclass
class ScannerCase:
    scanner: Scanner
    device_name: str
    fault: Callable[[DeviceStatus | None], None]  # inject a fault on the next reads; None clears it
    jammed_run_pages: int                        # pages of a 10-sheet feeder run with one jam


def px(mm: float, dpi: int) -> int:
    return int(mm / 25.4 * dpi)


@pytest.fixture(params=["sane", "simulator"])
def case(request: pytest.FixtureRequest, tmp_path: Path, events: EventLog) -> Iterator[ScannerCase]:
    if request.param == "sane":
        request.getfixturevalue("sane_test_backend")
        sane = SaneScanner("test:0")
        codes = {DeviceStatus.JAMMED: "SANE_STATUS_JAMMED", DeviceStatus.FEEDER_EMPTY: "SANE_STATUS_NO_DOCS",
                 DeviceStatus.COVER_OPEN: "SANE_STATUS_COVER_OPEN",
                 DeviceStatus.BUSY: "SANE_STATUS_DEVICE_BUSY",
                 DeviceStatus.DISCONNECTED: "SANE_STATUS_IO_ERROR", None: "Default"}

        def sane_fault(status: DeviceStatus | None) -> None:
            if not sane.is_open:
                sane.open()
            sane.set_raw_option("read_return_value", codes[status])

        sane.open()
        reset_test_device(sane)
        sane.set_raw_option("test_picture", "Color pattern")
        sane.subscribe(events)
        # the test backend's feeder gives 10 sheets; the jammed one counts as fed (it is lost)
        yield ScannerCase(sane, "test:0", sane_fault, 9)
        sane.close()
    else:
        folder = tmp_path / "pages"
        folder.mkdir()
        rng = np.random.default_rng(1)
        for i in range(4):  # A6-ish pages at 300 dpi with colour content
            arr = rng.integers(0, 256, size=(120, 90, 3), dtype=np.uint8).repeat(10, 0).repeat(10, 1)
            Image.fromarray(arr).save(folder / f"page_{i}.png", dpi=(300, 300))
        sim = SimulatedScanner(folder, feeder_sheets=10)

        def sim_fault(status: DeviceStatus | None) -> None:
            if status is None:
                sim.clear_fault()
            elif status == DeviceStatus.FEEDER_EMPTY:
                sim.load_feeder(0)
            elif status == DeviceStatus.DISCONNECTED:
                sim.simulate_unplug()
            else:
                sim.simulate_fault(status)

        sim.subscribe(events)
        sim.open()
        yield ScannerCase(sim, sim.device_name, sim_fault, 10)
        sim.close()


def test_lists_the_device_and_its_capabilities(case: ScannerCase) -> None:
    assert case.device_name in [d.name for d in case.scanner.list_devices()]
    caps = case.scanner.capabilities()
    assert {200, 300} <= set(caps.resolutions)
    assert set(caps.modes) == {ColorMode.COLOR, ColorMode.GRAY}
    assert {ScanSource.FLATBED, ScanSource.ADF} <= set(caps.sources)
    assert caps.max_area_mm is not None and min(caps.max_area_mm) >= 100


@pytest.mark.parametrize(("dpi", "mode"), [(200, ColorMode.COLOR), (300, ColorMode.GRAY)])
def test_scan_has_the_requested_resolution_and_mode(case: ScannerCase, dpi: int, mode: ColorMode) -> None:
    page = case.scanner.scan_one(ScanSettings(dpi=dpi, mode=mode, area_mm=AREA))
    assert page.dpi == dpi and page.mode == mode and page.sheet == 1 and page.side == "front"
    w, h = page.size
    assert abs(w - px(AREA[0], dpi)) <= 1 and abs(h - px(AREA[1], dpi)) <= 1
    assert page.image.dtype == np.uint8
    if mode == ColorMode.COLOR:
        assert page.image.shape == (h, w, 3)
        b, g, r = (page.image[..., i].astype(int) for i in range(3))
        assert (np.abs(r - g) + np.abs(g - b)).max() > 100  # real colour, not grey in three channels
    else:
        assert page.image.shape == (h, w)
    assert case.scanner.status == DeviceStatus.OK


def test_unsupported_settings_are_refused(case: ScannerCase) -> None:
    from kiosk.errors import KioskError

    with pytest.raises(KioskError) as err:
        case.scanner.scan_one(ScanSettings(dpi=123))
    assert err.value.key == "device.scanner_unsupported" and "123" in err.value.message("vi")


@pytest.mark.parametrize(("status", "key"), [
    (DeviceStatus.JAMMED, "device.scanner_jammed"),
    (DeviceStatus.COVER_OPEN, "device.scanner_cover_open"),
    (DeviceStatus.BUSY, "device.scanner_busy"),
])
def test_faults_become_events_and_clear(case: ScannerCase, events: EventLog, status: DeviceStatus,
                                        key: str) -> None:
    case.fault(status)
    with pytest.raises(DeviceError) as err:
        case.scanner.scan_one(ScanSettings(area_mm=AREA))
    assert err.value.status == status and err.value.key == key
    assert case.scanner.status == status
    if status in ATTENTION:
        assert case.scanner.check() == status  # still reported until a scan succeeds
    ev = events.wait_for(EventKind.FAULT, key=key)
    assert ev.status == status and ev.message("vi")
    case.fault(None)
    page = case.scanner.scan_one(ScanSettings(area_mm=AREA))
    assert page.size[0] > 0 and case.scanner.status == DeviceStatus.OK
    events.wait_for(EventKind.CLEARED)


def test_empty_feeder_is_reported(case: ScannerCase, events: EventLog) -> None:
    case.fault(DeviceStatus.FEEDER_EMPTY)
    with pytest.raises(DeviceError) as err:
        list(case.scanner.scan(ScanSettings(source=ScanSource.ADF, area_mm=AREA)))
    assert err.value.status == DeviceStatus.FEEDER_EMPTY
    ev = events.wait_for(EventKind.FAULT, key="device.scanner_feeder_empty")
    assert ev.message("vi").startswith("Khay nạp giấy của máy quét đang trống")
    assert case.scanner.status == DeviceStatus.OK  # an empty feeder is not a broken scanner


def test_feeder_batch_survives_a_jam(case: ScannerCase, events: EventLog) -> None:
    manager = DeviceManager({"scanner": case.scanner})
    pages_before_jam = 3

    def jam_after_three(_: ScannedPage) -> None:  # the jam happens right after the third sheet
        if len(batch.pages) == pages_before_jam:
            case.fault(DeviceStatus.JAMMED)

    settings = ScanSettings(dpi=200, mode=ColorMode.GRAY, source=ScanSource.ADF, area_mm=AREA)
    batch = manager.scan_batch(settings, on_page=jam_after_three)
    assert batch.run() == BatchState.PAUSED
    assert len(batch.pages) == pages_before_jam and batch.error is not None
    assert batch.error.status == DeviceStatus.JAMMED
    paused = events.wait_for(EventKind.CAPTURE_PAUSED)
    assert paused.detail == {"pages": 3, "reason": "device.scanner_jammed"}
    case.fault(None)  # the citizen clears the jam
    assert batch.resume() == BatchState.DONE
    events.wait_for(EventKind.CAPTURE_RESUMED)
    sheets = [p.sheet for p in batch.pages]
    assert sheets == list(range(1, len(sheets) + 1))  # nothing lost, nothing twice, in order
    assert len(sheets) == case.jammed_run_pages
    assert all(p.image.ndim == 2 and p.dpi == 200 for p in batch.pages)


def test_io_error_means_lost_and_reconnect(case: ScannerCase, events: EventLog) -> None:
    case.fault(DeviceStatus.DISCONNECTED)
    with pytest.raises(DeviceLost):
        case.scanner.scan_one(ScanSettings(area_mm=AREA))
    assert case.scanner.status == DeviceStatus.DISCONNECTED
    events.wait_for(EventKind.LOST, key="device.scanner_lost")
    if isinstance(case.scanner, SimulatedScanner):
        case.scanner.simulate_replug()
    assert case.scanner.reconnect()
    events.wait_for(EventKind.RESTORED)
    case.fault(None)
    assert case.scanner.scan_one(ScanSettings(area_mm=AREA)).dpi == 200


def test_self_test(case: ScannerCase) -> None:
    result = case.scanner.self_test()
    assert result.ok and result.status == DeviceStatus.OK
    assert result.checks["test_scan_size"][0] > 0
