"""What the screens need from the rest of the kiosk, as structural types.

The screens are thin views over ``kiosk.workflow.Workflow`` (which owns the devices, the catalogue, the
vision pipeline and the outbox) and the ``CitizenSession`` it holds. Typing them against these protocols
keeps the screens importable and testable without the hardware: the tests drive the real screens with a
small in-test workflow that satisfies the same protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kiosk.core.applicant import Party
from kiosk.core.session import CaptureStep, CitizenSession


class AssessmentLike(Protocol):
    """``kiosk.vision`` frame assessment: ``reasons`` come from blur, glare, dark, cutoff, no_document,
    low_resolution; ``corners`` are TL, TR, BR, BL in frame pixels (or None)."""

    @property
    def ok(self) -> bool: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def corners(self) -> Any: ...


class CaptureOutcomeLike(Protocol):
    @property
    def accepted(self) -> bool: ...
    @property
    def reasons(self) -> Sequence[str]: ...
    @property
    def blank_pending(self) -> bool: ...
    @property
    def sticky_note(self) -> bool: ...
    @property
    def next_step(self) -> CaptureStep | None: ...


class ReceiptLike(Protocol):
    @property
    def lines(self) -> Sequence[tuple[str, str]]: ...


class SubmitOutcomeLike(Protocol):
    @property
    def submission_id(self) -> str: ...
    @property
    def short_code(self) -> str: ...
    @property
    def receipt(self) -> ReceiptLike: ...
    @property
    def receipt_image_path(self) -> Path | None: ...


class ProcedureLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def cases(self) -> Sequence[Any]: ...


class WorkflowPort(Protocol):
    """The part of ``kiosk.workflow.Workflow`` that the screens call.

    ``new_session()`` ends the current session (wiping it) and starts a new one at ``identify``; it
    raises KioskError when the kiosk is not accepting new dossiers. ``assess_preview()`` returns the
    newest preview frame (a ``kiosk.devices.camera.Frame`` with ``.image``, or a BGR array) and its
    assessment. ``capture_step(force=True)`` is the citizen pressing the shutter; without ``force`` a
    frame that fails the assessment is not captured (auto-capture). ``submit()`` records the submission
    in the session (state ``receipt``). The staff screen uses ``device_status()`` / ``outbox_status()``
    when the workflow has them, else ``devices.health()`` and ``outbox.counts()`` (``kiosk.screens.status``).
    """

    @property
    def session(self) -> CitizenSession: ...

    def new_session(self) -> CitizenSession: ...

    def read_id(self, timeout_s: float) -> Party | None: ...

    def identify_from_qr(self, image_bgr: np.ndarray) -> Party | None: ...

    def identify_manual(
        self,
        text: str,
        *,
        kind: str | None = None,
        birth_date: date | None = None,
        issuing_state: str | None = None,
    ) -> Party: ...

    def identify(self, submitter: Party, principal: Party | None = None) -> None: ...

    def search_procedures(self, query: str, limit: int = 10) -> list[Any]: ...

    def choose(self, code: str, case_id: str | None = None) -> Any: ...

    def assess_preview(self) -> tuple[Any, Any]: ...

    def capture_step(self, *, force: bool = False) -> Any: ...

    def extract(self) -> None: ...

    def submit(self) -> Any: ...

    # staff review desk (R12; kiosk.staffreview): HeldSubmission-like objects with submission_id,
    # short_code, procedure_code, applicant (masked), created_at and papers (name, pages, images)
    def held_submissions(self) -> list[Any]: ...

    def open_review(self, submission_id: str) -> Any: ...

    def close_review(self) -> None: ...

    def review_needs_pin(self) -> bool: ...

    def confirm_review(self, submission_id: str, pin: str | None = None) -> None: ...

    def return_review(self, submission_id: str, reason_key: str, note: str = "", pin: str | None = None
                      ) -> None: ...

    # dossier codes the back end issued (R15): IssuedCode-like (submission_id, short_code, dossier_code)
    def issued_dossier_codes(self, limit: int = 10) -> list[Any]: ...

    def print_dossier_code(self, submission_id: str) -> None: ...
