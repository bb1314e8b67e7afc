"""The suite's servers for in-process MCP clients (`mcp.Client(server)`): the same app, hub and tools as
over HTTP, without starting uvicorn. Each test file that uses this keeps one test over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer

from servers.app import create_app
from servers.settings import Settings

Where = str | dict[str, MCPServer]
"""A served suite's base URL, or the servers of an in-process one."""


@asynccontextmanager
async def in_process(settings: Settings) -> AsyncIterator[dict[str, MCPServer]]:
    """The app's servers (sharing its hub); the hub is closed afterwards, as the app's lifespan does."""
    app = create_app(settings)
    try:
        yield app.state.servers
    finally:
        await app.state.hub.aclose()


def mcp_target(where: Where, name: str) -> Any:
    """What `mcp.Client` connects to: `<url>/<name>/mcp`, or the in-process server."""
    return f"{where}/{name}/mcp" if isinstance(where, str) else where[name]
