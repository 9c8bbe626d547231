"""The shipped paper-type model (LiteRT) on freshly generated papers, the mismatch warning, and the
flatbuffer writer of the training script."""

from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from kiosk.errors import KioskError
from kiosk.extract.papertype import (
    INFO_PATH,
    KINDS,
    MODEL_PATH,
    check_paper_kind,
    classify,
    feature_size,
    features,
)
from kiosk.synth.papers import generate, render_text_page

ROOT = Path(__file__).resolve().parents[2]


def test_model_and_description_ship_with_the_package() -> None:
    assert MODEL_PATH.stat().st_size > 10_000
    info = json.loads(INFO_PATH.read_text(encoding="utf-8"))
    assert tuple(info["labels"]) == KINDS
    assert info["input"]["shape"] == [1, feature_size()]
    assert info["evaluation"]["accuracy"] >= 0.9
    assert info["training"]["script"] == "scripts/train_papertype.py"


@pytest.mark.parametrize("kind", KINDS)
def test_fresh_images_of_each_kind(kind: str) -> None:
    # seeds, typefaces and sentences the model was not trained on
    hits = [classify(generate(kind, random.Random(90_000 + i), heldout=True)).kind == kind for i in range(4)]
    assert sum(hits) >= 3, hits


def test_mismatch_warns_and_match_does_not() -> None:
    card = generate("id_card", random.Random(424242))
    wrong = check_paper_kind(card, "application_form")
    assert wrong.kind == "id_card" and not wrong.matches
    assert wrong.warning() == "extract.paper_kind_mismatch"
    right = check_paper_kind(card, "id_card")
    assert right.matches and right.warning() is None
    assert abs(sum(right.probabilities.values()) - 1.0) < 1e-4
    assert right.to_dict()["expected"] == "id_card"


def test_plain_text_page_matches_a_later_page_of_a_decision() -> None:
    page = render_text_page(random.Random(5), dpi=100, family="noto-serif")
    res = check_paper_kind(page, "decision_or_certificate", first_page=False)
    assert res.matches
    assert res.kind == "other"


def test_unknown_kind_and_bad_image() -> None:
    with pytest.raises(KioskError) as err:
        check_paper_kind(np.zeros((50, 50, 3), np.uint8), "passport")
    assert err.value.key == "extract.unknown_kind"
    with pytest.raises(KioskError):
        features(np.zeros((0, 0), np.uint8))
    assert features(np.full((300, 200), 255, np.uint8)).shape == (feature_size(),)


def _trainer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("train_papertype", ROOT / "scripts" / "train_papertype.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_flatbuffer_writer_matches_numpy(tmp_path: Path) -> None:
    tr = _trainer()
    rng = np.random.default_rng(1)
    p = {
        "w1": rng.normal(size=(12, 6)).astype(np.float32),
        "b1": rng.normal(size=6).astype(np.float32),
        "w2": rng.normal(size=(6, 4)).astype(np.float32),
        "b2": rng.normal(size=4).astype(np.float32),
    }
    path = tmp_path / "m.tflite"
    path.write_bytes(tr.tflite_bytes(p, "test"))
    x = rng.normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_allclose(tr.run_tflite(path, x), tr.forward(p, x), atol=1e-5)
