"""Field diagnosis: ``kiosk devices``, ``kiosk id read``, ``kiosk scan``, ``kiosk printer test|status``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from kiosk.cli import add_data_dir_arg, command_group, config_from_args
from kiosk.devices.base import Device, DeviceEvent, DeviceStatus, EventKind
from kiosk.errors import KioskError
from kiosk.jsonio import emit
from kiosk.messages import t

# -- kiosk devices ---------------------------------------------------------------------------------


def _devices(args: argparse.Namespace) -> int:
    from kiosk.devices.manager import build_devices, discover

    cfg = config_from_args(args)
    devices = build_devices(cfg)
    results: list[dict[str, Any]] = []
    for dev in devices.values():
        try:
            st = dev.self_test()
            results.append({**st.to_dict(), "info": dev.describe()})
        finally:
            dev.close()
    found = discover(sane=cfg.devices.scanner == "sane")
    failed = [r["device"] for r in results if not r["ok"]]
    if args.json:
        emit({"ok": not failed, "devices": results, "discovered": found})
    else:
        for r in results:
            mark = "OK " if r["ok"] else "LỖI"
            print(f"{mark} {r['device']:<10} {r['backend']:<10} {r['status']:<13} {r['message']}")
        print(f"Cổng nối tiếp: {', '.join(p['port'] for p in found['serial_ports']) or '-'}")
        print(f"Máy ảnh V4L2: {', '.join(found['video_devices']) or '-'}")
        print(f"Máy in USB: {', '.join(found['usb_printers']) or '-'}")
        if isinstance(found.get("scanners"), list):
            print(f"Máy quét SANE: {', '.join(s['name'] for s in found['scanners']) or '-'}")
    if failed:
        print(f"kiosk: {t('device.selftest_failed', 'en', count=len(failed), names=', '.join(failed))}",
              file=sys.stderr)
        return 1
    return 0


# -- kiosk id read ---------------------------------------------------------------------------------


def _print_event(event: DeviceEvent) -> None:
    if event.kind in (EventKind.CONNECTED, EventKind.PRINTED):
        return
    extra = f" ({event.detail['failed_checks']})" if event.detail.get("failed_checks") else ""
    print(f"kiosk: {event.device}: {event.kind}: {event.message('en')}{extra}", file=sys.stderr, flush=True)


def _id_read(args: argparse.Namespace) -> int:
    from kiosk.devices.idreader_serial import SerialIdReader

    reader = SerialIdReader(args.port, args.baud)
    reader.subscribe(_print_event)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    count = 0
    try:
        reader.start()
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            read = reader.read(timeout=remaining)
            if read is None:
                break
            emit(read.result.to_dict())
            count += 1
            if args.once:
                return 0
    finally:
        reader.close()
    if count == 0:
        raise KioskError("device.id_read_timeout", seconds=f"{args.timeout:g}")
    return 0


# -- kiosk scan ------------------------------------------------------------------------------------


def _scanner_for(args: argparse.Namespace) -> Device:
    from kiosk.devices.manager import build_scanner

    if args.device:
        if args.device.startswith("sim:"):
            from kiosk.devices.scanner_sim import SimulatedScanner

            folder = args.device[4:]
            return SimulatedScanner(folder if folder and folder != "synthetic" else None)
        from kiosk.devices.scanner_sane import SaneScanner

        return SaneScanner(args.device)
    scanner = build_scanner(config_from_args(args))
    if scanner is None:
        raise KioskError("device.scanner_not_configured")
    return scanner


def _out_path(out: Path, page_no: int, numbered: bool) -> Path:
    if not numbered:
        return out
    return out.with_name(f"{out.stem}-{page_no:03d}{out.suffix or '.png'}")


def _scan(args: argparse.Namespace) -> int:
    from kiosk.devices.scanner import ColorMode, Scanner, ScanSettings, ScanSource

    scanner = _scanner_for(args)
    assert isinstance(scanner, Scanner)
    try:
        if args.list:
            for info in scanner.list_devices():
                emit(info.to_dict())
            return 0
        if not args.output:
            print("kiosk: scan needs -o OUT.png (or --list)", file=sys.stderr)
            return 2
        area = None
        if args.area:
            w, _, h = args.area.lower().partition("x")
            area = (float(w), float(h))
        settings = ScanSettings(dpi=args.dpi, mode=ColorMode(args.mode), source=ScanSource(args.source),
                                area_mm=area)
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        numbered = settings.source != ScanSource.FLATBED
        n = 0
        for page in scanner.scan(settings):
            n += 1
            path = _out_path(out, n, numbered)
            page.save(path)
            w, h = page.size
            emit({"file": str(path), "width": w, "height": h, "dpi": page.dpi, "mode": page.mode.value,
                  "sheet": page.sheet, "side": page.side})
    finally:
        scanner.close()
    return 0


# -- kiosk printer ---------------------------------------------------------------------------------


def _printer_for(args: argparse.Namespace) -> Any:
    from kiosk.devices.manager import build_printer
    from kiosk.devices.printer_escpos import EscposPrinter, transport_for

    cfg = config_from_args(args)
    width = args.width or cfg.devices.printer_width_px
    if args.port:
        flow = args.flow or cfg.devices.printer_flow_control
        return EscposPrinter(transport_for(args.port, args.baud or cfg.devices.printer_baud, flow),
                             width_px=width), cfg
    printer = build_printer(cfg)
    printer.width_px = width
    return printer, cfg


def _printer_test(args: argparse.Namespace) -> int:
    from kiosk.devices.printer_file import FilePrinter
    from kiosk.devices.receipt import test_receipt

    printer, cfg = _printer_for(args)
    printer.subscribe(_print_event)
    try:
        printer.open()
        printer.print_receipt(test_receipt(cfg.terminal.agency_name, cfg.terminal.id))
        out: dict[str, Any] = {"printed": True, "printer": printer.describe(),
                               "state": printer.query_state().to_dict()}
        if isinstance(printer, FilePrinter) and printer.printed:
            out["file"] = str(printer.printed[-1])
        emit(out)
    finally:
        printer.close()
    return 0


def _printer_status(args: argparse.Namespace) -> int:
    printer, _ = _printer_for(args)
    try:
        printer.open()
        state = printer.query_state()
        emit({"printer": printer.describe(), "state": state.to_dict(), "status": state.device_status().value})
    finally:
        printer.close()
    if state.device_status() != DeviceStatus.OK:
        print(f"kiosk: {t(_STATUS_KEYS.get(state.device_status(), 'device.printer_error'), 'en')}",
              file=sys.stderr)
        return 1
    return 0


_STATUS_KEYS = {DeviceStatus.PAPER_OUT: "device.printer_paper_out",
                DeviceStatus.COVER_OPEN: "device.printer_cover_open"}


# -- registration ----------------------------------------------------------------------------------


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    p = sub.add_parser("devices", parents=[parent], help="discover and self-test the configured devices",
                       description="Self-test every configured device (camera: a still; scanner: a small "
                       "scan; ID reader: the port opens; printer: its status, nothing printed) and list "
                       "the serial ports, V4L2 cameras, USB printers and (for SANE) scanners found. Exit "
                       "status 1 when a device fails.")
    add_data_dir_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(func=_devices)

    group = command_group(sub, "id", parent, "identify applicants")
    p = group.add_parser("read", parents=[parent], help="read MRZs from a serial ID-card reader",
                         description="Open the serial MRZ reader and print one JSON object per valid MRZ "
                         "(the parsed fields, as `kiosk id mrz` does). Invalid or partial reads and "
                         "connection changes are reported on stderr; an unplugged reader is reopened "
                         "with backoff. Exit status 1 when nothing was read before --timeout.")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--baud", type=int, default=9600, help="baud rate (default 9600)")
    p.add_argument("--once", action="store_true", help="exit after the first valid MRZ")
    p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")
    p.set_defaults(func=_id_read)

    p = sub.add_parser("scan", parents=[parent], help="scan pages with a SANE or simulated scanner",
                       description="Scan with the configured scanner or --device (a SANE name such as "
                       "test:0, or sim:FOLDER for the simulator) and save PNG files with their dpi. The "
                       "flatbed gives OUT.png; the feeder gives OUT-001.png, OUT-002.png, ... One JSON "
                       "object per page.")
    add_data_dir_arg(p)
    p.add_argument("--device", help="SANE device name, or sim:FOLDER (default: the configured scanner)")
    p.add_argument("--dpi", type=int, default=200, help="resolution: 200 (papers) or 300 (drawings, maps)")
    p.add_argument("--mode", choices=["Color", "Gray"], default="Color", help="colour mode")
    p.add_argument("--source", choices=["flatbed", "adf", "duplex"], default="flatbed", help="paper source")
    p.add_argument("--area", help="scan area WxH in mm from the top-left corner (default: all)")
    p.add_argument("-o", "--output", help="output file (PNG)")
    p.add_argument("--list", action="store_true", help="list the scanners instead of scanning")
    p.set_defaults(func=_scan)

    pgroup = command_group(sub, "printer", parent, "receipt printer diagnosis")
    for name, func, text in (("test", _printer_test, "print a test receipt (Vietnamese text and a QR code)"),
                             ("status", _printer_status, "read the printer's status (paper, cover)")):
        p = pgroup.add_parser(name, parents=[parent], help=text)
        add_data_dir_arg(p)
        p.add_argument("--port", help="ESC/POS port: serial port, /dev/usb/lpN or usb:VVVV:PPPP "
                       "(default: the configured printer)")
        p.add_argument("--baud", type=int, default=None, help="baud rate (default: devices.printer_baud)")
        p.add_argument("--flow", choices=["none", "xonxoff", "rtscts", "dsrdtr"], default=None,
                       help="serial flow control (default: devices.printer_flow_control)")
        p.add_argument("--width", type=int, default=None, help="printable width in dots (default: config)")
        p.set_defaults(func=func)
