"""The same printer test suite for the ESC/POS printer (serial, through a socat pair whose far end
decodes the byte stream back into images) and the PNG file printer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from device_testkit import EscposPeer, EventLog, SocatPair, wait_until
from PIL import Image

from kiosk.devices.base import Backoff, DeviceError, DeviceLost, DeviceStatus, EventKind
from kiosk.devices.manager import DeviceManager
from kiosk.devices.printer import Printer
from kiosk.devices.printer_escpos import EscposPrinter, SerialTransport
from kiosk.devices.printer_file import FilePrinter
from kiosk.devices.receipt import Receipt, render_receipt

RECEIPT = Receipt(
    header="UBND xã Mẫu, tỉnh Mẫu",
    title="BIÊN NHẬN HỒ SƠ",
    lines=[("Mã nộp hồ sơ", "KSK-20261125-0007"), ("Thủ tục", "Đăng ký khai sinh (1.001193)"),
           ("Người nộp", "*********345"), ("Thời gian", "25/11/2026 08:30")],
    qr_payload="KSK-20261125-0007|1.001193|*********345",
    footer="Quý khách vui lòng giữ biên nhận để tra cứu kết quả trên Cổng Dịch vụ công.",
)


@dataclass
class PrinterCase:
    printer: Printer
    printed: Callable[[], list[Image.Image]]
    set_paper_out: Callable[[bool], None]
    unplug: Callable[[], None]
    replug: Callable[[], None]


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a.convert("1")), np.asarray(b.convert("1")))


@pytest.fixture(params=["escpos", "file"])
def case(request: pytest.FixtureRequest, tmp_path: Path, events: EventLog) -> Iterator[PrinterCase]:
    if request.param == "escpos":
        socat: SocatPair = request.getfixturevalue("socat")
        peers = [EscposPeer(socat.b)]
        printer: Printer = EscposPrinter(SerialTransport(socat.a, 19200, "xonxoff"), status_timeout=0.5)
        printer.backoff = Backoff(0.01, 0.1)

        def set_paper_out(out: bool) -> None:
            if out:
                peers[-1].set_state(paper_out=True)
            else:
                peers[-1].load_paper()

        def unplug() -> None:
            peers[-1].close()
            socat.stop()

        def replug() -> None:
            socat.start()
            peers.append(EscposPeer(socat.b))

        printer.subscribe(events)
        yield PrinterCase(printer, lambda: [r for p in peers for r in p.receipts], set_paper_out, unplug,
                          replug)
        printer.close()
        peers[-1].close()
        assert all(not p.errors for p in peers), [p.errors for p in peers]
    else:
        fp = FilePrinter(tmp_path / "receipts")
        fp.subscribe(events)
        yield PrinterCase(fp, lambda: [Image.open(p) for p in fp.printed],
                          lambda out: fp.set_state(paper_out=out), fp.simulate_unplug, fp.simulate_replug)
        fp.close()


def test_prints_the_receipt_exactly(case: PrinterCase, events: EventLog) -> None:
    case.printer.open()
    assert case.printer.status == DeviceStatus.OK
    case.printer.print_receipt(RECEIPT)
    assert wait_until(lambda: len(case.printed()) == 1)
    out = case.printed()[0]
    expected = render_receipt(RECEIPT, 576)
    assert same(out, expected)  # pixel-exact, Vietnamese diacritics included
    assert [r.text for r in zxingcpp.read_barcodes(out.convert("L"))] == [RECEIPT.qr_payload]
    assert events.kinds()[-1] == EventKind.PRINTED and case.printer.printed_count == 1


def test_paper_out_is_reported_and_nothing_printed(case: PrinterCase, events: EventLog) -> None:
    case.printer.open()
    case.set_paper_out(True)
    with pytest.raises(DeviceError) as err:
        case.printer.print_receipt(RECEIPT)
    assert err.value.key == "device.printer_paper_out" and err.value.status == DeviceStatus.PAPER_OUT
    assert case.printer.status == DeviceStatus.PAPER_OUT
    fault = events.wait_for(EventKind.FAULT, key="device.printer_paper_out")
    assert fault.message("vi") == "Máy in biên nhận hết giấy. Vui lòng báo cán bộ thay cuộn giấy."
    failed = events.wait_for(EventKind.PRINT_FAILED)
    assert failed.detail == {"stage": "before"}
    assert case.printed() == []
    case.set_paper_out(False)
    assert case.printer.check() == DeviceStatus.OK
    events.wait_for(EventKind.CLEARED, key="device.printer_ok")
    case.printer.print_receipt(RECEIPT)
    assert wait_until(lambda: len(case.printed()) == 1)
    assert same(case.printed()[0], render_receipt(RECEIPT))


def test_unplugged_printer_is_reported_and_comes_back(case: PrinterCase, events: EventLog) -> None:
    case.printer.open()
    case.unplug()
    with pytest.raises(DeviceLost):
        case.printer.print_receipt(RECEIPT)
    assert case.printer.status == DeviceStatus.DISCONNECTED
    events.wait_for(EventKind.LOST, key="device.printer_lost")
    case.replug()
    assert case.printer.reconnect()
    events.wait_for(EventKind.RESTORED)
    case.printer.print_receipt(RECEIPT)
    assert wait_until(lambda: len(case.printed()) == 1)


def test_manager_keeps_the_receipt_until_the_printer_is_ready(case: PrinterCase, events: EventLog) -> None:
    manager = DeviceManager({"printer": case.printer}, on_event=lambda e: None)
    case.printer.open()
    case.set_paper_out(True)
    job = manager.print_receipt(RECEIPT)
    assert not job.printed and job.error == "device.printer_paper_out"
    manager.poll()  # still no paper: stays queued
    assert manager.print_queue is not None and manager.print_queue.pending == [job]
    case.set_paper_out(False)
    manager.poll()  # the monitor notices the paper and prints what was waiting
    assert job.printed and job.attempts == 2
    assert wait_until(lambda: len(case.printed()) == 1)
    assert same(case.printed()[0], render_receipt(RECEIPT))
    kinds = [e.kind for e in manager.drain_events()]
    assert kinds.index(EventKind.FAULT) < kinds.index(EventKind.CLEARED) < kinds.index(EventKind.PRINTED)


def test_self_test_reports_the_state(case: PrinterCase) -> None:
    result = case.printer.self_test()
    assert result.ok and result.status == DeviceStatus.OK
    assert result.checks["state"] == {"online": True, "paper_out": False, "paper_near_end": False,
                                      "cover_open": False, "error": False}
    case.set_paper_out(True)
    result = case.printer.self_test()
    assert not result.ok and result.status == DeviceStatus.PAPER_OUT
    assert result.message_key == "device.printer_paper_out"
