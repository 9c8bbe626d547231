"""One MQTT 5 session (QoS 1, TLS client certificate, persistent session) over paho-mqtt.

Design choices that sidestep paho's known pitfalls (TOOLCHAIN.md; paho.mqtt.python #492 / PR #698):

* **A fresh paho client per connection.** paho keeps unacknowledged publishes in RAM and, on reconnect,
  resends them all at once without honouring ``max_inflight_messages``, and may send a message twice (once
  with its old packet id and DUP, once with a new id). Here paho never reconnects by itself
  (``reconnect_on_failure=False``): when a connection drops, its client is thrown away with everything it
  held, and the *application* decides what to resend from the durable outbox. Duplicates that still
  reach the receivers (a PUBACK lost on the way back) are harmless because chunks are idempotent by
  (submission id, package hash, index, chunk hash).
* **Our own in-flight window.** ``publish`` blocks while ``window`` QoS 1 messages await their PUBACK;
  the window is ``min(mqtt.max_inflight, the broker's Receive Maximum from CONNACK)`` (paho itself ignores
  the broker's Receive Maximum), and paho's own limit is ``mqtt.max_inflight`` >= the window, so paho
  never queues behind our back.
* **Persistent session.** ``clean_start=False`` with a Session Expiry Interval: subscriptions and QoS 1
  messages for the client (receipts) survive disconnects and broker restarts (with persistence).
* **Reconnect** with exponential backoff and jitter (``Backoff``). A Last Will (retained) marks the
  client offline when it vanishes.
"""

from __future__ import annotations

import logging
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from kiosk.queue.tls import BrokerUrl, ClientTls, client_context

log = logging.getLogger("kiosk.queue.transport")


def read_session_tickets(sock: ssl.SSLSocket, quiet: float) -> int:
    """Read the TLS 1.3 session tickets that a server sends right after the handshake, acknowledging each
    at once (TCP_QUICKACK); returns how many reads found records. Call before sending CONNECT.

    Why: an OpenSSL server sends NewSessionTicket messages after the handshake. With Nagle's algorithm on
    the server's socket (Mosquitto's default, ``set_tcp_nodelay false``), the server holds its next small
    segment - the CONNACK - until those are acknowledged, and the client's kernel delays that ACK by up to
    40 ms: every connection would start 40 ms late. Nothing else can arrive here: an MQTT server sends
    nothing before the client's CONNECT. Stops after ``quiet`` seconds without data (at most 3x that in
    all); with a TLS 1.2 server or a server that sends no tickets it only costs that wait."""
    reads = 0
    deadline = time.monotonic() + 3 * quiet
    quickack = getattr(socket, "TCP_QUICKACK", None)
    while time.monotonic() < deadline:
        try:
            if quickack is not None:
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)  # flushes a pending (delayed) ACK now
            readable, _, _ = select.select([sock], [], [], quiet)
            if not readable:
                break
            if not sock.recv(1):  # consumes post-handshake records; no application data can come yet
                break
            break  # application data before CONNECT: not MQTT; let the connection fail as it will
        except ssl.SSLWantReadError:
            reads += 1
        except (OSError, ValueError):
            break
    return reads


class NotConnected(Exception):
    """The connection dropped (or was never up) while publishing or waiting for acknowledgements."""


class ConnectFailed(Exception):
    """One connection attempt failed; the message says why (refused, TLS error, timeout...)."""


@dataclass(frozen=True)
class Incoming:
    topic: str
    payload: bytes
    user_properties: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    retain: bool = True


