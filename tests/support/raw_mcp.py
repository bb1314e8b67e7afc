"""MCP as raw HTTP, the way hosted clients send it: JSON-RPC bodies and the headers they carry."""

from __future__ import annotations

from typing import Any

PROTOCOL = "2025-03-26"
"""The classic protocol version OpenAI's hosted client initializes with."""

POST_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
# Shaped like OpenAI's hosted MCP client.
OPENAI_HEADERS = {"user-agent": "openai-mcp/1.0.0"} | POST_HEADERS
OPENAI_CLIENT = {"name": "openai-mcp", "version": "1.0.0"}
TEST_CLIENT = {"name": "t", "version": "1"}


def request(method: str, id: int = 1, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON-RPC request body (`params` left out when there are none)."""
    return {"jsonrpc": "2.0", "id": id, "method": method} | ({"params": params} if params else {})


def initialize_params(client: dict[str, str] = TEST_CLIENT, protocol: str = PROTOCOL) -> dict[str, Any]:
    return {"protocolVersion": protocol, "capabilities": {}, "clientInfo": client}


def initialize(client: dict[str, str] = TEST_CLIENT, protocol: str = PROTOCOL) -> dict[str, Any]:
    """The classic `initialize` request that opens a session."""
    return request("initialize", 1, initialize_params(client, protocol))


def authorization(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
