"""A small in-test workflow for the UI tests: real CitizenSession and identifier parsing, a two-procedure
catalogue, generated camera frames and a scripted capture outcome per still.

It satisfies ``kiosk.screens.ports.WorkflowPort``. It is not a mock of the session: every state change
goes through the real ``kiosk.core.session.CitizenSession``.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from kiosk.core.applicant import Identifier, IdKind, IdSource, Party
from kiosk.core.dossier_model import DigitisationClass, PageCapture
from kiosk.core.identifiers import parse_cccd, parse_tax_code
from kiosk.core.session import CaptureStep, CitizenSession, PaperPlan
from kiosk.devices.camera import Frame
from kiosk.devices.receipt import Receipt
from kiosk.errors import KioskError

FRAME_W, FRAME_H = 1280, 720
PAGE_CORNERS = [[420.0, 60.0], [900.0, 80.0], [880.0, 690.0], [400.0, 670.0]]


class FakeClock:
    """A controllable monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    name_en: str
    cases: tuple[Case, ...]
    papers: Callable[[str], list[PaperPlan]]


def _birth_papers(case_id: str) -> list[PaperPlan]:
    return [
        PaperPlan(
            "to_khai",
            "Tờ khai đăng ký khai sinh",
            "TK-KS",
            DigitisationClass.SPECIALISED_LAW,
            sheets=1,
            min_sheets=1,
            max_sheets=3,
            both_sides=True,
        ),
        PaperPlan(
            "giay_chung_sinh",
            "Giấy chứng sinh",
            "GCS",
            DigitisationClass.EARLIER_RESULT,
            sheets=1,
            both_sides=False,
        ),
        PaperPlan(
            "giay_ket_hon",
            "Giấy chứng nhận kết hôn của cha mẹ",
            "GCNKH",
            DigitisationClass.ON_REQUEST,
            sheets=1,
            both_sides=False,
            fee_vnd=2000,
        ),
        PaperPlan(
            "cccd_me",
            "Thẻ căn cước của người mẹ",
            "CCCD",
            DigitisationClass.MANAGEMENT_DECISION,
            sheets=1,
            both_sides=True,
        ),
    ]


def _marriage_papers(case_id: str) -> list[PaperPlan]:
    return [PaperPlan("to_khai_kh", "Tờ khai đăng ký kết hôn", "TK-KH", DigitisationClass.SPECIALISED_LAW)]


PROCEDURES = (
    Procedure(
        "1.001193",
        "Thủ tục đăng ký khai sinh",
        "Birth registration",
        (
            Case("co_giay_chung_sinh", "Có giấy chứng sinh", "With a birth certificate from the hospital"),
            Case("khong_giay_chung_sinh", "Không có giấy chứng sinh", "Without a birth certificate"),
        ),
        _birth_papers,
    ),
    Procedure(
        "1.000894",
        "Thủ tục đăng ký kết hôn",
        "Marriage registration",
        (Case("hai_ben_co_mat", "Hai bên nam, nữ cùng có mặt", "Both parties present"),),
        _marriage_papers,
    ),
)


def fold(text: str) -> str:
    text = unicodedata.normalize("NFD", text.lower()).replace("đ", "d")
    return "".join(c for c in text if not unicodedata.combining(c))


@dataclass
class Assessment:
    ok: bool
    reasons: list[str]
    corners: list[list[float]] | None
    scores: dict[str, float] = field(default_factory=dict)
    dpi_estimate: float | None = 210.0


@dataclass
class CaptureOutcome:
    accepted: bool
    reasons: list[str]
    blank_pending: bool = False
    sticky_note: bool = False
    next_step: CaptureStep | None = None
    capture: PageCapture | None = None


@dataclass
class SubmitOutcome:
    submission_id: str
    short_code: str
    package_sha256: str
    receipt: Receipt
    receipt_image_path: Path | None


class FakeDevices:
    """Like ``DeviceManager.health()``: one dict per device."""

    def __init__(self) -> None:
        self.status = {"camera": "ok", "printer": "paper_out"}

    def health(self) -> list[dict[str, Any]]:
        return [
            {"name": "camera", "kind": "camera", "backend": "simulator", "status": self.status["camera"]},
            {"name": "printer", "kind": "printer", "backend": "file", "status": self.status["printer"]},
        ]


class FakeOutbox:
    """Like ``kiosk.queue.outbox.Outbox``'s counters."""

    def counts(self) -> dict[str, int]:
        return {"queued": 3, "sending": 0, "sent": 1, "receipted": 0, "purged": 7, "rejected": 0}

    def queued_bytes(self) -> int:
        return 5 * 1024 * 1024

    def accepting_new_sessions(self) -> tuple[bool, str]:
        return True, ""


