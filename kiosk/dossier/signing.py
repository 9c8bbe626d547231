"""PAdES signatures with pyHanko: the kiosk's seal, the staff countersignature, and their validation.

**Seal** (R11): a certification signature (DocMDP: form filling and signing allowed, so a countersignature
keeps it valid), PAdES baseline B-B, or B-T when ``signing.tsa_url`` is set (RFC 3161 signature
time-stamp). Its visible mark sits at the top right of page 1: the copy type (``signing.copy_type``), the
agency (``terminal.agency_name``) and the signing time in ISO 8601 with +07:00, in a serif font derived
from Liberation Serif (Times New Roman metric-compatible; see :func:`mark_font_program`), embedded as a
subset, at 10 pt, black on white, thin border, no seal image. The time in the mark is the time in the
signature dictionary (/M).

**Countersignature**: an approval signature by the staff key, added as an incremental update (invisible
field ``StaffSignature``, ``StaffSignature-2``, ...), B-B or B-T like the seal.

**Validation** (:func:`validate_signatures`): every signature intact, valid and trusted against the given
roots (pyHanko's validator); the last one covers the whole file; earlier ones cover their revision and
the later changes are allowed by the certification (pyHanko's difference analysis).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from pyhanko.pdf_utils import content, layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.signers import Signer
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.stamp import TextStampStyle

from kiosk.config import Config
from kiosk.dossier.keys import to_asn1
from kiosk.timeutil import iso, now_vn

T = TypeVar("T")
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "FFTM NOT subset" chatter

SEAL_FIELD = "KioskSeal"
STAFF_FIELD = "StaffSignature"
MARK_FONT_PT = 10
MARK_LEADING = 12
MARK_PAD = 4.0
MARK_MARGIN_PT = 14.17  # 5 mm from the top and right edges of page 1
FONT_FILE = Path(__file__).resolve().parents[1] / "data" / "fonts" / "LiberationSerif-Regular.ttf"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when called from inside a running event loop (then in a
    helper thread), so that UI code with an asyncio loop can call the synchronous API."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    th = threading.Thread(target=target)
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@dataclass(frozen=True)
class SignResult:
    data: bytes
    field_name: str
    signed_at: datetime
    level: str          # "B-B" or "B-T"


def timestamper_for(cfg: Config) -> timestamps.TimeStamper | None:
    if not cfg.signing.tsa_url:
        return None
    return timestamps.HTTPTimeStamper(cfg.signing.tsa_url, timeout=10)


# Characters the mark font keeps: ASCII, Latin-1, Latin Extended-A/B up to U+01B0 (Ă Đ Ĩ Ũ Ơ Ư ...),
# combining diacritics, Vietnamese precomposed letters (U+1EA0-U+1EF9), dashes and quotes.
_MARK_CHARS = [*range(0x20, 0x7F), *range(0xA0, 0x1B1), *range(0x300, 0x324), *range(0x1EA0, 0x1EFA),
               *range(0x2010, 0x2027)]
MARK_FONT_NAME = "KioskMarkSerif"


@cache
def mark_font_program() -> bytes:
    """The font of the visible mark: Liberation Serif (OFL 1.1) reduced to Latin/Vietnamese, scaled to
    1000 units per em and renamed (the OFL reserves the name "Liberation" for the unmodified font).

    The scaling matters: pyHanko 0.38 writes glyph widths (/W) in font units, which are 1/1000 em only
    when the font has 1000 units per em; Liberation has 2048, which would spread the letters twice as
    wide and make /W disagree with the embedded program (a PDF/A error)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.scaleUpem import scale_upem

    font = TTFont(str(FONT_FILE))
    opts = subset.Options()
    opts.hinting = False
    opts.name_IDs = ["*"]
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.layout_features = ["kern", "liga", "ccmp", "mark", "mkmk"]
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=_MARK_CHARS)
    sub.subset(font)
    scale_upem(font, 1000)
    names = {1: "Kiosk Mark Serif", 3: f"{MARK_FONT_NAME} (Liberation Serif 2.1.5 derivative)",
             4: "Kiosk Mark Serif", 6: MARK_FONT_NAME}
    for rec in font["name"].names:
        if rec.nameID in names:
            rec.string = names[rec.nameID]
    buf = io.BytesIO()
    font.save(buf)
    return buf.getvalue()


@dataclass(frozen=True)
class _MarkFontFactory(GlyphAccumulatorFactory):
    """pyHanko font engine factory serving :func:`mark_font_program` from memory."""

    font_file: str = MARK_FONT_NAME

    def create_font_engine(self, writer: Any, obj_stream: Any = None) -> GlyphAccumulator:
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(writer=writer, font_handle=io.BytesIO(mark_font_program()),
                                font_size=self.font_size, obj_stream=obj_stream)


@cache
def _text_width_pt(text: str) -> float:
    from PIL import ImageFont

    f = ImageFont.truetype(io.BytesIO(mark_font_program()), 1000)
    return float(f.getlength(text)) * MARK_FONT_PT / 1000.0


