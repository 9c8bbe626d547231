"""The device manager: building devices from the config, events to the session, reconnecting, and work
that survives a device going away (a capture pauses and resumes, nothing is lost)."""

from __future__ import annotations

import queue
import threading
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from device_testkit import EventLog

from kiosk.config import from_dict
from kiosk.devices.base import Backoff, DeviceEvent, DeviceLost, DeviceStatus, EventKind
from kiosk.devices.camera import Frame
from kiosk.devices.camera_sim import FolderCamera, VideoCamera
from kiosk.devices.idreader_sim import SimulatedIdReader
from kiosk.devices.manager import DeviceManager, build_devices
from kiosk.devices.printer_escpos import EscposPrinter
from kiosk.devices.printer_file import FilePrinter
from kiosk.devices.scanner_sim import SimulatedScanner


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "frames"
    d.mkdir()
    for i in range(4):
        img = np.full((480, 640, 3), 40 * i + 20, np.uint8)
        cv2.putText(img, str(i), (200, 300), cv2.FONT_HERSHEY_SIMPLEX, 6, (255, 255, 255), 12)
        cv2.imwrite(str(d / f"{i}.png"), img)
    return d


def test_build_devices_from_config(tmp_path: Path, folder: Path) -> None:
    cfg = from_dict({"paths": {"data_dir": str(tmp_path)}})
    devices = build_devices(cfg)
    assert set(devices) == {"camera", "id_reader", "printer"}
    assert isinstance(devices["camera"], FolderCamera)
    assert devices["camera"].folder == Path(str(resources.files("kiosk.data.samples").joinpath("camera")))
    assert isinstance(devices["id_reader"], SimulatedIdReader)
    assert isinstance(devices["printer"], FilePrinter)
    assert devices["printer"].out_dir == tmp_path / "receipts"
    video = tmp_path / "clip.mp4"
    cfg = from_dict({"paths": {"data_dir": str(tmp_path)},
                     "devices": {"camera_source": str(video), "scanner": "simulator", "printer": "serial",
                                 "printer_port": "/dev/ttyUSB7", "printer_width_px": 384,
                                 "camera_preview_width": 640, "camera_preview_height": 480}})
    devices = build_devices(cfg)
    assert isinstance(devices["camera"], VideoCamera) and devices["camera"].preview_size == (640, 480)
    assert isinstance(devices["scanner"], SimulatedScanner)
    printer = devices["printer"]
    assert isinstance(printer, EscposPrinter) and printer.width_px == 384
    assert printer.describe()["port"] == "/dev/ttyUSB7" and printer.software_flow


def test_events_reach_the_queue_and_the_listener(tmp_path: Path, folder: Path) -> None:
    heard: list[DeviceEvent] = []
    cam = FolderCamera(folder, frames_per_image=0, preview_size=(160, 120), fps=30)
    printer = FilePrinter(tmp_path / "r")
    reader = SimulatedIdReader()
    manager = DeviceManager({"camera": cam, "printer": printer, "id_reader": reader}, on_event=heard.append,
                            poll_s=0.05)
    manager.start()
    try:
        assert manager.wait_status("camera", DeviceStatus.OK, 20)
        assert manager.wait_status("id_reader", DeviceStatus.OK, 20)
        reader.present()
        read = manager.id_reader.read(timeout=5)
        assert read is not None and read.result.personal_id == "001090012345"
        health = {d["name"]: d["status"] for d in manager.health()}
        assert health == {"camera": "ok", "printer": "ok", "id_reader": "ok"}
    finally:
        manager.stop()
    queued = manager.drain_events()
    assert [e.kind for e in queued] == [e.kind for e in heard]
    connected = sorted(e.device for e in queued if e.kind == EventKind.CONNECTED)
    assert connected == ["camera", "id_reader", "printer"]
    assert all(e.to_dict()["time"].endswith("+07:00") for e in queued)


def test_monitor_reconnects_an_unplugged_printer(tmp_path: Path, events: EventLog) -> None:
    printer = FilePrinter(tmp_path / "r")
    printer.backoff = Backoff(0.01, 0.05)
    manager = DeviceManager({"printer": printer}, on_event=events, poll_s=0.02)
    manager.start()
    try:
        assert manager.wait_status("printer", DeviceStatus.OK, 20)
        printer.simulate_unplug()
        events.wait_for(EventKind.LOST, key="device.printer_lost")
        printer.set_state(paper_out=True)
        printer.simulate_replug()
        fault = events.wait_for(EventKind.FAULT)  # back, but without paper
        assert fault.status == DeviceStatus.PAPER_OUT
        printer.set_state(paper_out=False)
        events.wait_for(EventKind.CLEARED)
    finally:
        manager.stop()


@pytest.mark.parametrize("preview", [True, False])
def test_capture_pauses_while_the_camera_is_gone_and_loses_nothing(folder: Path, events: EventLog,
                                                                   preview: bool) -> None:
    cam = FolderCamera(folder, frames_per_image=0, preview_size=(160, 120), fps=30)
    cam.backoff = Backoff(0.01, 0.05)
    manager = DeviceManager({"camera": cam}, on_event=events, poll_s=0.02)
    manager.start(preview=preview)
    stills: list[Frame] = []
    try:
        assert manager.wait_status("camera", DeviceStatus.OK, 20)
        for i in range(2):
            cam.select(i)
            stills.append(manager.capture_still())
        cam.select(2)
        cam.simulate_unplug()
        result: queue.Queue[Frame | Exception] = queue.Queue()

        def capture() -> None:
            try:
                result.put(manager.capture_still(timeout=60))
            except Exception as exc:
                result.put(exc)

        worker = threading.Thread(target=capture)
        worker.start()
        events.wait_for(EventKind.CAPTURE_PAUSED)
        assert worker.is_alive()  # waiting for the camera, not failing
        cam.simulate_replug()
        worker.join(30)
        got = result.get(timeout=1)
        assert isinstance(got, Frame)
        stills.append(got)
        cam.select(3)
        stills.append(manager.capture_still())
    finally:
        manager.stop()
    originals = [np.asarray(cv2.imread(str(folder / f"{i}.png"))) for i in range(4)]
    assert len(stills) == 4
    assert all(np.array_equal(s.image, o) for s, o in zip(stills, originals, strict=True))
    kinds = events.kinds()
    order = [kinds.index(k) for k in ("lost", "capture_paused", "restored", "capture_resumed")]
    assert order == sorted(order)


def test_capture_gives_up_after_its_timeout(folder: Path) -> None:
    cam = FolderCamera(folder, frames_per_image=0)
    cam.backoff = Backoff(0.01, 0.05)
    manager = DeviceManager({"camera": cam})
    cam.open()
    cam.simulate_unplug()
    with pytest.raises(DeviceLost):
        manager.capture_still(timeout=0.2)
    events = [e.kind for e in manager.drain_events()]
    assert EventKind.CAPTURE_PAUSED in events and EventKind.CAPTURE_RESUMED not in events


def test_wait_status_times_out(tmp_path: Path) -> None:
    manager = DeviceManager({"printer": FilePrinter(tmp_path)})
    assert not manager.wait_status("printer", DeviceStatus.OK, 0.05)  # never opened
