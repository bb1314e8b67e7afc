"""The MCP SDK's private state the suite relies on (servers/sdk_internals.py). These fail when an mcp
release moves it: read the module's docstring, then pin or adapt."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.server.connection import Connection
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp_types import ListResourcesResult, PaginatedRequestParams, Resource

from servers.sdk_internals import SDKInternalsError, lowlevel_server, request_connection

pytestmark = pytest.mark.anyio


async def test_lowlevel_server_sets_the_instructions_new_sessions_receive():
    server = MCPServer(name="probe", instructions="before")
    lowlevel_server(server).instructions = "after the reload"
    async with Client(server, mode="legacy") as client:
        assert client.instructions == "after the reload"


async def test_lowlevel_server_takes_request_handlers_the_sdk_then_serves():
    server = MCPServer(name="probe")

    async def list_resources(ctx: Any, params: PaginatedRequestParams | None) -> ListResourcesResult:
        cursor = params.cursor if params else None
        return ListResourcesResult(
            resources=[Resource(name="one", uri=f"probe://{cursor or 'first'}")], next_cursor="c2"
        )

    lowlevel_server(server).add_request_handler("resources/list", PaginatedRequestParams, list_resources)
    async with Client(server, mode="legacy") as client:
        page = await client.list_resources()
        assert [str(r.uri) for r in page.resources] == ["probe://first"]
        assert page.next_cursor == "c2"
        page = await client.list_resources(cursor="c2")
        assert [str(r.uri) for r in page.resources] == ["probe://c2"]


def test_lowlevel_server_says_when_the_sdk_moved_it():
    class Moved:
        pass

    with pytest.raises(SDKInternalsError, match="_lowlevel_server"):
        lowlevel_server(Moved())  # type: ignore[arg-type]


async def test_request_connection_is_the_requests_connection_with_its_channel_and_exit_stack():
    seen: list[Connection | None] = []

    async def record(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        seen.append(request_connection(ctx))
        return await call_next(ctx)

    server = MCPServer(name="probe", middleware=[record])

    @server.tool()
    def ping() -> str:
        return "pong"

    async with Client(server, mode="legacy") as client:
        await client.call_tool("ping", {})
        await client.call_tool("ping", {})
    connections = [c for c in seen if c is not None]
    assert len(connections) == len(seen) >= 3, "request_connection found no Connection: see sdk_internals.py"
    assert len({id(c) for c in connections}) == 1  # one client, one connection, every request
    connection = connections[0]
    assert isinstance(connection, Connection)
    assert connection.has_standalone_channel  # what list_changed notifications travel on
    assert callable(connection.exit_stack.callback)  # where ChangeNotifier forgets a closed connection
