"""The sideband: the suite's own WebSocket to a Realtime call (`wss://<base>/realtime?call_id=...`).

`websockets`' reconnecting `connect` iterator re-attaches after a dropped connection (backoff on
failed attempts); a normal close (1000) from OpenAI ends the call (the 60-minute cap, a hangup),
and so does a refusal at the upgrade (401 key, 404 call over). Sends are bounded in time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import websockets
from websockets.asyncio.client import ClientConnection

log = logging.getLogger("realtime_mcp.bridge")

SEND_TIMEOUT = 10.0
"""Seconds one send may take (a frame is a few hundred KB) before the link is judged stuck."""
CONNECT_WAIT = 10.0
"""Seconds a send waits for a (re)connection before giving up."""
MAX_MESSAGE = 16 * 1024 * 1024
STABLE_LINK = 5.0
"""Seconds a link must have lived for its drop to count as a one-off."""
MAX_DROP_DELAY = 30.0

OnEvent = Callable[[dict[str, Any]], Awaitable[None]]


class SidebandError(Exception):
    """The sideband cannot carry on: the message says why (never the key). `status` / `code`: what
    the suite answers a caller who asked to attach."""

    def __init__(self, message: str, *, status: int = 502, code: str = "sideband_failed") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class _RedactingLogger(logging.LoggerAdapter):
    """websockets logs handshake headers at DEBUG, the API key included."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if len(args) == 2 and str(args[0]).lower() == "authorization":
            args = (args[0], "[redacted]")
        super().log(level, msg, *args, **kwargs)


def _fatal(error: Exception) -> Exception | None:
    """websockets' `process_exception`: which failures to connect end the call for good."""
    if isinstance(error, websockets.InvalidStatus):
        status = error.response.status_code
        if status == 401:
            return SidebandError(
                "OpenAI refused the suite's API key on the sideband (HTTP 401): set a valid "
                "REALTIME_MCP_OPENAI_API_KEY (or OPENAI_API_KEY) and restart the suite.",
                code="openai_key_refused",
            )
        if status in (403, 404):
            return SidebandError(
                f"OpenAI refused the sideband (HTTP {status}): the call is over or unknown to OpenAI "
                "(check the call id, and that the call was created with the same OpenAI project).",
                status=404,
                code="unknown_call",
            )
        if status < 500:
            return SidebandError(f"OpenAI refused the sideband (HTTP {status}).")
        return None
    if isinstance(error, (OSError, TimeoutError, websockets.InvalidHandshake, EOFError)):
        return None
    return error


class Sideband:
    """One call's sideband. `run` reads until the call ends, handing each server event to
    `on_event` in order; `send` may be called from any task."""

    def __init__(
        self,
        url: str,
        api_key: str,
        on_event: OnEvent,
        *,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.url = url
        self._key = api_key
        self._on_event = on_event
        self._on_connect = on_connect
        self._ws: ClientConnection | None = None
        self._connected = anyio.Event()
        self._lock = anyio.Lock()
        self.connections = 0
        self.ended: str | None = None
        """Why the sideband ended, once it has."""

    @property
    def connected(self) -> bool:
        return self._ws is not None

    async def run(self) -> str:
        """Until OpenAI ends the call; returns why. `SidebandError` when it cannot attach."""
        connector = websockets.connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {self._key}"},
            max_size=MAX_MESSAGE,
            open_timeout=10,
            process_exception=_fatal,
            logger=_RedactingLogger(logging.getLogger("websockets.client"), {}),
        )
        try:
            flaky, delay = 0, 0.0  # drops in a row of links that barely lived
            async for ws in connector:
                self.connections += 1
                self._ws = ws
                self._connected.set()
                if self.connections > 1:
                    log.info("sideband re-attached (%d connections so far)", self.connections)
                opened = anyio.current_time()
                try:
                    if self._on_connect is not None:
                        await self._on_connect()
                    await self._read(ws)
                except websockets.ConnectionClosedError as e:
                    code = e.rcvd.code if e.rcvd else "none"
                    # websockets re-attaches at once after a link that was up; one that keeps
                    # dropping right away gets backoff here, so it never spins.
                    flaky = flaky + 1 if anyio.current_time() - opened < STABLE_LINK else 0
                    delay = min(MAX_DROP_DELAY, 0.25 * 2**flaky) if flaky else 0.0
                    log.warning("sideband dropped (code %s): re-attaching in %.1f s", code, delay)
                    dropped = True
                except websockets.ConnectionClosedOK:
                    dropped = False
                else:
                    dropped = False
                finally:
                    self._ws = None
                    self._connected = anyio.Event()
                if dropped:
                    await anyio.sleep(delay)
                    continue
                code = ws.close_code
                self.ended = f"OpenAI closed the call (code {code}{_reason(ws)})"
                return self.ended
        except SidebandError as e:
            self.ended = str(e)
            raise
        self.ended = "stopped"
        return self.ended

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                event = json.loads(raw)
            except ValueError:
                log.warning("sideband: a server message that is not JSON was ignored")
                continue
            if isinstance(event, dict):
                await self._on_event(event)

    async def send(self, event: dict[str, Any]) -> None:
        """Send one client event; `SidebandError` when the call is gone or the link stuck."""
        text = json.dumps(event, separators=(",", ":"))
        with anyio.move_on_after(CONNECT_WAIT):
            await self._connected.wait()
        ws = self._ws
        if ws is None:
            raise SidebandError(f"the sideband is not connected ({self.ended or 'reconnecting'})")
        try:
            with anyio.fail_after(SEND_TIMEOUT):
                async with self._lock:
                    await ws.send(text)
        except TimeoutError as e:
            raise SidebandError(f"a send to OpenAI took over {SEND_TIMEOUT:g} s") from e
        except websockets.ConnectionClosed as e:
            raise SidebandError("the sideband closed while sending") from e

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            with anyio.move_on_after(5, shield=True):
                await ws.close(1000, "detached")


def _reason(ws: ClientConnection) -> str:
    reason = ws.close_reason
    return f": {reason}" if reason else ""
