"""``kiosk demo``: one citizen's visit end to end, headless, on the simulated devices.

1. The simulated ID reader supplies a specimen CCCD MRZ; the birth-registration procedure is chosen.
2. The simulated camera plays the sample photos shipped with the package; the first is blurred and is
   rejected with a reason.
3. Each accepted page is quality-checked, dewarped and OCR'd in Vietnamese with Tesseract.
4. One PDF/A per paper is built and sealed with the device certificate (a demo PKI is created on first
   run and kept in the data directory).
5. The manifest is signed and the package waits in the encrypted outbox for the one-stop officer (R12): the
   demo's officer opens it on the staff desk and confirms it, which countersigns every paper and signs the
   decision. The reviewed package is published over MQTT (TLS with client certificates) to a Mosquitto
   broker that the demo starts on a free loopback port.
6. ``kiosk receiver`` (a separate process) verifies the package, stores it and sends a signed receipt with
   the dossier code it assigned (R15); the kiosk purges its copy and prints the dossier-code slip.
7. The receipt is printed by the file printer (a PNG).

Each step is printed with its timing. Exit 0 only when the receiver stored a verified package (checked
again here with ``verify_package`` and poppler's ``pdfsig``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from kiosk.config import Config
from kiosk.core.applicant import Applicant
from kiosk.core.catalogue import Component
from kiosk.core.session import State
from kiosk.errors import KioskError
from kiosk.logging import mask_id

T = TypeVar("T")

DEMO_PROCEDURE = "1.001193"         # Đăng ký khai sinh
DEMO_CASE = "co_giay_chung_sinh"    # the child has a birth notice (giấy chứng sinh)


def samples_dir() -> Path:
    """The sample photos the simulated camera plays by default (made by scripts/make_samples.py)."""
    return Path(str(resources.files("kiosk.data.samples").joinpath("camera")))


def chip_identity_on_file(applicant: Applicant, procedure_code: str, components: list[Component]
                          ) -> list[str]:
    """The demo's stand-in for the back end's 'already on file' answer (R3): the applicant's own
    identity paper exists as electronic data in the national population database, and papers that are
    needed only in some situations (residence proof, authorisation) do not apply to this visit."""
    return [c.id for c in components if c.paper_kind.value == "id_card" and c.reusable]


class Steps:
    """Prints numbered steps with their wall-clock time."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.n = 0
        self.timings: dict[str, float] = {}

    def run(self, title: str, fn: Callable[[], T]) -> T:
        self.n += 1
        t0 = time.perf_counter()
        self.out.write(f"[{self.n}] {title} ...\n")
        self.out.flush()
        result = fn()
        dt = time.perf_counter() - t0
        self.timings[title] = dt
        self.out.write(f"    done in {dt:.2f} s\n")
        self.out.flush()
        return result

    def note(self, text: str) -> None:
        self.out.write(f"    {text}\n")
        self.out.flush()


def pdfsig_report(pdf: Path, nss_dir: Path | None) -> tuple[bool, str]:
    """poppler's independent check: every signature valid and the last covers the whole document.
    (pdfsig exits 0 even for invalid signatures, so its output is parsed.)"""
    cmd = ["pdfsig"]
    if nss_dir is not None:
        cmd += ["-nssdir", f"sql:{nss_dir}"]
    out = subprocess.run([*cmd, str(pdf)], capture_output=True, text=True, timeout=60)
    text = out.stdout
    sigs = text.count("Signature #")
    ok = (sigs >= 1 and text.count("Signature Validation: Signature is Valid.") == sigs
          and "Total document signed" in text.split("Signature #")[-1])
    return ok, text


def nss_trust_db(ca_pem: Path, where: Path) -> Path | None:
    """An NSS database trusting the demo CA, so pdfsig can also report the certificate as trusted."""
    if shutil.which("certutil") is None:
        return None
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "cert9.db").exists():
        subprocess.run(["certutil", "-N", "-d", f"sql:{where}", "--empty-password"], check=True,
                       capture_output=True)
        subprocess.run(["certutil", "-A", "-d", f"sql:{where}", "-n", "Kiosk demo CA", "-t", "C,C,C",
                        "-i", str(ca_pem)], check=True, capture_output=True)
    return where


@contextmanager
def receiver_process(cfg: Config, broker: Any, store: Path, backend_dir: Path, log_path: Path
                     ) -> Iterator[subprocess.Popen[bytes]]:
    """``kiosk receiver`` in its own process, as the back end would run it."""
    tls = broker.client_tls("receiver-1")
    cmd = [sys.executable, "-m", "kiosk.cli", "--log-level", "info", "receiver", "--store", str(store),
           "--once", "1",
           "--id", "receiver-1", "--broker", broker.url, "--data-dir", str(backend_dir),
           "--cert", str(tls.cert_file), "--key", str(tls.key_file), "--ca", str(tls.ca_file),
           "--trust-root", str(cfg.data_dir / "pki" / "ca.pem")]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        try:
            # Wait until the receiver holds its (shared) subscription: messages published before it
            # subscribed would only be offered again after the receipt timeout.
            deadline = time.monotonic() + 30
            while b'"mqtt connected"' not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise KioskError("demo.receiver_failed", log=str(log_path))
                time.sleep(0.05)
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


