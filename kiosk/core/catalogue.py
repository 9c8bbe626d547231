"""The procedure catalogue (DESIGN R2, R3, R4, R9, R10): which TTHC the kiosk accepts and what each needs.

``Catalogue.load()`` reads the catalogue shipped in ``kiosk/data/procedures.toml`` (or a file given as
``path``), validates it against ``kiosk/data/procedures.schema.json`` and the semantic rules below, and
returns immutable objects::

    cat = Catalogue.load()
    birth = cat.get("1.001193")
    birth.components_for("co_giay_chung_sinh")    # the checklist for that case (trường hợp)
    cat.search("dang ky khai sinh")[0] is birth    # accent- and case-insensitive

Semantic rules (on top of the schema): procedure codes are unique; component, case and paper-type ids are
unique in their scope; every component a case names exists and every component is used by a case; every
component has at least one original or copy; ``pages_min <= pages_max``; every paper-type code used by a
component or a result is declared in ``[[paper_types]]``; all text is Unicode NFC. Any violation raises
``CatalogueError`` whose ``location`` names the offending value, e.g.
``procedures[3].components[2].originals``.

Search ranks matches in four tiers: the exact name (or an alias, or the code), a name that starts with the
query (or a code prefix), a name that contains every query word, then names or fields that contain at
least half of the words (a word of three letters or more may also match the start of a name word). Ties go
to more matched words, then shorter names, then catalogue order.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema

from kiosk.core.dossier_model import DigitisationClass
from kiosk.core.textnorm import is_nfc, key, words
from kiosk.errors import KioskError

DATA_PACKAGE = "kiosk.data"
CATALOGUE_FILE = "procedures.toml"
SCHEMA_FILE = "procedures.schema.json"
_CODE_QUERY = re.compile(r"[0-9]+(\.[0-9]*)?")
_THU_TUC = re.compile(r"^thủ tục\s+", re.IGNORECASE)


class CatalogueError(KioskError):
    """A catalogue file that cannot be read or breaks the schema or a semantic rule, or an unknown code."""

    @property
    def location(self) -> str:
        """Where the problem is, e.g. ``procedures[3].components[2].originals`` ('' when not in the data)."""
        return str(self.params.get("location", ""))


class PaperKind(StrEnum):
    """Coarse kind of paper, the classes of the on-device paper-type classifier."""

    ID_CARD = "id_card"
    APPLICATION_FORM = "application_form"
    DECISION_OR_CERTIFICATE = "decision_or_certificate"
    OTHER = "other"


class Level(StrEnum):
    """Level of local government that handles the procedure (two-level government since 1 July 2025)."""

    COMMUNE = "commune"
    PROVINCE = "province"


@dataclass(frozen=True)
class FormTemplate:
    """The official template of a form: the instrument that annexes it and its number there, if any."""

    instrument: str
    code: str | None = None


@dataclass(frozen=True)
class PaperType:
    """A paper-type code for the storage code ``<identifier>.<code>`` (R10)."""

    code: str
    name: str
    name_en: str
    scheme: str                      # "local" or "national"
    note: str | None = None


@dataclass(frozen=True)
class ResultPaper:
    """A paper the procedure issues (kết quả giải quyết TTHC)."""

    name: str
    name_en: str
    type_code: str


@dataclass(frozen=True)
class Component:
    """One paper of the dossier (thành phần hồ sơ)."""

    id: str
    name: str
    name_en: str
    originals: int
    copies: int
    digitisation_class: DigitisationClass
    paper_type_code: str
    paper_kind: PaperKind
    pages_min: int                   # sheets of paper (tờ)
    pages_max: int
    both_sides: bool                 # the back of a sheet normally carries content
    reusable: bool                   # may already be on file as electronic data (R3)
    metadata_hints: tuple[str, ...] = ()   # specialised R9 fields the paper carries
    portal_code: str | None = None   # the national document code (mã giấy tờ) on the portal
    form: FormTemplate | None = None
    class_note: str | None = None
    condition: str | None = None     # when the paper is needed, if not always
    condition_en: str | None = None
    note: str | None = None

    @property
    def needs_consent_and_fee(self) -> bool:
        """On-request papers are digitised only after the citizen accepts the fee (R4)."""
        return self.digitisation_class == DigitisationClass.ON_REQUEST

    @property
    def conditional(self) -> bool:
        """True when the paper is needed only in the situation its ``condition`` describes."""
        return self.condition is not None


@dataclass(frozen=True)
class Case:
    """A situation (trường hợp) that decides which components are needed."""

    id: str
    name: str
    name_en: str
    component_ids: tuple[str, ...]


@dataclass(frozen=True)
class Procedure:
    """An administrative procedure (TTHC) with its national code ``d.dddddd``."""

    code: str
    name: str
    name_en: str
    levels: tuple[Level, ...]
    field: str
    field_en: str
    agency: str
    legal_basis: tuple[str, ...]
    processing_time: str
    processing_days: int | None
    processing_days_kind: str        # "working" or "calendar"
    fee_note: str
    code_verified: bool
    source: str
    results: tuple[ResultPaper, ...]
    cases: tuple[Case, ...]
    components: tuple[Component, ...]
    aliases: tuple[str, ...] = ()
    fee_vnd: int | None = None
    note: str | None = None

    @property
    def short_name(self) -> str:
        """The name without the leading 'Thủ tục', as the screens show it."""
        rest = _THU_TUC.sub("", self.name)
        return rest[:1].upper() + rest[1:]

    @property
    def result(self) -> ResultPaper:
        """The main result paper."""
        return self.results[0]

    def case(self, case_id: str) -> Case:
        for c in self.cases:
            if c.id == case_id:
                return c
        raise CatalogueError("catalogue.unknown_case", code=self.code, case=case_id, location="")

    def component(self, component_id: str) -> Component:
        for c in self.components:
            if c.id == component_id:
                return c
        raise CatalogueError("catalogue.unknown_component", component=component_id, location="")

    def components_for(self, case_id: str) -> list[Component]:
        """The components the case requires, in the order the case lists them."""
        return [self.component(cid) for cid in self.case(case_id).component_ids]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (enums as strings), with ``short_name`` added."""
        out = asdict(self)
        out["short_name"] = self.short_name
        return out

    def summary(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "short_name": self.short_name, "name_en": self.name_en,
                "field": self.field, "levels": [str(lv) for lv in self.levels],
                "code_verified": self.code_verified}


