"""Stateless MCP endpoints refuse GET: a standalone SSE stream there has nothing to carry.

In stateless mode the SDK still opens a GET event stream and holds it open with nothing to send;
200 never-used streams were held open by a probe. The MCP transport lets a server without such a
stream answer 405, which clients treat as "no server-initiated messages here".
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class RefuseGet:
    """Pure ASGI: `405 Method Not Allowed` (Allow: POST, DELETE) for GET; everything else passes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        body = b"This server is stateless: it has no event stream to GET. POST MCP requests instead.\n"
        await send(
            {
                "type": "http.response.start",
                "status": 405,
                "headers": [
                    (b"allow", b"POST, DELETE"),
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
