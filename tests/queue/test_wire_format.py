"""Wire format without a broker: deterministic archives, safe extraction, schemas, chunk headers, backoff."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

import pytest

from kiosk.queue import protocol as proto
from kiosk.queue.chunking import ArchiveStream, archive_bytes, chunk_ranges, extract_archive, sha256_hex
from kiosk.queue.fixtures import device_signer
from kiosk.queue.fixtures import make_raw_package as make_package
from kiosk.queue.transport import Backoff


def test_archive_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    signer = device_signer(tmp_path / "pki", "KIOSK-T1")
    a = make_package(tmp_path / "a", "SUB-1", "KIOSK-T1", signer, [5000, 7000])
    b = tmp_path / "b"
    b.mkdir()
    for p in sorted(a.rglob("*")):  # same files, written in another order and at another time
        if p.is_file():
            (b / p.relative_to(a)).parent.mkdir(exist_ok=True)
    for p in sorted((f for f in a.rglob("*") if f.is_file()), reverse=True):
        (b / p.relative_to(a)).write_bytes(p.read_bytes())
    assert archive_bytes(a) == archive_bytes(b)
    names = extract_archive(io.BytesIO(archive_bytes(a)), tmp_path / "out")
    assert sorted(names) == sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    for n in names:
        assert (tmp_path / "out" / n).read_bytes() == (a / n).read_bytes()


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for ti, data in members:
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return buf.getvalue()


@pytest.mark.parametrize("bad", ["../evil", "/abs", "papers/../../x", "a/b/c", ".hidden", "link"])
def test_extraction_refuses_unsafe_members(tmp_path: Path, bad: str) -> None:
    members = [(tarfile.TarInfo("manifest.json"), b"{}"), (tarfile.TarInfo("manifest.json.p7s"), b"x")]
    ti = tarfile.TarInfo(bad)
    if bad == "link":
        ti.type = tarfile.SYMTYPE
        ti.linkname = "/etc/passwd"
    members.append((ti, b"" if bad == "link" else b"data"))
    with pytest.raises(ValueError):
        extract_archive(io.BytesIO(_tar(members)), tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not Path("/abs").exists()


def test_extraction_requires_manifest_and_signature(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="manifest"):
        extract_archive(io.BytesIO(_tar([(tarfile.TarInfo("manifest.json"), b"{}")])), tmp_path / "o")
    with pytest.raises(ValueError):
        extract_archive(io.BytesIO(b"not a tar at all" * 100), tmp_path / "p")


def test_chunk_ranges_cover_the_payload() -> None:
    assert list(chunk_ranges(0, 10)) == [(0, 0)]
    assert list(chunk_ranges(25, 10)) == [(0, 10), (10, 10), (20, 5)]
    assert list(chunk_ranges(20, 10)) == [(0, 10), (10, 10)]


def test_every_schema_is_valid_and_examples_validate() -> None:
    for name in proto.SCHEMAS:
        proto.validator(name)  # check_schema inside
    offer = {"v": 1, "type": "offer", "submission_id": "SUB-1", "terminal_id": "KIOSK-T1", "sha256": "a" * 64,
             "size": 10, "chunk_size": 1024, "chunks": 1, "resume": False, "attempt": 1,
             "sent_at": "2026-01-01T08:00:00+07:00"}
    assert proto.decode("offer", proto.encode("offer", offer)) == offer
    with pytest.raises(proto.ProtocolError, match="submission_id"):
        proto.validate("offer", {**offer, "submission_id": "../x"})
    with pytest.raises(proto.ProtocolError):
        proto.validate("offer", {**offer, "extra": 1})
    receipt = {"v": 1, "type": "receipt", "submission_id": "SUB-1", "terminal_id": "KIOSK-T1",
               "sha256": "a" * 64, "status": "rejected", "received_at": "2026-01-01T08:00:00+07:00",
               "receiver": "r1"}
    with pytest.raises(proto.ProtocolError):  # a rejection needs a reason
        proto.validate("receipt", receipt)
    proto.validate("receipt", {**receipt, "reason": "hash_mismatch", "failures": ["x"]})
    with pytest.raises(proto.ProtocolError):  # a stored receipt must not carry one
        proto.validate("receipt", {**receipt, "status": "stored", "reason": "hash_mismatch"})
    with pytest.raises(proto.ProtocolError):
        proto.decode("need", b"{not json")


def test_schema_files_are_json_schema_2020_12() -> None:
    root = Path(proto.__file__).resolve().parents[1] / "data" / "schemas"
    for name in proto.SCHEMAS:
        doc = json.loads((root / f"{name}.schema.json").read_text())
        assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_chunk_header_round_trip_and_consistency() -> None:
    data = b"x" * 1500
    h = proto.ChunkHeader("SUB-1", "b" * 64, 2524, 1024, 3, 1, sha256_hex(data[:1024]))
    back = proto.ChunkHeader.from_properties(h.to_properties())
    assert back == h and back.payload_length() == 1024
    assert proto.ChunkHeader("SUB-1", "b" * 64, 2524, 1024, 3, 2, "c" * 64).payload_length() == 476
    props = dict(h.to_properties())
    with pytest.raises(proto.ProtocolError):
        proto.ChunkHeader.from_properties(list({**props, "chunks": "4"}.items()))
    with pytest.raises(proto.ProtocolError):
        proto.ChunkHeader.from_properties(list({**props, "index": "3"}.items()))
    with pytest.raises(proto.ProtocolError):
        proto.ChunkHeader.from_properties([*h.to_properties(), ("index", "0")])


def test_topics() -> None:
    assert proto.topic("KIOSK-T1", "up/offer") == "kiosk/v1/KIOSK-T1/up/offer"
    assert proto.split_topic("kiosk/v1/KIOSK-T1/down/receipt") == ("KIOSK-T1", "down/receipt")
    assert proto.receiver_subscriptions() == ["$share/receivers/kiosk/v1/+/up/#"]
    with pytest.raises(proto.ProtocolError):
        proto.split_topic("fleet/v1/x/y")


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    b = Backoff(1.0, 30.0, random.Random(1))
    delays = [b.next() for _ in range(10)]
    for n, d in enumerate(delays):
        cap = min(30.0, 2.0**n)
        assert cap / 2 <= d <= cap
    assert len({round(d, 6) for d in delays[6:]}) > 1, "jitter spreads reconnects"
    b.reset()
    assert 0.5 <= b.next() <= 1.0


def test_archive_stream_extracts_the_same_in_pieces_of_any_size(tmp_path: Path) -> None:
    """The receiver's push parser: fed the archive in pieces of any size, it writes the same files as
    ``extract_archive`` and reports each file's size and SHA-256 as it completes."""
    signer = device_signer(tmp_path / "pki", "KIOSK-T1")
    pkg = make_package(tmp_path / "pkg", "SUB-7", "KIOSK-T1", signer, [3000, 70_000, 512])
    archive = archive_bytes(pkg)
    expected = {p.relative_to(pkg).as_posix(): p.read_bytes() for p in pkg.rglob("*") if p.is_file()}
    for step in (1, 511, 512, 513, 4096, len(archive)):
        seen: list[str] = []
        stream = ArchiveStream(tmp_path / f"out{step}", on_file=lambda f, seen=seen: seen.append(f.name))
        for i in range(0, len(archive), step):
            stream.feed(archive[i:i + step])
        files = stream.finish()
        assert [f.name for f in files] == seen == sorted(expected)
        for f in files:
            assert (f.size, f.sha256) == (len(expected[f.name]), sha256_hex(expected[f.name]))
            assert (tmp_path / f"out{step}" / f.name).read_bytes() == expected[f.name]


