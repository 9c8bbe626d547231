"""Every transition of the citizen-session state machine, including timeouts and wipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.core.applicant import Identifier, IdKind, IdSource, Party
from kiosk.core.dossier_model import CaptureVariant, DigitisationClass, PageCapture, Side
from kiosk.core.session import (
    CaptureStep,
    CitizenSession,
    EndReason,
    PaperPlan,
    SessionError,
    State,
    sweep_stale_sessions,
)


class FakeClock:
    """A controllable monotonic clock (time is an input of the pure state machine)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, s: float) -> None:
        self.now += s


CITIZEN = Party(Identifier(IdKind.CCCD, "079095001234"), "NGUYỄN THỊ MAI", source=IdSource.CHIP_MRZ)
PRINCIPAL = Party(Identifier(IdKind.CCCD, "001203009876"), source=IdSource.MANUAL)


def plans() -> list[PaperPlan]:
    return [
        PaperPlan("to_khai", "Tờ khai đăng ký khai sinh", "TK-KS", DigitisationClass.SPECIALISED_LAW,
                  sheets=1, both_sides=True),
        PaperPlan("giay_chung_sinh", "Giấy chứng sinh", "GCS", DigitisationClass.EARLIER_RESULT,
                  sheets=1, both_sides=False),
        PaperPlan("ban_sao_hon_nhan", "Giấy chứng nhận kết hôn", "KH", DigitisationClass.ON_REQUEST,
                  sheets=1, both_sides=False, fee_vnd=2000),
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def session(tmp_path: Path, clock: FakeClock) -> CitizenSession:
    return CitizenSession(terminal_id="KIOSK-T-1", work_dir=tmp_path / "sessions",
                          warning_after_s=60, wipe_after_s=30, clock=clock)


def capture_for(s: CitizenSession, step: CaptureStep, *, blank: bool = False) -> PageCapture:
    path = s.session_file(f"p{step.paper_index}-{step.page_no}-{step.side.value}-{step.variant.value}.png")
    path.write_bytes(b"image")
    return PageCapture(page_no=step.page_no, side=step.side, image_path=path, dpi=220.0, blank=blank)


def to_checklist(s: CitizenSession) -> None:
    s.start()
    s.identify(CITIZEN)
    s.choose_procedure("1.001193", "Đăng ký khai sinh", "trong_nuoc", plans())


def capture_all(s: CitizenSession) -> None:
    while (step := s.current_step) is not None:
        s.record_capture(capture_for(s, step))


def test_happy_path_visits_every_state_in_order(session: CitizenSession) -> None:
    assert session.state == State.WELCOME
    to_checklist(session)
    assert session.state == State.CHECKLIST
    session.opt_in("ban_sao_hon_nhan", accept_fee=True)
    session.start_capture()
    assert session.state == State.CAPTURE
    # to_khai front+back, giay_chung_sinh front, on-request paper front
    assert session.progress == (0, 4)
    capture_all(session)
    assert session.state == State.REVIEW
    session.review_ok()
    assert session.state == State.CONFIRM_DATA
    session.set_extracted("to_khai", {"child_name": "NGUYỄN VĂN AN", "summary": "Khai sinh"}, {"child_name"})
    session.confirm_data({"to_khai": {"child_name": "NGUYỄN VĂN ÂN"}})
    assert session.confirmed["to_khai"] == {"child_name": "NGUYỄN VĂN ÂN", "summary": "Khai sinh"}
    assert session.state == State.CONSENT
    assert session.fee_total_vnd == 2000
    session.give_consent({"process_dossier": True, "save_to_data_store": False})
    assert session.state == State.SUBMIT
    dossier = session.build_dossier()
    assert [p.component_id for p in dossier.papers] == ["to_khai", "giay_chung_sinh", "ban_sao_hon_nhan"]
    assert len(dossier.papers[0].captures) == 2
    assert dossier.papers[0].storage_code.startswith("079095001234.")
    session.submitted({"code": "X"})
    assert session.state == State.RECEIPT
    work = session.work_dir
    assert work.exists()
    session.finish()
    assert session.state == State.END and session.end_reason == EndReason.COMPLETED
    assert not work.exists()
    assert session.submitter is None and session.papers == []
    assert [t.target for t in session.history] == [
        State.IDENTIFY, State.CHOOSE_PROCEDURE, State.CHECKLIST, State.CAPTURE, State.REVIEW,
        State.CONFIRM_DATA, State.CONSENT, State.SUBMIT, State.RECEIPT, State.END]


def test_representative_records_principal_as_account(session: CitizenSession) -> None:
    session.start()
    session.identify(CITIZEN, PRINCIPAL)
    assert session.applicant.account == PRINCIPAL
    assert session.applicant.is_representative
    session.set_principal(None)
    assert session.applicant.account == CITIZEN


@pytest.mark.parametrize("steps", range(0, 9))
def test_cancel_works_from_every_state_and_wipes(session: CitizenSession, steps: int) -> None:
    actions = [
        session.start,
        lambda: session.identify(CITIZEN),
        lambda: session.choose_procedure("1.001193", "Đăng ký khai sinh", "c", plans()),
        session.start_capture,
        lambda: capture_all(session),
        session.review_ok,
        session.confirm_data,
        lambda: session.give_consent({"process_dossier": True}),
        lambda: session.submitted({"code": "X"}),
    ]
    for action in actions[:steps]:
        action()
    before = session.state
    session.cancel()
    assert session.state == State.END
    assert session.end_reason == EndReason.CANCELLED
    assert not session.work_dir.exists()
    assert session.submitter is None and session.captures_for(0) == []
    assert session.history[-1].source == before


def test_wrong_state_raises_with_vietnamese_message(session: CitizenSession) -> None:
    with pytest.raises(SessionError) as err:
        session.identify(CITIZEN)
    assert err.value.key == "session.wrong_state"
    assert "bước hiện tại" in err.value.message("vi")
    session.start()
    with pytest.raises(SessionError):
        session.start_capture()
    with pytest.raises(SessionError):
        session.review_ok()


def test_inactivity_warns_then_wipes(session: CitizenSession, clock: FakeClock) -> None:
    to_checklist(session)
    session.start_capture()
    step = session.current_step
    assert step is not None
    cap = capture_for(session, step)
    session.record_capture(cap)
    assert cap.image_path.exists()
    clock.advance(59)
    status = session.tick()
    assert not status.warning and not status.expired
    clock.advance(1)
    status = session.tick()
    assert status.warning and status.seconds_left == pytest.approx(30)
    session.touch()  # citizen touches the screen: warning goes away
    assert not session.tick().warning
    clock.advance(89.9)
    assert session.tick().warning
    clock.advance(0.1)
    status = session.tick()
    assert status.expired
    assert session.state == State.END and session.end_reason == EndReason.TIMEOUT
    assert not cap.image_path.exists() and not session.work_dir.exists()
    assert session.submitter is None


def test_no_timeout_on_welcome_screen(session: CitizenSession, clock: FakeClock) -> None:
    clock.advance(10_000)
    assert session.tick().expired is False
    assert session.state == State.WELCOME


def test_blank_back_is_flagged_and_confirmed_never_dropped(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    front = session.current_step
    assert front is not None and front.side == Side.FRONT
    session.record_capture(capture_for(session, front))
    back = session.current_step
    assert back is not None and back.side == Side.BACK
    nxt = session.record_capture(capture_for(session, back, blank=True))
    assert nxt is None and session.pending_blank is not None and session.current_step is None
    session.confirm_blank(True)
    caps = session.captures_for(0)
    assert [(c.side, c.blank, c.blank_confirmed) for c in caps] == [(Side.FRONT, False, False),
                                                                      (Side.BACK, True, True)]
    assert session.current_step is not None and session.current_step.paper_index == 1


def test_blank_denied_by_citizen_is_kept_as_normal_page(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    session.record_capture(capture_for(session, session.current_step))  # type: ignore[arg-type]
    back = session.current_step
    assert back is not None
    session.record_capture(capture_for(session, back, blank=True))
    session.confirm_blank(False)
    assert session.captures_for(0)[1].blank is False


def test_front_side_never_flagged_blank(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    front = session.current_step
    assert front is not None
    session.record_capture(capture_for(session, front, blank=True))
    assert session.pending_blank is None  # a blank front is kept as is; the reviewer sees it


def test_sticky_note_asks_for_second_capture(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    front = session.current_step
    assert front is not None
    nxt = session.record_capture(capture_for(session, front), sticky_note=True)
    assert nxt == CaptureStep(0, 1, Side.FRONT, CaptureVariant.WITHOUT_NOTE)
    session.record_capture(capture_for(session, nxt))
    caps = session.captures_for(0)
    assert [c.variant for c in caps] == [CaptureVariant.WITH_NOTE, CaptureVariant.WITHOUT_NOTE]
    assert session.progress == (2, 4)  # front, front without note, back, birth certificate


def test_retake_discards_image_and_repeats_step(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    first = session.current_step
    assert first is not None
    cap = capture_for(session, first)
    session.record_capture(cap)
    assert session.retake() == first
    assert not cap.image_path.exists()
    assert session.captures_for(0) == []


def test_retake_of_noted_page_removes_both_captures(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    front = session.current_step
    assert front is not None
    second = session.record_capture(capture_for(session, front), sticky_note=True)
    assert second is not None
    session.record_capture(capture_for(session, second))
    assert session.retake() == front
    assert session.captures_for(0) == []
    assert session.progress == (0, 3)


def test_retake_from_review_goes_back_to_capture(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    capture_all(session)
    assert session.state == State.REVIEW
    step = session.retake()
    assert session.state == State.CAPTURE and step is not None
    capture_all(session)
    assert session.state == State.REVIEW


def test_capture_must_match_expected_page(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    step = session.current_step
    assert step is not None
    wrong = CaptureStep(step.paper_index, step.page_no, Side.BACK)
    with pytest.raises(SessionError) as err:
        session.record_capture(capture_for(session, wrong))
    assert err.value.key == "session.capture_mismatch"


def test_on_file_papers_are_not_captured(session: CitizenSession) -> None:
    to_checklist(session)
    session.mark_on_file(["giay_chung_sinh"])
    session.start_capture()
    assert session.progress == (0, 2)  # on-request paper not opted in, birth certificate on file


def test_nothing_to_capture_goes_straight_to_review(session: CitizenSession) -> None:
    to_checklist(session)
    session.mark_on_file(["to_khai", "giay_chung_sinh"])
    session.start_capture()
    assert session.state == State.REVIEW


def test_declared_sheets_drive_steps_and_are_bounded(session: CitizenSession) -> None:
    to_checklist(session)
    session.declare_sheets("to_khai", 3)
    with pytest.raises(SessionError) as err:
        session.declare_sheets("to_khai", 0)
    assert err.value.key == "session.sheet_count"
    session.start_capture()
    assert session.progress == (0, 7)
    pages = []
    while (step := session.current_step) is not None:
        pages.append((step.paper_index, step.page_no, step.side))
        session.record_capture(capture_for(session, step))
    assert pages[:6] == [(0, 1, Side.FRONT), (0, 1, Side.BACK), (0, 2, Side.FRONT), (0, 2, Side.BACK),
                         (0, 3, Side.FRONT), (0, 3, Side.BACK)]


def test_on_request_paper_needs_fee_acceptance(session: CitizenSession) -> None:
    to_checklist(session)
    with pytest.raises(SessionError):
        session.opt_in("to_khai", accept_fee=True)
    session.opt_in("ban_sao_hon_nhan", accept_fee=False)
    session.start_capture()
    capture_all(session)
    session.review_ok()
    session.confirm_data()
    assert session.fee_total_vnd == 0
    session.give_consent({"process_dossier": True})
    assert [p.component_id for p in session.build_dossier().papers] == ["to_khai", "giay_chung_sinh"]


def test_consent_is_required_and_per_purpose(session: CitizenSession) -> None:
    to_checklist(session)
    session.start_capture()
    capture_all(session)
    session.review_ok()
    session.confirm_data()
    with pytest.raises(SessionError) as err:
        session.give_consent({"process_dossier": False, "save_to_data_store": True})
    assert err.value.key == "session.consent_required"
    with pytest.raises(SessionError):
        session.give_consent({"process_dossier": True, "marketing": True})
    session.give_consent({"process_dossier": True})
    assert session.consents == {"process_dossier": True, "save_to_data_store": False}


def test_back_to_procedures_from_checklist(session: CitizenSession) -> None:
    to_checklist(session)
    session.back_to_procedures()
    assert session.state == State.CHOOSE_PROCEDURE and session.papers == []


def test_sweep_removes_leftover_sessions(tmp_path: Path) -> None:
    d = tmp_path / "sessions"
    (d / "a").mkdir(parents=True)
    (d / "a" / "img.png").write_bytes(b"x")
    (d / "b").mkdir()
    assert sweep_stale_sessions(d) == 2
    assert list(d.iterdir()) == []
    assert sweep_stale_sessions(tmp_path / "missing") == 0


def test_conditional_papers_start_excluded_and_can_be_included(session: CitizenSession) -> None:
    session.start()
    session.identify(CITIZEN)
    papers = plans()
    papers.append(PaperPlan("cu_tru", "Giấy tờ chứng minh nơi cư trú", "CT", DigitisationClass.EARLIER_RESULT,
                            sheets=1, both_sides=False, condition="Khi không khai thác được từ CSDL"))
    session.choose_procedure("1.001193", "Đăng ký khai sinh", "c", papers)
    with pytest.raises(SessionError) as err:
        session.include("to_khai", False)
    assert err.value.key == "session.not_conditional"
    session.include("cu_tru", True)
    session.start_capture()
    assert session.progress == (0, 4)  # to_khai front+back, birth certificate, residence paper
