"""Character error rate for Vietnamese OCR, split into diacritic (tone-mark) and base-letter errors.

Comparison rules (docs/ocr.md):

* both texts are NFC-normalised;
* each line is stripped and runs of whitespace inside it collapse to one space; empty lines are dropped;
* the lines are joined with '\\n' and the two texts are compared as whole strings, so a missed line
  break counts as one substitution ('\\n' for ' ') and a dropped line as its deleted characters;
* CER = Levenshtein distance / number of reference characters (including the '\\n' separators).

An error is a *diacritic* error when it is a substitution whose two characters have the same base letter
once all combining marks are removed and 'đ' is folded to 'd' (tổ/tố, ư/u, Đ/D): a wrong, missing or
extra tone or vowel mark. Every other edit (a different letter, an insertion, a deletion, punctuation,
case) is a *base* error. ``cer = tone_cer + base_cer``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import numpy as np

_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFC, strip each line, collapse whitespace runs to one space, drop empty lines."""
    text = unicodedata.normalize("NFC", text)
    lines = (_WS.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def base_char(ch: str) -> str:
    """The letter without any diacritic ('ổ' -> 'o', 'Đ' -> 'D')."""
    if ch in "đĐ":
        return "d" if ch == "đ" else "D"
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c)) or ch


def strip_diacritics(text: str) -> str:
    return "".join(base_char(c) for c in unicodedata.normalize("NFC", text))


@dataclass
class CerResult:
    """Edit counts between a reference and a hypothesis."""

    ref_chars: int = 0
    tone_errors: int = 0
    base_errors: int = 0
    substitutions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return self.tone_errors + self.base_errors

    @property
    def cer(self) -> float:
        return self.errors / self.ref_chars if self.ref_chars else 0.0

    @property
    def tone_cer(self) -> float:
        return self.tone_errors / self.ref_chars if self.ref_chars else 0.0

    @property
    def base_cer(self) -> float:
        return self.base_errors / self.ref_chars if self.ref_chars else 0.0

    def __add__(self, other: CerResult) -> CerResult:
        return CerResult(self.ref_chars + other.ref_chars, self.tone_errors + other.tone_errors,
                         self.base_errors + other.base_errors, self.substitutions + other.substitutions)


def _edit_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full Levenshtein DP matrix (len(a)+1, len(b)+1), vectorised over the columns of each row."""
    n, m = len(a), len(b)
    d = np.empty((n + 1, m + 1), dtype=np.int32)
    d[0] = np.arange(m + 1, dtype=np.int32)
    cols = np.arange(m + 1, dtype=np.int32)
    for i in range(1, n + 1):
        prev = d[i - 1]
        row = np.empty(m + 1, dtype=np.int32)
        row[0] = i
        cost = (b != a[i - 1]).astype(np.int32)
        row[1:] = np.minimum(prev[1:] + 1, prev[:-1] + cost)
        # insertions: row[j] = min_k<=j (row[k] + j - k)
        d[i] = np.minimum.accumulate(row - cols) + cols
    return d


def align(ref: str, hyp: str) -> list[tuple[str, str]]:
    """Minimal edit script as (ref_char, hyp_char) pairs; '' marks an insertion or deletion."""
    a = np.frombuffer(ref.encode("utf-32-le"), dtype=np.uint32)
    b = np.frombuffer(hyp.encode("utf-32-le"), dtype=np.uint32)
    d = _edit_matrix(a, b)
    i, j = len(a), len(b)
    ops: list[tuple[str, str]] = []
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            ops.append((ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            ops.append((ref[i - 1], ""))
            i -= 1
        else:
            ops.append(("", hyp[j - 1]))
            j -= 1
    ops.reverse()
    return ops


def char_error_rate(reference: str, hypothesis: str) -> CerResult:
    """CER of ``hypothesis`` against ``reference`` after :func:`normalise_text`."""
    ref, hyp = normalise_text(reference), normalise_text(hypothesis)
    result = CerResult(ref_chars=len(ref))
    for r, h in align(ref, hyp):
        if r == h:
            continue
        if r and h and base_char(r) == base_char(h):
            result.tone_errors += 1
        else:
            result.base_errors += 1
        result.substitutions.append((r, h))
    return result


def word_errors(reference: str, hypothesis: str) -> list[tuple[str, str]]:
    """Word-level differences (reference word, hypothesis word) for error reports; aligned per word."""
    ref_words = normalise_text(reference).split()
    hyp_words = normalise_text(hypothesis).split()
    import difflib

    out: list[tuple[str, str]] = []
    sm = difflib.SequenceMatcher(a=ref_words, b=hyp_words, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "equal":
            out.append((" ".join(ref_words[i1:i2]), " ".join(hyp_words[j1:j2])))
    return out
