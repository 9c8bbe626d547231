"""Runs one UI scenario in a real Kivy window and prints what it observed as one JSON object.

Kivy has one window per process, so ``test_ui_*.py`` starts this script once per scenario (under the
Xvfb display started by ``conftest.py``) and asserts on the JSON. The scenario drives the UI only with
touches (``UnitTestTouch`` at the centre of a named widget) and a fake clock.

    python tests/screens/ui_driver.py SCENARIO OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

from kivy.config import Config

Config.set("graphics", "width", "1280")
Config.set("graphics", "height", "800")
Config.set("graphics", "resizable", "0")
for _opt in list(Config.options("input")):
    Config.remove_option("input", _opt)  # no mouse/touch providers: only the test's touches

from kivy.base import EventLoop  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.tests.common import UnitTestTouch  # noqa: E402
from kivy.uix.label import Label  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_workflow import FakeClock, FakeWorkflow  # noqa: E402

from kiosk.core.applicant import Identifier, IdKind, IdSource, Party  # noqa: E402
from kiosk.messages import t  # noqa: E402
from kiosk.screens.app import KioskUI  # noqa: E402
from kiosk.screens.pin import StaffPin  # noqa: E402
from kiosk.screens.widgets import find  # noqa: E402


class Harness:
    def __init__(
        self, out: Path, *, staff_pin: StaffPin | None = None, lang: str = "vi", real: bool = False
    ) -> None:
        self.out = out
        self.clock = FakeClock()
        self.wf = FakeWorkflow(out / "data", self.clock)
        self.devices: Any = None
        workflow: Any = self.wf
        if real:
            workflow = self.real_workflow(out / "real-data")
        self.ui = KioskUI(
            workflow,
            lang=lang,
            clock=self.clock,
            tick_interval=0.05,
            preview_fps=15,
            autocapture_frames=6,
            read_id_timeout_s=0.3,
            staff_pin=staff_pin,
            agency_name="UBND xã Mẫu",
        )
        Window.add_widget(self.ui.root)
        self.ui.start()
        self.screens: list[str] = []
        self.ui.sm.bind(current=lambda _sm, name: self.screens.append(name))
        self.screens.append(self.ui.sm.current)
        self.pump(3)

    def real_workflow(self, data_dir: Path) -> Any:
        """kiosk.workflow.Workflow on the simulated devices; the camera plays one generated still: an A4
        page at 210 dpi lying sideways on a desk, 3200x2400 like an 8 MP document camera."""
        import cv2
        import numpy as np

        from kiosk.config import from_dict
        from kiosk.devices.manager import DeviceManager
        from kiosk.synth.page import render_page
        from kiosk.workflow import Workflow

        stills = self.out / "stills"
        stills.mkdir(parents=True, exist_ok=True)
        page = cv2.cvtColor(
            np.asarray(render_page(dpi=210, seed=3, heading="TỜ KHAI").image), cv2.COLOR_RGB2BGR
        )
        page = cv2.rotate(page, cv2.ROTATE_90_COUNTERCLOCKWISE)
        desk = np.full((2400, 3200, 3), (70, 95, 125), np.uint8)
        y0, x0 = (2400 - page.shape[0]) // 2, (3200 - page.shape[1]) // 2
        desk[y0 : y0 + page.shape[0], x0 : x0 + page.shape[1]] = page
        cv2.imwrite(str(stills / "page.jpg"), desk, [cv2.IMWRITE_JPEG_QUALITY, 92])
        cfg = from_dict({"paths": {"data_dir": str(data_dir)}, "devices": {"camera_source": str(stills)}})
        data_dir.mkdir(parents=True, exist_ok=True)
        self.devices = DeviceManager.from_config(cfg)
        self.devices.start()
        return Workflow(cfg, devices=self.devices, clock=self.clock)

    # --------------------------------------------------------------- event loop
    def pump(self, frames: int = 2) -> None:
        for _ in range(frames):
            EventLoop.idle()

    def wait(self, cond: Callable[[], bool], what: str, limit_s: float = 15.0) -> None:
        """Run the event loop until ``cond()`` holds (``limit_s`` only bounds a broken run)."""
        end = time.monotonic() + limit_s
        while not cond():
            if time.monotonic() > end:
                raise AssertionError(
                    f"gave up waiting for: {what} (screen {self.ui.sm.current}, "
                    f"state {self.ui.session.state.value})"
                )
            EventLoop.idle()
            time.sleep(0.005)
        self.pump(1)

    def idle_ui(self) -> None:
        self.wait(lambda: not self.ui.busy, "worker finished")

    # --------------------------------------------------------------- widgets
    def w(self, name: str) -> Widget:
        widget = find(self.ui.root, name)
        if widget is None:
            raise AssertionError(f"no widget named {name!r} on screen {self.ui.sm.current}")
        return widget

    def has(self, name: str) -> bool:
        return find(self.ui.root, name) is not None

    def text(self, name: str) -> str:
        return str(self.w(name).text)

    def disabled(self, name: str) -> bool:
        return bool(self.w(name).disabled)

    def tap(self, name: str) -> None:
        widget = self.w(name)
        if widget.disabled:
            raise AssertionError(f"{name!r} is disabled")
        self.tap_at(*widget.to_window(*widget.center))

    def tap_at(self, x: float, y: float) -> None:
        touch = UnitTestTouch(x, y)
        touch.touch_down()  # dispatched synchronously
        touch.touch_up()
        self.pump(1)

    def type_keys(self, keys: str) -> None:
        for ch in keys:
            self.tap("key_space" if ch == " " else f"key_{ch}")

    def labels(self) -> list[str]:
        return [w.text for w in self.ui.root.walk(restrict=True) if isinstance(w, Label) and w.text]

    def snap(self, name: str) -> None:
        """Extra screenshots for looking at the layout (only with KIOSK_UI_SNAP_ALL=1)."""
        if os.environ.get("KIOSK_UI_SNAP_ALL") == "1":
            self.screenshot(f"snap-{name}")

    def screenshot(self, name: str) -> str:
        self.pump(3)
        saved = Window.screenshot(name=str(self.out / f"{name}.png"))
        final = self.out / f"{name}.png"
        os.replace(saved, final)
        return str(final)


# ------------------------------------------------------------------------------------ scenarios
def to_identify(h: Harness) -> None:
    h.tap("start")
    h.wait(lambda: h.ui.sm.current == "identify", "identify screen")


def identify_manually(h: Harness, number: str) -> None:
    h.tap("field_number")
    for ch in number:
        h.tap(f"key_{ch}")


def to_checklist(h: Harness, obs: dict[str, Any]) -> None:
    to_identify(h)
    # an invalid number (11 digits) shows the core's Vietnamese message
    identify_manually(h, "07909500123")
    obs["typed_number"] = h.text("field_number")
    h.tap("identify_next")
    obs["identify_error"] = h.text("error")
    h.snap("identify-error")
    obs["state_after_invalid"] = h.ui.session.state.value
    h.tap("key_4")
    h.tap("field_birth")
    for ch in "01011995":
        h.tap(f"key_{ch}")
    obs["typed_birth"] = h.text("field_birth")
    h.tap("identify_next")
    h.wait(lambda: h.ui.sm.current == "procedure", "procedure screen")
    obs["submitter_masked"] = h.ui.session.submitter.identifier.masked() if h.ui.session.submitter else None
    obs["search_prompt"] = h.text("no_results")
    h.type_keys("khai")
    obs["query"] = h.text("query")
    obs["results"] = [h.text(f"procedure_{i}") for i in range(5) if h.has(f"procedure_{i}")]
    h.snap("procedure")
    h.tap("procedure_0")
    h.snap("cases")
    obs["cases"] = [h.text(f"case_{i}") for i in range(5) if h.has(f"case_{i}")]
    h.tap("case_0")
    h.wait(lambda: h.ui.sm.current == "checklist", "checklist screen")


def scenario_happy_path(h: Harness) -> dict[str, Any]:
    obs: dict[str, Any] = {}
    obs["welcome_title"] = h.text("title")
    h.snap("welcome")
    to_checklist(h, obs)
    s = h.ui.session
    obs["checklist_names"] = [h.text(f"paper_{i}_name") for i in range(len(s.papers))]
    obs["checklist_status"] = [h.text(f"paper_{i}_status") for i in range(len(s.papers))]
    obs["on_file_has_stepper"] = h.has("paper_3_more")
    h.tap("paper_0_more")  # the form has 2 sheets
    h.tap("paper_2_opt_in")  # accept the on-request fee
    obs["sheets_label"] = h.text("paper_0_sheets")
    obs["declared"] = [p.sheets for p in s.papers]
    obs["opted_in"] = s.papers[2].opted_in
    obs["checklist_summary"] = h.text("summary")
    obs["checklist_shot"] = h.screenshot("checklist")
    h.tap("start_capture")
    h.wait(lambda: h.ui.sm.current == "capture", "capture screen")
    obs["progress_start"] = list(s.progress)
    obs["step_label_1"] = h.text("step_label")

    # step 1: blurred frames (red outline, blur hint), then good frames of a moving page (green outline,
    # no auto-capture), then a good page held still: auto-capture takes it, once
    capture = h.ui.screens["capture"]
    h.wf.preview_script = [(False, ["blur"], False)] * 10_000
    h.wait(lambda: capture.hint_key == "capture.blur", "blur hint")
    preview = h.w("preview")
    obs["blur_hint"] = h.text("hint")
    obs["outline_ok_while_blur"] = bool(preview.ok)
    obs["outline_points"] = len(preview._line.points)
    h.wf.preview_script = [(True, [], True)] * 10_000
    h.wait(lambda: capture.hint_key == "capture.hold_still", "good-frame hint")
    start = h.wf.frames
    h.wait(lambda: h.wf.frames >= start + 10, "10 frames of a moving page")
    obs["moving_auto_shots"] = capture.auto_shots
    obs["moving_ring"] = h.w("autocapture_ring").value
    obs["good_hint"] = h.text("hint")
    obs["outline_ok_when_good"] = bool(preview.ok)
    obs["capture_shot"] = h.screenshot("capture")
    h.wf.preview_script = []
    h.wait(lambda: s.progress[0] == 1, "auto-capture of step 1")
    h.idle_ui()
    start = h.wf.frames
    h.wait(lambda: h.wf.frames >= start + 12, "12 more frames of the same page")
    obs["auto_shots_after_still_page"] = capture.auto_shots
    obs["progress_after_auto"] = list(s.progress)
    obs["step_label_2"] = h.text("step_label")

    # step 2: back of sheet 1 is blank -> question; confirm it
    h.wf.capture_script = ["blank"]
    h.tap("shutter")
    h.idle_ui()
    obs["blank_question"] = h.text("blank_question")
    obs["blank_image_shown"] = h.has("pending_image")
    h.snap("blank")
    h.tap("blank_yes")
    obs["step_label_3"] = h.text("step_label")

    # step 3: front of sheet 2 has a sticky note -> same side again without the note
    h.wf.capture_script = ["sticky"]
    h.tap("shutter")
    h.idle_ui()
    obs["sticky_prompt"] = h.text("sticky_prompt")
    h.snap("sticky")
    obs["step_label_sticky"] = h.text("step_label")
    h.tap("shutter")
    h.idle_ui()
    obs["sticky_prompt_after"] = h.has("sticky_prompt")

    # step 4: back of sheet 2: rejected once for glare, then accepted; retake it once more
    h.wf.capture_script = ["reject:glare"]
    h.tap("shutter")
    h.idle_ui()
    obs["reject_message"] = h.text("error")
    h.snap("reject")
    obs["progress_after_reject"] = list(s.progress)
    h.tap("shutter")
    h.idle_ui()
    obs["progress_before_retake"] = list(s.progress)
    h.tap("retake")
    obs["progress_after_retake"] = list(s.progress)
    obs["step_label_retake"] = h.text("step_label")
    h.tap("shutter")
    h.idle_ui()
    # step 5 and 6: birth certificate front, marriage certificate front
    h.tap("shutter")
    h.idle_ui()
    h.tap("shutter")
    h.idle_ui()
    h.wait(lambda: h.ui.sm.current == "review", "review screen")
    h.snap("review")
    obs["review_status"] = [h.text(f"review_status_{i}") for i in range(len(s.papers))]
    obs["thumbs"] = sum(1 for i in range(4) for j in range(8) if h.has(f"thumb_{i}_{j}"))
    obs["thumbs_with_texture"] = sum(
        1
        for i in range(4)
        for j in range(8)
        if h.has(f"thumb_{i}_{j}") and h.w(f"thumb_{i}_{j}").texture is not None
    )
    obs["captures"] = [
        [(c.page_no, c.side.value, c.variant.value, c.blank_confirmed) for c in s.captures_for(i)]
        for i in range(len(s.papers))
    ]
    h.tap("review_next")
    h.idle_ui()
    h.wait(lambda: h.ui.sm.current == "confirm", "confirm screen")
    obs["confirm_disabled_before"] = h.disabled("confirm_data")
    obs["field_value_before"] = h.text("value_to_khai.full_name")
    h.tap("edit_to_khai.full_name")
    h.tap("key_bs")
    h.tap("key_bs")
    h.type_keys("anh")
    h.tap("tone_acute")
    obs["edit_text"] = h.text("edit_text")
    h.snap("confirm-edit")
    h.tap("edit_save")
    obs["confirm_disabled_after"] = h.disabled("confirm_data")
    h.tap("confirm_data")
    obs["confirmed"] = dict(s.confirmed.get("to_khai", {}))
    h.wait(lambda: h.ui.sm.current == "consent", "consent screen")
    obs["fee_text"] = h.text("fee")
    h.tap("send")
    obs["consent_error"] = h.text("error")
    h.snap("consent")
    obs["state_after_refused_consent"] = s.state.value
    h.tap("consent_process_dossier")
    h.tap("send")
    h.idle_ui()
    h.wait(lambda: h.ui.sm.current == "receipt", "receipt screen")
    obs["consents"] = dict(s.consents)
    obs["submission_code"] = h.text("submission_code")
    obs["submission_id"] = s.submission_id
    obs["receipt_lines"] = [h.text(f"receipt_line_{i}") for i in range(2)]
    obs["receipt_image"] = h.has("receipt_image")
    h.snap("receipt")
    work_dir = s.work_dir
    h.tap("finish")
    h.wait(lambda: h.ui.sm.current == "welcome", "welcome after finish")
    obs["end_reason"] = s.end_reason.value if s.end_reason else None
    obs["work_dir_after"] = work_dir.exists()
    obs["notice"] = h.text("notice")
    h.snap("welcome-after")
    obs["state_after_finish"] = h.ui.session.state.value
    obs["screens"] = h.screens
    obs["states"] = [tr.target.value for tr in s.history]
    obs["calls"] = h.wf.calls
    return obs


def scenario_cancel(h: Harness) -> dict[str, Any]:
    obs: dict[str, Any] = {}
    to_checklist(h, obs)
    h.tap("start_capture")
    h.wait(lambda: h.ui.sm.current == "capture", "capture screen")
    h.tap("shutter")
    h.idle_ui()
    s = h.ui.session
    obs["files_before"] = len(list(s.work_dir.iterdir()))
    obs["cancel_text"] = h.text("cancel")
    work_dir = s.work_dir
    h.tap("cancel")
    h.wait(lambda: h.ui.sm.current == "welcome", "welcome after cancel")
    obs["end_reason"] = s.end_reason.value if s.end_reason else None
    obs["work_dir_after"] = work_dir.exists()
    obs["submitter_after"] = s.submitter
    obs["papers_after"] = len(s.papers)
    obs["notice"] = h.text("notice")
    obs["new_state"] = h.ui.session.state.value
    obs["sessions"] = len(h.wf.sessions)
    obs["screens"] = h.screens
    h.tap("start")
    obs["restart_state"] = h.ui.session.state.value
    obs["restart_sessions"] = len(h.wf.sessions)
    obs["restart_notice"] = h.has("notice")
    return obs


def scenario_timeout(h: Harness) -> dict[str, Any]:
    obs: dict[str, Any] = {}
    to_identify(h)
    s = h.ui.session
    h.clock.advance(59)
    h.pump(10)
    obs["overlay_at_59"] = h.ui.timeout_overlay.visible
    h.clock.advance(2)
    h.wait(lambda: h.ui.timeout_overlay.visible, "timeout warning")
    obs["warning_text"] = h.text("timeout_text")
    h.snap("timeout")
    # a touch anywhere dismisses the warning, counts as activity and does nothing else
    h.tap_at(640, 400)
    obs["overlay_after_touch"] = h.ui.timeout_overlay.visible
    obs["state_after_touch"] = s.state.value
    obs["number_after_touch"] = h.ui.screens["identify"].number
    h.clock.advance(61)
    h.wait(lambda: h.ui.timeout_overlay.visible, "second warning")
    h.clock.advance(20)
    h.wait(lambda: h.text("timeout_text") == t("session.timeout_warning", seconds=9), "countdown")
    obs["countdown_text"] = h.text("timeout_text")
    work_dir = s.work_dir
    obs["work_dir_before"] = work_dir.exists()
    h.clock.advance(10)
    h.wait(lambda: h.ui.sm.current == "welcome", "welcome after wipe")
    obs["overlay_after_wipe"] = h.ui.timeout_overlay.visible
    obs["end_reason"] = s.end_reason.value if s.end_reason else None
    obs["work_dir_after"] = work_dir.exists()
    obs["notice"] = h.text("notice")
    obs["new_state"] = h.ui.session.state.value
    return obs


def scenario_language(h: Harness) -> dict[str, Any]:
    obs: dict[str, Any] = {}
    obs["vi_title"] = h.text("title")
    obs["vi_language_button"] = h.text("language")
    h.tap("language")
    obs["en_title"] = h.text("title")
    obs["en_language_button"] = h.text("language")
    obs["en_start"] = h.text("start")
    to_identify(h)
    obs["en_cancel"] = h.text("cancel")
    identify_manually(h, "1234")
    h.tap("identify_next")
    obs["en_error"] = h.text("error")
    h.snap("identify-en")
    h.tap("language")
    obs["vi_after_switch_title"] = h.text("title")
    obs["number_kept"] = h.ui.screens["identify"].number
    # the card reader and the card's QR code: nothing read, then a card
    h.tap("read_card")
    h.idle_ui()
    obs["card_error"] = h.text("error")
    h.tap("scan_qr")
    h.idle_ui()
    obs["qr_error"] = h.text("error")
    obs["qr_calls"] = h.wf.calls.count("identify_from_qr") > 0
    h.wf.qr_party = Party(Identifier(IdKind.CCCD, "079095001234"), "NGUYỄN THỊ MAI", source=IdSource.CARD_QR)
    h.tap("scan_qr")
    h.idle_ui()
    h.wait(lambda: h.ui.sm.current == "procedure", "procedure after QR")
    sub = h.ui.session.submitter
    obs["qr_submitter"] = [sub.full_name, sub.source.value] if sub else None
    h.tap("cancel")
    # the outbox is full: no new session
    h.wf.accepting = (False, "outbox.quota_full")
    h.tap("start")
    obs["not_accepting_error"] = h.text("error")
    obs["not_accepting_state"] = h.ui.session.state.value
    h.wf.accepting = (True, "")
    h.tap("start")
    h.wait(lambda: h.ui.sm.current == "identify", "identify again")
    h.wf.card_party = Party(
        Identifier(IdKind.CCCD, "001203009876"), "TRẦN THỊ BÌNH", source=IdSource.CHIP_MRZ
    )
    h.tap("read_card")
    h.idle_ui()
    h.wait(lambda: h.ui.sm.current == "procedure", "procedure after card")
    sub = h.ui.session.submitter
    obs["card_submitter"] = [sub.full_name, sub.source.value] if sub else None
    obs["labels_procedure"] = h.labels()
    return obs


def scenario_staff(h: Harness) -> dict[str, Any]:
    obs: dict[str, Any] = {}
    h.tap("staff")
    obs["screen"] = h.ui.sm.current
    obs["unlock_disabled_empty"] = h.disabled("staff_unlock")
    h.type_keys("111111")
    obs["dots"] = h.text("pin_dots")
    h.tap("staff_unlock")
    obs["wrong_pin"] = h.text("error")
    h.snap("staff-pin")
    h.type_keys("246810")
    h.tap("staff_unlock")
    h.idle_ui()
    obs["device_status"] = [h.text("device_0_status"), h.text("device_1_status")]
    obs["outbox"] = [h.text(f"outbox_{k}") for k in ("queued", "sent", "queued_mb", "accepting_new_sessions")]
    h.snap("staff")
    obs["calls"] = list(h.wf.calls)
    obs["labels"] = h.labels()
    h.tap("staff_exit")
    obs["screen_after_exit"] = h.ui.sm.current
    obs["unlocked_after_exit"] = h.ui.screens["staff"].unlocked
    return obs


def scenario_real_workflow(h: Harness) -> dict[str, Any]:
    """The screens on the real kiosk.workflow.Workflow with the simulated devices (camera playing
    synthetic pages, simulated ID reader, file printer) and the real catalogue: identify, search,
    checklist, live preview with real assessments, one still through the real vision pipeline, cancel."""
    obs: dict[str, Any] = {}
    to_identify(h)
    identify_manually(h, "079095001234")
    h.tap("identify_next")
    h.wait(lambda: h.ui.sm.current == "procedure", "procedure screen")
    h.type_keys("khai sinh")
    obs["results"] = [h.text(f"procedure_{i}") for i in range(3) if h.has(f"procedure_{i}")]
    h.tap("procedure_0")
    if h.has("case_0"):
        obs["first_case"] = h.text("case_0")
        h.tap("case_0")
    h.wait(lambda: h.ui.sm.current == "checklist", "checklist screen")
    s = h.ui.session
    obs["procedure_code"] = s.procedure_code
    obs["papers"] = len(s.papers)
    h.tap("start_capture")
    h.wait(lambda: h.ui.sm.current == "capture", "capture screen")
    capture = h.ui.screens["capture"]
    preview = h.w("preview")
    h.wait(lambda: preview.frames_shown >= 5, "5 preview frames", limit_s=30)
    obs["frame_size"] = list(preview.frame_size)
    obs["hint_key"] = capture.hint_key
    if s.progress[0] == 0 and not h.ui.busy:
        h.tap("shutter")
    h.wait(lambda: not h.ui.busy and (s.progress[0] >= 1 or h.has("error")), "the still", limit_s=60)
    obs["progress"] = list(s.progress)
    obs["error"] = h.text("error") if h.has("error") else None
    obs["images"] = len([p for p in s.work_dir.iterdir()]) if s.work_dir.exists() else 0
    work_dir = s.work_dir
    h.tap("cancel")
    obs["state_after_cancel"] = h.ui.session.state.value
    obs["work_dir_after"] = work_dir.exists()
    return obs


def held_desk(h: Harness, count: int, papers: list[float]) -> tuple[Any, list[str]]:
    """A real outbox holding ``count`` real packages (with ``papers``, see ``build_template``) held for
    staff review, behind a real ReviewDesk given to the workflow. Returns (outbox, submission ids)."""
    import uuid

    from kiosk.config import from_dict
    from kiosk.queue.fixtures import build_template, clone_package
    from kiosk.queue.outbox import Outbox
    from kiosk.staffreview import ReviewDesk

    cfg = from_dict({"paths": {"data_dir": str(h.out / "desk")}, "terminal": {"id": "KIOSK-UI-TEST"},
                     "outbox": {"min_free_mb": 16}})
    template = build_template(cfg, h.out / "template", papers=papers)
    outbox = Outbox(cfg.data_dir / "outbox", cfg)
    sids = []
    for _ in range(count):
        sid = uuid.uuid4().hex
        outbox.enqueue(clone_package(template, h.out / "pkgs" / sid, sid, cfg), hold=True)
        sids.append(sid)
    h.wf.desk = ReviewDesk(cfg, outbox)
    h.wf.outbox = outbox  # the staff screen's outbox counters come from the real outbox too
    return outbox, sids


def unlock_staff(h: Harness) -> None:
    h.tap("staff")
    h.type_keys("246810")
    h.tap("staff_unlock")
    h.idle_ui()


def scenario_staff_review(h: Harness) -> dict[str, Any]:
    """The review desk on the staff screen over a real outbox holding two real packages: open one (its
    pages shown), confirm it; open the other, return it with a reason; both end up queued for sending."""
    outbox, sids = held_desk(h, 2, [0.02, 0.02])
    obs: dict[str, Any] = {"sids": sids}
    unlock_staff(h)
    obs["held_rows"] = [h.text(f"held_{i}_text") for i in range(2)]
    obs["outbox_held"] = h.text("outbox_held")
    h.tap("review_open_0")
    h.idle_ui()
    obs["summary"] = h.text("review_summary")
    obs["papers"] = [h.text("review_paper_0"), h.text("review_paper_1")]
    pages = ("review_page_0_0", "review_page_1_0", "review_page_1_1")
    obs["page_widgets"] = sorted(n for n in pages if h.has(n))
    obs["decrypted_while_open"] = len(list((h.out / "desk" / "review").rglob("*.png")))
    h.snap("staff-review")
    h.tap("review_page_1_0")  # the officer looks at a page large, then goes back
    obs["zoomed"] = h.has("review_zoom") and not h.has("review_confirm")
    h.snap("staff-review-zoom")
    h.tap("review_unzoom")
    obs["unzoomed"] = h.has("review_page_1_0") and h.has("review_confirm")
    h.tap("review_confirm")
    h.idle_ui()
    obs["notice_confirm"] = h.text("review_notice")
    obs["held_after_confirm"] = [h.text("held_0_text")] if h.has("held_0_text") else []
    h.tap("review_open_0")
    h.idle_ui()
    h.tap("review_return")
    obs["reason_prompt"] = h.text("review_reason_prompt")
    obs["confirm_still_there"] = h.has("review_confirm")
    h.tap("reason_unreadable")
    obs["reason_chosen"] = h.text("review_reason_chosen")
    h.type_keys("trang 2 mơ")
    h.tap("tone_grave")  # "MỜ" (blurred): the officer writes Vietnamese with the tone keys
    obs["note"] = h.text("review_note")
    h.snap("staff-review-note")
    h.tap("review_return_confirm")
    h.idle_ui()
    obs["notice_return"] = h.text("review_notice")
    obs["review_none"] = h.text("review_none")
    obs["states"] = [e.state for e in (outbox.get(s) for s in sids) if e is not None]
    returned = outbox.extract_package(sids[1], h.out / "returned")
    manifest = json.loads((returned / "manifest.json").read_text("utf-8"))
    obs["returned_reason"] = manifest["staff_review"]["reason"]
    obs["issued_before"] = h.text("issued_none")
    # the back end answers (R15): a dossier code for the confirmed one, none for the returned one
    for sid, code in ((sids[0], "000.00.00.H00-261126-0001"), (sids[1], None)):
        outbox.mark_sending(sid)
        outbox.mark_sent(sid)
        entry = outbox.get(sid)
        assert entry is not None
        receipt = {"v": 1, "type": "receipt", "submission_id": sid, "terminal_id": "KIOSK-UI-TEST",
                   "sha256": entry.sha256, "status": "stored", "received_at": "2026-11-26T09:00:00+07:00",
                   "receiver": "receiver-1"}
        if code:
            receipt["dossier_code"] = code
        outbox.record_receipt(receipt)
    h.tap("staff_refresh")
    h.idle_ui()
    obs["issued"] = [h.text(f"issued_{i}_text") for i in range(3) if h.has(f"issued_{i}_text")]
    h.tap("issued_print_0")
    h.idle_ui()
    obs["notice_print"] = h.text("review_notice")
    h.snap("staff-issued")
    h.tap("staff_exit")
    obs["calls"] = [c for c in h.wf.calls
                    if "review" in c or c == "held_submissions" or c.startswith("print")]
    obs["decrypted_after"] = len(list((h.out / "desk" / "review").rglob("*")))
    outbox.close()
    return obs


def scenario_staff_review_token(h: Harness) -> dict[str, Any]:
    """Officers sign with their own token: confirming asks for its PIN; a wrong PIN is refused with the
    reason on screen and nothing is decided; the right one signs."""
    outbox, (sid,) = held_desk(h, 1, [0.02])
    h.wf.needs_pin = True
    obs: dict[str, Any] = {}
    unlock_staff(h)
    h.tap("review_open_0")
    h.idle_ui()
    h.tap("review_confirm")
    obs["prompt"] = h.text("review_pin_prompt")
    obs["sign_disabled_empty"] = h.disabled("review_sign")
    h.type_keys("1111")
    obs["dots"] = h.text("review_pin_dots")
    h.tap("review_sign")
    h.idle_ui()
    obs["wrong_pin_error"] = h.text("error")
    obs["state_after_wrong"] = outbox.get(sid).state  # type: ignore[union-attr]
    obs["still_asking"] = h.has("review_pin_dots") and h.text("review_pin_dots") == ""
    h.snap("staff-review-pin")
    h.type_keys("4321")
    h.tap("review_sign")
    h.idle_ui()
    obs["notice"] = h.text("review_notice")
    obs["state_after"] = outbox.get(sid).state  # type: ignore[union-attr]
    obs["calls"] = [c for c in h.wf.calls if c.startswith("confirm_review")]
    h.tap("staff_exit")
    outbox.close()
    return obs


SCENARIOS: dict[str, tuple[Callable[[Harness], dict[str, Any]], dict[str, Any]]] = {
    "happy_path": (scenario_happy_path, {}),
    "cancel": (scenario_cancel, {}),
    "timeout": (scenario_timeout, {}),
    "language": (scenario_language, {}),
    "staff": (scenario_staff, {"staff_pin": "246810"}),
    "staff_review": (scenario_staff_review, {"staff_pin": "246810"}),
    "staff_review_token": (scenario_staff_review_token, {"staff_pin": "246810"}),
    "real_workflow": (scenario_real_workflow, {"real": True}),
}


def main(argv: list[str]) -> int:
    name, out = argv[1], Path(argv[2])
    out.mkdir(parents=True, exist_ok=True)
    fn, opts = SCENARIOS[name]
    pin = opts.get("staff_pin")
    EventLoop.ensure_window()
    EventLoop.start()
    h = Harness(
        out, staff_pin=StaffPin.create(pin, iterations=1000) if pin else None, real=bool(opts.get("real"))
    )
    try:
        obs = fn(h)
        result: dict[str, Any] = {"ok": True, "obs": obs}
    except Exception as exc:
        result = {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "trace": traceback.format_exc(),
            "screen": h.ui.sm.current,
            "labels": h.labels(),
        }
    finally:
        h.ui.stop()
        if h.devices is not None:
            h.devices.stop()
    print("UI-RESULT " + json.dumps(result, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
