"""The capture client's link to the hub: connect out, hello, serve requests, keepalive, reconnect.

`CaptureClient.run` keeps one WebSocket to the hub's `/devices/connect` alive with websockets' own
reconnecting `connect` iterator: it reconnects with exponential backoff (with jitter, see
`capture_client.backoff`) after any drop, network error or 5xx, and stops for good only when the hub
refuses the client outright (HTTP 401/403 at the handshake: a bad, expired or unscoped token; or a
fatal `error`: unsupported protocol, wrong device) or the caller cancels it (Ctrl-C).

One keepalive: the protocol's own `ping`, which the hub sends every `heartbeat_interval` (from the
welcome) and the client answers. The hub needs it: it serves the link through ASGI, which never
shows it WebSocket ping frames, so only messages tell it the client is alive. The client needs
nothing more than to hear those pings: a hub silent for `MISSED_HEARTBEATS` intervals is gone.
websockets' ping frames (`ping_interval`) would be a second keepalive on the same link, so they are
off.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Generator, Iterator
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlsplit, urlunsplit

import anyio
import websockets
from websockets.asyncio.client import ClientConnection

from capture_client import __version__, dispatch
from capture_client.backoff import Backoff
from capture_client.client import CapturedFrame, DeviceService
from wire import protocol as p
from wire.geometry import DisplayInfo
from wire.protocol import DEVICE_PATH, MISSED_HEARTBEATS

log = logging.getLogger("realtime_mcp.capture")

WELCOME_TIMEOUT = 10.0
CLOSE_TIMEOUT = 2.0
"""A live hub answers a close within milliseconds; a dead one is not worth waiting for longer
(this wait comes on top of the backoff after a silent hub, and bounds Ctrl-C)."""


_DESCRIPTION = re.compile(r'error_description="([^"]*)"')


class RefusedError(Exception):
    """The hub refused this client for a reason retrying cannot fix."""


class _RedactingLogger(logging.LoggerAdapter):
    """The websockets library logs every handshake header at DEBUG, the bearer token included. Its
    one INFO line, a failed attempt and the delay before the next, goes to DEBUG: the client's own
    lines say both (`connection to ... failed`, `reconnecting in ...`), the same way after a drop."""

    def log(self, level: int, msg: object, *args: object, **kwargs) -> None:
        if len(args) == 2 and str(args[0]).lower() == "authorization":
            args = (args[0], "[redacted]")
        super().log(logging.DEBUG if level == logging.INFO else level, msg, *args, **kwargs)


def handshake_refusal(error: websockets.InvalidStatus) -> RefusedError | None:
    """A RefusedError naming the problem when the hub refused the token (401/403), else None: any
    other status (a 5xx, a proxy not ready yet) is worth retrying."""
    status = error.response.status_code
    if status not in (401, 403):
        return None
    found = _DESCRIPTION.search(error.response.headers.get("WWW-Authenticate", ""))
    if found:
        reason = found.group(1)
    elif status == 401:
        reason = "the token is missing, invalid or expired: check --token, or mint a new one"
    else:
        reason = "the token lacks the `device` scope: mint one with --scopes device"
    return RefusedError(f"HTTP {status}: {reason}")


def retry_or_stop(error: Exception) -> Exception | None:
    """websockets' `process_exception`: None to retry a failed connection attempt, else the exception
    to stop with. Retried: network errors, timeouts, 5xx and any other answer a proxy may give while
    the hub restarts. Stopped: a refused token (401/403, as a `RefusedError` that says what to fix)
    and anything that is not a network or handshake failure (a bug, which retrying would hide)."""
    if isinstance(error, websockets.InvalidStatus):
        return handshake_refusal(error)
    if isinstance(error, OSError | TimeoutError | websockets.WebSocketException):
        return None
    return error


def device_url(server: str) -> str:
    """The WebSocket URL of the hub's device endpoint for a server given as http(s):// or ws(s)://."""
    parts = urlsplit(server if "://" in server else f"http://{server}")
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"Cannot connect to {server!r}: give the server as http(s)://host[:port].")
    path = parts.path.rstrip("/")
    if not path.endswith(DEVICE_PATH):
        path += DEVICE_PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


