"""The same ID-reader test suite for the serial adapter (through a socat pty pair) and the simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from device_testkit import EventLog, SerialPeer, SocatPair, wait_until

from kiosk.devices.base import Backoff, DeviceStatus, EventKind
from kiosk.devices.idreader import IdReader
from kiosk.devices.idreader_serial import SerialIdReader
from kiosk.devices.idreader_sim import SimulatedIdReader, cccd_mrz, encode_lines, specimen_cccd_mrz

CARD = specimen_cccd_mrz()
CARD2 = cccd_mrz("079195001234", "TRAN", "THI MAI", "950302", "F", "350302")


@dataclass
class ReaderCase:
    reader: IdReader
    send: Callable[..., None]  # (chunks, final=True): bytes as the reader sends them, in transmissions
    unplug: Callable[[], None]
    replug: Callable[[], None]


@pytest.fixture(params=["serial", "simulator"])
def case(request: pytest.FixtureRequest, events: EventLog) -> Iterator[ReaderCase]:
    if request.param == "serial":
        socat: SocatPair = request.getfixturevalue("socat")
        reader: IdReader = SerialIdReader(socat.a, 9600, backoff=Backoff(0.02, 0.2), gap_s=3.0)
        peers = [SerialPeer(socat.b)]

        def send(chunks: list[bytes], final: bool = True) -> None:
            for chunk in chunks:
                peers[-1].send(chunk, pause=0.02)

        def unplug() -> None:
            peers[-1].close()
            socat.stop()

        def replug() -> None:
            socat.start()
            peers.append(SerialPeer(socat.b))

        reader.subscribe(events)
        reader.start()
        yield ReaderCase(reader, send, unplug, replug)
        reader.close()
        peers[-1].close()
    else:
        sim = SimulatedIdReader([CARD])

        def send_sim(chunks: list[bytes], final: bool = True) -> None:
            for i, chunk in enumerate(chunks):
                sim.present(raw=chunk, final=final and i == len(chunks) - 1)

        sim.subscribe(events)
        sim.start()
        yield ReaderCase(sim, send_sim, sim.simulate_unplug, sim.simulate_replug)
        sim.close()


def wait_ok(reader: IdReader) -> None:
    assert wait_until(lambda: reader.status == DeviceStatus.OK), reader.status


def test_reads_a_valid_card(case: ReaderCase, events: EventLog) -> None:
    wait_ok(case.reader)
    case.send([encode_lines(CARD)])
    read = case.reader.read(timeout=10)
    assert read is not None
    assert read.lines == tuple(CARD)
    assert read.result.valid and read.result.personal_id == "001090012345"
    assert read.result.surname == "NGUYEN" and read.result.given_names == "VAN MAU"
    assert events.kinds()[0] == EventKind.CONNECTED
    assert "MrzRead(format=TD1, valid=True)" == repr(read)  # no personal data in repr


def test_noise_split_lines_and_framing(case: ReaderCase, events: EventLog) -> None:
    wait_ok(case.reader)
    burst = (encode_lines(CARD, framing="stx") + b"\x00\xff garbage \xfe\r\n"
             + encode_lines(CARD2, framing="cr"))
    pieces = [b"\xff\x00\x13", burst[:17], burst[17:45], burst[45:46], burst[46:100], burst[100:]]
    case.send(pieces)
    first = case.reader.read(timeout=10)
    second = case.reader.read(timeout=10)
    assert first is not None and second is not None
    assert first.lines == tuple(CARD) and second.lines == tuple(CARD2)
    assert second.result.personal_id == "079195001234"
    assert EventKind.MRZ_INVALID not in events.kinds() and EventKind.MRZ_INCOMPLETE not in events.kinds()


def test_wrong_check_digit_is_reported_not_handed_up(case: ReaderCase, events: EventLog) -> None:
    wait_ok(case.reader)
    bad = list(CARD)
    bad[1] = bad[1][:6] + str((int(bad[1][6]) + 1) % 10) + bad[1][7:]  # birth-date check digit
    case.send([encode_lines(bad)])
    ev = events.wait_for(EventKind.MRZ_INVALID)
    assert ev.message_key == "device.id_reader_mrz_invalid"
    assert "birth_date" in ev.detail["failed_checks"]
    assert "001090012345" not in repr(ev) and "NGUYEN" not in repr(ev)  # no personal data in events
    assert ev.message("vi").startswith("Không đọc được thông tin trên thẻ")
    case.send([encode_lines(CARD)])
    read = case.reader.read(timeout=10)
    assert read is not None and read.lines == tuple(CARD)  # the bad read was never handed up
    assert case.reader.invalid_reads == 1 and case.reader.valid_reads == 1


def test_partial_card_is_reported_incomplete(case: ReaderCase, events: EventLog) -> None:
    wait_ok(case.reader)
    case.send([b"\x02" + encode_lines(CARD[:2], framing="cr") + b"\x03"])
    ev = events.wait_for(EventKind.MRZ_INCOMPLETE)
    assert ev.detail == {"format": "TD1", "lines": 2}


def test_unplug_and_plug_back(case: ReaderCase, events: EventLog) -> None:
    wait_ok(case.reader)
    case.send([encode_lines(CARD[:1])], final=False)  # part of a card, then the cable is pulled
    case.unplug()
    events.wait_for(EventKind.LOST, key="device.id_reader_lost")
    assert case.reader.status == DeviceStatus.DISCONNECTED
    n = len(events.events)
    case.replug()
    events.wait_for(EventKind.RESTORED, after=n)
    wait_ok(case.reader)
    case.send([encode_lines(CARD2)])
    read = case.reader.read(timeout=10)
    assert read is not None and read.lines == tuple(CARD2)
    assert case.reader.invalid_reads == 0  # the half card from before the unplug was dropped
