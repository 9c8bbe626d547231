"""The same camera test suite for every backend: the folder and video simulators always; V4L2 and
picamera2 when the hardware is there (marked ``hardware``, skipped otherwise). ``VideoCamera`` runs
the OpenCV capture code that ``V4L2Camera`` shares."""

from __future__ import annotations

import glob
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from device_testkit import EventLog, wait_until

from kiosk.devices.base import Backoff, DeviceLost, DeviceStatus, EventKind
from kiosk.devices.camera import Camera, Frame, fit_size
from kiosk.devices.camera_picamera2 import Picamera2Camera, picamera2_available
from kiosk.devices.camera_sim import FolderCamera, VideoCamera
from kiosk.devices.camera_v4l2 import V4L2Camera
from kiosk.errors import KioskError

PREVIEW = (320, 240)


@dataclass
class CameraCase:
    camera: Camera
    unplug: Callable[[], None] | None
    replug: Callable[[], None] | None


def pattern(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(h // 40, w // 40, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"frame_{i}.png"), pattern(1280, 720, i))
    return folder


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 20, (800, 600))
    assert writer.isOpened()
    for i in range(20):
        writer.write(pattern(800, 600, i))
    writer.release()
    return path


CASES = ["folder", "video",
         pytest.param("v4l2", marks=pytest.mark.hardware),
         pytest.param("picamera2", marks=pytest.mark.hardware)]


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, events: EventLog) -> Iterator[CameraCase]:
    cam: Camera
    unplug = replug = None
    if request.param == "folder":
        folder_cam = FolderCamera(request.getfixturevalue("image_folder"), frames_per_image=0,
                                  preview_size=PREVIEW, fps=30)
        cam, unplug, replug = folder_cam, folder_cam.simulate_unplug, folder_cam.simulate_replug
    elif request.param == "video":
        video_cam = VideoCamera(request.getfixturevalue("video_file"), preview_size=PREVIEW, fps=30)
        cam, unplug, replug = video_cam, video_cam.simulate_unplug, video_cam.simulate_replug
    elif request.param == "v4l2":
        nodes = sorted(glob.glob("/dev/video*"))
        if not nodes:
            pytest.skip("no V4L2 camera attached")
        cam = V4L2Camera(nodes[0], preview_size=PREVIEW, fps=10)
    else:
        if not picamera2_available():
            pytest.skip("picamera2 is only available on a Raspberry Pi")
        cam = Picamera2Camera(preview_size=PREVIEW, fps=10)
    cam.backoff = Backoff(0.01, 0.1)
    cam.subscribe(events)
    yield CameraCase(cam, unplug, replug)
    cam.close()


def test_preview_runs_in_the_background(case: CameraCase) -> None:
    got: list[Frame] = []
    delivered = threading.Event()

    def callback(frame: Frame) -> None:
        got.append(frame)
        if len(got) >= 3:
            delivered.set()

    case.camera.start_preview(callback)  # returns at once; the thread opens the camera
    first = case.camera.wait_frame(timeout=20)
    assert first is not None and not first.still
    assert delivered.wait(20)
    assert [f.seq for f in got] == sorted(f.seq for f in got)
    assert case.camera.latest() is not None and case.camera.latest().seq >= first.seq  # type: ignore[union-attr]
    still_size = case.camera.still_size
    assert still_size is not None
    assert first.size == fit_size(still_size, PREVIEW)  # the still's aspect, scaled down
    assert first.image.dtype == np.uint8 and first.image.shape[2] == 3
    assert case.camera.status == DeviceStatus.OK


def test_still_is_full_resolution(case: CameraCase) -> None:
    case.camera.start_preview()
    preview = case.camera.wait_frame(timeout=20)
    assert preview is not None
    still = case.camera.capture_still()
    assert still.still and still.size == case.camera.still_size
    assert still.size[0] > preview.size[0] and still.size[1] > preview.size[1]


