"""OCR of page images with Tesseract: NFC text, word boxes and confidences in ONE Tesseract call.

``ocr_page(image, dpi)`` takes a dewarped page (BGR or grey uint8, OpenCV convention) and returns a
:class:`kiosk.vision.types.OcrPage` whose word boxes are in pixels of the input image. Tesseract runs as
a subprocess with ``OMP_THREAD_LIMIT`` from ``[ocr] thread_limit`` and is told the real resolution.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from kiosk.errors import KioskError
from kiosk.vision.types import OcrPage, OcrWord

if TYPE_CHECKING:
    from kiosk.vision.ocr_preprocess import Prepared, PreprocessOptions

log = logging.getLogger("kiosk.ocr")

DEFAULT_DPI = 200
# Tesseract models the Vietnamese repair applies to: the language model and the script model
# (Debian tesseract-ocr-script-viet)
VIETNAMESE_MODELS = {"vie", "Vietnamese"}


@dataclass(frozen=True)
class OcrSettings:
    """How Tesseract is run. ``thread_limit`` becomes OMP_THREAD_LIMIT for the subprocess."""

    thread_limit: int = 1
    timeout_s: float = 120.0
    psm: int = 3
    tesseract: str = "tesseract"


_settings = OcrSettings()


def configure(*, thread_limit: int | None = None, timeout_s: float | None = None) -> None:
    """Apply ``[ocr]`` config values (the CLI calls this once with the loaded config)."""
    global _settings
    _settings = OcrSettings(
        thread_limit=thread_limit if thread_limit is not None else _settings.thread_limit,
        timeout_s=timeout_s if timeout_s is not None else _settings.timeout_s,
        psm=_settings.psm,
        tesseract=_settings.tesseract,
    )


def tesseract_env(thread_limit: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = str(thread_limit if thread_limit is not None else _settings.thread_limit)
    return env


def _encode_png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise KioskError("ocr.bad_image")
    return buf.tobytes()


@dataclass(frozen=True)
class CharInfo:
    """One recognised character with Tesseract's ranked alternatives (``lstm_choice_mode=2``): ``choices``
    are (text, probability in %) of the best candidates at that position, the chosen one included."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    choices: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class RawWord:
    """A word as Tesseract reports it (boxes in the image Tesseract was given), with its characters."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int
    chars: tuple[CharInfo, ...] = ()


HOCR_CONFIG = {"lstm_choice_mode": "2", "hocr_char_boxes": "1"}
_LINE_CLASSES = {"ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"}


def run_tesseract_hocr(image: np.ndarray, dpi: int, lang: str, *, psm: int | None = None,
                       extra_config: dict[str, str] | None = None) -> list[RawWord]:
    """One Tesseract call producing hOCR with words, boxes, confidences and per-character alternatives.
    ``image`` is grey or BGR uint8."""
    exe = shutil.which(_settings.tesseract)
    if exe is None:
        raise KioskError("ocr.no_tesseract")
    cmd = [exe, "stdin", "stdout", "-l", lang, "--dpi", str(int(dpi)), "--psm",
           str(psm if psm is not None else _settings.psm)]
    for key, value in {**HOCR_CONFIG, **(extra_config or {})}.items():
        cmd += ["-c", f"{key}={value}"]
    cmd.append("hocr")
    try:
        proc = subprocess.run(cmd, input=_encode_png(image), capture_output=True,
                              env=tesseract_env(), timeout=_settings.timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise KioskError("ocr.timeout", seconds=_settings.timeout_s) from exc
    if proc.returncode != 0:
        log.error("tesseract failed", extra={"returncode": proc.returncode,
                                             "stderr": proc.stderr.decode("utf-8", "replace")[-300:]})
        raise KioskError("ocr.failed", code=proc.returncode)
    return parse_hocr(proc.stdout.decode("utf-8", "replace"))


def _title(el: ET.Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in (el.get("title") or "").split(";"):
        bits = part.strip().split()
        if bits:
            out[bits[0]] = bits[1:]
    return out


def _bbox(values: list[str] | None) -> tuple[int, int, int, int]:
    if not values or len(values) < 4:
        return (0, 0, 0, 0)
    x0, y0, x1, y1 = (int(float(v)) for v in values[:4])
    return (x0, y0, x1 + 1, y1 + 1)  # hOCR boxes are inclusive


def _float(values: list[str] | None) -> float:
    try:
        return float(values[0]) if values else 0.0
    except ValueError:
        return 0.0


def parse_hocr(hocr: str) -> list[RawWord]:
    """Words of a Tesseract hOCR document in reading order, lines numbered from 0."""
    # the DOCTYPE names an external DTD; ElementTree never fetches it
    root = ET.fromstring(hocr.encode("utf-8"))
    words: list[RawWord] = []
    line_no = -1

    def walk(el: ET.Element) -> None:
        nonlocal line_no
        c = el.get("class") or ""
        if c in _LINE_CLASSES:
            line_no += 1
        if c == "ocrx_word":
            words.append(_parse_word(el, max(line_no, 0)))
            return
        for child in el:
            walk(child)

    walk(root)
    return [w for w in words if w.text]


def _parse_word(el: ET.Element, line: int) -> RawWord:
    title = _title(el)
    chars: list[CharInfo] = []
    children = [c for c in el if c.get("class") == "ocrx_cinfo"]
    i = 0
    while i < len(children):
        c = children[i]
        if (c.get("id") or "").startswith("lstm_choices"):
            i += 1
            continue
        ct = _title(c)
        choices: list[tuple[str, float]] = []
        if i + 1 < len(children) and (children[i + 1].get("id") or "").startswith("lstm_choices"):
            choices = [(unicodedata.normalize("NFC", ch.text or ""), _float(_title(ch).get("x_confs")))
                       for ch in children[i + 1]]
            i += 1
        chars.append(CharInfo(unicodedata.normalize("NFC", c.text or ""), _bbox(ct.get("x_bboxes")),
                              _float(ct.get("x_conf")), tuple(choices)))
        i += 1
    if chars:
        text = "".join(ch.text for ch in chars)
    else:  # no character detail: the word's own text
        text = "".join(el.itertext())
    text = unicodedata.normalize("NFC", text).strip()
    return RawWord(text, _bbox(title.get("bbox")), max(0.0, _float(title.get("x_wconf"))), line, tuple(chars))


def assemble(words: list[OcrWord], width: int, height: int) -> OcrPage:
    """Build the page text (words joined by spaces, lines by '\\n') and mean confidence from words."""
    lines: dict[int, list[str]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w.text)
    text = "\n".join(" ".join(ws) for _, ws in sorted(lines.items()))
    conf = float(np.mean([w.confidence for w in words])) if words else 0.0
    return OcrPage(unicodedata.normalize("NFC", text), conf, words, width, height)


def to_grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def ocr_page(image: np.ndarray, dpi: int, lang: str = "vie", *, postprocess: bool = True,
             options: PreprocessOptions | None = None) -> OcrPage:
    """OCR one page image (BGR or grey uint8) at resolution ``dpi``.

    Returns NFC text (lines separated by '\\n'), mean word confidence 0..100, and words with boxes in
    pixels of ``image``. With ``postprocess`` the Vietnamese tone-mark repair runs on the words.
    ``options`` overrides the measured default preprocessing (benchmarks only).
    """
    from kiosk.vision.ocr_preprocess import prepare

    if image is None or image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise KioskError("ocr.bad_image")
    if dpi <= 0:
        raise KioskError("ocr.bad_image")
    height, width = image.shape[:2]
    prep = prepare(image, dpi, options)
    raw = run_tesseract_hocr(prep.image, prep.dpi, lang)
    words = _map_words(raw, prep, width, height)
    if postprocess and lang.split("+")[0].rsplit("/", 1)[-1] in VIETNAMESE_MODELS:
        from kiosk.vision.vi_postprocess import repair_words

        choices = [[c.choices for c in r.chars] if len(r.chars) == len(r.text) else None for r in raw]
        words = repair_words(words, choices)
    return assemble(words, width, height)


def ocr_pages(pages: Sequence[tuple[np.ndarray, int]], lang: str = "vie", *, postprocess: bool = True,
              workers: int | None = None) -> list[OcrPage]:
    """OCR the pages of one paper concurrently, one Tesseract process per page (each limited to
    ``ocr.thread_limit`` threads), ``workers`` at a time (default: one per CPU core). Results are in the
    order of ``pages`` (image, dpi)."""
    if not pages:
        return []
    n = max(1, min(len(pages), workers or os.cpu_count() or 1))
    if n == 1:
        return [ocr_page(img, dpi, lang, postprocess=postprocess) for img, dpi in pages]
    if postprocess:
        from kiosk.vision.vi_postprocess import lexicon

        lexicon()  # load the word list once, before the threads need it
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="ocr") as pool:
        return list(pool.map(lambda p: ocr_page(p[0], p[1], lang, postprocess=postprocess), pages))


def _map_words(raw: list[RawWord], prep: Prepared, width: int, height: int) -> list[OcrWord]:
    """Map word boxes back to the input image."""
    from kiosk.vision.ocr_preprocess import box_to_input

    return [OcrWord(r.text, box_to_input(prep, r.box, width, height), r.confidence, r.line) for r in raw]


def image_dpi(path: str | os.PathLike[str]) -> int | None:
    """Resolution stored in the image file's metadata (JFIF/PNG pHYs/TIFF), if any and plausible."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            info = im.info.get("dpi")
    except OSError:
        return None
    if not info:
        return None
    try:
        d = round(float(info[0]))
    except (TypeError, ValueError, IndexError):
        return None
    return d if 70 <= d <= 2400 else None


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise KioskError("ocr.unreadable", file=Path(path).name)
    if image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / 65535.0)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def ocr_image_file(path: str | os.PathLike[str], dpi: int | None = None, lang: str = "vie", *,
                   postprocess: bool = True) -> OcrPage:
    """OCR a flat page image file; ``dpi`` defaults to the file's metadata, else 200."""
    image = read_image(path)
    return ocr_page(image, dpi or image_dpi(path) or DEFAULT_DPI, lang, postprocess=postprocess)
