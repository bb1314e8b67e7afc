"""The device WebSocket endpoint (`/devices/connect`) that capture clients connect out to.

One connection per device: the token is checked at the HTTP upgrade (a refusal is a real 401/403
with `WWW-Authenticate`, and no socket is opened), then hello, welcome, and the relay reads every
message while a heartbeat task pings and drops a link that has gone silent. A minted token is only
good until its `exp`, and the link with it: the loop runs under a deadline at that instant, then
sends a fatal `token_expired` error and closes 1008 (static tokens do not expire). A reconnect with
the same device id replaces the old connection (its pending calls fail at once); nothing needs a
restart.
"""

from __future__ import annotations

import logging
import math
import time
from contextvars import ContextVar
from datetime import UTC, datetime

import anyio
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from servers import __version__
from servers.hub.device import DeviceUnavailableError
from servers.hub.device_auth import DEVICE_SCOPE, DeviceAuth, DeviceAuthError, DeviceGrant
from servers.hub.hub import FramePushed, Hub, TalkChanged
from servers.hub.relay import RelayDevice, SendMessage
from wire import protocol as p
from wire.protocol import DEVICE_PATH, MISSED_HEARTBEATS

log = logging.getLogger("realtime_mcp.devices")

HELLO_TIMEOUT = 10.0
POLICY_VIOLATION = 1008
CLOSE_TIMEOUT = 1.0
"""Seconds a closing link may take to accept its close frame; then the server aborts the socket."""
EXPIRED_CODE = "token_expired"
"""The fatal error sent when a minted token's `exp` passes on an open link."""


# What a send or close on a link that is gone raises: Starlette's disconnect, a RuntimeError for a send
# after the close, an OSError from the server's transport. Anything else is a bug and propagates.
_LINK_GONE = (WebSocketDisconnect, RuntimeError, OSError)


class _Link:
    """Sends on one WebSocket, one at a time (tool calls and the heartbeat send concurrently).

    Every send is bounded by `send_timeout` (the heartbeat window), the wait for the lock included:
    a peer that stops reading fills the socket's buffers, and an unbounded send would then hold the
    lock forever, so neither the heartbeat nor shutdown could ever drop the link. A send that times
    out marks the link `stalled`, and the endpoint drops it.
    """

    def __init__(self, websocket: WebSocket, send_timeout: float = math.inf) -> None:
        self.websocket = websocket
        self.send_timeout = send_timeout
        self.stalled = anyio.Event()
        self._lock = anyio.Lock()

    async def send_text(self, text: str) -> None:
        try:
            with anyio.fail_after(self.send_timeout):
                async with self._lock:
                    await self.websocket.send_text(text)
        except TimeoutError:
            self.stalled.set()
            raise

    def sender(self, device_id: str) -> SendMessage:
        """The relay's way to the client: each message encoded and sent; a link that is gone (or
        stalled) is a `DeviceUnavailableError`."""

        async def send(message: p.HubMessage) -> None:
            try:
                await self.send_text(p.encode(message))
            except (TimeoutError, *_LINK_GONE) as e:
                raise DeviceUnavailableError(
                    f"Device {device_id!r} could not be reached: the link broke."
                ) from e

        return send

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.websocket.application_state is WebSocketState.DISCONNECTED or self.stalled.is_set():
            return  # a stalled peer cannot take a close frame either: the server aborts the socket
        try:
            with anyio.fail_after(min(self.send_timeout, CLOSE_TIMEOUT)):
                async with self._lock:
                    await self.websocket.close(code=code, reason=reason[:120])
        except (TimeoutError, *_LINK_GONE) as e:  # already closed by the peer, or it stopped reading
            log.debug("close after disconnect: %s", type(e).__name__)


async def _refuse(link: _Link, code: str, message: str) -> None:
    try:
        await link.send_text(p.error(code, message, fatal=True))
    except _LINK_GONE as e:
        log.debug("refusal not sent: %s", type(e).__name__)
    await link.close(POLICY_VIOLATION, code)


