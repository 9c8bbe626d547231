"""The kiosk's use cases, tying the pure session to the devices, vision, dossier builder and outbox.

The touch screens (``kiosk.screens``) and the headless demo (``kiosk.demo``) drive a citizen's visit
through this one class, so both run exactly the same steps:

identify (ID reader, card QR or typed number) -> choose a procedure -> checklist -> capture every page
(live assessment of the preview, still, dewarp, blank and sticky checks) -> OCR and extraction -> confirm
-> consent -> build and seal the package -> outbox -> receipt.

Personal data stays in the session (memory and its 0700 work folder, wiped at the end) and in the
encrypted outbox; nothing here logs it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from kiosk.config import Config
from kiosk.core.applicant import Applicant, Identifier, IdKind, IdSource, Party
from kiosk.core.catalogue import Catalogue, Component, PaperKind, Procedure
from kiosk.core.dossier_model import CaptureVariant, PageCapture, Side, short_code
from kiosk.core.session import CaptureStep, CitizenSession, PaperPlan, State, sweep_stale_sessions
from kiosk.devices.camera import Frame
from kiosk.devices.manager import DeviceManager
from kiosk.devices.receipt import Receipt
from kiosk.errors import KioskError
from kiosk.logging import mask_id
from kiosk.messages import t
from kiosk.queue.outbox import Outbox
from kiosk.staffreview import HeldSubmission, ReviewDesk
from kiosk.timeutil import now_vn
from kiosk.vision.assess import Assessment, assess_frame

log = logging.getLogger("kiosk.workflow")

PAPER_FORMAT = {PaperKind.ID_CARD: "ID1"}
# R9 metadata fields proposed from a paper's text, and the confidence under which the citizen confirms
META_FIELDS = ("paper_name", "summary", "issue_date", "issuing_authority", "valid_from", "valid_until",
               "validity_scope")
LOW_CONFIDENCE = 0.6


class OnFileLookup(Protocol):
    """Asks the back end which required papers already exist as electronic data (R3)."""

    def __call__(self, applicant: Applicant, procedure_code: str, components: list[Component]) -> list[str]:
        ...


def nothing_on_file(applicant: Applicant, procedure_code: str, components: list[Component]) -> list[str]:
    """The lookup used when the back end cannot be asked: every paper is captured."""
    return []


@dataclass
class CaptureOutcome:
    """What happened when the citizen (or auto-capture) took a picture for the current step."""

    accepted: bool
    reasons: list[str] = field(default_factory=list)   # assessment reasons when not accepted
    blank_pending: bool = False                         # back side looks blank: ask the citizen
    sticky_note: bool = False                           # note found: the same side again, note lifted
    next_step: CaptureStep | None = None
    capture: PageCapture | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    paper_kind: str | None = None                       # set when the paper looks like another kind
    expected_kind: str | None = None                    # ... than the checklist asked for

    def messages(self, lang: str = "vi") -> list[str]:
        out = [t(f"capture.{r}", lang) for r in self.reasons]
        if self.blank_pending:
            out.append(t("workflow.blank_confirm", lang))
        if self.sticky_note:
            out.append(t("workflow.sticky_retake", lang))
        if self.paper_kind is not None and self.expected_kind is not None:
            out.append(t("extract.paper_kind_mismatch", lang,
                         found=t(f"extract.kind_{self.paper_kind}", lang),
                         expected=t(f"extract.kind_{self.expected_kind}", lang)))
        return out


@dataclass
class SubmitOutcome:
    submission_id: str
    short_code: str
    package_sha256: str
    receipt: Receipt
    receipt_image_path: Path | None
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class IssuedCode:
    """A submission the back end gave a dossier code (R15) after the officer confirmed it."""

    submission_id: str
    short_code: str
    dossier_code: str


class Workflow:
    """One kiosk's use cases. Not thread-safe: the UI thread (or the demo) calls it."""

    def __init__(
        self,
        cfg: Config,
        *,
        devices: DeviceManager,
        catalogue: Catalogue | None = None,
        outbox: Outbox | None = None,
        on_file: OnFileLookup = nothing_on_file,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.devices = devices
        self.catalogue = catalogue or Catalogue.load()
        self.outbox = outbox
        self.on_file = on_file
        self.clock = clock
        self.lang = cfg.terminal.language  # language of the receipt; the UI sets it on a switch
        from kiosk.vision import ocr as vocr

        vocr.configure_from(cfg)  # [ocr] thread_limit and max_workers for every page this kiosk reads
        self.sessions_dir = cfg.data_dir / "sessions"
        self.staging_dir = cfg.data_dir / "staging"
        swept = sweep_stale_sessions(self.sessions_dir) + sweep_stale_sessions(self.staging_dir)
        if swept:
            log.warning("removed data left by an interrupted session", extra={"folders": swept})
        self.session = self._make_session()
        self._desk: ReviewDesk | None = None

    # ------------------------------------------------------------------ session
    def _make_session(self) -> CitizenSession:
        return CitizenSession(terminal_id=self.cfg.terminal.id, work_dir=self.sessions_dir,
                              warning_after_s=self.cfg.session.inactivity_warning_s,
                              wipe_after_s=self.cfg.session.inactivity_wipe_s, clock=self.clock)

    def accepting(self) -> tuple[bool, str]:
        """Whether a new session may start (the outbox gives back-pressure before the disk fills)."""
        return self.outbox.accepting_new_sessions() if self.outbox is not None else (True, "")

    def new_session(self) -> CitizenSession:
        """End whatever session there was (wiping it) and start a new one at the identify step."""
        ok, reason = self.accepting()
        if not ok:  # reason is the outbox's message key (quota full, disk low): shown as it is
            raise KioskError(reason or "workflow.not_accepting")
        self.session.cancel()
        self.session = self._make_session()
        self.session.start()
        return self.session

    # ------------------------------------------------------------------ identify
    def read_id(self, timeout_s: float) -> Party | None:
        """Wait up to ``timeout_s`` for a card on the MRZ reader; the reader hands over valid MRZs only."""
        from kiosk.core.mrz import to_party

        read = self.devices.id_reader.read(timeout_s)
        if read is None:
            return None
        return to_party(read.result)

    def identify_from_qr(self, image_bgr: np.ndarray) -> Party | None:
        """The CCCD's QR code read by the camera; None when no readable code is in the picture."""
        from kiosk.core.cccd_qr import parse_cccd_qr
        from kiosk.vision.qr import decode_qr

        for payload in decode_qr(image_bgr):
            try:
                return parse_cccd_qr(payload).to_party()
            except KioskError:
                continue
        return None

    def identify_manual(self, text: str, *, kind: str | None = None, birth_date: date | None = None,
                        issuing_state: str | None = None) -> Party:
        """A typed identifier, validated (raises KioskError with a precise Vietnamese message)."""
        from kiosk.core import identifiers

        parsers: dict[str, Callable[[], Identifier]] = {
            IdKind.CCCD.value: lambda: identifiers.parse_cccd(text, birth_date),
            IdKind.PASSPORT.value: lambda: identifiers.parse_passport(text, issuing_state or ""),
            IdKind.TAX_CODE.value: lambda: identifiers.parse_tax_code(text),
            IdKind.AGENCY_CODE.value: lambda: identifiers.parse_agency_code(text),
        }
        if kind is None:
            ident = identifiers.parse_any(text, birth_date=birth_date, issuing_state=issuing_state)
        else:
            if kind not in parsers:
                raise KioskError("workflow.unknown_id_kind", kind=kind)
            ident = parsers[kind]()
        return Party(ident, birth_date=birth_date, source=IdSource.MANUAL)

    def identify(self, submitter: Party, principal: Party | None = None) -> None:
        self.session.identify(submitter, principal)
        log.info("applicant identified", extra={"kind": submitter.identifier.kind.value,
                                                "source": submitter.source.value,
                                                "id": mask_id(submitter.identifier.value),
                                                "representative": principal is not None})

    # ------------------------------------------------------------------ procedure and checklist
    def search_procedures(self, query: str, limit: int = 10) -> list[Procedure]:
        return self.catalogue.search(query, limit=limit)

    def plans_for(self, procedure: Procedure, case_id: str) -> list[PaperPlan]:
        """The checklist of ``case_id``: one plan per required paper, from the catalogue."""
        plans: list[PaperPlan] = []
        for c in procedure.components_for(case_id):
            sides = 2 if c.both_sides else 1
            fee = self.catalogue.fees.on_request_fee(c.pages_min * sides) if c.needs_consent_and_fee else 0
            plans.append(PaperPlan(
                component_id=c.id, name=c.name, paper_type_code=c.paper_type_code,
                digitisation_class=c.digitisation_class, sheets=c.pages_min, min_sheets=c.pages_min,
                max_sheets=c.pages_max, both_sides=c.both_sides, fee_vnd=fee, condition=c.condition,
                paper_format=PAPER_FORMAT.get(c.paper_kind, "A4"), paper_kind=c.paper_kind.value))
        return plans

    def choose(self, code: str, case_id: str | None = None) -> Procedure:
        """Choose the procedure (and case; default: its first case), ask the back end what is on file."""
        procedure = self.catalogue.get(code)
        case = procedure.case(case_id) if case_id else procedure.cases[0]
        plans = self.plans_for(procedure, case.id)
        self.session.choose_procedure(procedure.code, procedure.name, case.id, plans)
        on_file = self.on_file(self.session.applicant, procedure.code, procedure.components_for(case.id))
        if on_file:
            self.session.mark_on_file(on_file)
        return procedure

    # ------------------------------------------------------------------ capture
    def _paper_format(self, step: CaptureStep) -> str:
        return self.session.papers[step.paper_index].paper_format

    def assess_preview(self, frame: Frame | None = None) -> tuple[Frame | None, Assessment | None]:
        """The newest preview frame and its assessment (None before the camera delivers frames)."""
        frame = frame or self.devices.camera.latest()
        if frame is None:
            return None, None
        step = self.session.current_step
        paper = self._paper_format(step) if step else "A4"
        still_size = self.devices.camera.still_size
        return frame, assess_frame(frame.image, still_size=still_size, cfg=self.cfg.vision, paper=paper)

    def capture_step(self, *, preview: Frame | None = None, force: bool = False) -> CaptureOutcome:
        """Take the still for the current step. The preview frame is assessed first; unless ``force``
        (the citizen pressed the shutter anyway) a frame that fails is not captured. The still is then
        found, dewarped and oriented, checked for resolution, blank back side and sticky note, saved in
        the session's folder and recorded."""
        from kiosk.vision.still import process_still

        step = self.session.current_step
        if step is None:
            raise KioskError("workflow.no_step")
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        camera = self.devices.camera
        frame, assessment = self.assess_preview(preview or camera.wait_frame(timeout=5.0))
        timings["assess"] = (time.perf_counter() - t0) * 1000
        if assessment is None or frame is None:
            raise KioskError("workflow.no_frame")
        if not assessment.ok and not force:
            return CaptureOutcome(False, list(assessment.reasons), timings_ms=timings)
        t1 = time.perf_counter()
        still = camera.capture_still()
        timings["still"] = (time.perf_counter() - t1) * 1000
        hint = None
        if assessment.corners is not None:
            sx = still.image.shape[1] / frame.image.shape[1]
            sy = still.image.shape[0] / frame.image.shape[0]
            hint = [[x * sx, y * sy] for x, y in assessment.corners]
        plan = self.session.papers[step.paper_index]
        t2 = time.perf_counter()
        page = process_still(still.image, corners_hint=hint, paper=plan.paper_format,
                             min_dpi=self.cfg.vision.min_dpi)
        timings["process"] = (time.perf_counter() - t2) * 1000
        if not page.found:
            return CaptureOutcome(False, ["no_document"], timings_ms=timings)
        if page.native_dpi < self.cfg.vision.min_dpi:
            return CaptureOutcome(False, ["low_resolution"], timings_ms=timings)
        path = self.session.session_file(
            f"{step.paper_index:02d}-{step.page_no:02d}-{step.side.value}-{step.variant.value}-"
            f"{uuid.uuid4().hex[:6]}.png")
        cv2.imwrite(str(path), page.image)
        quality = {k: float(v) for k, v in assessment.scores.items() if isinstance(v, int | float)}
        quality["dpi"] = float(page.native_dpi)
        capture = PageCapture(page_no=step.page_no, side=step.side, image_path=path, dpi=float(page.dpi),
                              blank=bool(page.blank.blank) and step.side == Side.BACK, quality=quality,
                              device=f"{camera.backend}:{camera.name}")
        sticky = bool(page.sticky.sticky) and step.variant == CaptureVariant.NORMAL
        found_kind = self._paper_kind_warning(page.image, plan, step, capture)
        nxt = self.session.record_capture(capture, sticky_note=sticky)
        timings["total"] = (time.perf_counter() - t0) * 1000
        return CaptureOutcome(True, [], blank_pending=self.session.pending_blank is not None,
                              sticky_note=sticky, next_step=nxt, capture=capture, timings_ms=timings,
                              paper_kind=found_kind, expected_kind=plan.paper_kind if found_kind else None)

    def _paper_kind_warning(self, image: np.ndarray, plan: PaperPlan, step: CaptureStep,
                            capture: PageCapture) -> str | None:
        """The on-device paper-type model's opinion of the first page of a paper: the kind it sees when
        that is not what the checklist asked for (a warning; the citizen decides), else None."""
        if step.side != Side.FRONT or capture.blank or step.variant == CaptureVariant.WITHOUT_NOTE:
            return None
        from kiosk.extract.papertype import check_paper_kind

        check = check_paper_kind(image, plan.paper_kind, first_page=step.page_no == 1)
        capture.quality["paper_kind_confidence"] = float(check.confidence)
        if check.matches:
            return None
        log.info("paper kind mismatch", extra={"expected": plan.paper_kind, "found": check.kind})
        return check.kind

    # ------------------------------------------------------------------ OCR and extraction
    def extract(self) -> None:
        """OCR every captured page (for the PDF text layer, R8) and propose each paper's data (R5)."""
        from kiosk.extract.forms import clean_form_image
        from kiosk.vision.ocr import ocr_pages, to_grey

        s = self.session
        todo: list[PageCapture] = []
        pages: list[tuple[np.ndarray, int]] = []
        leaders: dict[Path, list[tuple[int, int, int, int]]] = {}  # dotted leaders removed per form page
        for index, plan in enumerate(s.papers):
            for cap in s.captures_for(index):
                if cap.blank_confirmed:
                    continue
                image = cv2.imread(str(cap.image_path), cv2.IMREAD_COLOR)
                if image is None:
                    raise KioskError("workflow.image_lost")
                if plan.paper_kind == PaperKind.APPLICATION_FORM.value:
                    # forms are read without their ruling lines and dotted leaders (same pixel grid, so
                    # the word boxes still fit the page image in the PDF)
                    image, leaders[cap.image_path] = clean_form_image(to_grey(image), round(cap.dpi))
                todo.append(cap)
                pages.append((image, round(cap.dpi)))
        # every page of the visit at once: one Tesseract process per core
        for cap, result in zip(todo, ocr_pages(pages, self.cfg.ocr.language), strict=True):
            cap.ocr = result
        for index, plan in enumerate(s.papers):
            captures = s.captures_for(index)
            if captures:
                fields, low = self._extract_fields(plan, captures, leaders)
                s.set_extracted(plan.component_id, fields, low)

    def _extract_fields(self, plan: PaperPlan, captures: list[PageCapture],
                        leaders: dict[Path, list[tuple[int, int, int, int]]]
                        ) -> tuple[dict[str, str], set[str]]:
        """A paper's data from its first page's OCR (R5, R9): the proposed metadata (name from the
        heading, trích yếu, dates, issuing authority) and, for application forms with a known layout,
        the form's fields. Fields that are uncertain are returned in the second set, for the citizen to
        confirm."""
        from kiosk.extract.forms import extract_form, get_form
        from kiosk.extract.metadata import propose_metadata

        first = next((c for c in captures if c.ocr is not None and c.ocr.text.strip()), None)
        if first is None or first.ocr is None:
            return {}, set()
        s = self.session
        component = None
        if s.procedure_code is not None:
            component = self.catalogue.get(s.procedure_code).component(plan.component_id)
        meta = propose_metadata(first.ocr, component=component,
                                applicant_id=s.applicant.account.identifier.value)
        fields: dict[str, str] = {}
        low: set[str] = set()
        for key in META_FIELDS:
            value = getattr(meta, key)
            if value in (None, ""):
                continue
            fields[key] = value.isoformat() if isinstance(value, date) else str(value)
            if meta.confidence.get(key, 1.0) < LOW_CONFIDENCE:
                low.add(key)
        if plan.paper_kind == PaperKind.APPLICATION_FORM.value:
            try:
                form = get_form(plan.paper_type_code)
            except KioskError:
                form = None
            if form is not None:
                extracted = extract_form(first.ocr, form, leaders=leaders.get(first.image_path))
                for key, f in extracted.fields.items():
                    if f.value is None:
                        low.add(f"form.{key}")
                        continue
                    fields[f"form.{key}"] = f.value
                    if f.needs_confirmation:
                        low.add(f"form.{key}")
        return fields, low

    # ------------------------------------------------------------------ submit
    def submit(self) -> SubmitOutcome:
        """Build and seal the package, put it in the outbox (encrypted) and produce the receipt."""
        from kiosk.dossier.package import build_package

        s = self.session
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        dossier = s.build_dossier()
        out = self.staging_dir / dossier.submission_id
        build_package(dossier, out, self.cfg)
        timings["build"] = (time.perf_counter() - t0) * 1000
        sha = ""
        if self.outbox is not None:
            t1 = time.perf_counter()
            entry = self.outbox.enqueue(out, hold=self.cfg.review.hold_for_staff)
            sha = entry.sha256
            timings["enqueue"] = (time.perf_counter() - t1) * 1000
        receipt = self.receipt_for(dossier.submission_id)
        image_path: Path | None = None
        try:
            self.devices.printer.print_receipt(receipt)
            printed = getattr(self.devices.printer, "printed", None)
            image_path = printed[-1] if printed else None
        except KioskError as exc:  # the package is safe in the outbox; staff reprint from the screen
            log.error("receipt not printed", extra={"error": exc.log_text()})
        s.submitted({"submission_id": dossier.submission_id, "short_code": short_code(dossier.submission_id)})
        timings["total"] = (time.perf_counter() - t0) * 1000
        return SubmitOutcome(dossier.submission_id, short_code(dossier.submission_id), sha, receipt,
                             image_path, timings)

    def receipt_for(self, submission_id: str) -> Receipt:
        """The printed receipt (R15): submission code, TTHC code and the masked applicant id, in text and
        in the QR code."""
        s = self.session
        if s.procedure_code is None or s.submitter is None:
            raise KioskError("workflow.no_step")
        lang = self.lang
        account = s.applicant.account.identifier
        pages = sum(len(s.captures_for(i)) for i in range(len(s.papers)))
        lines = [
            (t("receipt.code", lang), short_code(submission_id)),
            (t("receipt.procedure", lang), f"{s.procedure_code} {s.procedure_name or ''}".strip()),
            (t("receipt.applicant", lang), mask_id(account.value)),
            (t("receipt.papers", lang), t("receipt.papers_value", lang,
                                          papers=sum(1 for p in s.papers if p.to_capture), pages=pages)),
            (t("receipt.time", lang), now_vn().strftime("%H:%M, %d/%m/%Y")),
            (t("receipt.terminal", lang), self.cfg.terminal.id),
        ]
        if s.fee_total_vnd:
            lines.append((t("receipt.fee", lang), f"{s.fee_total_vnd:,} đ".replace(",", ".")))
        if self.cfg.review.hold_for_staff:
            lines.append((t("receipt.status", lang), t("receipt.awaiting_review", lang)))
        qr = "|".join(["KIOSK1", submission_id, s.procedure_code, mask_id(account.value),
                       self.cfg.terminal.id])
        return Receipt(title=t("receipt.title", lang), header=self.cfg.terminal.agency_name, lines=lines,
                       qr_payload=qr, footer=t("receipt.footer", lang))

    # ------------------------------------------------------------------ staff review (R12)
    @property
    def review_desk(self) -> ReviewDesk:
        """The staff review desk over this kiosk's outbox (created on first use)."""
        if self.outbox is None:
            raise KioskError("workflow.no_outbox")
        if self._desk is None:
            self._desk = ReviewDesk(self.cfg, self.outbox)
        return self._desk

    def held_submissions(self) -> list[HeldSubmission]:
        return self.review_desk.held() if self.outbox is not None else []

    def open_review(self, submission_id: str) -> HeldSubmission:
        return self.review_desk.open(submission_id)

    def close_review(self) -> None:
        if self._desk is not None:
            self._desk.close()

    def review_needs_pin(self) -> bool:
        """Whether the officer signs with their own token, whose PIN the staff screen asks for."""
        from kiosk.dossier.keys import officer_token_configured

        return officer_token_configured(self.cfg)

    def confirm_review(self, submission_id: str, pin: str | None = None) -> None:
        self.review_desk.confirm(submission_id, pin)

    def return_review(self, submission_id: str, reason_key: str, note: str = "", pin: str | None = None
                      ) -> None:
        self.review_desk.return_submission(submission_id, reason_key, note, pin)

    def issued_dossier_codes(self, limit: int = 10) -> list[IssuedCode]:
        """The dossier codes the back end gave this kiosk's newest confirmed submissions (R15)."""
        if self.outbox is None:
            return []
        return [IssuedCode(sid, short_code(sid), code)
                for sid, code in self.outbox.issued_dossier_codes(limit)]

    def print_dossier_code(self, submission_id: str) -> None:
        """Print the slip with the back end's dossier code (R15) for the citizen at the desk."""
        issued = {c.submission_id: c for c in self.issued_dossier_codes(limit=100)}
        code = issued.get(submission_id)
        if code is None:
            raise KioskError("workflow.no_dossier_code", code=short_code(submission_id))
        lang = self.lang
        slip = Receipt(
            title=t("receipt.dossier_title", lang), header=self.cfg.terminal.agency_name,
            lines=[(t("receipt.dossier_code", lang), code.dossier_code),
                   (t("receipt.code", lang), code.short_code),
                   (t("receipt.time", lang), now_vn().strftime("%H:%M, %d/%m/%Y")),
                   (t("receipt.terminal", lang), self.cfg.terminal.id)],
            qr_payload="|".join(["KIOSK1-HS", code.dossier_code, code.short_code, self.cfg.terminal.id]),
            footer=t("receipt.dossier_footer", lang))
        self.devices.printer.print_receipt(slip)

    def finish(self) -> None:
        if self.session.state != State.END:
            self.session.finish()
