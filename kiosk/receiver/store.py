"""The receiver's durable store: chunk staging, reassembly, verification, exactly-once storage.

Layout under the store root (shared by every receiver of one share group)::

    <root>/<submission_id>/            a stored package: manifest.json, manifest.json.p7s, papers/...
    <root>/.receipts/<submission_id>.json   the receipt of a stored package (sent again for duplicates)
    <root>/.rejected/<sid>.<sha256>.json    the last rejection of (id, hash), answered to resume offers
    <root>/.staging/<terminal>/<sid>/<sha256>/  meta.json, data.bin, have/<index> (chunk hash)
    <root>/.locks/<sid>.lock                serialises finalisation of one submission id
    <root>/.audit/receiver-audit.log         append-only, hash-chained; metadata only

Chunks are written at their offset in ``data.bin`` and recorded by a marker file holding the chunk's hash.
Markers are hints; hashes are the truth: at completion the whole archive's SHA-256 is checked, and on a
mismatch each chunk is checked against its marker and the bad ones are asked for again. So a receiver
that restarts (or several receivers that share the staging area) lose no progress and cannot store a
torn package. Storing is one ``rename`` of a fully written, fsynced folder; the receipt file is written
(and fsynced) before it, and counts only when the folder exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from kiosk.queue.audit import AuditLog
from kiosk.queue.chunking import MANIFEST, SUBMISSION_ID_RE, extract_archive
from kiosk.queue.outbox import fsync_dir
from kiosk.queue.protocol import ChunkHeader
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.receiver.store")

Verifier = Callable[[Path, list[x509.Certificate]], Any]


def default_verifier() -> Verifier:
    """``kiosk.dossier.verify.verify_package`` - the one verification path for stored packages."""
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


def _write_json_atomic(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def _fsync_tree(path: Path) -> None:
    for root, _dirs, _files in os.walk(path):
        fsync_dir(Path(root))


class PackageStore:
    """Reassembles and stores packages for ``receiver_id``; filesystem only (no MQTT)."""

    def __init__(self, root: Path, trust_roots: list[x509.Certificate], *, receiver_id: str,
                 verifier: Verifier | None = None, max_size: int = 2 << 30) -> None:
        self.root = Path(root)
        self.trust_roots = trust_roots
        self.receiver_id = receiver_id
        self.verifier = verifier or default_verifier()
        self.max_size = max_size
        self.staging = self.root / ".staging"
        self.receipts = self.root / ".receipts"
        self.rejected = self.root / ".rejected"
        self.locks = self.root / ".locks"
        for d in (self.root, self.staging, self.receipts, self.rejected, self.locks):
            d.mkdir(parents=True, exist_ok=True)
        self.audit = AuditLog(self.root / ".audit" / "receiver-audit.log", receiver_id)

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

    def _rejection_path(self, sid: str, sha: str) -> Path:
        return self.rejected / f"{sid}.{sha}.json"

    def _receipt(self, terminal: str, sid: str, sha: str, status: str, *, reason: str | None = None,
                 failures: list[str] | None = None, files: int | None = None) -> dict[str, Any]:
        r: dict[str, Any] = {"v": 1, "type": "receipt", "submission_id": sid, "terminal_id": terminal,
                             "sha256": sha, "status": status, "received_at": iso(now_vn()),
                             "receiver": self.receiver_id}
        if reason:
            r["reason"] = reason
            r["failures"] = [f[:500] for f in (failures or [])][:50]
        if files is not None:
            r["files"] = files
        return r

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

    def _ensure_stage(self, terminal: str, sid: str, sha: str, size: int, chunk_size: int, chunks: int
                      ) -> Path | None:
        """The staging folder with its meta.json; None if existing meta disagrees (protocol violation)."""
        stage = self._stage_dir(terminal, sid, sha)
        meta = {"terminal_id": terminal, "submission_id": sid, "sha256": sha, "size": size,
                "chunk_size": chunk_size, "chunks": chunks}
        mpath = stage / "meta.json"
        if not mpath.is_file():
            (stage / "have").mkdir(parents=True, exist_ok=True)
            tmp = stage / f".meta.{os.getpid()}.{time.monotonic_ns()}.tmp"
            tmp.write_text(json.dumps(meta, sort_keys=True))
            try:
                os.link(tmp, mpath)  # atomic create-if-absent, also between receivers
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        existing = json.loads(mpath.read_text())
        return stage if existing == meta else None

    def _present(self, stage: Path) -> set[int]:
        have = stage / "have"
        if not have.is_dir():
            return set()
        return {int(n) for n in os.listdir(have) if n.isdigit()}

    def missing(self, terminal: str, sid: str, sha: str, chunks: int) -> list[int]:
        present = self._present(self._stage_dir(terminal, sid, sha))
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
        stage = self._ensure_stage(terminal, sid, sha, offer["size"], offer["chunk_size"], offer["chunks"])
        if stage is None:
            return Outcome(notes=["offer disagrees with staged chunks"])
        missing = self.missing(terminal, sid, sha, offer["chunks"])
        if not missing:
            return self.finalize(terminal, sid, sha)
        if offer["resume"]:
            return Outcome(need=missing)
        return Outcome()

    def on_chunk(self, terminal: str, h: ChunkHeader, data: bytes) -> Outcome:
        if len(data) != h.payload_length() or hashlib.sha256(data).hexdigest() != h.chunk_sha256:
            return Outcome(need=[h.index], notes=["chunk length or hash mismatch"])
        settled = self._settled(terminal, h.submission_id, h.sha256, with_rejections=False)
        if settled is not None:
            # Already stored: answer once per pass (on the last chunk), not once per chunk.
            return Outcome(receipt=settled if h.index == h.chunks - 1 else None)
        if h.size > self.max_size:
            return self._reject(terminal, h.submission_id, h.sha256, "too_large",
                                [f"package larger than {self.max_size} bytes"])
        stage = self._ensure_stage(terminal, h.submission_id, h.sha256, h.size, h.chunk_size, h.chunks)
        if stage is None:
            return Outcome(notes=["chunk disagrees with staged meta"])
        fd = os.open(stage / "data.bin", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, data, h.index * h.chunk_size)
        finally:
            os.close(fd)
        marker = stage / "have" / str(h.index)
        tmp = stage / "have" / f".{h.index}.{os.getpid()}.tmp"
        tmp.write_text(h.chunk_sha256)
        os.replace(tmp, marker)
        if len(self._present(stage)) >= h.chunks:
            return self.finalize(terminal, h.submission_id, h.sha256)
        return Outcome()

    # ---- completion ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _lock(self, sid: str) -> Iterator[None]:
        fd = os.open(self.locks / f"{sid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _reject(self, terminal: str, sid: str, sha: str, reason: str, failures: list[str]) -> Outcome:
        r = self._receipt(terminal, sid, sha, "rejected", reason=reason, failures=failures)
        _write_json_atomic(self._rejection_path(sid, sha), r)
        shutil.rmtree(self._stage_dir(terminal, sid, sha), ignore_errors=True)
        self.audit.append("rejected", submission_id=sid, sha256=sha, terminal=terminal, reason=reason)
        log.warning("package rejected", extra={"submission_id": sid, "terminal": terminal, "reason": reason,
                                               "failures": failures[:5]})
        return Outcome(receipt=r, rejected=True)

    def finalize(self, terminal: str, sid: str, sha: str) -> Outcome:
        """Verify and store a fully staged package (idempotent; safe with concurrent receivers)."""
        if not SUBMISSION_ID_RE.fullmatch(sid):
            return Outcome(notes=["bad submission id"])
        with self._lock(sid):
            settled = self._settled(terminal, sid, sha, with_rejections=False)
            stage = self._stage_dir(terminal, sid, sha)
            if settled is not None:
                shutil.rmtree(stage, ignore_errors=True)
                return Outcome(receipt=settled)
            mpath = stage / "meta.json"
            if not mpath.is_file():
                return Outcome()  # finalised and cleaned up by another receiver meanwhile
            meta = json.loads(mpath.read_text())
            present = self._present(stage)
            missing = [i for i in range(meta["chunks"]) if i not in present]
            if missing:
                return Outcome(need=missing)
            return self._finalize_locked(terminal, sid, sha, stage, meta)

    def _finalize_locked(self, terminal: str, sid: str, sha: str, stage: Path, meta: dict[str, Any]
                         ) -> Outcome:
        data_path = stage / "data.bin"
        size, chunk_size = meta["size"], meta["chunk_size"]
        marks = [time.perf_counter()]
        with data_path.open("r+b") as fh:
            fh.truncate(size)
            digest = hashlib.sha256()
            while block := fh.read(1 << 20):
                digest.update(block)
            if digest.hexdigest() != sha:
                bad: list[int] = []
                for i in range(meta["chunks"]):
                    fh.seek(i * chunk_size)
                    chunk = fh.read(min(chunk_size, size - i * chunk_size))
                    marker = stage / "have" / str(i)
                    if hashlib.sha256(chunk).hexdigest() != marker.read_text().strip():
                        bad.append(i)
                        marker.unlink()
                if bad:
                    log.warning("staged chunks damaged, asking again", extra={"submission_id": sid,
                                                                              "count": len(bad)})
                    return Outcome(need=bad)
                return self._reject(terminal, sid, sha, "hash_mismatch",
                                    ["the chunks do not add up to the announced SHA-256"])
            os.fsync(fh.fileno())
        marks.append(time.perf_counter())
        pkg = stage / "pkg"
        shutil.rmtree(pkg, ignore_errors=True)
        try:
            with data_path.open("rb") as fh:
                names = extract_archive(fh, pkg, max_bytes=self.max_size)
        except (ValueError, OSError) as exc:
            return self._reject(terminal, sid, sha, "bad_archive", [str(exc)])
        marks.append(time.perf_counter())
        problem = self._check_manifest(pkg, terminal, sid)
        if problem is None:
            try:
                report = self.verifier(pkg, self.trust_roots)
                if not report.ok:
                    problem = ("verification_failed",
                               [str(f) for f in report.failures] or ["package verification failed"])
            except Exception as exc:  # a verifier crash must reject, never store
                log.exception("verify_package failed", extra={"submission_id": sid})
                problem = ("verification_failed", [f"verification error: {type(exc).__name__}"])
        marks.append(time.perf_counter())
        if problem is not None:
            return self._reject(terminal, sid, sha, problem[0], problem[1])
        receipt = self._receipt(terminal, sid, sha, "stored", files=len(names))
        _write_json_atomic(self.receipts / f"{sid}.json", receipt)
        _fsync_tree(pkg)
        target = self.root / sid
        try:
            os.rename(pkg, target)
        except OSError:
            # Cannot happen under the lock unless the store was edited by hand; never overwrite.
            return self._reject(terminal, sid, sha, "id_conflict", ["target folder exists"])
        fsync_dir(self.root)
        shutil.rmtree(stage, ignore_errors=True)
        self.audit.append("stored", submission_id=sid, sha256=sha, terminal=terminal, size=size)
        marks.append(time.perf_counter())
        steps = ("hash_s", "extract_s", "verify_s", "store_s")
        timings = {k: round(marks[i + 1] - marks[i], 3) for i, k in enumerate(steps)}
        log.info("package stored",
                 extra={"submission_id": sid, "terminal": terminal, "size": size, **timings})
        return Outcome(receipt=receipt, stored=True)

    @staticmethod
    def _check_manifest(pkg: Path, terminal: str, sid: str) -> tuple[str, list[str]] | None:
        """The transport-level checks on the manifest: (reason, failures), or None when it is fine."""
        try:
            manifest = json.loads((pkg / MANIFEST).read_text("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return "verification_failed", ["manifest.json is not valid JSON"]
        if not isinstance(manifest, dict):
            return "verification_failed", ["manifest.json is not an object"]
        if manifest.get("terminal_id") != terminal:
            return "terminal_mismatch", ["manifest terminal_id does not match the sending terminal"]
        if manifest.get("submission_id") != sid:
            return "verification_failed", ["manifest submission_id does not match the offer"]
        return None

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
