"""Configuration: one TOML file (default ``/etc/kiosk/kiosk.toml``), validated at start-up.

This module is the single source of truth for the configuration schema. Each section is a dataclass;
each field carries its documentation in ``metadata["doc"]``. ``docs/config.md`` is generated from it
(``kiosk docs config``) and a test checks that the file is current. Defaults run on the simulators.

An error names the key and what is wrong, e.g. ``mqtt.keepalive_s must be an integer, got 'abc'``.
"""

from __future__ import annotations

import os
import re
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from kiosk.errors import ConfigError

DEFAULT_CONFIG_PATH = Path("/etc/kiosk/kiosk.toml")
DEFAULT_DATA_DIR = Path("/var/lib/kiosk")


def _f(default: Any, doc: str) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class TerminalConfig:
    id: str = _f("KIOSK-DEMO-0001", "Terminal id: letters, digits and '-', 3-64 characters. Used in MQTT "
                 "topics and the certificate's common name.")
    agency_name: str = _f("UBND xã Mẫu, tỉnh Mẫu", "Name of the agency that runs the one-stop desk; "
                          "printed in the signature mark and on receipts.")
    agency_code: str = _f("000.00.00.H00", "Agency code (mã định danh cơ quan) of the one-stop desk.")
    language: Literal["vi", "en"] = _f("vi", "Default language of the screens and receipts.")

    def validate(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9-]{3,64}", self.id):
            raise ConfigError("config.bad_value", key="terminal.id",
                              detail="3-64 characters from A-Z, a-z, 0-9 and '-'")


@dataclass(frozen=True)
class PathsConfig:
    data_dir: str = _f(str(DEFAULT_DATA_DIR), "Directory for state: outbox, keys, certificates, audit log. "
                       "Overridden by --data-dir or KIOSK_DATA_DIR.")


@dataclass(frozen=True)
class SessionConfig:
    inactivity_warning_s: int = _f(60, "Seconds without a touch before the screen warns that the session "
                                   "will end.")
    inactivity_wipe_s: int = _f(30, "Seconds after the warning before the session is cancelled and its "
                                "data wiped from memory and disk.")

    def validate(self) -> None:
        for name in ("inactivity_warning_s", "inactivity_wipe_s"):
            if getattr(self, name) <= 0:
                raise ConfigError("config.bad_value", key=f"session.{name}", detail="must be > 0")


@dataclass(frozen=True)
class DevicesConfig:
    camera: Literal["simulator", "v4l2", "picamera2"] = _f("simulator", "Camera backend.")
    camera_source: str = _f("", "Simulator: folder of images or a video file (empty: the sample "
                            "photos shipped with the package, kiosk/data/samples/camera). v4l2: device "
                            "index or path, e.g. /dev/video0.")
    camera_preview_width: int = _f(960, "Largest width of the camera preview frames (the still scaled "
                                   "down, same aspect ratio).")
    camera_preview_height: int = _f(540, "Largest height of the camera preview frames.")
    camera_fps: float = _f(10.0, "Preview frame rate (frames per second).")
    id_reader: Literal["simulator", "serial"] = _f("simulator", "ID-card (MRZ) reader backend.")
    id_reader_port: str = _f("/dev/ttyUSB0", "Serial port of the MRZ reader.")
    id_reader_baud: int = _f(9600, "Baud rate of the MRZ reader.")
    printer: Literal["file", "serial", "usb"] = _f("file", "Receipt printer backend: 'file' writes PNG "
                                                   "receipts into the data directory; 'serial' and 'usb' "
                                                   "speak ESC/POS.")
    printer_port: str = _f("/dev/ttyS0", "ESC/POS printer port: a serial port, /dev/usb/lpN (USB printer "
                           "class), or usb:VVVV:PPPP (USB vendor and product id, through python-escpos).")
    printer_baud: int = _f(19200, "Baud rate of the receipt printer.")
    printer_flow_control: Literal["none", "xonxoff", "rtscts", "dsrdtr"] = _f(
        "xonxoff", "Serial flow control of the receipt printer; set the printer's DIP switches to match.")
    printer_width_px: int = _f(576, "Printable width in dots: 576 for 80 mm paper, 384 for 58 mm.")
    scanner: Literal["none", "simulator", "sane"] = _f("none", "Flatbed/ADF scanner backend.")
    scanner_device: str = _f("", "SANE device name, e.g. 'test:0' or 'fujitsu:fi-7160:1234'.")
    scanner_source: str = _f("", "Simulator: folder of page images (empty: synthetic pages).")

    def validate(self) -> None:
        for name in ("camera_preview_width", "camera_preview_height", "id_reader_baud", "printer_baud"):
            if getattr(self, name) <= 0:
                raise ConfigError("config.bad_value", key=f"devices.{name}", detail="must be > 0")
        if self.camera_fps <= 0:
            raise ConfigError("config.bad_value", key="devices.camera_fps", detail="must be > 0")
        if self.printer_width_px < 200 or self.printer_width_px % 8:
            raise ConfigError("config.bad_value", key="devices.printer_width_px",
                              detail="a multiple of 8, at least 200")


