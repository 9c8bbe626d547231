"""The wire form of a package: one deterministic POSIX tar of the package directory, cut into chunks.

The archive holds the package's regular files (``manifest.json``, ``manifest.json.p7s``,
``papers/<storage_code>.pdf``) in sorted order with zeroed owners and times, so the same package always
gives the same bytes and the same SHA-256. The receiver extracts it as the chunks arrive with
``ArchiveStream`` (``extract_archive`` is the same over a file), which accepts only regular files under at
most one sub-folder, with plain names, and within size limits.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from kiosk.errors import KioskError

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.p7s"
SUBMISSION_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_PART_RE = re.compile(r"[^/\\\x00-\x1f]{1,200}")


class Sink(Protocol):
    def write(self, data: bytes) -> int: ...


@dataclass(frozen=True)
class PackageInfo:
    """What the outbox needs from a package directory (read from its manifest)."""

    submission_id: str
    terminal_id: str
    files: list[str]  # relative POSIX paths, sorted
    size: int  # total bytes of the files


def _safe_part(part: str) -> bool:
    return bool(_PART_RE.fullmatch(part)) and part not in (".", "..") and not part.startswith(".")


def package_files(package_dir: Path) -> list[str]:
    """Relative paths of the package's regular files, sorted; refuses links, devices and deep trees."""
    out: list[str] = []
    for root, dirs, files in os.walk(package_dir, followlinks=False):
        rel_root = Path(root).relative_to(package_dir)
        depth = 0 if str(rel_root) == "." else len(rel_root.parts)
        for d in dirs:
            if depth >= 1 or Path(root, d).is_symlink() or not _safe_part(d):
                raise KioskError("outbox.bad_package", path=str(package_dir), detail=f"unexpected folder {d}")
        for f in files:
            p = Path(root, f)
            if p.is_symlink() or not p.is_file() or not _safe_part(f):
                raise KioskError("outbox.bad_package", path=str(package_dir), detail=f"unexpected file {f}")
            out.append((rel_root / f).as_posix() if depth else f)
    return sorted(out)


