"""Confirm data: the fields read from the forms (R5); the low-confidence ones must be confirmed or corrected.

Each low-confidence field shows "Đúng" (correct as read) and "Sửa" (edit on the on-screen keyboard, with
Vietnamese letters and tone keys). The Confirm button is enabled when every low-confidence field has
been confirmed or corrected; it calls ``session.confirm_data(corrections)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.messages import catalogue
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.widgets import KButton, KLabel, Panel, TextKeyboard, fit_height, paint

FieldRef = tuple[str, str]  # (component id, field name)


class ConfirmScreen(KioskScreen):
    screen_name = "confirm"
    title_key = "ui.confirm_title"

    def __init__(self, ui: Any, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self.corrections: dict[str, dict[str, str]] = {}
        self.accepted: set[FieldRef] = set()
        self.editing: FieldRef | None = None
        self.edit_text = ""

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.corrections, self.accepted, self.editing, self.edit_text = {}, set(), None, ""

    # --------------------------------------------------------------- state helpers
    def value(self, ref: FieldRef) -> str:
        cid, name = ref
        if name in self.corrections.get(cid, {}):
            return self.corrections[cid][name]
        return self.ui.session.extracted.get(cid, {}).get(name, "")

    def pending(self) -> list[FieldRef]:
        """Low-confidence fields not yet confirmed or corrected."""
        s = self.ui.session
        out: list[FieldRef] = []
        for cid, names in s.low_confidence.items():
            for name in sorted(names):
                ref = (cid, name)
                if ref not in self.accepted and name not in self.corrections.get(cid, {}):
                    out.append(ref)
        return out

    def field_label(self, name: str) -> str:
        key = f"ui.field_{name}"
        return self.t(key) if key in catalogue() else name

    # --------------------------------------------------------------- actions
    def _accept(self, ref: FieldRef) -> None:
        self.ui.touch()
        self.accepted.add(ref)
        self.render()

    def _edit(self, ref: FieldRef) -> None:
        self.ui.touch()
        self.editing = ref
        self.edit_text = self.value(ref)
        self.render()

    def _get(self) -> str:
        return self.edit_text

    def _set(self, text: str) -> None:
        self.ui.touch()
        self.edit_text = text
        if self.editor_label is not None:
            self.editor_label.text = text

    def _save(self) -> None:
        if self.editing is not None:
            cid, name = self.editing
            self.corrections.setdefault(cid, {})[name] = self.edit_text.strip()
            self.accepted.add(self.editing)
        self.editing = None
        self.render()

    def _discard(self) -> None:
        self.editing = None
        self.render()

    def _confirm(self) -> None:
        self.ui.act(self.ui.session.confirm_data, {cid: dict(f) for cid, f in self.corrections.items() if f})

    # --------------------------------------------------------------- layout
    editor_label: KLabel | None = None

    def body(self) -> Widget:
        s = self.ui.session
        row = BoxLayout(spacing=dp(16))
        scroll = ScrollView(do_scroll_x=False, size_hint_x=0.45 if self.editing else 1.0)
        col = BoxLayout(orientation="vertical", spacing=dp(8))
        fit_height(col)
        names = {p.component_id: p.name for p in s.papers}
        any_field = False
        for cid, fields in s.extracted.items():
            if not fields:
                continue
            any_field = True
            col.add_widget(KLabel(names.get(cid, cid), size=theme.FONT_LARGE, bold=True))
            low = s.low_confidence.get(cid, set())
            for name in fields:
                col.add_widget(self._field_row((cid, name), name in low))
        if not any_field:
            col.add_widget(KLabel(self.t("ui.no_data_to_confirm"), color=theme.TEXT_MUTED, name="no_data"))
        scroll.add_widget(col)
        row.add_widget(scroll)
        self.editor_label = None
        if self.editing is not None:
            row.add_widget(self._editor())
        return row

    def _field_row(self, ref: FieldRef, low: bool) -> Widget:
        cid, name = ref
        tag = f"{cid}.{name}"
        panel = Panel(
            orientation="horizontal",
            size_hint_y=None,
            height=dp(96),
            padding=[dp(12), dp(8)],
            color=theme.WARNING_BG if low and ref in self.pending() else theme.SURFACE,
            name=f"field_{tag}",
        )
        text = BoxLayout(orientation="vertical")
        text.add_widget(KLabel(self.field_label(name), size=theme.FONT_SMALL, color=theme.TEXT_MUTED))
        text.add_widget(KLabel(self.value(ref), size=theme.FONT_BODY, bold=True, name=f"value_{tag}"))
        panel.add_widget(text)
        if low:
            buttons = BoxLayout(size_hint_x=None, width=dp(300), spacing=dp(8))
            if ref in self.accepted or name in self.corrections.get(cid, {}):
                buttons.add_widget(KLabel(self.t("ui.field_confirmed"), color=theme.SUCCESS, fixed_height=72))
                buttons.add_widget(
                    KButton(
                        self.t("ui.edit"),
                        partial(self._edit, ref),
                        kind="secondary",
                        height=theme.BUTTON_H_SMALL,
                        name=f"edit_{tag}",
                    )
                )
            else:
                buttons.add_widget(
                    KButton(
                        self.t("ui.correct"),
                        partial(self._accept, ref),
                        kind="primary",
                        height=theme.BUTTON_H_SMALL,
                        name=f"accept_{tag}",
                    )
                )
                buttons.add_widget(
                    KButton(
                        self.t("ui.edit"),
                        partial(self._edit, ref),
                        kind="secondary",
                        height=theme.BUTTON_H_SMALL,
                        name=f"edit_{tag}",
                    )
                )
            panel.add_widget(buttons)
        return panel

    def _editor(self) -> Widget:
        assert self.editing is not None
        panel = Panel(size_hint_x=0.55, spacing=dp(8))
        panel.add_widget(KLabel(self.field_label(self.editing[1]), size=theme.FONT_BODY, bold=True))
        self.editor_label = KLabel(self.edit_text, size=theme.FONT_LARGE, fixed_height=64, name="edit_text")
        paint(self.editor_label, theme.BACKGROUND)
        panel.add_widget(self.editor_label)
        panel.add_widget(TextKeyboard(self._get, self._set, lang=self.ui.lang, key_height=52))
        buttons = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_H_SMALL), spacing=dp(8))
        buttons.add_widget(
            KButton(
                self.t("common.back"),
                self._discard,
                kind="secondary",
                height=theme.BUTTON_H_SMALL,
                name="edit_discard",
            )
        )
        buttons.add_widget(
            KButton(
                self.t("ui.save"), self._save, kind="primary", height=theme.BUTTON_H_SMALL, name="edit_save"
            )
        )
        panel.add_widget(buttons)
        panel.add_widget(Widget())
        return panel

    def actions(self) -> list[Widget]:
        return [
            KButton(
                self.t("ui.confirm_data"),
                self._confirm,
                kind="success",
                name="confirm_data",
                size_hint_x=None,
                width=dp(340),
                disabled=bool(self.pending()) or self.editing is not None,
            )
        ]
