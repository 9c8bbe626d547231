"""Vietnamese post-processing of OCR words: NFC and tone-mark repair supported by a lexicon and context.

Tesseract's Vietnamese model reads the letters well; most of its errors are diacritics: a hook (hỏi) read
as an acute (sắc), a plain 'i' read as 'ỉ', 'd' read as 'đ', marks lost on bold capitals. The repair
never changes a word on its own: it combines

* Tesseract's own runner-up characters and their probabilities (``lstm_choice_mode=2``), which give the
  candidate spellings of a word (only alternatives with the same base letter: tone and vowel marks, d/đ);
* a lexicon of Vietnamese words (``kiosk/data/vi/words.txt``, built by ``scripts/build_vi_lexicon.py`` from
  pyvi and underthesea word lists): which syllables exist, and which syllable pairs occur inside words
  (thủ tục, tổ chức, hồ sơ, theo dõi, ...);
* the neighbouring words: a Viterbi search over the candidates of a run of words picks the reading that
  maximises OCR evidence plus lexicon support.

A word that is a valid syllable is only changed to one of Tesseract's listed alternatives, and only when the
alternative forms a lexicon word with a neighbour that the OCR reading does not. A word that is not a valid
syllable (tỉn, mỉnh, QUYET) may also take another tone, if the lexicon and context support one.
Letter-list markers at the start of a line follow the Vietnamese legal enumeration a) b) c) d) đ) e) ...:
an 'đ)' right after 'c)' is read as 'd)' and a 'd)' after 'd)' as 'đ)'.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from itertools import combinations, pairwise

from kiosk.vision.types import OcrWord

# Tone marks as combining characters, and the tone numbers used in keys (0 = ngang, no mark).
TONE_MARKS = {"\u0301": 1, "\u0300": 2, "\u0309": 3, "\u0303": 4, "\u0323": 5}
_TONE_BY_NUMBER = {v: k for k, v in TONE_MARKS.items()}
_VOWELS = set("aăâeêioôơuưy")
_MARKED_VOWELS = set("ăâêôơư")
_ONSETS = sorted(["ngh", "ng", "gh", "gi", "kh", "nh", "ph", "qu", "th", "tr", "ch",
                  "b", "c", "d", "đ", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x"],
                 key=len, reverse=True)
_CODAS = {"", "c", "ch", "m", "n", "ng", "nh", "p", "t"}
_STOP_CODAS = {"c", "ch", "p", "t"}
_LETTERS = set("abcdđeghiklmnopqrstuvxy") | _VOWELS
# Legal enumerations use this order (no ă, â, ê, ô, ơ, ư; đ after d).
LIST_ORDER = "abcdđeghiklmnopqrstuvxy"

# Scoring (log-probability units), chosen on synthetic validation pages rendered from text that is not the
# benchmark's (docs/ocr.md):
PAIR_BONUS = 3.0  # a two-syllable lexicon word
INNER_PAIR_WEIGHT = 0.34  # a pair inside a longer lexicon word (idioms) counts this fraction of PAIR_BONUS
INVALID_PENALTY = 6.0  # a syllable that is not in the lexicon (or not well formed)
NAME_PENALTY = 1.0  # a well-formed capitalised syllable that is not in the lexicon (a name: Nguyễn)
UNLISTED_PRIOR = math.log(1.0 / 101.0)  # a tone variant that Tesseract did not list (invalid words only)
FREQ_WEIGHT = 0.15  # times log(1 + number of lexicon words that contain the syllable)
MAX_CANDIDATES = 16


def strip_tone(syllable: str) -> str:
    """The syllable without its tone mark (vowel marks and đ kept), NFC."""
    d = unicodedata.normalize("NFD", syllable)
    return unicodedata.normalize("NFC", "".join(c for c in d if c not in TONE_MARKS))


def tone_of(syllable: str) -> int:
    """Tone number 0..5 (ngang, sắc, huyền, hỏi, ngã, nặng); the last mark if there are several."""
    tone = 0
    for c in unicodedata.normalize("NFD", syllable):
        if c in TONE_MARKS:
            tone = TONE_MARKS[c]
    return tone


def tone_count(syllable: str) -> int:
    return sum(1 for c in unicodedata.normalize("NFD", syllable) if c in TONE_MARKS)


def key(syllable: str) -> str:
    """Lookup key independent of case and of where the tone mark sits (hoá = hóa): toneless + digit."""
    low = syllable.lower()
    return strip_tone(low) + str(tone_of(low))


def _split(toneless: str) -> tuple[str, str, str] | None:
    """(onset, vowels, coda) of a lower-case toneless syllable, or None if it does not parse."""
    onset = ""
    for o in _ONSETS:
        if toneless.startswith(o):
            onset = o
            break
    rest = toneless[len(onset):]
    if onset == "gi" and (not rest or rest[0] not in _VOWELS):
        onset, rest = "g", toneless[1:]  # gì, gìn: the i is the vowel
    if onset == "qu" and not rest:
        return None
    i = 0
    while i < len(rest) and rest[i] in _VOWELS:
        i += 1
    vowels, coda = rest[:i], rest[i:]
    if not vowels or len(vowels) > 3 or coda not in _CODAS:
        return None
    return onset, vowels, coda


def is_syllable(syllable: str) -> bool:
    """Well-formed Vietnamese syllable (spelling structure and tone rules; not a lexicon check)."""
    low = unicodedata.normalize("NFC", syllable.lower())
    if not low or any(c not in _LETTERS for c in strip_tone(low)) or tone_count(low) > 1:
        return False
    parts = _split(strip_tone(low))
    if parts is None:
        return False
    return not (parts[2] in _STOP_CODAS and tone_of(low) not in (1, 5))


def _tone_index(toneless: str) -> int | None:
    """Index of the letter that carries the tone in a lower-case toneless syllable."""
    parts = _split(toneless)
    if parts is None:
        return None
    onset, vowels, coda = parts
    start = len(onset)
    marked = [i for i, c in enumerate(vowels) if c in _MARKED_VOWELS]
    if marked:
        return start + marked[-1]
    if len(vowels) == 1:
        return start
    if coda:
        return start + len(vowels) - 1
    if len(vowels) == 3:
        return start + 1
    return start  # two vowels, open syllable: hóa, thủy, mía, tài


def set_tone(syllable: str, tone: int) -> str | None:
    """``syllable`` with tone ``tone`` placed as in current administrative spelling (hóa, thủy, người);
    the case of each letter is kept. None if the syllable does not parse."""
    toneless = strip_tone(syllable)
    idx = _tone_index(toneless.lower())
    if idx is None:
        return None
    if tone == 0:
        return toneless
    ch = unicodedata.normalize("NFC", toneless[idx] + _TONE_BY_NUMBER[tone])
    return toneless[:idx] + ch + toneless[idx + 1:]


def modern_tone_placement(syllable: str) -> str:
    out = set_tone(syllable, tone_of(syllable))
    return out if out is not None else unicodedata.normalize("NFC", syllable)


@dataclass(frozen=True)
class Lexicon:
    """Syllables (key -> number of lexicon words containing it) and syllable pairs: 1.0 for a two-syllable
    word, ``INNER_PAIR_WEIGHT`` for a pair that only occurs inside longer words."""

    syllables: dict[str, int]
    pairs: dict[tuple[str, str], float]

    def known(self, syllable: str) -> bool:
        return key(syllable) in self.syllables and is_syllable(syllable)

    def status(self, syllable: str) -> int:
        """0: a lexicon syllable; 1: not in the lexicon but a well-formed capitalised syllable (a name such
        as Nguyễn, or a heading word); 2: invalid."""
        if self.known(syllable):
            return 0
        return 1 if syllable[:1].isupper() and is_syllable(syllable) else 2

    def valid(self, syllable: str) -> bool:
        return self.status(syllable) < 2

    def count(self, syllable: str) -> int:
        return self.syllables.get(key(syllable), 0)

    def pair(self, a: str, b: str) -> float:
        return self.pairs.get((key(a), key(b)), 0.0)


def parse_lexicon(lines: Sequence[str]) -> Lexicon:
    syllables: dict[str, int] = {}
    pairs: dict[tuple[str, str], float] = {}
    keys: dict[str, str] = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        ks = []
        for s in line.split():
            k = keys.get(s)
            if k is None:
                k = keys[s] = key(s)
            ks.append(k)
        for k in set(ks):
            syllables[k] = syllables.get(k, 0) + 1
        weight = 1.0 if len(ks) == 2 else INNER_PAIR_WEIGHT
        for pair in pairwise(ks):
            if pairs.get(pair, 0.0) < weight:
                pairs[pair] = weight
    return Lexicon(syllables, pairs)


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon (loaded once per process)."""
    text = resources.files("kiosk").joinpath("data/vi/words.txt").read_text("utf-8")
    return parse_lexicon(text.splitlines())


