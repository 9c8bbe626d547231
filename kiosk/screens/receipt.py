"""Submit (seal and queue the dossier, on a worker thread) and the receipt.

The submit screen starts ``Workflow.submit()`` when it is entered and offers "Thử lại" when it fails
(the session stays at ``submit``). The receipt screen shows the submission code, the receipt lines and
the printed receipt's image (with its QR code, R15); "Hoàn tất" ends the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.widget import Widget

from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height


class SubmitScreen(KioskScreen):
    screen_name = "submit"
    title_key = "ui.submit_title"

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self._start()

    def _start(self) -> None:
        """Seal and queue the dossier; the workflow records the submission (state ``receipt``)."""
        ui = self.ui
        self.error_text = ""

        def done(outcome: Any) -> None:
            ui.last_submit = outcome

        ui.run_async(ui.workflow.submit, done, busy_key="ui.submitting")

    def body(self) -> Widget:
        anchor = AnchorLayout()
        key = "ui.submit_failed" if self.error_text else "ui.submitting"
        anchor.add_widget(KLabel(self.t(key), size=theme.FONT_LARGE, halign="center", name="submit_status"))
        return anchor

    def actions(self) -> list[Widget]:
        if not self.error_text:
            return []
        return [
            KButton(
                self.t("ui.retry"), self._start, kind="primary", name="retry", size_hint_x=None, width=dp(260)
            )
        ]


class ReceiptScreen(KioskScreen):
    screen_name = "receipt"
    title_key = "ui.receipt_title"
    cancellable = False  # the dossier is already sent: "Hủy" would promise what it cannot do

    def _finish(self) -> None:
        self.ui.act(self.ui.session.finish)

    def body(self) -> Widget:
        ui = self.ui
        outcome = ui.last_submit
        row = BoxLayout(spacing=dp(24))
        info = Panel()
        fit_height(info)
        info.add_widget(
            KLabel(
                self.t("ui.receipt_done"),
                size=theme.FONT_LARGE,
                bold=True,
                color=theme.SUCCESS,
                name="receipt_done",
            )
        )
        code = str(getattr(outcome, "short_code", "") or "") if outcome is not None else ""
        if not code:
            code = (ui.session.receipt or {}).get("short_code", "") or ui.session.submission_id or ""
        info.add_widget(
            KLabel(
                self.t("ui.submission_code", code=code),
                size=theme.FONT_TITLE,
                bold=True,
                name="submission_code",
            )
        )
        receipt = getattr(outcome, "receipt", None) if outcome is not None else None
        for i, (label, value) in enumerate(getattr(receipt, "lines", ()) or ()):
            text = self.t("ui.field_value", field=label, value=value) if label else str(value)
            info.add_widget(KLabel(text, size=theme.FONT_BODY, name=f"receipt_line_{i}"))
        info.add_widget(KLabel(self.t("ui.receipt_hint"), size=theme.FONT_SMALL, color=theme.TEXT_MUTED))
        holder = BoxLayout(orientation="vertical")
        holder.add_widget(info)
        holder.add_widget(Widget())
        row.add_widget(holder)
        path = getattr(outcome, "receipt_image_path", None) if outcome is not None else None
        if path is not None and Path(path).is_file():
            img = Image(source=str(path), nocache=True, fit_mode="contain", size_hint_x=0.45)
            img.name = "receipt_image"
            row.add_widget(img)
        return row

    def actions(self) -> list[Widget]:
        return [
            KButton(
                self.t("ui.finish"),
                self._finish,
                kind="success",
                name="finish",
                size_hint_x=None,
                width=dp(300),
            )
        ]
