"""The extraction commands: kiosk extract form|metadata|papertype|forms and kiosk id photo."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.cli import main
from kiosk.synth.papers import (
    CardPerson,
    DecisionSpec,
    cccd_mrz,
    generate,
    photo_of,
    render_card_back,
    render_decision,
    round_corners,
)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_forms_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, objs = _run(["extract", "forms"], capsys)
    assert code == 0
    assert {o["form_id"] for o in objs} >= {"TK-KS", "TK-XNTTHN", "CT01"}


def test_papertype_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "card.jpg"
    cv2.imwrite(str(path), generate("id_card", random.Random(424242)))
    code, objs = _run(["extract", "papertype", str(path), "--expect", "application_form"], capsys)
    assert code == 0
    assert objs[0]["kind"] == "id_card" and objs[0]["matches"] is False and objs[0]["ok"] is True
    code, objs = _run(["extract", "papertype", str(tmp_path / "missing.png")], capsys)
    assert code == 1 and objs[0]["ok"] is False


def test_id_photo_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    person = CardPerson("Võ Minh Tâm", date(1988, 1, 30), False, "079088001122", date(2028, 1, 30))
    rng = random.Random(21)
    card = render_card_back(cccd_mrz(person), dpi=300, rng=rng)
    path = tmp_path / "back.png"
    cv2.imwrite(
        str(path), photo_of(card, rng, frame=(1400, 1000), fill=0.6, max_rot=4, mask=round_corners(card, 300))
    )
    code, objs = _run(["id", "photo", str(path)], capsys)
    assert code == 0
    assert objs[0]["valid"] is True and objs[0]["personal_id"] == "079088001122"
    assert objs[0]["birth_date"] == "1988-01-30"
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((400, 600, 3), 230, np.uint8))
    assert main(["id", "photo", str(blank)]) == 1


def test_metadata_and_form_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = DecisionSpec(
        "ỦY BAN NHÂN DÂN",
        "PHƯỜNG HÒA AN",
        "Số: 9/QĐ-UBND",
        "Hòa An",
        date(2024, 6, 3),
        "QUYẾT ĐỊNH",
        "Về việc thành lập Tổ công tác số hóa hồ sơ",
        (),
        signer="Lê Văn Hùng",
    )
    img = render_decision(spec, dpi=200, rng=random.Random(1)).image
    path = tmp_path / "decision.png"
    cv2.imwrite(str(path), img[: img.shape[0] // 3])  # the header is enough, and OCRs fast
    code, objs = _run(["extract", "metadata", str(path), "--dpi", "200"], capsys)
    assert code == 0
    assert objs[0]["paper_name"] == "Quyết định" and objs[0]["issue_date"] == "2024-06-03"
    assert objs[0]["summary"] == "Về việc thành lập Tổ công tác số hóa hồ sơ"
    # not a form: exit status 1 with the reason on stderr
    assert main(["extract", "form", str(path), "--dpi", "200"]) == 1
    assert "No known form" in capsys.readouterr().err