async def _receive_hello(websocket: WebSocket) -> p.Hello:
    with anyio.fail_after(HELLO_TIMEOUT):
        message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        raise p.ProtocolError("out_of_order", "the first message must be a JSON hello")
    hello = p.parse_client_text(text)
    if not isinstance(hello, p.Hello):
        raise p.ProtocolError("out_of_order", f"the first message must be hello, not {hello.type}")
    if hello.protocol_version != p.PROTOCOL_VERSION:
        raise p.ProtocolError(
            "unsupported_version",
            f"this hub speaks device protocol {p.PROTOCOL_VERSION}, the client {hello.protocol_version}: "
            + (
                "update the capture client"
                if hello.protocol_version < p.PROTOCOL_VERSION
                else "update the server"
            ),
        )
    return hello


_INCOMPLETE_HANDSHAKE = "ASGI callable returned without completing handshake"
_denied: ContextVar[bool] = ContextVar("realtime_mcp_device_upgrade_denied", default=False)


class _DeniedUpgradeFilter(logging.Filter):
    """uvicorn's websockets-sansio protocol logs "ASGI callable returned without completing
    handshake." at ERROR after every denial response: it never marks such a handshake done (reported
    upstream as Kludex/uvicorn pull 3138; wsproto gets it right). A refused token is routine, not a
    server error, so that one record is dropped, and only for upgrades this endpoint denied: the flag
    lives in the connection task's context, which uvicorn logs from right after the app returns."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_denied.get() and record.getMessage().startswith(_INCOMPLETE_HANDSHAKE))


_DENIED_UPGRADE_FILTER = _DeniedUpgradeFilter()


async def _deny(websocket: WebSocket, refusal: DeviceAuthError) -> None:
    """Answer the upgrade with the HTTP refusal instead of accepting it."""
    client = websocket.client
    log.warning(
        "device connection from %s refused with HTTP %d: %s",
        client.host if client else "?",
        refusal.status,
        refusal,
    )
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        _denied.set(True)
        await websocket.send_denial_response(refusal.response())
    else:  # a server without the denial-response extension can only say 403, without a challenge
        await websocket.close(POLICY_VIOLATION)


def create_device_route(hub: Hub, auth: DeviceAuth | None = None) -> WebSocketRoute:
    """The WebSocket route capture clients connect to, bound to this app's hub. `auth`: the tokens
    accepted (the app passes one sharing the MCP endpoints' verifier); from the settings if None."""
    settings = hub.settings
    interval = settings.device_heartbeat_interval
    device_auth = auth if auth is not None else DeviceAuth.from_settings(settings)
    uvicorn_log = logging.getLogger("uvicorn.error")
    if _DENIED_UPGRADE_FILTER not in uvicorn_log.filters:
        uvicorn_log.addFilter(_DENIED_UPGRADE_FILTER)

    async def device_endpoint(websocket: WebSocket) -> None:
        try:
            grant = await device_auth.authenticate(websocket.headers.get("authorization"))
        except DeviceAuthError as e:
            await _deny(websocket, e)
            return
        device_id = grant.device_id
        await websocket.accept()
        link = _Link(websocket, send_timeout=interval * MISSED_HEARTBEATS)
        try:
            hello = await _receive_hello(websocket)
            if hello.device_id not in (None, device_id):
                log.warning("device %s tried to connect as %s: refused", device_id, hello.device_id)
                await _refuse(
                    link,
                    "wrong_device",
                    f"This token is for device {device_id!r}, not {hello.device_id!r}: "
                    "leave --device-id out, or use that device's token.",
                )
                return
        except TimeoutError:
            await _refuse(link, "timeout", f"no hello within {HELLO_TIMEOUT:g} s")
            return
        except p.ProtocolError as e:
            await _refuse(link, e.code, str(e))
            return
        except WebSocketDisconnect:
            return

        relay = RelayDevice(
            hello,
            link.sender(device_id),
            device_id=device_id,
            capture_timeout=settings.capture_timeout,
            fallback_max_age=settings.frame_ttl,
            on_push=lambda frame: hub.events.publish(FramePushed(device_id, frame)),
            on_talk=lambda state: hub.events.publish(TalkChanged(device_id, state)),
        )
        previous = hub.devices.add(relay)
        if isinstance(previous, RelayDevice):
            previous.close("replaced by a new connection from the same device")
        log.info("device %s connected (%s, %d displays)", device_id, hello.platform, len(hello.displays))
        try:
            await link.send_text(
                p.encode(
                    p.Welcome(device_id=device_id, server_version=__version__, heartbeat_interval=interval)
                )
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(_heartbeat, relay, link, interval, tg.cancel_scope)
                tg.start_soon(_end_when_dropped, relay, link, tg.cancel_scope)
                with anyio.move_on_at(_deadline(grant)) as expiry:
                    await _read(websocket, relay)
                if expiry.cancelled_caught:
                    await _expire(relay, link, grant)
                tg.cancel_scope.cancel()
        except (WebSocketDisconnect, RuntimeError) as e:  # the welcome found the link gone
            log.debug("device %s link ended: %s", device_id, type(e).__name__)
        finally:
            relay.close("connection closed")
            hub.devices.remove(relay)
            with anyio.CancelScope(shield=True):
                await link.close()
            log.info("device %s disconnected", device_id)

    return WebSocketRoute(DEVICE_PATH, device_endpoint, name="devices")


def _deadline(grant: DeviceGrant) -> float:
    """When the link must end, on anyio's (monotonic) clock: the token's `exp`, or never."""
    if grant.expires_at is None:
        return math.inf
    return anyio.current_time() + (grant.expires_at - time.time())


async def _expire(relay: RelayDevice, link: _Link, grant: DeviceGrant) -> None:
    """End a link whose token just expired: pending calls fail first, then the client is told why."""
    assert grant.expires_at is not None
    at = datetime.fromtimestamp(grant.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    log.info("device %s: its token expired at %s, closing the link", grant.device_id, at)
    relay.close(f"its device token expired at {at}")
    await _refuse(
        link,
        EXPIRED_CODE,
        f"The device token expired at {at}: mint a new one with `realtime-mcp token mint --device "
        f"{grant.device_id} --scopes {DEVICE_SCOPE}` and restart the capture client with it.",
    )


async def _read(websocket: WebSocket, relay: RelayDevice) -> None:
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):  # RuntimeError: receive after our own close
            return
        if message["type"] == "websocket.disconnect":
            return
        if relay.closed:  # replaced by a newer connection
            return
        if message.get("bytes") is not None:
            await relay.handle_binary(message["bytes"])
        elif message.get("text") is not None:
            await relay.handle_text(message["text"])


async def _end_when_dropped(relay: RelayDevice, link: _Link, scope: anyio.CancelScope) -> None:
    """End the link when it stalls (a send found no room within the window) or the relay is closed
    elsewhere (the hub shutting down, a newer connection): the reader may be stuck in a send."""
    async with anyio.create_task_group() as tg:

        async def stalled() -> None:
            await link.stalled.wait()
            log.warning(
                "device %s took no message for %.1f s (it stopped reading): dropping the link",
                relay.id,
                link.send_timeout,
            )
            relay.close(f"it took no message for {link.send_timeout:.1f} s")
            tg.cancel_scope.cancel()

        async def closed() -> None:
            await relay.wait_closed()
            tg.cancel_scope.cancel()

        tg.start_soon(stalled)
        tg.start_soon(closed)
    scope.cancel()


async def _heartbeat(relay: RelayDevice, link: _Link, interval: float, scope: anyio.CancelScope) -> None:
    seq = 0
    while not relay.closed:
        await anyio.sleep(interval)
        silent = relay.silence()
        if silent > interval * MISSED_HEARTBEATS:
            log.warning("device %s silent for %.1f s: dropping the link", relay.id, silent)
            relay.close(f"no heartbeat for {silent:.1f} s")
            await link.close(1011, "heartbeat timeout")
            scope.cancel()
            return
        seq += 1
        try:
            await link.send_text(p.encode(p.Ping(seq=seq)))
        except _LINK_GONE as e:
            log.info("device %s: ping not sent (%s): dropping the link", relay.id, type(e).__name__)
            relay.close("the link broke")
            scope.cancel()
            return
    scope.cancel()
