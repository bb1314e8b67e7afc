"""The hosted MCP call the fake makes for `model_calls_mcp(output=None)`: a real MCP client over
streamable HTTP, shaped like OpenAI's (classic `initialize`, `openai-mcp/1.0.0`, a new session per
call, the session tool entry's `authorization` sent as a bearer token)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


class _Failed(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


@asynccontextmanager
async def _hosted_client(entry: dict[str, Any], timeout: float) -> AsyncIterator[Client]:
    """An MCP session opened the way OpenAI's hosted client does; failures become `_Failed` with the
    error OpenAI would put in the item (an HTTP refusal keeps its status, as OpenAI reports it)."""
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
                yield client
    except Exception as exc:
        leaf = _leaf(exc)
        refused = [status for status in statuses if status >= 400]
        if refused:
            error = {"type": "http_error", "code": refused[-1], "message": f"HTTP {refused[-1]}"}
        elif isinstance(leaf, MCPError):
            error = {"type": "protocol_error", "code": leaf.error.code, "message": leaf.error.message}
        elif isinstance(leaf, (OSError, TimeoutError, httpx2.HTTPError)):
            error = {"type": "http_error", "code": 424, "message": f"{type(leaf).__name__}: {leaf}"}
        else:
            raise
        raise _Failed(error) from exc


async def call_mcp_tool(
    entry: dict[str, Any], name: str, arguments: str, *, timeout: float = 30.0
) -> tuple[str | None, dict[str, Any] | None]:
    """Call the tool for real (a new MCP session per call); returns (output, None) or (None, the
    mcp_call item's `error`). Hosted MCP output is text only: the text parts, joined with newlines."""
    try:
        async with _hosted_client(entry, timeout) as client:
            result = await client.call_tool(name, json.loads(arguments or "{}"))
    except _Failed as failed:
        return None, failed.error
    text = "\n".join(part.text for part in result.content if isinstance(part, TextContent))
    if result.is_error:
        return None, {"type": "tool_execution_error", "message": text}
    return text, None


async def list_mcp_tools(
    entry: dict[str, Any], *, timeout: float = 30.0
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The tools the entry exposes to the model (`allowed_tools` applied), as an `mcp_list_tools`
    item lists them; or (None, error)."""
    tools = []
    try:
        async with _hosted_client(entry, timeout) as client:
            cursor = None
            while True:
                page = await client.list_tools(cursor=cursor)
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
    except _Failed as failed:
        return None, failed.error
    allowed = entry.get("allowed_tools")
    names = allowed.get("tool_names") if isinstance(allowed, dict) else allowed
    listed = []
    for tool in tools:
        if names is not None and tool.name not in names:
            continue
        shown: dict[str, Any] = {"name": tool.name, "input_schema": tool.input_schema}
        if tool.description is not None:
            shown["description"] = tool.description
        if tool.annotations is not None:
            shown["annotations"] = tool.annotations.model_dump(mode="json", by_alias=True, exclude_none=True)
        listed.append(shown)
    return listed, None
