"""The tests' memo of tool schemas (tests/support/tool_schemas.py) hands out exactly what the SDK builds."""

from typing import Annotated, Any

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from servers.app import build_servers
from servers.hub.hub import Hub
from servers.settings import ServerName, Settings
from tests.support.tool_schemas import memoised_tool_schemas

pytestmark = pytest.mark.anyio


async def _listed(server: MCPServer[Any]) -> list[dict[str, Any]]:
    async with Client(server) as client:
        return [tool.model_dump() for tool in (await client.list_tools()).tools]


async def test_a_memoised_app_lists_the_same_tools_as_the_sdk_builds(tmp_path) -> None:
    settings = Settings(auth=False, local_device=False, skills_dirs=[tmp_path])
    names: list[ServerName] = ["skills", "screen", "pointer"]
    with memoised_tool_schemas() as memo:
        built = build_servers(settings, Hub(settings), names)
        entries = len(memo)
        again = build_servers(settings, Hub(settings), names)
        assert len(memo) == entries > 0, "the second app built its tools again"
        for name in names:
            assert await _listed(again[name]) == await _listed(built[name])


def _make(value: str, description: str = "The word to say.") -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(name="memo")

    @server.tool()
    def say(word: Annotated[str, Field(description=description)]) -> str:
        """Say the word and this server's value."""
        return f"{word} {value}"

    return server


async def test_a_memoised_tool_calls_its_own_function() -> None:
    with memoised_tool_schemas() as memo:
        first, second = _make("one"), _make("two")
        assert len(memo) == 1
        async with Client(first) as a, Client(second) as b:
            assert (await a.call_tool("say", {"word": "hi"})).structured_content == {"result": "hi one"}
            assert (await b.call_tool("say", {"word": "hi"})).structured_content == {"result": "hi two"}


async def test_a_different_signature_is_built_on_its_own() -> None:
    with memoised_tool_schemas() as memo:
        plain, other = _make("x"), _make("x", description="Another description.")
        assert len(memo) == 2
        schemas = [(await _listed(s))[0]["input_schema"]["properties"]["word"] for s in (plain, other)]
        assert [s["description"] for s in schemas] == ["The word to say.", "Another description."]


def _make_text(default: str) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer(name="memo")

    @server.tool()
    def say(word: "Annotated[str, Field(description='The word to say.')]" = default) -> "str":
        """Say the word."""
        return word

    return server


async def test_text_annotations_are_keyed_by_their_text_and_the_defaults() -> None:
    """Annotations kept as text (as under `from __future__ import annotations`) are not evaluated per
    app: the text and the defaults' values make the key."""
    with memoised_tool_schemas() as memo:
        hello, again, bye = _make_text("hello"), _make_text("hello"), _make_text("bye")
        assert len(memo) == 2
        listed = [(await _listed(s))[0]["input_schema"]["properties"]["word"] for s in (hello, again, bye)]
        assert [p["default"] for p in listed] == ["hello", "hello", "bye"]
        assert {p["description"] for p in listed} == {"The word to say."}
