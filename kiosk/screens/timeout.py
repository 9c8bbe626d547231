"""The inactivity warning shown over any screen: "Phiên làm việc sẽ kết thúc sau {seconds} giây...".

The controller shows it when ``session.tick()`` reports a warning and hides it on the next touch (that
touch does nothing else) or when the session is wiped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.floatlayout import FloatLayout

from kiosk.screens import theme
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height, paint

if TYPE_CHECKING:
    from kiosk.screens.app import KioskUI


class TimeoutOverlay(FloatLayout):
    def __init__(self, ui: KioskUI) -> None:
        super().__init__()
        self.ui = ui
        self.seconds = 0
        paint(self, theme.SCRIM)
        anchor = AnchorLayout()
        self.panel = Panel(size_hint=(None, None), width=dp(820), padding=dp(24))
        fit_height(self.panel)
        self.label = KLabel("", size=theme.FONT_LARGE, halign="center", name="timeout_text")
        self.button = KButton("", ui.touch, kind="primary", name="timeout_continue")
        self.panel.add_widget(self.label)
        self.panel.add_widget(self.button)
        anchor.add_widget(self.panel)
        self.add_widget(anchor)

    @property
    def visible(self) -> bool:
        return self.parent is not None

    def refresh(self) -> None:
        self.label.text = self.ui.t("session.timeout_warning", seconds=self.seconds)
        self.button.text = self.ui.t("ui.continue_session")

    def show(self, seconds: int) -> None:
        self.seconds = max(int(seconds), 0)
        self.refresh()
        if self.parent is None:
            self.ui.root.add_widget(self)

    def hide(self) -> None:
        if self.parent is not None:
            self.parent.remove_widget(self)

    def on_touch_down(self, touch: Any) -> bool:
        # the root has already recorded the activity; the overlay only swallows the touch
        return True
