"""The durable outbox: every submitted package, encrypted at rest, until the back end's receipt.

Layout under ``<data_dir>/outbox/``: ``outbox.db`` (SQLite, WAL, ``synchronous=FULL``) and
``blobs/<submission_id>.kob`` (AES-256-GCM segments, see ``kiosk.queue.crypto``).

Life of an entry::

    queued -> sending -> sent -> receipted -> purged
                 \\________\\____-> rejected (reason from the receiver)

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
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiosk.config import Config
from kiosk.errors import KioskError
from kiosk.queue.audit import AuditLog
from kiosk.queue.chunking import HashingSink, PackageInfo, read_package_info, write_archive
from kiosk.queue.crypto import SegmentReader, SegmentWriter, load_or_create_key, segment_count
from kiosk.timeutil import iso, now_vn

log = logging.getLogger("kiosk.queue.outbox")

STATES = ("queued", "sending", "sent", "receipted", "purged", "rejected")
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


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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

    def enqueue(self, package_dir: Path, *, remove_plaintext: bool = True) -> Entry:
        """Encrypt the package into the outbox, commit its row, then delete the plaintext folder.

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
            entry = self._enqueue_locked(package_dir, info)
        if remove_plaintext:
            self._remove_plaintext(package_dir)
        return entry

    def _enqueue_locked(self, package_dir: Path, info: PackageInfo) -> Entry:
        chunk_size = self.cfg.mqtt.chunk_size
        sid = info.submission_id
        final = self._blob_path(sid)
        part = final.with_suffix(".part")
        with part.open("wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            writer = SegmentWriter(fh, self._key, sid, chunk_size)
            sink = HashingSink(writer)
            write_archive(package_dir, info.files, sink)
            count = writer.close()
            fh.flush()
            os.fsync(fh.fileno())
        digest = sink.hash.hexdigest()
        assert count == segment_count(sink.size, chunk_size)
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
                (sid, info.terminal_id, digest, sink.size, chunk_size, count, final.name, "queued", now, now),
            )
        self.audit.append("enqueued", submission_id=sid, sha256=digest, size=sink.size, chunks=count)
        log.info("package queued", extra={"submission_id": sid, "size": sink.size, "chunks": count})
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
