"""Consent: explicit, per purpose, never pre-ticked (Decree 13/2023). Shows the fee of on-request papers.

The purposes are the session's (``REQUIRED_PURPOSES`` and ``OPTIONAL_PURPOSES``); the session refuses
to go on without the required ones and its message is shown.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.core.session import OPTIONAL_PURPOSES, REQUIRED_PURPOSES
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.fmt import format_vnd
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height


class ConsentScreen(KioskScreen):
    screen_name = "consent"
    title_key = "ui.consent_title"

    def __init__(self, ui: Any, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self.choices: dict[str, bool] = {}

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.choices = {p: False for p in (*REQUIRED_PURPOSES, *OPTIONAL_PURPOSES)}

    def _toggle(self, purpose: str) -> None:
        self.ui.touch()
        self.choices[purpose] = not self.choices.get(purpose, False)
        self.error_text = ""
        self.render()

    def _send(self) -> None:
        self.ui.act(self.ui.session.give_consent, dict(self.choices))

    def body(self) -> Widget:
        s = self.ui.session
        scroll = ScrollView(do_scroll_x=False)
        col = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        fit_height(col)
        col.add_widget(KLabel(self.t("ui.consent_intro"), size=theme.FONT_BODY))
        for purpose in (*REQUIRED_PURPOSES, *OPTIONAL_PURPOSES):
            row = Panel(orientation="horizontal", size_hint_y=None, height=dp(120), name=f"purpose_{purpose}")
            text = BoxLayout(orientation="vertical")
            text.add_widget(KLabel(self.t(f"ui.purpose_{purpose}"), size=theme.FONT_BODY, bold=True))
            need = "ui.purpose_required" if purpose in REQUIRED_PURPOSES else "ui.purpose_optional"
            text.add_widget(KLabel(self.t(need), size=theme.FONT_SMALL, color=theme.TEXT_MUTED))
            row.add_widget(text)
            on = self.choices.get(purpose, False)
            row.add_widget(
                KButton(
                    self.t("ui.agreed" if on else "ui.not_agreed"),
                    partial(self._toggle, purpose),
                    kind="success" if on else "secondary",
                    name=f"consent_{purpose}",
                    size_hint_x=None,
                    width=dp(260),
                )
            )
            col.add_widget(row)
        if s.fee_total_vnd:
            col.add_widget(
                KLabel(
                    self.t("ui.fee_total", fee=format_vnd(s.fee_total_vnd)),
                    size=theme.FONT_LARGE,
                    bold=True,
                    name="fee",
                )
            )
        scroll.add_widget(col)
        return scroll

    def actions(self) -> list[Widget]:
        return [
            KButton(
                self.t("ui.send"), self._send, kind="success", name="send", size_hint_x=None, width=dp(340)
            )
        ]