@dataclass(frozen=True)
class Fees:
    """The on-request digitisation fee (R4)."""

    currency: str
    on_request_per_page: int
    on_request_max_per_paper: int
    source: str

    def on_request_fee(self, pages: int) -> int:
        """Fee for digitising ``pages`` pages (sides with content) of one on-request paper."""
        if pages < 0:
            raise ValueError("pages must be >= 0")
        return min(pages * self.on_request_per_page, self.on_request_max_per_paper)


@dataclass(frozen=True)
class _SearchKeys:
    names: tuple[str, ...]           # comparison keys of the name, short name, English name and aliases
    name_words: frozenset[str]
    field_words: frozenset[str]
    length: int                      # words in the short name, for tie-breaking


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The validated catalogue. Build it with ``Catalogue.load``."""

    version: str
    compiled: str
    fees: Fees
    paper_types: tuple[PaperType, ...]
    procedures: tuple[Procedure, ...]
    source_path: str
    _by_code: Mapping[str, Procedure] = field(repr=False)
    _paper_by_code: Mapping[str, PaperType] = field(repr=False)
    _search_keys: tuple[_SearchKeys, ...] = field(repr=False)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalogue:
        """The catalogue in ``path``, or the one shipped with the package when ``path`` is None."""
        if path is None:
            return _load_default()
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except FileNotFoundError:
            raise CatalogueError("catalogue.missing_file", path=str(p), location="") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogueError("catalogue.syntax", path=str(p), detail=str(exc), location="") from None
        return _parse(text, str(p))

    def get(self, code: str) -> Procedure:
        try:
            return self._by_code[code.strip()]
        except KeyError:
            raise CatalogueError("catalogue.unknown_procedure", code=code, location="") from None

    def paper_type(self, code: str) -> PaperType:
        try:
            return self._paper_by_code[code]
        except KeyError:
            raise CatalogueError("catalogue.unknown_paper_type", code=code, location="") from None

    def __iter__(self) -> Iterator[Procedure]:
        return iter(self.procedures)

    def __len__(self) -> int:
        return len(self.procedures)

    def search(self, query: str, limit: int = 10) -> list[Procedure]:
        """Procedures matching ``query`` (accents, case and punctuation ignored), best first."""
        if limit <= 0:
            return []
        compact = re.sub(r"\s+", "", query)
        ranked: list[tuple[tuple[int, ...], Procedure]] = []
        if _CODE_QUERY.fullmatch(compact):
            bare = compact.replace(".", "")
            for i, p in enumerate(self.procedures):
                code_bare = p.code.replace(".", "")
                if compact == p.code or bare == code_bare:
                    ranked.append(((0, i), p))
                elif p.code.startswith(compact) or code_bare.startswith(bare):
                    ranked.append(((1, i), p))
        else:
            qkey = key(query)
            qwords = qkey.split()
            if not qwords:
                return []
            for i, (p, keys) in enumerate(zip(self.procedures, self._search_keys, strict=True)):
                rank = _rank(qkey, qwords, keys)
                if rank is not None:
                    ranked.append(((*rank, i), p))
        ranked.sort(key=lambda item: item[0])
        return [p for _, p in ranked[:limit]]


def _rank(qkey: str, qwords: list[str], keys: _SearchKeys) -> tuple[int, int, int] | None:
    if qkey in keys.names:
        return (0, 0, keys.length)
    if any(name.startswith(qkey) for name in keys.names):
        return (1, 0, keys.length)
    hits = sum(1 for w in qwords if w in keys.name_words)
    if hits == len(qwords):
        return (2, 0, keys.length)
    partial = sum(
        1 for w in qwords
        if w in keys.name_words or w in keys.field_words
        or (len(w) >= 3 and any(t.startswith(w) for t in keys.name_words))
    )
    if partial and 2 * partial >= len(qwords):
        return (3, len(qwords) - partial, keys.length)
    return None


# ------------------------------------------------------------------------------------------ loading
@cache
def _load_default() -> Catalogue:
    text = resources.files(DATA_PACKAGE).joinpath(CATALOGUE_FILE).read_text("utf-8")
    return _parse(text, f"{DATA_PACKAGE}/{CATALOGUE_FILE}")


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the catalogue file."""
    data: dict[str, Any] = json.loads(resources.files(DATA_PACKAGE).joinpath(SCHEMA_FILE).read_text("utf-8"))
    return data


