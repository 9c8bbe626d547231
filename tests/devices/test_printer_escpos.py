"""ESC/POS specifics: the byte encoding, status bits, XON/XOFF flow control, paper running out in the
middle of a receipt, cover open, paper near end, a printer that does not answer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from device_testkit import EscposPeer, EventLog, SocatPair, status_bytes, wait_until
from PIL import Image

from kiosk.devices.base import DeviceError, DeviceLost, DeviceStatus, EventKind
from kiosk.devices.manager import DeviceManager
from kiosk.devices.printer_escpos import (
    EscposPrinter,
    SerialTransport,
    is_status_byte,
    parse_status,
    raster_bands,
    transport_for,
)
from kiosk.devices.receipt import Receipt, render_receipt, test_receipt

RECEIPT = test_receipt("UBND phường Mẫu", "KIOSK-TEST-01")


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a.convert("1")), np.asarray(b.convert("1")))


@pytest.fixture
def printer(socat: SocatPair, events: EventLog) -> Iterator[EscposPrinter]:
    p = EscposPrinter(SerialTransport(socat.a, 19200, "xonxoff"), status_timeout=0.5, hold_query_s=0.2)
    p.subscribe(events)
    yield p
    p.close()


def test_raster_encoding() -> None:
    img = Image.new("1", (16, 3), 1)
    img.putpixel((0, 0), 0)
    img.putpixel((15, 2), 0)
    (band,) = list(raster_bands(img, band_rows=24))
    assert band[:8] == bytes([0x1D, 0x76, 0x30, 0, 2, 0, 3, 0])
    assert band[8:] == bytes([0x80, 0, 0, 0, 0, 0x01])
    sizes = [len(b) for b in raster_bands(Image.new("1", (576, 50), 1), 24)]
    assert sizes == [8 + 72 * 24] * 2 + [8 + 72 * 2]


def test_status_bits() -> None:
    for paper_out in (False, True):
        for cover in (False, True):
            for near in (False, True):
                st = status_bytes(paper_out, cover, near, False)
                assert all(is_status_byte(b) for b in st.values())
                state = parse_status(st[1], st[2], st[4])
                assert (state.paper_out, state.cover_open, state.paper_near_end) == (paper_out, cover, near)
    assert not is_status_byte(0x11) and not is_status_byte(0x13)  # never mistaken for XON / XOFF
    assert parse_status(0x12, 0x12, 0x12).device_status() == DeviceStatus.OK


def test_transport_choice() -> None:
    assert transport_for("/dev/ttyUSB0", 9600, "rtscts").describe() == {
        "transport": "serial", "port": "/dev/ttyUSB0", "baud": 9600, "flow_control": "rtscts"}
    assert transport_for("/dev/usb/lp0").describe() == {"transport": "usblp", "port": "/dev/usb/lp0"}
    assert transport_for("usb:04b8:0202").describe() == {"transport": "usb", "vendor_id": "04b8",
                                                         "product_id": "0202"}


def test_status_is_read_before_and_after_printing(printer: EscposPrinter, escpos_peer: EscposPeer) -> None:
    printer.open()
    printer.print_receipt(RECEIPT)
    assert wait_until(lambda: len(escpos_peer.receipts) == 1)
    assert same(escpos_peer.receipts[0], render_receipt(RECEIPT))
    # open: 1, 2, 4; before printing: 1, 2, 4; after: 1, 2, 4
    assert escpos_peer.queries == [1, 2, 4] * 3
    assert escpos_peer.inits == 1 and escpos_peer.errors == []


def test_xoff_holds_the_printer_until_xon(printer: EscposPrinter, escpos_peer: EscposPeer) -> None:
    printer.hold_query_s = 1000.0  # a plain hold: no status questions while held
    printer.open()
    escpos_peer.hold_after_bands = 5
    total = len(b"".join(raster_bands(render_receipt(RECEIPT), printer.band_rows)))
    errors: list[Exception] = []

    def job() -> None:
        try:
            printer.print_receipt(RECEIPT)
        except Exception as exc:  # reported below
            errors.append(exc)

    import threading

    worker = threading.Thread(target=job)
    worker.start()
    assert printer.held.wait(20)
    # Everything the printer sent has arrived, and it sends nothing more while held.
    assert wait_until(lambda: escpos_peer.bytes_received == printer.bytes_sent)
    sent = printer.bytes_sent
    assert sent < total and escpos_peer.receipts == []
    assert worker.is_alive() and printer.bytes_sent == sent
    escpos_peer.release()
    worker.join(20)
    assert not worker.is_alive() and errors == []
    assert printer.flow_pauses == 1
    assert wait_until(lambda: len(escpos_peer.receipts) == 1)
    assert same(escpos_peer.receipts[0], render_receipt(RECEIPT))


def test_paper_runs_out_mid_receipt_then_it_is_reprinted(printer: EscposPrinter, escpos_peer: EscposPeer,
                                                         events: EventLog) -> None:
    manager = DeviceManager({"printer": printer})
    printer.open()
    escpos_peer.paper_out_after_bands = 6
    job = manager.print_receipt(RECEIPT)
    assert not job.printed and job.error == "device.printer_print_incomplete"
    assert printer.status == DeviceStatus.PAPER_OUT
    fault = events.wait_for(EventKind.FAULT, key="device.printer_paper_out")
    assert fault.status == DeviceStatus.PAPER_OUT
    failed = events.wait_for(EventKind.PRINT_FAILED, key="device.printer_print_incomplete")
    assert failed.detail == {"stage": "during"}
    assert escpos_peer.receipts == []
    manager.poll()  # still out of paper
    assert not job.printed
    escpos_peer.load_paper()
    manager.poll()
    assert job.printed
    assert wait_until(lambda: len(escpos_peer.receipts) == 1)
    assert same(escpos_peer.receipts[0], render_receipt(RECEIPT))  # the reprint is whole and exact
    assert len(escpos_peer.incomplete) == 1  # the part printed before the paper ran out
    assert escpos_peer.errors == []


def test_cover_open_and_paper_near_end(printer: EscposPrinter, escpos_peer: EscposPeer,
                                       events: EventLog) -> None:
    printer.open()
    escpos_peer.set_state(cover_open=True)
    with pytest.raises(DeviceError) as err:
        printer.print_receipt(RECEIPT)
    assert err.value.key == "device.printer_cover_open" and printer.status == DeviceStatus.COVER_OPEN
    escpos_peer.set_state(cover_open=False, near_end=True)
    printer.print_receipt(RECEIPT)  # near end still prints, with a warning for staff
    warning = events.wait_for(EventKind.WARNING)
    assert warning.message_key == "device.printer_paper_near_end" and warning.status == DeviceStatus.OK
    assert [e.kind for e in events.events].count(EventKind.WARNING) == 1  # said once, not per query


def test_printer_that_does_not_answer_is_lost(socat: SocatPair, events: EventLog) -> None:
    printer = EscposPrinter(SerialTransport(socat.a, 19200, "xonxoff"), status_timeout=0.2)
    printer.subscribe(events)
    try:
        printer.open()  # nobody on the other end: no status answers
        assert printer.status == DeviceStatus.DISCONNECTED
        with pytest.raises(DeviceLost):
            printer.print_receipt(Receipt(title="X"))
        events.wait_for(EventKind.PRINT_FAILED, key="device.printer_lost")
    finally:
        printer.close()
