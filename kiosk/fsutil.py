"""Durable file writes: the data is on disk (fsync) before the caller goes on, and directory entries too.

Used wherever a crash must not leave a file that looks complete but is not (dossier packages, reviews,
the outbox, the receiver's store).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_durable(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync the file (not its directory: see :func:`fsync_dir`)."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """fsync a directory, so that the entries created, renamed or removed in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
