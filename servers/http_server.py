"""uvicorn as the suite runs it: connection limits, request timeouts, and two protocol fixes.

uvicorn 0.54 (h11) gives a new connection all the time it wants to send its request: idle sockets
pile up until the process runs out of file descriptors. `LimitedH11Protocol` gives every request
`request_timeout` seconds to arrive whole (head and body) and, when `max_connections` are open,
makes room for a new one by closing the connection that has waited longest without sending a
request, so idle sockets cannot crowd out real clients (or `/healthz`).

`BoundedWebSocketProtocol` fixes two ways uvicorn's websockets-sansio protocol leaves a socket
open: an upgrade request the websockets parser refuses (a header line over 8 KB) gets its
431 / 400 answer written and the socket closed, instead of never being answered; and a socket
whose peer stopped reading is aborted once the app is done with it (asyncio's `close()` waits for
a send buffer that will never drain, so uvicorn's shutdown would wait for it forever).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any, ClassVar

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from servers.settings import Settings

log = logging.getLogger("realtime_mcp.http")

_REQUEST_RECEIVED = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.SWITCHED_PROTOCOL)


class LimitedH11Protocol(H11Protocol):
    """h11 with a deadline for each request to arrive and a cap on open connections."""

    request_timeout: float = 10.0
    max_connections: int | None = None
    _waiting: ClassVar[OrderedDict[LimitedH11Protocol, None]] = OrderedDict()
    """Connections waiting for a request, oldest first (one event loop per process)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        cap = self.max_connections
        if cap is not None and len(self.connections) > cap:
            self._make_room(len(self.connections) - cap)
        self._await_request()

    def _make_room(self, count: int) -> None:
        for _ in range(count):
            oldest = next((c for c in self._waiting if c is not self), None)
            if oldest is None:
                return  # every other connection is busy with a request: uvicorn's 503 applies
            log.debug("connection cap reached: closing the longest idle connection")
            oldest._drop()

    def _await_request(self) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.request_timeout, self._request_timed_out)
        self._waiting[self] = None

    def _cancel_deadline(self) -> None:
        self._waiting.pop(self, None)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _request_timed_out(self) -> None:
        self._deadline = None
        self._waiting.pop(self, None)
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            self._drop()

    def _drop(self) -> None:
        self._cancel_deadline()
        self.transport.abort()  # nothing worth flushing: the peer has not sent a whole request

    def handle_events(self) -> None:
        super().handle_events()
        if self._deadline is not None and (
            self.conn.their_state in _REQUEST_RECEIVED or self.transport.get_protocol() is not self
        ):
            self._cancel_deadline()  # the request is in (or upgraded): the app's time is its own

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_request()  # a kept-alive connection waits for its next request

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)


class BoundedWebSocketProtocol(WebSocketsSansIOProtocol):
    """websockets-sansio that answers refused upgrades and aborts sockets that stopped reading."""

    abort_after: float = 5.0
    """Seconds a finished connection may still wait for its peer to take the last bytes."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.handshake_complete and self.conn.handshake_exc is not None:
            # The websockets parser refused the request (a header line over 8 KB: 431) and queued
            # its answer, which uvicorn never sends: send it and close.
            self.handshake_complete = True
            self.close_sent = True
            log.info("WebSocket upgrade refused: %s", self.conn.handshake_exc)
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
            self._abort_later()

    async def run_asgi(self) -> None:
        await super().run_asgi()
        self._abort_later()

    def shutdown(self) -> None:
        super().shutdown()
        self._abort_later()

    def _abort_later(self) -> None:
        self.loop.call_later(self.abort_after, self._abort_if_open)

    def _abort_if_open(self) -> None:
        if not self.disconnected:
            log.debug("aborting a WebSocket whose peer stopped reading")
            self.transport.abort()


def protocol_classes(settings: Settings) -> tuple[type[LimitedH11Protocol], type[BoundedWebSocketProtocol]]:
    """Protocol classes carrying `settings`' limits (classes, because uvicorn instantiates them)."""
    http = type(
        "LimitedH11Protocol",
        (LimitedH11Protocol,),
        {
            "request_timeout": settings.request_timeout,
            "max_connections": settings.max_connections,
            "_waiting": OrderedDict(),
        },
    )
    return http, BoundedWebSocketProtocol


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `realtime-mcp serve` runs with; tests pass `port=` and the like."""
    http, ws = protocol_classes(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # the CLI's handlers (with the log-safety filter) get uvicorn's records
        "lifespan": "on",
        "http": http,
        "ws": ws,
        "access_log": False,
        "limit_concurrency": settings.max_connections + 1,  # the cap itself is kept by eviction
        # asyncio accepts up to `backlog` sockets per wake-up before any of them runs: a bigger
        # batch than the cap would take descriptors past it before the eviction can run.
        "backlog": min(2048, settings.max_connections),
        "timeout_keep_alive": settings.keep_alive_timeout,
        "timeout_graceful_shutdown": settings.shutdown_timeout,
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "ws_max_size": 16 * 1024 * 1024,
    }
    return uvicorn.Config(app, **(options | overrides))
