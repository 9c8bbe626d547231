"""Form definitions and key-value extraction from OCR'd application forms (DESIGN R5).

A form definition (``kiosk/data/forms/<id>.toml``) gives the heading that identifies the form, its printed
``layout`` (static lines and field lines, top to bottom) and its ``fields``: the label as printed, a key, a
type and validation rules. ``extract_form(ocr, form)`` then:

1. puts the OCR words in reading order (geometric lines, left to right) and finds every printed label and
   static line in that word stream, tolerant of OCR errors, lost punctuation and words split or merged by
   OCR or by line wrapping; labels printed more than once ("Nơi cư trú:", "Dân tộc:") are told apart by
   their order on the page (an order-preserving alignment of all printed anchors);
2. takes as a field's value the words after its label up to the next printed label or static line (so a
   value may continue on the following lines), without dotted leaders;
3. normalises the value by type (dates ISO 8601, ID numbers digits only, names as printed, enums snapped
   to their vocabulary) and validates it (CCCD numbers with ``kiosk.core.identifiers.parse_cccd``, dates,
   date-in-words against the numeric date, phone and e-mail formats);
4. gives each field a confidence in [0, 1]: Tesseract's word confidences of the value (mean and minimum)
   times a validation factor times a label-match factor. A field below the form's threshold, invalid, or
   required but unreadable is ``needs_confirmation``: the citizen confirms or corrects it on screen.

Field types: ``text``, ``name``, ``date``, ``date_or_year``, ``date_words``, ``cccd``, ``enum`` (``choices``
or a ``vocabulary`` from ``_vocabularies.toml``), ``phone``, ``email``.
"""

from __future__ import annotations

import logging
import re
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.core.identifiers import parse_cccd
from kiosk.core.textnorm import fold
from kiosk.errors import KioskError
from kiosk.extract import textutil as tu
from kiosk.vision.types import OcrPage, OcrWord

log = logging.getLogger("kiosk.extract")

FORMS_DIR = Path(__file__).resolve().parent.parent / "data" / "forms"
DEFAULT_THRESHOLD = 0.75
FIELD_TYPES = frozenset(
    {"text", "name", "date", "date_or_year", "date_words", "cccd", "enum", "phone", "email"}
)
STATIC_STYLES = frozenset(
    {
        "motto",
        "motto2",
        "title",
        "text",
        "bold",
        "italic",
        "signdate",
        "sign",
        "signnote",
        "formcode",
        "table",
    }
)
_ANCHOR_TOKENS = 6  # a static line is recognised by its first words


@dataclass(frozen=True)
class FieldDef:
    """One field of a form: the label as printed (plus accepted variants), its key and its rules."""

    key: str
    label: str
    type: str = "text"
    aliases: tuple[str, ...] = ()
    required: bool = False
    choices: tuple[str, ...] = ()
    vocabulary: str | None = None
    past: bool = False  # a date that cannot lie in the future (birth dates)
    boxes: int = 0  # printed as a row of digit boxes
    birth_date_field: str | None = None  # cccd: cross-check digits 4-6 against this date field
    matches_date: str | None = None  # date_words: must say the same date as this field

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.aliases)


@dataclass(frozen=True)
class LayoutLine:
    """A printed line: static text (``style`` in STATIC_STYLES) or a row of fields (``style='fields'``)."""

    style: str
    text: str = ""
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FormDefinition:
    id: str
    name: str
    paper_type_code: str
    instrument: str
    heading: tuple[str, ...]
    fields: tuple[FieldDef, ...]
    layout: tuple[LayoutLine, ...]
    confidence_threshold: float = DEFAULT_THRESHOLD

    def field(self, key: str) -> FieldDef:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def field_keys(self) -> list[str]:
        return [f.key for f in self.fields]


@dataclass
class ExtractedField:
    """A field value as extracted: normalised ``value`` (None when empty or unreadable), ``confidence``
    in [0, 1], whether the citizen must confirm it, the value's box in page pixels (x0, y0, x1, y1), the
    raw OCR text, and the message key of the validation problem, if any."""

    value: str | None
    confidence: float
    needs_confirmation: bool
    box: tuple[int, int, int, int] | None
    raw: str = ""
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["box"] = list(self.box) if self.box else None
        return d


