"""Evaluate capture quality on the dev data: frames (reasons, corners), blank sides, sticky notes,
dewarp of stills, deskew of scans, orientation, duplicates.

    .venv/bin/python benchmarks/eval_vision.py [--skip-stills]

Reads ``$KIOSK_TESTDATA`` (default ``../shared/testdata`` relative to the repo). The frame, blank and
sticky figures run the CLI (``kiosk assess/blank/sticky``) in one process each, like a user would; the
still, scan and duplicate figures call the API.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("KIOSK_TESTDATA", REPO.parent / "shared" / "testdata"))
KIOSK = [sys.executable, "-m", "kiosk.cli"]
LABEL_REASON = {"blur": "blur", "glare": "glare", "dark": "dark", "cutoff": "cutoff",
                "small": "low_resolution"}


def labels(folder: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (DATA / folder / "labels.jsonl").read_text("utf-8").splitlines() if x]


def run_cli(args: list[str]) -> list[dict[str, Any]]:
    out = subprocess.run([*KIOSK, *args], cwd=REPO, capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1):
        raise SystemExit(f"kiosk {args[0]} failed: {out.stderr.strip()}")
    return [json.loads(x) for x in out.stdout.splitlines() if x.strip()]


def cyclic_iou(a: np.ndarray, b: np.ndarray) -> float:
    from kiosk.vision.geometry import quad_iou

    return quad_iou(a, b)  # IoU does not depend on the corner order


def eval_frames() -> dict[str, Any]:
    rows = labels("frames")
    t0 = time.perf_counter()
    res = run_cli(["assess", "--still-size", "3840x2160", *[str(DATA / "frames" / r["file"]) for r in rows]])
    wall = time.perf_counter() - t0
    by_file = {Path(r["file"]).name: r for r in res}
    per_label: dict[str, list[bool]] = defaultdict(list)
    ious: list[float] = []
    corner_err: list[float] = []
    dpi_err: list[float] = []
    misses: list[str] = []
    for r in rows:
        a = by_file[r["file"]]
        lab = r["label"]
        hit = a["ok"] if lab == "ok" else LABEL_REASON[lab] in a["reasons"]
        per_label[lab].append(hit)
        if not hit:
            misses.append(f"{r['file']}:{lab}->{a['reasons']}")
        if r["corners_outside"] == 0:
            gt = np.array(r["corners"])
            if a["corners"] is None:
                ious.append(0.0)
            else:
                q = np.array(a["corners"])
                ious.append(cyclic_iou(q, gt))
                d = min(float(np.abs(np.roll(q, k, axis=0) - gt).max()) for k in range(4))
                corner_err.append(d)
        if a["dpi_estimate"] is not None:
            dpi_err.append(abs(a["dpi_estimate"] - r["still_dpi"]))
    out = {
        "frames": len(rows),
        "ok_judged_ok": f"{sum(per_label['ok'])}/{len(per_label['ok'])}",
        "reason_recall": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(per_label.items()) if k != "ok"},
        "mean_iou_in_frame": round(float(np.mean(ious)), 5),
        "min_iou_in_frame": round(float(np.min(ious)), 5),
        "max_corner_error_px_median": round(float(np.median(corner_err)), 2),
        "dpi_abs_error_median": round(float(np.median(dpi_err)), 2),
        "dpi_abs_error_max": round(float(np.max(dpi_err)), 2),
        "cli_seconds": round(wall, 2),
        "misses": misses,
    }
    # false reasons on frames of other labels (informative)
    extra = Counter()
    for r in rows:
        a = by_file[r["file"]]
        want = {LABEL_REASON.get(r["label"])} if r["label"] != "ok" else set()
        for reason in a["reasons"]:
            if reason not in want and not (reason == "low_resolution" and r["still_dpi"] < 200):
                extra[f"{r['label']}+{reason}"] += 1
    out["unexpected_reasons"] = dict(extra)
    return out


def eval_blank() -> dict[str, Any]:
    rows = labels("blank")
    out = run_cli(["blank", *[str(DATA / "blank" / r["file"]) for r in rows]])
    res = {Path(r["file"]).name: r for r in out}
    correct = [res[r["file"]]["blank"] == r["blank"] for r in rows]
    wrong = [f"{r['file']}:{r['kind']}" for r, c in zip(rows, correct, strict=True) if not c]
    scores = {r["kind"]: [] for r in rows}
    for r in rows:
        scores[r["kind"]].append(res[r["file"]]["score"])
    return {"images": len(rows), "correct": f"{sum(correct)}/{len(rows)}",
            "accuracy": round(sum(correct) / len(rows), 4), "wrong": wrong,
            "score_min_max_by_kind": {k: [round(min(vs), 2), round(max(vs), 2)] for k, vs in scores.items()}}


def eval_sticky() -> dict[str, Any]:
    rows = labels("sticky")
    out = run_cli(["sticky", *[str(DATA / "sticky" / r["file"]) for r in rows]])
    res = {Path(r["file"]).name: r for r in out}
    pos = [r for r in rows if r["sticky"]]
    neg = [r for r in rows if not r["sticky"]]
    found = [res[r["file"]]["sticky"] for r in pos]
    false = [res[r["file"]]["sticky"] for r in neg]
    from kiosk.vision.geometry import quad_iou

    box_iou = []
    for r in pos:
        b = res[r["file"]]["box"]
        if b:
            def quad(x: list[int]) -> np.ndarray:
                return np.array([[x[0], x[1]], [x[2], x[1]], [x[2], x[3]], [x[0], x[3]]], float)
            box_iou.append(quad_iou(quad(b), quad(r["box"])))
    seals = [r for r in neg if r.get("seal")]
    return {"with_note": len(pos), "found": f"{sum(found)}/{len(pos)}",
            "without_note": len(neg), "false_alarms": f"{sum(false)}/{len(neg)}",
            "seal_pages_false_alarms": f"{sum(res[r['file']]['sticky'] for r in seals)}/{len(seals)}",
            "box_iou_mean": round(float(np.mean(box_iou)), 4) if box_iou else None}


def eval_stills() -> dict[str, Any]:
    import cv2

    from kiosk.vision.geometry import quad_iou
    from kiosk.vision.still import process_still

    rows = labels("stills")
    ious, rot_ok, dpis, secs = [], [], [], []
    for r in rows:
        img = cv2.imread(str(DATA / "stills" / r["file"]))
        t0 = time.perf_counter()
        page = process_still(img, paper="A4", min_dpi=200)
        secs.append(time.perf_counter() - t0)
        gt = np.array(r["corners"])
        ious.append(quad_iou(np.array(page.corners), gt))
        # the page's own TL must be found: compare without cyclic shift
        rot_ok.append(float(np.abs(np.array(page.corners) - gt).max()) < 15.0)
        dpis.append(page.dpi)
    return {"stills": len(rows), "mean_iou": round(float(np.mean(ious)), 5),
            "page_top_found": f"{sum(rot_ok)}/{len(rows)}", "output_dpi_min_max": [min(dpis), max(dpis)],
            "seconds_median": round(float(np.median(secs)), 3)}


def eval_scans() -> dict[str, Any]:
    import cv2

    from kiosk.vision.dewarp import estimate_skew, orientation

    rows = labels("scans")
    errs, secs = [], []
    orient_ok, orient_secs = [], []
    for r in rows:
        img = cv2.imread(str(DATA / "scans" / r["file"]))
        t0 = time.perf_counter()
        ang = estimate_skew(img)
        secs.append(time.perf_counter() - t0)
        errs.append(abs(ang - r["angle_deg"]))
        for k in (0, 1, 2, 3):
            rot = np.ascontiguousarray(np.rot90(img, k))
            t0 = time.perf_counter()
            o = orientation(rot)
            orient_secs.append(time.perf_counter() - t0)
            # rot90 by k turns the content counter-clockwise by 90k; the fix is 90k clockwise
            orient_ok.append(o.rotation == (90 * k) % 360)
    # Tesseract OSD on the same images, one quarter turn each (it is slow: 20 runs)
    from kiosk.vision.dewarp import orientation_osd

    osd_ok, osd_secs = [], []
    for i, r in enumerate(rows):
        k = i % 4
        rot = np.ascontiguousarray(np.rot90(cv2.imread(str(DATA / "scans" / r["file"])), k))
        t0 = time.perf_counter()
        o = orientation_osd(rot)
        osd_secs.append(time.perf_counter() - t0)
        osd_ok.append(o.rotation == (90 * k) % 360)
    return {"scans": len(rows), "skew_abs_error_deg_median": round(float(np.median(errs)), 3),
            "osd_orientation_correct": f"{sum(osd_ok)}/{len(osd_ok)}",
            "osd_seconds_median": round(float(np.median(osd_secs)), 3),
            "skew_abs_error_deg_max": round(float(np.max(errs)), 3),
            "skew_seconds_median": round(float(np.median(secs)), 3),
            "orientation_correct": f"{sum(orient_ok)}/{len(orient_ok)}",
            "orientation_seconds_median": round(float(np.median(orient_secs)), 3)}


def eval_duplicates() -> dict[str, Any]:
    import cv2

    from kiosk.vision.duplicates import hamming, is_duplicate, page_hash
    from kiosk.vision.still import process_scan, process_still

    # the same page as a clean render, a processed flatbed scan and a processed camera still must match;
    # different pages must not
    hashes: dict[str, list[int]] = defaultdict(list)
    for r in labels("scans"):
        hashes[r["page"]].append(page_hash(process_scan(cv2.imread(str(DATA / "scans" / r["file"]))).image))
    for r in labels("stills"):
        hashes[r["page"]].append(page_hash(process_still(cv2.imread(str(DATA / "stills" / r["file"]))).image))
    for name in list(hashes):
        hashes[name].append(page_hash(cv2.imread(str(DATA / "pages" / name))))
    same, same_d = [], []
    for v in hashes.values():
        for i in range(len(v)):
            for j in range(i + 1, len(v)):
                same.append(is_duplicate(v[i], v[j]))
                same_d.append(hamming(v[i], v[j]))
    names = sorted(hashes)
    diff, diff_d = [], []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for x in hashes[a]:
                for y in hashes[b]:
                    diff.append(is_duplicate(x, y))
                    diff_d.append(hamming(x, y))
    return {"same_page_pairs": f"{sum(same)}/{len(same)} matched", "same_max_distance": max(same_d),
            "different_page_pairs": f"{sum(diff)}/{len(diff)} false matches",
            "different_min_distance": min(diff_d)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--skip-stills", action="store_true")
    ap.add_argument("--only", choices=["frames", "blank", "sticky", "stills", "scans", "duplicates"])
    args = ap.parse_args()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    parts = {"frames": eval_frames, "blank": eval_blank, "sticky": eval_sticky, "stills": eval_stills,
             "scans": eval_scans, "duplicates": eval_duplicates}
    for name, fn in parts.items():
        if args.only and name != args.only:
            continue
        if args.skip_stills and name in ("stills", "scans"):
            continue
        print(json.dumps({name: fn()}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
