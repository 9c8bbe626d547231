"""Accent- and case-insensitive text keys for Vietnamese search and matching.

``fold("Đăng  Ký Khai Sinh")`` gives ``"dang ky khai sinh"``: Unicode NFD, combining marks dropped
(so ``ư``/``ơ``/``ă``/``â``/``ê``/``ô`` lose their marks as well as the tones), ``đ``/``Đ`` mapped to ``d``
(NFD does not decompose them), lower case, runs of white space collapsed to one space, ends stripped.
``words`` splits folded text into ASCII letter/digit runs, so punctuation never matters.
"""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"[0-9a-z]+")
_D = str.maketrans({"đ": "d", "Đ": "d"})


def fold(text: str) -> str:
    """Accent- and case-folded form of ``text`` (see the module docstring)."""
    decomposed = unicodedata.normalize("NFD", text.translate(_D))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACE.sub(" ", bare.lower()).strip()


def words(text: str) -> list[str]:
    """The words of ``fold(text)``: runs of ASCII letters and digits, in order."""
    return _WORD.findall(fold(text))


def key(text: str) -> str:
    """A comparison key: the folded words joined by single spaces (punctuation dropped)."""
    return " ".join(words(text))


def is_nfc(text: str) -> bool:
    """True if ``text`` is already in Unicode Normalization Form C."""
    return unicodedata.is_normalized("NFC", text)