def _loc(path: list[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _sort_key(path: list[str | int]) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, p) if isinstance(p, int) else (1, p) for p in path)


def _check_schema(data: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema())
    found: list[tuple[list[str | int], str]] = []
    for err in validator.iter_errors(data):
        path: list[str | int] = list(err.absolute_path)
        if err.validator == "required" and isinstance(err.instance, dict):
            missing = [k for k in err.validator_value if k not in err.instance]
            found.append((path + missing[:1], "required key is missing"))
        elif err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = set(err.schema.get("properties", {}))
            extra = sorted(k for k in err.instance if k not in known)
            found.append((path + extra[:1], "unknown key"))
        else:
            found.append((path, err.message[:200]))
    if found:
        path, detail = min(found, key=lambda item: _sort_key(item[0]))
        raise CatalogueError("catalogue.schema", location=_loc(path), detail=detail)


def _walk_strings(node: Any, path: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(v, [*path, k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_strings(v, [*path, i])


def _check_semantics(data: dict[str, Any]) -> None:
    for path, text in _walk_strings(data, []):
        if not is_nfc(text):
            raise CatalogueError("catalogue.not_nfc", location=_loc(path))

    paper_codes: set[str] = set()
    for i, pt in enumerate(data["paper_types"]):
        if pt["code"] in paper_codes:
            raise CatalogueError("catalogue.duplicate_id", location=f"paper_types[{i}].code", id=pt["code"])
        paper_codes.add(pt["code"])

    codes: set[str] = set()
    for i, proc in enumerate(data["procedures"]):
        where = f"procedures[{i}]"
        if proc["code"] in codes:
            raise CatalogueError("catalogue.duplicate_code", location=f"{where}.code", code=proc["code"])
        codes.add(proc["code"])
        for r, res in enumerate(proc["results"]):
            if res["type_code"] not in paper_codes:
                raise CatalogueError("catalogue.unknown_paper_type",
                                     location=f"{where}.results[{r}].type_code", code=res["type_code"])
        comp_ids: dict[str, int] = {}
        for j, comp in enumerate(proc["components"]):
            cwhere = f"{where}.components[{j}]"
            if comp["id"] in comp_ids:
                raise CatalogueError("catalogue.duplicate_id", location=f"{cwhere}.id", id=comp["id"])
            comp_ids[comp["id"]] = j
            if comp["originals"] + comp["copies"] < 1:
                raise CatalogueError("catalogue.no_copies", location=f"{cwhere}.originals")
            if comp["pages_min"] > comp["pages_max"]:
                raise CatalogueError("catalogue.pages_range", location=f"{cwhere}.pages_max",
                                     minimum=comp["pages_min"], maximum=comp["pages_max"])
            if comp["paper_type_code"] not in paper_codes:
                raise CatalogueError("catalogue.unknown_paper_type", location=f"{cwhere}.paper_type_code",
                                     code=comp["paper_type_code"])
        used: set[str] = set()
        case_ids: set[str] = set()
        for k, case in enumerate(proc["cases"]):
            kwhere = f"{where}.cases[{k}]"
            if case["id"] in case_ids:
                raise CatalogueError("catalogue.duplicate_id", location=f"{kwhere}.id", id=case["id"])
            case_ids.add(case["id"])
            for m, cid in enumerate(case["components"]):
                if cid not in comp_ids:
                    raise CatalogueError("catalogue.unknown_component", location=f"{kwhere}.components[{m}]",
                                         component=cid)
                used.add(cid)
        for cid, j in comp_ids.items():
            if cid not in used:
                raise CatalogueError("catalogue.unused_component", location=f"{where}.components[{j}].id",
                                     component=cid)


def _component(raw: dict[str, Any]) -> Component:
    form = raw.get("form")
    return Component(
        id=raw["id"], name=raw["name"], name_en=raw["name_en"], originals=raw["originals"],
        copies=raw["copies"], digitisation_class=DigitisationClass(raw["digitisation_class"]),
        paper_type_code=raw["paper_type_code"], paper_kind=PaperKind(raw["paper_kind"]),
        pages_min=raw["pages_min"], pages_max=raw["pages_max"], both_sides=raw["both_sides"],
        reusable=raw["reusable"], metadata_hints=tuple(raw.get("metadata_hints", ())),
        portal_code=raw.get("portal_code"),
        form=FormTemplate(instrument=form["instrument"], code=form.get("code")) if form else None,
        class_note=raw.get("class_note"), condition=raw.get("condition"),
        condition_en=raw.get("condition_en"), note=raw.get("note"),
    )


def _procedure(raw: dict[str, Any]) -> Procedure:
    return Procedure(
        code=raw["code"], name=raw["name"], name_en=raw["name_en"],
        levels=tuple(Level(lv) for lv in raw["levels"]), field=raw["field"], field_en=raw["field_en"],
        agency=raw["agency"], legal_basis=tuple(raw["legal_basis"]), processing_time=raw["processing_time"],
        processing_days=raw.get("processing_days"), processing_days_kind=raw["processing_days_kind"],
        fee_note=raw["fee_note"], code_verified=raw["code_verified"], source=raw["source"],
        results=tuple(ResultPaper(r["name"], r["name_en"], r["type_code"]) for r in raw["results"]),
        cases=tuple(Case(c["id"], c["name"], c["name_en"], tuple(c["components"])) for c in raw["cases"]),
        components=tuple(_component(c) for c in raw["components"]),
        aliases=tuple(raw.get("aliases", ())), fee_vnd=raw.get("fee_vnd"), note=raw.get("note"),
    )


def _keys(p: Procedure) -> _SearchKeys:
    texts = [p.name, p.short_name, p.name_en, *p.aliases]
    name_words: set[str] = set()
    for t in texts[1:]:             # the leading "Thủ tục" of the official name is not a search word
        name_words.update(words(t))
    return _SearchKeys(names=tuple(dict.fromkeys(key(t) for t in texts)), name_words=frozenset(name_words),
                       field_words=frozenset(words(p.field) + words(p.field_en)),
                       length=len(words(p.short_name)))


def _parse(text: str, origin: str) -> Catalogue:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError("catalogue.syntax", path=origin, detail=str(exc), location="") from None
    _check_schema(data)
    _check_semantics(data)
    procedures = tuple(_procedure(p) for p in data["procedures"])
    papers = tuple(PaperType(pt["code"], pt["name"], pt["name_en"], pt["scheme"], pt.get("note"))
                   for pt in data["paper_types"])
    fees = data["fees"]
    return Catalogue(
        version=data["catalogue_version"], compiled=data["compiled"],
        fees=Fees(fees["currency"], fees["on_request_per_page"], fees["on_request_max_per_paper"],
                  fees["source"]),
        paper_types=papers, procedures=procedures, source_path=origin,
        _by_code=MappingProxyType({p.code: p for p in procedures}),
        _paper_by_code=MappingProxyType({pt.code: pt for pt in papers}),
        _search_keys=tuple(_keys(p) for p in procedures),
    )


# ------------------------------------------------------------------------------------------ docs
_CLASS_TEXT = {
    DigitisationClass.EARLIER_RESULT: "result of an earlier TTHC (kết quả giải quyết TTHC trước đó)",
    DigitisationClass.SPECIALISED_LAW: "required by specialised law (pháp luật chuyên ngành)",
    DigitisationClass.MANAGEMENT_DECISION: "required by a ministerial or provincial management decision "
                                           "(yêu cầu quản lý)",
    DigitisationClass.ON_REQUEST: "digitised only at the citizen's request, after the fee is accepted "
                                  "(số hóa theo nhu cầu, có thu phí)",
}
_LEVEL_TEXT = {Level.COMMUNE: "commune (cấp xã)", Level.PROVINCE: "province (cấp tỉnh)"}


def _cell(text: str | None) -> str:
    return "" if text is None else text.replace("|", "\\|").replace("\n", " ")


def _days(n: int, kind: str) -> str:
    unit = "working day" if kind == "working" else "day"
    return f"{n} {unit}" + ("" if n == 1 else "s")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def render_markdown(cat: Catalogue) -> str:
    """``docs/catalogue.md``: the catalogue as Markdown (generated; a test checks the file is current)."""
    n_components = sum(len(p.components) for p in cat.procedures)
    lines = [
        "# Procedure catalogue",
        "",
        "<!-- Generated by `kiosk catalogue docs` from kiosk/data/procedures.toml. Do not edit by hand. -->",
        "",
        f"Catalogue version {cat.version}, compiled {cat.compiled}: {len(cat.procedures)} procedures, "
        f"{n_components} components, {len(cat.paper_types)} paper types. The data file's header explains "
        "the sources; each procedure below names its own. Codes marked *unverified* could not be matched "
        "to a record of the national TTHC database and must be checked before production use.",
        "",
        "Load it with `Catalogue.load()` (kiosk.core.catalogue); validate another file with "
        "`kiosk catalogue check --file PATH`; search with `kiosk catalogue search QUERY`.",
        "",
        "## Digitisation classes (R4)",
        "",
        "| Class | Meaning |",
        "|---|---|",
    ]
    lines += [f"| `{cls}` | {_CLASS_TEXT[cls]} |" for cls in DigitisationClass]
    lines += [
        "",
        "## On-request digitisation fee",
        "",
        f"{cat.fees.on_request_per_page:,} {cat.fees.currency} per page, at most "
        f"{cat.fees.on_request_max_per_paper:,} {cat.fees.currency} per paper. Source: "
        f"{_cell(cat.fees.source)}",
        "",
        "## Procedures",
        "",
        "| Code | Name | Level | Field | Processing time | Code verified |",
        "|---|---|---|---|---|---|",
    ]
    for p in cat.procedures:
        days = "" if p.processing_days is None else _days(p.processing_days, p.processing_days_kind)
        lines.append(f"| [{p.code}](#{p.code.replace('.', '')}) | {_cell(p.short_name)} | "
                     f"{', '.join(str(lv) for lv in p.levels)} | {_cell(p.field)} | {days} | "
                     f"{_yes(p.code_verified)} |")
    for p in cat.procedures:
        lines += _procedure_markdown(p)
    lines += ["", "## Paper types (R10)", "",
              "Codes for the storage code `<identifier>.<paper-type code>`.", "",
              "| Code | Name | English | Scheme |", "|---|---|---|---|"]
    lines += [f"| `{pt.code}` | {_cell(pt.name)} | {_cell(pt.name_en)} | {pt.scheme} |"
              for pt in cat.paper_types]
    return "\n".join(lines) + "\n"


def _procedure_markdown(p: Procedure) -> list[str]:
    lines = [
        "",
        f'<a id="{p.code.replace(".", "")}"></a>',
        f"### {p.code} {p.name}",
        "",
        f"*{p.name_en}.* Level: {', '.join(_LEVEL_TEXT[lv] for lv in p.levels)}. Field: {p.field} "
        f"({p.field_en}). Agency: {p.agency}.",
        "",
        f"- Processing time: {p.processing_time}",
        f"- Fee: {p.fee_note}",
        "- Result: " + "; ".join(f"{r.name} (`{r.type_code}`)" for r in p.results),
        "- Legal basis: " + "; ".join(p.legal_basis) + ".",
        f"- Code verified: {_yes(p.code_verified)}. Source: {p.source}",
    ]
    if p.aliases:
        lines.append("- Search aliases: " + ", ".join(p.aliases))
    if p.note:
        lines.append(f"- Note: {p.note}")
    lines += ["", "| Case | Components |", "|---|---|"]
    lines += [f"| `{c.id}` {_cell(c.name)} | {', '.join(f'`{cid}`' for cid in c.component_ids)} |"
              for c in p.cases]
    lines += ["", "| Component | Name | Orig. | Copies | Class | Type | Kind | Sheets | Both sides "
              "| Reusable | Portal code | Form |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in p.components:
        name = _cell(c.name) + (f" *({_cell(c.condition)})*" if c.condition else "")
        form = "" if c.form is None else _cell(" ".join(x for x in (c.form.code, c.form.instrument) if x))
        sheets = f"{c.pages_min}" if c.pages_min == c.pages_max else f"{c.pages_min}-{c.pages_max}"
        lines.append(f"| `{c.id}` | {name} | {c.originals} | {c.copies} | `{c.digitisation_class}` | "
                     f"`{c.paper_type_code}` | {c.paper_kind} | {sheets} | {_yes(c.both_sides)} | "
                     f"{_yes(c.reusable)} | {_cell(c.portal_code)} | {form} |")
    return lines
