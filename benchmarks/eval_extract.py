#!/usr/bin/env python3
"""Evaluate form extraction (R5) and MRZ reading from photos on generated papers (real Tesseract).

Forms: every form definition filled with random plausible values (``random_form_values``, 20 % of the
optional fields left blank), rendered at 200 dpi, flat or as a flatbed scan (rotation up to 3 degrees,
blur, noise, sometimes grey, JPEG). Per field: correct value; wrong value flagged ``needs_confirmation`` (the
citizen sees it); wrong value not flagged (a silent error, the figure that matters); correct but flagged
(extra work). Times: median seconds per form of the OCR (the baseline) and of the extraction alone, in the
same run.

MRZ: backs of chip ID cards (TD1) and passport data pages (TD3) photographed on textures (rotation,
perspective, lighting, blur, noise, JPEG). Read rate = valid and every field equal to the generated one,
for the full pipeline and without the character whitelist / without the repairs (ablations), with the
median time per photo. The MRZ is set in DejaVu Sans Mono (no OCR-B font is installed).

    .venv/bin/python benchmarks/eval_extract.py [--forms 10] [--mrz 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from kiosk.extract.forms import FormDefinition, extract_form, load_forms, ocr_form_image
from kiosk.extract.mrz_photo import read_mrz_from_image
from kiosk.synth.papers import (
    ascii_name,
    cccd_mrz,
    photo_of,
    random_form_values,
    random_person,
    render_card_back,
    render_form,
    render_passport_page,
    round_corners,
    scan_of,
    vn_passport_mrz,
)

ROOT = Path(__file__).resolve().parent.parent


def expected_value(form: FormDefinition, key: str, raw: str | None) -> str | None:
    if not raw:
        return None
    fd = form.field(key)
    if fd.type in ("date", "date_or_year") and "/" in raw:
        return datetime.strptime(raw, "%d/%m/%Y").date().isoformat()
    return raw


def eval_forms(n: int, seed: int, scan: bool) -> dict[str, object]:
    counts = {"fields": 0, "correct": 0, "wrong_flagged": 0, "wrong_silent": 0, "correct_flagged": 0}
    t_ocr: list[float] = []
    t_ext: list[float] = []
    per_form: dict[str, dict[str, int]] = {}
    silent_examples: list[str] = []
    for fi, form in enumerate(load_forms().values()):
        pf = {"fields": 0, "correct": 0, "wrong_silent": 0}
        for i in range(n):
            rng = random.Random(seed + 1000 * fi + i)
            values = random_form_values(form, rng, empty_rate=0.2)
            img = render_form(form, values, dpi=200).image
            if scan:
                img = scan_of(img, random.Random(rng.random()))
            t0 = time.perf_counter()
            fo = ocr_form_image(img, 200)
            t1 = time.perf_counter()
            res = extract_form(fo.page, form, leaders=fo.leaders)
            t2 = time.perf_counter()
            t_ocr.append(t1 - t0)
            t_ext.append(t2 - t1)
            for fd in form.fields:
                want = expected_value(form, fd.key, values.get(fd.key))
                got = res.fields[fd.key]
                ok = got.value == want
                counts["fields"] += 1
                pf["fields"] += 1
                if ok:
                    counts["correct"] += 1
                    pf["correct"] += 1
                    counts["correct_flagged"] += got.needs_confirmation and want is not None
                elif got.needs_confirmation:
                    counts["wrong_flagged"] += 1
                else:
                    counts["wrong_silent"] += 1
                    pf["wrong_silent"] += 1
                    if len(silent_examples) < 10:
                        silent_examples.append(f"{form.id}.{fd.key} ({fd.type})")
        per_form[form.id] = pf
    total = counts["fields"]
    return {
        "forms_per_definition": n,
        "scan": scan,
        **counts,
        "accuracy": round(counts["correct"] / total, 4),
        "silent_error_rate": round(counts["wrong_silent"] / total, 4),
        "flag_rate_on_correct": round(counts["correct_flagged"] / max(1, counts["correct"]), 4),
        "per_form": per_form,
        "silent_error_fields": silent_examples,
        "median_s": {
            "ocr_baseline": round(statistics.median(t_ocr), 3),
            "extraction_only": round(statistics.median(t_ext), 4),
            "ratio_extraction_to_ocr": round(statistics.median(t_ext) / statistics.median(t_ocr), 4),
        },
    }


def eval_mrz(n: int, seed: int) -> dict[str, object]:
    variants = {"full": {}, "no_whitelist": {"whitelist": False}, "no_repair": {"repair": False}}
    out: dict[str, object] = {}
    cases = []
    for i in range(n):
        rng = random.Random(seed + i)
        p = random_person(rng)
        if i % 2 == 0:
            lines = cccd_mrz(p, cccd_check=rng.random() < 0.5)
            obj = render_card_back(lines, dpi=300, rng=rng)
            photo = photo_of(
                obj,
                rng,
                frame=(1600, 1200),
                fill=rng.uniform(0.35, 0.7),
                max_rot=6,
                mask=round_corners(obj, 300),
            )
            number = p.cccd[3:]
        else:
            number = f"C{rng.randrange(10**7):07d}"
            obj = render_passport_page(vn_passport_mrz(p, number), p, number, dpi=300, rng=rng)
            photo = photo_of(obj, rng, frame=(1600, 1200), fill=rng.uniform(0.4, 0.7), max_rot=5)
        cases.append((photo, p, number))
    for name, kw in variants.items():
        ok = 0
        times = []
        for photo, p, number in cases:
            t0 = time.perf_counter()
            r = read_mrz_from_image(photo, **kw)
            times.append(time.perf_counter() - t0)
            ok += bool(
                r is not None
                and r.valid
                and r.personal_id == p.cccd
                and r.document_number == number
                and r.birth_date == p.birth.isoformat()
                and f"{r.surname} {r.given_names}" == ascii_name(p.name)
            )
        out[name] = {
            "read_rate": round(ok / n, 4),
            "read": ok,
            "n": n,
            "median_s": round(statistics.median(times), 3),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--forms", type=int, default=10, help="random fills per form definition")
    ap.add_argument("--mrz", type=int, default=20, help="photos (half ID cards, half passports)")
    ap.add_argument("--seed", type=int, default=31337)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    report = {
        "forms_flat": eval_forms(args.forms, args.seed, scan=False),
        "forms_scanned": eval_forms(args.forms, args.seed + 500_000, scan=True),
        "mrz_photos": eval_mrz(args.mrz, args.seed),
    }
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
