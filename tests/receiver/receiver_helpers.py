"""A bare MQTT client that plays the kiosk: sends a package's offer and chunks in any order, and collects
the receivers' answers. Lets the receiver tests reorder, repeat and drop chunks exactly."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outbox_helpers import RawClient, wait_for
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kiosk.config import Config
from kiosk.dossier import manifest as mf
from kiosk.dossier.keys import device_signer
from kiosk.queue import protocol as proto
from kiosk.queue.chunking import archive_bytes, sha256_hex
from kiosk.timeutil import iso, now_vn


@dataclass
class Wire:
    """One package as the kiosk would send it."""

    terminal: str
    sid: str
    archive: bytes
    chunk_size: int

    @property
    def sha(self) -> str:
        return sha256_hex(self.archive)

    @property
    def chunks(self) -> int:
        return max(1, -(-len(self.archive) // self.chunk_size))

    def chunk(self, i: int) -> bytes:
        return self.archive[i * self.chunk_size:(i + 1) * self.chunk_size]

    @classmethod
    def of(cls, package: Path, terminal: str, chunk_size: int = 16 * 1024) -> Wire:
        return cls(terminal, package.name, archive_bytes(package), chunk_size)


class Kiosk:
    """Publishes offers and chunks of ``Wire`` packages through ``client`` (subscribed to down/#)."""

    def __init__(self, client: RawClient, terminal: str) -> None:
        self.c = client
        self.terminal = terminal
        info = client.client.subscribe(proto.topic(terminal, "down/#"), qos=1)
        client.wait_suback(info[1])

    def offer(self, w: Wire, *, resume: bool, attempt: int = 1) -> None:
        o = {"v": 1, "type": "offer", "submission_id": w.sid, "terminal_id": self.terminal, "sha256": w.sha,
             "size": len(w.archive), "chunk_size": w.chunk_size, "chunks": w.chunks, "resume": resume,
             "attempt": attempt, "sent_at": iso(now_vn())}
        info = self.c.client.publish(proto.topic(self.terminal, "up/offer"), proto.encode("offer", o), qos=1)
        assert self.c.wait_puback(info.mid) == "Success"

    def send(self, w: Wire, indices: Iterable[int], *, payload: dict[int, bytes] | None = None) -> None:
        """Publish chunks ``indices`` in that order (``payload`` replaces some chunks' bytes, keeping the
        header of the real chunk). Waits for every PUBACK at the end."""
        mids: list[int] = []
        for i in indices:
            data = w.chunk(i)
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = proto.ChunkHeader(w.sid, w.sha, len(w.archive), w.chunk_size, w.chunks, i,
                                                   sha256_hex(data)).to_properties()
            body = (payload or {}).get(i, data)
            topic = proto.topic(self.terminal, "up/chunk")
            mids.append(self.c.client.publish(topic, body, qos=1, properties=props).mid)
        assert all(self.c.wait_puback(mid) == "Success" for mid in mids)

    def answers(self, kind: str) -> list[dict[str, Any]]:
        with self.c.lock:
            msgs = list(self.c.messages)
        return [json.loads(p) for t, p in msgs if t.endswith(f"/down/{kind}")]

    def wait(self, kind: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        assert wait_for(lambda: len(self.answers(kind)) >= count, timeout), f"no {kind} ({count})"
        return self.answers(kind)


def reseal_manifest(package: Path, cfg: Config) -> None:
    """After a paper was changed: put its new size and SHA-256 in the manifest and sign it again with the
    device key, so that the package passes admission (hashes and manifest signature) whatever the paper
    holds."""
    import hashlib

    manifest = json.loads((package / mf.MANIFEST_NAME).read_text("utf-8"))
    for p in manifest["papers"]:
        data = (package / p["file"]).read_bytes()
        p["size"], p["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    raw = mf.encode(manifest)
    (package / mf.MANIFEST_NAME).write_bytes(raw)
    (package / mf.SIGNATURE_NAME).write_bytes(mf.sign(raw, device_signer(cfg)))


def break_seal(pdf: Path) -> None:
    """Change one byte inside the part of the PDF that its seal covers (the seal's digest no longer
    matches)."""
    data = bytearray(pdf.read_bytes())
    pos = data.index(b"/Subtype /Image") + 2
    data[pos] ^= 0x20
    pdf.write_bytes(bytes(data))
