"""Wire protocol v1: topics, message builders and validation against ``kiosk/data/schemas``.

See ``docs/protocol.md``. Every JSON message sent or received is validated against its JSON Schema;
chunk headers travel as MQTT 5 user properties and are validated the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

SHARE_GROUP = "receivers"
ROOT = "kiosk/v1"
ALERTS = "fleet/v1/alerts"
SCHEMAS = ("offer", "chunk", "need", "receipt", "status", "alert", "validation")


class ProtocolError(ValueError):
    """A message that does not follow the protocol (bad topic, bad JSON, fails its schema)."""


def topic(terminal_id: str, leaf: str) -> str:
    """``kiosk/v1/<terminal>/<leaf>``; leaves: up/offer, up/chunk, down/need, down/receipt, status."""
    return f"{ROOT}/{terminal_id}/{leaf}"


def alert_topic(source: str) -> str:
    """``fleet/v1/alerts/<source>``: alerts raised by a back-end component (e.g. a receiver id)."""
    return f"{ALERTS}/{source}"


def receiver_subscriptions(group: str = SHARE_GROUP) -> list[str]:
    """The shared subscriptions of a receiver: all terminals' uplink traffic, load-shared in ``group``."""
    return [f"$share/{group}/{ROOT}/+/up/#"]


def terminal_subscriptions(terminal_id: str) -> list[str]:
    return [f"{ROOT}/{terminal_id}/down/#"]


def split_topic(t: str) -> tuple[str, str]:
    """(terminal id, leaf) of a protocol topic; ProtocolError for anything else."""
    parts = t.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != ROOT:
        raise ProtocolError(f"not a kiosk/v1 topic: {t}")
    return parts[2], "/".join(parts[3:])


@cache
def validator(name: str) -> Draft202012Validator:
    text = resources.files("kiosk.data").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def schema(name: str) -> dict[str, Any]:
    s = validator(name).schema
    assert isinstance(s, dict)
    return dict(s)


def validate(name: str, obj: Any) -> dict[str, Any]:
    """Return ``obj`` if it is valid against schema ``name``; else ProtocolError with the first error."""
    try:
        validator(name).validate(obj)
    except ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ProtocolError(f"{name}: {where}: {exc.message}") from exc
    assert isinstance(obj, dict)
    return obj


def encode(name: str, obj: dict[str, Any]) -> bytes:
    """Validate and serialise an outgoing JSON message."""
    return json.dumps(validate(name, obj), ensure_ascii=False, separators=(",", ":")).encode()


def decode(name: str, payload: bytes) -> dict[str, Any]:
    """Parse and validate an incoming JSON message."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"{name}: not JSON") from exc
    return validate(name, obj)


@dataclass(frozen=True)
class ChunkHeader:
    submission_id: str
    sha256: str
    size: int
    chunk_size: int
    chunks: int
    index: int
    chunk_sha256: str

    def to_properties(self) -> list[tuple[str, str]]:
        props = {"v": "1", "submission_id": self.submission_id, "sha256": self.sha256, "size": str(self.size),
                 "chunk_size": str(self.chunk_size), "chunks": str(self.chunks), "index": str(self.index),
                 "chunk_sha256": self.chunk_sha256}
        validate("chunk", props)
        return list(props.items())

    @classmethod
    def from_properties(cls, pairs: list[tuple[str, str]]) -> ChunkHeader:
        props: dict[str, str] = {}
        for k, v in pairs:
            if k in props:
                raise ProtocolError(f"chunk: duplicate user property {k}")
            props[k] = v
        validate("chunk", props)
        h = cls(submission_id=props["submission_id"], sha256=props["sha256"], size=int(props["size"]),
                chunk_size=int(props["chunk_size"]), chunks=int(props["chunks"]), index=int(props["index"]),
                chunk_sha256=props["chunk_sha256"])
        expected = max(1, -(-h.size // h.chunk_size))
        if h.chunks != expected or h.index >= h.chunks:
            raise ProtocolError("chunk: index/chunks do not match size and chunk_size")
        return h

    def payload_length(self) -> int:
        if self.index < self.chunks - 1:
            return self.chunk_size
        return self.size - self.index * self.chunk_size