def run_demo(cfg: Config, out: Any = sys.stdout) -> int:
    from kiosk.devices.camera_sim import FolderCamera
    from kiosk.devices.idreader_sim import SimulatedIdReader
    from kiosk.devices.manager import DeviceManager
    from kiosk.devices.printer_file import FilePrinter
    from kiosk.dossier.keys import trust_roots
    from kiosk.dossier.verify import verify_package
    from kiosk.queue.broker import MosquittoBroker
    from kiosk.queue.outbox import Outbox
    from kiosk.queue.uplink import Uplink
    from kiosk.workflow import Workflow

    t_start = time.perf_counter()
    cfg = replace(cfg, review=replace(cfg.review, hold_for_staff=True))  # the demo shows the staff review
    data = cfg.data_dir
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    steps = Steps(out)
    out.write(f"kiosk demo: terminal {cfg.terminal.id}, data directory {data}\n")

    camera = FolderCamera(samples_dir(), preview_size=(cfg.devices.camera_preview_width,
                                                       cfg.devices.camera_preview_height),
                          fps=cfg.devices.camera_fps, frames_per_image=10**9)
    reader = SimulatedIdReader()
    printer = FilePrinter(data / "receipts")
    devices = DeviceManager({"camera": camera, "id_reader": reader, "printer": printer})
    run_dir = Path(tempfile.mkdtemp(prefix="demo-", dir=data))
    store = run_dir / "backend-store"
    broker = MosquittoBroker(run_dir / "broker", data / "pki")
    try:
        devices.start()
        outbox = Outbox(data, cfg)
        wf = Workflow(cfg, devices=devices, outbox=outbox, on_file=chip_identity_on_file)
        session = wf.new_session()

        # 1. identify and choose ------------------------------------------------------------------
        def identify() -> None:
            reader.present()
            party = wf.read_id(5.0)
            if party is None:
                raise KioskError("demo.no_id")
            wf.identify(party)
            steps.note(f"CCCD read from the MRZ reader: {mask_id(party.identifier.value)} "
                       f"({party.source.value})")
            proc = wf.choose(DEMO_PROCEDURE, DEMO_CASE)
            steps.note(f"procedure {proc.code} {proc.name}, case {DEMO_CASE}")
            for p in session.papers:
                status = "on file (R3)" if p.on_file else ("to capture" if p.to_capture else "not applicable")
                steps.note(f"  - {p.name}: {status}")
            session.start_capture()

        steps.run("Identify the citizen (simulated ID reader) and choose the procedure", identify)

        # 2-3. capture ----------------------------------------------------------------------------
        def capture() -> None:
            index = 0
            while session.state == State.CAPTURE:
                step = session.current_step
                if step is None and session.pending_blank is not None:
                    session.confirm_blank(True)
                    steps.note("    back side flagged blank; the citizen confirms it (kept, R6)")
                    continue
                assert step is not None
                camera.select(index)
                before = camera.latest()
                frame = camera.wait_frame(before.seq if before else -1, timeout=5.0)
                outcome = wf.capture_step(preview=frame)
                sample = sorted(samples_dir().glob("*.jpg"))[index].name
                label = f"{session.papers[step.paper_index].name}, tờ {step.page_no}, {step.side.value}"
                if outcome.accepted:
                    cap = outcome.capture
                    assert cap is not None
                    steps.note(f"{sample}: accepted for {label} ({cap.dpi:.0f} dpi, "
                               f"{outcome.timings_ms['total']:.0f} ms)")
                    if outcome.paper_kind is not None:
                        steps.note(f"    paper-type warning: {outcome.messages('vi')[-1]}")
                else:
                    steps.note(f"{sample}: rejected ({', '.join(outcome.reasons)}): "
                               f"{'; '.join(outcome.messages('vi'))}")
                index += 1
                if index >= camera.count and session.state == State.CAPTURE and session.current_step:
                    raise KioskError("demo.samples_exhausted")
            if session.state != State.REVIEW:
                raise KioskError("demo.capture_incomplete")

        steps.run("Capture every page with the simulated camera (assess, still, dewarp, checks)", capture)
        steps.run("OCR in Vietnamese (Tesseract) and extract data", wf.extract)
        for i, p in enumerate(session.papers):
            for c in session.captures_for(i):
                if c.ocr is not None:
                    steps.note(f"{p.name} tờ {c.page_no} {c.side.value}: {len(c.ocr.words)} words, "
                               f"mean confidence {c.ocr.confidence:.0f}")
            fields = session.extracted.get(p.component_id, {})
            if fields:
                form_fields = [k for k in fields if k.startswith("form.")]
                steps.note(f"  extracted: paper name \"{fields.get('paper_name', '')}\", "
                           f"{len(form_fields)} form fields, "
                           f"{len(session.low_confidence.get(p.component_id, ()))} to confirm")
        session.review_ok()
        session.confirm_data()
        session.give_consent({"process_dossier": True, "save_to_data_store": False})

        # 4-5. package and outbox -----------------------------------------------------------------
        submit = steps.run("Build PDF/A papers, seal them, sign the manifest, put the package in the outbox",
                           wf.submit)
        sid = submit.submission_id
        steps.note(f"submission {submit.short_code} ({sid}), package SHA-256 {submit.package_sha256[:16]}…")

        # 5. staff review on the kiosk (R11, R12) -------------------------------------------------
        def review() -> None:
            held = [h.short_code for h in wf.held_submissions()]
            steps.note(f"held for staff review: {', '.join(held)}")
            opened = wf.open_review(sid)
            shown = sum(len(p.images) for p in opened.papers)
            steps.note(f"officer opens {opened.short_code}: {len(opened.papers)} papers, {shown} pages shown")
            wf.confirm_review(sid)
            entry = outbox.get(sid)
            steps.note(f"confirmed: papers countersigned, decision signed; outbox state = "
                       f"{entry.state if entry else '?'}")

        steps.run("Officer confirms the submission on the staff screen", review)

        # 5-6. transport, receiver, purge ---------------------------------------------------------
        dossier_code: list[str] = []

        def deliver() -> None:
            broker.start()
            broker.provision_terminal(data, cfg.terminal.id)
            steps.note(f"Mosquitto listening on {broker.url} (mutual TLS)")
            kcfg = replace(cfg, mqtt=replace(cfg.mqtt, broker=broker.url))
            with receiver_process(kcfg, broker, store, run_dir / "backend", run_dir / "receiver.log") as rp:
                uplink = Uplink(kcfg, outbox)
                done = uplink.run_until_empty(timeout=45.0)
                try:
                    rp.wait(20)
                except subprocess.TimeoutExpired:
                    pass
            entry = outbox.get(sid)
            state = entry.state if entry else "?"
            steps.note(f"uplink finished: outbox state of the submission = {state}")
            if not done or state not in ("purged", "receipted"):
                reason = entry.reason if entry else ""
                raise KioskError("demo.not_delivered", state=state, reason=reason or "")
            issued = {c.submission_id: c.dossier_code for c in wf.issued_dossier_codes()}
            if sid in issued:  # R15: the back end numbered the confirmed dossier; the officer prints it
                dossier_code.append(issued[sid])
                wf.print_dossier_code(sid)
                steps.note(f"signed receipt with dossier code {issued[sid]}; slip printed for the citizen")

        steps.run("Publish over MQTT, receive, verify and store, receipt back, purge", deliver)

        # verification of what the back end holds -------------------------------------------------
        stored = store / sid

        def check_store() -> tuple[bool, list[Path]]:
            report = verify_package(stored, trust_roots(cfg))
            steps.note(f"verify_package: {'ok' if report.ok else 'FAILED: ' + '; '.join(report.failures)}")
            nss = nss_trust_db(cfg.data_dir / "pki" / "ca.pem", run_dir / "nss")
            pdfs = sorted((stored / "papers").glob("*.pdf"))
            all_ok = report.ok and bool(pdfs)
            for pdf in pdfs:
                ok, _text = pdfsig_report(pdf, nss)
                all_ok &= ok
                verdict = "signature valid, whole document signed" if ok else "FAILED"
                steps.note(f"pdfsig {pdf.name}: {verdict}")
            return all_ok, pdfs

        ok, pdfs = steps.run("Check the stored package independently (verify_package, pdfsig)", check_store)
        leftovers = [p for p in (data / "outbox" / "blobs", data / "staging", data / "review")
                     if p.exists() and any(p.iterdir())]
        if leftovers:
            ok = False
            steps.note(f"personal data left on the kiosk: {', '.join(map(str, leftovers))}")

        # 7. receipt ------------------------------------------------------------------------------
        def finish() -> None:
            if submit.receipt_image_path is not None:
                steps.note(f"receipt printed to {submit.receipt_image_path}")
            wf.finish()
            steps.note(f"session ended and wiped: {not session.work_dir.exists()}")

        steps.run("Receipt and end of session", finish)
        total = time.perf_counter() - t_start
        result = {"ok": ok, "submission_id": sid, "stored_package": str(stored),
                  "papers": [p.name for p in pdfs],
                  "receipt": str(submit.receipt_image_path) if submit.receipt_image_path else None,
                  "dossier_code": dossier_code[0] if dossier_code else None,
                  "seconds": round(total, 2)}
        out.write(f"stored package: {stored}\n")
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.write(("DEMO OK" if ok else "DEMO FAILED") + f" in {total:.1f} s\n")
        return 0 if ok else 1
    finally:
        broker.stop()
        devices.stop()
        wf_session = locals().get("session")
        if wf_session is not None and wf_session.state != State.END:
            wf_session.cancel()