class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits between d/2 and d,
    where d = min(max, min * 2**n)."""

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.attempt = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        d = min(self.maximum, self.minimum * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return d / 2 + self._rng.uniform(0, d / 2)

    def reset(self) -> None:
        self.attempt = 0


class MqttLink:
    """An MQTT 5 client session that the caller drives: ``connect`` (with backoff), ``publish`` (blocking
    on the in-flight window), ``wait_acked``, ``close``. Incoming messages go to ``on_message`` on paho's
    network thread; it must not block for long and must not call ``publish`` with ``wait=True``."""

    def __init__(
        self,
        url: BrokerUrl,
        client_id: str,
        tls: ClientTls | None,
        *,
        keepalive: int = 30,
        session_expiry_s: int = 7 * 24 * 3600,
        subscriptions: list[str] | None = None,
        on_message: Callable[[Incoming], None] | None = None,
        will: Will | None = None,
        max_inflight: int = 20,
        connect_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.client_id = client_id
        self.tls = tls
        self.keepalive = keepalive
        self.session_expiry_s = session_expiry_s
        self.subscriptions = subscriptions or []
        self.on_message = on_message
        self.will = will
        self.max_inflight = max_inflight
        self.connect_timeout = connect_timeout
        self.window = max_inflight
        self.session_present = False
        self.connected = threading.Event()
        self.connections = 0
        self.publish_failures: list[tuple[int, str]] = []
        self.max_inflight_seen = 0  # the most unacknowledged publishes at once (for tests and benches)
        self._client: mqtt.Client | None = None
        self._cond = threading.Condition()
        self._inflight: set[int] = set()
        self._early: set[int] = set()
        self._reserved = 0
        self._generation = 0
        self._connack: threading.Event | None = None
        self._connack_rc: ReasonCode | None = None
        self._suback: threading.Event | None = None
        self._suback_codes: list[ReasonCode] = []
        self._connect_started = time.monotonic()

    # ---- paho callbacks (network thread) ------------------------------------------------------------

    def _cb_connect(self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, rc: ReasonCode,
                    props: Properties | None) -> None:
        self._connack_rc = rc
        if not rc.is_failure:
            self.session_present = bool(flags.session_present)
            rmax = getattr(props, "ReceiveMaximum", None) if props is not None else None
            self.window = max(1, min(self.max_inflight, int(rmax) if rmax else self.max_inflight))
        if self._connack is not None:
            self._connack.set()

    def _cb_disconnect(self, client: mqtt.Client, userdata: object, flags: mqtt.DisconnectFlags,
                       rc: ReasonCode, props: Properties | None) -> None:
        if client is not self._client:
            return
        if self.connected.is_set():
            log.warning("mqtt connection lost", extra={"client_id": self.client_id, "reason": str(rc)})
        self.connected.clear()
        with self._cond:
            self._cond.notify_all()
        if self._connack is not None:
            self._connack.set()

    def _cb_publish(self, client: mqtt.Client, userdata: object, mid: int, rc: ReasonCode,
                    props: Properties | None) -> None:
        if client is not self._client:
            return
        with self._cond:
            if rc.is_failure:
                self.publish_failures.append((mid, str(rc)))
                log.warning("publish refused by broker",
                            extra={"client_id": self.client_id, "reason": str(rc)})
            if mid in self._inflight:
                self._inflight.discard(mid)
            else:
                self._early.add(mid)
            self._cond.notify_all()

    def _cb_subscribe(self, client: mqtt.Client, userdata: object, mid: int, codes: list[ReasonCode],
                      props: Properties | None) -> None:
        self._suback_codes = list(codes)
        if self._suback is not None:
            self._suback.set()

    def _cb_pre_connect(self, client: mqtt.Client, userdata: object) -> None:
        self._connect_started = time.monotonic()

    def _cb_socket_open(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        """Tune the fresh socket (after the TLS handshake, before CONNECT): TCP_NODELAY, so that small
        packets (PUBACKs, offers, receipts) leave at once instead of waiting for the peer's delayed ACK
        (up to 40 ms on Linux each time), and under TLS 1.3 read the session tickets first
        (:func:`read_session_tickets`)."""
        if isinstance(sock, socket.socket):  # paho may hand over a websocket wrapper instead
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:  # not fatal: only slower small packets
                log.debug("TCP_NODELAY not set", extra={"error": str(exc)})
        if isinstance(sock, ssl.SSLSocket) and sock.version() == "TLSv1.3":
            handshake = time.monotonic() - self._connect_started  # TCP + TLS 1.3: about two round trips
            read_session_tickets(sock, quiet=min(0.1, max(0.002, 0.75 * handshake)))

    def _cb_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if self.on_message is None:
            return
        props = getattr(msg, "properties", None)
        user = list(getattr(props, "UserProperty", []) or []) if props is not None else []
        ctype = getattr(props, "ContentType", None) if props is not None else None
        try:
            self.on_message(Incoming(msg.topic, bytes(msg.payload), user, ctype))
        except Exception:
            log.exception("message handler failed", extra={"client_id": self.client_id})

    # ---- connection ---------------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id,
                        protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        c.on_connect = self._cb_connect
        c.on_disconnect = self._cb_disconnect
        c.on_publish = self._cb_publish
        c.on_subscribe = self._cb_subscribe
        c.on_message = self._cb_message
        c.on_pre_connect = self._cb_pre_connect
        c.on_socket_open = self._cb_socket_open
        c.connect_timeout = self.connect_timeout
        c.max_inflight_messages_set(self.max_inflight)
        c.max_queued_messages_set(0)
        if self.url.tls:
            if self.tls is None:
                raise ConnectFailed("TLS files are required for mqtts://")
            c.tls_set_context(client_context(self.tls))
        if self.will is not None:
            c.will_set(self.will.topic, self.will.payload, qos=1, retain=self.will.retain)
        return c

    def connect_once(self) -> None:
        """One attempt: TCP + TLS + CONNECT, wait for CONNACK, subscribe and wait for SUBACK."""
        self._drop_client()
        client = self._new_client()
        self._generation += 1
        self._connack = threading.Event()
        self._connack_rc = None
        with self._cond:
            self._inflight.clear()
            self._early.clear()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = 100
        self._client = client
        try:
            client.connect(self.url.host, self.url.port, keepalive=self.keepalive, clean_start=False,
                           properties=props)
        except (OSError, ValueError) as exc:
            self._client = None
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from exc
        client.loop_start()
        if not self._connack.wait(self.connect_timeout) or self._connack_rc is None:
            self._drop_client()
            raise ConnectFailed("no CONNACK (connection closed or timed out)")
        if self._connack_rc.is_failure:
            rc = str(self._connack_rc)
            self._drop_client()
            raise ConnectFailed(f"refused: {rc}")
        if self.subscriptions:
            self._suback = threading.Event()
            self._suback_codes = []
            opts = SubscribeOptions(qos=1)
            result, _mid = client.subscribe([(t, opts) for t in self.subscriptions])
            if result != mqtt.MQTT_ERR_SUCCESS or not self._suback.wait(self.connect_timeout):
                self._drop_client()
                raise ConnectFailed("no SUBACK")
            bad = [str(c) for c in self._suback_codes if c.is_failure]
            if bad:
                self._drop_client()
                raise ConnectFailed(f"subscription refused: {', '.join(bad)}")
        self.connections += 1
        self.connected.set()
        log.info("mqtt connected", extra={"client_id": self.client_id, "broker": str(self.url),
                                          "session_present": self.session_present, "window": self.window})

    def connect(self, stop: threading.Event, backoff: Backoff) -> bool:
        """Connect, retrying with backoff until connected (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            try:
                self.connect_once()
                backoff.reset()
                return True
            except ConnectFailed as exc:
                delay = backoff.next()
                log.warning("mqtt connect failed", extra={"client_id": self.client_id, "error": str(exc),
                                                          "retry_in_s": round(delay, 2)})
                stop.wait(delay)
        return False

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self.connected.clear()
        with self._cond:
            self._cond.notify_all()
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # already gone
                pass
            client.loop_stop()
            try:
                client.socket() and client.socket().close()  # type: ignore[union-attr]
            except Exception:
                pass

    def close(self, final: tuple[str, bytes] | None = None) -> None:
        """Disconnect cleanly, publishing ``final`` (topic, payload; retained) first if connected."""
        if final is not None and self.connected.is_set():
            try:
                self.publish(final[0], final[1], retain=True)
                self.wait_acked(5.0)
            except NotConnected:
                pass
        self._drop_client()

    # ---- publishing ---------------------------------------------------------------------------------

    def publish(self, topic: str, payload: bytes, *, retain: bool = False, expiry_s: int | None = None,
                user_properties: list[tuple[str, str]] | None = None, content_type: str | None = None,
                wait: bool = True) -> int:
        """Publish at QoS 1; with ``wait`` blocks while the in-flight window is full. Returns the mid.
        Raises NotConnected if the connection is (or goes) down."""
        with self._cond:
            while wait and len(self._inflight) + self._reserved >= self.window:
                if not self.connected.is_set():
                    raise NotConnected()
                self._cond.wait(1.0)
            if not self.connected.is_set() or self._client is None:
                raise NotConnected()
            client = self._client
            self._reserved += 1
        try:
            props = Properties(PacketTypes.PUBLISH)
            if expiry_s is not None:
                props.MessageExpiryInterval = expiry_s
            if user_properties:
                props.UserProperty = user_properties
            if content_type:
                props.ContentType = content_type
            info = client.publish(topic, payload, qos=1, retain=retain, properties=props)
        finally:
            with self._cond:
                self._reserved -= 1
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise NotConnected(f"publish failed: {mqtt.error_string(info.rc)}")
        with self._cond:
            if info.mid in self._early:
                self._early.discard(info.mid)
            else:
                self._inflight.add(info.mid)
                self.max_inflight_seen = max(self.max_inflight_seen, len(self._inflight))
        return info.mid

    def inflight(self) -> int:
        with self._cond:
            return len(self._inflight)

    def wait_acked(self, timeout: float) -> bool:
        """Wait until every publish of this connection is acknowledged. NotConnected if it drops first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._inflight:
                if not self.connected.is_set():
                    raise NotConnected()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 1.0))
        return True
