"""The touch UI: a controller bound to the citizen session, the Kivy root widget and the App.

One source of truth: ``workflow.session.state`` decides which screen is shown (``SCREEN_FOR_STATE``);
screens are views that call session or workflow methods through ``KioskUI.act`` / ``run_async`` and are
re-rendered after every call. The only UI state outside the session is presentation: the language, the
staff mode (only while no session runs: state ``welcome`` or ``end``, both shown as the welcome screen),
a notice after a session ended, and "busy" while a worker thread runs a slow call (ID reader, still
capture, OCR, signing). Start calls ``Workflow.new_session()``, which wipes the old session and starts a
new one at ``identify``.

Inactivity: a Clock event calls ``session.tick()`` once a second; the warning shows the timeout overlay
with the countdown, and when the session is wiped a fresh one starts at the welcome screen with the
``session.wiped`` notice. Every touch anywhere calls ``session.touch()``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.anchorlayout import AnchorLayout
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.floatlayout import FloatLayout
from kivy.uix.screenmanager import NoTransition, ScreenManager
from kivy.uix.widget import Widget

from kiosk.core.session import CitizenSession, EndReason, State
from kiosk.errors import KioskError
from kiosk.messages import LANGUAGES, t
from kiosk.screens import theme
from kiosk.screens.base import KioskScreen
from kiosk.screens.pin import StaffPin
from kiosk.screens.ports import SubmitOutcomeLike, WorkflowPort
from kiosk.screens.timeout import TimeoutOverlay
from kiosk.screens.widgets import KButton, KLabel, Panel, fit_height, paint

log = logging.getLogger("kiosk.ui")

SCREEN_FOR_STATE: dict[State, str] = {
    State.WELCOME: "welcome",
    State.IDENTIFY: "identify",
    State.CHOOSE_PROCEDURE: "procedure",
    State.CHECKLIST: "checklist",
    State.CAPTURE: "capture",
    State.REVIEW: "review",
    State.CONFIRM_DATA: "confirm",
    State.CONSENT: "consent",
    State.SUBMIT: "submit",
    State.RECEIPT: "receipt",
    State.END: "welcome",
}
IDLE_STATES = (State.WELCOME, State.END)

# The citizen-facing steps shown in the header ("Bước 3/8").
STEPS: tuple[State, ...] = (
    State.IDENTIFY,
    State.CHOOSE_PROCEDURE,
    State.CHECKLIST,
    State.CAPTURE,
    State.REVIEW,
    State.CONFIRM_DATA,
    State.CONSENT,
    State.SUBMIT,
    State.RECEIPT,
)


class BusyOverlay(FloatLayout):
    """Covers the screen while a worker thread runs; swallows touches."""

    def __init__(self) -> None:
        super().__init__()
        paint(self, theme.SCRIM)
        box = AnchorLayout()
        self.panel = Panel(size_hint=(None, None), width=dp(720), padding=dp(24))
        fit_height(self.panel)
        self.label = KLabel("", size=theme.FONT_LARGE, halign="center", name="busy_text")
        self.panel.add_widget(self.label)
        box.add_widget(self.panel)
        self.add_widget(box)

    def on_touch_down(self, touch: Any) -> bool:
        return True

    def on_touch_up(self, touch: Any) -> bool:
        return True


class Header(BoxLayout):
    """Title bar: kiosk name, step counter, language switch."""

    def __init__(self, ui: KioskUI) -> None:
        super().__init__(size_hint_y=None, height=dp(theme.HEADER_H), padding=[dp(16), dp(8)], spacing=dp(16))
        self.ui = ui
        paint(self, theme.HEADER)

    def render(self) -> None:
        self.clear_widgets()
        ui = self.ui
        self.add_widget(
            KLabel(
                ui.t("ui.app_title"),
                size=theme.FONT_LARGE,
                bold=True,
                color=theme.TEXT_ON_DARK,
                fixed_height=theme.HEADER_H - 16,
                name="app_title",
            )
        )
        state = ui.session.state
        if state in STEPS and not ui.staff_mode:
            self.add_widget(
                KLabel(
                    ui.t("ui.step_of", step=STEPS.index(state) + 1, total=len(STEPS)),
                    size=theme.FONT_BODY,
                    color=theme.TEXT_ON_DARK,
                    halign="right",
                    fixed_height=theme.HEADER_H - 16,
                    size_hint_x=None,
                    width=dp(160),
                    name="step_counter",
                )
            )
        other = next(lang for lang in LANGUAGES if lang != ui.lang)
        self.add_widget(
            KButton(
                t("ui.language_name", other),
                lambda: ui.set_language(other),
                kind="secondary",
                height=theme.HEADER_H - 16,
                font=theme.FONT_BODY,
                size_hint_x=None,
                width=dp(200),
                name="language",
            )
        )


class KioskRoot(FloatLayout):
    """The window's root: header + screen manager, and the overlays on top. Any touch is activity."""

    def __init__(self, ui: KioskUI) -> None:
        super().__init__()
        self.ui = ui
        paint(self, theme.BACKGROUND)

    def on_touch_down(self, touch: Any) -> bool:
        ui = self.ui
        if ui.busy:
            return True
        warned = ui.timeout_overlay.parent is not None
        ui.touch()
        if warned:
            return True  # the touch that dismisses the warning does nothing else
        return bool(super().on_touch_down(touch))