@functools.cache
def page_frame(*, blur: bool = False, seed: int = 0, dx: int = 0) -> np.ndarray:
    """A camera-like BGR frame: a grey desk with a white sheet carrying dark 'text' lines, shifted right by
    ``dx`` pixels."""
    frame = np.full((FRAME_H, FRAME_W, 3), (70, 80, 90), np.uint8)
    quad = np.array([[x + dx, y] for x, y in PAGE_CORNERS], np.int32)
    cv2.fillConvexPoly(frame, quad, (245, 245, 240))
    rng = np.random.default_rng(seed)
    for i in range(14):
        y = 130 + i * 38
        x0 = 470 + dx + int(rng.integers(0, 20))
        x1 = 830 + dx - int(rng.integers(0, 120))
        cv2.line(frame, (x0, y), (x1, y + 6), (40, 40, 40), 5)
    if blur:
        frame = cv2.GaussianBlur(frame, (0, 0), 6)
    return frame


class FakeWorkflow:
    """Scripted workflow for UI tests.

    ``preview_script``: (ok, reasons, jitter) per preview frame, in order, before the default (good,
    still frames). ``capture_script``: per still, one of "ok", "blank", "sticky", "reject:<reason>"
    (default "ok").
    """

    def __init__(self, root: Path, clock: FakeClock) -> None:
        self.root = root
        self.clock = clock
        self.preview_script: list[tuple[bool, list[str], bool]] = []
        self.capture_script: list[str] = []
        self.on_file: set[str] = {"cccd_me"}
        self.frames = 0
        self.calls: list[str] = []
        self.sessions: list[CitizenSession] = []
        self.card_party: Party | None = None
        self.qr_party: Party | None = None
        self._lock = threading.Lock()
        self.devices = FakeDevices()
        self.outbox = FakeOutbox()
        self.accepting = (True, "")
        self.session = self._make_session()

    # ------------------------------------------------------------------ session (as kiosk.workflow)
    def _make_session(self) -> CitizenSession:
        session = CitizenSession(
            terminal_id="KIOSK-UI-TEST",
            work_dir=self.root / "sessions",
            warning_after_s=60,
            wipe_after_s=30,
            clock=self.clock,
        )
        self.sessions.append(session)
        return session

    def new_session(self) -> CitizenSession:
        """End the current session (wiping it) and start a new one at the identify step."""
        ok, reason = self.accepting
        if not ok:
            raise KioskError(reason or "workflow.not_accepting")
        self.session.cancel()
        self.session = self._make_session()
        self.session.start()
        return self.session

    # ------------------------------------------------------------------ identify
    def read_id(self, timeout_s: float) -> Party | None:
        self.calls.append("read_id")
        return self.card_party

    def identify_from_qr(self, image_bgr: np.ndarray) -> Party | None:
        self.calls.append("identify_from_qr")
        return self.qr_party

    def identify_manual(
        self,
        text: str,
        *,
        kind: str | None = None,
        birth_date: date | None = None,
        issuing_state: str | None = None,
    ) -> Party:
        self.calls.append(f"identify_manual:{kind}")
        cccd = kind == IdKind.CCCD.value
        ident: Identifier = parse_cccd(text, birth_date) if cccd else parse_tax_code(text)
        return Party(ident, birth_date=birth_date, source=IdSource.MANUAL)

    def identify(self, submitter: Party, principal: Party | None = None) -> None:
        self.calls.append("identify")
        self.session.identify(submitter, principal)

    # ------------------------------------------------------------------ procedures
    def search_procedures(self, query: str, limit: int = 10) -> list[Procedure]:
        q = fold(query).strip()
        if not q:
            return []
        return [p for p in PROCEDURES if q in fold(p.name) or p.code.startswith(q)]

    def choose(self, code: str, case_id: str | None = None) -> Procedure:
        proc = next(p for p in PROCEDURES if p.code == code)
        case = next(c for c in proc.cases if c.id == case_id) if case_id else proc.cases[0]
        self.session.choose_procedure(proc.code, proc.name, case.id, proc.papers(case.id))
        self.session.mark_on_file(
            [p.component_id for p in self.session.papers if p.component_id in self.on_file]
        )
        return proc

    # ------------------------------------------------------------------ capture
    def assess_preview(self) -> tuple[Frame | None, Assessment | None]:
        """The next scripted preview: (ok, reasons, jitter); jitter moves the page a little each frame."""
        with self._lock:
            self.frames += 1
            ok, reasons, jitter = self.preview_script.pop(0) if self.preview_script else (True, [], False)
        shift = (30 if self.frames % 2 else -30) if jitter else 0
        corners = None if "no_document" in reasons else [[x + shift, y] for x, y in PAGE_CORNERS]
        image = page_frame(blur="blur" in reasons, seed=self.frames % 2, dx=shift)
        return Frame(image, self.frames, float(self.frames)), Assessment(ok, list(reasons), corners)

    def capture_step(self, *, preview: Frame | None = None, force: bool = False) -> CaptureOutcome:
        s = self.session
        step = s.current_step
        if step is None:
            raise KioskError("workflow.no_step")
        with self._lock:
            action = self.capture_script.pop(0) if self.capture_script else "ok"
        self.calls.append(f"capture:{action}:{'force' if force else 'auto'}")
        if action.startswith("reject:"):
            return CaptureOutcome(False, [action.split(":", 1)[1]], False, False, step)
        name = f"p{step.paper_index}-s{step.page_no}-{step.side.value}-{step.variant.value}-{len(self.calls)}"
        name += ".png"
        path = s.session_file(name)
        cv2.imwrite(str(path), page_frame(seed=len(self.calls) % 3)[60:690, 400:900])
        capture = PageCapture(
            page_no=step.page_no, side=step.side, image_path=path, dpi=210.0, blank=action == "blank"
        )
        sticky = action == "sticky"
        nxt = s.record_capture(capture, sticky_note=sticky)
        return CaptureOutcome(True, [], s.pending_blank is not None, sticky, nxt, capture)

    # ------------------------------------------------------------------ data, submit
    def extract(self) -> None:
        self.calls.append("extract")
        s = self.session
        for p in s.papers:
            if p.component_id == "to_khai" and p.to_capture:
                s.set_extracted(
                    "to_khai",
                    {
                        "full_name": "NGUYỄN VĂN AN",
                        "birth_date": "01/02/2024",
                        "paper_name": "Tờ khai đăng ký khai sinh",
                    },
                    {"full_name"},
                )

    def submit(self) -> SubmitOutcome:
        """Builds the dossier (the real session rules), writes a receipt image, records the submission."""
        self.calls.append("submit")
        s = self.session
        dossier = s.build_dossier()
        receipt_path = self.root / "receipt.png"
        img = np.full((400, 300, 3), 255, np.uint8)
        cv2.rectangle(img, (75, 150), (225, 300), (0, 0, 0), -1)
        cv2.imwrite(str(receipt_path), img)
        pages = sum(len(p.captures) for p in dossier.papers)
        code = dossier.submission_id[:8].upper()
        receipt = Receipt(
            title="BIÊN NHẬN", lines=[("Mã nộp", code), ("Thủ tục", dossier.procedure_code), ("", f"{pages}")]
        )
        s.submitted({"submission_id": dossier.submission_id, "short_code": code})
        return SubmitOutcome(dossier.submission_id, code, "0" * 64, receipt, receipt_path)

    # ------------------------------------------------------------------ staff review desk
    # The review desk is real when a scenario sets ``self.desk`` (a kiosk.staffreview.ReviewDesk over a
    # real outbox); otherwise nothing is held.
    desk: Any = None

    def held_submissions(self) -> list[Any]:
        self.calls.append("held_submissions")
        return self.desk.held() if self.desk is not None else []

    def open_review(self, submission_id: str) -> Any:
        self.calls.append("open_review")
        return self.desk.open(submission_id)

    def close_review(self) -> None:
        self.calls.append("close_review")
        if self.desk is not None:
            self.desk.close()

    needs_pin = False  # a scenario sets it to play an officer token (the desk then gets the PIN typed)

    def review_needs_pin(self) -> bool:
        return self.needs_pin

    def _check_token(self, pin: str | None) -> None:
        """Plays the officer's token: PIN 4321 (the real one is tested with SoftHSM2 in tests/dossier)."""
        if self.needs_pin and pin != "4321":
            raise KioskError("dossier.staff_pin_wrong")

    def confirm_review(self, submission_id: str, pin: str | None = None) -> None:
        self.calls.append("confirm_review" + (f":pin={pin}" if pin else ""))
        self._check_token(pin)
        self.desk.confirm(submission_id)

    def return_review(self, submission_id: str, reason_key: str, note: str = "", pin: str | None = None
                      ) -> None:
        self.calls.append(f"return_review:{reason_key}:{note}" + (f":pin={pin}" if pin else ""))
        self._check_token(pin)
        self.desk.return_submission(submission_id, reason_key, note)

    def issued_dossier_codes(self, limit: int = 10) -> list[Any]:
        from kiosk.core.dossier_model import short_code
        from kiosk.workflow import IssuedCode

        codes = getattr(self.outbox, "issued_dossier_codes", None)
        if not callable(codes):
            return []
        return [IssuedCode(sid, short_code(sid), code) for sid, code in codes(limit)]

    def print_dossier_code(self, submission_id: str) -> None:
        self.calls.append(f"print_dossier_code:{submission_id[:8]}")
