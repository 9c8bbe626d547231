"""The durable outbox: every submitted package, encrypted at rest, until the back end's receipt.

Layout under ``<data_dir>/outbox/``: ``outbox.db`` (SQLite, WAL, ``synchronous=FULL``) and
``blobs/<submission_id>.kob`` (AES-256-GCM segments, see ``kiosk.queue.crypto``).

Life of an entry::

    [held ->] queued -> sending -> sent -> receipted -> purged
                           \\________\\____-> rejected (reason from the receiver)

``held`` (``review.hold_for_staff``, R12): the package waits for a one-stop officer on the kiosk; the
reviewed package replaces it (``release``) and the entry is queued. Held entries are never sent.

Durability order on ``enqueue``: the encrypted blob is written as ``.part``, fsynced, renamed and its
folder fsynced; only then is the row committed (synchronous=FULL fsyncs the WAL); only after the commit
is the plaintext package folder removed. A crash at any point leaves either the plaintext (the row does
not exist, the orphan blob is deleted on the next open) or the committed row with its blob.

On a receipt the row becomes ``receipted`` (committed), the blob is unlinked and its folder fsynced, and
the row becomes ``purged``: it keeps only id, hash, sizes and times - no content. Leftovers of a crash
between those steps are finished on the next open (``recover``).
"""

from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import shutil
import sqlite3
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.fsutil import fsync_dir
from kiosk.queue.audit import AuditLog
from kiosk.queue.chunking import (
    MANIFEST,
    HashingSink,
    PackageInfo,
    extract_archive,
    read_package_info,
    write_archive,
)
from kiosk.queue.crypto import SegmentReader, SegmentWriter, load_or_create_key, segment_count
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.queue.outbox")

