"""The hosted MCP call the fake makes for `model_calls_mcp(output=None)`: a real MCP client over
streamable HTTP, shaped like OpenAI's (classic `initialize`, `openai-mcp/1.0.0`, a new session per
call, the session tool entry's `authorization` sent as a bearer token)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation, TextContent

from tests.support.fake_realtime_events import FakeRealtimeError

OPENAI_MCP_CLIENT = Implementation(name="openai-mcp", version="1.0.0")


def mcp_tool_entry(session: dict[str, Any], server_label: str, name: str) -> dict[str, Any]:
    """The session's `mcp` tool entry the model would call `name` through; refuses what the real
    service would not do silently (unknown label, tool not allowed, approval required)."""
    entries = [t for t in session.get("tools") or [] if t.get("type") == "mcp"]
    entry = next((t for t in entries if t.get("server_label") == server_label), None)
    if entry is None:
        labels = [t.get("server_label") for t in entries]
        raise FakeRealtimeError(f"no mcp tool with server_label {server_label!r} in the session ({labels})")
    if not entry.get("server_url"):
        raise FakeRealtimeError(f"mcp tool {server_label!r} has no server_url (connectors are not faked)")
    allowed = entry.get("allowed_tools")
    names = allowed.get("tool_names") if isinstance(allowed, dict) else allowed
    if names is not None and name not in names:
        raise FakeRealtimeError(f"{name!r} is not in allowed_tools of {server_label!r}: {names}")
    approval = entry.get("require_approval")
    never = approval == "never" or (
        isinstance(approval, dict) and name in ((approval.get("never") or {}).get("tool_names") or [])
    )
    if not never:
        # Without it the real service emits an mcp_approval_request and waits for the client.
        raise FakeRealtimeError(f"mcp tool {server_label!r} requires approval for {name!r}: {approval!r}")
    return entry


def _headers(entry: dict[str, Any]) -> dict[str, str]:
    headers = {"user-agent": "openai-mcp/1.0.0"} | dict(entry.get("headers") or {})
    if entry.get("authorization"):
        headers["authorization"] = f"Bearer {entry['authorization']}"
    return headers


def _leaf(exc: BaseException) -> BaseException:
    """The one exception an MCP client's task groups wrapped."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


async def call_mcp_tool(
    entry: dict[str, Any], name: str, arguments: str, *, timeout: float = 30.0
) -> tuple[str | None, dict[str, Any] | None]:
    """Call the tool for real; returns (output, None) or (None, the mcp_call item's `error`).

    Hosted MCP output is text only: the result's text parts, joined with newlines. An HTTP refusal
    (e.g. 401 for a bad token) becomes an `http_error` with its status, as OpenAI reports it."""
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    try:
        with anyio.fail_after(timeout):
            async with (
                httpx2.AsyncClient(
                    headers=_headers(entry), timeout=timeout, event_hooks={"response": [record]}
                ) as http,
                Client(
                    streamable_http_client(entry["server_url"], http_client=http),
                    mode="legacy",
                    client_info=OPENAI_MCP_CLIENT,
                ) as client,
            ):
                result = await client.call_tool(name, json.loads(arguments or "{}"))
    except Exception as exc:
        leaf = _leaf(exc)
        refused = [status for status in statuses if status >= 400]
        if refused:
            return None, {"type": "http_error", "code": refused[-1], "message": f"HTTP {refused[-1]}"}
        if isinstance(leaf, MCPError):
            return None, {"type": "protocol_error", "code": leaf.error.code, "message": leaf.error.message}
        if isinstance(leaf, (OSError, TimeoutError, httpx2.HTTPError)):
            return None, {"type": "http_error", "code": 424, "message": f"{type(leaf).__name__}: {leaf}"}
        raise
    text = "\n".join(part.text for part in result.content if isinstance(part, TextContent))
    if result.is_error:
        return None, {"type": "tool_execution_error", "message": text}
    return text, None
