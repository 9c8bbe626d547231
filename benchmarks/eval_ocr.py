"""OCR benchmark on a labelled folder: our pipeline against plain Tesseract and OCRmyPDF, same images and run.

    .venv/bin/python benchmarks/eval_ocr.py [--set scans|stills|pages|DIR] [--limit N] [--errors]
        [--variants default,no_deskew,...] [--no-ocrmypdf] [--no-plain] [--json OUT]

Baselines:
  * plain: ``tesseract IMG - -l vie`` on the raw image (OMP_THREAD_LIMIT=1);
  * ocrmypdf: ``ocrmypdf --deskew --clean -l vie --image-dpi D -j 1 --sidecar TXT IMG OUT.pdf`` (skipped with
    a message when ocrmypdf or unpaper is missing).
Prints CER overall, diacritic (tone-mark) CER and base-letter CER (kiosk.vision.ocr_metrics), median
seconds per page, and time ratios against each baseline. ``--variants`` runs several preprocessing
settings (kiosk.vision.ocr_preprocess.VARIANTS) to measure each choice; ``--postprocess both`` shows the
tone-mark repair's effect.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from kiosk.vision import ocr
from kiosk.vision.cli_ocr import LabelledImage, is_photo, labelled_images
from kiosk.vision.ocr_metrics import CerResult, char_error_rate, word_errors
from kiosk.vision.ocr_preprocess import VARIANTS

REPO = Path(__file__).resolve().parents[1]


def testdata() -> Path:
    return Path(os.environ.get("KIOSK_TESTDATA", REPO.parent / "shared" / "testdata"))


def run_plain(item: LabelledImage, lang: str) -> str:
    proc = subprocess.run(["tesseract", str(item.image), "-", "-l", lang], capture_output=True,
                          env=ocr.tesseract_env(1), check=True)
    return proc.stdout.decode("utf-8", "replace")


def ocrmypdf_missing() -> str | None:
    exe = shutil.which("ocrmypdf") or (str(REPO / ".venv/bin/ocrmypdf")
                                       if (REPO / ".venv/bin/ocrmypdf").exists() else None)
    if exe is None:
        return "ocrmypdf not installed (pip install ocrmypdf)"
    if shutil.which("unpaper") is None:
        return "unpaper not installed (apt-get install unpaper), needed by --clean"
    return None


def run_ocrmypdf(item: LabelledImage, lang: str, dpi: int) -> str:
    exe = shutil.which("ocrmypdf") or str(REPO / ".venv/bin/ocrmypdf")
    with tempfile.TemporaryDirectory() as tmp:
        side = Path(tmp) / "out.txt"
        subprocess.run([exe, "--deskew", "--clean", "-l", lang, "--image-dpi", str(dpi), "-j", "1",
                        "--output-type", "pdf", "--sidecar", str(side), "-q", str(item.image),
                        str(Path(tmp) / "out.pdf")], capture_output=True, env=ocr.tesseract_env(1),
                       check=True)
        return side.read_text("utf-8")


class Column:
    def __init__(self, name: str) -> None:
        self.name = name
        self.total = CerResult()
        self.seconds: list[float] = []
        self.failures = 0

    def add(self, ref: str, hyp: str, seconds: float) -> CerResult:
        r = char_error_rate(ref, hyp)
        self.total = self.total + r
        self.seconds.append(seconds)
        return r

    def median_s(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="scans", help="scans, stills, pages or a folder path")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--lang", default="vie")
    ap.add_argument("--dpi", type=int, default=200, help="resolution of flat images without metadata")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="resize flat images by this factor first (and their dpi with them): low-dpi tests")
    ap.add_argument("--variants", default="default", help=f"comma list from {sorted(VARIANTS)}")
    ap.add_argument("--postprocess", choices=["on", "off", "both"], default="both")
    ap.add_argument("--no-plain", action="store_true")
    ap.add_argument("--no-ocrmypdf", action="store_true")
    ap.add_argument("--errors", action="store_true", help="print word-level errors of our pipeline")
    ap.add_argument("--json", help="write the summary as JSON to this file")
    args = ap.parse_args()

    folder = Path(args.set) if Path(args.set).is_dir() else testdata() / args.set
    items = list(labelled_images(folder))[: args.limit or None]
    if not items:
        print(f"no labelled images in {folder}", file=sys.stderr)
        return 1
    ocr.configure(thread_limit=1)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    pp_modes = {"on": [True], "off": [False], "both": [False, True]}[args.postprocess]
    cols: dict[str, Column] = {}
    ours: list[tuple[str, str, bool]] = []
    for v in variants:
        for pp in pp_modes:
            name = f"ours[{v}{'' if pp else ',raw'}]"
            cols[name] = Column(name)
            ours.append((name, v, pp))
    skip_msg = None if not args.no_ocrmypdf else "disabled"
    if skip_msg is None:
        skip_msg = ocrmypdf_missing()
    if not args.no_plain:
        cols["plain"] = Column("plain tesseract")
    if skip_msg is None:
        cols["ocrmypdf"] = Column("ocrmypdf --deskew --clean")
    else:
        print(f"ocrmypdf baseline skipped: {skip_msg}", file=sys.stderr)

    errors: collections.Counter[tuple[str, str]] = collections.Counter()
    for k, item in enumerate(items):
        image = ocr.read_image(item.image)
        photo = is_photo(image)
        if args.scale != 1.0 and not photo:
            image = cv2.resize(image, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
        line = [f"{item.image.name}"]
        prepared_cache: dict[str, tuple[object, float]] = {}
        for name, v, pp in ours:
            t0 = time.perf_counter()
            if photo:
                if "still" not in prepared_cache:
                    from kiosk.vision.still import process_still

                    t1 = time.perf_counter()
                    page = process_still(image)
                    prepared_cache["still"] = (page, time.perf_counter() - t1)
                page_obj, still_s = prepared_cache["still"]
                t0 -= still_s  # count the still pipeline in every variant's time
                res = ocr.ocr_page(page_obj.image, round(page_obj.dpi),  # type: ignore[attr-defined]
                                   args.lang, postprocess=pp, options=VARIANTS[v])
            else:
                res = ocr.ocr_page(image, round(args.dpi * args.scale), args.lang, postprocess=pp,
                                   options=VARIANTS[v])
            r = cols[name].add(item.reference, res.text, time.perf_counter() - t0)
            line.append(f"{name}={r.cer:.4f}")
            if args.errors and pp == pp_modes[-1] and v == variants[0]:
                errors.update(word_errors(item.reference, res.text))
        if "plain" in cols:
            t0 = time.perf_counter()
            text = run_plain(item, args.lang)
            r = cols["plain"].add(item.reference, text, time.perf_counter() - t0)
            line.append(f"plain={r.cer:.4f}")
        if "ocrmypdf" in cols:
            t0 = time.perf_counter()
            try:
                text = run_ocrmypdf(item, args.lang, args.dpi)
            except subprocess.CalledProcessError:
                cols["ocrmypdf"].failures += 1
                text = ""
            r = cols["ocrmypdf"].add(item.reference, text, time.perf_counter() - t0)
            line.append(f"ocrmypdf={r.cer:.4f}")
        print(f"[{k + 1}/{len(items)}] " + " ".join(line), file=sys.stderr, flush=True)

    print(f"\n{folder} - {len(items)} images, {cols[ours[0][0]].total.ref_chars} reference characters")
    print(f"{'pipeline':34s} {'CER':>8s} {'tone CER':>9s} {'base CER':>9s} {'errors':>7s} {'s/page':>7s}"
          f" {'x plain':>8s} {'x ocrmypdf':>10s}")
    summary: dict[str, dict[str, float]] = {}
    for key, col in cols.items():
        t = col.total
        ratios = []
        for base in ("plain", "ocrmypdf"):
            ratios.append(f"{col.median_s() / cols[base].median_s():.2f}" if base in cols else "-")
        fail = f" ({col.failures} failed)" if col.failures else ""
        print(f"{col.name:34s} {t.cer * 100:7.3f}% {t.tone_cer * 100:8.3f}% {t.base_cer * 100:8.3f}% "
              f"{t.errors:7d} {col.median_s():7.2f} {ratios[0]:>8s} {ratios[1]:>10s}{fail}")
        summary[key] = {"cer": t.cer, "tone_cer": t.tone_cer, "base_cer": t.base_cer, "errors": t.errors,
                        "ref_chars": t.ref_chars, "seconds_median": col.median_s()}
    print("CER = Levenshtein distance / reference characters on NFC text, lines stripped, spaces collapsed,"
          " empty lines dropped, lines joined by newline.")
    if args.errors:
        print("\nword errors of ours (reference -> ocr: count):")
        for (ref, hyp), n in errors.most_common():
            print(f"  {ref!r} -> {hyp!r}: {n}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2, ensure_ascii=False), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
