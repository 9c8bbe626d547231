"""The staff (maintenance) screen: PIN-protected view of device health and the outbox.

Reached from a small button on the welcome screen, only while no citizen session is running. The PIN is
checked against the stored hash (``kiosk.screens.pin``); without a PIN the screen stays locked. After
``MAX_FAILURES`` wrong PINs the keypad is locked for ``LOCKOUT_S`` seconds; the staff mode ends by itself
after a period without touches (``KioskUI.staff_idle_s``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.messages import catalogue
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.pin import LOCKOUT_S, MAX_FAILURES, PIN_MAX, PIN_MIN
from kiosk.screens.status import device_status, outbox_status
from kiosk.screens.widgets import KButton, Keypad, KLabel, Panel, fit_height

if TYPE_CHECKING:
    from kiosk.screens.app import KioskUI


class StaffScreen(KioskScreen):
    screen_name = "staff"
    title_key = "ui.staff_title"
    cancellable = False

    def __init__(self, ui: KioskUI, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self.unlocked = False
        self.pin = ""
        self.failures = 0
        self.locked_until = 0.0
        self.devices: list[dict[str, Any]] | None = None
        self.outbox: dict[str, Any] | None = None

    def lock(self) -> None:
        self.unlocked = False
        self.pin = ""
        self.devices = None
        self.outbox = None

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.pin = ""

    # --------------------------------------------------------------- PIN entry
    def _key(self, ch: str) -> None:
        if ch == "\b":
            self.pin = self.pin[:-1]
        elif len(self.pin) < PIN_MAX:
            self.pin += ch
        dots, unlock = self.widget("pin_dots"), self.widget("staff_unlock")
        if dots is None or unlock is None or self.error_text:
            self.error_text = ""
            self.render()
            return
        dots.text = "•" * len(self.pin)
        unlock.disabled = len(self.pin) < PIN_MIN

    def _unlock(self) -> None:
        ui = self.ui
        now = ui.clock()
        if now < self.locked_until:
            self.show_error(self.t("ui.staff_locked_out", seconds=int(self.locked_until - now) + 1))
            return
        stored = ui.staff_pin
        if stored is not None and stored.verify(self.pin):
            self.unlocked = True
            self.failures = 0
            self.pin = ""
            self.error_text = ""
            self.refresh()
            return
        self.pin = ""
        self.failures += 1
        if self.failures >= MAX_FAILURES:
            self.failures = 0
            self.locked_until = now + LOCKOUT_S
            self.show_error(self.t("ui.staff_locked_out", seconds=int(LOCKOUT_S)))
        else:
            self.show_error(self.t("ui.staff_wrong_pin"))

    # --------------------------------------------------------------- status
    def refresh(self) -> None:
        wf = self.ui.workflow

        def query() -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return device_status(wf), outbox_status(wf)

        def done(result: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
            self.devices, self.outbox = result

        self.ui.run_async(query, done, busy_key="ui.staff_loading")

    def _exit(self) -> None:
        self.ui.exit_staff()

    # --------------------------------------------------------------- layout
    def body(self) -> Widget:
        if not self.unlocked:
            return self._pin_body()
        return self._status_body()

    def _pin_body(self) -> Widget:
        anchor = AnchorLayout(anchor_y="top")
        col = Panel(size_hint=(None, None), width=dp(520))
        if self.ui.staff_pin is None:
            col.add_widget(KLabel(self.t("ui.staff_no_pin"), name="staff_no_pin"))
        else:
            col.add_widget(KLabel(self.t("ui.staff_enter_pin"), name="staff_prompt"))
            col.add_widget(
                KLabel(
                    "•" * len(self.pin),
                    size=theme.FONT_TITLE,
                    halign="center",
                    fixed_height=56,
                    name="pin_dots",
                )
            )
            col.add_widget(Keypad(self._key, lang=self.ui.lang))
        fit_height(col)
        anchor.add_widget(col)
        return anchor

    def _status_body(self) -> Widget:
        scroll = ScrollView(do_scroll_x=False)
        col = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        fit_height(col)
        col.add_widget(KLabel(self.t("ui.staff_devices"), size=theme.FONT_LARGE, bold=True))
        for i, dev in enumerate(self.devices or []):
            col.add_widget(self._device_row(i, dev))
        col.add_widget(KLabel(self.t("ui.staff_outbox"), size=theme.FONT_LARGE, bold=True))
        panel = Panel()
        fit_height(panel)
        for key, value in (self.outbox or {}).items():
            shown = self.t(value) if isinstance(value, str) and value in catalogue() else self._fmt(value)
            panel.add_widget(
                KLabel(
                    self.t("ui.field_value", field=self._label("outbox", key), value=shown),
                    name=f"outbox_{key}",
                )
            )
        col.add_widget(panel)
        scroll.add_widget(col)
        return scroll

    def _label(self, prefix: str, key: str) -> str:
        """The catalogue's name for a field or status (``ui.<prefix>_<key>``), else the key itself."""
        msg = f"ui.{prefix}_{key}"
        return self.t(msg) if msg in catalogue() else key

    def _device_row(self, index: int, dev: dict[str, Any]) -> Widget:
        """One device: its name, its status in words (green when working), and the other fields
        (kind, backend, checks) as diagnostics."""
        panel = Panel(orientation="horizontal", size_hint_y=None, height=dp(72), name=f"device_{index}")
        status = str(dev.get("status", ""))
        ok = bool(dev.get("ok", status == "ok"))
        name = str(dev.get("device") or dev.get("name") or dev.get("kind") or index + 1)
        text = (
            self._label("device_status", status)
            if status
            else self.t("ui.staff_ok" if ok else "ui.staff_fault")
        )
        panel.add_widget(KLabel(self._label("device", name), bold=True, size_hint_x=0.22))
        panel.add_widget(
            KLabel(
                text,
                color=theme.SUCCESS if ok else theme.ERROR_TEXT,
                size_hint_x=0.3,
                name=f"device_{index}_status",
            )
        )
        hidden = {"device", "name", "ok", "status", "message", "message_key"}
        details = ", ".join(f"{k}: {self._fmt(v)}" for k, v in dev.items() if k not in hidden)
        detail_label = KLabel(details, size=theme.FONT_SMALL, color=theme.TEXT_MUTED, size_hint_x=0.48)
        panel.add_widget(detail_label)
        detail_label.bind(height=lambda _w, h: setattr(panel, "height", max(dp(72), h + dp(32))))
        return panel

    def _fmt(self, value: Any) -> str:
        if isinstance(value, bool):
            return self.t("ui.yes") if value else self.t("ui.no")
        if isinstance(value, float):
            return f"{value:.2f}"
        if isinstance(value, dict):
            return "; ".join(f"{k}={self._fmt(v)}" for k, v in value.items())
        return str(value)

    def actions(self) -> list[Widget]:
        buttons: list[Widget] = []
        if self.unlocked:
            buttons.append(
                KButton(
                    self.t("ui.staff_refresh"),
                    self.refresh,
                    kind="secondary",
                    name="staff_refresh",
                    size_hint_x=None,
                    width=dp(220),
                )
            )
        elif self.ui.staff_pin is not None:
            buttons.append(
                KButton(
                    self.t("ui.staff_unlock"),
                    self._unlock,
                    kind="primary",
                    name="staff_unlock",
                    size_hint_x=None,
                    width=dp(220),
                    disabled=len(self.pin) < PIN_MIN,
                )
            )
        buttons.append(
            KButton(
                self.t("ui.staff_exit"),
                self._exit,
                kind="danger",
                name="staff_exit",
                size_hint_x=None,
                width=dp(260),
            )
        )
        return buttons