# ---------------------------------------------------------------------------------------------------------
# Tokens and candidates

_PUNCT_BREAK = set(".,;:!?()[]{}\"'“”‘’«»…/\\|<>=+*&%$#@~^_")
_CORE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


def base_letter(ch: str) -> str:
    """Letter without any mark, lower case; 'đ' -> 'd'."""
    low = ch.lower()
    if low == "đ":
        return "d"
    d = unicodedata.normalize("NFD", low)
    return "".join(c for c in d if not unicodedata.combining(c)) or low


def _match_case(template: str, ch: str) -> str:
    return ch.upper() if template.isupper() else ch.lower()


def _restore_case(template: str, lower: str) -> str:
    if len(template) != len(lower):
        return lower
    return "".join(_match_case(t, c) if t.isalpha() else c for t, c in zip(template, lower, strict=True))


@dataclass
class _Token:
    prefix: str
    core: str
    suffix: str
    candidates: dict[str, float]  # lower-case core -> OCR log-score relative to the OCR reading
    eligible: bool


def _title_case(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word[1:].islower()


def _split_token(text: str) -> tuple[str, str, str]:
    m = _CORE.match(text)
    if m is None:
        return "", text, ""
    return m.group(1), m.group(2), m.group(3)


def _is_vietnamese_core(core: str) -> bool:
    low = core.lower()
    return bool(low) and len(low) <= 8 and all(c.isalpha() for c in low) and \
        all(c in _LETTERS for c in strip_tone(low))


def _candidates(core: str, choices: Sequence[Sequence[tuple[str, float]]] | None, lex: Lexicon
                ) -> dict[str, float]:
    """Candidate spellings (lower case) of ``core`` with their OCR log-scores (0 for the OCR reading)."""
    low = core.lower()
    cands: dict[str, float] = {low: 0.0}
    per_pos: list[list[tuple[int, str, float]]] = []
    if choices is not None and len(choices) == len(core):
        for i, (ch, opts) in enumerate(zip(core, choices, strict=True)):
            if not opts:
                continue
            p_chosen = next((p for t, p in opts if t == ch), opts[0][1])
            alts = []
            for t, p in opts:
                if len(t) != 1 or t.lower() == ch.lower() or base_letter(t) != base_letter(ch):
                    continue
                alts.append((i, t.lower(), math.log((p + 1.0) / (p_chosen + 1.0))))
            if alts:
                per_pos.append(alts)
    singles = [a for alts in per_pos for a in alts]
    combos: list[tuple[tuple[int, str, float], ...]] = [(a,) for a in singles]
    for p1, p2 in combinations(range(len(per_pos)), 2):
        combos += [(a, b) for a in per_pos[p1] for b in per_pos[p2]]
    for combo in combos:
        chars = list(low)
        score = 0.0
        for i, t, s in combo:
            chars[i] = t
            score += s
        cand = "".join(chars)
        if cand not in cands or cands[cand] < score:
            cands[cand] = score
    if not lex.valid(core):
        # not a syllable: the same letters with other marks (tone, vowel marks, d/đ) are possible readings
        for stem in _mark_variants(strip_tone(low)):
            for tone in range(6):
                v = set_tone(stem, tone)
                if v is not None and v != low and v not in cands and lex.valid(_restore_case(core, v)):
                    cands[v] = UNLISTED_PRIOR
    ranked = sorted(cands.items(), key=lambda kv: -kv[1])
    kept = {c: s for c, s in ranked if c == low or lex.valid(_restore_case(core, c))}
    return dict(list(kept.items())[:MAX_CANDIDATES]) | {low: 0.0}


_MARK_OPTIONS = {"a": "aăâ", "ă": "aăâ", "â": "aăâ", "e": "eê", "ê": "eê", "o": "oôơ", "ô": "oôơ",
                 "ơ": "oôơ", "u": "uư", "ư": "uư", "d": "dđ", "đ": "dđ"}


def _mark_variants(toneless: str) -> list[str]:
    """Every spelling of a toneless syllable with other vowel marks or d/đ (the syllable included)."""
    out = [""]
    for c in toneless:
        opts = _MARK_OPTIONS.get(c, c)
        out = [o + x for o in out for x in opts]
        if len(out) > 64:
            return [toneless]
    return out


def _unary(cand: str, ocr_score: float, lex: Lexicon, template: str) -> float:
    penalty = (0.0, NAME_PENALTY, INVALID_PENALTY)[lex.status(_restore_case(template, cand))]
    return ocr_score - penalty + FREQ_WEIGHT * math.log1p(lex.count(cand))


def _viterbi(run: list[_Token], lex: Lexicon) -> list[str]:
    """Best candidate for each token of a run of adjacent eligible tokens."""
    cand_lists = [list(t.candidates.items()) for t in run]
    scores = [_unary(c, s, lex, run[0].core) for c, s in cand_lists[0]]
    back: list[list[int]] = []
    for k in range(1, len(run)):
        new_scores: list[float] = []
        ptr: list[int] = []
        for c, s in cand_lists[k]:
            u = _unary(c, s, lex, run[k].core)
            best, arg = -math.inf, 0
            for j, (pc, _) in enumerate(cand_lists[k - 1]):
                v = scores[j] + PAIR_BONUS * lex.pair(pc, c)
                if v > best:
                    best, arg = v, j
            new_scores.append(best + u)
            ptr.append(arg)
        scores = new_scores
        back.append(ptr)
    idx = max(range(len(scores)), key=lambda i: scores[i])
    out = [cand_lists[-1][idx][0]]
    for k in range(len(run) - 2, -1, -1):
        idx = back[k][idx]
        out.append(cand_lists[k][idx][0])
    out.reverse()
    return out


WordChoices = Sequence[Sequence[tuple[str, float]]]


def repair_texts(texts: Sequence[str], choices: Sequence[WordChoices | None] | None = None,
                 lines: Sequence[int] | None = None, *, lex: Lexicon | None = None) -> list[str]:
    """Repair a page's words in reading order. ``choices[i]`` holds, per character of ``texts[i]``,
    Tesseract's alternatives [(char, probability %)]; ``lines[i]`` is the word's line number."""
    lex = lex or lexicon()
    # Icelandic eth (U+00D0/U+00F0) is drawn like the Vietnamese đ and never occurs in Vietnamese text
    texts = [unicodedata.normalize("NFC", t).translate(_ETH) for t in texts]
    tokens: list[_Token] = []
    for i, text in enumerate(texts):
        prefix, core, suffix = _split_token(text)
        ok = _is_vietnamese_core(core)
        ch = choices[i] if choices is not None else None
        if ch is not None and len(ch) == len(text) and ok:
            ch = ch[len(prefix):len(prefix) + len(core)]
        else:
            ch = None
        cands = _candidates(core, ch, lex) if ok else {}
        tokens.append(_Token(prefix, core, suffix, cands, ok))
    out = list(texts)
    run: list[int] = []

    def flush() -> None:
        if run:
            # a valid OCR reading is kept as it is when it forms a two-syllable word with an OCR neighbour,
            # or when it is a capitalised word next to another one (a name: Nguyễn Đình Thi)
            for k, j in enumerate(run):
                core = tokens[j].core
                if len(tokens[j].candidates) <= 1 or not lex.valid(core):
                    continue
                left = tokens[run[k - 1]].core if k > 0 else None
                right = tokens[run[k + 1]].core if k + 1 < len(run) else None
                paired = (left is not None and lex.pair(left, core) >= 1.0) or \
                    (right is not None and lex.pair(core, right) >= 1.0)
                name = _title_case(core) and any(n is not None and _title_case(n) for n in (left, right))
                if paired or name:
                    tokens[j].candidates = {core.lower(): 0.0}
            best = _viterbi([tokens[j] for j in run], lex)
            for j, cand in zip(run, best, strict=True):
                t = tokens[j]
                if cand != t.core.lower():
                    out[j] = t.prefix + _restore_case(t.core, cand) + t.suffix
            run.clear()

    for i, t in enumerate(tokens):
        if not t.eligible or (t.prefix and any(c in _PUNCT_BREAK for c in t.prefix)):
            flush()
        if t.eligible:
            run.append(i)
        if not t.eligible or (t.suffix and any(c in _PUNCT_BREAK for c in t.suffix)):
            flush()
    flush()
    if lines is not None:
        out = _fix_list_markers(out, lines)
    return [unicodedata.normalize("NFC", t) for t in out]


_ETH = str.maketrans({"\u00d0": "\u0110", "\u00f0": "\u0111"})
_MARKER = re.compile(r"^([a-zđ])\)$")


def _fix_list_markers(texts: list[str], lines: Sequence[int]) -> list[str]:
    """d) / đ) at the start of a line, from the neighbouring markers of the enumeration: after c) or
    before đ) it is d); after d) or before e) it is đ). Conflicting evidence leaves it as read."""
    out = list(texts)
    markers: list[tuple[int, str]] = []
    for i, text in enumerate(texts):
        if i > 0 and lines[i] == lines[i - 1]:
            continue
        m = _MARKER.match(text)
        if m is not None:
            markers.append((i, m.group(1)))
    letters = [letter for _, letter in markers]
    for k, (i, letter) in enumerate(markers):
        if letter not in "dđ":
            continue
        votes = set()
        if k > 0:
            votes.add({"c": "d", "d": "đ"}.get(letters[k - 1], ""))
        if k + 1 < len(markers):
            votes.add({"đ": "d", "e": "đ"}.get(letters[k + 1], ""))
        votes.discard("")
        if len(votes) == 1:
            letters[k] = votes.pop()
            out[i] = letters[k] + ")"
    return out


def repair_words(words: list[OcrWord], choices: Sequence[WordChoices | None] | None = None) -> list[OcrWord]:
    """Tone-mark repair of OCR words (boxes and confidences kept); ``choices`` as in :func:`repair_texts`."""
    fixed = repair_texts([w.text for w in words], choices, [w.line for w in words])
    return [w if t == w.text else replace(w, text=t) for w, t in zip(words, fixed, strict=True)]
