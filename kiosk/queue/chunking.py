"""The wire form of a package: one deterministic POSIX tar of the package directory, cut into chunks.

The archive holds the package's regular files (``manifest.json``, ``manifest.json.p7s``,
``papers/<storage_code>.pdf``) in sorted order with zeroed owners and times, so the same package always
gives the same bytes and the same SHA-256. The receiver extracts it with ``extract_archive``, which accepts
only regular files under at most one sub-folder, with plain names, and within size limits.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
import unicodedata
from collections.abc import Iterator
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


def extract_archive(src: BinaryIO, dest: Path, *, max_files: int = 1000, max_bytes: int = 1 << 31
                    ) -> list[str]:
    """Extract a wire archive into the empty folder ``dest``; returns the relative paths.

    Raises ValueError with a short reason on anything but plain regular files with safe names, at most
    one folder deep, no duplicates, within the limits; ``manifest.json`` and its signature are required.
    """
    names: list[str] = []
    total = 0
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(fileobj=src, mode="r|")
    except tarfile.TarError as exc:
        raise ValueError("not a tar archive") from exc
    with tar:
        try:
            for ti in tar:
                name = ti.name
                parts = name.split("/")
                if not ti.isreg() or len(parts) > 2 or not all(_safe_part(p) for p in parts):
                    raise ValueError(f"unexpected archive member {name!r}")
                if name in names:
                    raise ValueError(f"duplicate archive member {name!r}")
                if len(names) >= max_files or total + ti.size > max_bytes:
                    raise ValueError("archive too large")
                fobj = tar.extractfile(ti)
                if fobj is None:
                    raise ValueError(f"unreadable archive member {name!r}")
                target = dest.joinpath(*parts)
                target.parent.mkdir(exist_ok=True)
                with target.open("xb") as out:
                    while block := fobj.read(1 << 20):
                        out.write(block)
                    out.flush()
                    os.fsync(out.fileno())
                names.append(name)
                total += ti.size
        except tarfile.TarError as exc:
            raise ValueError(f"corrupt archive: {exc}") from exc
    if MANIFEST not in names or SIGNATURE not in names:
        raise ValueError("archive lacks manifest.json or manifest.json.p7s")
    return names


def chunk_ranges(size: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    """(offset, length) of each chunk of a ``size``-byte payload."""
    if size == 0:
        yield 0, 0
        return
    for off in range(0, size, chunk_size):
        yield off, min(chunk_size, size - off)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
