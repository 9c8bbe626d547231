"""The touch UI in a real Kivy window (Xvfb), driven by touches: one scenario per process (ui_driver.py).

Set ``KIOSK_SCREENSHOT_DIR`` (e.g. ``docs/img``) to keep the capture and checklist screenshots.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from kiosk.core.catalogue import Catalogue
from kiosk.core.identifiers import parse_cccd
from kiosk.errors import KioskError
from kiosk.messages import t

RunUi = Callable[[str], dict[str, Any]]


def identify_and_search(o: dict[str, Any]) -> None:
    """The part every flow shares: invalid number, valid number with date of birth, search, case."""
    assert o["typed_number"] == "079 095 001 23"
    try:
        parse_cccd("07909500123")
    except KioskError as exc:
        expected = exc.message("vi")
    assert o["identify_error"] == expected
    assert o["identify_error"] == "Số định danh cá nhân phải có đúng 12 chữ số; số đã nhập có 11 chữ số."
    assert o["state_after_invalid"] == "identify"
    assert o["typed_birth"] == "01/01/1995"
    assert o["submitter_masked"] == "*********234"
    assert o["search_prompt"] == t("ui.search_prompt")
    assert o["query"] == "KHAI"
    assert o["results"] == ["1.001193 – Thủ tục đăng ký khai sinh"]
    assert o["cases"] == ["Có giấy chứng sinh", "Không có giấy chứng sinh"]


def test_citizen_flow_from_welcome_to_receipt(run_ui: RunUi) -> None:
    o = run_ui("happy_path")
    assert o["welcome_title"] == "Chào mừng ông/bà đến với Bộ phận Một cửa"
    identify_and_search(o)
    # checklist: classes, on-file paper without controls, 2 sheets declared, fee accepted
    assert o["checklist_names"] == [
        "1. Tờ khai đăng ký khai sinh",
        "2. Giấy chứng sinh",
        "3. Giấy chứng nhận kết hôn của cha mẹ",
        "4. Thẻ căn cước của người mẹ",
    ]
    assert o["checklist_status"] == [
        t("ui.sides_both"),
        t("ui.sides_front"),
        t("ui.on_request_offer", fee="2.000"),
        t("ui.on_file"),
    ]
    assert o["on_file_has_stepper"] is False
    assert o["sheets_label"] == "2 tờ"
    assert o["declared"] == [2, 1, 1, 1]
    assert o["opted_in"] is True
    assert (
        o["checklist_summary"]
        == "Cần chụp 3 giấy tờ, tổng cộng 6 mặt. Tổng phí số hóa theo yêu cầu: 2.000 đồng."
    )
    # capture: live hints and outline, auto-capture only of a page held still, and only once
    assert o["progress_start"] == [0, 6]
    assert o["step_label_1"] == "Tờ 1/2 – mặt trước"
    assert o["blur_hint"] == "Ảnh bị mờ, hãy giữ yên giấy"
    assert o["outline_ok_while_blur"] is False
    assert o["outline_points"] == 8
    assert o["moving_auto_shots"] == 0
    # a moving page never builds up progress: each frame starts the window again (1 of 6 frames)
    assert o["moving_ring"] <= 1 / 6
    assert o["good_hint"] == t("capture.hold_still")
    assert o["outline_ok_when_good"] is True
    assert o["auto_shots_after_still_page"] == 1
    assert o["progress_after_auto"] == [1, 6]
    assert o["step_label_2"] == "Tờ 1/2 – mặt sau"
    # blank back: asked, confirmed, kept and flagged
    assert o["blank_question"] == "Mặt sau này có phải là trang trắng không?"
    assert o["blank_image_shown"] is True
    assert o["step_label_3"] == "Tờ 2/2 – mặt trước"
    # sticky note: the same side again without the note
    assert o["sticky_prompt"] == "Hãy gỡ giấy ghi chú và chụp lại trang này"
    assert o["step_label_sticky"] == "Tờ 2/2 – mặt trước (đã gỡ giấy ghi chú)"
    assert o["sticky_prompt_after"] is False
    # a rejected still explains why; retake goes one step back
    assert o["reject_message"] == "Ảnh chưa đạt: Bị chói sáng, hãy nghiêng giấy. Hãy chụp lại."
    assert o["progress_after_reject"] == [4, 7]
    assert o["progress_before_retake"] == [5, 7]
    assert o["progress_after_retake"] == [4, 7]
    assert o["step_label_retake"] == "Tờ 2/2 – mặt sau"
    # review
    assert o["review_status"] == ["5 ảnh cho 2 tờ", "1 ảnh cho 1 tờ", "1 ảnh cho 1 tờ", t("ui.on_file")]
    assert o["thumbs"] == 7
    assert o["thumbs_with_texture"] == 7
    assert o["captures"] == [
        [
            [1, "front", "normal", False],
            [1, "back", "normal", True],
            [2, "front", "with_note", False],
            [2, "front", "without_note", False],
            [2, "back", "normal", False],
        ],
        [[1, "front", "normal", False]],
        [[1, "front", "normal", False]],
        [],
    ]
    # confirm: the low-confidence name is corrected on the on-screen keyboard with a tone key
    assert o["confirm_disabled_before"] is True
    assert o["field_value_before"] == "NGUYỄN VĂN AN"
    assert o["edit_text"] == "NGUYỄN VĂN ÁNH"
    assert o["confirm_disabled_after"] is False
    assert o["confirmed"] == {
        "full_name": "NGUYỄN VĂN ÁNH",
        "birth_date": "01/02/2024",
        "paper_name": "Tờ khai đăng ký khai sinh",
    }
    # consent: refused without the required purpose, explicit per purpose
    assert o["fee_text"] == "Tổng phí số hóa theo yêu cầu: 2.000 đồng."
    assert o["consent_error"] == t("session.consent_required")
    assert o["state_after_refused_consent"] == "consent"
    assert o["consents"] == {"process_dossier": True, "save_to_data_store": False}
    # receipt, then back to welcome with the session wiped
    code = o["submission_id"][:8].upper()
    assert o["submission_code"] == f"Mã hồ sơ tại kiosk: {code}"
    assert o["receipt_lines"] == [f"Mã nộp: {code}", "Thủ tục: 1.001193"]
    assert o["receipt_image"] is True
    assert o["end_reason"] == "completed"
    assert o["work_dir_after"] is False
    assert o["notice"] == t("ui.thank_you")
    assert o["state_after_finish"] == "end"
    assert o["screens"] == [
        "welcome",
        "identify",
        "procedure",
        "checklist",
        "capture",
        "review",
        "confirm",
        "consent",
        "submit",
        "receipt",
        "welcome",
    ]
    assert o["states"] == [
        "identify",
        "choose_procedure",
        "checklist",
        "capture",
        "review",
        "confirm_data",
        "consent",
        "submit",
        "receipt",
        "end",
    ]
    assert o["calls"] == [
        "identify_manual:cccd",
        "identify_manual:cccd",
        "identify",
        "capture:ok:auto",
        "capture:blank:force",
        "capture:sticky:force",
        "capture:ok:force",
        "capture:reject:glare:force",
        "capture:ok:force",
        "capture:ok:force",
        "capture:ok:force",
        "capture:ok:force",
        "extract",
        "submit",
    ]
    for name in ("checklist", "capture"):
        shot = Path(o[f"{name}_shot"])
        with Image.open(shot) as img:
            assert img.size == (1280, 800)
            assert img.format == "PNG"
        keep = os.environ.get("KIOSK_SCREENSHOT_DIR")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, Path(keep) / f"{name}.png")


def test_cancel_from_capture_wipes_the_session(run_ui: RunUi) -> None:
    o = run_ui("cancel")
    identify_and_search(o)
    assert o["files_before"] == 1
    assert o["cancel_text"] == "Hủy"
    assert o["end_reason"] == "cancelled"
    assert o["work_dir_after"] is False
    assert o["submitter_after"] is None
    assert o["papers_after"] == 0
    assert o["notice"] == t("session.wiped")
    assert o["new_state"] == "end"
    assert o["sessions"] == 2
    assert o["screens"] == ["welcome", "identify", "procedure", "checklist", "capture", "welcome", "identify"]
    # Start again: a fresh session at identify, the notice gone
    assert o["restart_state"] == "identify"
    assert o["restart_sessions"] == 3
    assert o["restart_notice"] is False


def test_inactivity_warning_countdown_and_wipe(run_ui: RunUi) -> None:
    o = run_ui("timeout")
    assert o["overlay_at_59"] is False
    assert o["warning_text"] == t("session.timeout_warning", seconds=29)
    assert o["overlay_after_touch"] is False
    assert o["state_after_touch"] == "identify"
    assert o["number_after_touch"] == ""
    assert o["countdown_text"] == t("session.timeout_warning", seconds=9)
    assert o["work_dir_before"] is True
    assert o["overlay_after_wipe"] is False
    assert o["end_reason"] == "timeout"
    assert o["work_dir_after"] is False
    assert o["notice"] == "Phiên làm việc đã kết thúc. Dữ liệu của ông/bà đã được xóa khỏi máy."
    assert o["new_state"] == "end"


def test_language_switch_card_reader_qr_and_full_outbox(run_ui: RunUi) -> None:
    o = run_ui("language")
    assert o["vi_title"] == "Chào mừng ông/bà đến với Bộ phận Một cửa"
    assert o["vi_language_button"] == "English"
    assert o["en_title"] == "Welcome to the one-stop desk"
    assert o["en_language_button"] == "Tiếng Việt"
    assert o["en_start"] == "Start"
    assert o["en_cancel"] == "Cancel"
    assert o["en_error"] == "The personal ID number must have exactly 12 digits; 4 digits were entered."
    assert o["vi_after_switch_title"] == "Xác định người nộp hồ sơ"
    assert o["number_kept"] == "1234"
    assert o["card_error"] == t("ui.card_not_read")
    assert o["qr_error"] == t("ui.qr_not_read")
    assert o["qr_calls"] is True
    assert o["qr_submitter"] == ["NGUYỄN THỊ MAI", "card_qr"]
    assert o["not_accepting_error"] == KioskError("outbox.quota_full").message("vi")
    assert o["not_accepting_state"] == "end"
    assert o["card_submitter"] == ["TRẦN THỊ BÌNH", "chip_mrz"]
    labels = o["labels_procedure"]
    assert "Chọn thủ tục hành chính" in labels and "Bước 2/9" in labels and "Hủy" in labels


def test_staff_screen_needs_the_pin_and_shows_devices_and_outbox(run_ui: RunUi) -> None:
    o = run_ui("staff")
    assert o["screen"] == "staff"
    assert o["unlock_disabled_empty"] is True
    assert o["dots"] == "••••••"
    assert o["wrong_pin"] == t("ui.staff_wrong_pin")
    assert o["device_status"] == ["Hoạt động tốt", "Hết giấy"]
    assert o["outbox"] == [
        "Đang chờ gửi: 3",
        "Đã gửi, chờ biên nhận: 1",
        "Dung lượng hàng đợi (MB): 5.00",
        "Nhận hồ sơ mới: Có",
    ]
    assert "Camera chụp giấy tờ" in o["labels"] and "Máy in biên nhận" in o["labels"]
    assert o["screen_after_exit"] == "welcome"
    assert o["unlocked_after_exit"] is False


def test_staff_review_desk_confirms_and_returns_held_submissions(run_ui: RunUi) -> None:
    o = run_ui("staff_review")
    codes = [s[:8].upper() for s in o["sids"]]
    assert [row.split(" · ")[0] for row in o["held_rows"]] == [f"Mã {c}" for c in codes]
    assert o["outbox_held"] == "Chờ cán bộ xác nhận: 2"
    assert o["summary"].startswith(f"Mã {codes[0]} · thủ tục ") and "· 2 giấy tờ ·" in o["summary"]
    assert all(p.endswith(": 1 trang") for p in o["papers"])
    assert o["page_widgets"] == ["review_page_0_0", "review_page_1_0"]
    assert o["decrypted_while_open"] == 2
    assert o["zoomed"] is True and o["unzoomed"] is True
    assert o["notice_confirm"] == t("ui.review_confirmed", code=codes[0])
    assert [row.split(" · ")[0] for row in o["held_after_confirm"]] == [f"Mã {codes[1]}"]
    assert o["reason_prompt"] == t("ui.review_choose_reason") and o["confirm_still_there"] is True
    assert o["reason_chosen"] == t("ui.review_reason_chosen", reason=t("review.reason_unreadable"))
    assert o["note"] == "TRANG 2 MỜ"
    assert o["notice_return"] == t("ui.review_returned", code=codes[1])
    assert o["returned_reason"] == "Ảnh chụp giấy tờ không rõ, không đọc được: TRANG 2 MỜ"
    assert o["review_none"] == t("ui.review_none")
    assert o["states"] == ["queued", "queued"]
    assert o["issued_before"] == t("ui.issued_none")
    assert o["issued"] == [f"Mã nộp {codes[0]} – mã hồ sơ 000.00.00.H00-261126-0001"]
    assert o["notice_print"] == t("ui.issued_printed", dossier_code="000.00.00.H00-261126-0001")
    assert o["calls"] == ["held_submissions", "open_review", "confirm_review", "held_submissions",
                          "open_review", "return_review:unreadable:TRANG 2 MỜ", "held_submissions",
                          "held_submissions",
                          f"print_dossier_code:{o['sids'][0][:8]}", "close_review"]
    assert o["decrypted_after"] == 0


def test_an_officer_token_pin_is_asked_before_signing(run_ui: RunUi) -> None:
    o = run_ui("staff_review_token")
    assert o["prompt"] == t("ui.review_token_pin")
    assert o["sign_disabled_empty"] is True and o["dots"] == "••••"
    assert o["wrong_pin_error"] == KioskError("dossier.staff_pin_wrong").message("vi")
    assert o["state_after_wrong"] == "held" and o["still_asking"] is True
    assert o["notice"].startswith("Đã xác nhận hồ sơ ") and o["state_after"] == "queued"
    assert o["calls"] == ["confirm_review:pin=1111", "confirm_review:pin=4321"]


def test_screens_on_the_real_workflow_and_simulated_devices(run_ui: RunUi) -> None:
    o = run_ui("real_workflow")
    birth = Catalogue.load().get("1.001193")
    assert o["results"][0] == f"1.001193 – {birth.short_name}"
    assert o["first_case"] == birth.cases[0].name
    assert o["procedure_code"] == "1.001193"
    assert o["papers"] == len(birth.components_for(birth.cases[0].id))
    assert o["frame_size"] == [720, 540]
    assert o["hint_key"] == "capture.hold_still"
    assert o["error"] is None
    assert o["progress"][0] == 1
    assert o["images"] == 1
    assert o["state_after_cancel"] == "end"
    assert o["work_dir_after"] is False
