"""Capture: live camera preview with the page outline and hints, auto-capture, shutter and retake (R6).

A Clock event at ``KioskUI.preview_fps`` (about 12 fps) takes the latest preview frame and its
assessment from the workflow (the camera delivers frames on its own thread, so this never blocks),
draws the frame with the detected page outline (green when the frame is good, red otherwise), shows
the hint for the first reason (``capture.<reason>``) and the auto-capture progress. When auto-capture
is complete, or on the Chụp button, ``Workflow.capture_step()`` takes the still on a worker thread.

Everything else comes from the session: the step label ("Tờ 1/2 – mặt trước"), the progress, the
blank-back question while ``session.pending_blank`` is set, and the sticky-note prompt while the current
step is the "without note" capture.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
from kivy.clock import Clock
from kivy.graphics import Color, Line, Rectangle
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.widget import Widget

from kiosk.core.dossier_model import CaptureVariant, Side
from kiosk.core.session import CaptureStep, State
from kiosk.messages import catalogue
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.layout import fit_rect, map_corners
from kiosk.screens.ports import AssessmentLike, CaptureOutcomeLike
from kiosk.screens.widgets import Bar, KButton, KLabel, Panel, Ring, fit_height, paint
from kiosk.vision.assess import Assessment
from kiosk.vision.autocapture import AutoCapture

MAX_PREVIEW_WIDTH = 960  # frames are scaled down to this width before upload (bandwidth on the Pi)


class PreviewView(Widget):
    """Draws a BGR frame (aspect kept, letterboxed) and the page outline over it."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.name = "preview"
        self.texture: Texture | None = None
        self.frame_size = (0, 0)
        self.corners: Any = None
        self.ok = False
        self.frames_shown = 0
        paint(self, theme.PREVIEW_BG)
        with self.canvas:
            self._img_color = Color(1, 1, 1, 1)
            self._rect = Rectangle(pos=self.pos, size=(0, 0))
            self._line_color = Color(*theme.OUTLINE_BAD)
            self._line = Line(points=[], width=dp(theme.OUTLINE_WIDTH), close=True)
        self.bind(pos=self._layout, size=self._layout)

    def show(self, frame_bgr: np.ndarray, corners: Any, ok: bool) -> None:
        frame = frame_bgr
        if frame.ndim == 2:
            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        h, w = frame.shape[:2]
        if w > MAX_PREVIEW_WIDTH:
            scale = MAX_PREVIEW_WIDTH / w
            frame = cv2.resize(
                frame, (MAX_PREVIEW_WIDTH, max(round(h * scale), 1)), interpolation=cv2.INTER_AREA
            )
            corners = None if corners is None else [[x * scale, y * scale] for x, y in corners]
        frame = np.ascontiguousarray(frame, dtype=np.uint8)
        h, w = frame.shape[:2]
        if self.texture is None or self.texture.size != (w, h):
            self.texture = Texture.create(size=(w, h), colorfmt="bgr", bufferfmt="ubyte")
            self.texture.flip_vertical()
            self._rect.texture = self.texture
        self.texture.blit_buffer(frame.tobytes(), colorfmt="bgr", bufferfmt="ubyte")
        self.frame_size = (w, h)
        self.corners = corners
        self.ok = ok
        self.frames_shown += 1
        self._layout()
        self.canvas.ask_update()

    def _layout(self, *_: Any) -> None:
        rect = fit_rect(self.frame_size, (self.x, self.y, self.width, self.height))
        self._rect.pos = rect[:2]
        self._rect.size = rect[2:]
        self._line_color.rgba = theme.OUTLINE_OK if self.ok else theme.OUTLINE_BAD
        if self.corners is not None and self.frame_size[0] > 0:
            self._line.points = map_corners(self.corners, self.frame_size, rect)
        else:
            self._line.points = []


