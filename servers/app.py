"""The suite as one Starlette app: each server mounted under its name, plus `/healthz`."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import SimpleNamespace
from typing import Any

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from servers import __version__
from servers.auth.http import AuthGuard, public_base_url, transport_security
from servers.auth.secrets import token_keys
from servers.bridge.calls import BridgeManager
from servers.bridge.functions import FunctionRunner
from servers.bridge.openai_calls import OpenAICalls
from servers.bridge.routes import create_bridge_routes
from servers.bridge.session import SessionFactory
from servers.hub.device_auth import DeviceAuth
from servers.hub.endpoint import create_device_route
from servers.hub.hub import Hub
from servers.legacy_sse import LEGACY_SSE_SERVERS, with_legacy_sse
from servers.ops.metrics import instrument_tools
from servers.ops.routes import create_ops_routes
from servers.settings import ServerName, Settings
from servers.stateless_get import RefuseGet

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
        instrument_tools(servers[name], name)
    return servers


def create_bridge(
    settings: Settings, hub: Hub, servers: dict[str, MCPServer], names: Sequence[str], guard: AuthGuard | None
) -> BridgeManager:
    """The Realtime bridge over this app's hub and tools; without an OpenAI key it only explains."""
    skills = servers.get("skills")
    runner = FunctionRunner(hub, settings, getattr(skills, "tools", None))
    keys = token_keys(settings, for_server=True) if guard is not None else None
    # Hosted MCP needs a URL OpenAI can reach; without a public URL the listener's own is named.
    public_url = settings.public_url.rstrip("/") if settings.public_url else public_base_url(settings)
    sessions = SessionFactory(settings, names, keys, public_url)
    key = settings.openai_api_key
    openai = OpenAICalls(settings.openai_base_url, key.get_secret_value()) if key is not None else None
    return BridgeManager(hub, settings, runner, sessions, openai)


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
            session_idle_timeout=settings.session_idle_timeout,
        )
        if settings.stateless:
            mcp_app = RefuseGet(mcp_app)  # the /mcp endpoint only: legacy SSE below is a GET stream
        if name in LEGACY_SSE_SERVERS:
            mcp_app = with_legacy_sse(server, mcp_app, settings, security)
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
    bridge = create_bridge(settings, hub, servers, names, guard)
    at = 2 if DEVICE_SERVERS & set(names) else 1
    routes[at:at] = create_bridge_routes(bridge, hub, guard.verifier if guard else None)
    state = SimpleNamespace(hub=hub, servers=servers, bridge=bridge)
    routes[at:at] = create_ops_routes(state, guard.verifier if guard else None)

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[dict[str, Any]]:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(hub.running())  # devices, and the replicas' Redis when set
            for server in servers.values():
                await stack.enter_async_context(server.session_manager.run())
            # Last in, first out: calls detach before the servers and devices go.
            await stack.enter_async_context(bridge.running())
            yield {"hub": hub, "servers": servers, "bridge": bridge}

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.hub = hub
    app.state.servers = servers
    app.state.auth_guard = guard
    app.state.bridge = bridge
    return app
