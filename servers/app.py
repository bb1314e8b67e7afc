"""The suite as one Starlette app: each server mounted under its name, plus `/healthz`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from servers import __version__
from servers.auth.http import AuthGuard, transport_security
from servers.hub.device_auth import DeviceAuth
from servers.hub.endpoint import create_device_route
from servers.hub.hub import Hub
from servers.settings import ServerName, Settings

FACTORIES: dict[str, str] = {
    "skills": "servers.skills.server",
    "screen": "servers.screen.server",
    "pointer": "servers.pointer.server",
}

# The servers that act on devices: only with one of them does the suite accept capture clients.
DEVICE_SERVERS = frozenset({"screen", "pointer"})


def build_servers(settings: Settings, hub: Hub, names: Sequence[ServerName]) -> dict[str, MCPServer]:
    """Each named server from its package's `create_server(settings, hub=...)`."""
    servers: dict[str, MCPServer] = {}
    for name in names:
        module = importlib.import_module(FACTORIES[name])
        servers[name] = module.create_server(settings, hub=hub)
    return servers


def create_app(settings: Settings, *, standalone: ServerName | None = None) -> Starlette:
    """The suite's ASGI app. `standalone` serves one server at `/mcp` instead of `/<name>/mcp`."""
    guard = AuthGuard.from_settings(settings)  # None when auth is off; refuses unsafe settings
    hub = Hub(settings)
    names: list[ServerName] = [standalone] if standalone else list(settings.servers)
    servers = build_servers(settings, hub, names)

    routes: list[BaseRoute] = []
    mounts: list[BaseRoute] = []
    security = transport_security(settings)
    for name, server in servers.items():
        mcp_app: ASGIApp = server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=settings.stateless,
            json_response=settings.json_response,
            host=settings.host,
            transport_security=security,
            max_request_body_size=settings.max_request_bytes,
        )
        path = "/mcp" if standalone else f"/{name}/mcp"
        if guard is not None:
            mcp_app = guard.protect(mcp_app, scope=name, path=path)
            routes.extend(guard.metadata_routes(scope=name, path=path, name=name))
        mounts.append(Mount("" if standalone else f"/{name}", app=mcp_app))
    routes.extend(mounts)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__, "servers": names})

    routes.insert(0, Route("/healthz", healthz, methods=["GET"]))
    if DEVICE_SERVERS & set(names):
        # Capture clients connect out to /devices/connect; their tokens go through the same verifier.
        device_auth = DeviceAuth.from_settings(settings, verifier=guard.verifier if guard else None)
        routes.insert(1, create_device_route(hub, device_auth))

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(hub.aclose)
            for server in servers.values():
                await stack.enter_async_context(server.session_manager.run())
            yield {"hub": hub, "servers": servers}

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.servers = servers
    app.state.auth_guard = guard
    return app
