"""Encryption at rest for queued packages: AES-256-GCM in independent segments.

A queued package is stored as one blob: a 16-byte header (``KOB1``, version, segment size) followed by
segments of ``nonce (12) || ciphertext || tag (16)``. Segment *i* holds plaintext bytes
``[i * segment_size, (i + 1) * segment_size)`` and is the wire chunk *i*, so the sender decrypts only
the chunk it is about to publish. Each segment is authenticated with associated data binding it to the
submission id, its index and whether it is the last one, so segments cannot be swapped, moved between
packages or truncated unnoticed.

Version 2 (written since) adds a trailer after the last segment: ``nonce || ciphertext || tag`` of the
SHA-256 digests of every segment's plaintext (32 bytes each, in order), authenticated with the submission
id. The wire header of each chunk carries that hash; computing it once at enqueue time spares the sender
a SHA-256 pass over the whole package at every (re)send. Version 1 blobs (no trailer) stay readable.

The key is 32 random bytes in a file readable by the kiosk user only (mode 0600, checked on load).
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kiosk.errors import KioskError
from kiosk.pki import write_private

MAGIC = b"KOB1"
HEADER = struct.Struct(">4sHHI4x")  # magic, version, reserved, segment size, padding -> 16 bytes
NONCE_LEN = 12
TAG_LEN = 16
OVERHEAD = NONCE_LEN + TAG_LEN
VERSION = 2
DIGEST_LEN = 32


def trailer_size(count: int) -> int:
    """Bytes of the version 2 trailer of a blob with ``count`` segments."""
    return OVERHEAD + DIGEST_LEN * count


def load_or_create_key(path: Path) -> bytes:
    """The 32-byte outbox key at ``path``; created (0600) on first use. A key file that group or others
    may read is refused: the kiosk would be keeping its secret where other accounts can read it."""
    if not path.exists():
        write_private(path, AESGCM.generate_key(bit_length=256))
        path.parent.chmod(0o700)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KioskError("outbox.key_mode", path=str(path), mode=f"{mode:04o}")
    key = path.read_bytes()
    if len(key) != 32:
        raise KioskError("outbox.key_invalid", path=str(path))
    return key


def _aad(submission_id: str, index: int, last: bool) -> bytes:
    return b"kiosk-outbox-v1|" + submission_id.encode() + struct.pack(">Q?", index, last)


def _trailer_aad(submission_id: str) -> bytes:
    return b"kiosk-outbox-v1|" + submission_id.encode() + b"|segment-sha256"


def segment_count(size: int, segment_size: int) -> int:
    """Number of segments (= wire chunks) for ``size`` plaintext bytes; an empty package has one."""
    return max(1, -(-size // segment_size))


class SegmentWriter:
    """Streams plaintext into an encrypted blob file, one AES-GCM segment per ``segment_size`` bytes."""

    def __init__(self, fh: BinaryIO, key: bytes, submission_id: str, segment_size: int) -> None:
        self._fh = fh
        self._aes = AESGCM(key)
        self._sid = submission_id
        self._size = segment_size
        self._buf = bytearray()
        self._index = 0
        self._digests: list[bytes] = []
        self.plain_bytes = 0
        fh.write(HEADER.pack(MAGIC, VERSION, 0, segment_size))

    def write(self, data: bytes) -> int:
        self._buf += data
        self.plain_bytes += len(data)
        # Keep at least one full segment buffered: the last segment is only known at close().
        while len(self._buf) > self._size:
            self._emit(bytes(self._buf[: self._size]), last=False)
            del self._buf[: self._size]
        return len(data)

    def _emit(self, plain: bytes, *, last: bool) -> None:
        nonce = os.urandom(NONCE_LEN)
        self._fh.write(nonce + self._aes.encrypt(nonce, plain, _aad(self._sid, self._index, last)))
        self._digests.append(hashlib.sha256(plain).digest())
        self._index += 1

    def close(self) -> int:
        """Write the final segment and the trailer; returns the number of segments."""
        self._emit(bytes(self._buf), last=True)
        self._buf.clear()
        nonce = os.urandom(NONCE_LEN)
        self._fh.write(nonce + self._aes.encrypt(nonce, b"".join(self._digests), _trailer_aad(self._sid)))
        return self._index


class SegmentReader:
    """Random access to the plaintext segments of an encrypted blob."""

    def __init__(self, path: Path, key: bytes, submission_id: str, size: int) -> None:
        self._fh = path.open("rb")
        magic, version, _r, seg = HEADER.unpack(self._fh.read(HEADER.size))
        if magic != MAGIC or version not in (1, 2):
            self._fh.close()
            raise KioskError("outbox.blob_corrupt", submission_id=submission_id)
        self.segment_size = seg
        self.size = size
        self.count = segment_count(size, seg)
        self._aes = AESGCM(key)
        self._sid = submission_id
        self._digests: bytes | None = None
        if version == 2:
            self._fh.seek(HEADER.size + size + self.count * OVERHEAD)
            blob = self._fh.read(trailer_size(self.count))
            try:
                self._digests = self._aes.decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], _trailer_aad(self._sid))
            except Exception as exc:  # InvalidTag, or a short read
                self._fh.close()
                raise KioskError("outbox.blob_corrupt", submission_id=submission_id) from exc
            if len(self._digests) != DIGEST_LEN * self.count:
                self._fh.close()
                raise KioskError("outbox.blob_corrupt", submission_id=submission_id)

    def chunk_sha256(self, index: int) -> str | None:
        """SHA-256 (hex) of segment ``index``'s plaintext, from the trailer (None for a version 1 blob)."""
        if self._digests is None:
            return None
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self._digests[index * DIGEST_LEN:(index + 1) * DIGEST_LEN].hex()

    def read(self, index: int) -> bytes:
        if not 0 <= index < self.count:
            raise IndexError(index)
        last = index == self.count - 1
        plain_len = self.size - index * self.segment_size if last else self.segment_size
        self._fh.seek(HEADER.size + index * (self.segment_size + OVERHEAD))
        blob = self._fh.read(plain_len + OVERHEAD)
        try:
            return self._aes.decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], _aad(self._sid, index, last))
        except Exception as exc:  # InvalidTag, or a short read
            raise KioskError("outbox.blob_corrupt", submission_id=self._sid) from exc

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> SegmentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
