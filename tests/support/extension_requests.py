"""Requests the MCP SDK has no typed method for (the skills extension's), sent through a real client."""

from __future__ import annotations

from typing import Any

from mcp import Client
from mcp_types import Request
from pydantic import RootModel


class AnyResult(RootModel[dict[str, Any]]):
    """Any JSON object: `send_request` wants a model, and an extension's results have none in the SDK."""


async def send_extension_request(client: Client, method: str, **params: Any) -> dict[str, Any]:
    """The result of `method` with `params`, as the JSON object the server answered."""
    request = Request[dict[str, Any], str](method=method, params=params)
    return (await client.session.send_request(request, AnyResult)).root
