"""Metadata proposal for any digitised paper (DESIGN R9): paper name, summary (trích yếu), identifier of the
holder, validity dates, issue date and issuing authority, each with a confidence in [0, 1].

The proposal is read from the OCR words of page 1 with layout rules of Vietnamese administrative papers
(Decree 30/2020/NĐ-CP, Annex I): the agency block at the top left, the national motto at the top right (or
centred), the place-and-date line "<địa danh>, ngày dd tháng mm năm yyyy", the paper's name as a bold,
centred, upper-case title, and for decisions the subject line "Về việc ...". The staff or the citizen
confirm the proposal; the confidences say what to look at first.

Confidence = mean OCR confidence of the words used x a rule factor (how typical the place on the page
was, whether the value validated). A value found nowhere falls back to what the kiosk already knows (the
catalogue component's name and paper-type code, the applicant's identifier) with a fixed lower confidence.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Protocol

import numpy as np

from kiosk.core.dossier_model import PaperMetadata
from kiosk.core.identifiers import parse_cccd, parse_tax_code
from kiosk.core.textnorm import fold
from kiosk.errors import KioskError
from kiosk.extract import textutil as tu
from kiosk.vision.types import OcrPage, OcrWord

log = logging.getLogger("kiosk.extract")

SUMMARY_MAX = 200  # characters of trích yếu before it is cut at a word boundary
FALLBACK_CONFIDENCE = 0.5  # a value taken from the catalogue or the session rather than from the paper
_MOTTO = ("cong hoa xa hoi chu nghia viet nam", "doc lap tu do hanh phuc")


class ComponentLike(Protocol):
    """What the proposal uses of a catalogue component (``kiosk.core.catalogue``)."""

    @property
    def name(self) -> str: ...

    @property
    def paper_type_code(self) -> str: ...


@dataclass
class ProposedMetadata(PaperMetadata):
    """A ``PaperMetadata`` proposal with a confidence per proposed field (keys are field names) and where
    each value came from ('paper', 'component', 'applicant', 'form')."""

    confidence: dict[str, float] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def plain(self) -> PaperMetadata:
        """The proposal as a plain ``PaperMetadata`` (for the dossier)."""
        return PaperMetadata(
            self.paper_type_code,
            self.paper_name,
            self.holder_id,
            self.holder_name,
            self.holder_birth_year,
            self.issue_date,
            self.issuing_authority,
            self.summary,
            self.valid_from,
            self.valid_until,
            self.validity_scope,
            dict(self.extra),
        )

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in (
            "paper_type_code",
            "paper_name",
            "holder_id",
            "holder_name",
            "holder_birth_year",
            "issue_date",
            "issuing_authority",
            "summary",
            "valid_from",
            "valid_until",
            "validity_scope",
        ):
            v = getattr(self, name)
            out[name] = v.isoformat() if isinstance(v, date) else v
        out["extra"] = dict(self.extra)
        out["confidence"] = dict(self.confidence)
        out["source"] = dict(self.source)
        return out


@dataclass(frozen=True)
class Segment:
    """A run of words on one printed line, separated from the rest of the line by a wide gap (the agency
    block and the motto share lines but are separate segments)."""

    words: tuple[OcrWord, ...]

    @property
    def text(self) -> str:
        return tu.nfc(" ".join(w.text for w in self.words))

    @property
    def box(self) -> tuple[int, int, int, int]:
        b = tu.union_box(list(self.words))
        assert b is not None
        return b

    @property
    def confidence(self) -> float:
        return float(np.mean([w.confidence for w in self.words])) / 100.0

    @property
    def height(self) -> float:
        return float(np.median([w.box[3] - w.box[1] for w in self.words]))

    def upper_ratio(self) -> float:
        letters = [c for c in self.text if c.isalpha()]
        return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


def segments(ocr: OcrPage, gap_factor: float = 2.5) -> list[list[Segment]]:
    """Lines of the page (top to bottom), each split into segments at gaps wider than ``gap_factor``
    line heights. Leader-only words are dropped."""
    out: list[list[Segment]] = []
    for line in tu.reading_lines([w for w in ocr.words if not tu.is_leader(w.text)]):
        if not line:
            continue
        h = float(np.median([w.box[3] - w.box[1] for w in line]))
        segs: list[list[OcrWord]] = [[line[0]]]
        for w in line[1:]:
            if w.box[0] - segs[-1][-1].box[2] > gap_factor * h:
                segs.append([w])
            else:
                segs[-1].append(w)
        out.append([Segment(tuple(s)) for s in segs])
    return out


def _is_motto(text: str) -> bool:
    folded = " ".join(re.findall(r"[a-z]+", fold(text)))
    return not folded or any(tu.similarity(folded, m) >= 0.8 for m in _MOTTO)


def _sentence_case(text: str) -> str:
    low = text.lower()
    return low[:1].upper() + low[1:]


def _cut(text: str, limit: int = SUMMARY_MAX) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


_PLACE_DATE = re.compile(r"(?:^|[,:]\s*)ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")
_DATE_ANY = re.compile(
    r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})|ngay\s*(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})"
)


def _date_in(folded: str) -> date | None:
    m = _DATE_ANY.search(folded)
    if not m:
        return None
    g = [x for x in m.groups() if x is not None]
    try:
        return date(int(g[2]), int(g[1]), int(g[0]))
    except ValueError:
        return None


@cache
def _paper_types() -> tuple[tuple[str, str], ...]:
    """(code, name) of the procedure catalogue's paper types (the one source of truth)."""
    from kiosk.core.catalogue import Catalogue

    return tuple((p.code, p.name) for p in Catalogue.load().paper_types)