class CaptureScreen(KioskScreen):
    screen_name = "capture"
    title_key = "ui.capture_title"

    def __init__(self, ui: Any, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self._event: Any = None
        self.preview: PreviewView | None = None
        self.hint: KLabel | None = None
        self.ring: Ring | None = None
        self.hint_key = ""
        self.shot_step: CaptureStep | None = None  # the step of the last still (for the blank question)
        self.auto = AutoCapture(window=ui.autocapture_frames)
        self.last_corners: Any = None
        self.auto_shots = 0

    # --------------------------------------------------------------- live preview
    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.hint_key = ""
        self.shot_step = None
        self.auto.reset()
        if self._event is None:
            self._event = Clock.schedule_interval(lambda _dt: self.preview_tick(), 1.0 / self.ui.preview_fps)

    def on_leave_state(self) -> None:
        if self._event is not None:
            self._event.cancel()
            self._event = None

    def reason_text(self, reason: str) -> str:
        key = f"capture.{reason}"
        return self.t(key) if key in catalogue() else self.t("ui.capture_rejected")

    def preview_tick(self) -> None:
        """One preview frame: draw it with the outline, show the hint, advance auto-capture."""
        ui = self.ui
        s = ui.session
        if ui.busy or s.state != State.CAPTURE or s.current_step is None or self.preview is None:
            return
        frame, assessment = ui.workflow.assess_preview()
        self.show_assessment(frame, assessment)

    def show_assessment(self, frame: Any, assessment: AssessmentLike | None) -> None:
        """Draw one preview frame with its outline and hint, and advance auto-capture."""
        if self.preview is None:
            return
        if frame is None:
            self._set_hint("ui.camera_waiting", ok=False)
            return
        image = frame.image if hasattr(frame, "image") else frame
        ok = bool(assessment is not None and assessment.ok)
        corners = assessment.corners if assessment is not None else None
        self.last_corners = corners
        self.preview.show(image, corners, ok)
        if assessment is None:
            self._set_hint("ui.place_paper", ok=False)
        elif not ok:
            reasons = list(assessment.reasons)
            self._set_hint(f"capture.{reasons[0]}" if reasons else "ui.place_paper", ok=False)
        else:
            self._set_hint("capture.hold_still", ok=True)
        # the UI takes any assessment-like object (a test double or kiosk.vision.assess.Assessment)
        state = self.auto.update(cast(Assessment, assessment)) if assessment is not None else None
        progress = state.progress if state is not None else 0.0
        if self.ring is not None:
            self.ring.set(progress)
        if state is not None and state.fire:
            self.auto_shots += 1
            self.shoot(force=False)

    def _set_hint(self, key: str, *, ok: bool) -> None:
        if self.hint is None:
            return
        self.hint_key = key
        self.hint.text = self.t(key) if key in catalogue() else self.t("ui.capture_rejected")
        self.hint.color = theme.SUCCESS if ok else theme.ERROR_TEXT

    # --------------------------------------------------------------- actions
    def shoot(self, force: bool = True) -> None:
        """Take the still for the current step on a worker thread. The shutter button forces it (the
        citizen decided); auto-capture does not (a frame that fails the assessment is not captured)."""
        ui = self.ui
        if ui.busy or ui.session.current_step is None:
            return
        self.shot_step = ui.session.current_step
        self.auto.captured(self.last_corners)
        ui.run_async(lambda: ui.workflow.capture_step(force=force), self._captured, busy_key="ui.capturing")

    def _captured(self, outcome: CaptureOutcomeLike | None) -> None:
        self.error_text = ""
        if outcome is not None and not outcome.accepted:
            self.auto.reset()
            reasons = list(outcome.reasons)
            self.error_text = (
                self.t("ui.capture_again", reason=self.reason_text(reasons[0]))
                if reasons
                else self.t("ui.capture_rejected")
            )

    def _retake(self) -> None:
        self.error_text = ""
        self.ui.act(self.ui.session.retake)

    def _blank(self, is_blank: bool) -> None:
        self.error_text = ""
        self.ui.act(self.ui.session.confirm_blank, is_blank)

    # --------------------------------------------------------------- layout
    def step_text(self, step: CaptureStep) -> str:
        s = self.ui.session
        paper = s.papers[step.paper_index]
        side = self.t("ui.side_front" if step.side == Side.FRONT else "ui.side_back")
        text = self.t("ui.capture_step", sheet=step.page_no, sheets=paper.sheets, side=side)
        if step.variant == CaptureVariant.WITH_NOTE:
            text += " " + self.t("ui.variant_with_note")
        elif step.variant == CaptureVariant.WITHOUT_NOTE:
            text += " " + self.t("ui.variant_without_note")
        return text

    def body(self) -> Widget:
        s = self.ui.session
        row = BoxLayout(spacing=dp(16))
        pending = s.pending_blank
        step = s.current_step
        self.hint = None
        self.ring = None
        if pending is not None:
            self.preview = None
            holder = AnchorLayout()
            paint(holder, theme.PREVIEW_BG)
            image = Image(source=str(Path(pending.image_path)), nocache=True, fit_mode="contain")
            image.name = "pending_image"
            holder.add_widget(image)
            row.add_widget(holder)
        else:
            self.preview = PreviewView(size_hint_x=0.64)
            row.add_widget(self.preview)
        panel = Panel(size_hint_x=0.36 if pending is None else 0.45, spacing=dp(8))
        done, total = s.progress
        shown = step if step is not None else self.shot_step
        if shown is not None:
            panel.add_widget(
                KLabel(s.papers[shown.paper_index].name, size=theme.FONT_BODY, bold=True, name="paper_name")
            )
            panel.add_widget(KLabel(self.step_text(shown), size=theme.FONT_LARGE, name="step_label"))
        panel.add_widget(
            KLabel(
                self.t("ui.capture_progress", done=done, total=total),
                size=theme.FONT_SMALL,
                color=theme.TEXT_MUTED,
                name="progress_label",
            )
        )
        bar = Bar()
        bar.set(done / total if total else 0.0)
        panel.add_widget(bar)
        if pending is not None:
            question = KLabel(self.t("ui.blank_back_question"), size=theme.FONT_LARGE, name="blank_question")
            paint(question, theme.WARNING_BG)
            panel.add_widget(question)
            panel.add_widget(Widget())
            panel.add_widget(
                KButton(self.t("ui.blank_yes"), lambda: self._blank(True), kind="primary", name="blank_yes")
            )
            panel.add_widget(
                KButton(self.t("ui.blank_no"), lambda: self._blank(False), kind="secondary", name="blank_no")
            )
            row.add_widget(panel)
            return row
        if step is not None and step.variant == CaptureVariant.WITHOUT_NOTE:
            sticky = KLabel(self.t("ui.sticky_remove"), size=theme.FONT_BODY, name="sticky_prompt")
            paint(sticky, theme.WARNING_BG)
            panel.add_widget(sticky)
        # the live hint next to the auto-capture ring
        hint_row = BoxLayout(size_hint_y=None, height=dp(72), spacing=dp(12))
        self.ring = Ring(diameter=64)
        self.ring.name = "autocapture_ring"
        ring_box = AnchorLayout(size_hint_x=None, width=dp(64))
        ring_box.add_widget(self.ring)
        hint_row.add_widget(ring_box)
        hint_text = BoxLayout(orientation="vertical", spacing=dp(2))
        fit_height(hint_text)
        self.hint = KLabel("", size=theme.FONT_BODY, bold=True, name="hint")
        hint_text.add_widget(self.hint)
        hint_text.add_widget(KLabel(self.t("ui.autocapture"), size=theme.FONT_SMALL, color=theme.TEXT_MUTED))
        hint_text.bind(height=lambda _w, h: setattr(hint_row, "height", max(dp(72), h)))
        hint_row.add_widget(hint_text)
        panel.add_widget(hint_row)
        self._set_hint(self.hint_key or "ui.place_paper", ok=self.hint_key == "capture.hold_still")
        panel.add_widget(Widget())
        buttons = BoxLayout(size_hint_y=None, height=dp(88), spacing=dp(8))
        buttons.add_widget(
            KButton(
                self.t("ui.retake"),
                self._retake,
                kind="secondary",
                height=88,
                name="retake",
                size_hint_x=0.4,
                disabled=done == 0,
            )
        )
        buttons.add_widget(
            KButton(
                self.t("ui.shutter"),
                partial(self.shoot, True),
                kind="success",
                height=88,
                font=theme.FONT_TITLE,
                name="shutter",
                size_hint_x=0.6,
                disabled=step is None,
            )
        )
        panel.add_widget(buttons)
        row.add_widget(panel)
        return row
