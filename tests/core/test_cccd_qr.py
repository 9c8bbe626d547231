"""CCCD QR payloads: parsing and checks; QR codes generated here (byte mode, UTF-8), rendered onto a
card-like image, rotated, JPEG-compressed, then decoded with ``decode_qr``; and the ``kiosk id qr`` CLI."""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pytest
import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.util import MODE_8BIT_BYTE, QRData

from kiosk.cli import main
from kiosk.core.applicant import IdKind, IdSource
from kiosk.core.cccd_qr import parse_cccd_qr, to_party
from kiosk.core.identifiers import CausedKioskError
from kiosk.errors import KioskError
from kiosk.vision.qr import decode_qr

TODAY = date(2026, 11, 25)
ADDRESS = "Số 12 đường Trần Hưng Đạo, Phường Hàng Bài, Quận Hoàn Kiếm, Hà Nội"
PAYLOAD7 = f"001186004321|012345678|Nguyễn Thị Ánh Tuyết|07031986|Nữ|{ADDRESS}|15082021"
PAYLOAD6 = ("079204001122|Đặng Quốc Việt|29022004|Nam|Tổ 5, ấp Bình Đức, xã Bình Hưng, huyện Bình Chánh"
            "|01042021")


def _err(payload: str) -> KioskError:
    with pytest.raises(KioskError) as info:
        parse_cccd_qr(payload, today=TODAY)
    return info.value


def _with(payload: str, index: int, value: str) -> str:
    fields = payload.split("|")
    fields[index] = value
    return "|".join(fields)


# --- payloads -------------------------------------------------------------------------------------


def test_seven_and_six_fields() -> None:
    q = parse_cccd_qr(PAYLOAD7, today=TODAY)
    assert q.to_dict() == {"id": "001186004321", "old_id": "012345678", "name": "Nguyễn Thị Ánh Tuyết",
                           "dob": "1986-03-07", "sex": "Nữ", "address": ADDRESS, "issue_date": "2021-08-15"}
    q6 = parse_cccd_qr(PAYLOAD6, today=TODAY)
    assert (q6.id, q6.old_id, q6.name, q6.dob, q6.sex, q6.issue_date) == (
        "079204001122", "", "Đặng Quốc Việt", date(2004, 2, 29), "Nam", date(2021, 4, 1))
    assert parse_cccd_qr(_with(PAYLOAD7, 1, ""), today=TODAY).old_id == ""
    assert parse_cccd_qr(_with(PAYLOAD7, 1, "001086004321"), today=TODAY).old_id == "001086004321"
    # decomposed Unicode (NFD) from a scanner is accepted and returned in NFC
    q = parse_cccd_qr(unicodedata.normalize("NFD", PAYLOAD7), today=TODAY)
    assert q.sex == "Nữ" and q.name == "Nguyễn Thị Ánh Tuyết" and unicodedata.is_normalized("NFC", q.address)


def test_malformed_payloads_are_rejected_with_a_reason() -> None:
    assert _err("").key == "id.qr_empty"
    e = _err("001186004321|Nguyễn Thị Ánh Tuyết|07031986|Nữ|15082021")
    assert e.key == "id.qr_field_count" and e.params == {"got": 5}
    assert _err(PAYLOAD7 + "|x").params == {"got": 8}
    assert _err(_with(PAYLOAD7, 1, "01234567")).key == "id.qr_old_id"
    assert _err(_with(PAYLOAD7, 2, "")).key == "id.qr_name"
    assert _err(_with(PAYLOAD7, 2, "Nguyễn 3")).key == "id.qr_name"
    assert _err(_with(PAYLOAD7, 3, "1986-03-07")).key == "id.qr_dob"
    assert _err(_with(PAYLOAD7, 3, "30021986")).key == "id.qr_dob"
    assert _err(_with(PAYLOAD7, 4, "Female")).key == "id.qr_sex"
    assert _err(_with(PAYLOAD7, 5, " ")).key == "id.qr_address"
    assert _err(_with(PAYLOAD7, 6, "1582021")).key == "id.qr_issue_date"
    assert _err(_with(PAYLOAD7, 6, "01011980")).key == "id.qr_issue_date_range"
    assert _err(_with(PAYLOAD7, 6, "01012027")).key == "id.qr_issue_date_range"
    assert _err(_with(_with(PAYLOAD6, 0, "079227001122"), 2, "01012027")).key == "id.qr_dob_future"
    e = _err(_with(PAYLOAD7, 4, "Nam"))
    assert e.key == "id.qr_sex_mismatch" and e.params == {"digit": "1", "sex": "Nam"}


def test_id_errors_carry_the_precise_cause() -> None:
    e = _err(_with(PAYLOAD7, 0, "003186004321"))
    assert isinstance(e, CausedKioskError) and e.key == "id.qr_id" and e.cause.key == "id.cccd_province"
    assert e.message("en") == ("The personal ID number in the QR code is not valid: The first three digits "
                               "003 are not a province code of birth registration (Circular 07/2016/TT-BCA).")
    assert e.message("vi").startswith("Số định danh cá nhân trong mã QR không hợp lệ: Ba chữ số đầu 003")
    e = _err(_with(PAYLOAD7, 0, "001185004321"))  # birth-year digits 85, DOB 1986
    assert isinstance(e, CausedKioskError) and e.cause.key == "id.cccd_birth_year"
    e = _err(_with(PAYLOAD7, 0, "001386004321"))  # digit 4 = 3: born 2000-2099
    assert isinstance(e, CausedKioskError) and e.cause.key == "id.cccd_century"
    assert e.log_text() == "id.qr_id<-id.cccd_century"


