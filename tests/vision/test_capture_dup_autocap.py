"""Duplicate pages, page counts and auto-capture."""

from __future__ import annotations

import numpy as np

from kiosk.config import VisionConfig
from kiosk.synth.camera import page_bgr
from kiosk.vision.assess import Assessment
from kiosk.vision.autocapture import AutoCapture
from kiosk.vision.dewarp import rotate
from kiosk.vision.duplicates import PageCounter, hamming, is_duplicate, page_hash


def _recapture(img: np.ndarray, seed: int) -> np.ndarray:
    """The same page captured again: slightly rotated, shifted, darker, noisy."""
    rng = np.random.default_rng(seed)
    out = rotate(img, 0.4)
    out = np.roll(out, (3, -2), axis=(0, 1)).astype(np.float32) * 0.9
    out += rng.standard_normal(out.shape).astype(np.float32) * 3
    return np.clip(out, 0, 255).astype(np.uint8)


def test_same_page_twice_is_a_duplicate_different_pages_are_not() -> None:
    pages = [page_bgr(seed=s, dpi=100) for s in range(4)]
    hashes = [page_hash(p) for p in pages]
    again = page_hash(_recapture(pages[1], 9))
    assert is_duplicate(hashes[1], again)
    assert is_duplicate(pages[1], _recapture(pages[1], 10))  # images work too
    for i in range(4):
        for j in range(i + 1, 4):
            assert not is_duplicate(hashes[i], hashes[j]), (i, j, hamming(hashes[i], hashes[j]))


def test_page_counter_reports_duplicates_and_count() -> None:
    pages = [page_bgr(seed=s, dpi=100) for s in range(3)]
    pc = PageCounter(declared=3)
    assert pc.add(pages[0]) is None
    assert pc.add(pages[1]) is None
    assert pc.add(_recapture(pages[1], 3)) == 2
    assert pc.check() == [("capture.duplicate", {"page": 3, "other": 2})]
    pc.remove_last()
    assert pc.check() == [("capture.page_count_mismatch", {"captured": 2, "declared": 3})]
    pc.add(pages[2])
    assert pc.check() == []


def _a(ok: bool, corners: list[list[float]] | None, reasons: list[str] | None = None) -> Assessment:
    return Assessment(ok, reasons if reasons is not None else ([] if ok else ["blur"]), corners)


Q = [[100.0, 100.0], [700.0, 110.0], [690.0, 950.0], [95.0, 940.0]]


def moved(dx: float) -> list[list[float]]:
    return [[x + dx, y] for x, y in Q]


def test_autocapture_fires_once_after_a_steady_window() -> None:
    ac = AutoCapture(window=4)
    states = [ac.update(_a(True, moved(0.5 * i))) for i in range(4)]
    assert [s.progress for s in states] == [0.25, 0.5, 0.75, 1.0]
    assert [s.fire for s in states] == [False, False, False, True]
    # the same sheet stays: no second shot
    later = [ac.update(_a(True, Q)) for _ in range(6)]
    assert not any(s.fire for s in later) and all(s.progress == 0.0 for s in later)
    # taken away and a new sheet put down: armed again
    assert ac.update(_a(False, None, ["no_document"])).armed is True
    assert [ac.update(_a(True, Q)).fire for _ in range(4)] == [False, False, False, True]


def test_autocapture_from_config() -> None:
    ac = AutoCapture.from_config(VisionConfig(autocapture_frames=2, autocapture_tolerance=0.05))
    assert ac.update(_a(True, Q)).fire is False
    assert ac.update(_a(True, moved(20.0))).fire is True  # 20 px < 5 % of an 845 px edge


def test_autocapture_resets_on_bad_frames_and_moves() -> None:
    ac = AutoCapture(window=3)
    assert ac.update(_a(True, Q)).progress == 1 / 3
    assert ac.update(_a(True, Q)).progress == 2 / 3
    assert ac.update(_a(False, Q)).progress == 0.0  # blur
    assert ac.update(_a(True, Q)).progress == 1 / 3
    assert ac.update(_a(True, moved(40.0))).progress == 1 / 3  # moved by > 1 % of the page
    assert ac.update(_a(True, moved(40.0))).progress == 2 / 3
    assert ac.update(_a(True, moved(40.0))).fire is True


def test_autocapture_waits_after_a_manual_shot_until_the_page_changes() -> None:
    ac = AutoCapture(window=2)
    assert ac.update(_a(True, Q)).progress == 0.5
    ac.captured(Q)  # the citizen pressed the shutter
    for _ in range(10):  # the same sheet still lies there
        state = ac.update(_a(True, Q))
        assert state.progress == 0.0 and not state.fire and not state.armed
    assert ac.update(_a(True, moved(30.0))).armed is False  # a small shift is not a new page
    assert ac.update(_a(True, moved(300.0))).armed is True  # the sheet was turned over / replaced
    assert ac.update(_a(True, moved(300.0))).fire is True
    ac.captured(None)  # a shot without a detected page leaves it armed
    assert ac.update(_a(True, Q)).armed is True