def paper_type_for(name: str) -> tuple[str, float] | None:
    """The catalogue paper-type code whose name best matches a paper's name, with the match score."""
    key = " ".join(re.findall(r"[a-z0-9]+", fold(name)))
    best: tuple[str, float] | None = None
    for code, pname in _paper_types():
        pk = " ".join(re.findall(r"[a-z0-9]+", fold(pname.split("(")[0])))
        s = tu.similarity(key, pk)
        if best is None or s > best[1]:
            best = (code, s)
    return best if best and best[1] >= 0.85 else None


def propose_metadata(
    ocr: OcrPage,
    *,
    component: ComponentLike | None = None,
    applicant_id: str | None = None,
    today: date | None = None,
) -> ProposedMetadata:
    """Propose the R9 metadata of a paper from the OCR of its first page (see the module docstring)."""
    today = today or date.today()
    lines = segments(ocr)
    width = max(ocr.width, max((w.box[2] for w in ocr.words), default=1))
    # positions are judged against a portrait page: an image cut below the header keeps its proportions
    height = max(ocr.height, max((w.box[3] for w in ocr.words), default=1), round(1.3 * width))
    conf: dict[str, float] = {}
    source: dict[str, str] = {}
    extra: dict[str, str] = {}

    # --- agency block (top left) and title ---------------------------------------------------------
    agency_segs: list[Segment] = []
    title_segs: list[Segment] = []
    title_line = -1
    for li, segs in enumerate(lines):
        for s in segs:
            x0, y0, x1, _ = s.box
            if y0 > height * 0.45:
                break
            cx = (x0 + x1) / 2
            if (
                cx < width * 0.42
                and x0 < width * 0.3
                and s.upper_ratio() >= 0.8
                and y0 < height * 0.25
                and not title_segs
                and not fold(s.text).startswith("so")
            ):
                if not agency_segs or y0 - agency_segs[-1].box[3] < 2.5 * s.height:
                    agency_segs.append(s)
        if title_line >= 0:
            continue
        for s in segs:
            x0, y0, x1, _ = s.box
            cx = (x0 + x1) / 2
            if y0 > height * 0.45:
                break
            centred = abs(cx - width / 2) < width * 0.12
            if (
                centred
                and s.upper_ratio() >= 0.85
                and len(s.text) >= 4
                and not _is_motto(s.text)
                and s not in agency_segs
            ):
                title_segs = [s]
                title_line = li
                break
    if title_segs:  # a title may continue on the next centred upper-case line(s) of similar size
        for segs in lines[title_line + 1 : title_line + 3]:
            s = segs[0]
            cx = (s.box[0] + s.box[2]) / 2
            if (
                len(segs) == 1
                and abs(cx - width / 2) < width * 0.12
                and s.upper_ratio() >= 0.85
                and s.height >= 0.8 * title_segs[-1].height
                and not _is_motto(s.text)
                and not fold(s.text).startswith(("chu tich", "tm.", "giam doc", "bo truong"))
                and s.box[1] - title_segs[-1].box[3] < 1.2 * s.height
            ):
                title_segs.append(s)
            else:
                break

    issuing_authority = None
    if agency_segs:
        issuing_authority = " ".join(s.text for s in agency_segs).strip(" _-")
        conf["issuing_authority"] = round(min(s.confidence for s in agency_segs) * 0.9, 3)
        source["issuing_authority"] = "paper"

    paper_name = ""
    if title_segs:
        printed = " ".join(s.text for s in title_segs).strip(" :")
        extra["title_as_printed"] = printed
        paper_name = _sentence_case(printed)
        conf["paper_name"] = round(min(s.confidence for s in title_segs) * 0.95, 3)
        source["paper_name"] = "paper"
    elif component is not None:
        paper_name = component.name
        conf["paper_name"] = FALLBACK_CONFIDENCE
        source["paper_name"] = "component"
    if component is not None and title_segs:
        agree = tu.similarity(
            " ".join(re.findall(r"[a-z]+", fold(paper_name))),
            " ".join(re.findall(r"[a-z]+", fold(component.name.split("(")[0]))),
        )
        if agree >= 0.8:  # the paper says what the catalogue expected: more certain
            conf["paper_name"] = round(min(1.0, conf["paper_name"] + 0.05), 3)

    # --- paper-type code ------------------------------------------------------------------------------
    paper_type_code = ""
    if component is not None and component.paper_type_code:
        paper_type_code = component.paper_type_code
        conf["paper_type_code"] = 1.0
        source["paper_type_code"] = "component"
    elif paper_name:
        from kiosk.extract.forms import detect_form

        form = detect_form(ocr)
        if form is not None:
            paper_type_code = form.paper_type_code
            conf["paper_type_code"] = round(conf.get("paper_name", 0.5), 3)
            source["paper_type_code"] = "form"
        elif (hit := paper_type_for(paper_name)) is not None:
            paper_type_code = hit[0]
            conf["paper_type_code"] = round(conf.get("paper_name", 0.5) * hit[1], 3)
            source["paper_type_code"] = "paper"

    # --- issue date -------------------------------------------------------------------------------------
    issue_date = None
    flat = [(li, s) for li, segs in enumerate(lines) for s in segs]
    dated: list[tuple[int, Segment, date]] = []
    for li, s in flat:
        folded = fold(tu.numeric_view(s.text))
        m = _PLACE_DATE.search(folded)
        if m and len(folded[: m.start()].split()) <= 8 and not folded.startswith("can cu"):
            try:
                dated.append((li, s, date(int(m.group(3)), int(m.group(2)), int(m.group(1)))))
            except ValueError:
                continue
    if dated:
        top = [d for d in dated if d[1].box[1] < height * 0.35]
        li, s, d = top[0] if top else dated[-1]
        if d <= today:
            issue_date = d
            conf["issue_date"] = round(s.confidence * (0.95 if top else 0.8), 3)
            source["issue_date"] = "paper"

    # --- validity -----------------------------------------------------------------------------------
    valid_from: date | None = None
    valid_until: date | None = None
    text_lines = [" ".join(s.text for s in segs) for segs in lines]
    line_conf = [float(np.mean([s.confidence for s in segs])) for segs in lines]
    joined = " \n ".join(fold(tu.numeric_view(t)) for t in text_lines)
    for m in re.finditer(
        r"(co gia tri|co hieu luc|het han|co thoi han)[^\n]{0,40}?(?:den|toi)\s*(?:het\s*)?(?:ngay)?", joined
    ):
        found_until = _date_in(joined[m.end() - 6 : m.end() + 40])
        if found_until:
            valid_until = found_until
            conf["valid_until"] = round(_conf_at(joined, m.start(), line_conf) * 0.9, 3)
            source["valid_until"] = "paper"
            break
    m2 = re.search(r"co hieu luc[^\n]{0,30}?tu\s*ngay", joined)
    if m2:
        rest = joined[m2.end() : m2.end() + 40]
        found_from = _date_in("ngay" + rest) or _date_in(rest)
        if found_from:
            valid_from = found_from
            conf["valid_from"] = round(_conf_at(joined, m2.start(), line_conf) * 0.9, 3)
            source["valid_from"] = "paper"
        elif rest.strip().startswith("ky") and issue_date is not None:
            valid_from = issue_date  # "có hiệu lực (thi hành) kể từ ngày ký"
            conf["valid_from"] = round(conf.get("issue_date", 0.5) * 0.85, 3)
            source["valid_from"] = "paper"

    # --- summary (trích yếu) ----------------------------------------------------------------------
    summary = ""
    start = title_line + len(title_segs) if title_segs else 0
    for li in range(start, len(lines)):
        s = lines[li][0]
        if re.match(r"^\s*(ve viec|v/v)\b", fold(s.text)):
            parts = [s]
            for segs in lines[li + 1 : li + 3]:
                nxt = segs[0]
                if (
                    len(segs) == 1
                    and nxt.upper_ratio() < 0.6
                    and abs((nxt.box[0] + nxt.box[2]) / 2 - width / 2) < width * 0.15
                    and not fold(nxt.text).startswith("can cu")
                ):
                    parts.append(nxt)
                else:
                    break
            summary = _cut(" ".join(p.text for p in parts))
            conf["summary"] = round(min(p.confidence for p in parts) * 0.95, 3)
            source["summary"] = "paper"
            break
    if not summary:
        body: list[tuple[str, float]] = []
        for li in range(start, len(lines)):
            t = " ".join(s.text for s in lines[li])
            ft = fold(t)
            if body or (
                len(t.split()) >= 5
                and lines[li][0].upper_ratio() < 0.6
                and not re.match(r"^(kinh gui|so\b|can cu|noi nhan)", ft)
                and not re.match(r"^[^:]{0,45}:", t)
            ):
                body.append((t, line_conf[li]))
                if re.search(r"[.;!?]\s*$", t) or len(" ".join(b[0] for b in body)) > SUMMARY_MAX:
                    break
        if body:
            text = " ".join(b[0] for b in body)
            first = re.split(r"(?<=[.;!?])\s", text, maxsplit=1)[0]
            summary = _cut(first)
            conf["summary"] = round(float(np.mean([b[1] for b in body])) * 0.7, 3)
            source["summary"] = "paper"
    if not summary and paper_name:
        summary = paper_name
        conf["summary"] = round(conf.get("paper_name", 0.5) * 0.5, 3)
        source["summary"] = source.get("paper_name", "paper")

    # --- identifier -------------------------------------------------------------------------------------
    holder_id = None
    found: list[tuple[str, float, str]] = []  # (value, conf, kind)
    for li, t in enumerate(text_lines):
        view = re.sub(r"(?<=\d)[ .](?=\d)", "", tu.numeric_view(t))
        for run in re.findall(r"(?<!\d)(\d{12})(?!\d)", view):
            try:
                parse_cccd(run, today=today)
                found.append((run, line_conf[li], "cccd"))
            except KioskError:
                continue
        if re.search(r"ma so thue|\bmst\b|ma so doanh nghiep", fold(t)):
            for run in re.findall(r"(?<!\d)(\d{10}(?:-\d{3})?)(?!\d)", view):
                try:
                    found.append((parse_tax_code(run).value, line_conf[li], "tax_code"))
                except KioskError:
                    continue
    if found:
        pick = next((f for f in found if applicant_id and f[0] == applicant_id), found[0])
        holder_id = pick[0]
        conf["holder_id"] = round(pick[1] * (1.0 if applicant_id == pick[0] else 0.9), 3)
        source["holder_id"] = "paper"
        extra["holder_id_kind"] = pick[2]
    elif applicant_id:
        holder_id = applicant_id
        conf["holder_id"] = FALLBACK_CONFIDENCE
        source["holder_id"] = "applicant"

    holder_name = None
    holder_birth_year = None
    if holder_id is None:
        for li, t in enumerate(text_lines):
            m = re.match(r"^\s*(ho va ten|ho, chu dem(?:,| va) ten)[^:]{0,25}:\s*(.+)$", fold(t))
            if m:
                value = tu.strip_leaders(t[t.index(":") + 1 :]).strip(" .:")
                if len(value.split()) >= 2:
                    holder_name = value
                    conf["holder_name"] = round(line_conf[li] * 0.8, 3)
                    source["holder_name"] = "paper"
                    break
        for li, t in enumerate(text_lines):
            ft = fold(t)
            if re.match(r"^\s*(ngay, thang, nam sinh|ngay sinh|nam sinh)", ft):
                y = tu.parse_year(t.split(":", 1)[-1])
                if y and 1900 <= y <= today.year:
                    holder_birth_year = y
                    conf["holder_birth_year"] = round(line_conf[li] * 0.8, 3)
                    source["holder_birth_year"] = "paper"
                    break

    result = ProposedMetadata(
        paper_type_code=paper_type_code,
        paper_name=paper_name,
        holder_id=holder_id,
        holder_name=holder_name,
        holder_birth_year=holder_birth_year,
        issue_date=issue_date,
        issuing_authority=issuing_authority,
        summary=summary,
        valid_from=valid_from,
        valid_until=valid_until,
        extra=extra,
        confidence=conf,
        source=source,
    )
    log.info("metadata proposed", extra={"fields": sorted(conf), "paper_type_code": paper_type_code})
    return result


def _conf_at(joined: str, pos: int, line_conf: list[float]) -> float:
    li = joined.count("\n", 0, pos)
    return line_conf[min(li, len(line_conf) - 1)] if line_conf else 0.0
