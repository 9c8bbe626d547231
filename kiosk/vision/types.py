"""Data passed between the vision stages and the dossier builder."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OcrWord:
    """One recognised word. ``box`` is (x0, y0, x1, y1) in pixels of the OCR'd page image (x1, y1
    exclusive), ``confidence`` is 0..100 as Tesseract reports it; ``line`` numbers lines on the page."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int


@dataclass(frozen=True)
class OcrPage:
    """OCR result for one page image: NFC text with lines separated by '\\n', the mean word confidence
    (0..100), the words with boxes (for the PDF text layer), and the image size it refers to."""

    text: str
    confidence: float
    words: list[OcrWord] = field(default_factory=list)
    width: int = 0
    height: int = 0
