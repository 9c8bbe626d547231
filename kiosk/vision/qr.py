"""QR codes in camera frames or card images, decoded with zxing-cpp.

OpenCV's default ``QRCodeDetector`` misses some valid codes depending on the mask pattern the encoder
chose (TOOLCHAIN.md), so it is not used. The CCCD QR holds UTF-8 text in byte mode without an ECI
header; zxing-cpp has to guess the character set of such a segment, so the raw bytes are decoded as
UTF-8 here and zxing's own text is only used when the bytes are not valid UTF-8.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path

import cv2
import numpy as np
import zxingcpp

from kiosk.errors import KioskError

log = logging.getLogger("kiosk.vision.qr")
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def _as_zxing_input(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"decode_qr needs an 8-bit image, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3):
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise ValueError(f"decode_qr needs a grey or BGR image, got shape {image.shape}")


def decode_qr(image: np.ndarray) -> list[str]:
    """The text payloads (NFC) of every QR code found in a grey, BGR or BGRA ``uint8`` image, in the
    order zxing-cpp reports them. An empty list when there is none."""
    barcodes = zxingcpp.read_barcodes(_as_zxing_input(image), formats=_QR)
    out: list[str] = []
    for b in barcodes:
        try:
            text = bytes(b.bytes).decode("utf-8")
        except UnicodeDecodeError:
            text = b.text
        out.append(unicodedata.normalize("NFC", text))
    log.debug("qr decode", extra={"found": len(out)})
    return out


def read_image(path: str | Path) -> np.ndarray:
    """Load an image file as BGR (works for any path, JPEG or PNG); KioskError if it cannot be read."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        raise KioskError("id.image_unreadable", file=str(path)) from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise KioskError("id.image_unreadable", file=str(path))
    return image
