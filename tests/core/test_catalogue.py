"""The procedure catalogue: shipped data, search, cases, validation of broken files, CLI, generated docs."""

from __future__ import annotations

import copy
import json
import re
import tomllib
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from kiosk import cli
from kiosk.core.catalogue import (
    Catalogue,
    CatalogueError,
    DigitisationClass,
    Level,
    PaperKind,
    render_markdown,
)
from kiosk.core.textnorm import fold, is_nfc, key, words

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return Catalogue.load()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    text = resources.files("kiosk.data").joinpath("procedures.toml").read_text("utf-8")
    return tomllib.loads(text)


# ------------------------------------------------------------------ a minimal TOML writer for broken copies
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)   # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _dump_table(prefix: str, table: dict[str, Any], out: list[str]) -> None:
    for k, v in table.items():
        if not _is_table_array(v):
            out.append(f"{k} = {_value(v)}")
    for k, v in table.items():
        if _is_table_array(v):
            for item in v:
                out.append(f"\n[[{prefix}{k}]]")
                _dump_table(f"{prefix}{k}.", item, out)


def dump_toml(data: dict[str, Any]) -> str:
    out: list[str] = []
    for k, v in data.items():
        if not isinstance(v, dict) and not _is_table_array(v):
            out.append(f"{k} = {_value(v)}")
    for k, v in data.items():
        if isinstance(v, dict):
            out.append(f"\n[{k}]")
            out += [f"{kk} = {_value(vv)}" for kk, vv in v.items()]
    for k, v in data.items():
        if _is_table_array(v):
            for item in v:
                out.append(f"\n[[{k}]]")
                _dump_table(f"{k}.", item, out)
    return "\n".join(out) + "\n"


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "procedures.toml"
    path.write_text(dump_toml(data), "utf-8")
    return path


def load_error(tmp_path: Path, data: dict[str, Any]) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        Catalogue.load(write(tmp_path, data))
    return info.value


# ---------------------------------------------------------------------------------------- textnorm
def test_fold_drops_accents_and_case_and_maps_d() -> None:
    assert fold("Đăng  Ký\tKhai Sinh ") == "dang ky khai sinh"
    assert fold("ĐƯỜNG Ơ Ư Ă Â Ê Ô đ") == "duong o u a a e o d"
    assert fold(unicodedata.normalize("NFD", "Thủ tục")) == "thu tuc"
    assert words("Nhận cha, mẹ, con!") == ["nhan", "cha", "me", "con"]
    assert key("  Kết   HÔN ") == "ket hon"
    assert is_nfc("Việt") and not is_nfc(unicodedata.normalize("NFD", "Việt"))


# ------------------------------------------------------------------------------------ shipped data
def test_shipped_catalogue_is_valid_and_large_enough(cat: Catalogue) -> None:
    assert len(cat.procedures) >= 14
    codes = [p.code for p in cat.procedures]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"\d\.\d{6}", c) for c in codes)
    assert {"1.001193", "1.000894", "1.000656", "1.001022", "1.004884", "2.000635", "1.004873", "1.004859",
            "1.004837", "2.000815", "2.000884", "2.001035", "1.004194", "1.004222", "1.001612"} <= set(codes)
    assert any(Level.PROVINCE in p.levels for p in cat.procedures)
    classes = {c.digitisation_class for p in cat.procedures for c in p.components}
    assert classes == set(DigitisationClass)
    kinds = {c.paper_kind for p in cat.procedures for c in p.components}
    assert kinds == set(PaperKind)
    for p in cat.procedures:
        assert p.source and p.legal_basis and p.results and p.cases
        assert is_nfc(p.name) and is_nfc(p.source)
        for r in p.results:
            assert cat.paper_type(r.type_code).code == r.type_code
        for case in p.cases:
            comps = p.components_for(case.id)
            assert [c.id for c in comps] == list(case.component_ids)
        for c in p.components:
            assert cat.paper_type(c.paper_type_code)
            assert c.originals + c.copies >= 1 and 1 <= c.pages_min <= c.pages_max
            assert "." not in c.paper_type_code          # R10: the storage code splits at its first dot
    unverified = [p.code for p in cat.procedures if not p.code_verified]
    assert unverified == ["2.000986", "3.000333"]
    assert all("CHƯA ĐỐI CHIẾU" in cat.get(code).source for code in unverified)


