"""An sRGB ICC profile (version 2.1, matrix/TRC) for the PDF/A OutputIntent, generated here.

Generating it avoids shipping a third-party profile file with its own licence terms. The content is the
standard sRGB definition (IEC 61966-2-1): Bradford-adapted (D50) colorants and the sRGB tone curve
sampled at 1024 points. Version 2.1 is accepted by every PDF/A part. The bytes are deterministic.
"""

from __future__ import annotations

import struct
from functools import cache

DESCRIPTION = "sRGB IEC61966-2.1"
OUTPUT_CONDITION = "sRGB IEC61966-2.1"

_D50 = (0.9642, 1.0, 0.8249)
_RXYZ = (0.4360747, 0.2225045, 0.0139322)
_GXYZ = (0.3850649, 0.7168786, 0.0971045)
_BXYZ = (0.1430804, 0.0606169, 0.7141733)


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(v: tuple[float, float, float]) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15f16(c) for c in v)


def _srgb_eotf(x: float) -> float:
    return x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4


def _curve(n: int = 1024) -> bytes:
    vals = [round(_srgb_eotf(i / (n - 1)) * 65535) for i in range(n)]
    return b"curv" + b"\0" * 4 + struct.pack(">I", n) + struct.pack(f">{n}H", *vals)


def _desc(text: str) -> bytes:
    ascii_ = text.encode("ascii") + b"\0"
    return (b"desc" + b"\0" * 4 + struct.pack(">I", len(ascii_)) + ascii_
            + struct.pack(">II", 0, 0)          # Unicode language code and count
            + struct.pack(">HB", 0, 0)          # ScriptCode code and count
            + b"\0" * 67)


def _text(text: str) -> bytes:
    return b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"


@cache
def srgb_profile() -> bytes:
    """The profile bytes."""
    curve = _curve()
    tags: list[tuple[bytes, bytes]] = [
        (b"desc", _desc(DESCRIPTION)),
        (b"cprt", _text("No copyright, use freely")),
        (b"wtpt", _xyz(_D50)),
        (b"rXYZ", _xyz(_RXYZ)),
        (b"gXYZ", _xyz(_GXYZ)),
        (b"bXYZ", _xyz(_BXYZ)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_len = 4 + 12 * len(tags)
    offset = 128 + table_len
    entries: list[bytes] = []
    blobs: list[bytes] = []
    placed: dict[bytes, int] = {}
    for sig, data in tags:
        if data in placed:  # the three TRCs share one curve
            entries.append(sig + struct.pack(">II", placed[data], len(data)))
            continue
        pad = (-offset) % 4
        blobs.append(b"\0" * pad)
        offset += pad
        placed[data] = offset
        entries.append(sig + struct.pack(">II", offset, len(data)))
        blobs.append(data)
        offset += len(data)
    body = struct.pack(">I", len(tags)) + b"".join(entries) + b"".join(blobs)
    size = 128 + len(body)
    header = (
        struct.pack(">I", size) + b"\0" * 4 + bytes([2, 0x10, 0, 0])   # size, CMM, version 2.1
        + b"mntr" + b"RGB " + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)                     # creation date, fixed
        + b"acsp" + b"\0" * 4 + b"\0" * 4 + b"\0" * 4 + b"\0" * 4     # platform, flags, maker, model
        + b"\0" * 8 + struct.pack(">I", 0)                             # attributes, intent
        + b"".join(_s15f16(c) for c in _D50) + b"\0" * 4               # illuminant, creator
        + b"\0" * 44
    )
    assert len(header) == 128
    return header + body