@dataclass(frozen=True)
class VisionConfig:
    min_dpi: int = _f(200, "Lowest effective resolution accepted for administrative papers (R8).")
    drawing_min_dpi: int = _f(300, "Lowest effective resolution for maps and drawings (R8).")
    still_width: int = _f(0, "Width in pixels of the camera's stills when the preview is smaller "
                          "(0: previews are the stills).")
    still_height: int = _f(0, "Height in pixels of the camera's stills (0: previews are the stills).")
    blur_threshold: float = _f(0.0, "Sharpness score below which a frame is 'blur' (0: built-in default).")
    glare_fraction: float = _f(0.0, "Fraction of saturated page pixels above which a frame is 'glare' "
                               "(0: built-in default).")
    dark_luma: float = _f(0.0, "Mean page luminance below which a frame is 'dark' (0: built-in default).")
    edge_margin_px: int = _f(0, "Corners closer than this to the frame border count as cut off "
                             "(0: built-in default).")
    autocapture_frames: int = _f(8, "Consecutive ok preview frames with steady corners before the still "
                                 "is taken automatically.")
    autocapture_tolerance: float = _f(0.01, "Largest corner movement between two preview frames, as a "
                                      "fraction of the page's long edge, that still counts as steady.")

    def validate(self) -> None:
        for name in ("min_dpi", "drawing_min_dpi", "autocapture_frames"):
            if getattr(self, name) <= 0:
                raise ConfigError("config.bad_value", key=f"vision.{name}", detail="must be > 0")
        for name in ("still_width", "still_height", "blur_threshold", "glare_fraction", "dark_luma",
                     "edge_margin_px"):
            if getattr(self, name) < 0:
                raise ConfigError("config.bad_value", key=f"vision.{name}",
                                  detail="must be >= 0 (0: default)")
        if not 0 < self.autocapture_tolerance < 1:
            raise ConfigError("config.bad_value", key="vision.autocapture_tolerance",
                              detail="a fraction between 0 and 1")


@dataclass(frozen=True)
class OcrConfig:
    language: str = _f("vie", "Tesseract language model(s), e.g. 'vie' or 'vie+eng'.")
    thread_limit: int = _f(1, "OMP_THREAD_LIMIT for Tesseract (1 is fastest per page on small CPUs).")
    max_workers: int = _f(0, "Tesseract processes run at once (0: one per CPU core). One page is cut "
                          "into that many horizontal bands read concurrently; k pages share them, "
                          "max(1, max_workers // k) bands each.")

    def validate(self) -> None:
        if self.max_workers < 0:
            raise ConfigError("config.bad_value", key="ocr.max_workers",
                              detail="must be >= 0 (0: every core)")


