"""Small building blocks of the touch UI: flat buttons, wrapping labels, panels, keypads, bars.

Every touchable widget here is at least ``theme.MIN_TOUCH`` px in both directions. No text literals:
labels come from the caller (``kiosk.messages.t``), key caps are the characters they type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from kivy.graphics import Color, Line, Rectangle, RoundedRectangle
from kivy.metrics import dp, sp
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout
from kivy.uix.image import Image
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from kiosk.messages import t
from kiosk.screens import theme, vnkeys
from kiosk.screens.theme import RGBA


def paint(widget: Widget, color: RGBA, *, radius: float = 0.0) -> None:
    """Fill the widget's background with ``color`` (kept in sync with its position and size)."""
    with widget.canvas.before:
        Color(*color)
        rect: Any = (
            RoundedRectangle(pos=widget.pos, size=widget.size, radius=[dp(radius)])
            if radius
            else Rectangle(pos=widget.pos, size=widget.size)
        )

    def sync(*_: Any) -> None:
        rect.pos = widget.pos
        rect.size = widget.size

    widget.bind(pos=sync, size=sync)


class KLabel(Label):
    """A label that wraps to its width and grows to its text height (unless a height is given)."""

    def __init__(
        self,
        text: str = "",
        *,
        size: float = theme.FONT_BODY,
        color: RGBA = theme.TEXT,
        bold: bool = False,
        halign: str = "left",
        valign: str = "middle",
        fixed_height: float | None = None,
        name: str = "",
        **kw: Any,
    ) -> None:
        super().__init__(
            text=text,
            font_size=sp(size),
            color=color,
            bold=bold,
            halign=halign,
            valign=valign,
            size_hint_y=None,
            **kw,
        )
        self.name = name
        self._fixed = fixed_height
        if fixed_height is not None:
            self.height = dp(fixed_height)
        self.bind(width=self._wrap, texture_size=self._grow)
        self._wrap()

    def _wrap(self, *_: Any) -> None:
        self.text_size = (self.width, None if self._fixed is None else self.height)

    def _grow(self, *_: Any) -> None:
        if self._fixed is None:
            self.height = max(self.texture_size[1], dp(8))


class KButton(Button):
    """A flat, high-contrast button; ``kind`` is primary, secondary, danger or success."""

    COLORS: ClassVar[dict[str, tuple[RGBA, RGBA]]] = {
        "primary": (theme.PRIMARY, theme.TEXT_ON_DARK),
        "secondary": (theme.SECONDARY, theme.TEXT),
        "danger": (theme.DANGER, theme.TEXT_ON_DARK),
        "success": (theme.SUCCESS, theme.TEXT_ON_DARK),
    }

    def __init__(
        self,
        text: str,
        on_press: Callable[[], Any] | None = None,
        *,
        kind: str = "primary",
        height: float = theme.BUTTON_H,
        font: float = theme.FONT_BUTTON,
        name: str = "",
        grow: bool = False,
        **kw: Any,
    ) -> None:
        bg, fg = self.COLORS[kind]
        kw.setdefault("size_hint_y", None)
        super().__init__(
            text=text,
            font_size=sp(font),
            color=fg,
            background_normal="",
            background_down="",
            background_disabled_normal="",
            background_disabled_down="",
            background_color=bg,
            disabled_color=theme.TEXT_MUTED,
            halign="center",
            valign="middle",
            **kw,
        )
        self.height = max(dp(height), theme.MIN_TOUCH)
        self.min_width = theme.MIN_TOUCH
        self.kind = kind
        self.name = name
        self._bg = bg
        self._min_h = self.height
        self.bind(size=self._wrap, disabled=self._on_disabled, state=self._on_state)
        if grow:
            self.bind(texture_size=self._grow)
        self._wrap()
        self._on_disabled()
        if on_press is not None:
            self.bind(on_release=lambda *_: on_press())

    def _wrap(self, *_: Any) -> None:
        self.text_size = (max(self.width - dp(16), 1), None)

    def _grow(self, *_: Any) -> None:
        self.height = max(self._min_h, self.texture_size[1] + dp(24))

    def _on_disabled(self, *_: Any) -> None:
        self.background_color = theme.DISABLED if self.disabled else self._bg

    def _on_state(self, *_: Any) -> None:
        if not self.disabled:
            r, g, b, a = self._bg
            self.background_color = (r * 0.8, g * 0.8, b * 0.8, a) if self.state == "down" else self._bg


