"""Streaming reassembly of one staged package: chunks are hashed and untarred as they arrive.

A staging folder (``<store>/.staging/<terminal>/<sid>/<sha256>/``) is shared by every receiver of the
share group, because the broker deals the chunks of one package out to all of them::

    meta.json       the package (terminal, id, SHA-256, size, chunk size, chunks); created once, atomically
    data.bin        every chunk at its offset (pwrite; not fsynced: hashes decide what is good)
    chunks.log      journal, one line per staged chunk: "<index> <chunk sha256>"; "<index> -" retracts one
    assemble.lock   flock held by the one receiver process that assembles the package (the "lease")
    pkg/            the files extracted so far by the lease holder

Every receiver stages the chunks it gets (``data.bin`` + one journal line, a single ``write`` with
O_APPEND, so lines of several receivers never mix). The lease holder keeps a running SHA-256 of the
in-order prefix of the archive and feeds that prefix to a :class:`~kiosk.queue.chunking.ArchiveStream`,
which writes, hashes and fsyncs each file as it completes. Chunks that this process received come from
memory (their hash was checked on arrival); the others are read back from ``data.bin`` and checked
against the journal's hash; a chunk whose bytes do not match is retracted in the journal and asked for
again. A receiver that starts (or takes the lease over after the holder died) starts from offset 0 with
what is on disk, so a restart loses no staged chunk, only the in-memory hashing state.

A journal line torn by a crash is unreadable and simply ignored: that chunk counts as missing and is
asked for again. Staged data is a hint; the chunk hashes and finally the archive's SHA-256 are the truth.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import shutil
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from kiosk.queue.chunking import ArchiveStream, ExtractedFile

JOURNAL = "chunks.log"
DATA = "data.bin"
LEASE = "assemble.lock"
PKG = "pkg"
_LINE = re.compile(rb"(0|[1-9][0-9]{0,8}) ([0-9a-f]{64}|-)")


class LeaseBusy(Exception):
    """Another receiver process holds the assembly lease of this package."""


@dataclass(frozen=True)
class StageMeta:
    terminal_id: str
    submission_id: str
    sha256: str
    size: int
    chunk_size: int
    chunks: int

    def length(self, index: int) -> int:
        return self.chunk_size if index < self.chunks - 1 else self.size - index * self.chunk_size


class Journal:
    """The append-only chunk journal of a staging folder (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.entries: dict[int, str] = {}  # index -> chunk sha256
        self._pos = 0
        self._tail = b""

    def append(self, index: int, chunk_sha256: str | None) -> None:
        """Record a staged chunk (or, with None, retract one whose bytes turned out bad)."""
        os.write(self.fd, f"{index} {chunk_sha256 or '-'}\n".encode())
        self.refresh()

    def refresh(self) -> bool:
        """Read what was appended since the last call (by any process); True if there was anything."""
        size = os.fstat(self.fd).st_size
        if size <= self._pos:
            return False
        data = self._tail + os.pread(self.fd, size - self._pos, self._pos)
        self._pos = size
        *lines, self._tail = data.split(b"\n")
        for line in lines:
            m = _LINE.fullmatch(line)
            if m is None:
                continue  # torn by a crash, or garbage: that chunk is simply missing
            index, digest = int(m.group(1)), m.group(2).decode()
            if digest == "-":
                self.entries.pop(index, None)
            else:
                self.entries[index] = digest
        return True

    def close(self) -> None:
        os.close(self.fd)


def read_journal(stage: Path) -> dict[int, str]:
    """The chunks a staging folder holds according to its journal (index -> chunk hash)."""
    path = stage / JOURNAL
    if not path.is_file():
        return {}
    j = Journal(path)
    try:
        j.refresh()
        return dict(j.entries)
    finally:
        j.close()


def stage_chunk(stage: Path, meta: StageMeta, index: int, data: bytes, chunk_sha256: str) -> None:
    """Stage one verified chunk without holding the lease: write it at its offset, then journal it."""
    fd = os.open(stage / DATA, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.pwrite(fd, data, index * meta.chunk_size)
    finally:
        os.close(fd)
    jfd = os.open(stage / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(jfd, f"{index} {chunk_sha256}\n".encode())
    finally:
        os.close(jfd)


class Assembly:
    """The lease holder's streaming state for one staging folder.

    ``add`` stages a chunk this process received (its hash already checked) and ``advance`` consumes the
    in-order prefix as far as it is available. When ``complete``, ``digest`` is the archive's SHA-256 and
    ``files`` what was extracted (or ``archive_error`` says why the archive could not be extracted).
    Raises LeaseBusy when another process assembles this package. Not thread-safe: one worker thread
    owns it.
    """

    def __init__(self, stage: Path, meta: StageMeta, *, max_bytes: int = 1 << 31, fsync: bool = True,
                 memory_cap: int = 32 << 20, syncer: Executor | None = None) -> None:
        self.stage = stage
        self.meta = meta
        self.memory_cap = memory_cap
        self._lease = os.open(stage / LEASE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(self._lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._lease)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LeaseBusy(str(stage)) from exc
            raise
        try:
            self.data_fd = os.open(stage / DATA, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.journal = Journal(stage / JOURNAL)
            self.journal.refresh()
            shutil.rmtree(stage / PKG, ignore_errors=True)  # a previous holder's partial work
            self.stream = ArchiveStream(stage / PKG, max_bytes=max_bytes, fsync=fsync,
                                        on_file=self._on_file, syncer=syncer)
        except BaseException:
            os.close(self._lease)
            raise
        self.hash = hashlib.sha256()
        self.next = 0  # the first chunk not consumed yet
        self.archive_error: str | None = None
        self.from_disk = 0  # chunks read back from data.bin (restart, other receivers, out of order)
        self.retracted: list[int] = []  # chunks found damaged on disk, not asked for yet
        self.completed_files: list[ExtractedFile] = []
        self._pending: dict[int, bytes] = {}  # own chunks that arrived ahead of the prefix
        self._pending_bytes = 0
        self.closed = False

    def _on_file(self, f: ExtractedFile) -> None:
        self.completed_files.append(f)

    @property
    def complete(self) -> bool:
        return self.next >= self.meta.chunks

    @property
    def pkg(self) -> Path:
        return self.stage / PKG

    def add(self, index: int, data: bytes, chunk_sha256: str) -> bool:
        """Stage a chunk this process received (its length already checked). The next chunk of the
        prefix is consumed at once and its hash is not checked here: the archive's SHA-256 covers it,
        and :meth:`damaged` finds it if that does not match. Any other chunk is checked first. False when
        its bytes do not match ``chunk_sha256`` (not staged)."""
        if index != self.next and hashlib.sha256(data).hexdigest() != chunk_sha256:
            return False
        os.pwrite(self.data_fd, data, index * self.meta.chunk_size)
        if self.journal.entries.get(index) != chunk_sha256:
            self.journal.append(index, chunk_sha256)
        if index == self.next:
            self._consume(data)
            self._advance_memory()
        elif index > self.next and index not in self._pending and \
                self._pending_bytes + len(data) <= self.memory_cap:
            self._pending[index] = data
            self._pending_bytes += len(data)
        return True

    def damaged(self) -> list[int]:
        """After a complete pass whose SHA-256 is not the announced one: the chunks whose staged bytes do
        not match their journalled hash, retracted in the journal (they are to be sent again)."""
        self.journal.refresh()
        bad = []
        for i in range(self.meta.chunks):
            expected = self.journal.entries.get(i)
            data = os.pread(self.data_fd, self.meta.length(i), i * self.meta.chunk_size)
            if expected is None or hashlib.sha256(data).hexdigest() != expected:
                bad.append(i)
        for i in bad:
            self.journal.append(i, None)
        return bad

    def advance(self) -> None:
        """Consume the in-order prefix as far as memory and the journal allow."""
        self.journal.refresh()
        while not self.complete:
            data = self._pending.pop(self.next, None)
            if data is not None:
                self._pending_bytes -= len(data)
            else:
                expected = self.journal.entries.get(self.next)
                if expected is None:
                    return
                data = os.pread(self.data_fd, self.meta.length(self.next), self.next * self.meta.chunk_size)
                if len(data) != self.meta.length(self.next) or hashlib.sha256(data).hexdigest() != expected:
                    self.journal.append(self.next, None)  # damaged on disk (e.g. a crash): ask again
                    self.retracted.append(self.next)
                    return
                self.from_disk += 1
            self._consume(data)

    def _consume(self, data: bytes) -> None:
        self.hash.update(data)
        self.next += 1
        if self.archive_error is None:
            try:
                self.stream.feed(data)
            except ValueError as exc:
                # Keep hashing: whether this is a bad archive or chunks that do not add up to the
                # announced SHA-256 is decided once every chunk is in.
                self.archive_error = str(exc)

    def _advance_memory(self) -> None:
        while (data := self._pending.pop(self.next, None)) is not None:
            self._pending_bytes -= len(data)
            self._consume(data)

    def missing(self) -> list[int]:
        """Chunks that are neither consumed, nor staged (per the journal), nor held in memory."""
        self.journal.refresh()
        return [i for i in range(self.next, self.meta.chunks)
                if i not in self.journal.entries and i not in self._pending]

    @property
    def digest(self) -> str:
        return self.hash.hexdigest()

    def files(self) -> list[ExtractedFile]:
        """The extracted files of a complete package; ValueError when the archive is not acceptable."""
        if self.archive_error is not None:
            raise ValueError(self.archive_error)
        return self.stream.finish()

    def close(self) -> None:
        """Release the lease and close the files (staged data stays for whoever continues)."""
        if self.closed:
            return
        self.closed = True
        self.stream.abort()
        self.journal.close()
        os.close(self.data_fd)
        os.close(self._lease)  # releases the flock
        self._pending.clear()