STATES = ("held", "queued", "sending", "sent", "receipted", "purged", "rejected")
PENDING = ("queued", "sending", "sent")
FINAL = ("purged", "rejected")
MB = 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    submission_id TEXT PRIMARY KEY,
    terminal_id   TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    chunk_size    INTEGER NOT NULL,
    chunks        INTEGER NOT NULL,
    blob          TEXT,
    state         TEXT NOT NULL,
    reason        TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    sent_at       TEXT,
    receipted_at  TEXT,
    purged_at     TEXT,
    receipt       TEXT
);
CREATE INDEX IF NOT EXISTS entries_state ON entries(state, created_at);
"""


@dataclass(frozen=True)
class Entry:
    submission_id: str
    terminal_id: str
    sha256: str
    size: int
    chunk_size: int
    chunks: int
    state: str
    reason: str | None
    attempts: int
    created_at: str
    updated_at: str
    sent_at: str | None
    receipted_at: str | None
    purged_at: str | None
    blob: str | None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("blob")
        d["has_payload"] = self.blob is not None
        return d


class Outbox:
    """The outbox of one terminal in ``data_dir`` (usually ``cfg.data_dir``)."""

    def __init__(self, data_dir: Path, cfg: Config) -> None:
        self.cfg = cfg
        self.root = Path(data_dir) / "outbox"
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        key_path = Path(cfg.outbox.key_file or Path(data_dir) / "keys" / "outbox.key")
        self._key = load_or_create_key(key_path)
        self.audit = AuditLog(Path(data_dir) / "audit" / "outbox-audit.log", cfg.terminal.id)
        self._db = sqlite3.connect(self.root / "outbox.db", timeout=30, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self.recover()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Serialises enqueue and recovery across processes (``kiosk submit`` next to ``kiosk uplink``),
        so recovery never mistakes another process's blob, renamed but not yet committed, for an orphan."""
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # ---- transactions -------------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @staticmethod
    def _entry(row: sqlite3.Row) -> Entry:
        return Entry(**{k: row[k] for k in row.keys() if k != "receipt"})

    # ---- queries ------------------------------------------------------------------------------------

    def get(self, submission_id: str) -> Entry | None:
        row = self._db.execute("SELECT * FROM entries WHERE submission_id=?", (submission_id,)).fetchone()
        return self._entry(row) if row else None

    def entries(self, states: tuple[str, ...] = STATES) -> list[Entry]:
        marks = ",".join("?" * len(states))
        rows = self._db.execute(f"SELECT * FROM entries WHERE state IN ({marks}) ORDER BY created_at, rowid",
                                states).fetchall()
        return [self._entry(r) for r in rows]

    def pending(self) -> list[Entry]:
        """Entries the uplink still has to deliver or wait for (queued, sending, sent)."""
        return self.entries(PENDING)

    def receipt(self, submission_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT receipt FROM entries WHERE submission_id=?",
                               (submission_id,)).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    def issued_dossier_codes(self, limit: int = 20) -> list[tuple[str, str]]:
        """(submission id, dossier code) of the newest submissions the back end gave a dossier code (R15),
        newest first: the code is in the signed receipt kept after the purge."""
        rows = self._db.execute("SELECT submission_id, receipt FROM entries WHERE receipt IS NOT NULL "
                                "AND state='purged' ORDER BY receipted_at DESC, rowid DESC LIMIT ?",
                                (max(1, limit) * 5,)).fetchall()
        out = []
        for sid, body in rows:
            code = json.loads(body).get("dossier_code")
            if isinstance(code, str):
                out.append((sid, code))
        out.sort(key=lambda x: x[1][-11:], reverse=True)  # YYMMDD-NNNN: the order of reception
        return out[:limit]

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state, n in self._db.execute("SELECT state, COUNT(*) FROM entries GROUP BY state"):
            out[state] = n
        return out

    def queued_bytes(self) -> int:
        """Bytes of encrypted payload still held (every entry that has not been purged)."""
        return sum(p.stat().st_size for p in self.blobs.glob("*.kob"))

    def accepting_new_sessions(self) -> tuple[bool, str]:
        """Back-pressure for the UI: (True, "") or (False, message key) when the outbox is over its quota
        (outbox.quota_mb) or the disk is nearly full (outbox.min_free_mb)."""
        if self.queued_bytes() >= self.cfg.outbox.quota_mb * MB:
            return False, "outbox.quota_full"
        if shutil.disk_usage(self.root).free < self.cfg.outbox.min_free_mb * MB:
            return False, "outbox.disk_low"
        return True, ""

    # ---- enqueue ------------------------------------------------------------------------------------

    def _blob_path(self, submission_id: str) -> Path:
        return self.blobs / f"{submission_id}.kob"

    def enqueue(self, package_dir: Path, *, remove_plaintext: bool = True, hold: bool = False) -> Entry:
        """Encrypt the package into the outbox, commit its row, then delete the plaintext folder. With
        ``hold`` the entry waits for a staff review (state ``held``) instead of being queued.

        Idempotent: enqueueing the same submission (same id and hash) again returns the existing entry;
        the same id with different content is refused (``outbox.duplicate_id``).
        """
        package_dir = Path(package_dir)
        info = read_package_info(package_dir)
        if info.terminal_id != self.cfg.terminal.id:
            raise KioskError("outbox.wrong_terminal", expected=self.cfg.terminal.id, got=info.terminal_id)
        free = shutil.disk_usage(self.root).free
        if free < info.size * 1.1 + 16 * MB:
            raise KioskError("outbox.disk_full", free_mb=free // MB)
        with self._file_lock():
            entry = self._enqueue_locked(package_dir, info, "held" if hold else "queued")
        if remove_plaintext:
            self._remove_plaintext(package_dir)
        return entry

    def _write_blob(self, package_dir: Path, info: PackageInfo, final: Path) -> tuple[Path, str, int, int]:
        """Encrypt the package's archive into ``final``'s ``.part`` (fsynced): (part, sha256, size, count)."""
        chunk_size = self.cfg.mqtt.chunk_size
        part = final.with_suffix(".part")
        with part.open("wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            writer = SegmentWriter(fh, self._key, info.submission_id, chunk_size)
            sink = HashingSink(writer)
            write_archive(package_dir, info.files, sink)
            count = writer.close()
            fh.flush()
            os.fsync(fh.fileno())
        assert count == segment_count(sink.size, chunk_size)
        return part, sink.hash.hexdigest(), sink.size, count

    def _enqueue_locked(self, package_dir: Path, info: PackageInfo, state: str) -> Entry:
        chunk_size = self.cfg.mqtt.chunk_size
        sid = info.submission_id
        final = self._blob_path(sid)
        part, digest, size, count = self._write_blob(package_dir, info, final)
        existing = self.get(sid)
        if existing is not None:
            part.unlink()
            if existing.sha256 != digest:
                raise KioskError("outbox.duplicate_id", submission_id=sid)
            return existing
        os.replace(part, final)
        fsync_dir(self.blobs)
        now = iso(now_vn())
        with self._tx() as db:
            db.execute(
                "INSERT INTO entries (submission_id, terminal_id, sha256, size, chunk_size, chunks, blob, "
                "state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sid, info.terminal_id, digest, size, chunk_size, count, final.name, state, now, now),
            )
        self.audit.append("enqueued", submission_id=sid, sha256=digest, size=size, chunks=count,
                          status="held" if state == "held" else None)
        log.info("package queued",
                 extra={"submission_id": sid, "size": size, "chunks": count, "state": state})
        entry = self.get(sid)
        assert entry is not None
        return entry

    def _remove_plaintext(self, package_dir: Path) -> None:
        if package_dir.exists():
            shutil.rmtree(package_dir)
            fsync_dir(package_dir.parent)
            self.audit.append("plaintext_removed")

    # ---- payload ------------------------------------------------------------------------------------

    def open_payload(self, entry: Entry) -> SegmentReader:
        """Reader of the decrypted chunks of a pending entry."""
        if entry.blob is None:
            raise KioskError("outbox.no_payload", submission_id=entry.submission_id)
        return SegmentReader(self.blobs / entry.blob, self._key, entry.submission_id, entry.size)

    def read_manifest(self, submission_id: str) -> dict[str, Any]:
        """The manifest of an entry that still has its payload, decrypted in memory (it is the archive's
        first member, so only the first segment or two are decrypted)."""
        entry = self.get(submission_id)
        if entry is None:
            raise KioskError("outbox.no_payload", submission_id=submission_id)
        with self.open_payload(entry) as reader:
            try:
                with tarfile.open(fileobj=_PayloadStream(reader), mode="r|") as tar:
                    for ti in tar:
                        if ti.name == MANIFEST:
                            fobj = tar.extractfile(ti)
                            if fobj is not None:
                                manifest: dict[str, Any] = json.loads(fobj.read().decode("utf-8"))
                                return manifest
                        break
            except (tarfile.TarError, ValueError) as exc:
                raise KioskError("outbox.blob_corrupt", submission_id=submission_id) from exc
        raise KioskError("outbox.blob_corrupt", submission_id=submission_id)

    def extract_package(self, submission_id: str, dest: Path) -> Path:
        """Decrypt an entry's package into the new folder ``dest`` (the caller wipes it); returns ``dest``."""
        entry = self.get(submission_id)
        if entry is None:
            raise KioskError("outbox.no_payload", submission_id=submission_id)
        with self.open_payload(entry) as reader:
            try:
                extract_archive(io.BufferedReader(_PayloadStream(reader)), Path(dest),
                                max_bytes=entry.size)
            except ValueError as exc:
                raise KioskError("outbox.blob_corrupt", submission_id=submission_id) from exc
        return Path(dest)

    def held(self) -> list[Entry]:
        """Entries waiting for a staff review, oldest first."""
        return self.entries(("held",))

    def release(self, submission_id: str, reviewed_dir: Path) -> Entry:
        """Swap a held entry's package for its reviewed version (same submission id) and queue it.

        The new blob is written and fsynced under a new name, then one transaction points the row at it
        and queues it, then the old blob is removed: a crash before the commit leaves the entry held with
        its old package (the orphan new blob is removed by ``recover``), after it the entry is queued.
        """
        reviewed_dir = Path(reviewed_dir)
        info = read_package_info(reviewed_dir)
        if info.submission_id != submission_id or info.terminal_id != self.cfg.terminal.id:
            raise KioskError("outbox.bad_package", path=str(reviewed_dir),
                             detail="the reviewed package is another submission")
        with self._file_lock():
            entry = self.get(submission_id)
            if entry is None or entry.state != "held":
                raise KioskError("outbox.not_held", submission_id=submission_id)
            final = self.blobs / f"{submission_id}.{os.urandom(4).hex()}.kob"
            part, digest, size, count = self._write_blob(reviewed_dir, info, final)
            os.replace(part, final)
            fsync_dir(self.blobs)
            with self._tx() as db:
                db.execute("UPDATE entries SET state='queued', sha256=?, size=?, chunk_size=?, chunks=?, "
                           "blob=?, updated_at=? WHERE submission_id=? AND state='held'",
                           (digest, size, self.cfg.mqtt.chunk_size, count, final.name, iso(now_vn()),
                            submission_id))
            if entry.blob and (self.blobs / entry.blob).exists():
                (self.blobs / entry.blob).unlink()
                fsync_dir(self.blobs)
        self.audit.append("reviewed", submission_id=submission_id, sha256=digest,
                          previous_sha256=entry.sha256, size=size, chunks=count)
        log.info("reviewed package queued", extra={"submission_id": submission_id, "size": size})
        released = self.get(submission_id)
        assert released is not None
        return released

    # ---- state changes ------------------------------------------------------------------------------

    def _set(self, sid: str, state: str, *, only_from: tuple[str, ...], **cols: Any) -> bool:
        sets = ", ".join(["state=?", "updated_at=?"] + [f"{k}=?" for k in cols])
        marks = ",".join("?" * len(only_from))
        with self._tx() as db:
            cur = db.execute(f"UPDATE entries SET {sets} WHERE submission_id=? AND state IN ({marks})",
                             (state, iso(now_vn()), *cols.values(), sid, *only_from))
            return cur.rowcount == 1

    def mark_sending(self, sid: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE entries SET state='sending', attempts=attempts+1, updated_at=? "
                       "WHERE submission_id=? AND state IN ('queued','sending','sent')", (iso(now_vn()), sid))

    def mark_sent(self, sid: str) -> None:
        if self._set(sid, "sent", only_from=("sending",), sent_at=iso(now_vn())):
            e = self.get(sid)
            self.audit.append("sent", submission_id=sid, sha256=e.sha256 if e else None)

    def record_receipt(self, receipt: dict[str, Any]) -> str:
        """Apply a validated receipt; returns what happened: 'purged', 'rejected', 'ignored'."""
        sid = receipt["submission_id"]
        entry = self.get(sid)
        if entry is None or entry.state in FINAL:
            return "ignored"
        if receipt["sha256"] != entry.sha256:
            log.warning("receipt hash does not match the queued package", extra={"submission_id": sid})
            return "ignored"
        body = json.dumps(receipt, ensure_ascii=False, sort_keys=True)
        if receipt["status"] == "rejected":
            reason = receipt.get("reason", "rejected")
            failures = receipt.get("failures") or []
            text = reason + (": " + "; ".join(failures) if failures else "")
            self._set(sid, "rejected", only_from=PENDING, reason=text, receipt=body)
            self.audit.append("rejected", submission_id=sid, sha256=entry.sha256, reason=reason,
                              receiver=receipt.get("receiver"))
            log.warning("package rejected by the back end", extra={"submission_id": sid, "reason": reason})
            return "rejected"
        self._set(sid, "receipted", only_from=PENDING, receipted_at=iso(now_vn()), receipt=body)
        self.audit.append("receipted", submission_id=sid, sha256=entry.sha256,
                          receiver=receipt.get("receiver"))
        self._purge(sid)
        return "purged"

    def _purge(self, sid: str) -> None:
        entry = self.get(sid)
        if entry is None or entry.state != "receipted":
            return
        if entry.blob:
            path = self.blobs / entry.blob
            if path.exists():
                path.unlink()
                fsync_dir(self.blobs)
        self._set(sid, "purged", only_from=("receipted",), purged_at=iso(now_vn()), blob=None)
        self.audit.append("purged", submission_id=sid, sha256=entry.sha256)
        log.info("package purged after receipt", extra={"submission_id": sid})

    def discard(self, sid: str) -> None:
        """Delete the encrypted payload of a rejected entry (operator action); the row stays."""
        entry = self.get(sid)
        if entry is None or entry.state != "rejected":
            raise KioskError("outbox.not_rejected", submission_id=sid)
        if entry.blob and (self.blobs / entry.blob).exists():
            (self.blobs / entry.blob).unlink()
            fsync_dir(self.blobs)
        with self._tx() as db:
            db.execute("UPDATE entries SET blob=NULL, updated_at=? WHERE submission_id=?",
                       (iso(now_vn()), sid))
        self.audit.append("discarded", submission_id=sid, sha256=entry.sha256)

    def retry(self, sid: str) -> None:
        """Queue a rejected entry again (e.g. after the back end's trust store was fixed)."""
        entry = self.get(sid)
        if entry is None or entry.state != "rejected" or entry.blob is None:
            raise KioskError("outbox.not_rejected", submission_id=sid)
        self._set(sid, "queued", only_from=("rejected",), reason=None, receipt=None)
        self.audit.append("requeued", submission_id=sid, sha256=entry.sha256)

    # ---- recovery -----------------------------------------------------------------------------------

    def recover(self) -> None:
        """Finish what a crash interrupted: purge receipted entries, drop orphan and partial blobs."""
        with self._file_lock():
            self._recover_locked()

    def _recover_locked(self) -> None:
        for part in self.blobs.glob("*.part"):
            part.unlink()
        known = {r[0] for r in self._db.execute("SELECT blob FROM entries WHERE blob IS NOT NULL")}
        removed = False
        for blob in self.blobs.glob("*.kob"):
            if blob.name not in known:
                blob.unlink()  # written before a crash, row never committed: the plaintext still exists
                removed = True
        if removed:
            fsync_dir(self.blobs)
        for e in self.entries(("receipted",)):
            self._purge(e.submission_id)
        for e in self.entries(PENDING):
            if e.blob is None or not (self.blobs / e.blob).exists():
                self._set(e.submission_id, "rejected", only_from=PENDING, reason="local: payload missing")
                log.error("queued package has no payload", extra={"submission_id": e.submission_id})


class _PayloadStream(io.RawIOBase):
    """Sequential, read-only file object over the decrypted segments of an outbox blob."""

    def __init__(self, reader: SegmentReader) -> None:
        super().__init__()
        self._reader = reader
        self._index = 0
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf and self._index < self._reader.count:
            self._buf = self._reader.read(self._index)
            self._index += 1
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n