def test_birth_registration_entry(cat: Catalogue) -> None:
    birth = cat.get("1.001193")
    assert birth.name == "Thủ tục đăng ký khai sinh" and birth.short_name == "Đăng ký khai sinh"
    assert birth.name_en == "Birth registration" and birth.field == "Hộ tịch"
    assert birth.levels == (Level.COMMUNE,) and birth.processing_days == 1
    assert birth.result.type_code == "HT-GKS"
    form = birth.component("to_khai")
    assert form.paper_kind == PaperKind.APPLICATION_FORM
    assert form.digitisation_class == DigitisationClass.MANAGEMENT_DECISION
    assert form.portal_code == "000.00.00.G15-KQ003204"
    assert form.form is not None and "04/2024/TT-BTP" in form.form.instrument
    idcard = birth.component("giay_to_tuy_than")
    assert idcard.paper_kind == PaperKind.ID_CARD and idcard.reusable and idcard.both_sides
    assert idcard.digitisation_class == DigitisationClass.EARLIER_RESULT
    assert "so_dinh_danh_ca_nhan" in idcard.metadata_hints


def test_components_for_each_case(cat: Catalogue) -> None:
    birth = cat.get("1.001193")
    assert [c.id for c in birth.components_for("co_giay_chung_sinh")] == [
        "to_khai", "giay_chung_sinh", "giay_to_tuy_than", "giay_to_cu_tru", "van_ban_uy_quyen"]
    assert [c.id for c in birth.components_for("khong_giay_chung_sinh")] == [
        "to_khai", "van_ban_lam_chung", "giay_to_tuy_than", "giay_to_cu_tru", "van_ban_uy_quyen"]
    assert [c.id for c in birth.components_for("tre_bi_bo_roi")] == [
        "to_khai", "bien_ban_tre_bi_bo_roi", "giay_to_tuy_than", "giay_to_cu_tru"]
    assert "xac_nhan_mang_thai_ho" in [c.id for c in birth.components_for("mang_thai_ho")]
    residence = cat.get("1.004222")
    assert [c.id for c in residence.components_for("thue_muon_o_nho")] == [
        "to_khai_ct01", "van_ban_dong_y_chu_ho", "hop_dong_thue_muon_o_nho", "xac_nhan_dien_tich_nha_o"]
    assert residence.component("to_khai_ct01").form is not None
    assert residence.component("to_khai_ct01").form.code == "CT01"  # type: ignore[union-attr]
    marriage = cat.get("1.000894")
    assert [c.paper_kind for c in marriage.components_for("hai_ben_co_mat")].count(PaperKind.ID_CARD) == 2
    with pytest.raises(CatalogueError) as info:
        birth.case("khong_co")
    assert info.value.key == "catalogue.unknown_case"


def test_on_request_components_need_consent_and_fee(cat: Catalogue) -> None:
    birth = cat.get("1.001193")
    proxy = birth.component("van_ban_uy_quyen")
    assert proxy.needs_consent_and_fee and proxy.conditional and proxy.condition
    assert not birth.component("to_khai").needs_consent_and_fee
    assert not birth.component("to_khai").conditional
    assert cat.fees.currency == "VND" and cat.fees.source
    assert cat.fees.on_request_fee(3) == 3 * cat.fees.on_request_per_page
    assert cat.fees.on_request_fee(10_000) == cat.fees.on_request_max_per_paper
    with pytest.raises(ValueError):
        cat.fees.on_request_fee(-1)


def test_unknown_code(cat: Catalogue) -> None:
    with pytest.raises(CatalogueError) as info:
        cat.get("9.999999")
    assert info.value.key == "catalogue.unknown_procedure"
    assert "9.999999" in info.value.message("vi") and "9.999999" in info.value.message("en")


# ------------------------------------------------------------------------------------------ search
@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("dang ky khai sinh", "1.001193"),
        ("Đăng ký khai sinh", "1.001193"),
        ("ĐĂNG KÝ KHAI SINH", "1.001193"),
        ("  đăng   ký  khai sinh ", "1.001193"),
        ("Dang Ky Ket Hon", "1.000894"),
        ("đăng ký khai tử", "1.000656"),
        ("dang ky lai khai sinh", "1.004884"),
        ("nhan cha me con", "1.001022"),
        ("chung thuc ban sao", "2.000815"),
        ("chứng thực chữ ký", "2.000884"),
        ("tam tru", "1.004194"),
        ("THƯỜNG TRÚ", "1.004222"),
        ("ho kinh doanh", "1.001612"),
        ("ly lich tu phap", "3.000333"),
        ("marriage registration", "1.000894"),
        ("1.004873", "1.004873"),
        ("1004873", "1.004873"),
        ("1.00487", "1.004873"),
    ],
)
def test_search_first_result(cat: Catalogue, query: str, first: str) -> None:
    assert cat.search(query)[0].code == first