class Panel(BoxLayout):
    """A vertical box with a white rounded background."""

    def __init__(self, *, color: RGBA = theme.SURFACE, name: str = "", **kw: Any) -> None:
        kw.setdefault("orientation", "vertical")
        kw.setdefault("padding", dp(theme.PADDING))
        kw.setdefault("spacing", dp(theme.SPACING))
        super().__init__(**kw)
        self.name = name
        paint(self, color, radius=8)


def fit_height(box: BoxLayout | GridLayout) -> None:
    """Make a vertical box or grid as tall as its content (for use inside a ScrollView)."""
    box.size_hint_y = None
    box.bind(minimum_height=box.setter("height"))


class Bar(Widget):
    """A horizontal progress bar, 0..1, drawn flat (Kivy's ProgressBar uses theme images)."""

    def __init__(self, *, color: RGBA = theme.PRIMARY, height: float = 18, **kw: Any) -> None:
        super().__init__(size_hint_y=None, height=dp(height), **kw)
        self.value = 0.0
        with self.canvas:
            Color(*theme.SECONDARY)
            self._track = Rectangle(pos=self.pos, size=self.size)
            Color(*color)
            self._fill = Rectangle(pos=self.pos, size=(0, self.height))
        self.bind(pos=self._redraw, size=self._redraw)

    def set(self, value: float) -> None:
        self.value = min(max(float(value), 0.0), 1.0)
        self._redraw()

    def _redraw(self, *_: Any) -> None:
        self._track.pos, self._track.size = self.pos, self.size
        self._fill.pos = self.pos
        self._fill.size = (self.width * self.value, self.height)


class Ring(Widget):
    """A circular progress ring for auto-capture, 0..1."""

    def __init__(self, *, diameter: float = 64, **kw: Any) -> None:
        super().__init__(size_hint=(None, None), size=(dp(diameter), dp(diameter)), **kw)
        self.value = 0.0
        self.bind(pos=self._redraw, size=self._redraw)
        self._redraw()

    def set(self, value: float) -> None:
        value = min(max(float(value), 0.0), 1.0)
        if value != self.value:
            self.value = value
            self._redraw()

    def _redraw(self, *_: Any) -> None:
        self.canvas.clear()
        cx, cy = self.center
        r = min(self.width, self.height) / 2 - dp(5)
        with self.canvas:
            Color(*theme.SECONDARY)
            Line(circle=(cx, cy, r), width=dp(5))
            if self.value > 0:
                Color(*theme.SUCCESS)
                Line(circle=(cx, cy, r, 0, 360 * self.value), width=dp(5))


class Keypad(GridLayout):
    """A numeric keypad: 1-9, then the extra key (e.g. '-'), 0 and backspace. ``on_key`` gets the
    character, or '\\b' for backspace."""

    def __init__(
        self,
        on_key: Callable[[str], None],
        *,
        lang: str,
        extra: str = "",
        key_height: float = theme.KEY_H,
        **kw: Any,
    ) -> None:
        super().__init__(cols=3, spacing=dp(8), size_hint_y=None, **kw)
        keys = [*"123456789", extra, "0", "\b"]
        for k in keys:
            if not k:
                self.add_widget(Widget(size_hint_y=None, height=dp(key_height)))
                continue
            label = t("ui.key_backspace", lang) if k == "\b" else k
            btn = KButton(
                label,
                partial(on_key, k),
                kind="secondary",
                height=key_height,
                font=theme.FONT_KEY,
                name=f"key_{'bs' if k == chr(8) else k}",
            )
            self.add_widget(btn)
        self.height = 4 * dp(key_height) + 3 * dp(8)


