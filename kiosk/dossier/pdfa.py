"""PDF/A-2b for one paper: page images at true size with an invisible OCR text layer (R8), and checks.

:func:`build_pdfa` writes the (unsigned) PDF with pikepdf:

- one page per image, in the order given, MediaBox = pixel size / dpi (100 % scale), the image drawn over
  the whole page, DeviceRGB 8 bits per component, compression per page from :mod:`kiosk.dossier.images`;
- the OCR words as invisible text (:mod:`kiosk.dossier.textlayer`), one embedded glyph-less CID font per
  document with a ToUnicode CMap;
- an sRGB OutputIntent (GTS_PDFA1) with an embedded ICC profile (:mod:`kiosk.dossier.icc`);
- XMP metadata (uncompressed) with pdfaid part 2 / conformance B and the paper's metadata
  (:mod:`kiosk.dossier.xmp`); no document information dictionary, so nothing can disagree with the XMP;
- a trailer /ID, PDF 1.7 header with the binary comment line; no encryption, JavaScript, actions,
  embedded files or external references.

:func:`check_pdfa` re-reads a PDF (signed or not) and reports what breaks the PDF/A-2b rules that can be
checked without a full validator (veraPDF is not packaged for Debian 12); it is used by ``verify``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pikepdf
from pikepdf import Array, Dictionary, Name, String

from kiosk.core.dossier_model import PageCapture
from kiosk.dossier import icc, textlayer
from kiosk.dossier.images import EncodingPolicy, PageImage, load_page_image
from kiosk.dossier.xmp import KD_NS, read_xmp


@dataclass(frozen=True)
class BuiltPage:
    capture: PageCapture
    width_px: int
    height_px: int
    width_pt: float
    height_pt: float
    encoding: dict[str, Any]


def _image_xobject(pdf: pikepdf.Pdf, img: PageImage) -> pikepdf.Stream:
    stream = pikepdf.Stream(pdf, b"")
    parms = Dictionary({f"/{k}": v for k, v in img.decode_parms.items()}) if img.decode_parms else None
    stream.write(img.data, filter=Name(img.filter), decode_parms=parms)
    stream.Type = Name.XObject
    stream.Subtype = Name.Image
    stream.Width = img.width
    stream.Height = img.height
    stream.ColorSpace = Name.DeviceRGB
    stream.BitsPerComponent = 8
    return stream


def _font(pdf: pikepdf.Pdf) -> tuple[pikepdf.Object, pikepdf.Object]:
    """The Type0 font for the text layer and its CIDFont (ToUnicode and CIDToGIDMap are set later)."""
    program = textlayer.glyphless_font_program()
    font_file = pikepdf.Stream(pdf, program)
    font_file.Length1 = len(program)
    descriptor = pdf.make_indirect(Dictionary(
        Type=Name.FontDescriptor, FontName=Name("/" + textlayer.FONT_NAME), Flags=4,
        FontBBox=Array([0, textlayer.DESCENT, textlayer.ADVANCE, textlayer.ASCENT]), ItalicAngle=0,
        Ascent=textlayer.ASCENT, Descent=textlayer.DESCENT, CapHeight=textlayer.ASCENT, StemV=80,
        FontFile2=pdf.make_indirect(font_file),
    ))
    cid_font = pdf.make_indirect(Dictionary(
        Type=Name.Font, Subtype=Name.CIDFontType2, BaseFont=Name("/" + textlayer.FONT_NAME),
        CIDSystemInfo=Dictionary(Registry=String("Adobe"), Ordering=String("Identity"), Supplement=0),
        FontDescriptor=descriptor, DW=textlayer.ADVANCE,
    ))
    font = pdf.make_indirect(Dictionary(
        Type=Name.Font, Subtype=Name.Type0, BaseFont=Name("/" + textlayer.FONT_NAME),
        Encoding=Name("/Identity-H"), DescendantFonts=Array([cid_font]),
    ))
    return font, cid_font


def build_pdfa(captures: list[PageCapture], xmp_for: Any, *, policy: EncodingPolicy | None = None,
               language: str = "vi") -> tuple[bytes, list[BuiltPage]]:
    """Build the PDF for ``captures`` (in order). ``xmp_for(pages: list[BuiltPage]) -> bytes`` returns the
    XMP packet once the pages (and their compression records) are known. Returns the PDF bytes."""
    pdf = pikepdf.new()
    font, cid_font = _font(pdf)
    alloc = textlayer.CidAllocator()
    built: list[BuiltPage] = []
    for cap in captures:
        img = load_page_image(Path(cap.image_path), policy)
        if cap.dpi <= 0:
            raise ValueError("page dpi must be positive")
        w_pt, h_pt = img.width * 72.0 / cap.dpi, img.height * 72.0 / cap.dpi
        xobj = _image_xobject(pdf, img)
        ops = f"q {w_pt:.4f} 0 0 {h_pt:.4f} 0 0 cm /Im0 Do Q\n".encode("ascii")
        if cap.ocr is not None and cap.ocr.words:
            ops += textlayer.text_layer_ops(cap.ocr, img.width, img.height, w_pt, h_pt, alloc, "/FText")
        resources = Dictionary(XObject=Dictionary(Im0=xobj))
        resources.Font = Dictionary(FText=font)
        page = Dictionary(Type=Name.Page, MediaBox=Array([0, 0, round(w_pt, 4), round(h_pt, 4)]),
                          Resources=resources, Contents=pikepdf.Stream(pdf, ops))
        pdf.pages.append(pikepdf.Page(page))
        built.append(BuiltPage(cap, img.width, img.height, w_pt, h_pt, img.encoding))
    cid_font.CIDToGIDMap = pdf.make_indirect(pikepdf.Stream(pdf, alloc.cid_to_gid_map()))
    font.ToUnicode = pdf.make_indirect(pikepdf.Stream(pdf, alloc.to_unicode_cmap()))

    profile = pikepdf.Stream(pdf, icc.srgb_profile())
    profile.N = 3
    pdf.Root.OutputIntents = Array([pdf.make_indirect(Dictionary(
        Type=Name.OutputIntent, S=Name.GTS_PDFA1, OutputConditionIdentifier=String(icc.OUTPUT_CONDITION),
        Info=String(icc.DESCRIPTION), RegistryName=String("http://www.color.org"),
        DestOutputProfile=pdf.make_indirect(profile),
    ))])
    meta = pikepdf.Stream(pdf, xmp_for(built))
    meta.Type = Name.Metadata
    meta.Subtype = Name.XML
    pdf.Root.Metadata = pdf.make_indirect(meta)
    pdf.Root.Lang = String(language)
    if "/Info" in pdf.trailer:
        del pdf.trailer["/Info"]
    out = io.BytesIO()
    pdf.save(out, min_version="1.7", fix_metadata_version=False, compress_streams=True,
             object_stream_mode=pikepdf.ObjectStreamMode.disable)
    return out.getvalue(), built


# ----------------------------------------------------------------------------------------- checking
# ISO 19005-2 6.5.1 forbids these action types; the kiosk also allows no action that leaves the file.
_FORBIDDEN_ACTIONS = {"/Launch", "/Sound", "/Movie", "/ResetForm", "/ImportData", "/JavaScript", "/Hide",
                      "/SetOCGState", "/Rendition", "/Trans", "/GoTo3DView", "/SetState", "/NOP"}
_FONT_SUBTYPES = {Name.Type0, Name.TrueType, Name.Type1, Name.CIDFontType2, Name.CIDFontType0, Name.Type3,
                  Name.MMType1}
_EXTERNAL_ACTIONS = {"/GoToR", "/GoToE", "/URI", "/SubmitForm", "/Thread"}


def _walk(obj: pikepdf.Object, seen: set[tuple[int, int]]) -> Iterator[pikepdf.Object]:
    """Every dictionary and stream reachable from ``obj`` (each indirect object once)."""
    stack = [obj]
    while stack:
        o = stack.pop()
        if not isinstance(o, pikepdf.Object):
            continue
        if o.is_indirect:
            key = o.objgen
            if key in seen:
                continue
            seen.add(key)
        if isinstance(o, pikepdf.Stream | Dictionary):
            yield o
            stack.extend(v for k, v in o.items() if k != "/Parent")
        elif isinstance(o, Array):
            stack.extend(o)


def check_pdfa(data: bytes) -> list[str]:
    """PDF/A-2b checks that need no full validator. Returns the failed checks (empty: all passed):

    header ``%PDF-1.n`` and the binary comment line; catalog /Version at most 1.7; trailer /ID; no
    /Encrypt; XMP present, unfiltered, with pdfaid:part 2 and conformance B, and the kiosk namespace
    described by a PDF/A extension schema; an OutputIntent GTS_PDFA1 with an RGB ICC profile (v2 or v4);
    an Info dictionary, if any, with only Title/Creator/Producer/CreationDate/ModDate (the kiosk writes
    none); every simple and CID font embedded (FontFile, FontFile2 or FontFile3; Type0 fonts are checked
    through their descendant, Type3 fonts need no program); no JavaScript, no action forbidden by
    ISO 19005-2 6.5.1 and no action leaving the file (GoToR, GoToE, URI, SubmitForm, Thread); no /AA
    outside the catalog and none in it, no /OpenAction; no embedded files; no external streams (/F); no
    PostScript or reference XObjects; no /Interpolate true; no transfer functions; no /OPI or
    /Alternates; no LZW; annotations with the print flag and without hidden/invisible/noview flags, with
    an appearance dictionary holding only /N (unless zero-sized); AcroForm without /NeedAppearances true
    or /XFA."""
    fails: list[str] = []
    if not data.startswith(b"%PDF-1."):
        fails.append("pdfa.header")
    else:
        second = data.split(b"\n", 2)[1] if data.count(b"\n") >= 2 else b""
        if not (second.startswith(b"%") and sum(1 for b in second[1:5] if b > 127) == 4):
            fails.append("pdfa.binary_comment")
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PdfError:
        return [*fails, "pdfa.unreadable"]
    with pdf:
        if pdf.is_encrypted or "/Encrypt" in pdf.trailer:
            fails.append("pdfa.encrypted")
        ident = pdf.trailer.get("/ID")
        if not isinstance(ident, Array) or len(ident) != 2:
            fails.append("pdfa.trailer_id")
        root = pdf.Root
        version = str(root.get("/Version", "/1.7")).lstrip("/")
        if not (version.startswith("1.") and version[2:].isdigit() and int(version[2:]) <= 7):
            fails.append("pdfa.catalog_version")
        meta = root.get("/Metadata")
        if not isinstance(meta, pikepdf.Stream):
            fails.append("pdfa.xmp_missing")
        else:
            if "/Filter" in meta:
                fails.append("pdfa.xmp_filtered")
            try:
                x = read_xmp(meta.read_bytes())
            except Exception:
                fails.append("pdfa.xmp_unparsable")
            else:
                if x["pdfaid_part"] != "2":
                    fails.append("pdfa.pdfaid_part")
                if x["pdfaid_conformance"] != "B":
                    fails.append("pdfa.pdfaid_conformance")
                if x["kd"] and KD_NS not in x["extension_namespaces"]:
                    fails.append("pdfa.xmp_extension_schema")
        intents = root.get("/OutputIntents")
        ok_intent = False
        if isinstance(intents, Array):
            for oi in intents:
                prof = oi.get("/DestOutputProfile")
                if (oi.get("/S") == Name.GTS_PDFA1 and isinstance(prof, pikepdf.Stream)
                        and prof.get("/N") == 3):
                    head = prof.read_bytes()[:20]
                    ok_intent = head[16:20] == b"RGB " and head[8] in (2, 4)
        if not ok_intent:
            fails.append("pdfa.output_intent")
        info = pdf.trailer.get("/Info")
        if isinstance(info, Dictionary):
            extra = set(info.keys()) - {"/Producer", "/ModDate", "/CreationDate", "/Title", "/Creator"}
            if extra:
                fails.append("pdfa.info_entries")
        if "/Names" in root and ("/JavaScript" in root.Names or "/EmbeddedFiles" in root.Names):
            fails.append("pdfa.javascript_or_embedded_files")
        for key in ("/AA", "/OpenAction"):
            if key in root:
                fails.append(f"pdfa.catalog{key.lower().replace('/', '_')}")
        acro = root.get("/AcroForm")
        if isinstance(acro, Dictionary):
            if bool(acro.get("/NeedAppearances", False)):
                fails.append("pdfa.need_appearances")
            if "/XFA" in acro:
                fails.append("pdfa.xfa")
        seen: set[tuple[int, int]] = set()
        problems: set[str] = set()
        for o in _walk(root, seen):
            if "/JS" in o or o.get("/S") == Name.JavaScript:
                problems.add("pdfa.javascript")
            action = str(o.get("/S")) if isinstance(o.get("/S"), Name) else ""
            if action in _FORBIDDEN_ACTIONS:
                problems.add("pdfa.forbidden_action")
            if action in _EXTERNAL_ACTIONS:
                problems.add("pdfa.external_reference")
            if "/AA" in o and o.get("/Type") != Name.Catalog:
                problems.add("pdfa.additional_actions")
            if o.get("/Type") == Name.Filespec or "/EF" in o:
                problems.add("pdfa.embedded_file")
            if isinstance(o, pikepdf.Stream) and ("/F" in o.stream_dict or "/FFilter" in o.stream_dict):
                problems.add("pdfa.external_stream")
            filt = o.get("/Filter") if isinstance(o, pikepdf.Stream) else None
            filters = [str(f) for f in filt] if isinstance(filt, Array) else [str(filt)]
            if filt is not None and "/LZWDecode" in filters:
                problems.add("pdfa.lzw")
            sub = o.get("/Subtype")
            if sub == Name.Image:
                if bool(o.get("/Interpolate", False)):
                    problems.add("pdfa.interpolate")
                if "/Alternates" in o or "/OPI" in o:
                    problems.add("pdfa.image_alternates")
            if sub == Name.PS or "/PS" in o or ("/Ref" in o and sub == Name.Form):
                problems.add("pdfa.ps_or_reference_xobject")
            if "/TR" in o or ("/TR2" in o and o.get("/TR2") != Name.Default):
                problems.add("pdfa.transfer_function")
            if "/OPI" in o:
                problems.add("pdfa.opi")
            if o.get("/Type") == Name.Font or sub in _FONT_SUBTYPES:
                if sub == Name.Type0 or sub == Name.Type3:
                    continue
                fd = o.get("/FontDescriptor")
                if not isinstance(fd, Dictionary) or not any(k in fd for k in ("/FontFile", "/FontFile2",
                                                                               "/FontFile3")):
                    problems.add("pdfa.font_not_embedded")
        fails.extend(sorted(problems))
        for n, page in enumerate(pdf.pages, 1):
            for annot in page.obj.get("/Annots", Array()):
                if annot.get("/Subtype") == Name.Popup:
                    continue
                flags = int(annot.get("/F", 0))
                if not flags & 4 or flags & (1 | 2 | 32 | 256):
                    fails.append(f"pdfa.annotation_flags[page {n}]")
                rect = [float(v) for v in annot.get("/Rect", [0, 0, 0, 0])]
                zero = rect[2] - rect[0] == 0 and rect[3] - rect[1] == 0
                ap = annot.get("/AP")
                if not zero and annot.get("/Subtype") != Name.Link:
                    if not isinstance(ap, Dictionary) or "/N" not in ap or set(ap.keys()) - {"/N"}:
                        fails.append(f"pdfa.annotation_appearance[page {n}]")
    return fails


def page_count(data: bytes) -> int:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        return len(pdf.pages)


def xmp_of(data: bytes) -> dict[str, Any]:
    """The verifier's view of the XMP of a PDF (see :func:`kiosk.dossier.xmp.read_xmp`)."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        meta = pdf.Root.get("/Metadata")
        if not isinstance(meta, pikepdf.Stream):
            return {}
        return read_xmp(meta.read_bytes())