@dataclass(frozen=True)
class SigningConfig:
    pkcs12_file: str = _f("", "Device key and certificate as PKCS#12 (empty: the demo certificate in the "
                          "data directory, created on first use).")
    pkcs12_password_file: str = _f("", "File holding the PKCS#12 password (empty: no password).")
    pkcs11_module: str = _f("", "PKCS#11 module path (e.g. /usr/lib/softhsm/libsofthsm2.so); when set, "
                            "the device key is taken from the token instead of PKCS#12.")
    pkcs11_token_label: str = _f("", "Label of the PKCS#11 token.")
    pkcs11_key_label: str = _f("", "Label of the key (and certificate) on the token.")
    pkcs11_pin_file: str = _f("", "File holding the token's user PIN.")
    tsa_url: str = _f("", "RFC 3161 time-stamp service; when set, seals are PAdES B-T instead of B-B.")
    copy_type: str = _f("Bản số hóa", "Copy type printed in the signature mark (R11).")
    staff_pkcs12_file: str = _f("", "Staff signer's PKCS#12 for countersignatures (empty: demo staff "
                                "certificate in the data directory).")
    staff_pkcs12_password_file: str = _f("", "File holding the staff PKCS#12 password.")
    staff_pkcs11_module: str = _f("", "PKCS#11 module of the officers' own signing tokens (USB tokens); when "
                                  "set, an officer signs a review with their token and its PIN, typed on "
                                  "the staff screen, instead of staff_pkcs12_file.")
    staff_pkcs11_token_label: str = _f("", "Label of the officer's token (empty: the token that is "
                                       "plugged in).")
    staff_pkcs11_key_label: str = _f("", "Label of the signing key and its certificate on the officer's "
                                     "token.")


@dataclass(frozen=True)
class MqttConfig:
    broker: str = _f("mqtts://localhost:8883", "Broker URL, mqtts://HOST:PORT (mqtt:// is accepted on "
                     "loopback only, for tests).")
    ca_file: str = _f("", "CA bundle that signed the broker's certificate (empty: data_dir/pki/ca.pem).")
    cert_file: str = _f("", "Terminal client certificate (empty: data_dir/pki/terminal.pem).")
    key_file: str = _f("", "Terminal client key (empty: data_dir/pki/terminal.key).")
    keepalive_s: int = _f(30, "MQTT keep-alive in seconds.")
    message_expiry_s: int = _f(7 * 24 * 3600, "MQTT 5 message expiry interval for submissions.")
    chunk_size: int = _f(512 * 1024, "Bytes per MQTT message when a package is split into chunks.")
    receipt_timeout_s: int = _f(120, "Seconds to wait for an application receipt before resending.")
    session_expiry_s: int = _f(7 * 24 * 3600, "MQTT 5 session expiry: how long the broker keeps the "
                               "terminal's session (subscriptions, undelivered receipts) while it is "
                               "offline.")
    max_inflight: int = _f(20, "Most unacknowledged QoS 1 publishes at a time (also capped by the broker's "
                           "Receive Maximum).")
    reconnect_min_s: float = _f(1.0, "First reconnect delay; doubles per failed attempt, with jitter.")
    reconnect_max_s: float = _f(60.0, "Longest reconnect delay.")

    def validate(self) -> None:
        if not re.fullmatch(r"mqtts?://[^:/\s]+:\d{1,5}", self.broker):
            raise ConfigError("config.bad_value", key="mqtt.broker", detail="expected mqtt[s]://HOST:PORT")
        if not 1024 <= self.chunk_size <= 64 * 1024 * 1024:
            raise ConfigError("config.bad_value", key="mqtt.chunk_size", detail="1 KiB to 64 MiB")
        if not 1 <= self.max_inflight <= 65535:
            raise ConfigError("config.bad_value", key="mqtt.max_inflight", detail="1 to 65535")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ConfigError("config.bad_value", key="mqtt.reconnect_min_s",
                              detail="must be > 0 and <= mqtt.reconnect_max_s")
        for name in ("keepalive_s", "message_expiry_s", "receipt_timeout_s", "session_expiry_s"):
            if getattr(self, name) <= 0:
                raise ConfigError("config.bad_value", key=f"mqtt.{name}", detail="must be > 0")


@dataclass(frozen=True)
class OutboxConfig:
    quota_mb: int = _f(2048, "Largest total size of queued packages; above it new sessions are refused.")
    min_free_mb: int = _f(512, "Free disk space below which new sessions are refused.")
    key_file: str = _f("", "AES-256 key that encrypts queued packages at rest, mode 0600 (empty: "
                       "data_dir/keys/outbox.key, created on first use).")


