"""Identify: read the chip ID card (MRZ reader), or type the identifier on the on-screen keypad (R1).

Manual entry covers the 12-digit personal ID number (CCCD, with an optional date of birth that is
checked against the number's century and year digits) and an organisation's tax code (10 digits, or
``NNNNNNNNNN-NNN`` for a branch). Foreigners use the passport reader (the MRZ reader reads TD3 too).
Validation is the core's (``kiosk.core.identifiers`` via ``Workflow.identify_manual``); its Vietnamese
message is shown as is.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.widget import Widget

from kiosk.core.applicant import IdKind, Party
from kiosk.core.session import State
from kiosk.errors import KioskError
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.fmt import format_date_digits, group_digits, parse_date_digits
from kiosk.screens.widgets import KButton, Keypad, KLabel, Panel, paint

QR_POLL_S = 0.1
MANUAL_KINDS = (IdKind.CCCD, IdKind.TAX_CODE)
MAX_LEN = {IdKind.CCCD: 12, IdKind.TAX_CODE: 14}


class IdentifyScreen(KioskScreen):
    screen_name = "identify"
    title_key = "ui.identify_title"

    def __init__(self, ui: Any, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self.kind = IdKind.CCCD
        self.number = ""
        self.birth = ""
        self.field = "number"  # which field the keypad types into: number or birth
        self.field_buttons: dict[str, KButton] = {}
        self.next_button: KButton | None = None

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.kind, self.number, self.birth, self.field = IdKind.CCCD, "", "", "number"

    # --------------------------------------------------------------- input
    def _key(self, ch: str) -> None:
        had_error = bool(self.error_text)
        self.error_text = ""
        if self.field == "birth":
            if ch == "\b":
                self.birth = self.birth[:-1]
            elif ch.isdigit() and len(self.birth) < 8:
                self.birth += ch
        else:
            if ch == "\b":
                self.number = self.number[:-1]
            elif len(self.number) < MAX_LEN[self.kind]:
                self.number += ch
        if had_error or not self._refresh_fields():
            self.render()

    def _refresh_fields(self) -> bool:
        """Show the typed values without rebuilding the keypad; False when the widgets are not built."""
        buttons = self.field_buttons
        if "number" not in buttons or self.next_button is None:
            return False
        values = {"number": group_digits(self.number, self.kind), "birth": format_date_digits(self.birth)}
        hints = {"number": "ui.tap_to_type", "birth": "ui.birth_hint"}
        for name, btn in buttons.items():
            focused = self.field == name
            btn.text = values[name] or self.t(hints[name])
            btn.color = theme.TEXT_ON_DARK if focused else (theme.TEXT if values[name] else theme.TEXT_MUTED)
        self.next_button.disabled = not self.number
        return True

    def _set_kind(self, kind: IdKind) -> None:
        self.kind, self.number, self.birth, self.field, self.error_text = kind, "", "", "number", ""
        self.render()

    def _focus(self, field: str) -> None:
        self.field = field
        self.render()

    def _clear(self) -> None:
        if self.field == "birth":
            self.birth = ""
        else:
            self.number = ""
        self.error_text = ""
        self.render()

    # --------------------------------------------------------------- actions
    def _submit_manual(self) -> None:
        ui = self.ui
        ui.touch()
        try:
            birth = parse_date_digits(self.birth) if self.birth else None
            party = ui.workflow.identify_manual(self.number, kind=self.kind.value, birth_date=birth)
        except KioskError as exc:
            self.show_error(exc.message(ui.lang))
            return
        self._identified(party)

    def _identified(self, party: Party) -> None:
        if self.ui.session.state == State.IDENTIFY:
            self.ui.workflow.identify(party)
        self.ui.sync()

    def _read_card(self) -> None:
        ui = self.ui

        def done(party: Party | None) -> None:
            if party is None:
                self.error_text = self.t("ui.card_not_read")
                return
            self._identified(party)

        ui.run_async(
            lambda: ui.workflow.read_id(ui.read_id_timeout_s),
            done,
            busy_key="ui.reading_card",
            seconds=int(ui.read_id_timeout_s),
        )

    def _scan_qr(self) -> None:
        """The QR code on the front of the CCCD, read by the document camera (R1)."""
        ui = self.ui
        wf = ui.workflow

        def scan() -> Party | None:
            deadline = time.monotonic() + ui.read_id_timeout_s
            while True:
                frame, _assessment = wf.assess_preview()
                if frame is not None:
                    party = wf.identify_from_qr(frame.image if hasattr(frame, "image") else frame)
                    if party is not None:
                        return party
                if time.monotonic() >= deadline:
                    return None
                time.sleep(QR_POLL_S)

        def done(party: Party | None) -> None:
            if party is None:
                self.error_text = self.t("ui.qr_not_read")
                return
            self._identified(party)

        ui.run_async(scan, done, busy_key="ui.scanning_qr", seconds=int(ui.read_id_timeout_s))

    # --------------------------------------------------------------- layout
    def _field(self, name: str, label_key: str, value: str, hint_key: str) -> Widget:
        box = BoxLayout(orientation="vertical", size_hint_y=None, height=dp(124), spacing=dp(4))
        box.add_widget(KLabel(self.t(label_key), size=theme.FONT_BODY, fixed_height=34))
        focused = self.field == name
        btn = KButton(
            value or self.t(hint_key),
            lambda: self._focus(name),
            kind="primary" if focused else "secondary",
            height=80,
            font=theme.FONT_TITLE,
            name=f"field_{name}",
        )
        if not value:
            btn.color = theme.TEXT_ON_DARK if focused else theme.TEXT_MUTED
        self.field_buttons[name] = btn
        box.add_widget(btn)
        return box

    def body(self) -> Widget:
        self.field_buttons = {}
        row = BoxLayout(spacing=dp(24))
        # left: the card reader
        left = Panel(size_hint_x=0.42)
        left.add_widget(KLabel(self.t("ui.card_reader_title"), size=theme.FONT_LARGE, bold=True))
        left.add_widget(KLabel(self.t("ui.card_reader_hint"), size=theme.FONT_BODY))
        left.add_widget(Widget())
        left.add_widget(
            KButton(self.t("ui.read_card"), self._read_card, kind="primary", height=88, name="read_card")
        )
        left.add_widget(KLabel(self.t("ui.qr_hint"), size=theme.FONT_SMALL, color=theme.TEXT_MUTED))
        left.add_widget(
            KButton(self.t("ui.scan_qr"), self._scan_qr, kind="secondary", height=72, name="scan_qr")
        )
        row.add_widget(left)
        # right: manual entry
        right = Panel(size_hint_x=0.58, spacing=dp(8))
        kinds = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_H_SMALL), spacing=dp(8))
        for kind in MANUAL_KINDS:
            kinds.add_widget(
                KButton(
                    self.t(f"ui.kind_{kind.value}"),
                    partial(self._set_kind, kind),
                    kind="primary" if kind == self.kind else "secondary",
                    height=theme.BUTTON_H_SMALL,
                    font=theme.FONT_BODY,
                    name=f"kind_{kind.value}",
                )
            )
        right.add_widget(kinds)
        fields = BoxLayout(size_hint_y=None, height=dp(124), spacing=dp(12))
        fields.add_widget(
            self._field(
                "number",
                f"ui.number_label_{self.kind.value}",
                group_digits(self.number, self.kind),
                "ui.tap_to_type",
            )
        )
        if self.kind == IdKind.CCCD:
            fields.add_widget(
                self._field("birth", "ui.birth_label", format_date_digits(self.birth), "ui.birth_hint")
            )
        right.add_widget(fields)
        pad_row = BoxLayout(spacing=dp(12), size_hint_y=None)
        pad = Keypad(
            self._key, lang=self.ui.lang, extra="-" if self.kind == IdKind.TAX_CODE else "", key_height=58
        )
        pad_row.height = pad.height
        pad_row.add_widget(pad)
        side = BoxLayout(orientation="vertical", spacing=dp(8), size_hint_x=0.45)
        side.add_widget(KButton(self.t("ui.clear"), self._clear, kind="secondary", height=58, name="clear"))
        side.add_widget(Widget())
        self.next_button = KButton(
            self.t("common.next"),
            self._submit_manual,
            kind="success",
            height=96,
            name="identify_next",
            disabled=not self.number,
        )
        side.add_widget(self.next_button)
        pad_row.add_widget(side)
        right.add_widget(pad_row)
        right.add_widget(Widget())
        row.add_widget(right)
        paint(row, theme.BACKGROUND)
        return row
