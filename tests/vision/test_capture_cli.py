"""The capture commands: kiosk assess / dewarp / blank / sticky / vision calibrate."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from kiosk.cli import main
from kiosk.synth.camera import page_bgr


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, [json.loads(x) for x in out.splitlines() if x.strip()], err


def test_assess_cli(docs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = docs.frame(seed=11, background_kind="wood")
    blur = docs.frame(seed=21, defect="blur")
    cv2.imwrite(str(tmp_path / "ok.png"), ok.image)
    cv2.imwrite(str(tmp_path / "blur.png"), blur.image)
    code, rows, _ = run(capsys, "assess", "--still-size", "3840x2160", str(tmp_path / "ok.png"),
                        str(tmp_path / "blur.png"))
    assert code == 0
    assert [r["file"] for r in rows] == [str(tmp_path / "ok.png"), str(tmp_path / "blur.png")]
    assert rows[0]["ok"] is True and rows[0]["reasons"] == []
    assert rows[1]["ok"] is False and rows[1]["reasons"] == ["blur"]
    assert abs(rows[0]["dpi_estimate"] - ok.still_dpi) < 2  # type: ignore[operator]
    assert len(rows[0]["corners"]) == 4  # type: ignore[arg-type]
    # without --still-size the frame is its own still: a third of the dpi
    code, own, _ = run(capsys, "assess", str(tmp_path / "ok.png"))
    assert own[0]["reasons"] == ["low_resolution"]
    assert abs(own[0]["dpi_estimate"] * 3 - rows[0]["dpi_estimate"]) < 1  # type: ignore[operator]


def test_assess_cli_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows, err = run(capsys, "assess", str(tmp_path / "nope.jpg"))
    assert code == 1 and rows == []
    assert "nope.jpg" in err


def test_dewarp_blank_sticky_cli(docs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = docs.frame(seed=12, background_kind="desk")
    cv2.imwrite(str(tmp_path / "f.png"), f.image)
    code, rows, _ = run(capsys, "dewarp", str(tmp_path / "f.png"), "-o", str(tmp_path / "out.png"))
    assert code == 0
    out = cv2.imread(str(tmp_path / "out.png"))
    assert out.shape[:2] == (2339, 1654)  # A4 at 200 dpi (the frame is its own still: upsampled)
    assert rows[0]["dpi"] == 200 and rows[0]["low_resolution"] is True
    blank = docs.paper(1)
    cv2.imwrite(str(tmp_path / "blank.png"), blank)
    note, box = docs.sticky_page(1)
    cv2.imwrite(str(tmp_path / "note.png"), note)
    cv2.imwrite(str(tmp_path / "text.png"), page_bgr(seed=1, dpi=200))
    code, rows, _ = run(capsys, "blank", str(tmp_path / "blank.png"), str(tmp_path / "text.png"))
    assert code == 0
    assert next((r["blank"], r["score"]) for r in rows) == (True, 0.0)
    assert rows[1]["blank"] is False
    code, rows, _ = run(capsys, "sticky", str(tmp_path / "note.png"), str(tmp_path / "text.png"))
    assert rows[0]["sticky"] is True and np.abs(np.array(rows[0]["box"]) - np.array(box)).max() <= 3
    assert rows[1] == {"file": str(tmp_path / "text.png"), "sticky": False, "box": None}


def test_calibrate_cli(docs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = []
    for s, b in ((11, "wood"), (13, "cloth")):
        p = tmp_path / f"{s}.png"
        cv2.imwrite(str(p), docs.frame(seed=s, background_kind=b).image)
        names.append(str(p))
    code, rows, _ = run(capsys, "vision", "calibrate", "--still-size", "3840x2160", *names)
    assert code == 0 and rows[0]["pages_found"] == 2
    assert set(rows[0]["suggested"]) == {"blur_threshold", "dark_luma", "glare_fraction"}
