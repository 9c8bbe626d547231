"""Make the demo's sample camera stills (kiosk/data/samples/camera/): photos of the papers of a birth
registration, taken by a 3840x2160 document camera, as the simulated camera plays them.

The papers are rendered with ``kiosk.synth.papers`` (a filled birth-registration declaration and a
certificate; fictitious people) and placed in a
camera frame with ``kiosk.synth.camera``. The first photo is deliberately blurred: the demo shows that
it is rejected with a reason. Deterministic: the same files come out on every run.

    .venv/bin/python scripts/make_samples.py
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np

from kiosk.synth.camera import make_frame
from kiosk.synth.page import render_page
from kiosk.synth.papers import render_certificate, render_form

OUT = Path(__file__).resolve().parents[1] / "kiosk" / "data" / "samples" / "camera"
STILL = (3840, 2160)

# The birth-registration declaration (form TK-KS, kiosk/data/forms) filled in by the specimen citizen of
# the simulated ID reader (NGUYỄN VĂN MẬU, 001090012345) for his child.
TK_KS_VALUES = {
    "authority": "Ủy ban nhân dân xã Mẫu",
    "requester_name": "NGUYỄN VĂN MẬU",
    "requester_birth_date": "15/01/1990",
    "requester_residence": "Số 12 đường Lê Lợi, xã Mẫu, tỉnh Mẫu",
    "requester_id": "001090012345",
    "relationship": "Cha",
    "child_name": "NGUYỄN MINH AN",
    "child_birth_date": "02/10/2026",
    "child_birth_date_words": "Hai tháng mười năm hai nghìn không trăm hai mươi sáu",
    "child_sex": "Nam",
    "child_ethnicity": "Kinh",
    "child_nationality": "Việt Nam",
    "child_birthplace": "Trạm Y tế xã Mẫu, tỉnh Mẫu",
    "child_hometown": "xã Mẫu, tỉnh Mẫu",
    "mother_name": "TRẦN THỊ HOA",
    "mother_birth": "20/04/1992",
    "mother_ethnicity": "Kinh",
    "mother_nationality": "Việt Nam",
    "mother_residence": "Số 12 đường Lê Lợi, xã Mẫu, tỉnh Mẫu",
    "mother_id": "001192004567",
    "father_name": "NGUYỄN VĂN MẬU",
    "father_birth": "15/01/1990",
    "father_ethnicity": "Kinh",
    "father_nationality": "Việt Nam",
    "father_residence": "Số 12 đường Lê Lợi, xã Mẫu, tỉnh Mẫu",
    "father_id": "001090012345",
}

def page(heading: str | None, lines: list[str] | None) -> np.ndarray:
    if lines is None:  # a blank back side: paper tone with a little texture
        img = render_page([], None, dpi=300, seed=7).image
        arr = np.asarray(img).astype(np.int16)
        rng = np.random.default_rng(7)
        arr += rng.normal(0, 2.0, arr.shape).astype(np.int16)
        return cv2.cvtColor(np.clip(arr, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    rendered = render_page(lines, heading, dpi=300, font_pt=12.5)
    return cv2.cvtColor(np.asarray(rendered.image), cv2.COLOR_RGB2BGR)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    form = render_form("TK-KS", TK_KS_VALUES, dpi=300, crop=False).image
    shots = [
        ("01_to_khai_mat_truoc_bi_mo.jpg", form, "blur", 11),
        ("02_to_khai_mat_truoc.jpg", form, None, 11),
        ("03_to_khai_mat_sau_trang.jpg", page(None, None), None, 12),
        ("04_giay_chung_sinh.jpg", render_certificate(random.Random(0), dpi=300), None, 13),
    ]
    for name, img, defect, seed in shots:
        f = make_frame(size=STILL, still_size=STILL, page=img, defect=defect, seed=seed, coverage=0.62,
                       tilt=0.06, soft_shadow=False, background_kind="desk", noise_sigma=1.5)
        path = OUT / name
        cv2.imwrite(str(path), f.image, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        print(path.name, f.label, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
