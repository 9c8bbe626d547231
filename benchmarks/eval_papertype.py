#!/usr/bin/env python3
"""Evaluate the paper-type classifier (kiosk/data/models/papertype.tflite).

1. Held-apart generated papers: seeds, typefaces and body sentences not used in training
   (``kiosk.synth.papers.generate(..., heldout=True)``), N per kind: accuracy, per-kind recall, confusion.
2. Speed, in the same run on the same images: median ms per image of the preprocessing alone (the
   baseline: ``features``), of the LiteRT inference alone, and of both (what ``check_paper_kind`` costs).
3. The dev data in $KIOSK_TESTDATA (default ../shared/testdata relative to the repo):
   - ``idcards/*.jpg`` are ID-card fronts: label ``id_card``.
   - ``frames/*.jpg`` are camera previews of the pages below on desks (some blurred, dark, cut off): labelled
     like their page.
   - ``pages/*.png`` and ``scans/*.jpg`` are pages of one provincial decision (text before 'Điều 6.'), each
     a fragment under a bold centred heading, without national motto, agency block, seal or signature.
     Labels: a page whose heading line is exactly "QUYẾT ĐỊNH" (the decision's title) is
     ``decision_or_certificate``; every other page (headings "Chương II", "QUY ĐỊNH ...", "QUYẾT ĐỊNH:",
     an agency name, ...) is a continuation text page, ``other``. The title pages carry no visual mark of
     an issued decision besides the word itself, so an image-only classifier is expected to call them
     text pages; the report also gives the share of pages called a text-like kind (``other`` or
     ``decision_or_certificate``) and what ``check_paper_kind(expected='decision_or_certificate')`` would
     do for page 1 and for later pages.

    .venv/bin/python benchmarks/eval_papertype.py [--per-kind 100] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from kiosk.extract.papertype import KINDS, PaperTypeModel, check_paper_kind, features
from kiosk.synth.papers import generate
from kiosk.vision.ocr import read_image

ROOT = Path(__file__).resolve().parent.parent


def confusion(pairs: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out = {t: dict.fromkeys(KINDS, 0) for t in KINDS}
    for truth, pred in pairs:
        out[truth][pred] += 1
    return out


def heldout(model: PaperTypeModel, per_kind: int, seed: int) -> dict[str, object]:
    pairs: list[tuple[str, str]] = []
    t_feat: list[float] = []
    t_inf: list[float] = []
    t_both: list[float] = []
    for ki, kind in enumerate(KINDS):
        for i in range(per_kind):
            img = generate(kind, random.Random(seed + 1000 * ki + i), heldout=True)
            t0 = time.perf_counter()
            vec = features(img)
            t1 = time.perf_counter()
            probs = model.predict_features(vec)
            t2 = time.perf_counter()
            model.predict(img)
            t3 = time.perf_counter()
            t_feat.append((t1 - t0) * 1000)
            t_inf.append((t2 - t1) * 1000)
            t_both.append((t3 - t2) * 1000)
            pairs.append((kind, KINDS[int(np.argmax(probs))]))
    acc = sum(t == p for t, p in pairs) / len(pairs)
    recall = {k: sum(1 for t, p in pairs if t == k and p == k) / per_kind for k in KINDS}
    base = statistics.median(t_feat)
    return {
        "per_kind": per_kind,
        "accuracy": round(acc, 4),
        "recall": {k: round(v, 4) for k, v in recall.items()},
        "confusion_true_to_predicted": confusion(pairs),
        "median_ms": {
            "features_baseline": round(base, 2),
            "inference_only": round(statistics.median(t_inf), 3),
            "features_plus_inference": round(statistics.median(t_both), 2),
            "ratio_total_to_baseline": round(statistics.median(t_both) / base, 3),
        },
    }


def _page_label(text_file: Path) -> str:
    first = text_file.read_text(encoding="utf-8").splitlines()[0].strip()
    return "decision_or_certificate" if first == "QUYẾT ĐỊNH" else "other"


def dev(model: PaperTypeModel, data: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    items: dict[str, list[tuple[Path, str]]] = {"pages": [], "scans": [], "idcards": []}
    for png in sorted((data / "pages").glob("page_*.png")):
        items["pages"].append((png, _page_label(png.with_suffix(".txt"))))
    labels = data / "scans" / "labels.jsonl"
    if labels.exists():
        for line in labels.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            items["scans"].append(
                (data / "scans" / rec["file"], _page_label(data / "pages" / rec["text_file"]))
            )
    frames = data / "frames" / "labels.jsonl"
    if frames.exists():  # camera previews of the same pages on desks (all defects included)
        items["frames"] = []
        for line in frames.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            page = data / "pages" / rec["page"]
            items["frames"].append((data / "frames" / rec["file"], _page_label(page.with_suffix(".txt"))))
    for jpg in sorted((data / "idcards").glob("card_*.jpg")):
        items["idcards"].append((jpg, "id_card"))
    for folder, entries in items.items():
        if not entries:
            continue
        pairs = []
        warn_first = warn_later = 0
        for path, truth in entries:
            img = read_image(path)
            probs = model.predict(img)
            pred = max(probs, key=lambda k: probs[k])
            pairs.append((truth, pred))
            if folder != "idcards":
                warn_first += not check_paper_kind(img, "decision_or_certificate", model=model).matches
                warn_later += not check_paper_kind(
                    img, "decision_or_certificate", first_page=False, model=model
                ).matches
        n = len(pairs)
        res: dict[str, object] = {
            "n": n,
            "accuracy": round(sum(t == p for t, p in pairs) / n, 4),
            "labels": {k: sum(1 for t, _ in pairs if t == k) for k in KINDS if any(t == k for t, _ in pairs)},
            "confusion_true_to_predicted": {t: c for t, c in confusion(pairs).items() if any(c.values())},
        }
        if folder != "idcards":
            res["text_like"] = round(sum(p in ("other", "decision_or_certificate") for _, p in pairs) / n, 4)
            res["warned_as_page1_of_decision"] = warn_first
            res["warned_as_later_page_of_decision"] = warn_later
        out[folder] = res
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-kind", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7_000_000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    model = PaperTypeModel()
    report: dict[str, object] = {
        "model": model.info.get("network"),
        "heldout": heldout(model, args.per_kind, args.seed),
    }
    data = Path(os.environ.get("KIOSK_TESTDATA", ROOT.parent / "shared" / "testdata"))
    if data.is_dir():
        report["dev_data"] = dev(model, data)
    else:
        report["dev_data"] = f"not found: {data}"
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
