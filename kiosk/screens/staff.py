"""The staff screen: PIN-protected view of device health and the outbox, and the review desk (R12).

With ``review.hold_for_staff`` new submissions wait on the kiosk: the officer opens one, compares its pages
with the originals, and confirms it (every paper countersigned) or returns it with a reason
(``kiosk.staffreview``). The decrypted copy shown is wiped when the review closes, on exit and on lock.

Reached from a small button on the welcome screen, only while no citizen session is running. The PIN is
checked against the stored hash (``kiosk.screens.pin``); without a PIN the screen stays locked. After
``MAX_FAILURES`` wrong PINs the keypad is locked for ``LOCKOUT_S`` seconds; the staff mode ends by itself
after a period without touches (``KioskUI.staff_idle_s``).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.image import Image
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.messages import catalogue
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.pin import LOCKOUT_S, MAX_FAILURES, PIN_MAX, PIN_MIN
from kiosk.screens.status import device_status, outbox_status
from kiosk.screens.widgets import KButton, Keypad, KLabel, Panel, TapImage, TextKeyboard, fit_height

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
        self.held: list[Any] = []
        self.issued: list[Any] = []        # dossier codes the back end issued (R15)
        self.review: Any = None            # the open HeldSubmission (with page images), if any
        self.choosing_reason = False
        self.zoomed: str | None = None     # the page image shown large, if any
        self.reason_key: str | None = None  # the return reason chosen; then an optional note is typed
        self.signing_for: tuple[str, str | None] | None = None  # a decision waiting for the token PIN
        self.token_pin = ""
        self.note = ""
        self.note_label: KLabel | None = None
        self.notice = ""

    def lock(self) -> None:
        self.unlocked = False
        self.pin = ""
        self.devices = None
        self.outbox = None
        self.held = []
        self.issued = []
        self._close_review()
        self.notice = ""

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

        def query() -> tuple[list[dict[str, Any]], dict[str, Any], list[Any], list[Any]]:
            return (device_status(wf), outbox_status(wf), list(wf.held_submissions()),
                    list(wf.issued_dossier_codes()))

        def done(result: tuple[list[dict[str, Any]], dict[str, Any], list[Any], list[Any]]) -> None:
            self.devices, self.outbox, self.held, self.issued = result

        self.ui.run_async(query, done, busy_key="ui.staff_loading")

    # --------------------------------------------------------------- review desk
    def _close_review(self) -> None:
        self.ui.workflow.close_review()  # idempotent: whatever was decrypted for the officer is wiped
        self.review = None
        self.choosing_reason = False
        self.zoomed = None
        self.reason_key = None
        self.signing_for = None
        self.token_pin = ""
        self.note = ""

    def _zoom(self, image: str | None) -> None:
        self.zoomed = image
        self.render()

    def _open_review(self, index: int) -> None:
        sid = self.held[index].submission_id
        self.notice = ""

        def done(held: Any) -> None:
            self.review = held

        self.ui.run_async(lambda: self.ui.workflow.open_review(sid), done, busy_key="ui.staff_loading")

    def _decide(self, reason_key: str | None) -> None:
        """Confirm (``reason_key`` None) or return; with officer tokens, first ask for the token's PIN."""
        if self.ui.workflow.review_needs_pin():
            self.signing_for = ("decision", reason_key)
            self.token_pin = ""
            self.error_text = ""
            self.render()
            return
        self._submit_decision(reason_key, None)

    def _token_key(self, ch: str) -> None:
        if ch == "\b":
            self.token_pin = self.token_pin[:-1]
        elif len(self.token_pin) < 16:
            self.token_pin += ch
        self.ui.touch()
        dots, sign = self.widget("review_pin_dots"), self.widget("review_sign")
        if dots is not None:
            dots.text = "•" * len(self.token_pin)
        if sign is not None:
            sign.disabled = len(self.token_pin) < 4

    def _sign(self) -> None:
        assert self.signing_for is not None
        pin, self.token_pin = self.token_pin, ""
        self._submit_decision(self.signing_for[1], pin)

    def _cancel_sign(self) -> None:
        self.signing_for = None
        self.token_pin = ""
        self.render()

    def _submit_decision(self, reason_key: str | None, pin: str | None) -> None:
        review = self.review
        wf = self.ui.workflow
        note = self.note.strip()

        def work() -> None:
            if reason_key is None:
                wf.confirm_review(review.submission_id, pin)
            else:
                wf.return_review(review.submission_id, reason_key, note, pin)

        def done(_result: Any) -> None:
            self.review = None
            self.choosing_reason = False
            self.reason_key = None
            self.signing_for = None
            self.note = ""
            key = "ui.review_confirmed" if reason_key is None else "ui.review_returned"
            self.notice = self.t(key, code=review.short_code)
            self.refresh()

        self.ui.run_async(work, done, busy_key="ui.review_working")

    def _print_code(self, index: int) -> None:
        issued = self.issued[index]

        def done(_result: Any) -> None:
            self.notice = self.t("ui.issued_printed", dossier_code=issued.dossier_code)

        self.ui.run_async(lambda: self.ui.workflow.print_dossier_code(issued.submission_id), done,
                          busy_key="ui.issued_printing")

    def _ask_reason(self) -> None:
        self.choosing_reason = True
        self.render()

    def _choose_reason(self, key: str | None) -> None:
        self.reason_key = key
        self.note = ""
        self.render()

    def _get_note(self) -> str:
        return self.note

    def _set_note(self, text: str) -> None:
        self.ui.touch()
        self.note = text[:200]
        if self.note_label is not None:
            self.note_label.text = self.note

    def _back_to_list(self) -> None:
        self._close_review()
        self.render()

    def _exit(self) -> None:
        self.ui.exit_staff()  # locks the screen, which wipes any open review

    # --------------------------------------------------------------- layout
    def body(self) -> Widget:
        if not self.unlocked:
            return self._pin_body()
        if self.review is not None and self.signing_for is not None:
            return self._pin_sign_body()
        if self.review is not None and self.zoomed is not None:
            return self._zoom_body(self.zoomed)
        if self.review is not None:
            return self._review_body()
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
        # the officer's work first: submissions waiting for review (R12), then the machine's health
        col.add_widget(KLabel(self.t("ui.staff_reviews"), size=theme.FONT_LARGE, bold=True))
        if self.notice:
            col.add_widget(KLabel(self.notice, color=theme.SUCCESS, name="review_notice"))
        if not self.held:
            col.add_widget(KLabel(self.t("ui.review_none"), color=theme.TEXT_MUTED, name="review_none"))
        for i, held in enumerate(self.held):
            col.add_widget(self._held_row(i, held))
        col.add_widget(KLabel(self.t("ui.staff_issued"), size=theme.FONT_LARGE, bold=True))
        if not self.issued:
            col.add_widget(KLabel(self.t("ui.issued_none"), color=theme.TEXT_MUTED, name="issued_none"))
        for i, issued in enumerate(self.issued):
            panel = Panel(orientation="horizontal", size_hint_y=None, height=dp(80), name=f"issued_{i}")
            panel.add_widget(KLabel(self.t("ui.issued_row", code=issued.short_code,
                                           dossier_code=issued.dossier_code),
                                    size_hint_x=0.75, name=f"issued_{i}_text"))
            panel.add_widget(KButton(self.t("ui.issued_print"), partial(self._print_code, i),
                                     kind="secondary", name=f"issued_print_{i}", size_hint_x=0.25))
            col.add_widget(panel)
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

    def _summary_text(self, held: Any) -> str:
        procedure = f"{held.procedure_code} {held.procedure_name}".strip()
        return self.t("ui.review_summary", code=held.short_code, procedure=procedure,
                      applicant=held.applicant, papers=len(held.papers),
                      time=str(held.created_at)[11:16] + " " + str(held.created_at)[8:10] + "/"
                      + str(held.created_at)[5:7])

    def _held_row(self, index: int, held: Any) -> Widget:
        panel = Panel(orientation="horizontal", size_hint_y=None, height=dp(88), name=f"held_{index}")
        panel.add_widget(KLabel(self._summary_text(held), size_hint_x=0.75, name=f"held_{index}_text"))
        panel.add_widget(KButton(self.t("ui.review_open"), partial(self._open_review, index),
                                 kind="primary", name=f"review_open_{index}", size_hint_x=0.25))
        return panel

    def _pin_sign_body(self) -> Widget:
        """The officer's token PIN, typed before their token signs the decision."""
        anchor = AnchorLayout(anchor_y="top")
        col = Panel(size_hint=(None, None), width=dp(560))
        col.add_widget(KLabel(self._summary_text(self.review), bold=True, name="review_summary"))
        col.add_widget(KLabel(self.t("ui.review_token_pin"), name="review_pin_prompt"))
        col.add_widget(KLabel("•" * len(self.token_pin), size=theme.FONT_TITLE, halign="center",
                              fixed_height=56, name="review_pin_dots"))
        col.add_widget(Keypad(self._token_key, lang=self.ui.lang))
        fit_height(col)
        anchor.add_widget(col)
        return anchor

    def _zoom_body(self, path: str) -> Widget:
        """One page at the full width of the screen, scrolled up and down with a finger."""
        from PIL import Image as PILImage

        with PILImage.open(path) as im:
            w, h = im.size
        scroll = ScrollView(do_scroll_x=False)
        page = Image(source=path, nocache=True, fit_mode="contain", size_hint=(1, None))
        page.name = "review_zoom"
        scroll.bind(width=lambda _s, width: setattr(page, "height", width * h / max(1, w)))
        page.height = scroll.width * h / max(1, w)
        scroll.add_widget(page)
        return scroll

    def _review_body(self) -> Widget:
        """The open submission: its summary, then each paper with its pages side by side."""
        held = self.review
        scroll = ScrollView(do_scroll_x=False)
        col = BoxLayout(orientation="vertical", spacing=dp(theme.SPACING))
        fit_height(col)
        col.add_widget(KLabel(self._summary_text(held), bold=True, name="review_summary"))
        if self.choosing_reason and self.reason_key is not None:  # an optional note to the reason
            reason = self.t(f"review.reason_{self.reason_key}")
            col.add_widget(KLabel(self.t("ui.review_reason_chosen", reason=reason), bold=True,
                                  name="review_reason_chosen"))
            col.add_widget(KLabel(self.t("ui.review_note_prompt"), color=theme.TEXT_MUTED))
            self.note_label = KLabel(self.note, size=theme.FONT_LARGE, fixed_height=56, name="review_note")
            col.add_widget(self.note_label)
            col.add_widget(TextKeyboard(self._get_note, self._set_note, lang=self.ui.lang, key_height=52))
            scroll.add_widget(col)
            return scroll
        if self.choosing_reason:  # the reasons replace the pages, so that all of them are in view
            col.add_widget(KLabel(self.t("ui.review_choose_reason"), bold=True, name="review_reason_prompt"))
            from kiosk.staffreview import RETURN_REASONS

            for key in RETURN_REASONS:
                col.add_widget(KButton(self.t(f"review.reason_{key}"), partial(self._choose_reason, key),
                                       kind="secondary", name=f"reason_{key}", size_hint_y=None,
                                       height=dp(64)))
            scroll.add_widget(col)
            return scroll
        col.add_widget(KLabel(self.t("ui.review_tap_to_enlarge"), color=theme.TEXT_MUTED, name="review_hint"))
        for i, paper in enumerate(held.papers):
            col.add_widget(KLabel(self.t("ui.review_paper", name=paper.name, pages=paper.pages),
                                  size=theme.FONT_LARGE, name=f"review_paper_{i}"))
            strip = ScrollView(do_scroll_y=False, size_hint_y=None, height=dp(300))
            row = BoxLayout(orientation="horizontal", size_hint_x=None, spacing=dp(8))
            row.bind(minimum_width=row.setter("width"))
            for k, image in enumerate(paper.images):
                img = TapImage(partial(self._zoom, str(image)), source=str(image), nocache=True,
                               fit_mode="contain", size_hint_x=None, width=dp(220))
                img.name = f"review_page_{i}_{k}"
                row.add_widget(img)
            strip.add_widget(row)
            col.add_widget(strip)
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
        if self.unlocked and self.review is not None and self.signing_for is not None:
            return [KButton(self.t("ui.review_cancel_sign"), self._cancel_sign, kind="secondary",
                            name="review_cancel_sign", size_hint_x=None, width=dp(320)),
                    KButton(self.t("ui.review_sign"), self._sign, kind="primary", name="review_sign",
                            size_hint_x=None, width=dp(260), disabled=len(self.token_pin) < 4)]
        if self.unlocked and self.review is not None and self.zoomed is not None:
            return [KButton(self.t("ui.review_back_to_pages"), partial(self._zoom, None), kind="secondary",
                            name="review_unzoom", size_hint_x=None, width=dp(300))]
        if self.unlocked and self.review is not None and self.reason_key is not None:
            return [KButton(self.t("ui.review_other_reason"), partial(self._choose_reason, None),
                            kind="secondary", name="review_other_reason", size_hint_x=None, width=dp(300)),
                    KButton(self.t("ui.review_return"), partial(self._decide, self.reason_key), kind="danger",
                            name="review_return_confirm", size_hint_x=None, width=dp(300))]
        if self.unlocked and self.review is not None:
            buttons.append(KButton(self.t("ui.review_back"), self._back_to_list, kind="secondary",
                                   name="review_back", size_hint_x=None, width=dp(260)))
            if not self.choosing_reason:
                buttons.append(KButton(self.t("ui.review_return"), self._ask_reason, kind="danger",
                                       name="review_return", size_hint_x=None, width=dp(260)))
            buttons.append(KButton(self.t("ui.review_confirm"), lambda: self._decide(None), kind="primary",
                                   name="review_confirm", size_hint_x=None, width=dp(300)))
            return buttons
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