@dataclass
class ClientConfig:
    server: str
    token: str
    device_id: str | None = None
    platform: str = ""
    can_push: bool = False
    reconnect_min: float = 0.5
    reconnect_max: float = 30.0
    backoff_reset_after: float | None = None
    """A link up this long had worked: after it drops, the backoff starts over at `reconnect_min`.
    None: 10 x `reconnect_min` + 5 s."""

    def backoff(self) -> Backoff:
        reset_after = self.backoff_reset_after
        if reset_after is None:
            reset_after = 10 * self.reconnect_min + 5
        return Backoff(self.reconnect_min, self.reconnect_max, reset_after)


class Session:
    """One live connection: sends are safe from any task; `push` is a no-op when disconnected."""

    def __init__(self, ws: ClientConnection, service: DeviceService, interval: float) -> None:
        self.ws = ws
        self.service = service
        self.interval = interval
        self.window = interval * MISSED_HEARTBEATS
        # Moved on by every message from the hub: reaching it means the hub went silent.
        self._hearing = anyio.CancelScope(deadline=anyio.current_time() + self.window)
        self.refused: str | None = None
        self.went_silent = False
        self.device_id: str | None = None
        self.outbox = dispatch.EncodingOutbox(self.send)

    async def send(self, message: str | bytes) -> None:
        await self.ws.send(message)

    async def serve(self) -> None:
        """Until the link drops or the hub refuses us (then `refused` says why)."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_silence, tg.cancel_scope)
            try:
                async for raw in self.ws:
                    self.heard()
                    if isinstance(raw, bytes):
                        tg.start_soon(
                            self._safely, self.send(p.error("unexpected_binary", "no binary expected"))
                        )
                        continue
                    try:
                        message = p.parse_hub_text(raw)
                    except p.ProtocolError as e:
                        log.warning("hub sent a bad message (%s): %s", e.code, e)
                        continue
                    if not self._dispatch(tg, message):
                        break
            except websockets.ConnectionClosed:
                pass
            tg.cancel_scope.cancel()

    async def _safely(self, pending) -> None:
        # One request's failure (a dropped link, a bug) must not take the whole session down.
        try:
            await pending
        except websockets.ConnectionClosed:
            pass
        except Exception:
            log.exception("a request failed")

    def _dispatch(self, tg: anyio.abc.TaskGroup, message: p.HubMessage) -> bool:
        """Start the work a message asks for; False when the hub refused us for good."""
        self.refused = dispatch.refusal(message)
        if self.refused is not None:
            return False
        tg.start_soon(self._safely, dispatch.handle(self.service, message, self.outbox))
        return True

    async def push(self, frame: CapturedFrame) -> None:
        await self.send(frame.message())

    async def displays_changed(self, displays: list[DisplayInfo], reason: str) -> None:
        await self.send(p.encode(p.DisplaysChanged(displays=displays, reason=reason[:200])))

    def heard(self) -> None:
        self._hearing.deadline = anyio.current_time() + self.window

    async def _watch_silence(self, scope: anyio.CancelScope) -> None:
        """End the session when the hub has said nothing, not even its ping, for the window."""
        with self._hearing:
            await anyio.sleep_forever()
        log.warning("no word from the hub for %.1f s: reconnecting", self.window)
        self.went_silent = True
        await self.ws.close(1011, "heartbeat timeout")  # within CLOSE_TIMEOUT
        scope.cancel()


async def open_session(ws: ClientConnection, config: ClientConfig, service: DeviceService) -> Session:
    """Hello and welcome on a fresh connection; `RefusedError` when the hub says no."""
    hello = p.Hello(
        protocol_version=p.PROTOCOL_VERSION,
        device_id=config.device_id,
        client_version=__version__,
        platform=config.platform,
        displays=service.displays,
        can_push=config.can_push,
    )
    await ws.send(p.encode(hello))
    with anyio.fail_after(WELCOME_TIMEOUT):
        reply = p.parse_hub_text(await ws.recv())
    if isinstance(reply, p.ErrorMessage):
        raise RefusedError(f"{reply.code}: {reply.message}")
    if not isinstance(reply, p.Welcome):
        raise p.ProtocolError("out_of_order", f"expected welcome, got {reply.type}")
    session = Session(ws, service, reply.heartbeat_interval)
    session.device_id = reply.device_id
    return session


class CaptureClient:
    """Keeps the hub connection alive and routes pushes and layout notices to it."""

    def __init__(self, config: ClientConfig, service: DeviceService) -> None:
        self.config = config
        self.service = service
        self.session: Session | None = None
        self.connected = anyio.Event()
        self.device_id: str | None = None
        service.on_displays_changed = self._displays_changed

    async def push(self) -> bool:
        """Capture and push a frame now (push-to-talk); False when not connected or no frame."""
        session = self.session
        if session is None:
            log.info("push-to-talk: not connected to the hub")
            return False
        frame = await self.service.push_frame()
        if frame is None:
            return False
        await session.push(frame)
        return True

    async def press(self) -> bool:
        """The push-to-talk hotkey went down: tell the hub (the bridge starts a turn), then push."""
        await self._talk("press")
        return await self.push()

    async def release(self) -> None:
        """The hotkey went up: the bridge ends the turn (commits the audio, asks for an answer)."""
        await self._talk("release")

    async def _talk(self, state: Literal["press", "release"]) -> None:
        session = self.session
        if session is None:
            return
        try:
            await session.send(p.encode(p.Talk(state=state)))
        except websockets.ConnectionClosed:
            log.info("push-to-talk: the link closed before the %s was sent", state)

    async def _displays_changed(self, displays: list[DisplayInfo], reason: str) -> None:
        session = self.session
        if session is not None:  # when offline, the next hello carries the new layout
            await session.displays_changed(displays, reason)

    async def run(self) -> None:
        """Until cancelled (or refused): connect, serve, and reconnect with backoff after a drop."""
        url = device_url(self.config.server)
        if not self.service.displays:
            await self.service.start()
        backoff = self.config.backoff()
        links = websockets.connect(
            url,
            additional_headers={"Authorization": f"Bearer {self.config.token}"},
            max_size=p.MAX_TEXT_BYTES,
            # Frames are JPEG/PNG already: per-message deflate would only burn CPU on both ends.
            compression=None,
            open_timeout=10,
            close_timeout=CLOSE_TIMEOUT,
            ping_interval=None,  # the protocol's ping is the one keepalive (see the module's doc)
            process_exception=self._retry_or_stop,
            reconnect_delays=lambda: _announced(backoff.delays()),
            user_agent_header=f"realtime-mcp-capture/{__version__}",
            logger=_RedactingLogger(logging.getLogger("websockets.client")),
        )
        # An async generator: closed explicitly, so the last link closes now (Ctrl-C, a refusal),
        # not whenever the generator is garbage-collected.
        attempts = cast("AsyncGenerator[ClientConnection]", aiter(links))
        try:
            async for ws in attempts:
                opened = anyio.current_time()
                try:
                    await self._serve(ws, url)
                except (OSError, TimeoutError, websockets.ConnectionClosed, p.ProtocolError) as e:
                    log.warning("the link to %s failed: %s", url, _describe(e))
                await ws.close()  # before the wait (a hub that never welcomed us may still hold it)
                # websockets would reconnect at once after a link that opened; wait the backoff
                # instead, which starts over only if the link had stayed up.
                backoff.link_ended(anyio.current_time() - opened)
                await anyio.sleep(next(_announced(backoff.delays())))
        finally:
            with anyio.CancelScope(shield=True):  # bounded by CLOSE_TIMEOUT
                await attempts.aclose()

    async def _serve(self, ws: ClientConnection, url: str) -> None:
        """Hello, welcome and the session on one link; `RefusedError` when the hub says no."""
        session = await open_session(ws, self.config, self.service)
        self.session, self.device_id = session, session.device_id
        log.info("connected to %s as device %s", url, session.device_id)
        self.connected.set()
        try:
            await session.serve()
        finally:
            self.session = None
            self.connected = anyio.Event()
        if session.refused:
            raise RefusedError(session.refused)
        if not session.went_silent:  # else the silence was logged
            log.warning("the hub closed the connection (code %s)", ws.close_code)

    def _retry_or_stop(self, error: Exception) -> Exception | None:
        verdict = retry_or_stop(error)
        if verdict is None:  # then `_announced` logs the delay before the next attempt
            log.warning("connection to %s failed: %s", device_url(self.config.server), _describe(error))
        return verdict


def _announced(delays: Iterator[float]) -> Generator[float]:
    """The delays, each logged as it is taken (after a failed attempt or a dropped link alike)."""
    for delay in delays:
        log.info("reconnecting in %.1f s", delay)
        yield delay


def _describe(error: BaseException) -> str:
    if isinstance(error, websockets.InvalidStatus):
        status = error.response.status_code
        if status >= 500:
            return f"HTTP {status} (the server is not ready or failing)"
        return f"HTTP {status} (is {DEVICE_PATH} served there?)"
    return f"{type(error).__name__}: {error}"
