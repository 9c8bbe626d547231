"""The citizen-session state machine (pure: no screen, no devices, no broker).

welcome -> identify -> choose_procedure -> checklist -> capture (per paper, sheet and side) -> review
-> confirm_data -> consent -> submit -> receipt -> end.

``cancel()`` works from any state. Inactivity (measured on an injectable clock) first raises a warning,
then cancels the session and wipes its data from memory and disk. The screens and the demo drive this
machine; each method checks that it is called in the right state and raises ``SessionError`` otherwise.

Capture rules (DESIGN R6): both sides of every sheet; a back side detected as blank is flagged and the
citizen confirms it (never dropped silently); a page with a sticky note is captured twice, with and
without the note; the number of sheets captured equals the declared count (the citizen can declare more
or fewer sheets on the checklist, within the catalogue's range). Papers already on file (R3) are not
captured. On-request papers (R4) are captured only after the citizen accepts the fee.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path

from kiosk.core.applicant import Applicant, Party
from kiosk.core.dossier_model import (
    CaptureVariant,
    DigitisationClass,
    Dossier,
    PageCapture,
    Paper,
    PaperMetadata,
    Side,
)
from kiosk.errors import KioskError
from kiosk.timeutil import now_vn

log = logging.getLogger("kiosk.session")


class State(StrEnum):
    WELCOME = "welcome"
    IDENTIFY = "identify"
    CHOOSE_PROCEDURE = "choose_procedure"
    CHECKLIST = "checklist"
    CAPTURE = "capture"
    REVIEW = "review"
    CONFIRM_DATA = "confirm_data"
    CONSENT = "consent"
    SUBMIT = "submit"
    RECEIPT = "receipt"
    END = "end"


class EndReason(StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


class SessionError(KioskError):
    """An action that the session does not allow in its current state or with these arguments."""


# Purposes the citizen consents to, one by one (Decree 13/2023: explicit and per purpose).
REQUIRED_PURPOSES = ("process_dossier",)
OPTIONAL_PURPOSES = ("save_to_data_store",)


@dataclass
class PaperPlan:
    """One required paper of the chosen procedure and case, as the checklist shows it."""

    component_id: str
    name: str
    paper_type_code: str
    digitisation_class: DigitisationClass
    sheets: int = 1                 # declared number of sheets
    min_sheets: int = 1
    max_sheets: int = 20
    both_sides: bool = True         # capture the back side of each sheet (blank backs are confirmed)
    on_file: bool = False           # already in the citizen's data store (R3): not captured
    fee_vnd: int = 0                # digitisation fee for on-request papers (R4)
    opted_in: bool = True           # on-request papers start opted out until the citizen accepts the fee
    condition: str | None = None    # required only in some situations (shown on the checklist)
    included: bool = True           # conditional papers start left out until the citizen includes them
    paper_format: str = "A4"        # A4, A5 or ID1: for the framing and resolution checks
    paper_kind: str = "other"       # id_card, application_form, decision_or_certificate, other

    @property
    def on_request(self) -> bool:
        return self.digitisation_class == DigitisationClass.ON_REQUEST

    @property
    def to_capture(self) -> bool:
        return not self.on_file and self.opted_in and self.included


@dataclass(frozen=True)
class CaptureStep:
    paper_index: int
    page_no: int
    side: Side
    variant: CaptureVariant = CaptureVariant.NORMAL


@dataclass(frozen=True)
class Transition:
    """Audit record of one transition: no personal data, only states and the event name."""

    at: float
    event: str
    source: State
    target: State


@dataclass(frozen=True)
class TimeoutStatus:
    warning: bool
    seconds_left: float
    expired: bool


@dataclass
class _CaptureState:
    steps: list[CaptureStep] = field(default_factory=list)
    position: int = 0
    captures: dict[int, list[PageCapture]] = field(default_factory=dict)
    pending_blank: PageCapture | None = None


class CitizenSession:
    """One citizen's visit. ``work_dir`` holds the session's page images; it is deleted on wipe."""

    def __init__(
        self,
        *,
        terminal_id: str,
        work_dir: Path,
        warning_after_s: float = 60.0,
        wipe_after_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.terminal_id = terminal_id
        self.session_id = uuid.uuid4().hex
        self.work_dir = work_dir / self.session_id
        self.warning_after_s = warning_after_s
        self.wipe_after_s = wipe_after_s
        self._clock = clock
        self._last_activity = clock()
        self.state = State.WELCOME
        self.end_reason: EndReason | None = None
        self.history: list[Transition] = []
        self._reset_data()

    # ----------------------------------------------------------------- data held during the visit
    def _reset_data(self) -> None:
        self.submitter: Party | None = None
        self.principal: Party | None = None
        self.procedure_code: str | None = None
        self.procedure_name: str | None = None
        self.case_id: str | None = None
        self.papers: list[PaperPlan] = []
        self._capture = _CaptureState()
        self.extracted: dict[str, dict[str, str]] = {}      # component id -> field -> value
        self.low_confidence: dict[str, set[str]] = {}        # component id -> fields to confirm
        self.confirmed: dict[str, dict[str, str]] = {}
        self.consents: dict[str, bool] = {}
        self.submission_id: str | None = None
        self.receipt: dict[str, str] | None = None

    # ----------------------------------------------------------------- helpers
    def _require(self, *states: State) -> None:
        if self.state not in states:
            raise SessionError("session.wrong_state", state=self.state.value,
                               expected=", ".join(s.value for s in states))

    def _go(self, target: State, event: str) -> None:
        self.history.append(Transition(self._clock(), event, self.state, target))
        log.info("session transition", extra={"session": self.session_id[:8], "event": event,
                                              "from": self.state.value, "to": target.value})
        self.state = target

    def touch(self) -> None:
        """Record citizen activity (any touch); resets the inactivity timer."""
        self._last_activity = self._clock()

    # ----------------------------------------------------------------- welcome / identify
    def start(self) -> None:
        self._require(State.WELCOME)
        self.touch()
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._go(State.IDENTIFY, "start")

    def identify(self, submitter: Party, principal: Party | None = None) -> None:
        """Record who is at the kiosk and, for an authorised representative, whom they act for."""
        self._require(State.IDENTIFY)
        self.touch()
        self.submitter = submitter
        self.principal = principal
        self._go(State.CHOOSE_PROCEDURE, "identify")

    def set_principal(self, principal: Party | None) -> None:
        self._require(State.CHOOSE_PROCEDURE, State.CHECKLIST)
        self.touch()
        self.principal = principal

    @property
    def applicant(self) -> Applicant:
        if self.submitter is None:
            raise SessionError("session.not_identified")
        return Applicant(self.submitter, self.principal)

    # ----------------------------------------------------------------- procedure and checklist
    def choose_procedure(self, code: str, name: str, case_id: str, papers: list[PaperPlan]) -> None:
        self._require(State.CHOOSE_PROCEDURE, State.CHECKLIST)
        self.touch()
        if not papers:
            raise SessionError("session.no_papers", code=code)
        self.procedure_code, self.procedure_name, self.case_id = code, name, case_id
        self.papers = papers
        for p in self.papers:
            if p.on_request:
                p.opted_in = False
            if p.condition:
                p.included = False
        self._go(State.CHECKLIST, "choose_procedure")

    def back_to_procedures(self) -> None:
        self._require(State.CHECKLIST)
        self.touch()
        self.papers = []
        self._go(State.CHOOSE_PROCEDURE, "back")

    def _paper(self, component_id: str) -> PaperPlan:
        for p in self.papers:
            if p.component_id == component_id:
                return p
        raise SessionError("session.unknown_paper", component=component_id)

    def mark_on_file(self, component_ids: list[str]) -> None:
        """The back end reports these papers as already on file (R3): confirmed, not captured."""
        self._require(State.CHECKLIST)
        for cid in component_ids:
            self._paper(cid).on_file = True

    def declare_sheets(self, component_id: str, sheets: int) -> None:
        self._require(State.CHECKLIST)
        self.touch()
        p = self._paper(component_id)
        if not p.min_sheets <= sheets <= p.max_sheets:
            raise SessionError("session.sheet_count", minimum=p.min_sheets, maximum=p.max_sheets)
        p.sheets = sheets

    def opt_in(self, component_id: str, accept_fee: bool) -> None:
        """For an on-request paper (R4): the citizen accepts the shown fee, or leaves the paper out."""
        self._require(State.CHECKLIST)
        self.touch()
        p = self._paper(component_id)
        if not p.on_request:
            raise SessionError("session.not_on_request", component=component_id)
        p.opted_in = accept_fee

    def include(self, component_id: str, included: bool) -> None:
        """A conditional paper applies (or not) to this citizen's situation."""
        self._require(State.CHECKLIST)
        self.touch()
        p = self._paper(component_id)
        if not p.condition:
            raise SessionError("session.not_conditional", component=component_id)
        p.included = included

    def start_capture(self) -> None:
        self._require(State.CHECKLIST)
        self.touch()
        steps: list[CaptureStep] = []
        for i, p in enumerate(self.papers):
            if not p.to_capture:
                continue
            for sheet in range(1, p.sheets + 1):
                steps.append(CaptureStep(i, sheet, Side.FRONT))
                if p.both_sides:
                    steps.append(CaptureStep(i, sheet, Side.BACK))
        self._capture = _CaptureState(steps=steps)
        self._go(State.CAPTURE, "start_capture")
        if not steps:
            self._go(State.REVIEW, "nothing_to_capture")

    # ----------------------------------------------------------------- capture
    @property
    def current_step(self) -> CaptureStep | None:
        c = self._capture
        if self.state != State.CAPTURE or c.pending_blank is not None or c.position >= len(c.steps):
            return None
        return c.steps[c.position]

    @property
    def pending_blank(self) -> PageCapture | None:
        return self._capture.pending_blank

    @property
    def progress(self) -> tuple[int, int]:
        """(steps done, steps planned) for the progress bar."""
        return self._capture.position, len(self._capture.steps)

    def captures_for(self, paper_index: int) -> list[PageCapture]:
        return list(self._capture.captures.get(paper_index, []))

    def session_file(self, name: str) -> Path:
        """A path inside the session's work directory (wiped with the session)."""
        self.work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.work_dir / name

    def record_capture(self, capture: PageCapture, *, sticky_note: bool = False) -> CaptureStep | None:
        """Accept the image for the current step. Returns the next step (None when capture is done or a
        blank back side waits for the citizen's confirmation).

        ``sticky_note``: a note was detected; this capture is kept as the 'with note' image and the next
        step asks for the same side again without the note (R6).
        """
        self._require(State.CAPTURE)
        self.touch()
        step = self.current_step
        if step is None:
            raise SessionError("session.no_capture_expected")
        c = self._capture
        if capture.page_no != step.page_no or capture.side != step.side:
            raise SessionError("session.capture_mismatch", page=step.page_no, side=step.side.value)
        if sticky_note and step.variant == CaptureVariant.NORMAL:
            capture.variant = CaptureVariant.WITH_NOTE
            c.steps.insert(c.position + 1, CaptureStep(step.paper_index, step.page_no, step.side,
                                                       CaptureVariant.WITHOUT_NOTE))
        else:
            capture.variant = step.variant
        if capture.blank and step.side == Side.BACK:
            c.pending_blank = capture
            return None
        self._store(step, capture)
        return self._advance()

    def confirm_blank(self, is_blank: bool) -> CaptureStep | None:
        """The citizen confirms (or denies) that the flagged back side is blank. Either way the image is
        kept in the dossier's record; a confirmed blank back is left out of the PDF only when every sheet
        of that paper has a confirmed blank back (R6)."""
        self._require(State.CAPTURE)
        self.touch()
        c = self._capture
        if c.pending_blank is None:
            raise SessionError("session.no_blank_pending")
        capture, c.pending_blank = c.pending_blank, None
        capture.blank_confirmed = is_blank
        if not is_blank:
            capture.blank = False
        self._store(c.steps[c.position], capture)
        return self._advance()

    def retake(self) -> CaptureStep | None:
        """Discard the last accepted image and ask for it again."""
        self._require(State.CAPTURE, State.REVIEW)
        self.touch()
        c = self._capture
        if c.pending_blank is not None:
            self._discard(c.pending_blank)
            c.pending_blank = None
            return self.current_step
        if c.position == 0:
            raise SessionError("session.nothing_to_retake")
        if self.state == State.REVIEW:
            self._go(State.CAPTURE, "retake")
        c.position -= 1
        step = c.steps[c.position]
        captures = c.captures.get(step.paper_index, [])
        if captures:
            self._discard(captures.pop())
        if step.variant == CaptureVariant.WITHOUT_NOTE:
            # Taking the 'with note' image again decides anew whether a second capture is needed.
            c.steps.pop(c.position)
            c.position -= 1
            if captures:
                self._discard(captures.pop())
        return self.current_step

    def _store(self, step: CaptureStep, capture: PageCapture) -> None:
        self._capture.captures.setdefault(step.paper_index, []).append(capture)

    def _discard(self, capture: PageCapture) -> None:
        capture.image_path.unlink(missing_ok=True)

    def _advance(self) -> CaptureStep | None:
        c = self._capture
        c.position += 1
        if c.position >= len(c.steps):
            self._check_counts()
            self._go(State.REVIEW, "capture_done")
            return None
        return c.steps[c.position]

    def _check_counts(self) -> None:
        """The number of images equals the number of input pages (R6): per paper, each declared sheet
        has a front and (when both sides are used) a back, plus the second capture of noted pages."""
        for i, p in enumerate(self.papers):
            if not p.to_capture:
                continue
            caps = self._capture.captures.get(i, [])
            sheets = {cap.page_no for cap in caps}
            if sheets != set(range(1, p.sheets + 1)):
                raise SessionError("session.page_count", paper=p.name, expected=p.sheets, got=len(sheets))
            per_side = {(cap.page_no, cap.side) for cap in caps}
            expected_sides = p.sheets * (2 if p.both_sides else 1)
            if len(per_side) != expected_sides:
                raise SessionError("session.page_count", paper=p.name, expected=expected_sides,
                                   got=len(per_side))

    # ----------------------------------------------------------------- review and data
    def review_ok(self) -> None:
        self._require(State.REVIEW)
        self.touch()
        self._go(State.CONFIRM_DATA, "review_ok")

    def set_extracted(self, component_id: str, fields: dict[str, str], low_confidence: set[str]) -> None:
        """Fields extracted by OCR for a paper (R5); low-confidence ones must be confirmed by the citizen."""
        self._paper(component_id)
        self.extracted[component_id] = dict(fields)
        self.low_confidence[component_id] = set(low_confidence)

    def confirm_data(self, corrections: dict[str, dict[str, str]] | None = None) -> None:
        """The citizen has seen the extracted data, corrected what was wrong and confirmed the rest."""
        self._require(State.CONFIRM_DATA)
        self.touch()
        corrections = corrections or {}
        for cid in corrections:
            self._paper(cid)
        self.confirmed = {cid: dict(fields) for cid, fields in self.extracted.items()}
        for cid, fields in corrections.items():
            self.confirmed.setdefault(cid, {}).update(fields)
        self._go(State.CONSENT, "confirm_data")

    @property
    def fee_total_vnd(self) -> int:
        return sum(p.fee_vnd for p in self.papers if p.on_request and p.opted_in and not p.on_file)

    def give_consent(self, consents: dict[str, bool]) -> None:
        """Explicit consent per purpose. The dossier cannot be sent without ``process_dossier``."""
        self._require(State.CONSENT)
        self.touch()
        unknown = set(consents) - set(REQUIRED_PURPOSES) - set(OPTIONAL_PURPOSES)
        if unknown:
            raise SessionError("session.unknown_purpose", purpose=", ".join(sorted(unknown)))
        for purpose in REQUIRED_PURPOSES:
            if not consents.get(purpose, False):
                raise SessionError("session.consent_required")
        self.consents = {p: bool(consents.get(p, False)) for p in (*REQUIRED_PURPOSES, *OPTIONAL_PURPOSES)}
        self._go(State.SUBMIT, "consent")

    # ----------------------------------------------------------------- dossier, submission, receipt
    def build_dossier(self) -> Dossier:
        """The dossier as captured and confirmed, ready for the dossier builder."""
        self._require(State.SUBMIT)
        if self.procedure_code is None or self.case_id is None:
            raise SessionError("session.no_procedure")
        applicant = self.applicant
        papers: list[Paper] = []
        for i, p in enumerate(self.papers):
            if not p.to_capture:
                continue
            fields = self.confirmed.get(p.component_id, {})
            meta = PaperMetadata(
                paper_type_code=p.paper_type_code,
                paper_name=fields.get("paper_name", p.name),
                holder_id=applicant.account.identifier.value,
                summary=fields.get("summary", ""),
                issue_date=_date(fields.get("issue_date")),
                issuing_authority=fields.get("issuing_authority"),
                valid_from=_date(fields.get("valid_from")),
                valid_until=_date(fields.get("valid_until")),
                validity_scope=fields.get("validity_scope"),
                extra={k.removeprefix("form."): v for k, v in fields.items() if k.startswith("form.")},
            )
            papers.append(Paper(component_id=p.component_id, name=p.name,
                                digitisation_class=p.digitisation_class, declared_pages=p.sheets,
                                captures=self.captures_for(i), metadata=meta))
        dossier = Dossier(submission_id=self.session_id, terminal_id=self.terminal_id, created_at=now_vn(),
                          applicant=applicant, procedure_code=self.procedure_code, case_id=self.case_id,
                          papers=papers)
        dossier.assign_storage_codes()
        return dossier

    def submitted(self, receipt: dict[str, str]) -> None:
        """The package is safely in the outbox; ``receipt`` is what the printer prints."""
        self._require(State.SUBMIT)
        self.touch()
        self.submission_id = self.session_id
        self.receipt = dict(receipt)
        self._go(State.RECEIPT, "submitted")

    def finish(self) -> None:
        self._require(State.RECEIPT)
        self._end(EndReason.COMPLETED, "finish")

    def cancel(self) -> None:
        """Cancel from any state: the session's data is wiped from memory and disk."""
        if self.state == State.END:
            return
        self._end(EndReason.CANCELLED, "cancel")

    # ----------------------------------------------------------------- inactivity
    def tick(self) -> TimeoutStatus:
        """Call periodically (e.g. once a second). Shows a warning after ``warning_after_s`` without
        activity and wipes the session ``wipe_after_s`` later."""
        if self.state in (State.WELCOME, State.END):
            return TimeoutStatus(False, float("inf"), False)
        idle = self._clock() - self._last_activity
        limit = self.warning_after_s + self.wipe_after_s
        if idle >= limit:
            self._end(EndReason.TIMEOUT, "timeout")
            return TimeoutStatus(True, 0.0, True)
        return TimeoutStatus(idle >= self.warning_after_s, limit - idle, False)

    def _end(self, reason: EndReason, event: str) -> None:
        self.end_reason = reason
        self.wipe()
        self._go(State.END, event)

    def wipe(self) -> None:
        """Forget all personal data: in memory, and the session's files on disk."""
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self._reset_data()


def _date(value: str | None) -> date | None:
    """An ISO date confirmed by the citizen, or None when absent or not a date."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def sweep_stale_sessions(sessions_dir: Path) -> int:
    """Delete session folders left behind by a power cut or crash (run at start-up). Returns the count."""
    if not sessions_dir.is_dir():
        return 0
    n = 0
    for child in sessions_dir.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
            n += 1
    return n