@dataclass(frozen=True)
class ReviewConfig:
    hold_for_staff: bool = _f(False, "Hold each new submission on the kiosk until a one-stop officer "
                              "confirms or returns it on the staff screen (R12); only then is it sent. Off: "
                              "submissions are sent at once and reviewed at the back end.")


@dataclass(frozen=True)
class Config:
    terminal: TerminalConfig = field(default_factory=TerminalConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    signing: SigningConfig = field(default_factory=SigningConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.paths.data_dir)


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(tp, str(tp))


def _check_value(key: str, tp: Any, value: Any) -> Any:
    if get_origin(tp) is Literal:
        if value not in get_args(tp):
            raise ConfigError("config.bad_value", key=key,
                              detail=f"must be one of {', '.join(map(repr, get_args(tp)))}, got {value!r}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError("config.bad_type", key=key, expected=_type_name(tp), got=repr(value))
    if not isinstance(value, tp):
        raise ConfigError("config.bad_type", key=key, expected=_type_name(tp), got=repr(value))
    return value


def _section_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, globalns=globals(), localns=vars(types))


def from_dict(raw: dict[str, Any]) -> Config:
    """Build and validate a Config from parsed TOML."""
    hints = _section_types(Config)
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in hints:
            raise ConfigError("config.unknown_key", key=name)
        if not isinstance(value, dict):
            raise ConfigError("config.bad_type", key=name, expected="a table", got=repr(value))
        cls = hints[name]
        field_types = _section_types(cls)
        kwargs: dict[str, Any] = {}
        for key, v in value.items():
            if key not in field_types:
                raise ConfigError("config.unknown_key", key=f"{name}.{key}")
            kwargs[key] = _check_value(f"{name}.{key}", field_types[key], v)
        section = cls(**kwargs)
        sections[name] = section
    cfg = Config(**sections)
    for f in fields(cfg):
        section = getattr(cfg, f.name)
        validate = getattr(section, "validate", None)
        if validate is not None:
            validate()
    return cfg


def load(path: str | os.PathLike[str] | None = None, *, data_dir: str | None = None) -> Config:
    """Load the config file. Without ``path`` the default file is used if it exists, else defaults.

    ``data_dir`` (from --data-dir) wins over ``KIOSK_DATA_DIR``, which wins over the file.
    """
    explicit = path is not None or "KIOSK_CONFIG" in os.environ
    p = Path(path) if path is not None else Path(os.environ.get("KIOSK_CONFIG", DEFAULT_CONFIG_PATH))
    raw: dict[str, Any] = {}
    if p.exists():
        try:
            raw = tomllib.loads(p.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config.syntax", path=str(p), detail=str(exc)) from exc
    elif explicit:
        raise ConfigError("config.missing_file", path=str(p))
    override = data_dir or os.environ.get("KIOSK_DATA_DIR")
    if override:
        raw.setdefault("paths", {})["data_dir"] = str(Path(override).resolve())
    return from_dict(raw)


def docs_markdown() -> str:
    """The configuration reference, generated from the dataclasses above (docs/config.md)."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `kiosk docs config` from kiosk/config.py; do not edit by hand. -->",
        "",
        f"The kiosk reads one TOML file, by default `{DEFAULT_CONFIG_PATH}` (override with `--config` "
        "or `KIOSK_CONFIG`). Every key is optional; the defaults run on the simulated devices. Unknown keys "
        "and wrong types are rejected at start-up with the key's name.",
        "",
    ]
    for sec in fields(Config):
        cls = _section_types(Config)[sec.name]
        lines += [f"## [{sec.name}]", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for f in fields(cls):
            tp = _section_types(cls)[f.name]
            default: Any = f.default
            if default is MISSING:
                default = typing.cast(typing.Callable[[], Any], f.default_factory)()
            lines.append(f"| `{f.name}` | {_type_name(tp)} | `{default!r}` | {f.metadata.get('doc', '')} |")
        lines.append("")
    return "\n".join(lines)
