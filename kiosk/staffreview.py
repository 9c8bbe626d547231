"""The staff review desk (R12): submissions held on the kiosk until an officer confirms or returns them.

With ``review.hold_for_staff`` the workflow puts each new package into the outbox as *held*: encrypted
and durable like any other, but not sent. On the staff screen the officer sees the held submissions, opens
one (its papers' pages, decrypted into a private folder that is wiped when the review closes), compares
them with the originals the citizen hands over, and either confirms (every paper countersigned, R11) or
returns the submission with a reason. Either way :func:`kiosk.dossier.review.review_package` writes the
reviewed package, signed by the officer, and the outbox swaps it in and releases it to the uplink: the back
end receives the decision with the papers.

Plain Python over the outbox and the file system; the Kivy staff screen is a view of this class.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk.config import Config
from kiosk.core.dossier_model import short_code
from kiosk.errors import KioskError
from kiosk.logging import mask_id

if TYPE_CHECKING:
    from kiosk.queue.outbox import Outbox

log = logging.getLogger("kiosk.staffreview")

THUMB_PX = 1600  # long side of the page images shown to the officer (fills the screen width when enlarged)
RETURN_REASONS = ("missing_paper", "unreadable", "not_matching_original", "wrong_procedure")


@dataclass(frozen=True)
class PaperView:
    name: str
    pages: int
    images: tuple[Path, ...] = ()  # display copies of the pages (PNG), only while the review is open


@dataclass(frozen=True)
class HeldSubmission:
    submission_id: str
    short_code: str
    procedure_code: str
    procedure_name: str   # from the catalogue ("" for a code it does not know)
    applicant: str        # masked identifier: the officer checks the card, the screen shows the last digits
    created_at: str
    papers: tuple[PaperView, ...]


@cache
def _procedure_name(code: str) -> str:
    from kiosk.core.catalogue import Catalogue

    try:
        return Catalogue.load().get(code).short_name
    except KioskError:
        return ""


def _summary(manifest: dict[str, Any], images: dict[int, tuple[Path, ...]] | None = None) -> HeldSubmission:
    sid = str(manifest["submission_id"])
    party = manifest.get("principal") or manifest.get("applicant") or {}
    papers = tuple(PaperView(str(p.get("name", "")), int(p.get("page_count", 0)), (images or {}).get(i, ()))
                   for i, p in enumerate(manifest.get("papers", [])))
    code = str(manifest.get("procedure_code", ""))
    return HeldSubmission(sid, short_code(sid), code, _procedure_name(code),
                          mask_id(str(party.get("id_value", ""))), str(manifest.get("created_at", "")),
                          papers)


def _page_images(pdf: Path, out_dir: Path, max_px: int) -> tuple[Path, ...]:
    """The page images embedded in a paper's PDF, downscaled for the screen, as PNG files."""
    import pikepdf
    from pikepdf import PdfImage

    out: list[Path] = []
    with pikepdf.open(pdf) as doc:
        for n, page in enumerate(doc.pages, 1):
            images = list(page.get_images().values())
            if not images:
                continue
            pil = PdfImage(images[0]).as_pil_image()  # type: ignore[arg-type]
            pil.thumbnail((max_px, max_px))
            target = out_dir / f"{pdf.stem}.p{n}.png"
            pil.convert("RGB").save(target, optimize=False, compress_level=1)
            out.append(target)
    return tuple(out)


