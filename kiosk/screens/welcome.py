"""Welcome: what the kiosk does, a big Start button, and the staff entry in a corner."""

from __future__ import annotations

from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height, paint

STEP_KEYS = (
    "ui.welcome_step_identify",
    "ui.welcome_step_procedure",
    "ui.welcome_step_capture",
    "ui.welcome_step_send",
)


class WelcomeScreen(KioskScreen):
    screen_name = "welcome"
    title_key = "ui.welcome_title"
    cancellable = False  # nothing to cancel before the session starts

    def _start(self) -> None:
        self.ui.start_session()

    def body(self) -> Widget:
        col = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        if self.ui.notice_key:
            notice = KLabel(self.t(self.ui.notice_key), size=theme.FONT_LARGE, name="notice")
            paint(notice, theme.WARNING_BG)
            col.add_widget(notice)
        if self.ui.agency_name:
            col.add_widget(
                KLabel(self.ui.agency_name, size=theme.FONT_LARGE, color=theme.TEXT_MUTED, name="agency")
            )
        steps = Panel()
        fit_height(steps)
        steps.add_widget(KLabel(self.t("ui.welcome_intro"), size=theme.FONT_LARGE))
        for i, key in enumerate(STEP_KEYS, 1):
            steps.add_widget(KLabel(self.t("ui.numbered", number=i, text=self.t(key)), size=theme.FONT_BODY))
        col.add_widget(steps)
        anchor = AnchorLayout()
        anchor.add_widget(
            KButton(
                self.t("ui.start"),
                self._start,
                kind="success",
                height=110,
                font=theme.FONT_TITLE,
                name="start",
                size_hint_x=None,
                width=dp(520),
            )
        )
        col.add_widget(anchor)
        return col

    def actions(self) -> list[Widget]:
        return [
            KButton(
                self.t("ui.staff_entry"),
                self.ui.enter_staff,
                kind="secondary",
                name="staff",
                height=theme.BUTTON_H_SMALL,
                font=theme.FONT_SMALL,
                size_hint_x=None,
                width=dp(180),
            )
        ]
