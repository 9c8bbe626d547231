"""Helpers for the dossier tests (imported by name: a unique module name, unlike ``conftest``): pages
rendered word by word with exact word boxes, pdftotext/pdfsig parsing, papers and dossiers."""

from __future__ import annotations

import html
import re
import socket
import subprocess
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from kiosk.core.applicant import Applicant, Identifier, IdKind, IdSource, Party
from kiosk.core.dossier_model import (
    DigitisationClass,
    Dossier,
    PageCapture,
    Paper,
    PaperMetadata,
    Side,
    new_submission_id,
)
from kiosk.synth.page import SAMPLE_PARAGRAPHS, font
from kiosk.timeutil import now_vn
from kiosk.vision.types import OcrPage, OcrWord


@dataclass
class RenderedWords:
    path: Path
    ocr: OcrPage
    dpi: int


def render_words(path: Path, *, dpi: int = 150, paragraphs: list[str] | None = None, first: int = 0,
                 n_paragraphs: int = 3, fmt: str = "PNG", mode: str = "RGB", noise: bool = False
                 ) -> RenderedWords:
    """An A4 page of Vietnamese text drawn word by word, with each word's exact ink box (its OCR
    ground truth); ``line`` numbers the text lines."""
    w, h = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    img = Image.new("RGB", (w, h), (252, 251, 247))
    draw = ImageDraw.Draw(img)
    f = font("serif", round(13 / 72 * dpi))
    line_h = round(13 / 72 * dpi * 1.5)
    left = round(25 / 25.4 * dpi)
    y = round(20 / 25.4 * dpi)
    words: list[OcrWord] = []
    line = 0
    paras = paragraphs if paragraphs is not None else (SAMPLE_PARAGRAPHS * 2)[first:first + n_paragraphs]
    for para in paras:
        wrapped: list[list[str]] = []
        cur: list[str] = []
        for word in para.split():
            if cur and draw.textlength(" ".join([*cur, word]), font=f) > w - 2 * left:
                wrapped.append(cur)
                cur = [word]
            else:
                cur.append(word)
        wrapped.append(cur)
        for line_words in wrapped:
            x = float(left)
            for wd in line_words:
                draw.text((x, y), wd, font=f, fill=(20, 20, 20))
                x0, y0, x1, y1 = draw.textbbox((x, y), wd, font=f)
                words.append(OcrWord(unicodedata.normalize("NFC", wd),
                                     (int(x0), int(y0), int(x1) + 1, int(y1) + 1), 96.0, line))
                x += draw.textlength(wd + " ", font=f)
            y += line_h
            line += 1
    if noise:
        import numpy as np

        arr = np.asarray(img).astype(np.int16)
        arr += np.random.default_rng(1).integers(-40, 40, size=arr.shape, dtype=np.int16)
        img = Image.fromarray(arr.clip(0, 255).astype("uint8"))
    if mode != "RGB":
        img = img.convert(mode)
    save: dict[str, Any] = {"dpi": (dpi, dpi)}
    if fmt == "JPEG":
        save["quality"] = 90
    img.save(path, fmt, **save)
    lines: dict[int, list[str]] = {}
    for ow in words:
        lines.setdefault(ow.line, []).append(ow.text)
    text = "\n".join(" ".join(v) for _, v in sorted(lines.items()))
    return RenderedWords(path, OcrPage(text, 96.0, words, w, h), dpi)


def pdf_words(pdf: Path, page: int = 1) -> list[tuple[float, float, float, float, str]]:
    """``pdftotext -bbox`` words of one page: (xmin, ymin, xmax, ymax, text) in points, top-left origin."""
    out = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), "-bbox", str(pdf), "-"],
                         capture_output=True, text=True, check=True).stdout
    pat = r'<word xMin="([-\d.]+)" yMin="([-\d.]+)" xMax="([-\d.]+)" yMax="([-\d.]+)">([^<]*)</word>'
    return [(float(a), float(b), float(c), float(d), html.unescape(t))
            for a, b, c, d, t in re.findall(pat, out)]


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class PdfSig:
    valid: list[bool]
    total: list[bool]
    fields: list[str]
    text: str


def pdfsig(pdf: Path, nssdir: Path) -> PdfSig:
    """Run poppler's pdfsig (it exits 0 even for invalid signatures, so its output is parsed)."""
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nssdir}", str(pdf)], capture_output=True, text=True)
    text = out.stdout + out.stderr
    blocks = re.split(r"^Signature #\d+:", text, flags=re.M)[1:]
    fields = [m.group(1).strip() for b in blocks for m in [re.search(r"Field Name: (.*)", b)] if m]
    return PdfSig(valid=["Signature is Valid." in b for b in blocks],
                  total=["Total document signed" in b and "Not total document signed" not in b
                         for b in blocks],
                  fields=fields, text=text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_paper(captures: list[PageCapture], *, code: str = "KS", name: str = "Giấy khai sinh",
               holder: str = "001099012345", storage_code: str = "") -> Paper:
    meta = PaperMetadata(paper_type_code=code, paper_name=name, holder_id=holder,
                         issue_date=date(2020, 5, 17), issuing_authority="UBND xã Tân Lập",
                         summary="Khai sinh cho Nguyễn Văn An", valid_from=date(2020, 5, 17),
                         validity_scope="Toàn quốc", extra={"số giấy": "123/2020"})
    sheets = max((c.page_no for c in captures), default=0)
    return Paper(component_id=f"comp-{code}", name=name, digitisation_class=DigitisationClass.EARLIER_RESULT,
                 declared_pages=sheets, captures=captures, metadata=meta, storage_code=storage_code)


def front(p: RenderedWords, sheet: int = 1, **kw: Any) -> PageCapture:
    return PageCapture(sheet, Side.FRONT, p.path, float(p.dpi), ocr=p.ocr,
                       quality={"sharpness": 0.91, "glare": 0.0}, device="test camera", **kw)


def make_dossier(papers: list[Paper], applicant_id: str = "001099012345") -> Dossier:
    applicant = Applicant(Party(Identifier(IdKind.CCCD, applicant_id), full_name="Nguyễn Văn An",
                                source=IdSource.CHIP_MRZ))
    d = Dossier(submission_id=new_submission_id(), terminal_id="KIOSK-TEST-0007", created_at=now_vn(),
                applicant=applicant, procedure_code="1.001234", case_id="TH1", papers=papers)
    d.assign_storage_codes()
    return d