@dataclass
class ExtractedForm:
    form_id: str
    fields: dict[str, ExtractedField] = field(default_factory=dict)
    heading_found: bool = True

    def needs_confirmation(self) -> list[str]:
        return [k for k, f in self.fields.items() if f.needs_confirmation]

    def values(self) -> dict[str, str | None]:
        return {k: f.value for k, f in self.fields.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "form_id": self.form_id,
            "heading_found": self.heading_found,
            "needs_confirmation": self.needs_confirmation(),
            "fields": {k: f.to_dict() for k, f in self.fields.items()},
        }


# --- loading ----------------------------------------------------------------------------------------


def _field_from(raw: dict[str, Any], form_id: str) -> FieldDef:
    ftype = raw.get("type", "text")
    if ftype not in FIELD_TYPES:
        raise ValueError(f"form {form_id}: field {raw.get('key')}: unknown type {ftype!r}")
    if ftype == "enum" and not raw.get("choices") and not raw.get("vocabulary"):
        raise ValueError(f"form {form_id}: enum field {raw.get('key')} needs choices or vocabulary")
    return FieldDef(
        key=raw["key"],
        label=tu.nfc(raw["label"]),
        type=ftype,
        aliases=tuple(tu.nfc(a) for a in raw.get("aliases", [])),
        required=bool(raw.get("required", False)),
        choices=tuple(tu.nfc(c) for c in raw.get("choices", [])),
        vocabulary=raw.get("vocabulary"),
        past=bool(raw.get("past", False)),
        boxes=int(raw.get("boxes", 0)),
        birth_date_field=raw.get("birth_date_field"),
        matches_date=raw.get("matches_date"),
    )


def parse_form(data: dict[str, Any]) -> FormDefinition:
    """Build a form definition from its TOML data; raises ValueError when it is inconsistent."""
    form_id = data["id"]
    fields = tuple(_field_from(f, form_id) for f in data.get("fields", []))
    keys = [f.key for f in fields]
    if len(set(keys)) != len(keys):
        raise ValueError(f"form {form_id}: duplicate field keys")
    layout: list[LayoutLine] = []
    placed: list[str] = []
    for entry in data.get("layout", []):
        if "fields" in entry:
            names = tuple(entry["fields"])
            unknown = [n for n in names if n not in keys]
            if unknown:
                raise ValueError(f"form {form_id}: layout names unknown fields {unknown}")
            placed.extend(names)
            layout.append(LayoutLine("fields", "", names))
        else:
            style = entry.get("style", "text")
            if style not in STATIC_STYLES:
                raise ValueError(f"form {form_id}: unknown layout style {style!r}")
            layout.append(LayoutLine(style, tu.nfc(entry["text"])))
    if placed != keys:
        raise ValueError(
            f"form {form_id}: the layout must place every field once, in the order of [[fields]]"
        )
    vocab = vocabularies()
    for f in fields:
        if f.vocabulary and f.vocabulary not in vocab:
            raise ValueError(f"form {form_id}: unknown vocabulary {f.vocabulary!r}")
        for ref in (f.birth_date_field, f.matches_date):
            if ref and ref not in keys:
                raise ValueError(f"form {form_id}: field {f.key} refers to unknown field {ref!r}")
    return FormDefinition(
        id=form_id,
        name=tu.nfc(data["name"]),
        paper_type_code=data.get("paper_type_code", form_id),
        instrument=tu.nfc(data.get("instrument", "")),
        heading=tuple(tu.nfc(h) for h in data["heading"]),
        fields=fields,
        layout=tuple(layout),
        confidence_threshold=float(data.get("confidence_threshold", DEFAULT_THRESHOLD)),
    )


@cache
def vocabularies(folder: Path = FORMS_DIR) -> dict[str, tuple[str, ...]]:
    path = folder / "_vocabularies.toml"
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return {k: tuple(tu.nfc(v) for v in vs) for k, vs in data.items()}


@cache
def load_forms(folder: Path = FORMS_DIR) -> dict[str, FormDefinition]:
    """Every form definition in ``folder`` (files starting with '_' hold shared data), by form id."""
    forms: dict[str, FormDefinition] = {}
    for path in sorted(folder.glob("*.toml")):
        if path.name.startswith("_"):
            continue
        with path.open("rb") as fh:
            form = parse_form(tomllib.load(fh))
        if form.id in forms:
            raise ValueError(f"duplicate form id {form.id} in {path.name}")
        forms[form.id] = form
    return forms


