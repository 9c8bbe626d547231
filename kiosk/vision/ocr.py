"""OCR of page images with Tesseract: NFC text, word boxes and confidences from Tesseract's hOCR.

``ocr_page(image, dpi)`` takes a dewarped page (BGR or grey uint8, OpenCV convention) and returns a
:class:`kiosk.vision.types.OcrPage` whose word boxes are in pixels of the input image. Tesseract runs as
a subprocess with ``OMP_THREAD_LIMIT`` from ``[ocr] thread_limit`` and is told the real resolution.

One Tesseract process uses one core. To use every core for one page, the prepared page is cut into
horizontal bands along full-width whitespace rows (:mod:`kiosk.vision.ocr_bands`), one Tesseract process
reads each band at the same time, and the bands' words are merged back into one page (boxes shifted,
lines renumbered in reading order). ``ocr_page`` uses as many bands as cores (``[ocr] max_workers``, 0 =
every core); ``ocr_pages`` shares the cores between the pages of one paper: the pages run concurrently,
each cut into :func:`bands_per_page` bands, and one semaphore keeps at most one Tesseract process per core
running, so band tasks of all pages queue for the cores and none stays idle while work is left.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
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
    from kiosk.config import Config
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
    max_workers: int = 0  # cores OCR may use at once (Tesseract processes); 0: every core


_settings = OcrSettings()


def configure(*, thread_limit: int | None = None, timeout_s: float | None = None,
              max_workers: int | None = None) -> None:
    """Apply ``[ocr]`` config values (the CLI calls this once with the loaded config)."""
    global _settings
    _settings = OcrSettings(
        thread_limit=thread_limit if thread_limit is not None else _settings.thread_limit,
        timeout_s=timeout_s if timeout_s is not None else _settings.timeout_s,
        psm=_settings.psm,
        tesseract=_settings.tesseract,
        max_workers=max_workers if max_workers is not None else _settings.max_workers,
    )


def configure_from(cfg: Config) -> None:
    """Apply the ``[ocr]`` section of a loaded config (every command and the workflow call this)."""
    configure(thread_limit=cfg.ocr.thread_limit, max_workers=cfg.ocr.max_workers)


_slots_lock = threading.Lock()
_slots: tuple[int, threading.BoundedSemaphore] | None = None


def _process_slots() -> threading.BoundedSemaphore:
    """The semaphore that keeps at most :func:`available_cores` Tesseract processes running at once, over
    every page and band of every caller."""
    global _slots
    cores = available_cores()
    with _slots_lock:
        if _slots is None or _slots[0] != cores:
            _slots = (cores, threading.BoundedSemaphore(cores))
        return _slots[1]


def available_cores() -> int:
    """How many Tesseract processes OCR runs at once: ``[ocr] max_workers``, or (0) every core this
    process may run on."""
    if _settings.max_workers > 0:
        return _settings.max_workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def bands_per_page(pages: int, cores: int) -> int:
    """How many bands each of k pages is cut into on c cores: at least max(1, c // k), and more when that
    leaves cores idle at the end, so that the k * b band tasks divide evenly among the cores (1 page on 2
    cores: 2 bands; 6 pages: 1 band each; 3 pages on 2 cores: 2 bands each, 6 tasks in 3 rounds instead
    of 3 whole pages in 2 rounds with one core idle in the second)."""
    k = max(1, pages)
    base = max(1, cores // k)
    for b in range(base, base + 4):
        if (k * b) % cores == 0:
            return b
    return base


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
        data = _encode_png(image)
        with _process_slots():
            proc = subprocess.run(cmd, input=data, capture_output=True,
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
             options: PreprocessOptions | None = None, bands: int | None = None) -> OcrPage:
    """OCR one page image (BGR or grey uint8) at resolution ``dpi``.

    Returns NFC text (lines separated by '\\n'), mean word confidence 0..100, and words with boxes in
    pixels of ``image``. With ``postprocess`` the Vietnamese tone-mark repair runs on the words.
    ``options`` overrides the measured default preprocessing (benchmarks only). ``bands``: at most this
    many concurrent Tesseract processes on horizontal bands of the page (default: one per core, see
    :func:`available_cores`; 1 = the whole page in one process).
    """
    return ocr_page_banded(image, dpi, lang, postprocess=postprocess, options=options, bands=bands)[0]


def ocr_page_banded(image: np.ndarray, dpi: int, lang: str = "vie", *, postprocess: bool = True,
                    options: PreprocessOptions | None = None, bands: int | None = None
                    ) -> tuple[OcrPage, int]:
    """:func:`ocr_page`, and the number of bands the page was actually cut into (1 when no clean cut
    near a balanced position exists, see :func:`kiosk.vision.ocr_bands.find_bands`)."""
    from kiosk.vision.ocr_bands import recognise
    from kiosk.vision.ocr_preprocess import prepare

    if image is None or image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise KioskError("ocr.bad_image")
    if dpi <= 0:
        raise KioskError("ocr.bad_image")
    height, width = image.shape[:2]
    prep = prepare(image, dpi, options)
    raw, used = recognise(prep.image, prep.dpi, lang, bands if bands is not None else available_cores())
    words = _map_words(raw, prep, width, height)
    if postprocess and lang.split("+")[0].rsplit("/", 1)[-1] in VIETNAMESE_MODELS:
        from kiosk.vision.vi_postprocess import repair_words

        choices = [[c.choices for c in r.chars] if len(r.chars) == len(r.text) else None for r in raw]
        words = repair_words(words, choices)
    return assemble(words, width, height), len(used)


def ocr_pages(pages: Sequence[tuple[np.ndarray, int]], lang: str = "vie", *, postprocess: bool = True,
              workers: int | None = None) -> list[OcrPage]:
    """OCR the pages (image, dpi) of one paper on ``workers`` cores (default :func:`available_cores`):
    each page is cut into ``bands_per_page(k, c)`` bands and the band tasks share the cores (at most one
    Tesseract process per core at a time), so one page uses every core and many pages keep every core
    busy to the end. Results are in the order of ``pages``."""
    return [page for page, _ in ocr_pages_banded(pages, lang, postprocess=postprocess, workers=workers)]


def ocr_pages_banded(pages: Sequence[tuple[np.ndarray, int]], lang: str = "vie", *, postprocess: bool = True,
                     workers: int | None = None) -> list[tuple[OcrPage, int]]:
    """:func:`ocr_pages`, with the number of bands each page was cut into."""
    if not pages:
        return []
    cores = max(1, workers or available_cores())
    bands = bands_per_page(len(pages), cores)
    # every page runs at once; the band processes wait for one of the cores (``_process_slots``)
    n = min(len(pages), 2 * cores)
    if n == 1:
        return [ocr_page_banded(img, dpi, lang, postprocess=postprocess, bands=bands) for img, dpi in pages]
    if postprocess:
        from kiosk.vision.vi_postprocess import lexicon

        lexicon()  # load the word list once, before the threads need it
    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="ocr") as pool:
        return list(pool.map(lambda p: ocr_page_banded(p[0], p[1], lang, postprocess=postprocess,
                                                       bands=bands), pages))


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
