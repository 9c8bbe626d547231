"""XMP metadata of a paper's PDF: PDF/A identification, Dublin Core, and the kiosk's own namespace.

The kiosk namespace (prefix ``kd``, URI :data:`KD_NS`) carries the R9 metadata, the storage code (R10),
and per page: sheet, side, variant, resolution, blank flags, quality scores (R13), capture time and device,
and the compression used. PDF/A requires every property outside the predefined schemas to be described
in the packet itself; :func:`build_xmp` writes that ``pdfaExtension`` description from the same table
(:data:`KD_PROPERTIES`, :data:`KD_TYPES`) that drives the values, so the two cannot drift apart.
``docs/package.md`` documents the namespace.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from kiosk.timeutil import iso

KD_NS = "https://kiosk.invalid/ns/dossier/1.0/"
KD_PAGE_NS = KD_NS + "page/"
KD_SCORE_NS = KD_NS + "score/"
KD_FIELD_NS = KD_NS + "field/"
KD_SCHEMA_VERSION = 1

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PDFAID = "http://www.aiim.org/pdfa/ns/id/"
NS = {
    "x": "adobe:ns:meta/",
    "rdf": RDF,
    "pdfaid": PDFAID,
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#",
    "pdfaType": "http://www.aiim.org/pdfa/ns/type#",
    "pdfaField": "http://www.aiim.org/pdfa/ns/field#",
    "kd": KD_NS,
    "kdPage": KD_PAGE_NS,
    "kdScore": KD_SCORE_NS,
    "kdField": KD_FIELD_NS,
}

# (XMP name, value type, record key, description) of the paper-level properties.
KD_PROPERTIES: list[tuple[str, str, str, str]] = [
    ("schemaVersion", "Integer", "schema_version", "Version of this namespace's content (1)."),
    ("storageCode", "Text", "storage_code", "Storage code <holder identifier>.<paper-type code> (R10)."),
    ("componentId", "Text", "component_id", "Dossier component (thành phần hồ sơ) of the procedure."),
    ("digitisationClass", "Text", "digitisation_class",
     "Why the paper is digitised: earlier_result, specialised_law, management_decision, on_request."),
    ("terminalId", "Text", "terminal_id", "Kiosk that digitised the paper."),
    ("paperTypeCode", "Text", "paper_type_code", "R9 (1) paper-type code."),
    ("paperName", "Text", "paper_name", "R9 (3) paper name."),
    ("holderId", "Text", "holder_id", "R9 (2) identifier of the person or organisation."),
    ("holderName", "Text", "holder_name", "R9 (2) full name, when there is no identifier."),
    ("holderBirthYear", "Integer", "holder_birth_year", "R9 (2) year of birth, when there is no identifier."),
    ("issueDate", "Date", "issue_date", "R9 (2) date of issue."),
    ("issuingAuthority", "Text", "issuing_authority", "R9 (2) issuing authority."),
    ("summary", "Text", "summary", "R9 (4) summary of content (trích yếu)."),
    ("validFrom", "Date", "valid_from", "R9 (5) start of validity."),
    ("validUntil", "Date", "valid_until", "R9 (5) end of validity."),
    ("validityScope", "Text", "validity_scope", "R9 (6) validity scope."),
    ("extraFields", "Bag Field", "extra", "Specialised fields (chassis number, certificate number, ...)."),
    ("declaredSheets", "Integer", "declared_sheets", "Number of sheets declared for the paper."),
    ("pageCount", "Integer", "page_count", "Number of pages in this PDF."),
    ("pages", "Seq Page", "pages", "The pages of this PDF, in order."),
    ("omittedPages", "Seq Page", "omitted_pages",
     "Captures left out of the PDF: confirmed blank backs when every sheet's back is blank (R6)."),
]

# Custom value types: name -> (namespace, prefix, description, [(field, value type, record key, doc)]).
KD_TYPES: dict[str, tuple[str, str, str, list[tuple[str, str, str, str]]]] = {
    "Page": (KD_PAGE_NS, "kdPage", "One captured image of one side of one sheet.", [
        ("index", "Integer", "index", "1-based page number in the PDF (absent for omitted captures)."),
        ("sheet", "Integer", "sheet", "1-based sheet number within the paper."),
        ("side", "Text", "side", "front or back."),
        ("variant", "Text", "variant", "normal, with_note or without_note (sticky note, R6)."),
        ("dpi", "Real", "dpi", "Effective resolution of the page image (R8)."),
        ("widthPx", "Integer", "width_px", "Image width in pixels."),
        ("heightPx", "Integer", "height_px", "Image height in pixels."),
        ("blank", "Boolean", "blank", "Detected as blank."),
        ("blankConfirmed", "Boolean", "blank_confirmed", "The citizen confirmed it is blank."),
        ("capturedAt", "Date", "captured_at", "Capture time (Vietnam time)."),
        ("device", "Text", "device", "Capture device."),
        ("quality", "Bag Score", "quality", "Image-quality scores (R13)."),
        ("compression", "Text", "compression.filter", "PDF image filter: DCTDecode or FlateDecode."),
        ("compressionMethod", "Text", "compression.method",
         "jpeg_passthrough, jpeg_encode, png_passthrough or png_encode."),
        ("lossless", "Boolean", "compression.lossless", "Whether the embedded image is lossless."),
        ("jpegQuality", "Integer", "compression.jpeg_quality", "JPEG quality (estimated for passthrough)."),
        ("subsampling", "Text", "compression.subsampling", "JPEG chroma subsampling."),
        ("sourceFormat", "Text", "compression.source_format", "Format of the captured image file."),
        ("ocrWords", "Integer", "ocr_words", "Words in the invisible text layer."),
        ("ocrConfidence", "Real", "ocr_confidence", "Mean OCR word confidence, 0..100."),
    ]),
    "Score": (KD_SCORE_NS, "kdScore", "A named quality score.", [
        ("name", "Text", "name", "Score name."),
        ("value", "Real", "value", "Score value."),
    ]),
    "Field": (KD_FIELD_NS, "kdField", "A named specialised metadata field.", [
        ("name", "Text", "name", "Field name."),
        ("value", "Text", "value", "Field value."),
    ]),
}


def _lookup(record: dict[str, Any], key: str) -> Any:
    cur: Any = record
    for part in key.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _scalar(vtype: str, value: Any) -> str:
    if vtype == "Boolean":
        return "True" if value else "False"
    if vtype == "Date" and isinstance(value, datetime):
        return iso(value)
    return escape(str(value))


def _value(vtype: str, value: Any, indent: str) -> str | None:
    """The XML content of a property/field of type ``vtype`` (None: leave the property out)."""
    if value is None:
        return None
    if vtype.startswith(("Seq ", "Bag ")):
        container, item_type = vtype.split(" ", 1)
        items: list[Any]
        if isinstance(value, dict):  # name -> value maps become Bag Score / Bag Field
            items = [{"name": k, "value": v} for k, v in value.items()]
        else:
            items = list(value)
        if not items:
            return None
        lis = []
        for item in items:
            if item_type in KD_TYPES:
                lis.append(f'{indent}  <rdf:li rdf:parseType="Resource">\n'
                           f'{_struct_fields(item_type, item, indent + "    ")}{indent}  </rdf:li>\n')
            else:
                lis.append(f"{indent}  <rdf:li>{_scalar(item_type, item)}</rdf:li>\n")
        return f"\n{indent}<rdf:{container}>\n{''.join(lis)}{indent}</rdf:{container}>\n{indent[:-2]}"
    return _scalar(vtype, value)


def _struct_fields(type_name: str, record: dict[str, Any], indent: str) -> str:
    _ns, prefix, _doc, fields = KD_TYPES[type_name]
    out = []
    for name, vtype, key, _fdoc in fields:
        content = _value(vtype, _lookup(record, key), indent + "  ")
        if content is not None:
            out.append(f"{indent}<{prefix}:{name}>{content}</{prefix}:{name}>\n")
    return "".join(out)


def _extension_schema() -> str:
    def li(items: Iterable[str]) -> str:
        return "".join(items)

    props = li(
        "        <rdf:li rdf:parseType=\"Resource\">"
        f"<pdfaProperty:name>{n}</pdfaProperty:name>"
        f"<pdfaProperty:valueType>{t}</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{escape(d)}</pdfaProperty:description></rdf:li>\n"
        for n, t, _k, d in KD_PROPERTIES)
    types = []
    for tname, (ns, prefix, tdoc, fields) in KD_TYPES.items():
        flds = li(
            "            <rdf:li rdf:parseType=\"Resource\">"
            f"<pdfaField:name>{n}</pdfaField:name><pdfaField:valueType>{t}</pdfaField:valueType>"
            f"<pdfaField:description>{escape(d)}</pdfaField:description></rdf:li>\n"
            for n, t, _k, d in fields)
        types.append(
            "        <rdf:li rdf:parseType=\"Resource\">\n"
            f"          <pdfaType:type>{tname}</pdfaType:type>\n"
            f"          <pdfaType:namespaceURI>{ns}</pdfaType:namespaceURI>\n"
            f"          <pdfaType:prefix>{prefix}</pdfaType:prefix>\n"
            f"          <pdfaType:description>{escape(tdoc)}</pdfaType:description>\n"
            f"          <pdfaType:field><rdf:Seq>\n{flds}          </rdf:Seq></pdfaType:field>\n"
            "        </rdf:li>\n")
    return (
        "  <rdf:Description rdf:about=\"\" "
        f"xmlns:pdfaExtension=\"{NS['pdfaExtension']}\" xmlns:pdfaSchema=\"{NS['pdfaSchema']}\" "
        f"xmlns:pdfaProperty=\"{NS['pdfaProperty']}\" xmlns:pdfaType=\"{NS['pdfaType']}\" "
        f"xmlns:pdfaField=\"{NS['pdfaField']}\">\n"
        "   <pdfaExtension:schemas><rdf:Bag>\n"
        "    <rdf:li rdf:parseType=\"Resource\">\n"
        "     <pdfaSchema:schema>One-stop kiosk digitised paper</pdfaSchema:schema>\n"
        f"     <pdfaSchema:namespaceURI>{KD_NS}</pdfaSchema:namespaceURI>\n"
        "     <pdfaSchema:prefix>kd</pdfaSchema:prefix>\n"
        f"     <pdfaSchema:property><rdf:Seq>\n{props}     </rdf:Seq></pdfaSchema:property>\n"
        f"     <pdfaSchema:valueType><rdf:Seq>\n{''.join(types)}     </rdf:Seq></pdfaSchema:valueType>\n"
        "    </rdf:li>\n"
        "   </rdf:Bag></pdfaExtension:schemas>\n"
        "  </rdf:Description>\n")


def build_xmp(record: dict[str, Any], *, title: str, created: datetime, producer: str, creator_tool: str,
              language: str = "vi") -> bytes:
    """The XMP packet for a paper. ``record`` holds the keys named in :data:`KD_PROPERTIES` (the R9
    record merged with storage code, pages, ...)."""
    when = iso(created)
    kd_props = []
    for name, vtype, key, _doc in KD_PROPERTIES:
        content = _value(vtype, _lookup(record, key), "    ")
        if content is not None:
            kd_props.append(f"   <kd:{name}>{content}</kd:{name}>\n")
    summary = record.get("summary") or ""
    description = (f"   <dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">{escape(summary)}</rdf:li>"
                   "</rdf:Alt></dc:description>\n") if summary else ""
    xml = (
        "<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
        "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
        f" <rdf:RDF xmlns:rdf=\"{RDF}\">\n"
        f"  <rdf:Description rdf:about=\"\" xmlns:pdfaid=\"{PDFAID}\">\n"
        "   <pdfaid:part>2</pdfaid:part>\n"
        "   <pdfaid:conformance>B</pdfaid:conformance>\n"
        "  </rdf:Description>\n"
        f"  <rdf:Description rdf:about=\"\" xmlns:dc=\"{NS['dc']}\">\n"
        "   <dc:format>application/pdf</dc:format>\n"
        "   <dc:title><rdf:Alt>"
        f"<rdf:li xml:lang=\"x-default\">{escape(title)}</rdf:li></rdf:Alt></dc:title>\n"
        f"{description}"
        f"   <dc:identifier>{escape(str(record.get('storage_code') or ''))}</dc:identifier>\n"
        f"   <dc:language><rdf:Bag><rdf:li>{escape(language)}</rdf:li></rdf:Bag></dc:language>\n"
        "  </rdf:Description>\n"
        f"  <rdf:Description rdf:about=\"\" xmlns:xmp=\"{NS['xmp']}\">\n"
        f"   <xmp:CreateDate>{when}</xmp:CreateDate>\n"
        f"   <xmp:ModifyDate>{when}</xmp:ModifyDate>\n"
        f"   <xmp:MetadataDate>{when}</xmp:MetadataDate>\n"
        f"   <xmp:CreatorTool>{escape(creator_tool)}</xmp:CreatorTool>\n"
        "  </rdf:Description>\n"
        f"  <rdf:Description rdf:about=\"\" xmlns:pdf=\"{NS['pdf']}\">\n"
        f"   <pdf:Producer>{escape(producer)}</pdf:Producer>\n"
        "  </rdf:Description>\n"
        f"{_extension_schema()}"
        f"  <rdf:Description rdf:about=\"\" xmlns:kd=\"{KD_NS}\" xmlns:kdPage=\"{KD_PAGE_NS}\" "
        f"xmlns:kdScore=\"{KD_SCORE_NS}\" xmlns:kdField=\"{KD_FIELD_NS}\">\n"
        f"{''.join(kd_props)}"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        "<?xpacket end=\"w\"?>"
    )
    ET.fromstring(xml.split("?>", 1)[1].rsplit("<?xpacket", 1)[0])  # well-formed or raise
    return xml.encode("utf-8")


# ------------------------------------------------------------------------------------------- reading
def _text(el: ET.Element | None) -> str | None:
    return None if el is None else (el.text or "").strip()


def read_xmp(data: bytes) -> dict[str, Any]:
    """The parts of an XMP packet the verifier checks: PDF/A part and conformance, the kd properties with
    simple values (as text), the number of kd pages, and the namespaces described by extension schemas.
    Properties may be written as elements or as attributes (both are valid RDF/XML)."""
    start = data.find(b"<x:xmpmeta")
    end = data.rfind(b"</x:xmpmeta>")
    root = ET.fromstring(data[start:end + len(b"</x:xmpmeta>")] if start >= 0 and end > 0 else data)
    out: dict[str, Any] = {"pdfaid_part": None, "pdfaid_conformance": None, "kd": {}, "kd_pages": None,
                           "extension_namespaces": []}
    top = root.find(f"{{{RDF}}}RDF")
    for desc in (top if top is not None else root).findall(f"{{{RDF}}}Description"):
        props: list[tuple[str, str | None, ET.Element | None]] = [
            (k, v, None) for k, v in desc.attrib.items()]
        props += [(child.tag, _text(child), child) for child in desc]
        for tag, value, el in props:
            if tag == f"{{{PDFAID}}}part":
                out["pdfaid_part"] = value
            elif tag == f"{{{PDFAID}}}conformance":
                out["pdfaid_conformance"] = value
            elif tag.startswith(f"{{{KD_NS}}}"):
                name = tag.split("}", 1)[1]
                if name == "pages" and el is not None:
                    items = el.find(f"{{{RDF}}}Seq")
                    out["kd_pages"] = len(items.findall(f"{{{RDF}}}li")) if items is not None else 0
                elif el is None or len(el) == 0:
                    out["kd"][name] = value
    uri_tag = f"{{{NS['pdfaSchema']}}}namespaceURI"
    for el in root.iter():
        if el.tag == uri_tag:
            out["extension_namespaces"].append(_text(el) or el.attrib.get(f"{{{RDF}}}resource"))
        elif uri_tag in el.attrib:
            out["extension_namespaces"].append(el.attrib[uri_tag])
    return out