def mark_lines(cfg: Config, when: datetime) -> list[str]:
    """The text of the visible mark (R11): copy type, agency name, signing time."""
    return [cfg.signing.copy_type, cfg.terminal.agency_name, iso(when)]


def mark_box(page_w: float, page_h: float, lines: list[str]) -> tuple[int, int, int, int]:
    """Box (x1, y1, x2, y2) in points for the mark, top right of the page, sized so the text fits at
    10 pt without scaling."""
    width = max(_text_width_pt(t) for t in lines) + 2 * MARK_PAD + 2
    height = MARK_LEADING * len(lines) + 2 * MARK_PAD + 2
    x2 = page_w - MARK_MARGIN_PT
    y2 = page_h - MARK_MARGIN_PT
    x1 = max(0.0, x2 - width)
    y1 = max(0.0, y2 - height)
    return int(x1), int(y1), int(x2 + 0.999), int(y2 + 0.999)


def _stamp_style(n_lines: int, width: float, height: float) -> TextStampStyle:
    text = "\n".join(f"%(line{i})s" for i in range(n_lines))
    white = content.RawContent(b"1 1 1 rg 0 0 %.2f %.2f re f" % (width, height),
                               box=layout.BoxConstraints(width=width, height=height))
    return TextStampStyle(
        stamp_text=text,
        text_box_style=TextBoxStyle(font=_MarkFontFactory(font_size=MARK_FONT_PT),
                                    font_size=MARK_FONT_PT, leading=MARK_LEADING, text_color=(0, 0, 0),
                                    box_layout_rule=layout.SimpleBoxLayoutRule(
                                        x_align=layout.AxisAlignment.ALIGN_MIN,
                                        y_align=layout.AxisAlignment.ALIGN_MIN,
                                        margins=layout.Margins.uniform(0),
                                        inner_content_scaling=layout.InnerScaling.NO_SCALING)),
        inner_content_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MID,
            margins=layout.Margins.uniform(MARK_PAD), inner_content_scaling=layout.InnerScaling.NO_SCALING),
        border_width=1,
        border_color=(0, 0, 0),
        background=white,
        background_layout=layout.SimpleBoxLayoutRule(
            x_align=layout.AxisAlignment.ALIGN_MIN, y_align=layout.AxisAlignment.ALIGN_MIN,
            margins=layout.Margins.uniform(0), inner_content_scaling=layout.InnerScaling.NO_SCALING),
        background_opacity=1.0,
    )


async def _sign(pdf_signer: signers.PdfSigner, writer: IncrementalPdfFileWriter, when: datetime,
                text_params: dict[str, str] | None) -> bytes:
    """pyHanko's ``async_sign_pdf`` with the signing time fixed to ``when`` (so that the visible mark,
    /M and the CMS agree to the second)."""
    session: PdfSigningSession = pdf_signer.init_signing_session(writer)
    session.system_time = when
    validation_info = await session.perform_presign_validation(writer)
    reserved = await session.estimate_signature_container_size(validation_info, tight=False)
    tbs = session.prepare_tbs_document(validation_info=validation_info, bytes_reserved=reserved,
                                       appearance_text_params=text_params)
    prepared, output = tbs.digest_tbs_document(output=io.BytesIO(), in_place=False)
    post = await tbs.perform_signature(
        document_digest=prepared.document_digest,
        pdf_cms_signed_attrs=PdfCMSSignedAttributes(signing_time=when),
    )
    await post.post_signature_processing(output)
    output.seek(0)
    return output.read()


class _PdfA2Writer(IncrementalPdfFileWriter):
    """An incremental writer that keeps a PDF/A-2 document PDF/A-2.

    - It leaves the XMP alone. pyHanko 0.38 otherwise parses and re-serialises it in every update
      (bumping ModifyDate and Producer): it renames the ``kd`` prefix (``ns27:...``) and restructures the
      PDF/A extension schema (``pdfaSchema:namespaceURI`` as ``rdf:resource``), which PDF/A validators
      reject. A signature needs no metadata update; there is no Info dictionary to disagree.
    - It keeps the document at PDF 1.7, the base of PDF/A-2. With an ECDSA key pyHanko would declare
      PDF 2.0 (catalog /Version, ISO/TS 32002 developer extension); ECDSA PAdES signatures are valid in
      PDF 1.7 documents (ETSI EN 319 142-1), and pdfsig and pyHanko verify them there."""

    def _update_meta(self) -> None:
        return None

    def ensure_output_version(self, version: tuple[int, int]) -> None:
        super().ensure_output_version(min(tuple(version), (1, 7)))

    def register_extension(self, ext: Any) -> None:
        if str(ext.base_version) == "/2.0":
            return
        super().register_extension(ext)