def test_search_ranking(cat: Catalogue) -> None:
    # exact name > prefix > all words present > partial
    assert [p.code for p in cat.search("dang ky khai sinh", limit=3)] == ["1.001193", "1.000689", "1.004884"]
    assert [p.code for p in cat.search("1.0048")] == ["1.004884", "1.004873", "1.004859", "1.004837",
                                                       "1.004845"]
    partial = [p.code for p in cat.search("tam tru")]
    assert partial[:2] == ["1.004194", "1.004222"]


def test_search_limits_and_no_match(cat: Catalogue) -> None:
    assert cat.search("xyzzy plugh") == []
    assert cat.search("   ") == []
    assert cat.search("dang ky", limit=0) == []
    assert len(cat.search("dang ky", limit=2)) == 2
    assert cat.search("9.9") == []


# ---------------------------------------------------------------------------------------- validation
def test_broken_copy_round_trip_is_valid(tmp_path: Path, raw: dict[str, Any], cat: Catalogue) -> None:
    loaded = Catalogue.load(write(tmp_path, raw))
    assert loaded.procedures == cat.procedures and loaded.paper_types == cat.paper_types


@pytest.mark.parametrize(
    ("mutate", "error_key", "location"),
    [
        (lambda d: d["procedures"][3]["components"][2].__setitem__("originals", -1),
         "catalogue.schema", "procedures[3].components[2].originals"),
        (lambda d: d["procedures"][3]["components"][2].update(originals=0, copies=0),
         "catalogue.no_copies", "procedures[3].components[2].originals"),
        (lambda d: d["procedures"][0].__setitem__("code", "1.00119"),
         "catalogue.schema", "procedures[0].code"),
        (lambda d: d["procedures"][2].__setitem__("code", "1-001193"),
         "catalogue.schema", "procedures[2].code"),
        (lambda d: d["procedures"][5].__setitem__("code", d["procedures"][0]["code"]),
         "catalogue.duplicate_code", "procedures[5].code"),
        (lambda d: d["procedures"][1]["components"][0].__setitem__("digitisation_class", "always"),
         "catalogue.schema", "procedures[1].components[0].digitisation_class"),
        (lambda d: d["procedures"][1]["components"][1].__setitem__("paper_kind", "passport"),
         "catalogue.schema", "procedures[1].components[1].paper_kind"),
        (lambda d: d["procedures"][2]["components"][1].pop("paper_kind"),
         "catalogue.schema", "procedures[2].components[1].paper_kind"),
        (lambda d: d["procedures"][0].__setitem__("colour", "red"),
         "catalogue.schema", "procedures[0].colour"),
        (lambda d: d["procedures"][0]["cases"][1]["components"].append("khong_co"),
         "catalogue.unknown_component", "procedures[0].cases[1].components[5]"),
        (lambda d: d["procedures"][0]["components"][1].__setitem__("id", "to_khai"),
         "catalogue.duplicate_id", "procedures[0].components[1].id"),
        (lambda d: d["procedures"][0]["cases"][1].__setitem__("id", "co_giay_chung_sinh"),
         "catalogue.duplicate_id", "procedures[0].cases[1].id"),
        (lambda d: d["procedures"][4]["components"].append(
            dict(d["procedures"][4]["components"][0], id="thua")),
         "catalogue.unused_component", "procedures[4].components[5].id"),
        (lambda d: d["procedures"][6]["components"][1].update(pages_min=3, pages_max=2),
         "catalogue.pages_range", "procedures[6].components[1].pages_max"),
        (lambda d: d["procedures"][6]["components"][1].__setitem__("paper_type_code", "KHONG-CO"),
         "catalogue.unknown_paper_type", "procedures[6].components[1].paper_type_code"),
        (lambda d: d["procedures"][7]["results"][0].__setitem__("type_code", "KHONG-CO"),
         "catalogue.unknown_paper_type", "procedures[7].results[0].type_code"),
        (lambda d: d["procedures"][7]["components"][0].__setitem__("paper_type_code", "HT.GKS"),
         "catalogue.schema", "procedures[7].components[0].paper_type_code"),
        (lambda d: d["procedures"][4].__setitem__(
            "name", unicodedata.normalize("NFD", d["procedures"][4]["name"])),
         "catalogue.not_nfc", "procedures[4].name"),
        (lambda d: d["procedures"][3]["components"][1].__setitem__(
            "condition", unicodedata.normalize("NFD", "Khi người khác nộp thay")),
         "catalogue.not_nfc", "procedures[3].components[1].condition"),
        (lambda d: d["paper_types"].append(dict(d["paper_types"][0])),
         "catalogue.duplicate_id", "paper_types[60].code"),
        (lambda d: d.pop("fees"), "catalogue.schema", "fees"),
        (lambda d: d["fees"].__setitem__("on_request_per_page", "2000"),
         "catalogue.schema", "fees.on_request_per_page"),
    ],
)
def test_each_rule_names_the_exact_location(tmp_path: Path, raw: dict[str, Any], mutate: Any,
                                            error_key: str, location: str) -> None:
    data = copy.deepcopy(raw)
    mutate(data)
    err = load_error(tmp_path, data)
    assert (err.key, err.location) == (error_key, location)
    assert location in err.message("en") and location in err.message("vi")


