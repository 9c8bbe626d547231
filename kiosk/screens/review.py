"""Review: every captured image, paper by paper, in order, before the data is read (R6).

Thumbnails are decoded on a worker thread when the screen is entered. "Chụp lại ảnh cuối" discards the
last image and goes back to capture; "Tiếp tục" runs OCR and extraction (``Workflow.extract``) on a worker
thread and moves on to the data confirmation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.core.dossier_model import CaptureVariant, PageCapture, Side
from kiosk.core.session import State
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height

THUMB_MAX = (160, 220)  # width, height in px


def load_thumbnail(path: Path, max_size: tuple[int, int] = THUMB_MAX) -> np.ndarray | None:
    """A small BGR copy of the image at ``path`` (None when it cannot be read)."""
    image = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_2)
    if image is None:
        return None
    h, w = image.shape[:2]
    scale = min(max_size[0] / w, max_size[1] / h, 1.0)
    if scale < 1.0:
        image = cv2.resize(
            image, (max(int(w * scale), 1), max(int(h * scale), 1)), interpolation=cv2.INTER_AREA
        )
    return np.ascontiguousarray(image)


def texture_from_bgr(image: np.ndarray) -> Texture:
    h, w = image.shape[:2]
    tex = Texture.create(size=(w, h), colorfmt="bgr", bufferfmt="ubyte")
    tex.flip_vertical()
    tex.blit_buffer(image.tobytes(), colorfmt="bgr", bufferfmt="ubyte")
    return tex


class ReviewScreen(KioskScreen):
    screen_name = "review"
    title_key = "ui.review_title"

    def __init__(self, ui: Any, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self.thumbs: dict[str, np.ndarray | None] = {}

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.thumbs = {}
        s = self.ui.session
        paths = [Path(c.image_path) for i in range(len(s.papers)) for c in s.captures_for(i)]
        if not paths:
            return

        def load() -> dict[str, np.ndarray | None]:
            return {str(p): load_thumbnail(p) for p in paths}

        def done(result: dict[str, np.ndarray | None]) -> None:
            self.thumbs = result

        self.ui.run_async(load, done, busy_key="ui.preparing_review")

    def _retake(self) -> None:
        self.ui.act(self.ui.session.retake)

    def _next(self) -> None:
        ui = self.ui

        def done(_result: Any) -> None:
            if ui.session.state == State.REVIEW:
                ui.session.review_ok()

        ui.run_async(ui.workflow.extract, done, busy_key="ui.reading_data")

    # --------------------------------------------------------------- layout
    def caption(self, cap: PageCapture) -> str:
        side = self.t("ui.side_front" if cap.side == Side.FRONT else "ui.side_back")
        text = self.t("ui.thumb_caption", sheet=cap.page_no, side=side)
        if cap.variant == CaptureVariant.WITH_NOTE:
            text += "\n" + self.t("ui.variant_with_note")
        elif cap.variant == CaptureVariant.WITHOUT_NOTE:
            text += "\n" + self.t("ui.variant_without_note")
        if cap.blank_confirmed:
            text += "\n" + self.t("ui.blank_confirmed")
        return text

    def body(self) -> Widget:
        s = self.ui.session
        scroll = ScrollView(do_scroll_x=False)
        col = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        fit_height(col)
        for i, paper in enumerate(s.papers):
            panel = Panel(name=f"review_paper_{i}")
            fit_height(panel)
            caps = s.captures_for(i)
            panel.add_widget(
                KLabel(self.t("ui.numbered", number=i + 1, text=paper.name), size=theme.FONT_LARGE, bold=True)
            )
            if paper.on_file:
                status = self.t("ui.on_file")
            elif not paper.to_capture:
                status = self.t("ui.not_digitised")
            else:
                status = self.t("ui.review_count", images=len(caps), sheets=paper.sheets)
            panel.add_widget(
                KLabel(status, size=theme.FONT_BODY, color=theme.TEXT_MUTED, name=f"review_status_{i}")
            )
            if caps:
                strip = ScrollView(do_scroll_y=False, size_hint_y=None, height=dp(THUMB_MAX[1] + 90))
                row = BoxLayout(spacing=dp(12), size_hint_x=None)
                row.bind(minimum_width=row.setter("width"))
                for j, cap in enumerate(caps):
                    cell = BoxLayout(
                        orientation="vertical",
                        size_hint=(None, None),
                        size=(dp(THUMB_MAX[0]), dp(THUMB_MAX[1] + 86)),
                        spacing=dp(4),
                    )
                    thumb = self.thumbs.get(str(cap.image_path))
                    img = Image(fit_mode="contain", size_hint_y=None, height=dp(THUMB_MAX[1]))
                    if thumb is not None:
                        img.texture = texture_from_bgr(thumb)
                    img.name = f"thumb_{i}_{j}"
                    cell.add_widget(img)
                    cell.add_widget(KLabel(self.caption(cap), size=theme.FONT_SMALL - 2, halign="center"))
                    row.add_widget(cell)
                strip.add_widget(row)
                panel.add_widget(strip)
            col.add_widget(panel)
        scroll.add_widget(col)
        return scroll

    def actions(self) -> list[Widget]:
        done, _total = self.ui.session.progress
        return [
            KButton(
                self.t("ui.retake_last"),
                self._retake,
                kind="secondary",
                name="retake_last",
                size_hint_x=None,
                width=dp(300),
                disabled=done == 0,
            ),
            KButton(
                self.t("common.next"),
                self._next,
                kind="success",
                name="review_next",
                size_hint_x=None,
                width=dp(260),
            ),
        ]
