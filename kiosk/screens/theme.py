"""Colours, sizes and fonts of the touch UI (layout constants only; no text).

High contrast (dark text on a light background, WCAG AA or better for every pair used), touch targets
of at least 48 px (buttons are 60-110 px high), body text 24 sp (small print 20 sp). Kivy's default
Roboto renders Vietnamese (precomposed NFC and combining marks), so it is used as is: the same font
ships with Kivy on every platform.
"""

from __future__ import annotations

RGBA = tuple[float, float, float, float]


def hex_rgba(code: str, alpha: float = 1.0) -> RGBA:
    code = code.lstrip("#")
    return (int(code[0:2], 16) / 255, int(code[2:4], 16) / 255, int(code[4:6], 16) / 255, alpha)


# Colours
BACKGROUND = hex_rgba("#F4F6F9")
SURFACE = hex_rgba("#FFFFFF")
HEADER = hex_rgba("#0B3D75")  # dark blue bar, white text (contrast 11:1)
TEXT = hex_rgba("#111827")  # on BACKGROUND: 16:1
TEXT_MUTED = hex_rgba("#374151")  # on BACKGROUND: 9.6:1
TEXT_ON_DARK = hex_rgba("#FFFFFF")
PRIMARY = hex_rgba("#0B5CAD")  # white text on it: 6.6:1
SECONDARY = hex_rgba("#D9E2EC")  # dark text on it: 13:1
DANGER = hex_rgba("#A61B1B")  # white text on it: 7.4:1
SUCCESS = hex_rgba("#166534")  # white text on it: 7.1:1
WARNING_BG = hex_rgba("#FEF3C7")  # dark text on it: 15:1
ERROR_TEXT = hex_rgba("#A61B1B")
DISABLED = hex_rgba("#9CA3AF")
OUTLINE_OK = hex_rgba("#22C55E")
OUTLINE_BAD = hex_rgba("#EF4444")
PREVIEW_BG = hex_rgba("#000000")
SCRIM = (0.0, 0.0, 0.0, 0.6)

# Sizes (density-independent pixels via kivy.metrics.dp / sp at use)
WINDOW_SIZE = (1280, 800)
MIN_TOUCH = 48  # px: nothing touchable is smaller
BUTTON_H = 72
BUTTON_H_SMALL = 60
KEY_H = 64
HEADER_H = 72
FOOTER_H = 96
PADDING = 16
SPACING = 12

FONT_TITLE = 34
FONT_LARGE = 28
FONT_BODY = 24
FONT_SMALL = 20
FONT_BUTTON = 26
FONT_KEY = 30

# Camera preview
PREVIEW_FPS = 12
AUTOCAPTURE_FRAMES = 8  # good, still preview frames before auto-capture (about 0.7 s at 12 fps)
OUTLINE_WIDTH = 3.0
THUMB_H = 150
