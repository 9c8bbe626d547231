"""Make the demo's sample camera stills (kiosk/data/samples/camera/): photos of the papers of a birth
registration, taken by a 3840x2160 document camera, as the simulated camera plays them.

The pages are rendered with ``kiosk.synth.page`` (fictitious people, marked as specimens) and placed in a
camera frame with ``kiosk.synth.camera``. The first photo is deliberately blurred: the demo shows that
it is rejected with a reason. Deterministic: the same files come out on every run.

    .venv/bin/python scripts/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kiosk.synth.camera import make_frame
from kiosk.synth.page import render_page

OUT = Path(__file__).resolve().parents[1] / "kiosk" / "data" / "samples" / "camera"
STILL = (3840, 2160)

TO_KHAI = [
    "Kính gửi: Ủy ban nhân dân xã Mẫu, tỉnh Mẫu",
    "Họ, chữ đệm, tên người yêu cầu: NGUYỄN VĂN MẬU",
    "Nơi cư trú: Số 12, đường Lê Lợi, xã Mẫu, tỉnh Mẫu",
    "Giấy tờ tùy thân: Căn cước số 001090012345",
    "Quan hệ với người được khai sinh: Cha",
    "Đề nghị cơ quan đăng ký khai sinh cho người dưới đây:",
    "Họ, chữ đệm, tên: NGUYỄN MINH AN",
    "Ngày, tháng, năm sinh: 02/10/2026",
    "Giới tính: Nam. Dân tộc: Kinh. Quốc tịch: Việt Nam",
    "Nơi sinh: Trạm Y tế xã Mẫu, tỉnh Mẫu",
    "Quê quán: xã Mẫu, tỉnh Mẫu",
    "Họ, chữ đệm, tên người mẹ: TRẦN THỊ HOA",
    "Họ, chữ đệm, tên người cha: NGUYỄN VĂN MẬU",
    "Tôi cam đoan nội dung đề nghị đăng ký khai sinh trên đây là đúng sự thật và chịu trách nhiệm trước "
    "pháp luật về cam đoan của mình.",
    "Làm tại: xã Mẫu, ngày 20 tháng 11 năm 2026",
    "MẪU - SPECIMEN",
]

GIAY_CHUNG_SINH = [
    "Trạm Y tế xã Mẫu, tỉnh Mẫu",
    "Họ và tên mẹ: TRẦN THỊ HOA",
    "Năm sinh: 1992. Dân tộc: Kinh",
    "Nơi đăng ký thường trú: Số 12, đường Lê Lợi, xã Mẫu, tỉnh Mẫu",
    "Đã sinh con vào lúc: 08 giờ 30 phút, ngày 02 tháng 10 năm 2026",
    "Tại: Trạm Y tế xã Mẫu",
    "Số con trong lần sinh: 01. Giới tính của con: Nam",
    "Cân nặng: 3.200 gam",
    "Dự định đặt tên con: NGUYỄN MINH AN",
    "Ngày 02 tháng 10 năm 2026",
    "MẪU - SPECIMEN",
]


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
    form = page("TỜ KHAI ĐĂNG KÝ KHAI SINH", TO_KHAI)
    shots = [
        ("01_to_khai_mat_truoc_bi_mo.jpg", form, "blur", 11),
        ("02_to_khai_mat_truoc.jpg", form, None, 11),
        ("03_to_khai_mat_sau_trang.jpg", page(None, None), None, 12),
        ("04_giay_chung_sinh.jpg", page("GIẤY CHỨNG SINH", GIAY_CHUNG_SINH), None, 13),
    ]
    for name, img, defect, seed in shots:
        f = make_frame(size=STILL, still_size=STILL, page=img, defect=defect, seed=seed, coverage=0.62,
                       tilt=0.06, soft_shadow=False, background_kind="desk", noise_sigma=1.5)
        path = OUT / name
        cv2.imwrite(str(path), f.image, [cv2.IMWRITE_JPEG_QUALITY, 85, cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        print(path.name, f.label, path.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