def test_archive_stream_takes_pax_names_and_refuses_truncated_or_trailing_data(tmp_path: Path) -> None:
    long_name = "papers/Giấy khai sinh " + "x" * 120 + ".pdf"  # non-ASCII and > 100 bytes: a pax header
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, data in [("manifest.json", b"{}"), ("manifest.json.p7s", b"sig"), (long_name, b"%PDF")]:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    archive = buf.getvalue()
    assert extract_archive(io.BytesIO(archive), tmp_path / "ok") == ["manifest.json", "manifest.json.p7s",
                                                                       long_name]
    assert (tmp_path / "ok" / long_name).read_bytes() == b"%PDF"
    with pytest.raises(ValueError, match="truncated"):
        extract_archive(io.BytesIO(archive[:1536]), tmp_path / "short")
    with pytest.raises(ValueError, match="after the end"):
        extract_archive(io.BytesIO(archive + b"x"), tmp_path / "long")
    stream = ArchiveStream(tmp_path / "dup")
    dup = _tar([(tarfile.TarInfo("manifest.json"), b"{}"), (tarfile.TarInfo("manifest.json"), b"{}")])
    with pytest.raises(ValueError, match="duplicate"):
        stream.feed(dup)
    with pytest.raises(ValueError):  # a failed stream stays failed
        stream.feed(b"\0" * 512)