class TextKeyboard(BoxLayout):
    """An on-screen keyboard for names, addresses and search: Latin letters, the Vietnamese letters
    ă â đ ê ô ơ ư, five tone keys, digits, space and backspace. Edits ``get_text``/``set_text``."""

    def __init__(
        self,
        get_text: Callable[[], str],
        set_text: Callable[[str], None],
        *,
        lang: str,
        vietnamese: bool = True,
        digits: bool = True,
        key_height: float = theme.BUTTON_H_SMALL,
        **kw: Any,
    ) -> None:
        super().__init__(orientation="vertical", spacing=dp(6), size_hint_y=None, **kw)
        self._get, self._set = get_text, set_text
        self.upper = True
        self._letter_buttons: list[KButton] = []
        rows: list[Sequence[str]] = []
        if digits:
            rows.append("1234567890")
        rows.extend(vnkeys.LETTER_ROWS)
        if vietnamese:
            rows.append(vnkeys.VIETNAMESE_LETTERS)
        for row in rows:
            line = BoxLayout(spacing=dp(6), size_hint_y=None, height=dp(key_height))
            for ch in row:
                btn = KButton(
                    ch.upper(),
                    partial(self._type, ch),
                    kind="secondary",
                    height=key_height,
                    font=theme.FONT_KEY,
                    name=f"key_{ch}",
                )
                if ch.isalpha():
                    self._letter_buttons.append(btn)
                line.add_widget(btn)
            self.add_widget(line)
        last = BoxLayout(spacing=dp(6), size_hint_y=None, height=dp(key_height))
        # the case key shows the case it switches to (letter captions, like the other key caps)
        self._shift = KButton(
            "abc",
            self._toggle_case,
            kind="secondary",
            height=key_height,
            font=theme.FONT_BODY,
            name="key_shift",
            size_hint_x=1.4,
        )
        shift = self._shift
        last.add_widget(shift)
        if vietnamese:
            for tone in vnkeys.TONE_ORDER:
                cap = vnkeys.apply_tone("a", tone)
                last.add_widget(
                    KButton(
                        cap,
                        partial(self._tone, tone),
                        kind="secondary",
                        height=key_height,
                        font=theme.FONT_KEY,
                        name=f"tone_{tone}",
                        size_hint_x=0.8,
                    )
                )
        last.add_widget(
            KButton(
                t("ui.key_space", lang),
                lambda: self._type(" "),
                kind="secondary",
                height=key_height,
                font=theme.FONT_SMALL,
                name="key_space",
                size_hint_x=1.9,
            )
        )
        last.add_widget(
            KButton(
                t("ui.key_backspace", lang),
                self._backspace,
                kind="secondary",
                height=key_height,
                font=theme.FONT_SMALL,
                name="key_bs",
                size_hint_x=1.1,
            )
        )
        self.add_widget(last)
        self.height = len(self.children) * dp(key_height) + (len(self.children) - 1) * dp(6)

    def _type(self, ch: str) -> None:
        self._set(vnkeys.type_char(self._get(), ch.upper() if self.upper else ch))

    def _tone(self, tone: str) -> None:
        self._set(vnkeys.apply_tone(self._get(), tone))

    def _backspace(self) -> None:
        self._set(vnkeys.backspace(self._get()))

    def _toggle_case(self) -> None:
        self.upper = not self.upper
        self._shift.text = "abc" if self.upper else "ABC"
        for b in self._letter_buttons:
            b.text = b.text.upper() if self.upper else b.text.lower()


class TapImage(ButtonBehavior, Image):
    """An image that calls ``on_tap()`` when touched (a page thumbnail that opens the page large)."""

    def __init__(self, on_tap: Callable[[], None], **kw: Any) -> None:
        super().__init__(**kw)
        self._on_tap = on_tap

    def on_release(self) -> None:
        self._on_tap()


def find(root: Widget, name: str) -> Widget | None:
    """The first widget below ``root`` (depth first) whose ``name`` attribute is ``name``."""
    for w in root.walk(restrict=True):
        if getattr(w, "name", None) == name:
            return w
    return None
