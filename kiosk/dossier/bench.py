"""Benchmark: seconds per page for OCR, PDF/A build (with text layer) and seal, against OCRmyPDF.

**Per page** (issue 5 target: kiosk end to end <= 0.5x OCRmyPDF), page images one after the other, the
kiosk and OCRmyPDF alternating page by page:

* kiosk: its OCR (:func:`kiosk.vision.ocr.ocr_page`), the PDF/A build with the text layer, the PAdES seal.
  The OCR uses every core for the one page: the page is cut into horizontal bands along whitespace rows
  and one Tesseract process reads each band at the same time (``[ocr] max_workers`` bands, 0 = one per
  core; fewer when no clean cut exists). The number of bands used is reported.
* OCRmyPDF: ``ocrmypdf --output-type pdfa-2 -l vie --image-dpi D`` (with OCR), and the same with
  ``--tesseract-timeout 0`` (no OCR: PDF/A conversion only), with its default ``--jobs`` (every core)
  and ``OMP_THREAD_LIMIT=1`` (its fastest setting). OCRmyPDF cannot split a page: a one-page input is
  read by one Tesseract process on one core, whatever ``--jobs`` says.

So the per-page comparison is: both tools may use every core; the kiosk can put them all on one page,
OCRmyPDF cannot. Figures are medians over the pages; ratios are kiosk / OCRmyPDF. Targets: end to end
with OCR <= 0.5x, build + seal alone <= 0.5x OCRmyPDF without OCR. OCRmyPDF is optional: without it the
baseline is skipped with a note.

**Paper**: the same pages as ONE paper, the way the kiosk builds a multi-page paper: the cores shared by
the pages (``ocr_pages``: band tasks of all pages queue for the cores, see ``bands_per_page``), one PDF/A,
one seal; against ``ocrmypdf --output-type pdfa-2 -l vie`` with its default jobs (every core, one page
per core) on a PDF of the same images (made with img2pdf at the images' resolution, not timed).
Wall-clock seconds per page.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kiosk.config import Config

DEFAULT_DPI = 200


def default_pages_dir() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    d = Path(os.environ.get("KIOSK_TESTDATA", root.parent / "shared" / "testdata")) / "pages"
    return d if d.is_dir() else None


def _synthetic_pages(work: Path, count: int) -> list[Path]:
    from kiosk.synth.page import render_page

    out = []
    for i in range(count):
        page = render_page(dpi=DEFAULT_DPI, seed=i)
        p = work / f"synthetic_{i + 1:03d}.png"
        page.image.save(p, dpi=(DEFAULT_DPI, DEFAULT_DPI))
        out.append(p)
    return out


def _dpi(path: Path) -> float:
    from PIL import Image

    with Image.open(path) as im:
        d = im.info.get("dpi")
    return float(d[0]) if d and float(d[0]) >= 50 else float(DEFAULT_DPI)


def ocrmypdf_command() -> list[str] | None:
    if importlib.util.find_spec("ocrmypdf") is not None:
        return [sys.executable, "-m", "ocrmypdf"]
    exe = shutil.which("ocrmypdf")
    return [exe] if exe else None


def _median(xs: list[float]) -> float | None:
    return round(statistics.median(xs), 3) if xs else None


def _paper_run(cfg: Config, images: list[Path], wdir: Path, cmd: list[str], env: dict[str, str],
               signer: Any) -> dict[str, Any]:
    """All pages as one paper, both tools using every core (see the module docstring)."""
    import img2pdf

    from kiosk.core.dossier_model import PageCapture, Side
    from kiosk.dossier.pdfa import build_pdfa
    from kiosk.dossier.signing import seal
    from kiosk.dossier.xmp import build_xmp
    from kiosk.timeutil import now_vn
    from kiosk.vision import ocr as vocr

    n = len(images)
    t0 = time.perf_counter()
    pages = [(vocr.read_image(img), round(_dpi(img))) for img in images]
    results = vocr.ocr_pages_banded(pages, cfg.ocr.language)
    caps = [PageCapture(k + 1, Side.FRONT, img, _dpi(img), ocr=r)
            for k, (img, (r, _)) in enumerate(zip(images, results, strict=True))]
    xmp = build_xmp({"storage_code": "bench"}, title="paper", created=now_vn(), producer="bench",
                    creator_tool="bench")
    data, _ = build_pdfa(caps, lambda _b: xmp)
    seal(data, cfg, signer)
    kiosk_s = (time.perf_counter() - t0) / n
    dpi = round(_dpi(images[0]))
    src = wdir / "paper-input.pdf"
    src.write_bytes(img2pdf.convert([str(i) for i in images],
                                    layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))))
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, "--output-type", "pdfa-2", "-l", cfg.ocr.language, "--quiet", str(src),
                           str(wdir / "paper-ocrmypdf.pdf")], env=env, capture_output=True, text=True,
                          timeout=1200)
    bands = [b for _, b in results]
    if proc.returncode != 0:
        return {"pages": n, "bands_per_page": bands, "kiosk_s_per_page": round(kiosk_s, 3),
                "ocrmypdf": "failed"}
    ocrmypdf_s = (time.perf_counter() - t0) / n
    return {"pages": n, "cores": vocr.available_cores(), "bands_per_page": bands,
            "kiosk_s_per_page": round(kiosk_s, 3), "ocrmypdf_s_per_page": round(ocrmypdf_s, 3),
            "ratio": round(kiosk_s / ocrmypdf_s, 3), "target": 0.5}


def run_bench(cfg: Config, *, pages_dir: Path | None = None, count: int = 3, work: Path | None = None,
              ocrmypdf: bool = True) -> dict[str, Any]:
    from dataclasses import replace

    from kiosk.core.dossier_model import PageCapture, Side
    from kiosk.dossier.keys import device_signer
    from kiosk.dossier.pdfa import build_pdfa
    from kiosk.dossier.signing import seal
    from kiosk.dossier.xmp import build_xmp
    from kiosk.timeutil import now_vn
    from kiosk.vision import ocr as vocr

    tmp = tempfile.TemporaryDirectory(prefix="kiosk-bench-dossier-") if work is None else None
    wdir = Path(tmp.name) if tmp is not None else Path(work)  # type: ignore[arg-type]
    wdir.mkdir(parents=True, exist_ok=True)
    try:
        src = pages_dir or default_pages_dir()
        if src is not None:
            images = sorted([*src.glob("*.png"), *src.glob("*.jpg")])[:count]
            source = str(src)
        else:
            images = _synthetic_pages(wdir, count)
            source = "synthetic"
        cfg = replace(cfg, vision=replace(cfg.vision, min_dpi=min(cfg.vision.min_dpi, DEFAULT_DPI)))
        signer = device_signer(cfg)
        vocr.configure_from(cfg)
        seal(build_pdfa([PageCapture(1, Side.FRONT, images[0], _dpi(images[0]))],
                        lambda _b: build_xmp({}, title="warm-up", created=now_vn(), producer="bench",
                                             creator_tool="bench"))[0], cfg, signer)  # warm caches
        cmd = ocrmypdf_command() if ocrmypdf else None
        env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # OCRmyPDF's fastest setting (TOOLCHAIN.md)
        t_ocr: list[float] = []
        t_build: list[float] = []
        t_seal: list[float] = []
        t_full: list[float] = []
        t_none: list[float] = []
        bands: list[int] = []
        error: list[str] | None = None
        # kiosk and OCRmyPDF alternate page by page, so that load from other processes hits both alike
        for i, img in enumerate(images):
            dpi = _dpi(img)
            t0 = time.perf_counter()
            ocr_result, used = vocr.ocr_page_banded(vocr.read_image(img), round(dpi), lang=cfg.ocr.language)
            t1 = time.perf_counter()
            bands.append(used)
            cap = PageCapture(1, Side.FRONT, img, dpi, ocr=ocr_result)
            xmp = build_xmp({"storage_code": "bench"}, title=img.stem, created=now_vn(), producer="bench",
                            creator_tool="bench")
            data, _ = build_pdfa([cap], lambda _b, x=xmp: x)
            t2 = time.perf_counter()
            seal(data, cfg, signer)
            t3 = time.perf_counter()
            t_ocr.append(t1 - t0)
            t_build.append(t2 - t1)
            t_seal.append(t3 - t2)
            if cmd is None or error is not None:
                continue
            base = [*cmd, "--output-type", "pdfa-2", "--image-dpi", str(round(dpi)),
                    "-l", cfg.ocr.language, "--quiet"]
            for extra, sink in (([], t_full), (["--tesseract-timeout", "0"], t_none)):
                out = wdir / f"ocrmypdf_{i}_{len(extra)}.pdf"
                t0 = time.perf_counter()
                proc = subprocess.run([*base, *extra, str(img), str(out)], env=env, capture_output=True,
                                      text=True, timeout=600)
                if proc.returncode != 0:
                    error = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
                    break
                sink.append(time.perf_counter() - t0)
        kiosk_e2e = [a + b + c for a, b, c in zip(t_ocr, t_build, t_seal, strict=True)]
        kiosk_nocr = [b + c for b, c in zip(t_build, t_seal, strict=True)]
        result: dict[str, Any] = {
            "source": source, "pages": len(images), "cores": vocr.available_cores(),
            "bands_per_page": bands,
            "kiosk_s_per_page": {"ocr": _median(t_ocr), "build_with_text_layer": _median(t_build),
                                 "seal": _median(t_seal), "end_to_end": _median(kiosk_e2e),
                                 "build_and_seal": _median(kiosk_nocr)},
        }
        if cmd is None or error is not None:
            result["ocrmypdf_s_per_page"] = None
            result["note"] = (f"ocrmypdf failed: {error[0]}" if error else
                              "ocrmypdf not installed: baseline skipped (pip install ocrmypdf)" if ocrmypdf
                              else "baseline skipped (--no-ocrmypdf)")
            return result
        full, none = _median(t_full), _median(t_none)
        e2e, nocr = _median(kiosk_e2e), _median(kiosk_nocr)
        result["ocrmypdf_s_per_page"] = {"with_ocr": full, "ocr_skipped": none}
        result["paper"] = _paper_run(cfg, images, wdir, cmd, env, signer)
        result["ratios"] = {
            "end_to_end_vs_ocrmypdf": round(e2e / full, 3) if e2e and full else None,
            "build_and_seal_vs_ocrmypdf_no_ocr": round(nocr / none, 3) if nocr and none else None,
            "target": 0.5,
        }
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()
