"""Vietnamese tone-mark repair and the CER metric, on hand-made inputs (no OCR run)."""

from __future__ import annotations

import unicodedata

import pytest

from kiosk.synth.page import SAMPLE_PARAGRAPHS
from kiosk.vision.ocr_metrics import char_error_rate, normalise_text
from kiosk.vision.types import OcrWord
from kiosk.vision.vi_postprocess import (
    base_letter,
    is_syllable,
    key,
    lexicon,
    repair_texts,
    repair_words,
    set_tone,
    strip_tone,
    tone_of,
)

Choices = list[list[tuple[str, float]]]


def choices_for(word: str, alternatives: dict[int, list[tuple[str, float]]] | None = None,
                top: float = 93.0) -> Choices:
    """Tesseract-like per-character choices: the read character first, then the given alternatives."""
    alternatives = alternatives or {}
    return [[(c, top), *alternatives.get(i, [])] for i, c in enumerate(word)]


def all_marks_choices(word: str) -> Choices:
    """Every character lists every other mark of its base letter at probability 0, as Tesseract often does."""
    variants = "aàảãáạăằẳẵắặâầẩẫấậeèẻẽéẹêềểễếệiìỉĩíịoòỏõóọôồổỗốộơờởỡớợuùủũúụưừửữứựyỳỷỹýỵdđ"
    out: Choices = []
    for c in word:
        alts = [(v, 0.0) for v in variants if base_letter(v) == base_letter(c) and v != c.lower()]
        out.append([(c, 95.0), *alts])
    return out


def test_tone_helpers() -> None:
    assert tone_of("tổ") == 3 and tone_of("tố") == 1 and tone_of("to") == 0
    assert strip_tone("Thẩm") == "Thâm"
    assert key("hoá") == key("hóa") == key("HÓA")
    assert set_tone("hoa", 1) == "hóa" and set_tone("thuy", 3) == "thủy" and set_tone("Uy", 3) == "Ủy"
    assert set_tone("quyêt", 1) == "quyết" and set_tone("nguơi", 2) == "nguời"
    assert set_tone("hoan", 2) == "hoàn" and set_tone("ngoai", 2) == "ngoài" and set_tone("gin", 2) == "gìn"
    assert is_syllable("người") and is_syllable("quyết") and is_syllable("Nguyễn")
    assert not is_syllable("quyet")  # a stop coda needs the sắc or nặng tone
    assert not is_syllable("tổt") and not is_syllable("abc") and not is_syllable("hóà")


def test_lexicon_has_compounds_and_syllables() -> None:
    lex = lexicon()
    assert lex.known("thủ") and lex.known("tục") and not lex.known("tỉn")
    assert lex.pair("thủ", "tục") == 1.0 and lex.pair("tổ", "chức") == 1.0 and lex.pair("hồ", "sơ") == 1.0
    assert lex.pair("thú", "tục") == 0.0
    assert lex.pair("bình", "phước") == 1.0  # place names


def test_hoi_read_as_sac_is_fixed_when_a_compound_supports_it() -> None:
    texts = ["các", "tố", "chức,", "cá", "nhân"]
    ch = [choices_for(t) for t in texts]
    ch[1] = choices_for("tố", {1: [("ổ", 4.0)]})
    assert repair_texts(texts, ch) == ["các", "tổ", "chức,", "cá", "nhân"]
    texts = ["giải", "quyết", "thú", "tục", "hành", "chính"]
    ch = [choices_for(t) for t in texts]
    ch[2] = choices_for("thú", {2: [("ủ", 12.0)]})
    assert repair_texts(texts, ch)[2] == "thủ"
    texts = ["có", "thấm", "quyền"]
    ch = [choices_for(t) for t in texts]
    ch[1] = choices_for("thấm", {2: [("ẩ", 20.0)]})
    assert repair_texts(texts, ch)[1] == "thẩm"


