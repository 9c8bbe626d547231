"""The receiver's durable store: chunk staging, streaming reassembly, admission, exactly-once storage.

Layout under the store root (shared by every receiver of one share group)::

    <root>/<submission_id>/            a stored package: manifest.json, manifest.json.p7s, papers/...,
                                       and validation.json (the deep validation's result, see below)
    <root>/.receipts/<submission_id>.json   the receipt of a stored package (sent again for duplicates)
    <root>/.rejected/<sid>.<sha256>.json    the last rejection of (id, hash), answered to resume offers
    <root>/.staging/<terminal>/<sid>/<sha256>/  meta.json, data.bin, chunks.log, pkg/ (see assembly.py)
    <root>/.validate/<submission_id>.json   a stored package whose deep validation is still to run
    <root>/.locks/<sid>.lock                serialises the storing of one submission id
    <root>/.audit/receiver-audit.log         append-only, hash-chained; metadata only

Chunks are hashed and untarred as they arrive (:mod:`kiosk.receiver.assembly`): by the time the last
chunk is in, the archive's SHA-256 and every file's SHA-256 are known and the files are written and
fsynced. What remains before the receipt is **admission** (:func:`kiosk.dossier.verify.manifest_checks`
and :func:`~kiosk.dossier.verify.file_checks`, the same functions ``verify_package`` runs): the archive's
SHA-256, the manifest's schema and detached signature chaining to the trust roots, the terminal and
submission ids, and the file set and every paper's size and SHA-256 against the signed manifest. The
manifest checks run as soon as the manifest and its signature are extracted (they are the archive's
first members), the file checks at the end. That proves the package is byte for byte what the
registered kiosk signed; it is then stored (one ``rename`` of a fully written, fsynced folder; the
receipt file is written and fsynced before it and counts only when the folder exists) and receipted.

The **deep validation** (``verify_package``: PAdES seals, PDF/A rules, page counts, staff review) runs
after the receipt, in the receiver's background worker (``validate_stored``). Its result is written to
``<root>/<id>/validation.json`` and to the audit log; a failure is logged as an error and published as an
alert (``kiosk.receiver.server``). A marker in ``.validate/`` is written before the package is stored and
removed after its validation, so a receiver that restarts finishes what was pending. With ``strict``, the
deep validation runs before the receipt instead, and a failure rejects the package, as before.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from kiosk.fsutil import fsync_dir
from kiosk.logging import mask
from kiosk.queue import protocol as proto
from kiosk.queue.audit import AuditLog
from kiosk.queue.chunking import MANIFEST, SIGNATURE, SUBMISSION_ID_RE, ExtractedFile
from kiosk.queue.protocol import ChunkHeader
from kiosk.receiver.assembly import Assembly, LeaseBusy, StageMeta, read_journal, stage_chunk
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.receiver.store")

Verifier = Callable[[Path, list[x509.Certificate]], Any]
VALIDATION = "validation.json"
# R15: the one-stop dossier code V1V2V3.Z1Z2.Y1Y2.MX1X2-YYMMDD-XXXX: the receiving agency's code, the day
# of reception and that agency's sequence number of the day. Assigned to a package the officer confirmed.
AGENCY_CODE_RE = re.compile(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}")


def default_verifier() -> Verifier:
    """``kiosk.dossier.verify.verify_package`` - the deep validation of stored packages."""
    from kiosk.dossier.verify import verify_package

    return verify_package


@dataclass
class Outcome:
    """What the server should publish after handling a message."""

    receipt: dict[str, Any] | None = None
    need: list[int] | None = None
    stored: bool = False  # a new package was stored by this call
    rejected: bool = False  # a new rejection was decided by this call
    notes: list[str] = field(default_factory=list)
    cleanup: Path | None = None  # staging folder to remove once the answer is out (PackageStore.cleanup)
    validate: str | None = None  # submission id whose deep validation is now due
    timings: dict[str, float] = field(default_factory=dict)


def _write_json_atomic(path: Path, obj: dict[str, Any], tmp_dir: Path | None = None) -> None:
    """Write ``obj`` to ``path`` durably; the temporary file lives in ``tmp_dir`` (default: beside it)."""
    tmp = (tmp_dir or path.parent) / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _fsync_tree(path: Path) -> None:
    for root, _dirs, _files in os.walk(path):
        fsync_dir(Path(root))


@dataclass
class _Stage:
    """What this process knows about one staging folder."""

    path: Path
    meta: StageMeta
    assembly: Assembly | None = None
    # (VerifyReport, manifest) of the manifest checks, computed on a side thread once both files are in
    admission: Future[tuple[Any, dict[str, Any] | None]] | None = None


class PackageStore:
    """Reassembles and stores packages for ``receiver_id``; filesystem only (no MQTT).

    Thread-safe across packages; the messages of one package must come from one thread at a time (the
    server has a worker per package)."""

    def __init__(self, root: Path, trust_roots: list[x509.Certificate], *, receiver_id: str,
                 verifier: Verifier | None = None, max_size: int = 2 << 30, strict: bool = False,
                 staging_quota: int = 4 << 30) -> None:
        self.root = Path(root)
        self.trust_roots = trust_roots
        self.receiver_id = receiver_id
        self.verifier = verifier or default_verifier()
        self.max_size = max_size
        self.staging_quota = staging_quota  # bytes one terminal may have in unfinished transfers
        self._over_quota_logged: set[tuple[str, str, str]] = set()
        self.strict = strict
        self.staging = self.root / ".staging"
        self.receipts = self.root / ".receipts"
        self.rejected = self.root / ".rejected"
        self.locks = self.root / ".locks"
        self.pending_dir = self.root / ".validate"
        self.tmp = self.root / ".tmp"
        for d in (self.root, self.staging, self.receipts, self.rejected, self.locks, self.pending_dir,
                  self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.audit = AuditLog(self.root / ".audit" / "receiver-audit.log", receiver_id)
        self._stages: dict[tuple[str, str, str], _Stage] = {}
        self._guard = threading.Lock()
        # fsyncs of extracted files and the manifest checks run here, beside the package workers
        self._side = ThreadPoolExecutor(max_workers=2, thread_name_prefix="receiver-side")

    def close(self) -> None:
        self._side.shutdown(wait=True)

    # ---- lookups ------------------------------------------------------------------------------------

    def stored_ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())

    def stored_receipt(self, sid: str) -> dict[str, Any] | None:
        rpath = self.receipts / f"{sid}.json"
        if (self.root / sid).is_dir() and rpath.is_file():
            r: dict[str, Any] = json.loads(rpath.read_text("utf-8"))
            return r
        return None

    def validation(self, sid: str) -> dict[str, Any] | None:
        """The deep validation record of a stored package (None while it is pending)."""
        path = self.root / sid / VALIDATION
        if not path.is_file():
            return None
        v: dict[str, Any] = json.loads(path.read_text("utf-8"))
        return v

    def present_chunks(self, terminal: str, sid: str, sha: str) -> set[int]:
        """Chunk indices staged for (terminal, sid, sha), according to the staging journal."""
        return set(read_journal(self._stage_dir(terminal, sid, sha)))

    def _rejection_path(self, sid: str, sha: str) -> Path:
        return self.rejected / f"{sid}.{sha}.json"

    def _receipt(self, terminal: str, sid: str, sha: str, status: str, *, reason: str | None = None,
                 failures: list[str] | None = None, files: int | None = None,
                 validation: str | None = None, dossier_code: str | None = None) -> dict[str, Any]:
        r: dict[str, Any] = {"v": 1, "type": "receipt", "submission_id": sid, "terminal_id": terminal,
                             "sha256": sha, "status": status, "received_at": iso(now_vn()),
                             "receiver": self.receiver_id}
        if reason:
            r["reason"] = reason
            r["failures"] = [f[:500] for f in (failures or [])][:50]
        if files is not None:
            r["files"] = files
        if dossier_code is not None:
            r["dossier_code"] = dossier_code
        if validation is not None:
            r["validation"] = validation
        return proto.validate("receipt", r)

    def _settled(self, terminal: str, sid: str, sha: str, *, with_rejections: bool) -> dict[str, Any] | None:
        """The receipt for (sid, sha) if it was already stored (or, optionally, rejected)."""
        stored = self.stored_receipt(sid)
        if stored is not None:
            if stored["sha256"] == sha and stored["terminal_id"] == terminal:
                return stored
            return self._receipt(terminal, sid, sha, "rejected", reason="id_conflict",
                                 failures=["another package with this submission id is already stored"])
        if with_rejections:
            rp = self._rejection_path(sid, sha)
            if rp.is_file():
                r: dict[str, Any] = json.loads(rp.read_text("utf-8"))
                if r.get("terminal_id") == terminal:
                    return r
        return None

    # ---- staging ------------------------------------------------------------------------------------

    def _stage_dir(self, terminal: str, sid: str, sha: str) -> Path:
        return self.staging / terminal / sid / sha

    def staged_bytes(self, terminal: str) -> int:
        """Announced sizes of the terminal's unfinished transfers in the staging area."""
        total = 0
        for meta in (self.staging / terminal).glob("*/*/meta.json"):
            try:
                total += int(json.loads(meta.read_text())["size"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return total

    def _over_quota(self, terminal: str, sid: str, sha: str, size: int) -> bool:
        """A new transfer that would take the terminal over its staging quota waits (no answer: the kiosk
        offers it again after ``receipt_timeout_s``), so that one terminal cannot fill the back end's disk
        with transfers it never finishes. Transfers already staged always go on, and so does a terminal's
        only transfer (``max_size`` bounds that one)."""
        if (self._stage_dir(terminal, sid, sha) / "meta.json").is_file():
            return False
        staged = self.staged_bytes(terminal)
        if staged == 0 or staged + size <= self.staging_quota:  # one transfer at a time always goes on
            return False
        key = (terminal, sid, sha)
        if key not in self._over_quota_logged:
            self._over_quota_logged.add(key)
            log.warning("transfer deferred: terminal over its staging quota",
                        extra={"terminal": terminal, "submission_id": sid, "size": size, "staged": staged,
                               "quota": self.staging_quota})
        return True

    def _stage(self, terminal: str, sid: str, sha: str, size: int, chunk_size: int, chunks: int
               ) -> _Stage | None:
        """The staging folder with its meta.json; None if existing meta disagrees (protocol violation)."""
        key = (terminal, sid, sha)
        meta = StageMeta(terminal, sid, sha, size, chunk_size, chunks)
        with self._guard:
            known = self._stages.get(key)
        if known is not None:
            return known if known.meta == meta else None
        stage = self._stage_dir(terminal, sid, sha)
        record = {"terminal_id": terminal, "submission_id": sid, "sha256": sha, "size": size,
                  "chunk_size": chunk_size, "chunks": chunks}
        mpath = stage / "meta.json"
        if not mpath.is_file():
            stage.mkdir(parents=True, exist_ok=True)
            tmp = stage / f".meta.{os.getpid()}.{time.monotonic_ns()}.tmp"
            tmp.write_text(json.dumps(record, sort_keys=True))
            try:
                os.link(tmp, mpath)  # atomic create-if-absent, also between receivers
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        if json.loads(mpath.read_text()) != record:
            return None
        st = _Stage(stage, meta)
        with self._guard:
            return self._stages.setdefault(key, st)

    def _assembly(self, st: _Stage) -> Assembly | None:
        """This process's assembly of ``st`` (taking the lease if free); None if another process has it."""
        if st.assembly is None or st.assembly.closed:
            try:
                st.assembly = Assembly(st.path, st.meta, max_bytes=self.max_size, syncer=self._side)
            except LeaseBusy:
                return None
            except FileNotFoundError:
                return None  # stored or rejected meanwhile by another receiver (folder removed)
            st.admission = None
        return st.assembly

    def release(self, terminal: str, sid: str, sha: str) -> None:
        """Forget a package's in-memory state and release its lease (staged data stays on disk)."""
        with self._guard:
            st = self._stages.pop((terminal, sid, sha), None)
        if st is not None and st.assembly is not None:
            st.assembly.close()

    def has_incomplete_assembly(self, terminal: str, sid: str, sha: str) -> bool:
        """True while this process assembles the package and it is not complete yet."""
        with self._guard:
            st = self._stages.get((terminal, sid, sha))
        asm = st.assembly if st is not None else None
        return asm is not None and not asm.closed and not asm.complete

    def missing(self, terminal: str, sid: str, sha: str, chunks: int) -> list[int]:
        with self._guard:
            st = self._stages.get((terminal, sid, sha))
        if st is not None and st.assembly is not None and not st.assembly.closed:
            return st.assembly.missing()
        present = self.present_chunks(terminal, sid, sha)
        return [i for i in range(chunks) if i not in present]

    # ---- messages -----------------------------------------------------------------------------------

    def on_offer(self, terminal: str, offer: dict[str, Any]) -> Outcome:
        sid, sha = offer["submission_id"], offer["sha256"]
        if offer["terminal_id"] != terminal:
            return Outcome(receipt=self._receipt(terminal, sid, sha, "rejected", reason="terminal_mismatch",
                                                 failures=["offer names another terminal"]))
        if not offer["resume"]:
            with contextlib.suppress(FileNotFoundError):
                self._rejection_path(sid, sha).unlink()  # a fresh attempt is judged afresh
        settled = self._settled(terminal, sid, sha, with_rejections=bool(offer["resume"]))
        if settled is not None:
            return Outcome(receipt=settled)
        if offer["size"] > self.max_size:
            return self._reject(terminal, sid, sha, "too_large",
                                [f"package larger than {self.max_size} bytes"])
        expected = max(1, -(-offer["size"] // offer["chunk_size"]))
        if offer["chunks"] != expected:
            return Outcome(notes=["offer: chunks do not match size"])
        if self._over_quota(terminal, sid, sha, offer["size"]):
            return Outcome(notes=["staging quota"])
        st = self._stage(terminal, sid, sha, offer["size"], offer["chunk_size"], offer["chunks"])
        if st is None:
            return Outcome(notes=["offer disagrees with staged chunks"])
        missing = self.missing(terminal, sid, sha, offer["chunks"])
        if not missing:
            return self.finalize(terminal, sid, sha)
        if offer["resume"]:
            return Outcome(need=missing)
        return Outcome()

    def on_chunk(self, terminal: str, h: ChunkHeader, data: bytes) -> Outcome:
        if len(data) != h.payload_length():
            return Outcome(need=[h.index], notes=["chunk length mismatch"])
        settled = self._settled(terminal, h.submission_id, h.sha256, with_rejections=False)
        if settled is not None:
            # Already stored: answer once per pass (on the last chunk), not once per chunk.
            return Outcome(receipt=settled if h.index == h.chunks - 1 else None)
        if h.size > self.max_size:
            return self._reject(terminal, h.submission_id, h.sha256, "too_large",
                                [f"package larger than {self.max_size} bytes"])
        if self._over_quota(terminal, h.submission_id, h.sha256, h.size):
            return Outcome(notes=["staging quota"])
        st = self._stage(terminal, h.submission_id, h.sha256, h.size, h.chunk_size, h.chunks)
        if st is None:
            return Outcome(notes=["chunk disagrees with staged meta"])
        asm = self._assembly(st)
        if asm is None:  # another receiver assembles this package: just stage the chunk for it
            if hashlib.sha256(data).hexdigest() != h.chunk_sha256:
                return Outcome(need=[h.index], notes=["chunk hash mismatch"])
            try:
                stage_chunk(st.path, st.meta, h.index, data, h.chunk_sha256)
            except FileNotFoundError:
                pass  # the package was settled meanwhile
            return Outcome()
        if not asm.add(h.index, data, h.chunk_sha256):
            return Outcome(need=[h.index], notes=["chunk hash mismatch"])
        return self._progress(st)

    def poll(self, terminal: str, sid: str, sha: str) -> Outcome:
        """Continue with chunks other receivers staged meanwhile (called by an idle package worker)."""
        with self._guard:
            st = self._stages.get((terminal, sid, sha))
        if st is None or st.assembly is None or st.assembly.closed or st.assembly.complete:
            return Outcome()
        return self._progress(st)

    def _progress(self, st: _Stage) -> Outcome:
        asm = st.assembly
        assert asm is not None
        asm.advance()
        if st.admission is None and _has_manifest(asm.completed_files):
            st.admission = self._side.submit(self._manifest_checks, asm.pkg)
        if asm.complete:
            return self._finalize_assembly(st)
        if asm.retracted:  # staged bytes found damaged: ask for them now rather than at the next offer
            need, asm.retracted = sorted(set(asm.retracted)), []
            return Outcome(need=need)
        return Outcome()

    def _manifest_checks(self, pkg: Path) -> tuple[Any, dict[str, Any] | None]:
        from kiosk.dossier.verify import VerifyReport, manifest_checks

        report = VerifyReport(str(pkg), "package")
        raw = (pkg / MANIFEST).read_bytes()
        manifest = manifest_checks(report, raw, (pkg / SIGNATURE).read_bytes(), self.trust_roots)
        return report, manifest

    # ---- completion ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, sid: str) -> Iterator[None]:
        fd = os.open(self.locks / f"{sid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _drop_stage(self, terminal: str, sid: str, sha: str) -> Path:
        """Forget the in-memory state of a settled package; returns its staging folder (to remove)."""
        self.release(terminal, sid, sha)
        return self._stage_dir(terminal, sid, sha)

    def cleanup(self, outcome: Outcome) -> None:
        """Remove the staging folder of a settled package (after its receipt was sent)."""
        if outcome.cleanup is not None:
            shutil.rmtree(outcome.cleanup, ignore_errors=True)

    def _reject(self, terminal: str, sid: str, sha: str, reason: str, failures: list[str]) -> Outcome:
        r = self._receipt(terminal, sid, sha, "rejected", reason=reason, failures=failures)
        _write_json_atomic(self._rejection_path(sid, sha), r)
        shutil.rmtree(self._drop_stage(terminal, sid, sha), ignore_errors=True)
        self.audit.append("rejected", submission_id=sid, sha256=sha, terminal=terminal, reason=reason)
        log.warning("package rejected", extra={"submission_id": sid, "terminal": terminal, "reason": reason,
                                               "failures": failures[:5]})
        return Outcome(receipt=r, rejected=True)

    def finalize(self, terminal: str, sid: str, sha: str) -> Outcome:
        """Complete a fully staged package (idempotent; safe with concurrent receivers): continue or start
        its assembly from what is staged, then admit and store it. When another receiver holds the
        package's lease, that receiver finishes it and this returns an empty outcome."""
        if not SUBMISSION_ID_RE.fullmatch(sid):
            return Outcome(notes=["bad submission id"])
        settled = self._settled(terminal, sid, sha, with_rejections=False)
        if settled is not None:
            return Outcome(receipt=settled, cleanup=self._drop_stage(terminal, sid, sha))
        stage = self._stage_dir(terminal, sid, sha)
        mpath = stage / "meta.json"
        if not mpath.is_file():
            return Outcome()  # finalised and cleaned up by another receiver meanwhile
        m = json.loads(mpath.read_text())
        st = self._stage(terminal, sid, sha, m["size"], m["chunk_size"], m["chunks"])
        if st is None:
            return Outcome(notes=["staged meta changed"])
        asm = self._assembly(st)
        if asm is None:
            return Outcome()
        out = self._progress(st)
        if not asm.complete and not asm.closed:
            missing = asm.missing()
            if missing:
                return Outcome(need=missing)
        return out

    def _finalize_assembly(self, st: _Stage) -> Outcome:
        meta = st.meta
        terminal, sid, sha = meta.terminal_id, meta.submission_id, meta.sha256
        asm = st.assembly
        assert asm is not None and asm.complete
        marks = {"complete": time.perf_counter()}
        with self._lock(sid):
            settled = self._settled(terminal, sid, sha, with_rejections=False)
            if settled is not None:
                return Outcome(receipt=settled, cleanup=self._drop_stage(terminal, sid, sha))
            if asm.digest != sha:
                bad = asm.damaged()
                if bad:  # chunks whose bytes do not match their hash: ask again, then start over
                    log.warning("damaged chunks, asking again",
                                extra={"submission_id": sid, "count": len(bad)})
                    self.release(terminal, sid, sha)
                    return Outcome(need=bad)
                return self._reject(terminal, sid, sha, "hash_mismatch",
                                    ["the chunks do not add up to the announced SHA-256"])
            try:
                files = asm.files()
            except ValueError as exc:
                return self._reject(terminal, sid, sha, "bad_archive", [str(exc)])
            if st.admission is None:
                st.admission = self._side.submit(self._manifest_checks, asm.pkg)
            problem = self._admit(st, files, terminal, sid)
            marks["admitted"] = time.perf_counter()
            validation: dict[str, Any] | None = None
            if problem is None and self.strict:
                validation, problem = self._deep(asm.pkg, terminal, sid, sha, mode="strict")
                marks["deep"] = time.perf_counter()
            if problem is not None:
                return self._reject(terminal, sid, sha, problem[0], problem[1])
            outcome = self._store_locked(st, files, validation)
            marks["stored"] = time.perf_counter()
        outcome.timings = {"from_disk_chunks": float(asm.from_disk),
                           "admit_s": round(marks["admitted"] - marks["complete"], 4),
                           "store_s": round(marks["stored"] - marks.get("deep", marks["admitted"]), 4)}
        if "deep" in marks:
            outcome.timings["verify_s"] = round(marks["deep"] - marks["admitted"], 4)
        log.info("package stored", extra={"submission_id": sid, "terminal": terminal, "size": meta.size,
                                          "files": len(files), **outcome.timings})
        return outcome

    def _admit(self, st: _Stage, files: list[ExtractedFile], terminal: str, sid: str
               ) -> tuple[str, list[str]] | None:
        """Admission: (reason, failures), or None when the package may be stored."""
        from kiosk.dossier.verify import file_checks

        assert st.admission is not None
        try:
            report, manifest = st.admission.result()
        except Exception as exc:  # a crash in the checks must reject, never store
            log.exception("manifest checks failed to run", extra={"submission_id": sid})
            return "verification_failed", [f"verification error: {type(exc).__name__}"]
        if manifest is None:
            return "verification_failed", list(report.failures) or ["manifest.json is not valid JSON"]
        if manifest.get("terminal_id") != terminal:
            return "terminal_mismatch", ["manifest terminal_id does not match the sending terminal"]
        if manifest.get("submission_id") != sid:
            return "verification_failed", ["manifest submission_id does not match the offer"]
        file_checks(report, manifest, {f.name: (f.size, f.sha256) for f in files})
        if not report.ok:
            return "verification_failed", list(report.failures)
        return None

    def _deep(self, pkg: Path, terminal: str, sid: str, sha: str, *, mode: str
              ) -> tuple[dict[str, Any], tuple[str, list[str]] | None]:
        """Run the deep validation on ``pkg``: (validation record, problem or None)."""
        t0 = time.perf_counter()
        try:
            report = self.verifier(pkg, self.trust_roots)
            ok, failures, checks = bool(report.ok), [str(f) for f in report.failures], len(report.checks)
        except Exception as exc:  # a verifier crash must never count as a pass
            log.exception("deep validation crashed", extra={"submission_id": sid})
            ok, failures, checks = False, [f"verification error: {type(exc).__name__}"], 0
        record = {"v": 1, "type": "validation", "submission_id": sid, "terminal_id": terminal, "sha256": sha,
                  "ok": ok, "failures": [f[:500] for f in failures][:200], "checks": checks, "mode": mode,
                  "validated_at": iso(now_vn()), "receiver": self.receiver_id,
                  "duration_s": round(time.perf_counter() - t0, 3)}
        proto.validate("validation", record)
        return record, None if ok else ("verification_failed", failures or ["package verification failed"])

    def _store_locked(self, st: _Stage, files: list[ExtractedFile], validation: dict[str, Any] | None
                      ) -> Outcome:
        meta = st.meta
        terminal, sid, sha = meta.terminal_id, meta.submission_id, meta.sha256
        asm = st.assembly
        assert asm is not None
        pkg = asm.pkg
        if validation is not None:  # strict: validated before the receipt, stored with the package
            _write_json_atomic(pkg / VALIDATION, validation, self.tmp)
        else:  # the deep validation is due: remember it durably before the package exists
            _write_json_atomic(self.pending_dir / f"{sid}.json", {"terminal_id": terminal, "sha256": sha},
                               self.tmp)
        receipt = self._receipt(terminal, sid, sha, "stored", files=len(files),
                                validation="passed" if validation is not None else "deferred",
                                dossier_code=self._dossier_code(self._admitted_manifest(st), sid))
        _write_json_atomic(self.receipts / f"{sid}.json", receipt, self.tmp)
        _fsync_tree(pkg)
        target = self.root / sid
        try:
            os.rename(pkg, target)
        except OSError as exc:
            # Cannot happen under the lock unless the store was edited by hand; never overwrite.
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            return self._reject(terminal, sid, sha, "id_conflict", ["target folder exists"])
        fsync_dir(self.root)
        self.audit.append("stored", submission_id=sid, sha256=sha, terminal=terminal, size=meta.size)
        return Outcome(receipt=receipt, stored=True, cleanup=self._drop_stage(terminal, sid, sha),
                       validate=None if validation is not None else sid)

    @staticmethod
    def _admitted_manifest(st: _Stage) -> dict[str, Any] | None:
        """The manifest the admission checks parsed (they have run before a package is stored)."""
        if st.admission is None or not st.admission.done():
            return None
        return st.admission.result()[1]

    def _dossier_code(self, manifest: dict[str, Any] | None, sid: str) -> str | None:
        """The dossier code (R15) of a package a one-stop officer confirmed; None for one that was not
        reviewed (it gets its code when staff at the back end receive it) or was returned."""
        if manifest is None:
            return None
        review = manifest.get("staff_review")
        if not isinstance(review, dict) or review.get("decision") != "confirmed":
            return None
        agency = manifest.get("agency_code")
        if not isinstance(agency, str) or not AGENCY_CODE_RE.fullmatch(agency):
            log.warning("no dossier code: the manifest's agency code is not a one-stop agency code",
                        extra={"submission_id": sid})
            return None
        day = now_vn().strftime("%y%m%d")
        return f"{agency}-{day}-{self._next_sequence(agency, day):04d}"

    def _next_sequence(self, agency: str, day: str) -> int:
        """The agency's next sequence number of the day (shared by every receiver of the store)."""
        folder = self.root / ".sequence"
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"{agency}-{day}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            n = (int(raw) if raw.isdigit() else 0) + 1
            if n > 9999:
                raise RuntimeError(f"dossier sequence of {agency} on {day} exhausted")
            data = f"{n}\n".encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
            return n
        finally:
            os.close(fd)

    # ---- deep validation (after the receipt) --------------------------------------------------------

    def pending_validations(self) -> list[str]:
        """Stored packages whose deep validation has not run yet (oldest first)."""
        marks = sorted(self.pending_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
        return [p.stem for p in marks if SUBMISSION_ID_RE.fullmatch(p.stem)]

    def validate_stored(self, sid: str) -> dict[str, Any] | None:
        """Run the deep validation of stored package ``sid`` if it is pending and no other receiver is at
        it; write ``validation.json`` into its folder, audit it, clear the marker. Returns the record
        (None when there was nothing to do)."""
        marker = self.pending_dir / f"{sid}.json"
        if not SUBMISSION_ID_RE.fullmatch(sid) or not marker.is_file():
            return None
        fd = os.open(self.locks / f"{sid}.validate.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return None  # another receiver validates it
            try:
                info = json.loads(marker.read_text("utf-8"))
            except FileNotFoundError:
                return None  # done by another receiver meanwhile
            target = self.root / sid
            receipt = self.stored_receipt(sid)
            if receipt is None or receipt["sha256"] != info.get("sha256"):
                marker.unlink(missing_ok=True)  # the package never got stored (crash before the rename)
                return None
            record = self.validation(sid)
            if record is None:
                record, _problem = self._deep(target, receipt["terminal_id"], sid, receipt["sha256"],
                                              mode="deferred")
                _write_json_atomic(target / VALIDATION, record, self.tmp)
                first = mask(record["failures"][0])[:200] if record["failures"] else None
                self.audit.append("validated" if record["ok"] else "validation_failed", submission_id=sid,
                                  sha256=receipt["sha256"], terminal=receipt["terminal_id"],
                                  status="ok" if record["ok"] else "failed", reason=first)
                if record["ok"]:
                    log.info("package validated", extra={"submission_id": sid,
                                                         "duration_s": record["duration_s"]})
                else:
                    log.error("stored package failed its deep validation",
                              extra={"submission_id": sid, "terminal": receipt["terminal_id"],
                                     "failures": [mask(f) for f in record["failures"][:5]]})
            marker.unlink(missing_ok=True)
            fsync_dir(self.pending_dir)
            return record
        finally:
            os.close(fd)

    # ---- housekeeping -------------------------------------------------------------------------------

    def gc_staging(self, max_age_s: float) -> int:
        """Delete staging folders untouched for ``max_age_s`` (abandoned transfers); returns the count."""
        removed = 0
        now = time.time()
        for sha_dir in self.staging.glob("*/*/*"):
            try:
                newest = max([p.stat().st_mtime for p in sha_dir.rglob("*")] + [sha_dir.stat().st_mtime])
            except FileNotFoundError:
                continue
            if now - newest > max_age_s:
                shutil.rmtree(sha_dir, ignore_errors=True)
                removed += 1
        return removed


def _has_manifest(files: list[ExtractedFile]) -> bool:
    names = {f.name for f in files}
    return MANIFEST in names and SIGNATURE in names