class KioskUI:
    """Controller: owns the widgets, follows ``workflow.session`` and runs slow calls off the UI thread."""

    def __init__(
        self,
        workflow: WorkflowPort,
        *,
        lang: str = "vi",
        staff_pin: StaffPin | None = None,
        clock: Callable[[], float] = time.monotonic,
        tick_interval: float = 1.0,
        preview_fps: float = theme.PREVIEW_FPS,
        autocapture_frames: int = theme.AUTOCAPTURE_FRAMES,
        read_id_timeout_s: float = 20.0,
        notice_s: float = 10.0,
        staff_idle_s: float = 120.0,
        agency_name: str = "",
    ) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        self.workflow = workflow
        self.lang = lang
        self.staff_pin = staff_pin
        self.clock = clock
        self.tick_interval = tick_interval
        self.preview_fps = preview_fps
        self.autocapture_frames = autocapture_frames
        self.read_id_timeout_s = read_id_timeout_s
        self.notice_s = notice_s
        self.staff_idle_s = staff_idle_s
        self.agency_name = agency_name
        self.busy = False
        self.notice_key: str | None = None
        self._notice_until = 0.0
        self.staff_mode = False
        self._staff_last = 0.0
        self.last_submit: SubmitOutcomeLike | None = None
        self._tick_event: Any = None
        self._noticed_end = ""  # session id whose end has been announced

        from kiosk.screens.capture import CaptureScreen
        from kiosk.screens.checklist import ChecklistScreen
        from kiosk.screens.confirm import ConfirmScreen
        from kiosk.screens.consent import ConsentScreen
        from kiosk.screens.identify import IdentifyScreen
        from kiosk.screens.procedure import ProcedureScreen
        from kiosk.screens.receipt import ReceiptScreen, SubmitScreen
        from kiosk.screens.review import ReviewScreen
        from kiosk.screens.staff import StaffScreen
        from kiosk.screens.welcome import WelcomeScreen

        self.sm = ScreenManager(transition=NoTransition())
        self.screens: dict[str, KioskScreen] = {}
        for cls in (
            WelcomeScreen,
            IdentifyScreen,
            ProcedureScreen,
            ChecklistScreen,
            CaptureScreen,
            ReviewScreen,
            ConfirmScreen,
            ConsentScreen,
            SubmitScreen,
            ReceiptScreen,
            StaffScreen,
        ):
            screen = cls(self)
            self.screens[screen.name] = screen
            self.sm.add_widget(screen)
        self.header = Header(self)
        self.root = KioskRoot(self)
        column = BoxLayout(orientation="vertical")
        column.add_widget(self.header)
        column.add_widget(self.sm)
        self.root.add_widget(column)
        self.busy_overlay = BusyOverlay()
        self.timeout_overlay = TimeoutOverlay(self)
        self._shown = ""
        self.sync()

    # --------------------------------------------------------------- basics
    @property
    def session(self) -> CitizenSession:
        return self.workflow.session

    def t(self, key: str, **params: Any) -> str:
        return t(key, self.lang, **params)

    def start(self) -> None:
        """Start the once-a-second inactivity tick (the App calls this on start)."""
        if self._tick_event is None:
            self._tick_event = Clock.schedule_interval(lambda _dt: self.tick(), self.tick_interval)

    def stop(self) -> None:
        """Stop the timers; a session still running is cancelled (its data wiped)."""
        if not self.idle:
            self.session.cancel()
        if self._tick_event is not None:
            self._tick_event.cancel()
            self._tick_event = None
        current = self.screens.get(self._shown)
        if current is not None:
            current.on_leave_state()

    @property
    def current_screen(self) -> KioskScreen:
        return self.screens[self.sm.current]

    @property
    def idle(self) -> bool:
        """No citizen session running: before the first one (welcome) or after one ended (end)."""
        return self.session.state in IDLE_STATES

    def screen_for_state(self) -> str:
        if self.idle and self.staff_mode:
            return "staff"
        return SCREEN_FOR_STATE[self.session.state]

    # --------------------------------------------------------------- following the session
    def sync(self) -> None:
        """Show exactly the screen for ``session.state`` and re-render it."""
        s = self.session
        if s.state == State.END and self._noticed_end != s.session_id:
            self._session_ended()
        if not self.idle:
            self.staff_mode = False
        name = self.screen_for_state()
        if name != self._shown:
            old = self.screens.get(self._shown)
            if old is not None:
                old.on_leave_state()
            self._shown = name
            self.sm.current = name
            self.screens[name].on_enter_state()
        self.header.render()
        self.screens[name].render()

    def act(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a quick session/workflow call on the UI thread; a KioskError is shown on the screen."""
        self.touch()
        try:
            result = fn(*args, **kwargs)
        except KioskError as exc:
            log.info("action refused", extra={"error": exc.log_text(), "state": self.session.state.value})
            self.sync()
            self.current_screen.show_error(exc.message(self.lang))
            return None
        self.sync()
        return result

    def run_async(
        self, fn: Callable[[], Any], on_done: Callable[[Any], None], *, busy_key: str, **busy_params: Any
    ) -> None:
        """Run a slow call (device, OCR, signing) on a worker thread behind the busy overlay; ``on_done``
        runs on the UI thread with its result, then the screen is re-rendered. A KioskError is shown on the
        screen in the current language."""
        if self.busy:
            return
        self.busy = True
        self.busy_overlay.label.text = self.t(busy_key, **busy_params)
        if self.busy_overlay.parent is None:
            self.root.add_widget(self.busy_overlay)

        def work() -> None:
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except Exception as exc:  # shown to the citizen below; the worker must not die silently
                error = exc
            Clock.schedule_once(lambda _dt: self._finish_async(on_done, result, error), 0)

        threading.Thread(target=work, name="kiosk-ui-worker", daemon=True).start()

    def _finish_async(self, on_done: Callable[[Any], None], result: Any, error: BaseException | None) -> None:
        self.busy = False
        if self.busy_overlay.parent is not None:
            self.root.remove_widget(self.busy_overlay)
        if not self.idle:
            self.session.touch()  # time spent waiting for the machine is not citizen inactivity
        if error is None:
            try:
                on_done(result)
            except KioskError as exc:
                error = exc
        if isinstance(error, KioskError):
            log.info("action failed", extra={"error": error.log_text(), "state": self.session.state.value})
            self.sync()
            self.current_screen.show_error(error.message(self.lang))
            return
        if error is not None:
            log.error(
                "unexpected error in worker",
                exc_info=error,
                extra={"state": self.session.state.value, "error_type": type(error).__name__},
            )
            self.sync()
            self.current_screen.show_error(self.t("ui.unexpected_error"))
            return
        self.sync()

    # --------------------------------------------------------------- activity, inactivity, cancel
    def touch(self) -> None:
        if not self.idle:
            self.session.touch()
        self._staff_last = self.clock()
        self.timeout_overlay.hide()

    def tick(self) -> None:
        """Once a second: inactivity warning and wipe; expiry of the notice and of staff mode."""
        if self.busy:
            return
        now = self.clock()
        if self.notice_key is not None and now >= self._notice_until:
            self.notice_key = None
            if self.idle and not self.staff_mode:
                self.sync()
        if self.staff_mode and now - self._staff_last >= self.staff_idle_s:
            self.exit_staff()
        status = self.session.tick()
        if status.expired:
            log.info("session timed out")
            self.timeout_overlay.hide()
            self.sync()
        elif status.warning:
            self.timeout_overlay.show(math.ceil(status.seconds_left))
        else:
            self.timeout_overlay.hide()

    def start_session(self) -> None:
        """Start button: a new session at the identify step (refused while the outbox is full)."""
        self.notice_key = None
        self.act(self.workflow.new_session)

    def cancel(self) -> None:
        """Cancel button: the session is wiped; the welcome screen says so."""
        self.session.cancel()
        self.sync()

    def _session_ended(self) -> None:
        """The session reached ``end`` (finished, cancelled or timed out): drop what the screens kept of
        it and announce it on the welcome screen for ``notice_s`` seconds."""
        s = self.session
        self._noticed_end = s.session_id
        self.last_submit = None
        self.timeout_overlay.hide()
        notice = (
            {
                EndReason.CANCELLED: "session.wiped",
                EndReason.TIMEOUT: "session.wiped",
                EndReason.COMPLETED: "ui.thank_you",
            }.get(s.end_reason)
            if s.end_reason is not None
            else None
        )
        if notice is not None:
            self.notice_key = notice
            self._notice_until = self.clock() + self.notice_s
        self.staff_mode = False

    # --------------------------------------------------------------- language and staff mode
    def set_language(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        self.lang = lang
        if hasattr(self.workflow, "lang"):
            self.workflow.lang = lang  # the receipt is printed in the language on screen
        self.timeout_overlay.refresh()
        self.sync()

    def enter_staff(self) -> None:
        if not self.idle:
            return
        self.staff_mode = True
        self._staff_last = self.clock()
        self.sync()

    def exit_staff(self) -> None:
        self.staff_mode = False
        staff = self.screens["staff"]
        lock = getattr(staff, "lock", None)
        if callable(lock):
            lock()
        self.sync()


class KioskApp(App):
    """The Kivy application around a ``KioskUI``."""

    def __init__(self, ui_factory: Callable[[], KioskUI], **kw: Any) -> None:
        super().__init__(**kw)
        self._factory = ui_factory
        self.ui: KioskUI | None = None

    def build(self) -> Widget:
        self.ui = self._factory()
        self.title = self.ui.t("ui.app_title")
        return self.ui.root

    def on_start(self) -> None:
        if self.ui is not None:
            self.ui.start()

    def on_stop(self) -> None:
        if self.ui is not None:
            self.ui.stop()
