"""Stateless MCP endpoints refuse GET: a standalone SSE stream there has nothing to carry.

In stateless mode the SDK still opens a GET event stream and holds it open with nothing to send;
200 never-used streams were held open by a probe. The MCP transport lets a server without such a
stream answer 405, which clients treat as "no server-initiated messages here".
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class RefuseGet:
    """Pure ASGI: `405 Method Not Allowed` (Allow: POST, DELETE) for GET; everything else passes."""

    def __init__(self, app: ASGIApp, path: str = "/mcp") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or _local_path(scope) != self.path:
            await self.app(scope, receive, send)  # other paths under the mount answer for themselves
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


def _local_path(scope: Scope) -> str:
    """The request path below the mount the app sits in (Starlette keeps the full path)."""
    path, root = scope["path"], scope.get("root_path", "")
    local = path[len(root) :] if root and path.startswith(root) else path
    return local.rstrip("/") or "/"