def get_form(form_id: str) -> FormDefinition:
    forms = load_forms()
    if form_id in forms:
        return forms[form_id]
    for form in forms.values():  # also accept the paper-type code
        if form.paper_type_code == form_id:
            return form
    raise KioskError("extract.unknown_form", form=form_id, known=", ".join(sorted(forms)))


# --- word stream --------------------------------------------------------------------------------------


@dataclass
class _Stream:
    words: list[OcrWord]  # reading order
    tokens: list[tu.Token]  # words with a non-empty key
    line_of: list[int]  # line index of each word
    line_height: float


def _stream(ocr: OcrPage) -> _Stream:
    lines = tu.reading_lines(ocr.words)
    words: list[OcrWord] = []
    line_of: list[int] = []
    for li, ws in enumerate(lines):
        for w in ws:
            words.append(w)
            line_of.append(li)
    tokens = [tu.Token(k, i) for i, w in enumerate(words) if (k := tu.match_key(w.text))]
    heights = [w.box[3] - w.box[1] for w in words if not tu.is_leader(w.text)]
    return _Stream(words, tokens, line_of, float(np.median(heights)) if heights else 20.0)


def detect_form(ocr: OcrPage, forms: dict[str, FormDefinition] | None = None) -> FormDefinition | None:
    """The form whose heading is printed on the page (best fuzzy match in its top half), or None."""
    st = _stream(ocr)
    top = [t for t in st.tokens if st.words[t.word].box[1] < max(ocr.height, 1) * 0.5] or st.tokens
    best: tuple[float, FormDefinition] | None = None
    for form in (forms or load_forms()).values():
        for heading in form.heading:
            hits = tu.find_label(
                top, heading, min_score=0.9
            )  # near-identical titles of other forms differ by a word
            if hits:
                score = max(h.score for h in hits) + 0.001 * len(heading)  # prefer the longer heading
                if best is None or score > best[0]:
                    best = (score, form)
    return best[1] if best else None


# --- extraction -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Anchor:
    field: FieldDef | None  # None for a static line
    text: str


def _anchors(form: FormDefinition) -> list[_Anchor]:
    out: list[_Anchor] = []
    for line in form.layout:
        if line.style == "fields":
            out.extend(_Anchor(form.field(k), "") for k in line.fields)
        else:
            text = line.text.split("|")[0] if line.style == "table" else line.text
            words = [w for w in text.split() if tu.match_key(w)]
            if len(words) >= 2:
                out.append(_Anchor(None, " ".join(words[:_ANCHOR_TOKENS])))
    return out


def _candidates(tokens: list[tu.Token], anchor: _Anchor) -> list[tu.Match]:
    if anchor.field is None:
        return tu.find_label(tokens, anchor.text, min_score=0.7)
    found: dict[tuple[int, int], tu.Match] = {}
    for label in anchor.field.labels:
        for m in tu.find_label(tokens, label):
            key = (m.start, m.end)
            if key not in found or m.score > found[key].score:
                found[key] = m
    return sorted(found.values(), key=lambda m: m.start)


def _word_conf(words: list[OcrWord]) -> float:
    if not words:
        return 0.0
    confs = [max(0.0, min(100.0, w.confidence)) / 100.0 for w in words]
    return 0.7 * float(np.mean(confs)) + 0.3 * min(confs)


_PUNCT_EDGES = " :;,.-–—_…·|'\"`"


def _clean_text(words: list[OcrWord]) -> str:
    text = tu.strip_leaders(" ".join(w.text for w in words))
    text = re.sub(r"\s+", " ", text).strip(_PUNCT_EDGES)
    return tu.nfc(text)


@dataclass
class _Norm:
    value: str | None
    factor: float  # validation factor in [0, 1]
    problem: str | None = None


def _snap(text: str, options: tuple[str, ...], min_sim: float) -> tuple[str | None, float]:
    key = fold(text).replace("-", " ")
    best, best_s = None, 0.0
    for opt in options:
        s = tu.similarity(key, fold(opt).replace("-", " "))
        if s > best_s:
            best, best_s = opt, s
    return (best, best_s) if best_s >= min_sim else (None, best_s)


_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^0[1-9]\d{8,9}$")


