"""Render a labelled folder of flatbed-like scans from any Vietnamese text, for tuning and validating the OCR
tone-mark repair on text that is NOT the benchmark's (the benchmark pages come from one legal text; tuning
on it would overfit).

    .venv/bin/python benchmarks/ocr_validation_pages.py TEXT OUT_DIR [--pages N] [--seed S]

TEXT is a UTF-8 file with one paragraph per line, or a CoNLL-style file (one token per line, first column,
blank line between sentences), which is detokenised. The pages use kiosk.synth.page.render_page (Noto
Serif, 12-14 pt, 200 dpi) and are then degraded like the dev scans: rotation 0.3-2.5 degrees either way,
a few pixels of shift, light-grey fill, Gaussian blur 0.6-1.0 px, noise 0.5-1.5, JPEG quality 85-95, a
third greyscale. OUT_DIR gets scan_NNN.jpg, page_NNN.txt and labels.jsonl ({"file", "text_file"}), the
layout `kiosk bench ocr` and benchmarks/eval_ocr.py read.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

import cv2
import numpy as np

from kiosk.synth.page import render_page

REPO = Path(__file__).resolve().parents[1]

_NO_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]…%])")
_NO_SPACE_AFTER = re.compile(r"([(\[]) ")


def paragraphs_from(path: Path, rng: random.Random) -> list[str]:
    lines = path.read_text("utf-8").splitlines()
    if sum("\t" in x for x in lines[:200]) > 50:  # CoNLL: token<TAB>tags
        sentences: list[str] = []
        cur: list[str] = []
        for x in [*lines, ""]:
            if not x.strip():
                if cur:
                    s = " ".join(cur)
                    s = _NO_SPACE_AFTER.sub(r"\1", _NO_SPACE_BEFORE.sub(r"\1", s))
                    s = s.replace(" \" ", " \"").replace("_", " ")
                    sentences.append(s)
                cur = []
                continue
            cur.append(x.split("\t")[0])
        sentences = [s for s in sentences if len(s) > 40 and not re.match(r"^[\d.\s]+$", s)]
        paras: list[str] = []
        i = 0
        while i < len(sentences):
            n = rng.randint(2, 5)
            paras.append(" ".join(sentences[i:i + n]))
            i += n
        return paras
    return [x.strip() for x in lines if x.strip()]


def degrade(rgb: np.ndarray, rng: random.Random, harsh: bool = False) -> tuple[np.ndarray, dict[str, object]]:
    h, w = rgb.shape[:2]
    angle = rng.uniform(0.3, 2.5) * rng.choice([-1, 1])
    shift = (rng.uniform(-8, 8), rng.uniform(-8, 8))
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += np.array(shift)
    lid = int(rng.uniform(200, 225))
    img = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_CUBIC, borderValue=(lid, lid, lid))
    blur = rng.uniform(0.9, 1.3) if harsh else rng.uniform(0.6, 1.0)
    img = cv2.GaussianBlur(img, (0, 0), blur)
    sigma = rng.uniform(1.5, 3.0) if harsh else rng.uniform(0.5, 1.5)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, sigma, img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    grey = rng.random() < 0.3
    if grey:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    return img, {"angle_deg": round(angle, 3), "blur_sigma": round(blur, 2), "noise_sigma": round(sigma, 2),
                 "grayscale": grey}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("text", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--pages", type=int, default=12)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--offset", type=int, default=0, help="skip this many paragraphs of TEXT")
    ap.add_argument("--harsh", action="store_true",
                    help="stronger degradation: blur 0.9-1.3, noise 1.5-3, JPEG 75-85, 11-12 pt")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    paras = paragraphs_from(args.text, rng)
    args.out.mkdir(parents=True, exist_ok=True)
    labels = []
    pos = args.offset
    for n in range(1, args.pages + 1):
        chunk = paras[pos:pos + 12]
        pos += 12
        if not chunk:
            break
        font_pt = rng.choice([11.0, 11.5, 12.0] if args.harsh else [12.0, 12.5, 13.0, 13.5, 14.0])
        page = render_page(chunk, heading=rng.choice(["QUYẾT ĐỊNH", "THÔNG BÁO", "BÁO CÁO", None]),
                           font_pt=font_pt, margins_mm=(rng.uniform(30, 35), rng.uniform(20, 25),
                                                        rng.uniform(15, 20), rng.uniform(20, 25)),
                           seed=n)
        img, info = degrade(np.asarray(page.image), rng, args.harsh)
        name = f"scan_{n:03d}.jpg"
        quality = rng.randint(75, 85) if args.harsh else rng.randint(85, 95)
        cv2.imwrite(str(args.out / name), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        (args.out / f"page_{n:03d}.txt").write_text(page.text + "\n", "utf-8")
        labels.append({"file": name, "text_file": f"page_{n:03d}.txt", "font_size_pt": font_pt, **info})
    (args.out / "labels.jsonl").write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in labels),
                                           "utf-8")
    print(f"{len(labels)} pages in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
