"""Capture-quality commands: ``kiosk assess``, ``kiosk dewarp``, ``kiosk blank``, ``kiosk sticky``,
``kiosk vision calibrate`` and ``kiosk bench vision``.

Every command prints one JSON object per input image (``kiosk.jsonio.emit``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.cli import command_group, config_from_args
from kiosk.errors import KioskError
from kiosk.jsonio import emit


def read_bgr(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit BGR (grey images are expanded to three channels)."""
    import cv2

    if not Path(path).is_file():
        raise KioskError("capture.unreadable", file=Path(path).name)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise KioskError("capture.unreadable", file=Path(path).name)
    return img


def parse_size(text: str) -> tuple[int, int]:
    """'3840x2160' -> (3840, 2160)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from exc
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"expected positive WIDTHxHEIGHT, got {text!r}")
    return w, h


def _per_image(args: argparse.Namespace, fn: Any) -> int:
    status = 0
    for name in args.images:
        try:
            emit(fn(name))
        except KioskError as exc:
            print(f"kiosk: {Path(name).name}: {exc.message('en')}", file=sys.stderr)
            status = 1
    return status


def _cmd_assess(args: argparse.Namespace) -> int:
    from kiosk.vision.assess import assess_frame

    cfg = config_from_args(args).vision

    def one(name: str) -> dict[str, Any]:
        img = read_bgr(name)
        still = args.still_size or (img.shape[1], img.shape[0])
        return assess_frame(img, still_size=still, cfg=cfg, paper=args.paper,
                            drawing=args.drawing).to_json(name)

    return _per_image(args, one)


def _cmd_dewarp(args: argparse.Namespace) -> int:
    import cv2

    from kiosk.vision.still import process_still

    cfg = config_from_args(args).vision
    img = read_bgr(args.image)
    min_dpi = args.min_dpi or (cfg.drawing_min_dpi if args.drawing else cfg.min_dpi)
    page = process_still(img, paper=args.paper, min_dpi=min_dpi, orient=not args.no_orient)
    out = Path(args.output)
    if not cv2.imwrite(str(out), page.image):
        raise KioskError("capture.write_failed", file=out.name)
    emit({"file": args.image, "output": str(out), **page.summary()})
    return 0


def _cmd_blank(args: argparse.Namespace) -> int:
    from kiosk.vision.blank import detect_blank

    def one(name: str) -> dict[str, Any]:
        r = detect_blank(read_bgr(name))
        return {"file": name, "blank": r.blank, "score": round(r.score, 4)}

    return _per_image(args, one)


def _cmd_sticky(args: argparse.Namespace) -> int:
    from kiosk.vision.sticky import detect_sticky

    def one(name: str) -> dict[str, Any]:
        r = detect_sticky(read_bgr(name))
        return {"file": name, "sticky": r.sticky, "box": list(r.box) if r.box else None}

    return _per_image(args, one)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from kiosk.vision.assess import calibrate

    cfg = config_from_args(args).vision
    frames = [read_bgr(n) for n in args.frames]
    emit(calibrate(frames, cfg=cfg, paper=args.paper, still_size=args.still_size))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from kiosk.vision.bench import run_bench

    emit(run_bench(frames=args.frames, n_frames=args.n, pages=args.pages))
    return 0


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("assess", parents=[parent], help="assess camera frames (ok / reasons / corners)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--still-size", type=parse_size, metavar="WxH",
                   help="the frames are previews of a camera whose stills have this size")
    p.add_argument("--paper", default="A4", help="paper format: A4, A5, A3, ID-1 (default A4)")
    p.add_argument("--drawing", action="store_true", help="a map or drawing (needs 300 dpi, R8)")
    p.set_defaults(func=_cmd_assess)

    p = sub.add_parser("dewarp", parents=[parent],
                       help="find the page in a still, dewarp it to its true aspect, fix orientation")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png")
    p.add_argument("--paper", default="A4", help="paper format: A4, A5, A3, ID-1 (default A4)")
    p.add_argument("--min-dpi", type=int, default=0, help="lowest output resolution (default: config)")
    p.add_argument("--drawing", action="store_true", help="a map or drawing (300 dpi)")
    p.add_argument("--no-orient", action="store_true", help="do not turn the page upright")
    p.set_defaults(func=_cmd_dewarp)

    p = sub.add_parser("blank", parents=[parent], help="is a page side blank?")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=_cmd_blank)

    p = sub.add_parser("sticky", parents=[parent], help="does a page carry a sticky note?")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(func=_cmd_sticky)

    g = command_group(sub, "vision", parent, "capture-quality tools")
    p = g.add_parser("calibrate", parents=[parent],
                     help="suggest [vision] thresholds from frames known to be good")
    p.add_argument("frames", nargs="+", metavar="FRAME")
    p.add_argument("--still-size", type=parse_size, metavar="WxH")
    p.add_argument("--paper", default="A4")
    p.set_defaults(func=_cmd_calibrate)

    b = command_group(sub, "bench", parent, "benchmarks")
    p = b.add_parser("vision", parents=[parent],
                     help="time frame assessment (1280x720, 1920x1080) and still processing, one core")
    p.add_argument("--frames", type=int, default=200, help="frames per size (default 200)")
    p.add_argument("-n", type=int, default=24, help="distinct synthetic frames to cycle (default 24)")
    p.add_argument("--pages", type=int, default=5, help="stills to process (default 5)")
    p.set_defaults(func=_cmd_bench)
