"""Choose the procedure (TTHC) and its case (trường hợp): search as you type on the on-screen keyboard.

The list shows what ``Workflow.search_procedures(query)`` returns (the catalogue's search; an empty
query lists the procedures offered at this kiosk). A procedure with several cases asks for the case.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.ports import ProcedureLike
from kiosk.screens.widgets import KButton, KLabel, Panel, TextKeyboard, fit_height

MAX_RESULTS = 30


def display_name(obj: Any, lang: str) -> str:
    """The catalogue's name for ``obj`` (procedure or case) in ``lang``: English when the catalogue has
    it, else Vietnamese (without the leading "Thủ tục" when the catalogue offers ``short_name``)."""
    if lang == "en" and getattr(obj, "name_en", None):
        return str(obj.name_en)
    return str(getattr(obj, "short_name", None) or getattr(obj, "name", None) or case_id(obj))


def case_id(case: Any) -> str:
    return str(getattr(case, "id", None) or getattr(case, "case_id", ""))


class ProcedureScreen(KioskScreen):
    screen_name = "procedure"
    title_key = "ui.procedure_title"

    def __init__(self, ui: Any, **kw: Any) -> None:
        super().__init__(ui, **kw)
        self.query = ""
        self.results: list[ProcedureLike] = []
        self.selected: ProcedureLike | None = None  # a procedure whose case is being chosen
        self.query_label: KLabel | None = None
        self.result_box: BoxLayout | None = None

    def on_enter_state(self) -> None:
        super().on_enter_state()
        self.query = ""
        self.selected = None
        self._search()

    def _search(self) -> None:
        self.results = list(self.ui.workflow.search_procedures(self.query))[:MAX_RESULTS]

    def _get_query(self) -> str:
        return self.query

    def _set_query(self, text: str) -> None:
        """A key was typed: search again and refresh only the query and the result list (the keyboard
        stays as it is; rebuilding it on every key would make typing sluggish on the Pi)."""
        self.ui.touch()
        self.query = text
        self.selected = None
        self._search()
        if self.query_label is None or self.result_box is None:
            self.render()
            return
        self.query_label.text = self.query or self.t("ui.search_hint")
        self.query_label.color = theme.TEXT if self.query else theme.TEXT_MUTED
        self._fill_results(self.result_box)

    def _pick(self, procedure: Any) -> None:
        cases = list(getattr(procedure, "cases", []) or [])
        if len(cases) == 1:
            self._choose(procedure, cases[0])
            return
        self.selected = procedure
        self.render()

    def _choose(self, procedure: Any, case: Any) -> None:
        self.ui.act(self.ui.workflow.choose, procedure.code, case_id(case))

    def _unselect(self) -> None:
        self.selected = None
        self.render()

    # --------------------------------------------------------------- layout
    def body(self) -> Widget:
        row = BoxLayout(spacing=dp(16))
        left = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING), size_hint_x=0.5)
        self.query_label = None
        self.result_box = None
        if self.selected is None:
            query = Panel(size_hint_y=None, height=dp(76), padding=[dp(16), dp(8)])
            self.query_label = KLabel(
                self.query or self.t("ui.search_hint"),
                size=theme.FONT_LARGE,
                color=theme.TEXT if self.query else theme.TEXT_MUTED,
                fixed_height=56,
                name="query",
            )
            query.add_widget(self.query_label)
            left.add_widget(query)
            left.add_widget(self._result_list())
        else:
            left.add_widget(self._case_list())
        row.add_widget(left)
        if self.selected is None:
            kb = TextKeyboard(self._get_query, self._set_query, lang=self.ui.lang)
            holder = BoxLayout(orientation="vertical", size_hint_x=0.5)
            holder.add_widget(kb)
            holder.add_widget(Widget())
            row.add_widget(holder)
        return row

    def _result_list(self) -> Widget:
        scroll = ScrollView(do_scroll_x=False)
        col = BoxLayout(orientation="vertical", spacing=dp(8))
        fit_height(col)
        self.result_box = col
        self._fill_results(col)
        scroll.add_widget(col)
        return scroll

    def _fill_results(self, col: BoxLayout) -> None:
        col.clear_widgets()
        if not self.results:
            key = "ui.no_results" if self.query.strip() else "ui.search_prompt"
            col.add_widget(KLabel(self.t(key), color=theme.TEXT_MUTED, name="no_results"))
        for i, proc in enumerate(self.results):
            btn = KButton(
                self.t("ui.procedure_item", code=proc.code, name=display_name(proc, self.ui.lang)),
                partial(self._pick, proc),
                kind="secondary",
                height=88,
                font=theme.FONT_BODY,
                name=f"procedure_{i}",
                grow=True,
            )
            btn.halign = "left"
            col.add_widget(btn)

    def _case_list(self) -> Widget:
        proc = self.selected
        assert proc is not None
        col = BoxLayout(orientation="vertical", spacing=dp(8))
        col.add_widget(
            KLabel(
                self.t("ui.procedure_item", code=proc.code, name=display_name(proc, self.ui.lang)),
                size=theme.FONT_LARGE,
                bold=True,
                name="selected_procedure",
            )
        )
        col.add_widget(KLabel(self.t("ui.choose_case"), name="choose_case"))
        scroll = ScrollView(do_scroll_x=False)
        inner = BoxLayout(orientation="vertical", spacing=dp(8))
        fit_height(inner)
        for i, case in enumerate(getattr(proc, "cases", []) or []):
            inner.add_widget(
                KButton(
                    display_name(case, self.ui.lang),
                    partial(self._choose, proc, case),
                    kind="secondary",
                    height=80,
                    font=theme.FONT_BODY,
                    name=f"case_{i}",
                    grow=True,
                )
            )
        scroll.add_widget(inner)
        col.add_widget(scroll)
        return col

    def actions(self) -> list[Widget]:
        if self.selected is None:
            return []
        return [
            KButton(
                self.t("common.back"),
                self._unselect,
                kind="secondary",
                name="case_back",
                size_hint_x=None,
                width=dp(240),
            )
        ]
