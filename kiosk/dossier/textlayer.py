"""The invisible OCR text layer of a page (R8: page image plus text).

Words come from :class:`kiosk.vision.types.OcrPage` with boxes in image pixels. Each word is drawn in
text render mode 3 (invisible) with a glyph-less font: every glyph is an empty outline 500/1000 em wide,
so a word of ``n`` characters at font size ``F`` is ``n * F / 2`` wide before horizontal scaling. The
scaling (``Tz``) stretches it to the width of the word's box, the font size is the box height and the
baseline sits at 80 % of the box height (the font's ascent is 800, its descent -200), so a text
extractor's word box (``pdftotext -bbox``) is the OCR word box.

Character codes are 2-byte CIDs (Identity-H) allocated per document in order of first use; the font's
ToUnicode CMap maps each CID back to its Unicode character (NFC), which is what makes Vietnamese text
extract correctly. The CIDToGIDMap sends every CID to glyph 1.

The font program is a minimal TrueType font built with fontTools (no third-party font file is shipped).
PDF/A requires even invisible text's font to be embedded; it is, as FontFile2, and its advance widths
(500) match the ``/DW 500`` of the CIDFont.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from kiosk.vision.types import OcrPage, OcrWord

FONT_NAME = "GlyphLessFont"
UNITS_PER_EM = 1000
ADVANCE = 500      # every glyph, in 1/1000 em
ASCENT = 800
DESCENT = -200


@cache
def glyphless_font_program() -> bytes:
    """A TrueType font with ``.notdef`` and one empty glyph, both 500 units wide (deterministic bytes)."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen

    fb = FontBuilder(UNITS_PER_EM, isTTF=True)
    fb.setupGlyphOrder([".notdef", "glyph1"])
    fb.setupCharacterMap({})
    empty = TTGlyphPen(None).glyph()
    fb.setupGlyf({".notdef": empty, "glyph1": empty})
    fb.setupHorizontalMetrics({".notdef": (ADVANCE, 0), "glyph1": (ADVANCE, 0)})
    fb.setupHorizontalHeader(ascent=ASCENT, descent=DESCENT)
    fb.setupNameTable({"familyName": FONT_NAME, "styleName": "Regular", "psName": FONT_NAME,
                       "uniqueFontIdentifier": f"kiosk:{FONT_NAME}:1", "version": "Version 1.000"})
    fb.setupOS2(sTypoAscender=ASCENT, sTypoDescender=DESCENT, sTypoLineGap=0, usWinAscent=ASCENT,
                usWinDescent=-DESCENT, sxHeight=500, sCapHeight=ASCENT, achVendID="NONE", fsType=0)
    fb.setupPost()
    fb.setupHead(unitsPerEm=UNITS_PER_EM, created=0, modified=0, fontRevision=1.0)
    fb.font["head"].xMin = fb.font["head"].yMin = fb.font["head"].xMax = fb.font["head"].yMax = 0
    buf = io.BytesIO()
    fb.font.save(buf, reorderTables=True)
    return buf.getvalue()


@dataclass
class CidAllocator:
    """Assigns 2-byte CIDs (1, 2, ...) to characters in order of first use, document-wide."""

    cids: dict[str, int] = field(default_factory=dict)

    def encode(self, text: str) -> bytes:
        out = bytearray()
        for ch in text:
            cid = self.cids.get(ch)
            if cid is None:
                cid = len(self.cids) + 1
                if cid > 0xFFFF:
                    raise ValueError("too many distinct characters for a 2-byte CID font")
                self.cids[ch] = cid
            out += cid.to_bytes(2, "big")
        return bytes(out)

    @property
    def max_cid(self) -> int:
        return len(self.cids)

    def to_unicode_cmap(self) -> bytes:
        """The ToUnicode CMap: each CID to its character as UTF-16BE."""
        entries = [f"<{cid:04X}> <{ch.encode('utf-16-be').hex().upper()}>" for ch, cid in self.cids.items()]
        lines = [
            "/CIDInit /ProcSet findresource begin",
            "12 dict begin",
            "begincmap",
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def",
            "/CMapName /Adobe-Identity-UCS def",
            "/CMapType 2 def",
            "1 begincodespacerange",
            "<0000> <FFFF>",
            "endcodespacerange",
        ]
        for i in range(0, len(entries), 100):
            chunk = entries[i:i + 100]
            lines.append(f"{len(chunk)} beginbfchar")
            lines.extend(chunk)
            lines.append("endbfchar")
        lines += ["endcmap", "CMapName currentdict /CMap defineresource pop", "end", "end"]
        return ("\n".join(lines) + "\n").encode("ascii")

    def cid_to_gid_map(self) -> bytes:
        """CIDToGIDMap stream data: CID 0 -> glyph 0 (.notdef), every allocated CID -> glyph 1."""
        return b"\x00\x00" + b"\x00\x01" * self.max_cid


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text if not ch.isspace() and unicodedata.category(ch)[0] != "C")