def test_shipped_indexes_used_by_the_rule_tests(raw: dict[str, Any]) -> None:
    # the parametrised cases above assume these shapes of the shipped data
    assert len(raw["paper_types"]) == 60
    assert len(raw["procedures"][0]["cases"][1]["components"]) == 5
    assert len(raw["procedures"][4]["components"]) == 5
    assert raw["procedures"][0]["components"][0]["id"] == "to_khai"
    assert raw["procedures"][0]["cases"][0]["id"] == "co_giay_chung_sinh"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError) as info:
        Catalogue.load(tmp_path / "missing.toml")
    assert info.value.key == "catalogue.missing_file"
    bad = tmp_path / "bad.toml"
    bad.write_text('catalogue_version = "2026.11.25"\n[[procedures]\n', "utf-8")
    with pytest.raises(CatalogueError) as info:
        Catalogue.load(bad)
    assert info.value.key == "catalogue.syntax" and "line 2" in info.value.message("en")


# -------------------------------------------------------------------------------------------- CLI
def test_cli_search_show_list(capsys: pytest.CaptureFixture[str], cat: Catalogue) -> None:
    assert cli.main(["catalogue", "search", "dang ky khai sinh", "--limit", "2"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["code"] for x in lines] == ["1.001193", "1.000689"]
    assert lines[0]["short_name"] == "Đăng ký khai sinh" and lines[0]["levels"] == ["commune"]

    assert cli.main(["catalogue", "show", "1.001193"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["code"] == "1.001193" and shown["results"][0]["type_code"] == "HT-GKS"
    assert shown["components"][0]["digitisation_class"] == "management_decision"
    assert [c["id"] for c in shown["cases"]] == [c.id for c in cat.get("1.001193").cases]

    assert cli.main(["catalogue", "list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(cat.procedures)


def test_cli_check(tmp_path: Path, raw: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["catalogue", "check"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ok"] is True and summary["procedures"] == 19
    assert summary["unverified_codes"] == ["2.000986", "3.000333"]

    good = write(tmp_path, raw)
    assert cli.main(["catalogue", "check", "--file", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["file"] == str(good)

    data = copy.deepcopy(raw)
    data["procedures"][3]["components"][2]["originals"] = -1
    broken = write(tmp_path, data)
    assert cli.main(["catalogue", "check", "--file", str(broken)]) == 1
    reasons = [x for x in capsys.readouterr().err.splitlines() if x.startswith("kiosk: ")]  # not the JSON log
    assert len(reasons) == 1 and "procedures[3].components[2].originals" in reasons[0]

    assert cli.main(["catalogue", "show", "9.999999"]) == 1
    assert "9.999999" in capsys.readouterr().err


def test_docs_are_current(capsys: pytest.CaptureFixture[str], cat: Catalogue) -> None:
    expected = render_markdown(cat)
    assert (ROOT / "docs" / "catalogue.md").read_text("utf-8") == expected, \
        "docs/catalogue.md is stale: run `kiosk catalogue docs > docs/catalogue.md`"
    assert cli.main(["catalogue", "docs"]) == 0
    assert capsys.readouterr().out == expected
    for p in cat.procedures:
        assert f"### {p.code} {p.name}" in expected
