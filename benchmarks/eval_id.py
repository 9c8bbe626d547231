"""Evaluate applicant identification on the dev data: MRZ parsing and CCCD QR decode + parse.

    KIOSK_TESTDATA=/path/to/testdata .venv/bin/python benchmarks/eval_id.py

- ``mrz/mrz.jsonl``: every record's ``valid`` must equal the parser's; for valid records every labelled
  field must equal the parsed one.
- ``idcards/``: each card image is decoded with ``kiosk.vision.qr.decode_qr`` and parsed with
  ``parse_cccd_qr``; the fields must equal the labels. Baseline in the same process: OpenCV's default
  ``cv2.QRCodeDetector().detectAndDecode`` on the same images (payload equal to the label's).

Timings are medians over ``--repeat`` runs per item.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import cv2

from kiosk.core.cccd_qr import parse_cccd_qr
from kiosk.core.mrz import parse_mrz
from kiosk.errors import KioskError
from kiosk.vision.qr import decode_qr, read_image

REPO = Path(__file__).resolve().parents[1]


def testdata_dir() -> Path:
    return Path(os.environ.get("KIOSK_TESTDATA", REPO.parent / "shared" / "testdata"))


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _median_ms(fn: Any, repeat: int) -> tuple[Any, float]:
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return out, statistics.median(times)


def eval_mrz(root: Path, repeat: int) -> dict[str, Any]:
    records = _jsonl(root / "mrz" / "mrz.jsonl")
    valid_ok = fields_ok = n_valid = 0
    times: list[float] = []
    mismatches: list[str] = []
    for rec in records:
        result, ms = _median_ms(lambda rec=rec: _parse_or_none(rec["lines"]), repeat)
        times.append(ms)
        got_valid = bool(result and result.valid)
        if got_valid == rec["valid"]:
            valid_ok += 1
        else:
            mismatches.append(f"{rec['id']}: valid {got_valid}, label {rec['valid']}"
                              f" ({result.failed_checks if result else 'unreadable'})")
        if rec["valid"]:
            n_valid += 1
            got = result.to_dict() if result else {}
            bad = {k: (got.get(k), v) for k, v in rec["fields"].items() if got.get(k) != v}
            if bad:
                mismatches.append(f"{rec['id']}: fields {bad}")
            else:
                fields_ok += 1
    return {"records": len(records), "valid_flag_correct": valid_ok, "valid_records": n_valid,
            "fields_correct": fields_ok, "median_ms": statistics.median(times), "mismatches": mismatches}


def _parse_or_none(lines: list[str]) -> Any:
    try:
        return parse_mrz(lines)
    except KioskError:
        return None


def eval_qr(root: Path, repeat: int) -> dict[str, Any]:
    labels = _jsonl(root / "idcards" / "labels.jsonl")
    ours_ok = base_ok = 0
    ours_ms: list[float] = []
    base_ms: list[float] = []
    mismatches: list[str] = []
    detector = cv2.QRCodeDetector()
    for lab in labels:
        image = read_image(root / "idcards" / lab["file"])
        payloads, ms = _median_ms(lambda image=image: decode_qr(image), repeat)
        ours_ms.append(ms)
        fields: dict[str, Any] | None = None
        for p in payloads:
            try:
                fields = parse_cccd_qr(p).to_dict()
                break
            except KioskError as exc:
                mismatches.append(f"{lab['file']}: {exc.key}")
        if fields == lab["fields"]:
            ours_ok += 1
        else:
            mismatches.append(f"{lab['file']}: got {fields}")
        (text, _pts, _raw), bms = _median_ms(lambda image=image: detector.detectAndDecode(image), repeat)
        base_ms.append(bms)
        base_ok += text == lab["payload"]
    return {"images": len(labels), "fields_correct": ours_ok, "baseline_opencv_correct": base_ok,
            "median_ms": statistics.median(ours_ms), "baseline_median_ms": statistics.median(base_ms),
            "mismatches": mismatches}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="timing runs per item (median reported)")
    args = ap.parse_args(argv)
    root = testdata_dir()
    mrz = eval_mrz(root, args.repeat)
    qr = eval_qr(root, args.repeat)
    print(f"MRZ: valid/invalid correct {mrz['valid_flag_correct']} / {mrz['records']}; "
          f"fields correct {mrz['fields_correct']} / {mrz['valid_records']} valid records; "
          f"median {mrz['median_ms']:.3f} ms per MRZ")
    print(f"QR:  fields correct {qr['fields_correct']} / {qr['images']} (zxing-cpp decode + parse); "
          f"baseline OpenCV QRCodeDetector payload correct {qr['baseline_opencv_correct']} / {qr['images']}")
    ratio = qr["median_ms"] / qr["baseline_median_ms"] if qr["baseline_median_ms"] else float("nan")
    print(f"QR:  median decode {qr['median_ms']:.1f} ms per image, "
          f"baseline {qr['baseline_median_ms']:.1f} ms "
          f"(ratio {ratio:.2f})")
    for line in mrz["mismatches"] + qr["mismatches"]:
        print(f"  mismatch: {line}")
    ok = (mrz["valid_flag_correct"] == mrz["records"] and mrz["fields_correct"] == mrz["valid_records"]
          and qr["fields_correct"] == qr["images"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
