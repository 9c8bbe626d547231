"""``kiosk ocr IMAGE...`` and ``kiosk bench ocr DIR``.

A flat page (scan, dewarped page) is OCR'd as it is; a camera still goes through the still pipeline
(``kiosk.vision.still.process_still``: page found, dewarped, orientation fixed) first. An image counts as
a camera still when its size is the configured still size or its aspect ratio is a camera's (16:9, 4:3,
3:2); ``--flat`` / ``--photo`` override the guess.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.cli import command_group, config_from_args
from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.jsonio import emit
from kiosk.vision import ocr
from kiosk.vision.ocr_metrics import CerResult, char_error_rate
from kiosk.vision.types import OcrPage

log = logging.getLogger("kiosk.ocr")

CAMERA_ASPECTS = (16 / 9, 4 / 3, 3 / 2)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


def is_photo(image: np.ndarray, cfg: Config | None = None) -> bool:
    """Camera still (needs page detection and dewarp) rather than a flat page image."""
    h, w = image.shape[:2]
    if cfg is not None and cfg.vision.still_width and cfg.vision.still_height:
        if {w, h} == {cfg.vision.still_width, cfg.vision.still_height}:
            return True
    aspect = max(w, h) / max(1, min(w, h))
    return any(abs(aspect / a - 1.0) < 0.02 for a in CAMERA_ASPECTS)


def ocr_file(path: Path, *, dpi: int | None, lang: str, mode: str = "auto", cfg: Config | None = None,
             postprocess: bool = True) -> OcrPage:
    """OCR one image file: flat pages directly, camera stills through the still pipeline."""
    image = ocr.read_image(path)
    photo = mode == "photo" or (mode == "auto" and is_photo(image, cfg))
    if photo:
        try:
            from kiosk.vision.still import process_still
        except ImportError as exc:  # the still pipeline is a separate module
            raise KioskError("ocr.no_page", file=path.name) from exc
        if image.ndim == 2:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        page = process_still(image)
        if page is None or getattr(page, "image", None) is None:
            raise KioskError("ocr.no_page", file=path.name)
        return ocr.ocr_page(page.image, round(page.dpi), lang, postprocess=postprocess)
    return ocr.ocr_page(image, dpi or ocr.image_dpi(path) or ocr.DEFAULT_DPI, lang, postprocess=postprocess)


def _cmd_ocr(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    ocr.configure_from(cfg)
    lang = args.lang or cfg.ocr.language
    mode = "flat" if args.flat else "photo" if args.photo else "auto"
    status = 0
    for name in args.images:
        path = Path(name)
        try:
            page = ocr_file(path, dpi=args.dpi, lang=lang, mode=mode, cfg=cfg,
                            postprocess=not args.no_postprocess)
        except KioskError as exc:
            print(f"kiosk: {path.name}: {exc.message('en')}", file=sys.stderr)
            status = 1
            continue
        out: dict[str, Any] = {"file": str(path), "text": page.text, "confidence": round(page.confidence, 2)}
        if args.words:
            out["words"] = [{"text": w.text, "box": list(w.box), "confidence": round(w.confidence, 2),
                             "line": w.line} for w in page.words]
        emit(out)
    return status


@dataclass(frozen=True)
class LabelledImage:
    image: Path
    reference: str


def labelled_images(folder: Path) -> Iterator[LabelledImage]:
    """Images of a labelled folder: ``labels.jsonl`` rows with ``file`` and ``text_file`` (looked up in the
    folder, then in ``../pages/``), or else every image with a sibling ``.txt`` of the same stem."""
    labels = folder / "labels.jsonl"
    if labels.exists():
        for line in labels.read_text("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            text_file = row.get("text_file")
            if not text_file:
                continue
            for cand in (folder / text_file, folder.parent / "pages" / text_file):
                if cand.exists():
                    yield LabelledImage(folder / row["file"], cand.read_text("utf-8"))
                    break
        return
    for img in sorted(folder.iterdir()):
        txt = img.with_suffix(".txt")
        if img.suffix.lower() in IMAGE_SUFFIXES and txt.exists():
            yield LabelledImage(img, txt.read_text("utf-8"))


def _cmd_bench(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    ocr.configure_from(cfg)
    folder = Path(args.dir)
    items = list(labelled_images(folder))[: args.limit or None]
    if not items:
        raise KioskError("ocr.empty_dir", path=str(folder))
    total = CerResult()
    seconds: list[float] = []
    for item in items:
        t0 = time.perf_counter()
        page = ocr_file(item.image, dpi=args.dpi, lang=cfg.ocr.language, cfg=cfg)
        seconds.append(time.perf_counter() - t0)
        r = char_error_rate(item.reference, page.text)
        total = total + r
        if args.per_image:
            emit({"file": item.image.name, "cer": round(r.cer, 5), "tone_cer": round(r.tone_cer, 5),
                  "base_cer": round(r.base_cer, 5), "seconds": round(seconds[-1], 3)})
    emit({"dir": str(folder), "images": len(items), "cer": round(total.cer, 5),
          "tone_cer": round(total.tone_cer, 5), "base_cer": round(total.base_cer, 5),
          "ref_chars": total.ref_chars, "errors": total.errors,
          "seconds_per_page_median": round(statistics.median(seconds), 3)})
    return 0


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("ocr", parents=[parent], help="OCR page images or camera stills (Vietnamese)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--dpi", type=int, default=None,
                   help="resolution of flat page images (default: image metadata, else 200)")
    p.add_argument("--lang", default=None, help="Tesseract language (default: ocr.language)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--flat", action="store_true", help="treat every image as a flat page")
    g.add_argument("--photo", action="store_true", help="treat every image as a camera still")
    p.add_argument("--words", action="store_true", help="also output the words with boxes")
    p.add_argument("--no-postprocess", action="store_true", help="skip the tone-mark repair")
    p.set_defaults(func=_cmd_ocr)

    bench = command_group(sub, "bench", parent, help="benchmarks on labelled folders")
    b = bench.add_parser("ocr", parents=[parent], help="seconds per page and CER on a labelled folder")
    b.add_argument("dir", metavar="DIR")
    b.add_argument("--dpi", type=int, default=None, help="resolution of flat pages (default: metadata/200)")
    b.add_argument("--limit", type=int, default=0, help="only the first N images")
    b.add_argument("--per-image", action="store_true", help="also print one line per image")
    b.set_defaults(func=_cmd_bench)
