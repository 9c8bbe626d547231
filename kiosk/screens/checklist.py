"""Checklist: the required papers of the chosen procedure and case (R2), and how each will be handled.

Per paper: its name and why it is digitised (R4 class); "already on file" papers are not captured (R3);
an on-request paper shows its fee and is captured only when the citizen accepts it; the citizen can
change the number of sheets within the catalogue's range (R6 page count). Everything is read from and
written to the session (``declare_sheets``, ``opt_in``, ``back_to_procedures``, ``start_capture``).
"""

from __future__ import annotations

from functools import partial

from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.core.session import PaperPlan
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.fmt import format_vnd
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height


class ChecklistScreen(KioskScreen):
    screen_name = "checklist"
    title_key = "ui.checklist_title"

    def _sheets(self, paper: PaperPlan, delta: int) -> None:
        self.ui.act(self.ui.session.declare_sheets, paper.component_id, paper.sheets + delta)

    def _opt(self, paper: PaperPlan, accept: bool) -> None:
        self.ui.act(self.ui.session.opt_in, paper.component_id, accept)

    def _back(self) -> None:
        self.ui.act(self.ui.session.back_to_procedures)

    def _start(self) -> None:
        self.ui.act(self.ui.session.start_capture)

    # --------------------------------------------------------------- layout
    def body(self) -> Widget:
        s = self.ui.session
        col = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        col.add_widget(
            KLabel(
                self.t("ui.procedure_item", code=s.procedure_code or "", name=s.procedure_name or ""),
                size=theme.FONT_LARGE,
                color=theme.TEXT_MUTED,
                name="procedure",
            )
        )
        scroll = ScrollView(do_scroll_x=False)
        inner = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        fit_height(inner)
        for i, paper in enumerate(s.papers):
            inner.add_widget(self._row(i, paper))
        scroll.add_widget(inner)
        col.add_widget(scroll)
        sides = sum(p.sheets * (2 if p.both_sides else 1) for p in s.papers if p.to_capture)
        summary = self.t("ui.checklist_summary", papers=sum(1 for p in s.papers if p.to_capture), sides=sides)
        if s.fee_total_vnd:
            summary += " " + self.t("ui.fee_total", fee=format_vnd(s.fee_total_vnd))
        col.add_widget(KLabel(summary, size=theme.FONT_BODY, bold=True, name="summary"))
        return col

    def _row(self, i: int, paper: PaperPlan) -> Widget:
        row = Panel(
            orientation="horizontal",
            size_hint_y=None,
            height=dp(96),
            padding=[dp(16), dp(10)],
            name=f"paper_{i}",
        )
        text = BoxLayout(orientation="vertical", spacing=dp(2))
        fit_height(text)
        text.add_widget(
            KLabel(
                self.t("ui.numbered", number=i + 1, text=paper.name),
                size=theme.FONT_LARGE,
                bold=True,
                name=f"paper_{i}_name",
            )
        )
        if paper.on_file:
            status = self.t("ui.on_file")
        elif paper.on_request and not paper.opted_in:
            status = self.t("ui.on_request_offer", fee=format_vnd(paper.fee_vnd))
        else:
            status = self.t("ui.sides_both" if paper.both_sides else "ui.sides_front")
        text.add_widget(
            KLabel(
                self.t(f"ui.class_{paper.digitisation_class.value}"),
                size=theme.FONT_SMALL,
                color=theme.TEXT_MUTED,
                name=f"paper_{i}_class",
            )
        )
        text.add_widget(KLabel(status, size=theme.FONT_SMALL, name=f"paper_{i}_status"))
        holder = AnchorLayout(anchor_y="center")
        holder.add_widget(text)
        row.add_widget(holder)
        text.bind(height=lambda _w, h: setattr(row, "height", max(dp(96), h + dp(20))))
        controls = BoxLayout(size_hint=(None, None), width=dp(330), height=dp(theme.BUTTON_H), spacing=dp(8))
        if paper.on_request and not paper.on_file:
            if paper.opted_in:
                controls.add_widget(self._stepper(i, paper, width=200))
                controls.add_widget(
                    KButton(
                        self.t("ui.opt_out"),
                        partial(self._opt, paper, False),
                        kind="secondary",
                        font=theme.FONT_SMALL,
                        name=f"paper_{i}_opt_out",
                    )
                )
            else:
                controls.add_widget(Widget())
                controls.add_widget(
                    KButton(
                        self.t("ui.opt_in", fee=format_vnd(paper.fee_vnd)),
                        partial(self._opt, paper, True),
                        kind="primary",
                        font=theme.FONT_SMALL,
                        name=f"paper_{i}_opt_in",
                        size_hint_x=None,
                        width=dp(220),
                    )
                )
        elif paper.to_capture:
            controls.add_widget(Widget())
            controls.add_widget(self._stepper(i, paper, width=300))
        centre = AnchorLayout(size_hint_x=None, width=dp(330))
        centre.add_widget(controls)
        row.add_widget(centre)
        return row

    def _stepper(self, i: int, paper: PaperPlan, *, width: float) -> Widget:
        box = BoxLayout(size_hint_x=None, width=dp(width), spacing=dp(4))
        box.add_widget(
            KButton(
                "−",
                partial(self._sheets, paper, -1),
                kind="secondary",
                font=theme.FONT_TITLE,
                name=f"paper_{i}_less",
                disabled=paper.sheets <= paper.min_sheets,
                size_hint_x=None,
                width=dp(72),
            )
        )
        box.add_widget(
            KLabel(
                self.t("ui.sheets", sheets=paper.sheets),
                size=theme.FONT_BODY,
                halign="center",
                fixed_height=theme.BUTTON_H,
                name=f"paper_{i}_sheets",
            )
        )
        box.add_widget(
            KButton(
                "+",
                partial(self._sheets, paper, +1),
                kind="secondary",
                font=theme.FONT_TITLE,
                name=f"paper_{i}_more",
                disabled=paper.sheets >= paper.max_sheets,
                size_hint_x=None,
                width=dp(72),
            )
        )
        return box

    def actions(self) -> list[Widget]:
        return [
            KButton(
                self.t("common.back"),
                self._back,
                kind="secondary",
                name="back",
                size_hint_x=None,
                width=dp(220),
            ),
            KButton(
                self.t("ui.start_capture"),
                self._start,
                kind="success",
                name="start_capture",
                size_hint_x=None,
                width=dp(300),
            ),
        ]