def test_left_alone_when_context_does_not_support_it() -> None:
    # "tố cáo" is a word: the same runner-up must not turn it into "tổ cáo"
    texts = ["quyền", "tố", "cáo"]
    ch = [choices_for(t) for t in texts]
    ch[1] = choices_for("tố", {1: [("ổ", 4.0)]})
    assert repair_texts(texts, ch) == texts
    # an animal: "con thú" stays, although "thủ" is listed
    texts = ["con", "thú", "rừng"]
    ch = [choices_for(t) for t in texts]
    ch[1] = choices_for("thú", {2: [("ủ", 12.0)]})
    assert repair_texts(texts, ch) == texts
    # no runner-up listed and the word is valid: nothing to do, whatever the context
    assert repair_texts(["các", "tố", "chức"], [choices_for(t) for t in ["các", "tố", "chức"]]) == \
        ["các", "tố", "chức"]
    # a punctuation mark ends the context: "tố." does not pair with the next word
    texts = ["tố.", "chức"]
    ch = [choices_for("tố.", {1: [("ổ", 4.0)]}), choices_for("chức")]
    assert repair_texts(texts, ch) == texts


def test_invalid_syllables_are_repaired_from_context() -> None:
    assert repair_texts(["thông", "tỉn"]) == ["thông", "tin"]
    assert repair_texts(["chứng", "mỉnh."]) == ["chứng", "minh."]
    assert repair_texts(["người", "đân"]) == ["người", "dân"]
    # a heading in capitals that lost its marks, two words wrong at once
    texts = ["THỦ", "TỤC", "HANH", "CHINH"]
    ch = [choices_for(t) for t in texts]
    ch[2] = choices_for("HANH", {1: [("À", 22.0)]})
    ch[3] = choices_for("CHINH", {2: [("Í", 22.0)]})
    assert repair_texts(texts, ch) == ["THỦ", "TỤC", "HÀNH", "CHÍNH"]
    assert repair_texts(["GIẢI", "QUYET"]) == ["GIẢI", "QUYẾT"]


def test_correct_text_is_never_touched() -> None:
    for para in SAMPLE_PARAGRAPHS:
        words = para.split()
        assert repair_texts(words) == words
        assert repair_texts(words, [all_marks_choices(w) for w in words]) == words
    names = ["của", "nhà", "Nguyễn.", "Tỉnh", "Bình", "Phước", "và", "ông", "Phan", "Văn", "Khải"]
    assert repair_texts(names, [all_marks_choices(w) for w in names]) == names
    odd = ["PBGDPL", "83/TTr-STTTT", "2015;", "e-mail", "(Điều", "6)"]
    assert repair_texts(odd) == odd


def test_list_markers_follow_the_enumeration() -> None:
    texts = ["c)", "Cản", "trở.", "đ)", "Tiết", "lộ.", "d)", "Nhận", "xét."]
    lines = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    fixed = repair_texts(texts, None, lines)
    assert fixed == ["c)", "Cản", "trở.", "d)", "Tiết", "lộ.", "đ)", "Nhận", "xét."]
    # a misread marker in between: "đ)" after "c)" but before "e)" is left as read
    texts = ["c)", "x", "đd)", "y", "đ)", "z", "e)", "w"]
    assert repair_texts(texts, None, [0, 0, 1, 1, 2, 2, 3, 3]) == texts
    # a d) in the middle of a line is not a marker
    assert repair_texts(["xem", "đ)"], None, [0, 0]) == ["xem", "đ)"]


def test_repair_words_keeps_boxes_and_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "tỉn")
    words = [OcrWord("thông", (0, 0, 50, 20), 96.0, 0), OcrWord(decomposed, (55, 0, 80, 20), 91.0, 0)]
    out = repair_words(words)
    assert [w.text for w in out] == ["thông", "tin"]
    assert out[1].box == (55, 0, 80, 20) and out[1].confidence == 91.0 and out[1].line == 0
    assert out[0] is words[0]


def test_cer_splits_tone_and_base_errors() -> None:
    r = char_error_rate("Tổ chức  cổng\nthẩm quyền\n\n", "Tố chức cống\nthấm quyên x")
    assert r.ref_chars == len("Tổ chức cổng\nthẩm quyền")
    assert r.tone_errors == 4  # ổ/ố twice, ẩ/ấ, ề/ê
    assert r.base_errors == 2  # the inserted " x"
    assert r.cer == pytest.approx(6 / r.ref_chars)
    assert char_error_rate("dân", "đân").tone_errors == 1
    assert char_error_rate("vụ", "Vụ").base_errors == 1
    assert char_error_rate("a b", "a\nb").errors == 1
    assert normalise_text(" a   b \n\n c\t") == "a b\nc"
    assert char_error_rate("", "").cer == 0.0
