"""Vietnamese typing on the on-screen keyboard (pure functions, no Kivy).

The keyboard has the 26 Latin letters, the seven Vietnamese letters with a built-in mark (ă â đ ê ô ơ
ư) and five tone keys (sắc, huyền, hỏi, ngã, nặng). A tone key puts the tone on the right vowel of the
word being typed, replacing a tone that is already there, following the usual placement rules:

1. a vowel with a hat or horn (ă â ê ô ơ ư) takes the tone (in "ươ" the "ơ": "người");
2. otherwise, when a consonant follows the vowels, the last vowel ("hoàng", "tiếng" is rule 1);
3. otherwise two vowels take it on the first ("mía", "của", "tài"), in the traditional style that ID
   cards and most official papers use ("Hòa", "Thủy", "Khỏe", not "Hoà", "Thuỷ"); three vowels take it
   on the middle one ("khuỷu");
4. "qu" and "gi" at the start count as consonants ("quý", "già").

Text is kept in NFC.
"""

from __future__ import annotations

import unicodedata

TONES = {
    "acute": "\u0301",  # sắc
    "grave": "\u0300",  # huyền
    "hook": "\u0309",  # hỏi
    "tilde": "\u0303",  # ngã
    "dot": "\u0323",  # nặng
}
TONE_ORDER = ("acute", "grave", "hook", "tilde", "dot")
_TONE_MARKS = set(TONES.values())

LETTER_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
VIETNAMESE_LETTERS = "ăâđêôơư"

_BASE_VOWELS = set("aăâeêioôơuưy")
_HAT_OR_HORN = set("ăâêôơư")


def _decompose(ch: str) -> tuple[str, str | None]:
    """A letter without its tone mark (keeping hats, horns and breves) and the tone mark, if any."""
    nfd = unicodedata.normalize("NFD", ch)
    tone = next((c for c in nfd if c in _TONE_MARKS), None)
    base = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in _TONE_MARKS))
    return base, tone


def _is_vowel(ch: str) -> bool:
    return _decompose(ch)[0].lower() in _BASE_VOWELS


def tone_position(word: str) -> int | None:
    """Index in ``word`` (NFC) of the vowel that carries the tone, or None when it has no vowel."""
    letters = [_decompose(c)[0].lower() for c in word]
    start = 0
    low = "".join(letters)
    if low.startswith("qu") or (low.startswith("gi") and len(low) > 2 and _is_vowel(low[2])):
        start = 2
    # the first cluster of vowels after the start
    i = start
    while i < len(letters) and letters[i] not in _BASE_VOWELS:
        i += 1
    if i == len(letters):
        if start == 2 and low.startswith("gi"):
            return 1
        return None
    j = i
    while j < len(letters) and letters[j] in _BASE_VOWELS:
        j += 1
    cluster = list(range(i, j))
    marked = [k for k in cluster if letters[k] in _HAT_OR_HORN]
    if marked:
        return marked[-1]
    if j < len(letters):  # a consonant follows
        return cluster[-1]
    if len(cluster) == 1:
        return cluster[0]
    return cluster[1] if len(cluster) >= 3 else cluster[0]


def apply_tone(text: str, tone: str) -> str:
    """Put ``tone`` (a key of TONES) on the last word of ``text``; the same tone again removes it."""
    mark = TONES[tone]
    text = unicodedata.normalize("NFC", text)
    cut = max(text.rfind(" "), text.rfind("\n")) + 1
    head, word = text[:cut], text[cut:]
    pos = tone_position(word)
    if pos is None:
        return text
    chars = [_decompose(c) for c in word]
    # a word carries one tone: take the existing one off wherever it is
    existing = next((t for _, t in chars if t is not None), None)
    bases = [b for b, _ in chars]
    if existing != mark:
        bases[pos] = unicodedata.normalize("NFC", bases[pos] + mark)
    return head + "".join(bases)


def type_char(text: str, ch: str) -> str:
    """Append one typed character (NFC)."""
    return unicodedata.normalize("NFC", text + ch)


def backspace(text: str) -> str:
    """Remove the last character (a letter with its marks counts as one character in NFC)."""
    return unicodedata.normalize("NFC", text)[:-1]