def _take_lock(folder: Path) -> int | None:
    """An exclusive lock on ``folder/.lock`` (fd to keep), or None when a live desk holds it."""
    try:
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except (NotADirectoryError, FileNotFoundError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


class ReviewDesk:
    """``ReviewDesk(cfg, outbox)``: list, open, confirm or return the submissions held for staff.

    At most one submission is open per desk; its decrypted copy lives in a folder of
    ``<data_dir>/review/`` (0700), locked (``flock``) while it is open, and is wiped by :meth:`close`, by the
    decision and by the next :meth:`open`. A new desk (start-up after a power cut) wipes the folders no
    live desk holds, so the touch screen and ``kiosk review`` can work side by side.
    """

    def __init__(self, cfg: Config, outbox: Outbox) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.work = cfg.data_dir / "review"
        self._open: tuple[str, Path, int] | None = None  # (submission id, folder, lock fd)
        stale = 0
        for folder in self.work.iterdir() if self.work.is_dir() else []:
            if folder.is_dir():
                fd = _take_lock(folder)
                if fd is None:
                    continue  # another desk (the touch screen, a command) has it open
                shutil.rmtree(folder, ignore_errors=True)
                os.close(fd)
            else:
                folder.unlink(missing_ok=True)
            stale += 1
        if stale:
            log.warning("decrypted review copies left by an interrupted review were wiped",
                        extra={"folders": stale})

    def held(self) -> list[HeldSubmission]:
        """The held submissions, oldest first (only their manifests are decrypted, in memory)."""
        out = []
        for entry in self.outbox.held():
            try:
                out.append(_summary(self.outbox.read_manifest(entry.submission_id)))
            except KioskError as exc:
                log.error("held submission unreadable", extra={"submission": entry.submission_id[:8],
                                                               "error": exc.log_text()})
        return out

    def _decrypt(self, sid: str) -> Path:
        self.close()
        entry = self.outbox.get(sid)
        if entry is None or entry.state != "held":
            raise KioskError("review.not_held", code=sid[:8].upper())
        self.work.mkdir(mode=0o700, exist_ok=True)
        self.work.chmod(0o700)
        folder = self.work / uuid.uuid4().hex
        folder.mkdir(mode=0o700)
        fd = _take_lock(folder)
        assert fd is not None  # a folder this desk just made
        self._open = (sid, folder, fd)
        try:
            return self.outbox.extract_package(sid, folder / "package")
        except BaseException:
            self.close()
            raise

    def open(self, sid: str, *, max_px: int = THUMB_PX) -> HeldSubmission:
        """Decrypt a held submission and make display copies of its pages (wiped by :meth:`close`)."""
        pkg = self._decrypt(sid)
        try:
            manifest = json.loads((pkg / "manifest.json").read_text("utf-8"))
            shown = pkg.parent / "pages"
            shown.mkdir(mode=0o700)
            images = {i: _page_images(pkg / p["file"], shown, max_px)
                      for i, p in enumerate(manifest.get("papers", []))}
        except BaseException:
            self.close()
            raise
        log.info("review opened", extra={"submission": sid[:8]})
        return _summary(manifest, images)

    def close(self) -> None:
        """Wipe the decrypted copy of the open submission, if any."""
        if self._open is not None:
            _sid, folder, fd = self._open
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
            self._open = None

    def confirm(self, sid: str, pin: str | None = None) -> None:
        """Confirm: countersign every paper, sign the decision, release the package to the uplink. ``pin``
        unlocks the officer's own token when officers sign with one (``signing.staff_pkcs11_module``)."""
        self._decide(sid, "confirmed", None, pin)

    def return_submission(self, sid: str, reason_key: str, note: str = "", pin: str | None = None) -> None:
        """Return with a reason (one of ``RETURN_REASONS``, recorded in Vietnamese, plus an optional
        note); the package goes to the back end with the signed decision and the papers as captured."""
        from kiosk.messages import t

        if reason_key not in RETURN_REASONS:
            raise KioskError("review.bad_reason", reason=reason_key)
        reason = t(f"review.reason_{reason_key}", "vi")
        if note.strip():
            reason = f"{reason}: {note.strip()}"
        self._decide(sid, "returned", reason, pin)

    def _decide(self, sid: str, decision: str, reason: str | None, pin: str | None) -> None:
        from kiosk.dossier.review import review_package

        try:
            pkg = self._decrypt(sid)
            reviewed = review_package(pkg, pkg.parent / "reviewed", self.cfg, decision=decision,
                                      reason=reason, pin=pin)
            self.outbox.release(sid, reviewed)
        finally:
            self.close()
        log.info("submission reviewed", extra={"submission": sid[:8], "decision": decision})
