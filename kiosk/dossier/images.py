"""Page images for the PDF: 24-bit RGB, compression chosen per page and recorded (R8).

The choice, per page image file:

- **JPEG, 3-component (RGB/YCbCr), 8 bit** -> embedded as is (``DCTDecode``, ``jpeg_passthrough``): it is
  lossy already, re-encoding would only lose more. The quality is estimated from the quantisation tables
  (IJG scale) and recorded with the chroma subsampling.
- **PNG, 8-bit RGB, not interlaced** -> its compressed data is embedded as is (``FlateDecode`` with the PNG
  predictor, ``png_passthrough``, lossless) when it compresses to at most ``max_lossless_bpp`` bits per
  pixel, which clean document renders and scans do. A noisy camera image saved as PNG is much larger;
  it is encoded as JPEG (``jpeg_encode``) at ``jpeg_quality``.
- **Anything else** (grey, palette, alpha, 16 bit, CMYK, TIFF, ...) is converted to 8-bit RGB (R8 asks
  for at least 24-bit colour) and then treated like a PNG (lossless ``png_encode`` if it compresses
  well, else ``jpeg_encode``).

``PageImage.encoding`` is the record that goes into the XMP and the manifest. EXIF orientation is not
applied: page images come upright from the vision pipeline, and the OCR boxes refer to the pixels as
stored.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, JpegImagePlugin

# Annex K luminance table (natural order; the estimate below is order-independent).
_STD_LUMA = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
]
_SUBSAMPLING = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


@dataclass(frozen=True)
class EncodingPolicy:
    jpeg_quality: int = 85            # for images that are encoded as JPEG here
    jpeg_subsampling: str = "4:2:0"
    max_lossless_bpp: float = 3.0     # above this a PNG is treated as a photo and JPEG-encoded
    png_compress_level: int = 6


@dataclass(frozen=True)
class PageImage:
    """Image data ready for a PDF image XObject (always DeviceRGB, 8 bits per component)."""

    width: int
    height: int
    data: bytes
    filter: str                      # "/DCTDecode" or "/FlateDecode"
    decode_parms: dict[str, int] | None
    encoding: dict[str, Any]         # what was done, for the XMP and the manifest


def jpeg_quality_estimate(qtables: dict[int, Any]) -> int | None:
    """IJG quality (1..100) that would produce the luminance table, estimated from its sum."""
    luma = qtables.get(0)
    if luma is None or len(luma) != 64:
        return None
    scale = 100.0 * sum(int(v) for v in luma) / sum(_STD_LUMA)
    q = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return max(1, min(100, round(q)))


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    pos, out = 8, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        out.append((ctype, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return out


def _png_passthrough(data: bytes) -> tuple[int, int, bytes] | None:
    """(width, height, zlib data) of an 8-bit RGB non-interlaced PNG, else None."""
    chunks = _png_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR":
        return None
    w, h, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or ctype != 2 or interlace != 0:
        return None
    idat = b"".join(d for t, d in chunks if t == b"IDAT")
    return w, h, idat


def _flate(w: int, h: int, idat: bytes, method: str, source: dict[str, Any]) -> PageImage:
    return PageImage(
        w, h, idat, "/FlateDecode",
        {"Predictor": 15, "Colors": 3, "BitsPerComponent": 8, "Columns": w},
        {**source, "filter": "FlateDecode", "method": method, "lossless": True,
         "jpeg_quality": None, "subsampling": None, "bits_per_pixel": round(len(idat) * 8 / (w * h), 3)},
    )


def _jpeg_encode(im: Image.Image, policy: EncodingPolicy, source: dict[str, Any]) -> PageImage:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=policy.jpeg_quality, subsampling=policy.jpeg_subsampling, optimize=True)
    data = buf.getvalue()
    return PageImage(im.width, im.height, data, "/DCTDecode", None,
                     {**source, "filter": "DCTDecode", "method": "jpeg_encode", "lossless": False,
                      "jpeg_quality": policy.jpeg_quality, "subsampling": policy.jpeg_subsampling,
                      "bits_per_pixel": round(len(data) * 8 / (im.width * im.height), 3)})


def _to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB; transparent areas become white paper, not black."""
    if im.mode == "RGB":
        return im.copy()
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def load_page_image(path: Path, policy: EncodingPolicy | None = None) -> PageImage:
    """Read a page image file and prepare it for the PDF according to ``policy``."""
    policy = policy or EncodingPolicy()
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        fmt = (im.format or "").upper()
        source = {"source_format": fmt or "unknown", "source_mode": im.mode}
        if fmt == "JPEG" and im.mode in ("RGB", "YCbCr") and getattr(im, "layers", 0) == 3:
            q = jpeg_quality_estimate(getattr(im, "quantization", {}) or {})
            sub = _SUBSAMPLING.get(JpegImagePlugin.get_sampling(im))
            return PageImage(im.width, im.height, raw, "/DCTDecode", None,
                             {**source, "filter": "DCTDecode", "method": "jpeg_passthrough",
                              "lossless": False, "jpeg_quality": q, "subsampling": sub,
                              "bits_per_pixel": round(len(raw) * 8 / (im.width * im.height), 3)})
        if fmt == "PNG":
            passthrough = _png_passthrough(raw)
            if passthrough is not None:
                w, h, idat = passthrough
                if len(idat) * 8 / (w * h) <= policy.max_lossless_bpp:
                    return _flate(w, h, idat, "png_passthrough", source)
                return _jpeg_encode(im.convert("RGB"), policy, source)
        rgb = _to_rgb(im)
    buf = io.BytesIO()
    rgb.save(buf, "PNG", compress_level=policy.png_compress_level)
    converted = _png_passthrough(buf.getvalue())
    assert converted is not None
    w, h, idat = converted
    if len(idat) * 8 / (w * h) <= policy.max_lossless_bpp:
        return _flate(w, h, idat, "png_encode", source)
    return _jpeg_encode(rgb, policy, source)
