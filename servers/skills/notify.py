"""Telling connected clients that the skills changed.

How a change notification reaches a client depends on the connection (mcp 2.3):

- 2026-07-28 clients open a `subscriptions/listen` stream (in stateless and stateful mode alike);
  the server publishes `ServerEvent`s on its `SubscriptionBus` and the SDK fans them out.
- Handshake-era (2025) clients on a stateful session (or an in-process stream) have a standalone
  channel (the GET SSE stream). The SDK keeps no registry of those connections
  (modelcontextprotocol/python-sdk#741), so `ChangeNotifier` collects them from its middleware and
  drops each one through the connection's exit stack when it closes.
- Stateless handshake-era requests have no channel at all: nothing can be pushed, the client sees
  the new catalog on its next request (OpenAI's hosted client lists tools per session anyway).

`listChanged` is advertised to a handshake-era client only when its connection can carry it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.subscriptions import (
    ResourcesListChanged,
    ResourceUpdated,
    SubscriptionBus,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from servers.sdk_internals import request_connection

log = logging.getLogger("realtime_mcp.skills")


class ChangeNotifier:
    """Server middleware that tracks notifiable connections, and the fan-out of change events."""

    def __init__(self, bus: SubscriptionBus) -> None:
        self.bus = bus
        self._connections: dict[int, Connection] = {}

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        connection = request_connection(ctx)
        notifiable = (
            connection is not None
            and connection.has_standalone_channel
            and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
        )
        if notifiable and connection is not None and id(connection) not in self._connections:
            key = id(connection)
            self._connections[key] = connection
            connection.exit_stack.callback(self._connections.pop, key, None)
        result = await call_next(ctx)
        if ctx.method == "initialize" and notifiable and isinstance(result, dict):
            capabilities = result.get("capabilities")
            if isinstance(capabilities, dict):
                for kind in ("tools", "resources"):
                    if isinstance(capabilities.get(kind), dict):
                        capabilities[kind]["listChanged"] = True
        return result

    async def publish(
        self, *, tools_changed: bool, resources_changed: bool, updated_uris: Sequence[str] = ()
    ) -> None:
        """Send what changed to every listening client; never raises."""
        events: list[Any] = []
        if tools_changed:
            events.append(ToolsListChanged())
        if resources_changed:
            events.append(ResourcesListChanged())
        events.extend(ResourceUpdated(uri=uri) for uri in updated_uris)
        for event in events:
            try:
                await self.bus.publish(event)
            except Exception:  # a custom bus (e.g. over Redis) must not stop the reload
                log.exception("publishing %s failed", type(event).__name__)
        for connection in list(self._connections.values()):
            # Connection.notify is best-effort: a closed stream drops the message, never raises.
            if tools_changed:
                await connection.send_tool_list_changed()
            if resources_changed:
                await connection.send_resource_list_changed()
