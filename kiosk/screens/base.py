"""The common frame of every screen: a title, a body, and a footer with Cancel and the screen's actions.

Screens are thin views: ``render()`` rebuilds the widgets from the session (the one source of truth)
and the buttons call session or workflow methods through the controller, which then re-renders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import Screen
from kivy.uix.widget import Widget

from kiosk.screens import theme
from kiosk.screens.widgets import KButton, KLabel, find, paint

if TYPE_CHECKING:
    from kiosk.screens.app import KioskUI


class KioskScreen(Screen):
    """Base class. Subclasses set ``screen_name`` and ``title_key`` and implement ``body()``;
    ``actions()`` gives the footer's buttons (right side); Cancel is added on the left unless
    ``cancellable`` is False."""

    screen_name = ""
    title_key = ""
    cancellable = True

    def __init__(self, ui: KioskUI, **kw: Any) -> None:
        super().__init__(name=self.screen_name, **kw)
        self.ui = ui
        paint(self, theme.BACKGROUND)
        self.error_text = ""

    # --------------------------------------------------------------- helpers for subclasses
    def t(self, key: str, **params: Any) -> str:
        return self.ui.t(key, **params)

    def title(self) -> str:
        return self.t(self.title_key)

    def body(self) -> Widget:
        raise NotImplementedError

    def actions(self) -> list[Widget]:
        return []

    def on_enter_state(self) -> None:
        """Called when the controller switches to this screen (before ``render``)."""
        self.error_text = ""

    def on_leave_state(self) -> None:
        """Called when the controller switches away from this screen."""

    def show_error(self, text: str) -> None:
        self.error_text = text
        self.render()

    def widget(self, name: str) -> Widget | None:
        return find(self, name)

    # --------------------------------------------------------------- layout
    def render(self) -> None:
        self.clear_widgets()
        outer = BoxLayout(orientation="vertical", padding=[dp(theme.PADDING)] * 4, spacing=dp(theme.SPACING))
        outer.add_widget(KLabel(self.title(), size=theme.FONT_TITLE, bold=True, name="title"))
        if self.error_text:
            err = KLabel(self.error_text, size=theme.FONT_BODY, color=theme.ERROR_TEXT, name="error")
            paint(err, theme.WARNING_BG)
            outer.add_widget(err)
        outer.add_widget(self.body())
        footer = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_H), spacing=dp(theme.SPACING))
        if self.cancellable:
            footer.add_widget(
                KButton(
                    self.t("common.cancel"),
                    self.ui.cancel,
                    kind="danger",
                    name="cancel",
                    size_hint_x=None,
                    width=dp(200),
                )
            )
        footer.add_widget(Widget())
        for action in self.actions():
            footer.add_widget(action)
        outer.add_widget(footer)
        self.add_widget(outer)