def read_package_info(package_dir: Path) -> PackageInfo:
    """Parse the manifest and check that every paper it lists is present."""
    mpath = package_dir / MANIFEST
    if not package_dir.is_dir() or not mpath.is_file() or not (package_dir / SIGNATURE).is_file():
        raise KioskError("outbox.bad_package", path=str(package_dir),
                         detail="manifest.json and manifest.json.p7s are required")
    try:
        manifest: Any = json.loads(mpath.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise KioskError("outbox.bad_package", path=str(package_dir), detail="manifest is not JSON") from exc
    sid = manifest.get("submission_id") if isinstance(manifest, dict) else None
    tid = manifest.get("terminal_id") if isinstance(manifest, dict) else None
    if not isinstance(sid, str) or not SUBMISSION_ID_RE.fullmatch(sid):
        raise KioskError("outbox.bad_package", path=str(package_dir), detail="bad submission_id")
    if not isinstance(tid, str) or not tid:
        raise KioskError("outbox.bad_package", path=str(package_dir), detail="bad terminal_id")
    files = package_files(package_dir)
    for paper in _manifest_papers(manifest):
        name = paper.get("file")
        if not isinstance(name, str) or name not in files:
            raise KioskError("outbox.bad_package", path=str(package_dir), detail=f"missing paper {name}")
    size = sum((package_dir / f).stat().st_size for f in files)
    return PackageInfo(submission_id=sid, terminal_id=tid, files=files, size=size)


def _manifest_papers(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    papers = manifest.get("papers", [])
    if not isinstance(papers, list):
        return []
    return [p for p in papers if isinstance(p, dict)]


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(unicodedata.normalize("NFC", name))
    ti.size = size
    ti.mode = 0o644
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.type = tarfile.REGTYPE
    return ti


def write_archive(package_dir: Path, files: list[str], sink: Sink) -> None:
    """Stream the deterministic tar of ``files`` (relative to ``package_dir``) into ``sink``."""
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
                      bufsize=256 * 1024) as tar:
        for name in files:
            path = package_dir / name
            with path.open("rb") as fh:
                tar.addfile(_tarinfo(name, path.stat().st_size), fh)


def archive_bytes(package_dir: Path) -> bytes:
    """The wire archive of a package directory, in memory (tests and tools)."""
    buf = io.BytesIO()
    write_archive(package_dir, package_files(package_dir), buf)
    return buf.getvalue()


class HashingSink:
    """Passes writes through to ``inner`` while computing SHA-256 and the length."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.inner.write(data)
        return len(data)


@dataclass(frozen=True)
class ExtractedFile:
    """One member written by :class:`ArchiveStream`: relative path, length and SHA-256 of its bytes."""

    name: str
    size: int
    sha256: str


_BLOCK = 512
_REGULAR = (b"0", b"\x00")
_PAX = b"x"
_MAX_PAX = 64 * 1024


def _octal(field: bytes) -> int:
    text = field.rstrip(b"\x00 ").lstrip(b" ")
    if not text:
        return 0
    if not all(0x30 <= c <= 0x37 for c in text):
        raise ValueError("corrupt archive: bad number in header")
    return int(text, 8)


def _checksum_ok(block: bytes) -> bool:
    try:
        stored = _octal(block[148:156])
    except ValueError:
        return False
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    high = sum(1 for c in block[:148] if c > 127) + sum(1 for c in block[156:] if c > 127)
    signed = unsigned - 256 * high
    return stored in (unsigned, signed)


def _pax_records(data: bytes) -> dict[str, str]:
    """The ``key=value`` records of a POSIX pax extended header (``"<len> key=value\\n"`` each)."""
    out: dict[str, str] = {}
    pos = 0
    data = data.rstrip(b"\x00")
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0 or not data[pos:sp].isdigit():
            raise ValueError("corrupt archive: bad pax header")
        length = int(data[pos:sp])
        record = data[sp + 1:pos + length]
        if length <= sp - pos + 1 or pos + length > len(data) or not record.endswith(b"\n") \
                or b"=" not in record:
            raise ValueError("corrupt archive: bad pax header")
        key, _, value = record[:-1].partition(b"=")
        try:
            out[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError("corrupt archive: pax header is not UTF-8") from exc
        pos += length
    return out


class ArchiveStream:
    """Extracts a wire archive incrementally: ``feed`` it the archive's bytes in order, in pieces of any
    size, then ``finish``. Each member's bytes are written to its file under ``dest`` as they come,
    hashed (SHA-256) on the way, and the file is fsynced (``fsync=True``) and closed when complete;
    ``on_file`` is called then.

    A push parser for the subset of POSIX tar that :func:`write_archive` produces: ustar headers (with
    the ``prefix`` field) and pax extended headers (``x``; their ``path`` and ``size`` apply to the next
    member), regular files only, then the end-of-archive zero blocks and zero padding. The rules are
    those of :func:`extract_archive`: plain names (no ``.``/``..``/hidden parts, no control
    characters), at most one folder deep, no duplicates, at most ``max_files`` files and ``max_bytes``
    bytes. Anything else raises ValueError with a short reason, and the stream stays failed.
    """

    def __init__(self, dest: Path, *, max_files: int = 1000, max_bytes: int = 1 << 31, fsync: bool = True,
                 on_file: Callable[[ExtractedFile], None] | None = None, syncer: Executor | None = None
                 ) -> None:
        self.dest = Path(dest)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.syncer = syncer  # runs the fsync + close of completed members, so feeding goes on meanwhile
        self._syncs: list[Future[None]] = []
        self.on_file = on_file
        self.files: list[ExtractedFile] = []
        self.consumed = 0  # archive bytes fed so far
        self.error: str | None = None
        self._names: set[str] = set()
        self._total = 0
        self._buf = bytearray()  # a partial header block or pax header
        self._state = "header"  # header | pax | data | skip | end
        self._need = _BLOCK  # bytes the current state still wants
        self._pax: dict[str, str] | None = None
        self._pax_size = 0
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        self._hash = hashlib.sha256()
        self.dest.mkdir(parents=True, exist_ok=True)

    @property
    def ended(self) -> bool:
        """True once the end-of-archive marker was read."""
        return self._state == "end"

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if self.error is not None:
            raise ValueError(self.error)
        try:
            self._feed(memoryview(data).cast("B"))
        except ValueError as exc:
            self.error = str(exc)
            self.abort()
            raise
        except OSError as exc:
            self.error = f"cannot write archive member: {exc.strerror or exc}"
            self.abort()
            raise ValueError(self.error) from exc

    def _feed(self, mv: memoryview) -> None:
        pos, n = 0, len(mv)
        self.consumed += n
        while pos < n:
            take = min(self._need, n - pos)
            piece = mv[pos:pos + take]
            pos += take
            self._need -= take
            if self._state == "data":
                self._hash.update(piece)
                assert self._fd is not None
                while piece:
                    written = os.write(self._fd, piece)
                    piece = piece[written:]
                if self._need == 0:
                    self._close_member()
            elif self._state == "skip":
                if self._need == 0:
                    self._state, self._need = "header", _BLOCK
            elif self._state == "end":
                if piece.tobytes().count(0) != take:
                    raise ValueError("corrupt archive: data after the end-of-archive marker")
                self._need = 1 << 62
            else:  # header or pax: collect whole blocks
                self._buf += piece
                if self._need == 0:
                    block, self._buf = bytes(self._buf), bytearray()
                    if self._state == "header":
                        self._header(block)
                    else:
                        self._pax = _pax_records(block[:self._pax_size])
                        self._state, self._need = "header", _BLOCK

    def _header(self, block: bytes) -> None:
        first = not self.files and self._pax is None and not self._names
        if block.count(0) == _BLOCK:
            if self._pax is not None:
                raise ValueError("corrupt archive: pax header without a member")
            self._state, self._need = "end", 1 << 62
            return
        if not _checksum_ok(block) or block[257:263] not in (b"ustar\x00", b"ustar "):
            raise ValueError("not a tar archive" if first else "corrupt archive: bad header block")
        kind = block[156:157]
        size = _octal(block[124:136]) if block[124] < 0x80 else -1
        if kind == _PAX:
            if self._pax is not None or not 0 <= size <= _MAX_PAX:
                raise ValueError("corrupt archive: bad pax header")
            self._pax_size = size
            self._state, self._need = "pax", -(-size // _BLOCK) * _BLOCK
            if size == 0:
                self._pax, self._state, self._need = {}, "header", _BLOCK
            return
        try:
            name = block[0:100].split(b"\x00", 1)[0].decode("utf-8")
            posix = block[257:263] == b"ustar\x00"
            prefix = block[345:500].split(b"\x00", 1)[0].decode("utf-8") if posix else ""
        except UnicodeDecodeError as exc:
            raise ValueError("corrupt archive: member name is not UTF-8") from exc
        if prefix:
            name = f"{prefix}/{name}"
        pax, self._pax = self._pax or {}, None
        name = pax.get("path", name)
        if "size" in pax:
            if not pax["size"].isdigit():
                raise ValueError("corrupt archive: bad pax size")
            size = int(pax["size"])
        parts = name.split("/")
        if kind not in _REGULAR or len(parts) > 2 or not all(_safe_part(p) for p in parts):
            raise ValueError(f"unexpected archive member {name!r}")
        if name in self._names:
            raise ValueError(f"duplicate archive member {name!r}")
        if size < 0 or len(self.files) >= self.max_files or self._total + size > self.max_bytes:
            raise ValueError("archive too large")
        target = self.dest.joinpath(*parts)
        target.parent.mkdir(exist_ok=True)
        self._fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        self._names.add(name)
        self._name, self._size, self._hash = name, size, hashlib.sha256()
        self._total += size
        self._state, self._need = "data", size
        if size == 0:
            self._close_member()

    def _close_member(self) -> None:
        assert self._fd is not None
        fd, self._fd = self._fd, None
        if self.syncer is not None and self.fsync:
            self._syncs.append(self.syncer.submit(_fsync_close, fd))
        else:
            try:
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
        done = ExtractedFile(self._name, self._size, self._hash.hexdigest())
        self.files.append(done)
        pad = -self._size % _BLOCK
        self._state, self._need = ("skip", pad) if pad else ("header", _BLOCK)
        if self.on_file is not None:
            self.on_file(done)

    def finish(self) -> list[ExtractedFile]:
        """The extracted files, once the whole archive was fed; ValueError if it is incomplete or lacks
        ``manifest.json`` or its signature."""
        if self.error is not None:
            raise ValueError(self.error)
        if not self.ended:
            self.abort()
            raise ValueError("corrupt archive: truncated")
        if MANIFEST not in self._names or SIGNATURE not in self._names:
            raise ValueError("archive lacks manifest.json or manifest.json.p7s")
        self._wait_syncs()
        return list(self.files)

    def _wait_syncs(self) -> None:
        syncs, self._syncs = self._syncs, []
        errors = [f.exception() for f in syncs]
        if any(errors):
            raise ValueError(f"cannot write archive member: {next(e for e in errors if e)}")

    def abort(self) -> None:
        """Close a member left open (the partial file stays; the caller removes ``dest``)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        for f in self._syncs:
            f.exception()  # wait: the descriptor is closed by its sync
        self._syncs = []


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def extract_archive(src: BinaryIO, dest: Path, *, max_files: int = 1000, max_bytes: int = 1 << 31,
                    fsync: bool = True) -> list[str]:
    """Extract a wire archive into the empty folder ``dest``; returns the relative paths.

    Raises ValueError with a short reason on anything but plain regular files with safe names, at most
    one folder deep, no duplicates, within the limits; ``manifest.json`` and its signature are required.
    (:class:`ArchiveStream` over ``src``.)
    """
    stream = ArchiveStream(dest, max_files=max_files, max_bytes=max_bytes, fsync=fsync)
    try:
        while block := src.read(1 << 20):
            stream.feed(block)
        return [f.name for f in stream.finish()]
    finally:
        stream.abort()


def chunk_ranges(size: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of each chunk of a ``size``-byte payload."""
    if size == 0:
        yield 0, 0
        return
    for off in range(0, size, chunk_size):
        yield off, min(chunk_size, size - off)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
