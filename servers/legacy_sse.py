"""The legacy HTTP+SSE transport (MCP 2024-11-05) beside Streamable HTTP, for clients that speak only it.

`GET /<name>/sse` opens the event stream (its first event names the POST endpoint) and
`POST /<name>/messages/?session_id=...` carries the client's messages; everything else goes to the
Streamable HTTP app. Both sit behind the same bearer-token guard and Host/Origin checks.

Only the skills server offers it. A legacy session runs with the identity of the token that opened
its stream, whatever token later POSTs carry, and the SDK does not tie the two together; the screen
and pointer servers bind every call to the caller's device, so they stay on Streamable HTTP only.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from servers.settings import Settings

SSE_PATH = "/sse"
MESSAGES_PATH = "/messages/"
LEGACY_SSE_SERVERS = frozenset({"skills"})


class WithLegacySse:
    """Routes the legacy transport's two paths to the SSE app, the rest to Streamable HTTP."""

    def __init__(self, streamable: ASGIApp, sse: ASGIApp) -> None:
        self.streamable = streamable
        self.sse = sse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            route = path[len(root) :] if root and path.startswith(root) else path
            if route == SSE_PATH or route.startswith(MESSAGES_PATH):
                await self.sse(scope, receive, send)
                return
        await self.streamable(scope, receive, send)


def with_legacy_sse(
    server: MCPServer, streamable: ASGIApp, settings: Settings, security: TransportSecuritySettings | None
) -> ASGIApp:
    sse = server.sse_app(
        sse_path=SSE_PATH,
        message_path=MESSAGES_PATH,
        max_request_body_size=settings.max_request_bytes,
        transport_security=security,
        host=settings.host,
    )
    return WithLegacySse(streamable, sse)