def test_to_party() -> None:
    p = to_party(parse_cccd_qr(PAYLOAD7, today=TODAY))
    assert (p.identifier.kind, p.identifier.value, p.source) == (
        IdKind.CCCD, "001186004321", IdSource.CARD_QR)
    assert (p.full_name, p.birth_date, p.sex) == ("Nguyễn Thị Ánh Tuyết", date(1986, 3, 7), "F")
    assert parse_cccd_qr(PAYLOAD6, today=TODAY).to_party().sex == "M"


# --- images ---------------------------------------------------------------------------------------


def qr_matrix(payload: str, mask: int | None = None) -> np.ndarray:
    """Boolean module matrix (quiet zone of 4 included): byte mode, UTF-8, error correction M."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, mask_pattern=mask)
    qr.add_data(QRData(payload.encode("utf-8"), mode=MODE_8BIT_BYTE))
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=bool)


def card_image(payload: str, *, mask: int | None = None, angle: float = 3.0,
               module_px: int = 7) -> np.ndarray:
    """A BGR camera-like picture: a card with a title and the QR code at the upper right, on a light
    background, rotated by ``angle`` degrees, slightly blurred and JPEG-compressed."""
    canvas = Image.new("RGB", (2000, 1300), (214, 218, 222))
    card = Image.new("RGB", (1712, 1080), (0, 0, 0))
    mask_img = Image.new("L", card.size, 0)
    ImageDraw.Draw(mask_img).rounded_rectangle((0, 0, *card.size), radius=60, fill=255)
    ImageDraw.Draw(card).rectangle((0, 0, *card.size), fill=(236, 240, 233))
    draw = ImageDraw.Draw(card)
    font = ImageFont.load_default(size=54)
    draw.text((80, 70), "CĂN CƯỚC CÔNG DÂN", fill=(180, 30, 30), font=font)
    draw.text((80, 160), "MẪU / SPECIMEN", fill=(40, 40, 40), font=font)
    m = qr_matrix(payload, mask)
    modules = np.where(np.kron(m, np.ones((module_px, module_px), dtype=bool)), 20, 255).astype(np.uint8)
    qr_img = Image.fromarray(modules, "L").convert("RGB")
    card.paste(qr_img, (card.size[0] - qr_img.size[0] - 60, 60))
    canvas.paste(card, (144, 110), mask_img)
    rotated = canvas.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(214, 218, 222))
    bgr = cv2.GaussianBlur(cv2.cvtColor(np.asarray(rotated), cv2.COLOR_RGB2BGR), (0, 0), 0.8)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    out = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert out is not None
    return np.asarray(out)


@pytest.mark.parametrize("mask", range(8))
def test_decode_every_mask_pattern(mask: int) -> None:
    image = card_image(PAYLOAD7, mask=mask, angle=(-1) ** mask * (0.8 + mask * 0.4))
    assert decode_qr(image) == [PAYLOAD7]
    assert parse_cccd_qr(decode_qr(image)[0], today=TODAY).name == "Nguyễn Thị Ánh Tuyết"


def test_decode_input_kinds() -> None:
    image = card_image(PAYLOAD6, angle=-2.5)
    assert decode_qr(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)) == [PAYLOAD6]
    assert decode_qr(cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)) == [PAYLOAD6]
    assert decode_qr(np.full((400, 600, 3), 255, np.uint8)) == []
    with pytest.raises(ValueError):
        decode_qr(image.astype(np.float32))


def test_cli_qr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, c = tmp_path / "thẻ_a.jpg", tmp_path / "b.png", tmp_path / "blank.png"
    cv2.imencode(".jpg", card_image(PAYLOAD7, angle=2.0))[1].tofile(str(a))
    cv2.imwrite(str(b), card_image(PAYLOAD6, angle=-3.5))
    cv2.imwrite(str(c), np.full((300, 300, 3), 250, np.uint8))
    assert main(["id", "qr", str(a), str(b)]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"file": str(a), "ok": True, "id": "001186004321", "old_id": "012345678",
                        "name": "Nguyễn Thị Ánh Tuyết", "dob": "1986-03-07", "sex": "Nữ", "address": ADDRESS,
                        "issue_date": "2021-08-15"}
    assert (lines[1]["ok"], lines[1]["dob"], lines[1]["old_id"]) == (True, "2004-02-29", "")
    assert main(["id", "qr", str(c), str(b), str(tmp_path / "missing.png")]) == 1
    out, err = capsys.readouterr()
    objs = [json.loads(x) for x in out.splitlines()]
    assert [o["ok"] for o in objs] == [False, True, False]
    assert objs[0]["error"] == "id.qr_not_found"
    assert objs[0]["message_vi"].startswith("Không tìm thấy mã QR trong ảnh")
    assert objs[2]["error"] == "id.image_unreadable"
    assert err.strip() == "kiosk: 2 of 3 image(s) gave no valid ID-card QR code"
    # a QR code that is not an ID card's
    other = tmp_path / "url.png"
    cv2.imwrite(str(other), card_image("https://dichvucong.gov.vn", angle=1.0))
    assert main(["id", "qr", str(other)]) == 1
    obj = json.loads(capsys.readouterr().out)
    assert obj["error"] == "id.qr_field_count"