def _normalise(fd: FieldDef, text: str, done: dict[str, ExtractedField], today: date) -> _Norm:
    if not text:
        return _Norm(None, 0.0, "extract.empty")
    t = fd.type
    if t == "text":
        return _Norm(text, 1.0)
    if t == "name":
        name = re.sub(r"[^\w\s'-]", "", text, flags=re.UNICODE)
        name = re.sub(r"\s+", " ", name).strip()
        if any(c.isdigit() or c == "_" for c in name) or len(name.split()) < 2:
            return _Norm(name or None, 0.3, "extract.invalid_name")
        return _Norm(name, 1.0)
    if t in ("date", "date_or_year"):
        d = tu.parse_date(text)
        if d is None and t == "date_or_year":
            y = tu.parse_year(text)
            digits = re.sub(r"\D", "", tu.digits_repaired(text))
            if y is not None and len(digits) == 4:
                if not 1900 <= y <= today.year:
                    return _Norm(str(y), 0.3, "extract.invalid_date")
                return _Norm(str(y), 1.0)
        if d is None:
            return _Norm(None, 0.2, "extract.invalid_date")
        if d.year < 1900 or (fd.past and d > today):
            return _Norm(
                d.isoformat(), 0.3, "extract.date_in_future" if d > today else "extract.invalid_date"
            )
        return _Norm(d.isoformat(), 1.0)
    if t == "date_words":
        said = tu.date_from_words(text)
        if fd.matches_date and (ref := done.get(fd.matches_date)) and ref.value:
            if said is None:
                return _Norm(text, 0.5, "extract.date_words_unreadable")
            if said.isoformat() != ref.value:
                return _Norm(text, 0.4, "extract.date_words_mismatch")
            return _Norm(text, 1.0)
        return _Norm(text, 1.0 if said else 0.6, None if said else "extract.date_words_unreadable")
    if t == "cccd":
        view = tu.digits_repaired(text) if fd.boxes else _digit_tokens(text)
        runs = re.findall(r"\d+", re.sub(r"(?<=\d)\s+(?=\d)", "", view) if fd.boxes else view)
        twelve = [r for r in runs if len(r) == 12]
        value = twelve[0] if len(twelve) == 1 else "".join(runs)
        birth: date | None = None
        if (
            fd.birth_date_field
            and (ref := done.get(fd.birth_date_field))
            and ref.value
            and len(ref.value) == 10
        ):
            birth = date.fromisoformat(ref.value)
        try:
            parse_cccd(value, birth, today=today)
        except KioskError as exc:
            return _Norm(value or None, 0.3, exc.key)
        return _Norm(value, 1.0)
    if t == "enum":
        options = fd.choices or vocabularies()[fd.vocabulary or ""]
        snapped, s = _snap(text, options, 0.6 if fd.choices else 0.75)
        if snapped is None:
            return _Norm(text, 0.4, "extract.not_in_vocabulary")
        return _Norm(snapped, 1.0 if s >= 0.99 else 0.6 + 0.4 * s)
    if t == "phone":
        digits = re.sub(r"\D", "", tu.digits_repaired(text.replace(" ", "")))
        if digits.startswith("84") and len(digits) in (11, 12):
            digits = "0" + digits[2:]
        if not _PHONE.match(digits):
            return _Norm(digits or None, 0.3, "extract.invalid_phone")
        return _Norm(digits, 1.0)
    if t == "email":
        email = re.sub(r"\s+", "", text).strip(".")
        if not _EMAIL.match(email):
            return _Norm(email, 0.3, "extract.invalid_email")
        return _Norm(email, 1.0)
    raise ValueError(f"unknown field type {t}")


def _digit_tokens(text: str) -> str:
    """Digit runs of a mixed text (e.g. 'Thẻ căn cước số 0012 0300 1234'), lookalikes repaired inside
    digit-heavy tokens and groups of digits separated by single spaces joined."""
    view = tu.numeric_view(text)
    view = re.sub(r"(?<=\d)[ .](?=\d)", "", view)
    return view