def test_controls(case: CameraCase) -> None:
    case.camera.open()
    controls = case.camera.controls()
    assert all(name in ("exposure", "auto_exposure", "gain", "focus", "autofocus") for name in controls)
    with pytest.raises(KioskError) as err:
        case.camera.set_control("zoom", 2.0)
    assert err.value.key == "device.camera_control_unsupported"


def test_unplug_pauses_and_replug_resumes(case: CameraCase, events: EventLog) -> None:
    if case.unplug is None or case.replug is None:
        pytest.skip("unplugging needs a person at the hardware")
    case.camera.start_preview()
    assert case.camera.wait_frame(timeout=20) is not None
    case.unplug()
    events.wait_for(EventKind.LOST, key="device.camera_lost")
    assert case.camera.status == DeviceStatus.DISCONNECTED
    with pytest.raises(DeviceLost):
        case.camera.capture_still()
    last = case.camera.latest()
    assert last is not None
    n = len(events.events)
    case.replug()
    events.wait_for(EventKind.RESTORED, after=n)
    assert case.camera.wait_frame(after_seq=last.seq, timeout=20) is not None
    assert case.camera.capture_still().size == case.camera.still_size


def test_self_test(case: CameraCase) -> None:
    result = case.camera.self_test()
    assert result.ok and result.status == DeviceStatus.OK
    assert tuple(result.checks["still_size"]) == case.camera.still_size


def test_folder_camera_preview_is_the_image_scaled_down(image_folder: Path) -> None:
    cam = FolderCamera(image_folder, frames_per_image=0, preview_size=PREVIEW, fps=30)
    cam.open()
    try:
        original = cv2.imread(str(image_folder / "frame_1.png"))
        assert original is not None
        cam.select(1)
        still = cam.capture_still()
        assert np.array_equal(still.image, original) and cam.still_size == (1280, 720)
        cam.start_preview()
        frame = cam.wait_frame(timeout=20)
        assert frame is not None and frame.size == (320, 180)
        expected = cv2.resize(original, (320, 180), interpolation=cv2.INTER_AREA)
        assert np.array_equal(frame.image, expected)
        cam.set_control("exposure", 1.0)  # one stop brighter
        brighter = cam.capture_still().image
        assert np.array_equal(brighter, np.clip(original.astype(int) * 2, 0, 255).astype(np.uint8))
        with pytest.raises(KioskError):
            cam.set_control("exposure", 5.0)
    finally:
        cam.close()


def test_folder_camera_plays_the_folder_in_order(image_folder: Path) -> None:
    cam = FolderCamera(image_folder, frames_per_image=2, preview_size=PREVIEW, fps=60)
    seen: list[int] = []
    cam.add_frame_callback(lambda f: seen.append(int(f.image.sum())))
    cam.start_preview()
    try:
        assert wait_until(lambda: len(seen) >= 7)
    finally:
        cam.close()
    sums = [int(cv2.resize(pattern(1280, 720, i), (320, 180), interpolation=cv2.INTER_AREA).sum())
            for i in range(3)]
    assert seen[:7] == [sums[0], sums[0], sums[1], sums[1], sums[2], sums[2], sums[0]]


def test_missing_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    cam = FolderCamera(tmp_path / "nothing", preview_size=PREVIEW)
    result = cam.self_test()
    assert not result.ok and result.message_key == "device.camera_no_source"
    assert result.status == DeviceStatus.ERROR


def test_synthetic_pages_without_a_folder() -> None:
    cam = FolderCamera(None, frames_per_image=0, preview_size=PREVIEW)
    cam.open()
    try:
        assert cam.count == 3 and cam.still_size == (1920, 1080)
        still = cam.capture_still().image
        assert 100 < float(still.mean()) < 250  # a light page on a darker desk
    finally:
        cam.close()


def test_picamera2_without_the_library_reports_it() -> None:
    if picamera2_available():
        pytest.skip("picamera2 is installed here")
    cam = Picamera2Camera()
    result = cam.self_test()
    assert not result.ok and result.message_key == "device.camera_backend_missing"