@dataclass(frozen=True)
class PlacedWord:
    """A word as placed on the PDF page, in points (origin bottom left): ``x``, ``baseline``, ``size``
    (font size = line height), ``width``, the horizontal scaling in percent, and ``space_after``: the
    width of the gap to the next word of the same line (0: last word of its line)."""

    text: str
    x: float
    baseline: float
    size: float
    width: float
    scale: float
    space_after: float = 0.0


def place_words(words: Iterable[OcrWord], img_w: int, img_h: int, page_w: float, page_h: float
                ) -> list[PlacedWord]:
    """Map OCR word boxes (image pixels) to text placements on a page of ``page_w`` x ``page_h`` pt.

    Horizontally each word spans its own box. Vertically every word of an OCR line spans the line's box
    (top of its highest word to bottom of its lowest), with one font size and one baseline per line, as
    Tesseract's own PDF renderer does: text extractors then keep the words of a line together and in
    order."""
    sx, sy = page_w / img_w, page_h / img_h
    lines: dict[int, list[tuple[str, OcrWord]]] = {}
    for w in words:
        text = _clean(w.text)
        if text and w.box[2] > w.box[0] and w.box[3] > w.box[1]:
            lines.setdefault(w.line, []).append((text, w))
    placed: list[PlacedWord] = []
    for members in lines.values():
        top = min(w.box[1] for _, w in members)
        bottom = max(w.box[3] for _, w in members)
        size = (bottom - top) * sy
        baseline = page_h - (top * sy + size * ASCENT / (ASCENT - DESCENT))
        for i, (text, w) in enumerate(members):
            x0: float = w.box[0] * sx
            x1: float = w.box[2] * sx
            natural = len(text) * size * ADVANCE / UNITS_PER_EM
            gap = members[i + 1][1].box[0] * sx - x1 if i + 1 < len(members) else 0.0
            placed.append(PlacedWord(text, x0, baseline, size, x1 - x0, 100.0 * (x1 - x0) / natural,
                                     max(gap, 0.0)))
    return placed


def text_layer_ops(ocr: OcrPage, img_w: int, img_h: int, page_w: float, page_h: float,
                   alloc: CidAllocator, font_res: str = "/FText") -> bytes:
    """Content-stream operators drawing the page's words invisibly, line by line in OCR order. A space
    character, scaled to the gap, follows every word but the last of a line, so that extractors and
    copy-and-paste see real spaces."""
    w = ocr.width or img_w
    h = ocr.height or img_h
    placed = place_words(ocr.words, w, h, page_w, page_h)
    if not placed:
        return b""
    ops = [b"BT", b"3 Tr"]
    for p in placed:
        ops.append(f"{font_res} {p.size:.3f} Tf {p.scale:.3f} Tz 1 0 0 1 {p.x:.3f} {p.baseline:.3f} Tm"
                   .encode("ascii"))
        ops.append(b"<" + alloc.encode(p.text).hex().upper().encode("ascii") + b"> Tj")
        if p.space_after > 0:
            scale = 100.0 * p.space_after / (p.size * ADVANCE / UNITS_PER_EM)
            space = alloc.encode(" ").hex().upper().encode("ascii")
            ops.append(f"{scale:.3f} Tz".encode("ascii") + b" <" + space + b"> Tj")
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"