def extract_form(
    ocr: OcrPage,
    form: FormDefinition | str | None = None,
    *,
    threshold: float | None = None,
    today: date | None = None,
    leaders: list[tuple[int, int, int, int]] | None = None,
) -> ExtractedForm:
    """Extract the fields of ``form`` (a definition, a form id, or None to detect it from the heading).
    ``leaders`` are the dotted leaders removed before OCR (``ocr_form_image``); without them, leader
    words left in the OCR text serve."""
    if form is None:
        detected = detect_form(ocr)
        if detected is None:
            raise KioskError("extract.no_form_detected")
        form = detected
        heading_found = True
    else:
        form = get_form(form) if isinstance(form, str) else form
        heading_found = detect_form(ocr, {form.id: form}) is not None
    thr = form.confidence_threshold if threshold is None else threshold
    today = today or date.today()
    st = _stream(ocr)
    anchors = _anchors(form)
    chosen = tu.align_anchors([_candidates(st.tokens, a) for a in anchors])
    starts = [st.tokens[m.start].word if m else None for m in chosen]
    out = ExtractedForm(form.id, heading_found=heading_found)
    for i, (anchor, m) in enumerate(zip(anchors, chosen, strict=True)):
        fd = anchor.field
        if fd is None:
            continue
        if m is None:
            out.fields[fd.key] = ExtractedField(None, 0.0, True, None, "", "extract.label_not_found")
            continue
        first = st.tokens[m.end].word + 1
        nxt = next((s for s in starts[i + 1 :] if s is not None), len(st.words))
        span = st.words[first:nxt]
        label_end = st.words[st.tokens[m.end].word]
        out.fields[fd.key] = _field_value(fd, span, label_end, m.score, st, out.fields, today, thr, leaders)
    log.info(
        "form extracted",
        extra={
            "form_id": form.id,
            "fields": len(out.fields),
            "needs_confirmation": len(out.needs_confirmation()),
        },
    )
    return out


def _empty_field(
    label_end: OcrWord, span: list[OcrWord], st: _Stream, leaders: list[tuple[int, int, int, int]] | None
) -> bool:
    """True when the field after ``label_end`` is blank: a dotted leader (removed before OCR, or left in
    the OCR words) starts right after the label on its line. No leader, or a wide hole before it, means
    something is written there that OCR could not read."""
    x_end, y_mid = label_end.box[2], (label_end.box[1] + label_end.box[3]) / 2
    lh = st.line_height
    starts = [b[0] for b in (leaders or []) if b[1] - lh <= y_mid <= b[3] + lh * 0.5 and b[2] > x_end]
    starts += [w.box[0] for w in span if tu.is_leader(w.text) and abs((w.box[1] + w.box[3]) / 2 - y_mid) < lh]
    starts = [s for s in starts if s >= x_end - lh]
    return bool(starts) and min(starts) - x_end <= 2.5 * lh


def _field_value(
    fd: FieldDef,
    span: list[OcrWord],
    label_end: OcrWord,
    label_score: float,
    st: _Stream,
    done: dict[str, ExtractedField],
    today: date,
    thr: float,
    leaders: list[tuple[int, int, int, int]] | None,
) -> ExtractedField:
    content = [w for w in span if not tu.is_leader(w.text)]
    raw = " ".join(w.text for w in span)
    text = _clean_text(content)
    if not text:
        if _empty_field(label_end, span, st, leaders):
            return ExtractedField(None, 1.0, fd.required, None, raw, "extract.empty")
        return ExtractedField(None, 0.0, True, None, raw, "extract.unreadable")
    norm = _normalise(fd, text, done, today)
    conf = _word_conf(content) * norm.factor * (0.6 + 0.4 * label_score)
    needs = conf < thr or norm.problem is not None
    return ExtractedField(norm.value, round(conf, 3), needs, tu.union_box(content), raw, norm.problem)


# --- image preparation ------------------------------------------------------------------------------


def remove_rules(grey: np.ndarray, dpi: int) -> np.ndarray:
    """Remove ruling lines (digit boxes, table grids, underlines) from a grey page so that OCR reads the
    characters between them. Lines are ink runs at least 5 mm long (horizontal) or 5.6 mm tall (vertical),
    longer than any character stroke at body-text sizes."""
    if grey.ndim != 2:
        raise ValueError("remove_rules needs a grey image")
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    hlen = max(12, round(dpi * 0.2))
    vlen = max(12, round(dpi * 0.22))
    horiz = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (hlen, 1)))
    vert = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, vlen)))
    rules = cv2.dilate(cv2.bitwise_or(horiz, vert), np.ones((3, 3), np.uint8))
    if not rules.any():
        return grey
    paper = int(np.median(grey[ink == 0])) if (ink == 0).any() else 255
    out = grey.copy()
    out[rules > 0] = paper
    return out


