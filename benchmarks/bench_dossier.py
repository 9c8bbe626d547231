"""Seconds per page to OCR, build the PDF/A (with text layer) and seal, against OCRmyPDF on the same images.

    .venv/bin/python benchmarks/bench_dossier.py [--count N] [--pages DIR]

Page images: ``$KIOSK_TESTDATA/pages`` (default ``../shared/testdata`` next to the repository; A4 PNG at
200 dpi), else synthetic pages. OCRmyPDF is the baseline (``pip install ocrmypdf``; skipped with a note
when absent). Same as ``kiosk bench dossier``; see :mod:`kiosk.dossier.bench`. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from kiosk.config import from_dict
from kiosk.dossier.bench import run_bench
from kiosk.jsonio import emit

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5, help="pages (default 5)")
    ap.add_argument("--pages", help="folder of page images (default: $KIOSK_TESTDATA/pages)")
    ap.add_argument("--no-ocrmypdf", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("KIOSK_TESTDATA", str(ROOT.parent / "shared" / "testdata"))
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    with tempfile.TemporaryDirectory(prefix="bench-dossier-") as tmp:
        cfg = from_dict({"paths": {"data_dir": tmp}})
        emit(run_bench(cfg, pages_dir=Path(args.pages) if args.pages else None, count=args.count,
                       ocrmypdf=not args.no_ocrmypdf))
    return 0


if __name__ == "__main__":
    sys.exit(main())