def _first_page_size(writer: IncrementalPdfFileWriter) -> tuple[float, float]:
    page = writer.root["/Pages"]
    while "/Kids" in page:
        page = page["/Kids"][0]
    x0, y0, x1, y1 = (float(v) for v in page["/MediaBox"])
    return x1 - x0, y1 - y0


def seal(data: bytes, cfg: Config, signer: Signer, *, when: datetime | None = None) -> SignResult:
    """Seal a PDF with the device identity (certification signature with the R11 mark)."""
    when = when or now_vn()
    writer = _PdfA2Writer(io.BytesIO(data))
    page_w, page_h = _first_page_size(writer)
    lines = mark_lines(cfg, when)
    box = mark_box(page_w, page_h, lines)
    style = _stamp_style(len(lines), box[2] - box[0], box[3] - box[1])
    tsa = timestamper_for(cfg)
    meta = signers.PdfSignatureMetadata(
        field_name=SEAL_FIELD, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
        certify=True, docmdp_permissions=fields.MDPPerm.FILL_FORMS, location=cfg.terminal.agency_name,
        reason=cfg.signing.copy_type,
    )
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=tsa, stamp_style=style,
                                   new_field_spec=fields.SigFieldSpec(SEAL_FIELD, on_page=0, box=box))
    params = {f"line{i}": t for i, t in enumerate(lines)}
    out = run_sync(_sign(pdf_signer, writer, when, params))
    return SignResult(out, SEAL_FIELD, when, "B-T" if tsa else "B-B")


def _next_staff_field(data: bytes) -> str:
    reader = PdfFileReader(io.BytesIO(data))
    names = {s.field_name for s in reader.embedded_signatures}
    name, n = STAFF_FIELD, 1
    while name in names:
        n += 1
        name = f"{STAFF_FIELD}-{n}"
    return name


def countersign_bytes(data: bytes, cfg: Config, signer: Signer, *, when: datetime | None = None
                      ) -> SignResult:
    """Add the staff countersignature (approval, invisible) as an incremental update."""
    when = when or now_vn()
    name = _next_staff_field(data)
    writer = _PdfA2Writer(io.BytesIO(data))
    tsa = timestamper_for(cfg)
    meta = signers.PdfSignatureMetadata(field_name=name, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES,
                                        location=cfg.terminal.agency_name)
    pdf_signer = signers.PdfSigner(meta, signer, timestamper=tsa,
                                   new_field_spec=fields.SigFieldSpec(name, on_page=0))
    out = run_sync(_sign(pdf_signer, writer, when, None))
    return SignResult(out, name, when, "B-T" if tsa else "B-B")


# --------------------------------------------------------------------------------------- validation
@dataclass(frozen=True)
class SignatureCheck:
    field_name: str
    signer_subject: str
    intact: bool
    valid: bool
    trusted: bool
    covers_whole_file: bool
    modifications_ok: bool
    timestamp_ok: bool | None   # None: no signature time-stamp
    signed_at: str | None

    @property
    def ok(self) -> bool:
        return (self.intact and self.valid and self.trusted and self.modifications_ok
                and self.timestamp_ok is not False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field_name, "signer": self.signer_subject, "intact": self.intact,
            "valid": self.valid, "trusted": self.trusted, "covers_whole_file": self.covers_whole_file,
            "modifications_ok": self.modifications_ok, "timestamp_ok": self.timestamp_ok,
            "signed_at": self.signed_at,
        }


def validate_signatures(data: bytes, trust_roots: list[x509.Certificate]) -> list[SignatureCheck]:
    """Validate every signature in the PDF, oldest first."""
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    out: list[SignatureCheck] = []
    for sig in reader.embedded_regular_signatures:
        vc = ValidationContext(trust_roots=[to_asn1(c) for c in trust_roots], allow_fetching=False)
        try:
            st = run_sync(async_validate_pdf_signature(sig, signer_validation_context=vc,
                                                       ts_validation_context=vc))
        except (SignatureValidationError, ValueError) as exc:
            out.append(SignatureCheck(sig.field_name, f"error: {type(exc).__name__}", False, False, False,
                                      False, False, None, None))
            continue
        level = st.modification_level
        mods_ok = bool(st.docmdp_ok is not False
                       and (level is None or level <= ModificationLevel.FORM_FILLING))
        ts_ok = None
        if st.timestamp_validity is not None:
            ts_ok = bool(st.timestamp_validity.intact and st.timestamp_validity.valid
                         and st.timestamp_validity.trusted)
        subject = st.signing_cert.subject.human_friendly if st.signing_cert is not None else ""
        out.append(SignatureCheck(
            field_name=sig.field_name, signer_subject=subject, intact=bool(st.intact), valid=bool(st.valid),
            trusted=bool(st.trusted), covers_whole_file=st.coverage == SignatureCoverageLevel.ENTIRE_FILE,
            modifications_ok=mods_ok, timestamp_ok=ts_ok,
            signed_at=st.signer_reported_dt.isoformat() if st.signer_reported_dt else None,
        ))
    return out