def dotted_leaders(grey: np.ndarray, dpi: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Dotted leader lines: chains of at least five small dots on one baseline with a regular pitch.
    Returns their mask (uint8, 255 = leader dot) and one box per chain. Tesseract reads such runs as long
    strings of garbage ('-----cccc++++'), which would end up in the values."""
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    n, _, stats, cent = cv2.connectedComponentsWithStats(ink, connectivity=8)
    max_side = max(2, round(dpi * 0.028))  # a dot of 10-14 pt type is about 0.3-0.5 mm across
    max_gap = max(4, round(dpi * 0.06))  # pitch of '.' in 10-16 pt type is about 0.9-1.5 mm
    cand = [
        i
        for i in range(1, n)
        if stats[i, cv2.CC_STAT_WIDTH] <= max_side
        and stats[i, cv2.CC_STAT_HEIGHT] <= max_side
        and stats[i, cv2.CC_STAT_AREA] >= 2
    ]
    mask = np.zeros_like(ink)
    chains: list[list[int]] = []
    if not cand:
        return mask, []
    cand.sort(key=lambda i: (round(cent[i, 1] / max(1, max_side)), cent[i, 0]))
    rows: dict[int, list[int]] = {}
    for i in cand:
        rows.setdefault(int(cent[i, 1] // max(2, max_side)), []).append(i)
    seen: set[int] = set()
    for key in sorted(rows):
        pool = sorted({*rows.get(key, []), *rows.get(key + 1, [])} - seen, key=lambda i: cent[i, 0])
        chain: list[int] = []
        for i in pool:
            if chain and (
                cent[i, 0] - cent[chain[-1], 0] > max_gap or abs(cent[i, 1] - cent[chain[-1], 1]) > 2
            ):
                if len(chain) >= 5:
                    chains.append(chain)
                    seen.update(chain)
                chain = []
            chain.append(i)
        if len(chain) >= 5:
            chains.append(chain)
            seen.update(chain)
    boxes: list[tuple[int, int, int, int]] = []
    for chain in chains:
        for i in chain:
            x, y, w, h = stats[i, :4]
            mask[y : y + h, x : x + w] = np.maximum(mask[y : y + h, x : x + w], ink[y : y + h, x : x + w])
        xs0 = [int(stats[i, 0]) for i in chain]
        ys0 = [int(stats[i, 1]) for i in chain]
        xs1 = [int(stats[i, 0] + stats[i, 2]) for i in chain]
        ys1 = [int(stats[i, 1] + stats[i, 3]) for i in chain]
        boxes.append((min(xs0), min(ys0), max(xs1), max(ys1)))
    return mask, sorted(boxes, key=lambda b: (b[1], b[0]))


def clean_form_image(grey: np.ndarray, dpi: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """The page without ruling lines and dotted leaders (what OCR should read of a filled form), and the
    boxes of the dotted leaders that were removed."""
    out = remove_rules(grey, dpi)
    leaders, boxes = dotted_leaders(out, dpi)
    if boxes:
        _, ink = cv2.threshold(out, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
        paper = int(np.median(out[ink == 0])) if (ink == 0).any() else 255
        out = out.copy()
        out[cv2.dilate(leaders, np.ones((3, 3), np.uint8)) > 0] = paper
    return out, boxes


@dataclass
class FormOcr:
    """OCR of a cleaned form image plus the dotted leaders found on it (they tell empty fields from
    unreadable ones)."""

    page: OcrPage
    leaders: list[tuple[int, int, int, int]]


def ocr_form_image(image: np.ndarray, dpi: int, lang: str = "vie") -> FormOcr:
    """OCR a form image with ruling lines and dotted leaders removed first (word boxes stay in ``image``
    pixels)."""
    from kiosk.vision.ocr import ocr_page, to_grey

    clean, leaders = clean_form_image(to_grey(image), dpi)
    return FormOcr(ocr_page(clean, dpi, lang), leaders)


def extract_form_image(
    image: np.ndarray,
    dpi: int,
    form: FormDefinition | str | None = None,
    *,
    lang: str = "vie",
    threshold: float | None = None,
) -> ExtractedForm:
    """OCR a flat form image (BGR or grey) and extract its fields."""
    fo = ocr_form_image(image, dpi, lang)
    return extract_form(fo.page, form, threshold=threshold, leaders=fo.leaders)
